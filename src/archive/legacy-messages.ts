import { CoreError, CoreErrorCode } from '../core/index.js';
import { type Archive, ArchiveFormat, ArchiveStatus, ChunkKind } from '../db/index.js';
import { isTransportError, TransportErrorCode } from '../discord/index.js';
import type { ArchiveContext } from './context.js';
import { trustedAuthors } from './reconcile.js';
import { ArchiveError, ArchiveErrorCode } from './errors.js';
import { parseLegacyCard } from './legacy-card.js';
import { fetchLegacyManifest } from './thread-manifest.js';
import { listThreadAttachments, requireThread, type ThreadAttachment, threadRefOf } from './thread-reader.js';
import type { ChunkFinding } from './verify.js';

/**
 * Archives of the original tool that live only as message ids (imported from its history log: no card, no thread):
 * their chunk messages are fetched one by one, by id, from the storage channel — never by paging that channel, which
 * holds other archives' chunks too.
 */

/** The attachments of an archive's chunk messages, and the recorded messages that are gone. */
export interface ArchiveAttachments {
	readonly listed: ThreadAttachment[];
	/** Recorded chunk messages that no longer exist (thread-less archives only). */
	readonly missingMessages: readonly string[];
	/** Whether the archive lives as recorded messages in a storage channel rather than in a thread. */
	readonly threadless: boolean;
}

/**
 * Every attachment an archive's chunks are in, with live URLs (use them at once): its thread paged, or — for a
 * thread-less legacy archive — each recorded message fetched by id from the storage channel, in the log's order.
 *
 * @throws {CoreError} NOT_FOUND when the archive was deleted or has neither thread nor recorded messages; MISSING_CHUNK
 * when its thread is gone. TransportError when Discord stays unavailable.
 */
export async function listArchiveAttachments(ctx: ArchiveContext, archive: Archive, signal?: AbortSignal): Promise<ArchiveAttachments> {
	const refs = archive.threadId === null && archive.format !== ArchiveFormat.Dos1 ? ctx.index.legacyMessages.get(archive.lot) : null;
	if (refs === null) {
		requireThread(archive);
		return { listed: await listThreadAttachments(ctx, threadRefOf(archive), signal), missingMessages: [], threadless: false };
	}
	if (archive.status === ArchiveStatus.Deleted) requireThread(archive);
	if (refs.channelId !== archive.channelId) {
		throw new CoreError(
			CoreErrorCode.NotFound,
			`Archive ${archive.id} records its chunk messages in channel ${refs.channelId} but its row names ${archive.channelId ?? 'none'}: import the history log again.`
		);
	}
	const listed: ThreadAttachment[] = [];
	const missingMessages: string[] = [];
	// The messages are named by the history log, not found by listing; "by the bot" still says whether this bot (or an
	// id trusted as the original tool's, DOS_LEGACY_BOT_IDS) posted them, as for chunks listed from a thread.
	const trusted = await trustedAuthors(ctx, signal);
	for (const messageId of refs.messageIds) {
		try {
			const message = await ctx.transport.fetchMessage(refs.channelId, messageId, signal ? { signal } : {});
			for (const attachment of message.attachments) {
				listed.push({ messageId, attachment, authorId: message.authorId, byBot: trusted.has(message.authorId) });
			}
		} catch (error) {
			if (!isTransportError(error, TransportErrorCode.NotFound)) throw error;
			missingMessages.push(messageId);
		}
	}
	return { listed, missingMessages, threadless: true };
}

/**
 * Quick verification of a thread-less archive (the index holds no chunk rows for it): its manifest — plain JSON, read
 * without the key — is fetched, and every chunk it names must be an attachment of the recorded messages with the
 * size the manifest gives.
 *
 * @throws {CoreError} MISSING_CHUNK when no recorded message holds a manifest; BAD_FORMAT / UNSAFE_PATH for one that
 * cannot be trusted.
 */
