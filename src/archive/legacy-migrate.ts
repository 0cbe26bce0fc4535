import { Writable } from 'node:stream';
import { type Archive, type ArchiveContent, ArchiveStatus, type LegacyMessageRefs } from '../db/index.js';
import type { LiveMessage } from '../discord/index.js';
import type { ArchiveContext, JobRun } from './context.js';
import { ArchiveError, ArchiveErrorCode } from './errors.js';
import { type LegacyCard, legacyArchiveUid, legacyCardContent } from './legacy-card.js';
import { MAX_ENTRY_LIST } from './legacy-log.js';
import type { RebuiltArchive } from './rebuild.js';
import { legacySkeleton } from './rebuild-legacy.js';

/**
 * `migrate-legacy`: a card for every archive imported from the original tool's history log without one, so that a
 * rebuild from Discord alone — without the log file — finds it again. The chunks are **referenced where they are**,
 * not copied into a thread as the original's own `!migrate-legacy` did: copying costs a full upload and doubles the
 * storage until the originals are deleted, and the copies would be new, unauthenticated bytes anyway (the original's
 * chunks carry no AAD); referencing keeps exactly the bytes whose hashes their names carry. The cost is that they stay
 * where a moderator may delete them: `verify` names any that went missing.
 *
 * The card is the original's own card format (a fenced JSON block, so the original tool and our legacy reader both
 * read it), marked `legacy: true` and `imported_from: "history-log"`, with no thread. Its chunk message ids — up to
 * 20,000, far beyond what a message's text holds — travel as an attachment on the card, {@link MESSAGE_LIST_NAME}.
 */

/** The attachment of a migrated card listing its archive's chunk messages. */
export const MESSAGE_LIST_NAME = 'dos-legacy-messages.json';
/** Its format tag. */
export const MESSAGE_LIST_FORMAT = 'dos-legacy-messages/1';
/** The largest message list read back (20,000 ids of 20 digits, quoted: under 500 KB). */
const MAX_MESSAGE_LIST_BYTES = 1024 * 1024;

/** What a migration did for one archive. */
export interface MigratedArchive {
	readonly archiveId: string;
	readonly lot: number;
	readonly cardMessageId: string | null;
	readonly messages: number;
}

/** An archive a migration passed over, and why. */
export interface MigrationSkip {
	readonly archiveId: string;
	readonly lot: number;
	readonly reason: string;
}

export interface MigrationResult {
	readonly dryRun: boolean;
	readonly migrated: readonly MigratedArchive[];
	readonly skipped: readonly MigrationSkip[];
}

/**
 * Posts a card in the archive channel for every legacy archive the index holds without one (imported from the
 * history log), and binds the archive to it. Archives with a thread are passed over (their own card is on Discord;
 * `dos index rebuild` binds them). Each archive is done on its own: one that fails is named and the rest go on.
 *
 * @throws TransportError when the archive channel cannot be written at all (the first post fails for a reason other
 * than the archive); ABORTED.
 */
export async function migrateLegacyArchives(ctx: ArchiveContext, request: { readonly dryRun?: boolean }, run: JobRun): Promise<MigrationResult> {
	const dryRun = request.dryRun === true;
	const migrated: MigratedArchive[] = [];
	const skipped: MigrationSkip[] = [];
	const candidates = ctx.index.legacyMessages.cardless();
	let done = 0;
	for (const archive of candidates) {
		run.signal.throwIfAborted();
		const refs = ctx.index.legacyMessages.get(archive.lot);
		if (archive.threadId !== null) {
			skipped.push({
				archiveId: archive.id,
				lot: archive.lot,
				reason: 'it has a thread, so its card is on Discord already: `dos index rebuild` binds it.'
			});
			continue;
		}
		if (dryRun) {
			migrated.push({ archiveId: archive.id, lot: archive.lot, cardMessageId: null, messages: refs?.messageIds.length ?? 0 });
			continue;
		}
		const metadata = migratedCardMetadata(archive, refs, ctx.settings.archiveChannelId);
		const list = refs === null ? undefined : messageList(archive, refs);
		const posted = list
			? await ctx.transport.uploadFile(ctx.settings.archiveChannelId, {
					content: legacyCardContent(metadata),
					file: { name: MESSAGE_LIST_NAME, data: list },
					signal: run.signal
				})
			: await ctx.transport.postLine(ctx.settings.archiveChannelId, legacyCardContent(metadata), { signal: run.signal });
		ctx.index.legacyMessages.bindCard(archive.lot, posted.messageId, legacyArchiveUid({ archiveId: archive.id, messageId: posted.messageId }));
		migrated.push({ archiveId: archive.id, lot: archive.lot, cardMessageId: posted.messageId, messages: refs?.messageIds.length ?? 0 });
		run.progress({
			archiveId: archive.id,
			phase: 'done',
			bytesDone: 0,
			bytesTotal: 0,
			chunksDone: ++done,
			chunksTotal: candidates.length,
			note: `card posted for ${archive.id}`
		});
	}
	return { dryRun, migrated, skipped };
}

