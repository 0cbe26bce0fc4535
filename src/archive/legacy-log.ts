import { parseLegacyArchiveId } from '../core/index.js';
import { formatArchiveId } from '../db/index.js';
import { ArchiveError, ArchiveErrorCode } from './errors.js';
import { localTimestamp } from './legacy-card.js';

/**
 * The original Python tool's history log (`discord-drive-history.json`, our reading of its public `bot_server.py`): a
 * JSON array written with `json.dump(logs, indent=4)`, one object per upload, appended as uploads finish:
 *
 * - `lot` (number), `archive_id` (`#DDMMYY-NN`; absent in its first versions, then made from `lot` and `timestamp`),
 *   `timestamp` (`YYYY-MM-DD HH:MM:SS`, local time), `status` (`success`, `partial`, `failed`; `deleted` after cleanup);
 * - `message_ids`: Discord ids as JSON **numbers** (beyond what a double holds exactly: they are read from the text),
 *   every message of the upload — in its first versions posted into a storage channel (the header and status lines
 *   too), later into the card's thread; never truncated in the log (the card keeps only 150);
 * - `file_count`, `total_size_bytes` (the bytes of the uploaded chunk files), `chunk_count`, `uploaded_files`,
 *   `failed_files` (attachment names), `errors`;
 * - later versions also `thread_id`, `archive_message_id` (the card), `archive_channel_id`, `storage_channel_id`.
 *
 * The log is untrusted input: an entry that is not exactly this shape, has ids that are not snowflakes, lists longer
 * than any real upload, or names with path tricks is refused on its own, with its reason; nothing else changes.
 */

/** The attachment name of the original's log backups in the log channel. */
export const HISTORY_LOG_NAME = 'discord-drive-history.json';
/** The largest log read (bytes): a log of 100,000 uploads is a few tens of MiB. */
export const MAX_HISTORY_LOG_BYTES = 64 * 1024 * 1024;
/** The most entries a log may hold. */
export const MAX_HISTORY_ENTRIES = 100_000;
/** The most message ids (and file names) one entry may list: one message per chunk, 20,000 chunks ≈ 190 GiB. */
export const MAX_ENTRY_LIST = 20_000;

/** A log entry that passed every check. */
export interface HistoryLogEntry {
	/** Its place in the log, from 0. */
	readonly position: number;
	readonly lot: number;
	readonly archiveId: string;
	readonly createdAt: Date | null;
	/** As written, lower-case. */
	readonly status: string;
	readonly fileCount: number | null;
	readonly totalSizeBytes: number | null;
	readonly chunkCount: number | null;
	readonly messageIds: readonly string[];
	readonly threadId: string | null;
	readonly cardMessageId: string | null;
	readonly archiveChannelId: string | null;
	readonly storageChannelId: string | null;
	readonly uploadedFiles: readonly string[];
}

/** Why an entry was refused or passed over. */
export interface HistoryLogRefusal {
	readonly position: number;
	/** The entry's archive id or lot when it could be read. */
	readonly archiveId: string | null;
	readonly code: HistoryLogRefusalCode;
	readonly reason: string;
}

export const HistoryLogRefusalCode = {
	/** The entry is not the original's shape (wrong types, missing lot, a bad id). */
	Malformed: 'MALFORMED_ENTRY',
	/** A list longer than {@link MAX_ENTRY_LIST}. */
	TooLarge: 'ENTRY_TOO_LARGE',
	/** An id that is not a Discord snowflake. */
	BadId: 'BAD_DISCORD_ID',
	/** A file name with a separator, `..`, an absolute path or a control character. */
	UnsafeName: 'UNSAFE_NAME',
	/** The lot, a message or a thread is already another entry's (in the log or the index). */
	Conflict: 'CONFLICT',
	/** A thread-less entry, and no storage channel known: set DISCORD_DRIVE_STORAGE_CHANNEL_ID. */
	NoStorageChannel: 'NO_STORAGE_CHANNEL'
} as const;
export type HistoryLogRefusalCode = (typeof HistoryLogRefusalCode)[keyof typeof HistoryLogRefusalCode];

/** A log read and checked. */
export interface HistoryLog {
	readonly entries: readonly HistoryLogEntry[];
	readonly refused: readonly HistoryLogRefusal[];
}

/** The log cannot be read at all: nothing was imported. */
export function historyLogError(message: string): ArchiveError {
	return new ArchiveError(ArchiveErrorCode.BadHistoryLog, message);
}

const snowflakePattern = /^[1-9]\d{16,19}$/;

/**
 * Reads the original's history log. Entries that fail a check are listed in `refused`, each with its reason.
 *
 * @throws {ArchiveError} BAD_HISTORY_LOG when the text is larger than {@link MAX_HISTORY_LOG_BYTES}, is not JSON, is not an array,
 * or holds more than {@link MAX_HISTORY_ENTRIES} entries.
 */
