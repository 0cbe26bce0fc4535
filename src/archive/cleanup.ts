import { type Archive, ArchiveFormat, ArchiveStatus } from '../db/index.js';
import { isTransportError, type LiveMessage, type ThreadInfo, TransportErrorCode } from '../discord/index.js';
import { type CardRecord, findCardRecord } from './card-record.js';
import { renderCard } from './card.js';
import { ArchiveError, ArchiveErrorCode } from './errors.js';
import type { ArchiveContext, JobRun } from './context.js';
import { trustedAuthors } from './reconcile.js';
import { legacyCardContent, parseLegacyCard } from './legacy-card.js';
import { deleteRecordedMessages } from './legacy-messages.js';
import { cleanupRepository, type RepositoryCleanupSummary } from './cleanup-repository.js';

/**
 * Cleanup (docs/design.md §4.5; format 2 archives by references, in cleanup-repository.ts): deletes an archive's thread — every chunk message in one request — marks the archive
 * `deleted` in the index (its row, file list and history stay, so it can still be found and its card explained) and
 * greys its card. Idempotent: a second run, or a thread someone already deleted, is a success that changes nothing.
 */

/** What to clean up. The caller asks for confirmation first (the bot's buttons, the CLI's `--yes`). */
export interface CleanupRequest {
	/** The archive: `#241126-07`, `241126-07`, a lot number or the uid. */
	readonly archive: string;
}

/** What {@link cleanupArchive} did. */
export interface CleanupResult {
	readonly archiveId: string;
	readonly lot: number;
	/** Whether this run deleted the thread (false when it was already gone or the archive had none). */
	readonly threadDeleted: boolean;
	/** Chunk messages this run deleted from the storage channel (thread-less archives of the original tool; else 0). */
	readonly messagesDeleted: number;
	/** Whether the archive was already `deleted` before this run. */
	readonly alreadyDeleted: boolean;
	/** Whether the card now shows "deleted" (false when it could not be edited; the index is marked anyway). */
	readonly cardUpdated: boolean;
	/** Format 2: what went and what stays in the channel's repository (absent for other formats). */
	readonly repository?: RepositoryCleanupSummary;
}

/**
 * Deletes the thread of an archive after checking again, on Discord, that it is the archive's own: the thread must be
 * the one started on the archive's card in the archive channel (same id as the card message, that channel as its
 * parent), and the card, when it is still there, must name this archive. Anything else — a thread named by a forged
 * card, a row whose thread belongs to another archive — is refused before anything is deleted.
 *
 * @returns false when the thread is already gone.
 * @throws {ArchiveError} THREAD_MISMATCH when the thread is not bound to the archive's card.
 */
async function deleteBoundThread(ctx: ArchiveContext, archive: Archive, threadId: string, signal: AbortSignal): Promise<boolean> {
	if (!(await checkBoundThread(ctx, archive, threadId, signal))) return false;
	return ctx.transport.deleteThread(threadId, { signal });
}

/**
 * The checks of {@link deleteBoundThread}, deleting nothing.
 *
 * @returns false when the thread is gone.
 * @throws {ArchiveError} THREAD_MISMATCH.
 */
async function checkBoundThread(ctx: ArchiveContext, archive: Archive, threadId: string, signal: AbortSignal): Promise<boolean> {
	const channelId = archive.channelId ?? ctx.settings.archiveChannelId;
	const refuse = (why: string) =>
		new ArchiveError(
			ArchiveErrorCode.ThreadMismatch,
			`Cleanup of ${archive.id} refused: ${why} Nothing was deleted. Rebuild the index (dos index rebuild) to find each archive's own thread again.`,
			{ archiveId: archive.id, lot: archive.lot }
		);
	let thread: ThreadInfo;
	try {
		thread = await ctx.transport.fetchThread(threadId, { signal });
	} catch (error) {
		if (isTransportError(error, TransportErrorCode.NotFound)) return false;
		throw error;
	}
	if (archive.cardMessageId === null || thread.id !== archive.cardMessageId) {
		throw refuse(
			`its thread ${threadId} was not started on its card${archive.cardMessageId === null ? ' (the index records no card)' : ` ${archive.cardMessageId}`}.`
		);
	}
	if (thread.parentId !== channelId || channelId !== ctx.settings.archiveChannelId) {
		throw refuse(`its thread ${threadId} is not in the archive channel.`);
	}
	let card: LiveMessage | null = null;
	try {
		card = await ctx.transport.fetchMessage(channelId, archive.cardMessageId, { signal });
	} catch (error) {
		if (!isTransportError(error, TransportErrorCode.NotFound)) throw error;
	}
	if (card !== null) {
		const ours = isOurs(archive);
		const record = ours ? safeRecord(card) : null;
		const legacy = ours ? null : parseLegacyCard(card);
		const names = record !== null ? record.id === archive.id && record.uid === archive.uid : legacy !== null && legacy.archiveId === archive.id;
		if (!names) throw refuse(`the card ${card.id} its thread was started on is not the card of ${archive.id}.`);
		// The bot itself — never merely a bot (a webhook or another application is one too); for the original tool's
		// cards also a user named in DOS_LEGACY_BOT_IDS.
		const selfId = await ctx.transport.selfUserId({ signal });
		const trusted = card.authorId === selfId || (legacy !== null && (await trustedAuthors(ctx, signal)).has(card.authorId));
		if (!trusted) throw refuse(`the card ${card.id} was not posted by this bot.`);
	}
	return true;
}