export async function quickThreadless(
	ctx: ArchiveContext,
	archive: Archive,
	found: ArchiveAttachments,
	signal?: AbortSignal
): Promise<{ chunksChecked: number; chunksTotal: number; manifestChecked: boolean; filesChecked: number; chunks: ChunkFinding[]; files: [] }> {
	const { manifest } = await fetchLegacyManifest(ctx, threadRefOf(archive), found.listed, signal);
	const byName = new Map(found.listed.map((item) => [item.attachment.filename, item]));
	const chunks: ChunkFinding[] = [];
	let total = 0;
	for (const file of manifest.files) {
		for (const chunk of file.chunks) {
			total++;
			const item = byName.get(chunk.name);
			const base = { kind: ChunkKind.Data, index: chunk.seq - 1, filename: chunk.name, messageId: item?.messageId ?? null };
			if (item === undefined) {
				chunks.push({
					...base,
					code: CoreErrorCode.MissingChunk,
					message: `Chunk ${chunk.name} is in none of the recorded messages of ${archive.id}${found.missingMessages.length > 0 ? ` (${found.missingMessages.length} of them are gone: ${found.missingMessages.slice(0, 5).join(', ')})` : ''}.`
				});
			} else if (chunk.size !== null && item.attachment.size !== chunk.size) {
				chunks.push({
					...base,
					code: CoreErrorCode.TamperedChunk,
					message: `Chunk ${chunk.name} (message ${item.messageId}) is ${item.attachment.size} B; the manifest says ${chunk.size} B.`
				});
			}
		}
	}
	return { chunksChecked: total, chunksTotal: total, manifestChecked: true, filesChecked: 0, chunks, files: [] };
}

/**
 * Deletes the recorded chunk messages of a thread-less archive from the storage channel, and nothing else: every
 * recorded message still there is fetched first, and if any of them was not posted by a bot (the original tool was
 * one) nothing is deleted. Messages already gone count as done, so a second run is a success that deletes nothing.
 *
 * @returns how many messages this run deleted (0 for an archive that records none).
 * @throws {ArchiveError} THREAD_MISMATCH when a recorded message was posted by a person. TransportError
 * MISSING_PERMISSIONS (the bot may not delete others' messages: give it Manage Messages there), DISCORD_UNAVAILABLE,
 * RATE_LIMITED, ABORTED.
 */
export async function deleteRecordedMessages(ctx: ArchiveContext, archive: Archive, signal?: AbortSignal): Promise<number> {
	const refs = archive.threadId === null ? ctx.index.legacyMessages.get(archive.lot) : null;
	if (refs === null) return 0;
	const refuse = (why: string) =>
		new ArchiveError(
			ArchiveErrorCode.ThreadMismatch,
			`Cleanup of ${archive.id} refused: ${why} Nothing was deleted. Check the history log this archive was imported from.`,
			{ archiveId: archive.id, lot: archive.lot }
		);
	if (refs.channelId === ctx.settings.logChannelId)
		throw refuse('its recorded messages are in the log channel, which holds index backups, not chunks.');
	const present: string[] = [];
	for (const messageId of refs.messageIds) {
		try {
			const message = await ctx.transport.fetchMessage(refs.channelId, messageId, signal ? { signal } : {});
			if (!message.authorIsBot)
				throw refuse(`its recorded message ${messageId} in the storage channel was posted by a person, not by the original tool.`);
			// A card (ours or the original's) or a message a thread hangs on is never a chunk message: a log naming one is forged.
			if (
				message.thread !== null ||
				parseLegacyCard(message) !== null ||
				message.embeds.some((embed) => embed.footer?.text.startsWith('dos-card/') === true)
			) {
				throw refuse(`its recorded message ${messageId} is an archive card, not a chunk message.`);
			}
			present.push(messageId);
		} catch (error) {
			if (!isTransportError(error, TransportErrorCode.NotFound)) throw error;
		}
	}
	let deleted = 0;
	for (const messageId of present) {
		if (await ctx.transport.deleteMessage(refs.channelId, messageId, signal ? { signal } : {})) deleted++;
	}
	return deleted;
}