export function parseHistoryLog(text: string): HistoryLog {
	if (Buffer.byteLength(text, 'utf8') > MAX_HISTORY_LOG_BYTES) {
		throw historyLogError(`The history log is larger than ${MAX_HISTORY_LOG_BYTES} bytes: that is no log of the original tool.`);
	}
	let value: unknown;
	try {
		value = JSON.parse(quoteLongIntegers(text.replace(/^\uFEFF/, '')));
	} catch (error) {
		throw historyLogError(`The history log is not JSON (${(error as Error).message}): check that the file is the original tool's log.`);
	}
	if (!Array.isArray(value))
		throw historyLogError('The history log is not a JSON array of uploads: check that the file is the original tool’s log.');
	if (value.length > MAX_HISTORY_ENTRIES) {
		throw historyLogError(
			`The history log lists ${value.length} uploads, more than the ${MAX_HISTORY_ENTRIES} accepted: that is no log of the original tool.`
		);
	}
	const entries: HistoryLogEntry[] = [];
	const refused: HistoryLogRefusal[] = [];
	const lots = new Map<number, string>();
	const messages = new Map<string, string>();
	const threads = new Map<string, string>();
	value.forEach((raw: unknown, position) => {
		const result = readEntry(raw, position);
		if ('code' in result) {
			refused.push(result);
			return;
		}
		const clash = lots.has(result.lot)
			? `lot ${result.lot} is also ${lots.get(result.lot)} earlier in the log`
			: result.threadId !== null && threads.has(result.threadId)
				? `its thread ${result.threadId} is also ${threads.get(result.threadId)}'s`
				: result.messageIds.filter((id) => messages.has(id)).map((id) => `its message ${id} is also ${messages.get(id)}'s`)[0];
		if (clash !== undefined) {
			refused.push({
				position,
				archiveId: result.archiveId,
				code: HistoryLogRefusalCode.Conflict,
				reason: `${clash}: neither can be trusted with it twice.`
			});
			return;
		}
		lots.set(result.lot, result.archiveId);
		if (result.threadId !== null) threads.set(result.threadId, result.archiveId);
		for (const id of result.messageIds) messages.set(id, result.archiveId);
		entries.push(result);
	});
	return { entries, refused };
}

