import { readFile, stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { LEGACY_SLICE_SIZE, sha256Hex } from '../core/index.js';
import { type Archive, ArchiveFormat, ArchiveStatus, type HistoryIndex, isIndexError } from '../db/index.js';
import type { ArchiveTransport } from '../discord/index.js';
import { ArchiveError } from './errors.js';
import { legacyArchiveUid } from './legacy-card.js';
import {
	HISTORY_LOG_NAME,
	type HistoryLog,
	type HistoryLogEntry,
	historyLogError,
	type HistoryLogRefusal,
	HistoryLogRefusalCode,
	MAX_HISTORY_LOG_BYTES,
	parseHistoryLog
} from './legacy-log.js';

/*
 * Moving the original tool's history log (read and checked by legacy-log.ts) into the index: each entry as its own
 * archive, from a file or from the newest backup in the log channel.
 */

/** Where a thread-less archive's chunk messages are looked for when its entry names no storage channel. */
export interface HistoryImportOptions {
	/** `DISCORD_DRIVE_STORAGE_CHANNEL_ID` (or `STORAGE_CHANNEL_ID`). */
	readonly storageChannelId: string | undefined;
	/** The archive channel, for entries with a card that name none. */
	readonly archiveChannelId: string | undefined;
	/** Check everything, write nothing. */
	readonly dryRun?: boolean;
}

/** One imported entry. */
export interface ImportedHistoryEntry {
	readonly archiveId: string;
	readonly lot: number;
	readonly status: ArchiveStatus;
	/** `thread` (card and thread), `messages` (chunk messages in the storage channel), `none` (nothing to fetch). */
	readonly holds: 'thread' | 'messages' | 'none';
	readonly messages: number;
}

/** What an import did. */
export interface HistoryImportResult {
	readonly imported: readonly ImportedHistoryEntry[];
	/** Entries the index already holds as the same archive (an import run twice). */
	readonly alreadyIndexed: readonly string[];
	readonly refused: readonly HistoryLogRefusal[];
	/** The lot counter after the import: new archives take higher lots. */
	readonly lastLot: number;
}

/** The index status of a log entry. */
export function historyEntryStatus(entry: Pick<HistoryLogEntry, 'status' | 'messageIds' | 'threadId'>): ArchiveStatus {
	if (entry.status === 'deleted') return ArchiveStatus.Deleted;
	if (entry.status !== 'success') return ArchiveStatus.Failed;
	return entry.threadId === null && entry.messageIds.length === 0 ? ArchiveStatus.Failed : ArchiveStatus.Complete;
}

/**
 * The uid a thread-less log entry gets (the original had none): derived from its id and its first chunk message, so
 * an import run again, on any machine, finds the same one.
 */
export function historyArchiveUid(entry: Pick<HistoryLogEntry, 'archiveId' | 'messageIds'>): string {
	return sha256Hex(`dos-legacy-log-archive\0${entry.archiveId}\0${entry.messageIds[0] ?? ''}`).slice(0, 32);
}

/**
 * Adds every entry of a checked log to the index with its own lot and id (the lot counter moves past them, so no lot
 * is ever reused): card-and-thread entries as the rebuild would find them, thread-less ones with their chunk
 * messages. An entry the index already holds as the same archive is passed over; one whose lot, id, thread or
 * messages belong to another archive is refused. Each entry is its own transaction.
 */
export function importHistoryLog(index: HistoryIndex, log: HistoryLog, options: HistoryImportOptions): HistoryImportResult {
	const imported: ImportedHistoryEntry[] = [];
	const alreadyIndexed: string[] = [];
	const refused: HistoryLogRefusal[] = [...log.refused];
	for (const entry of log.entries) {
		const refuse = (code: HistoryLogRefusalCode, reason: string) =>
			refused.push({ position: entry.position, archiveId: entry.archiveId, code, reason });
		const hasThread = entry.threadId !== null;
		const storageChannelId = entry.storageChannelId ?? options.storageChannelId ?? null;
		if (!hasThread && entry.messageIds.length > 0 && storageChannelId === null) {
			refuse(
				HistoryLogRefusalCode.NoStorageChannel,
				'its chunks are messages in a storage channel the log does not name: set DISCORD_DRIVE_STORAGE_CHANNEL_ID to that channel and import again.'
			);
			continue;
		}
		const cardMessageId = entry.cardMessageId ?? (hasThread ? entry.threadId : null);
		const uid = cardMessageId !== null ? legacyArchiveUid({ archiveId: entry.archiveId, messageId: cardMessageId }) : historyArchiveUid(entry);
		const existing = index.archives.get(entry.lot) ?? index.archives.find(entry.archiveId);
		if (existing !== undefined) {
			if (existing.uid === uid && existing.lot === entry.lot) alreadyIndexed.push(entry.archiveId);
			else
				refuse(HistoryLogRefusalCode.Conflict, `the index already holds ${existing.id} (lot ${existing.lot}) there: the entry was left out.`);
			continue;
		}
		if (!hasThread) {
			const taken = entry.messageIds.find(
				(id) => storageChannelId !== null && index.legacyMessages.findArchive(storageChannelId, id) !== undefined
			);
			if (taken !== undefined) {
				refuse(HistoryLogRefusalCode.Conflict, `its message ${taken} is already another archive's in the index: the entry was left out.`);
				continue;
			}
		}
		const status = historyEntryStatus(entry);
		const holds = hasThread ? 'thread' : entry.messageIds.length > 0 ? 'messages' : 'none';
		if (options.dryRun === true) {
			imported.push({ archiveId: entry.archiveId, lot: entry.lot, status, holds, messages: entry.messageIds.length });
			continue;
		}
		try {
			const row: Archive = index.legacyMessages.importArchive(
				{
					id: entry.archiveId,
					lot: entry.lot,
					uid,
					label: null,
					source: '',
					format: ArchiveFormat.LegacyV31,
					status,
					chunkSize: LEGACY_SLICE_SIZE,
					kdf: null,
					channelId: hasThread ? (entry.archiveChannelId ?? options.archiveChannelId ?? null) : storageChannelId,
					threadId: entry.threadId,
					cardMessageId,
					createdAt: entry.createdAt ?? undefined,
					fileCount: entry.fileCount ?? 0,
					storedBytes: entry.totalSizeBytes ?? 0,
					chunkCount: entry.chunkCount ?? 0
				},
				holds === 'messages' && storageChannelId !== null ? { channelId: storageChannelId, messageIds: entry.messageIds } : null
			);
			imported.push({ archiveId: row.id, lot: row.lot, status, holds, messages: entry.messageIds.length });
		} catch (error) {
			if (!isIndexError(error)) throw error;
			refuse(HistoryLogRefusalCode.Conflict, `${error.message} The entry was left out.`);
		}
	}
	return { imported, alreadyIndexed, refused: refused.sort((a, b) => a.position - b.position), lastLot: index.archives.lastLot() };
}

/** A log backup found in the log channel. */
export interface HistoryLogBackup {
	readonly text: string;
	readonly messageId: string;
	readonly postedAt: Date;
}

/** How many messages of the log channel are searched for the newest log backup (the original searched 50). */
export const HISTORY_BACKUP_SEARCH = 500;

/**
 * The newest `discord-drive-history.json` the original tool posted in the log channel (as its own start-up did), or
 * null when none of the last {@link HISTORY_BACKUP_SEARCH} messages holds one.
 *
 * @throws {ArchiveError} BAD_HISTORY_LOG when the newest backup is larger than {@link MAX_HISTORY_LOG_BYTES}.
 * @throws TransportError as {@link ArchiveTransport.downloadAttachment}.
 */
export async function fetchHistoryLogBackup(
	transport: ArchiveTransport,
	logChannelId: string,
	signal?: AbortSignal
): Promise<HistoryLogBackup | null> {
	let seen = 0;
	for await (const message of transport.pageMessagesNewestFirst(logChannelId, { signal })) {
		const attachment = message.attachments.find((candidate) => candidate.filename === HISTORY_LOG_NAME);
		if (attachment !== undefined) {
			if (attachment.size > MAX_HISTORY_LOG_BYTES) {
				throw historyLogError(
					`The newest ${HISTORY_LOG_NAME} in the log channel (message ${message.id}) is larger than ${MAX_HISTORY_LOG_BYTES} bytes: that is no log of the original tool.`
				);
			}
			const parts: Buffer[] = [];
			const stream = new Writable({
				write(chunk: Buffer, _encoding, callback) {
					parts.push(chunk);
					callback();
				}
			});
			await transport.downloadAttachment(
				{ channelId: logChannelId, messageId: message.id, attachmentId: attachment.id },
				{ stream },
				{ signal, expectedSize: attachment.size, live: attachment }
			);
			return { text: Buffer.concat(parts).toString('utf8'), messageId: message.id, postedAt: message.createdAt };
		}
		if (++seen >= HISTORY_BACKUP_SEARCH) break;
	}
	return null;
}

/**
 * Reads the history log at `file` and imports it (see {@link importHistoryLog}); what the bot does on start when
 * `DISCORD_DRIVE_LOG_FILE` is set. Running it at every start is harmless: entries already imported are passed over.
 *
 * @throws {ArchiveError} BAD_HISTORY_LOG when the file cannot be read or is no log at all.
 */
export async function importHistoryLogFile(index: HistoryIndex, file: string, options: HistoryImportOptions): Promise<HistoryImportResult> {
	let text: string;
	try {
		if ((await stat(file)).size > MAX_HISTORY_LOG_BYTES)
			throw historyLogError(`${file} is larger than ${MAX_HISTORY_LOG_BYTES} bytes: that is no log of the original tool.`);
		text = await readFile(file, 'utf8');
	} catch (error) {
		if (error instanceof ArchiveError) throw error;
		throw historyLogError(`${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): check DISCORD_DRIVE_LOG_FILE.`);
	}
	return importHistoryLog(index, parseHistoryLog(text), options);
}