/** Archives whose card this bot renders (formats 1 and 2), as opposed to the original tool's. */
function isOurs(archive: Archive): boolean {
	return archive.format === ArchiveFormat.Dos1 || archive.format === ArchiveFormat.Dos2;
}

function safeRecord(message: LiveMessage): CardRecord | null {
	try {
		return findCardRecord(message.embeds);
	} catch {
		return null;
	}
}

/**
 * Deletes an archive's thread, marks it `deleted` and edits its card to say so.
 *
 * @throws {IndexError} ARCHIVE_NOT_FOUND. {@link ArchiveError} THREAD_MISMATCH when the thread on record is not the one
 * started on the archive's card (nothing is deleted nor marked then). TransportError MISSING_PERMISSIONS (the bot may not delete the thread:
 * nothing is marked then), DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED. A card that cannot be edited is logged, not
 * thrown: the thread is gone and the index says so.
 */
export async function cleanupArchive(ctx: ArchiveContext, request: CleanupRequest, run: JobRun): Promise<CleanupResult> {
	let archive = ctx.index.archives.requireExact(request.archive);
	const alreadyDeleted = archive.status === ArchiveStatus.Deleted;
	run.progress({
		archiveId: archive.id,
		phase: 'cleaning',
		bytesDone: 0,
		bytesTotal: 0,
		chunksDone: 0,
		chunksTotal: 1,
		note: 'deleting the thread'
	});
	let repository: RepositoryCleanupSummary | undefined;
	let messagesDeleted = 0;
	let threadDeleted = false;
	if (archive.format === ArchiveFormat.Dos2) {
		// Format 2: by references (cleanup-repository.ts). Its thread is checked bound first, so a mismatch marks nothing.
		if (archive.threadId !== null) await checkBoundThread(ctx, archive, archive.threadId, run.signal);
		const done = await cleanupRepository(ctx, archive, (owner, threadId) => deleteBoundThread(ctx, owner, threadId, run.signal), run.signal);
		({ threadDeleted, summary: repository } = done);
		archive = ctx.index.archives.require(archive.lot);
	} else {
		// A thread-less archive of the original tool: its recorded chunk messages in the storage channel, and nothing else.
		messagesDeleted = await deleteRecordedMessages(ctx, archive, run.signal);
		threadDeleted = archive.threadId === null ? false : await deleteBoundThread(ctx, archive, archive.threadId, run.signal);
		if (!alreadyDeleted) archive = ctx.index.archives.setStatus(archive.lot, ArchiveStatus.Deleted);
	}
	let cardUpdated = false;
	if (archive.cardMessageId !== null) {
		// A thread-less legacy archive's row names its storage channel; its card (posted by migrate-legacy) is in the archive channel.
		const channelId =
			messagesDeleted > 0 || archive.threadId === null ? ctx.settings.archiveChannelId : (archive.channelId ?? ctx.settings.archiveChannelId);
		try {
			if (isOurs(archive)) {
				await ctx.transport.editCard(channelId, archive.cardMessageId, renderCard({ archive }), { signal: run.signal });
			} else {
				const message = await ctx.transport.fetchMessage(channelId, archive.cardMessageId, { signal: run.signal });
				const card = parseLegacyCard(message);
				if (card !== null && card.status !== 'deleted') {
					await ctx.transport.editCard(
						channelId,
						archive.cardMessageId,
						{ content: legacyCardContent({ ...card.metadata, status: 'deleted' }) },
						{ signal: run.signal }
					);
				}
			}
			cardUpdated = true;
		} catch (error) {
			if (!isTransportError(error) || error.code === TransportErrorCode.Aborted) throw error;
			ctx.log('warn', 'the card of a deleted archive could not be edited', { archiveId: archive.id, code: error.code });
		}
	}
	run.progress({
		archiveId: archive.id,
		phase: 'done',
		bytesDone: 0,
		bytesTotal: 0,
		chunksDone: 1,
		chunksTotal: 1,
		note: threadDeleted
			? 'thread deleted'
			: repository !== undefined
				? `${repository.packsDeleted} pack(s) deleted, ${repository.packsKept} kept`
				: messagesDeleted > 0
					? `${messagesDeleted} chunk message(s) deleted`
					: 'nothing left to delete'
	});
	return {
		archiveId: archive.id,
		lot: archive.lot,
		threadDeleted,
		messagesDeleted,
		alreadyDeleted,
		cardUpdated,
		...(repository === undefined ? {} : { repository })
	};
}