/** The JSON of a migrated card, in the original's card format. */
function migratedCardMetadata(archive: Archive, refs: LegacyMessageRefs | null, archiveChannelId: string): Record<string, unknown> {
	const created = archive.createdAt;
	const two = (value: number) => String(value).padStart(2, '0');
	return {
		lot: archive.lot,
		archive_id: archive.id,
		timestamp: `${created.getFullYear()}-${two(created.getMonth() + 1)}-${two(created.getDate())} ${two(created.getHours())}:${two(created.getMinutes())}:${two(created.getSeconds())}`,
		status: archive.status === ArchiveStatus.Complete ? 'success' : archive.status === ArchiveStatus.Deleted ? 'deleted' : 'failed',
		file_count: archive.fileCount,
		total_size_bytes: archive.storedBytes,
		chunk_count: archive.chunkCount,
		thread_id: null,
		message_ids: [],
		uploader: 'Legacy Import',
		archive_channel_id: archiveChannelId,
		storage_channel_id: refs?.channelId ?? null,
		legacy: true,
		imported_from: 'history-log',
		message_count: refs?.messageIds.length ?? 0,
		...(refs === null ? {} : { message_list: MESSAGE_LIST_NAME })
	};
}

function messageList(archive: Archive, refs: LegacyMessageRefs): Buffer {
	return Buffer.from(
		JSON.stringify({
			format: MESSAGE_LIST_FORMAT,
			archive_id: archive.id,
			lot: archive.lot,
			storage_channel_id: refs.channelId,
			message_ids: refs.messageIds
		})
	);
}

/** A migrated card as a rebuild reads it: the archive's row and where its chunk messages are. */
export interface MigratedCard {
	readonly found: {
		readonly content: ArchiveContent;
		readonly summary: Omit<RebuiltArchive, 'written'>;
	};
	readonly refs: LegacyMessageRefs;
}

/**
 * Reads a card that `migrate-legacy` posted: a legacy card with no thread and a {@link MESSAGE_LIST_NAME} attachment.
 * Null for any other card. The list is checked like the history log: the card's own id and lot, snowflakes only, at
 * most 20,000 ids, none twice.
 *
 * @throws {ArchiveError} BAD_CARD_RECORD for a list that cannot be trusted. TransportError when it cannot be downloaded.
 */
export async function readMigratedCard(
	ctx: ArchiveContext,
	message: LiveMessage,
	card: LegacyCard,
	signal?: AbortSignal
): Promise<MigratedCard | null> {
	if (card.threadId !== null || card.metadata.legacy !== true || card.metadata.imported_from !== 'history-log') return null;
	const attachment = message.attachments.find((candidate) => candidate.filename === MESSAGE_LIST_NAME);
	if (attachment === undefined) return null;
	if (attachment.size > MAX_MESSAGE_LIST_BYTES)
		throw new ArchiveError(
			ArchiveErrorCode.BadCardRecord,
			`The message list of ${card.archiveId} is larger than ${MAX_MESSAGE_LIST_BYTES} bytes.`
		);
	const parts: Buffer[] = [];
	const stream = new Writable({
		write(chunk: Buffer, _encoding, callback) {
			parts.push(chunk);
			callback();
		}
	});
	await ctx.transport.downloadAttachment(
		{ channelId: message.channelId, messageId: message.id, attachmentId: attachment.id },
		{ stream },
		{ live: attachment, expectedSize: attachment.size, ...(signal ? { signal } : {}) }
	);
	let list: unknown;
	try {
		list = JSON.parse(Buffer.concat(parts).toString('utf8'));
	} catch {
		throw new ArchiveError(ArchiveErrorCode.BadCardRecord, `The message list of ${card.archiveId} is not JSON.`);
	}
	const value = (typeof list === 'object' && list !== null ? list : {}) as Record<string, unknown>;
	const ids = value.message_ids;
	const snowflake = (id: unknown): id is string => typeof id === 'string' && /^[1-9]\d{16,19}$/.test(id);
	if (
		value.format !== MESSAGE_LIST_FORMAT ||
		value.archive_id !== card.archiveId ||
		value.lot !== card.lot ||
		!snowflake(value.storage_channel_id) ||
		!Array.isArray(ids) ||
		ids.length > MAX_ENTRY_LIST ||
		!ids.every(snowflake) ||
		new Set(ids).size !== ids.length
	) {
		throw new ArchiveError(
			ArchiveErrorCode.BadCardRecord,
			`The message list of ${card.archiveId} does not match its card (format, id, lot, storage channel, or up to ${MAX_ENTRY_LIST} distinct Discord ids).`
		);
	}
	const messageIds = ids;
	const status = card.status === 'deleted' ? ArchiveStatus.Deleted : card.status === 'success' ? ArchiveStatus.Complete : ArchiveStatus.Failed;
	const count = (key: string) => {
		const field = card.metadata[key];
		return typeof field === 'number' && Number.isSafeInteger(field) && field >= 0 ? field : 0;
	};
	return {
		refs: { channelId: value.storage_channel_id, messageIds },
		found: legacySkeleton(card, {
			status,
			channelId: value.storage_channel_id,
			createdAt: card.createdAt ?? message.createdAt,
			storedBytes: count('total_size_bytes'),
			files: count('file_count'),
			chunks: count('chunk_count')
		})
	};
}
