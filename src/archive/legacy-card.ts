import { parseLegacyArchiveId, sha256Hex } from '../core/index.js';
import { ArchiveStatus } from '../db/index.js';
import type { LiveMessage } from '../discord/index.js';
import { carriesCardRecord } from './card-record.js';

/**
 * Cards of the original Python tool, as its `archive_card.py` wrote them (our reading of its public source):
 *
 * - the card is a message in the archive channel whose **content** is a fenced block
 *   "```json\n{…}\n```" holding compact JSON (`ensure_ascii`, no spaces) with `lot`, `archive_id` (`#DDMMYY-NN`),
 *   `timestamp` (`YYYY-MM-DD HH:MM:SS`, local time), `status` (`partial` while uploading, then `success` or
 *   `failed`; `deleted` after its cleanup), `file_count`, `total_size_bytes`, `chunk_count`, `thread_id`,
 *   `message_ids`, `uploaded_files`, `failed_files`, `files_display`, `uploader`, `archive_channel_id`,
 *   `storage_channel_id`, `progress_text`; lists may be cut (`…_truncated`) to keep the JSON under 1,800 chars;
 * - beside it an embed titled `📦 Archive #DDMMYY-NN` with fields and a footer `Lot N • Uploader: …`; the tool's
 *   own parser falls back to that embed when the content holds no JSON, and so do we;
 * - a thread started on the card, named `#DDMMYY-NN chunks`, holds one message per uploaded file: every `.bin`
 *   chunk and the JSON manifest (`{N}-manifest_{HHMMSS}_{DDMMYY}.json`), posted five at a time, so in no
 *   guaranteed order.
 */

/** What a legacy card says about its archive. */
export interface LegacyCard {
	/** The card message. */
	readonly messageId: string;
	/** `#DDMMYY-NN`, normalized. */
	readonly archiveId: string;
	readonly lot: number;
	/** The card's status as written (`success`, `partial`, `failed`, `deleted`, …), lower-case. */
	readonly status: string;
	/** When the upload started, read as local time; null when absent or unreadable. */
	readonly createdAt: Date | null;
	readonly fileCount: number | null;
	readonly totalSizeBytes: number | null;
	readonly chunkCount: number | null;
	/** The thread holding the chunks: the card's `thread_id`, else the thread started on the message. */
	readonly threadId: string | null;
	/** The parsed JSON as written, to write it back with another status. */
	readonly metadata: Readonly<Record<string, unknown>>;
}

const JSON_BLOCK = /```json\s*(\{.*?\})\s*```/s;

/**
 * Reads a legacy card from a message; null when the message is not one (no JSON block with an `archive_id`, and no
 * `📦 Archive #…` embed), or when its archive id is not valid.
 */
export function parseLegacyCard(message: Pick<LiveMessage, 'id' | 'content' | 'embeds' | 'thread'>): LegacyCard | null {
	let metadata: Record<string, unknown> | null = null;
	const block = JSON_BLOCK.exec(message.content);
	if (block?.[1] !== undefined) {
		try {
			const value: unknown = JSON.parse(block[1]);
			if (typeof value === 'object' && value !== null && !Array.isArray(value)) metadata = value as Record<string, unknown>;
		} catch {
			metadata = null;
		}
	}
	if (metadata === null) metadata = fromEmbed(message);
	if (metadata === null || typeof metadata.archive_id !== 'string') return null;
	const id = parseLegacyArchiveId(metadata.archive_id);
	if (id === null) return null;
	const lot = integer(metadata.lot) ?? id.lot;
	if (lot !== id.lot || lot < 1) return null;
	// The original wrote ids as JSON numbers, beyond what a double holds exactly: read them from the text.
	const rawThreadId = block?.[1] === undefined ? undefined : /"thread_id"\s*:\s*"?(\d{17,20})\b/.exec(block[1])?.[1];
	const threadId = rawThreadId ?? snowflake(metadata.thread_id) ?? message.thread?.id ?? null;
	return {
		messageId: message.id,
		archiveId: id.id,
		lot,
		status: typeof metadata.status === 'string' ? metadata.status.toLowerCase() : 'unknown',
		createdAt: localTimestamp(metadata.timestamp),
		fileCount: integer(metadata.file_count),
		totalSizeBytes: integer(metadata.total_size_bytes),
		chunkCount: integer(metadata.chunk_count),
		threadId,
		metadata
	};
}

/** The index status of a legacy archive from its card's status. */
export function legacyArchiveStatus(card: Pick<LegacyCard, 'status'>, hasManifest: boolean): ArchiveStatus {
	if (card.status === 'deleted') return ArchiveStatus.Deleted;
	if (card.status === 'failed') return ArchiveStatus.Failed;
	return hasManifest ? ArchiveStatus.Complete : ArchiveStatus.Failed;
}

/**
 * The uid a legacy archive gets in the index (the original had none): derived from its id and card message, so a
 * rebuild finds the same one every time.
 */
export function legacyArchiveUid(card: Pick<LegacyCard, 'archiveId' | 'messageId'>): string {
	return sha256Hex(`dos-legacy-archive\0${card.archiveId}\0${card.messageId}`).slice(0, 32);
}

/** The content of a legacy card with its JSON rewritten (e.g. `status: "deleted"`), in the original's format. */
export function legacyCardContent(metadata: Readonly<Record<string, unknown>>): string {
	return `\`\`\`json\n${JSON.stringify(metadata).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n\`\`\``;
}

function fromEmbed(message: Pick<LiveMessage, 'embeds'>): Record<string, unknown> | null {
	const embed = message.embeds[0];
	// A card of ours carries its record (in its title link, or the footer of an older card): never read it as the original tool's.
	if (embed !== undefined && carriesCardRecord(embed)) return null;
	const title = embed?.title ?? '';
	if (!/archive/i.test(title)) return null;
	const id = /#\d{6}-\d+/.exec(title)?.[0];
	if (id === undefined) return null;
	const metadata: Record<string, unknown> = { archive_id: id };
	for (const field of embed?.fields ?? []) {
		const name = field.name.toLowerCase();
		if (name.includes('timestamp')) metadata.timestamp = field.value;
		else if (name.includes('status')) metadata.status = field.value;
	}
	const lot = /lot\s+(\d+)/i.exec(embed?.footer?.text ?? '')?.[1];
	if (lot !== undefined) metadata.lot = Number(lot);
	return metadata;
}

function integer(value: unknown): number | null {
	return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

function snowflake(value: unknown): string | null {
	return typeof value === 'string' && /^\d{17,20}$/.test(value) ? value : null;
}

/** `YYYY-MM-DD HH:MM:SS` as the original wrote it (local time); null for anything else, or a day no calendar has. */
export function localTimestamp(value: unknown): Date | null {
	if (typeof value !== 'string') return null;
	const match = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(value.trim());
	if (match === null) return null;
	const [, year, month, day, hour, minute, second] = match.map(Number) as [number, number, number, number, number, number, number];
	const date = new Date(year, month - 1, day, hour, minute, second);
	return Number.isNaN(date.getTime()) || date.getMonth() !== month - 1 || date.getDate() !== day ? null : date;
}