function readEntry(raw: unknown, position: number): HistoryLogEntry | HistoryLogRefusal {
	const refuse = (code: HistoryLogRefusalCode, reason: string, archiveId: string | null = null): HistoryLogRefusal => ({
		position,
		archiveId,
		code,
		reason
	});
	if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
		return refuse(HistoryLogRefusalCode.Malformed, 'the entry is not a JSON object.');
	const entry = raw as Record<string, unknown>;
	const lot = entry.lot;
	if (typeof lot !== 'number' || !Number.isSafeInteger(lot) || lot < 1 || lot > 999_999_999) {
		// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- JSON.stringify(undefined) is undefined at run time although typed string
		return refuse(HistoryLogRefusalCode.Malformed, `its lot ${JSON.stringify(lot) ?? 'undefined'} is not a whole number from 1 to 999999999.`);
	}
	const timestamp = entry.timestamp;
	if (timestamp !== undefined && timestamp !== null && typeof timestamp !== 'string') {
		return refuse(HistoryLogRefusalCode.Malformed, 'its timestamp is not text.', `lot ${lot}`);
	}
	const createdAt = localTimestamp(timestamp);
	let archiveId: string;
	if (entry.archive_id === undefined || entry.archive_id === null) {
		if (createdAt === null)
			return refuse(HistoryLogRefusalCode.Malformed, 'it has neither an archive id nor a readable timestamp.', `lot ${lot}`);
		archiveId = formatArchiveId(createdAt, lot);
	} else {
		const parsed = typeof entry.archive_id === 'string' ? parseLegacyArchiveId(entry.archive_id) : null;
		if (parsed === null)
			return refuse(HistoryLogRefusalCode.Malformed, `its archive id ${JSON.stringify(entry.archive_id)} is not #DDMMYY-NN.`, `lot ${lot}`);
		if (parsed.lot !== lot)
			return refuse(HistoryLogRefusalCode.Malformed, `its archive id ${parsed.id} names lot ${parsed.lot}, not its lot ${lot}.`, parsed.id);
		archiveId = parsed.id;
	}
	const status = entry.status ?? 'unknown';
	if (typeof status !== 'string' || status.length > 32)
		return refuse(HistoryLogRefusalCode.Malformed, 'its status is not a short text.', archiveId);
	const counts: Record<string, number | null> = {};
	for (const key of ['file_count', 'total_size_bytes', 'chunk_count']) {
		const count = entry[key];
		if (count !== undefined && count !== null && (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0)) {
			return refuse(HistoryLogRefusalCode.Malformed, `its ${key} is not a whole number.`, archiveId);
		}
		counts[key] = typeof count === 'number' ? count : null;
	}
	const ids: Record<string, string | null> = {};
	for (const key of ['thread_id', 'archive_message_id', 'archive_channel_id', 'storage_channel_id']) {
		const id = entry[key];
		if (id === undefined || id === null) ids[key] = null;
		else if (typeof id === 'string' && snowflakePattern.test(id)) ids[key] = id;
		else return refuse(HistoryLogRefusalCode.BadId, `its ${key} ${JSON.stringify(id)} is not a Discord id.`, archiveId);
	}
	const messageIds = entry.message_ids ?? [];
	if (!Array.isArray(messageIds)) return refuse(HistoryLogRefusalCode.Malformed, 'its message_ids is not a list.', archiveId);
	if (messageIds.length > MAX_ENTRY_LIST) {
		return refuse(
			HistoryLogRefusalCode.TooLarge,
			`it lists ${messageIds.length} message ids, more than the ${MAX_ENTRY_LIST} accepted.`,
			archiveId
		);
	}
	const badId = (messageIds as unknown[]).find((id) => typeof id !== 'string' || !snowflakePattern.test(id));
	if (badId !== undefined) return refuse(HistoryLogRefusalCode.BadId, `its message id ${JSON.stringify(badId)} is not a Discord id.`, archiveId);
	if (new Set(messageIds).size !== messageIds.length) return refuse(HistoryLogRefusalCode.Malformed, 'it lists a message id twice.', archiveId);
	const files: string[] = [];
	for (const key of ['uploaded_files', 'failed_files']) {
		const list = entry[key] ?? [];
		if (!Array.isArray(list)) return refuse(HistoryLogRefusalCode.Malformed, `its ${key} is not a list.`, archiveId);
		if (list.length > MAX_ENTRY_LIST)
			return refuse(
				HistoryLogRefusalCode.TooLarge,
				`its ${key} lists ${list.length} names, more than the ${MAX_ENTRY_LIST} accepted.`,
				archiveId
			);
		for (const name of list) {
			if (typeof name !== 'string') return refuse(HistoryLogRefusalCode.Malformed, `its ${key} holds something that is not a name.`, archiveId);
			if (!isPlainName(name))
				return refuse(
					HistoryLogRefusalCode.UnsafeName,
					`its ${key} names ${JSON.stringify(name.slice(0, 80))}, which is not a plain file name.`,
					archiveId
				);
			if (key === 'uploaded_files') files.push(name);
		}
	}
	return {
		position,
		lot,
		archiveId,
		createdAt,
		status: status.toLowerCase(),
		fileCount: counts.file_count ?? null,
		totalSizeBytes: counts.total_size_bytes ?? null,
		chunkCount: counts.chunk_count ?? null,
		messageIds: messageIds as string[],
		threadId: ids.thread_id ?? null,
		cardMessageId: ids.archive_message_id ?? null,
		archiveChannelId: ids.archive_channel_id ?? null,
		storageChannelId: ids.storage_channel_id ?? null,
		uploadedFiles: files
	};
}

/** A name the original could have uploaded: one path segment, no `..`, no control characters, at most 255 bytes. */
function isPlainName(name: string): boolean {
	return (
		name.length > 0 &&
		Buffer.byteLength(name, 'utf8') <= 255 &&
		name !== '.' &&
		name !== '..' &&
		!/[/\\:]/.test(name) &&
		// eslint-disable-next-line no-control-regex
		!/[\u0000-\u001f\u007f]/.test(name)
	);
}

/**
 * JSON text with every integer literal of 16 digits or more turned into a string, so that Discord ids written as
 * numbers survive `JSON.parse` exactly (a double holds 15–16 digits). Strings are copied untouched.
 */
export function quoteLongIntegers(text: string): string {
	let out = '';
	let index = 0;
	while (index < text.length) {
		const char = text[index]!;
		if (char === '"') {
			let end = index + 1;
			while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
			out += text.slice(index, end + 1);
			index = end + 1;
		} else if (char === '-' || (char >= '0' && char <= '9')) {
			const match = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(index, index + 400));
			const literal = match?.[0] ?? char;
			const integer = match !== null && match[1] === undefined && match[2] === undefined;
			out += integer && literal.replace('-', '').length >= 16 ? `"${literal}"` : literal;
			index += literal.length;
		} else {
			out += char;
			index += 1;
		}
	}
	return out;
}
