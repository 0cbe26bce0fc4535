import { Writable } from 'node:stream';
import { parseStagedName } from '../core/index.js';
import { type Archive, ChunkKind, type ChunkRecord, ChunkState } from '../db/index.js';
import { isTransportError, type LiveAttachment, TransportErrorCode } from '../discord/index.js';
import type { ArchiveContext } from './context.js';

/**
 * Reconciles the index with what an archive's thread really holds (docs/design.md §4, Resume), before anything is posted
 * again: a crash between a post and its record must neither duplicate nor lose a chunk.
 */

/** What a reconciliation found and did. */
export interface ReconcileReport {
	/** Messages in the thread that hold a chunk of this archive. */
	readonly messagesSeen: number;
	/**
	 * Chunks found in the thread although the index did not record them as stored (posted, then a crash), or whose
	 * recorded copy was gone or bad while another copy the bot posted holds the recorded bytes: adopted.
	 */
	readonly adopted: readonly ChunkLabel[];
	/** Chunks recorded as stored whose message or attachment is gone: pending again. */
	readonly vanished: readonly ChunkLabel[];
	/** Chunks that were in flight and never landed: pending again. */
	readonly neverLanded: readonly ChunkLabel[];
	/** Messages deleted because they duplicate a chunk kept elsewhere (or hold a chunk marked bad). */
	readonly deletedMessages: readonly string[];
}

/** `c12` (data chunk 12) or `m0` (manifest part 0). */
export type ChunkLabel = string;

interface ThreadChunk {
	readonly messageId: string;
	/** Whether the bot posted the message (only its own posts are ever adopted). */
	readonly byBot: boolean;
	/** The hash prefix the attachment's name carries. */
	readonly nameHash: string;
	readonly live: LiveAttachment;
	readonly attachmentId: string;
	readonly filename: string;
	readonly size: number;
	readonly kind: ChunkKind;
	readonly index: number;
}

const label = (kind: ChunkKind, index: number): ChunkLabel => `${kind === ChunkKind.Data ? 'c' : 'm'}${index}`;

/**
 * Pages the archive's thread and brings the index in line with it:
 * - a chunk whose recorded message still holds its attachment stays stored;
 * - a chunk not recorded as stored whose sealed file (same opaque name and size, recorded before its post) is in the
 *   thread, posted by the bot, with bytes whose sha256 is the recorded one, is adopted as stored — it is not posted
 *   twice; a look-alike (another author, other bytes) is not adopted and is deleted like any other stray;
 * - a stored chunk whose message vanished, or a chunk marked bad, adopts another copy in the thread that passes the
 *   same checks (posted by the bot, the recorded name, size and sha256) when there is one, and becomes pending
 *   otherwise; an in-flight chunk that never landed becomes pending; a bad chunk's message is deleted;
 * - every other message holding a chunk of this archive (a duplicate of a kept one, an earlier sealing of a chunk that
 *   is pending) is deleted, so the thread ends with at most one message per chunk.
 *
 * Messages that are not chunks of this archive (chat, other names) are left alone.
 *
 * @throws TransportError from paging or deleting (NOT_FOUND when the thread itself is gone, MISSING_PERMISSIONS …).
 */
export async function reconcileThread(ctx: ArchiveContext, archive: Archive, signal: AbortSignal): Promise<ReconcileReport> {
	const lot = archive.lot;
	const adopted: ChunkLabel[] = [];
	const vanished: ChunkLabel[] = [];
	const neverLanded: ChunkLabel[] = [];
	const deletedMessages: string[] = [];
	const rows = ctx.index.chunks.list(lot);
	if (archive.threadId === null) {
		const unposted = rows.filter((row) => row.state === ChunkState.InFlight).map((row) => ({ kind: row.kind, index: row.index }));
		ctx.index.chunks.markState(lot, unposted, ChunkState.Pending);
		return { messagesSeen: 0, adopted, vanished, neverLanded: unposted.map((key) => label(key.kind, key.index)), deletedMessages };
	}
	const threadId = archive.threadId;
	const found: ThreadChunk[] = [];
	const selfId = await botUserId(ctx, signal);
	const archiveNamePrefix = archive.id.slice(1);
	for await (const message of ctx.transport.pageMessages(threadId, { signal })) {
		for (const attachment of message.attachments) {
			const parsed = parseStagedName(attachment.filename);
			if (parsed === undefined || parsed.archiveId.slice(1) !== archiveNamePrefix) continue;
			found.push({
				messageId: message.id,
				byBot: message.authorId === selfId,
				nameHash: parsed.hash,
				live: attachment,
				attachmentId: attachment.id,
				filename: attachment.filename,
				size: attachment.size,
				kind: parsed.kind === 'data' ? ChunkKind.Data : ChunkKind.Manifest,
				index: parsed.index
			});
		}
	}
	const keep = new Set<string>();
	const toDelete = new Set<string>();
	/** Records the copy found on Discord as the chunk's stored message, and keeps it. */
	const adopt = (row: (typeof rows)[number], copy: ThreadChunk) => {
		ctx.index.chunks.markStored(lot, {
			kind: row.kind,
			index: row.index,
			messageId: copy.messageId,
			attachmentId: copy.attachmentId,
			filename: copy.filename,
			storedSize: copy.size,
			sha256: row.sha256!
		});
		keep.add(copy.messageId);
		adopted.push(label(row.kind, row.index));
	};
	for (const row of rows) {
		const candidates = found.filter((chunk) => chunk.kind === row.kind && chunk.index === row.index);
		if (row.state === ChunkState.Stored || row.state === ChunkState.Bad) {
			if (row.state === ChunkState.Stored) {
				const held = candidates.find((chunk) => chunk.messageId === row.messageId && chunk.attachmentId === row.attachmentId);
				if (held) {
					keep.add(held.messageId);
					continue;
				}
			}
			// The recorded copy is gone or bad: another copy the bot posted with the recorded bytes (a repeated post) is
			// kept in its place, never deleted and posted again. The bad message itself is deleted below.
			if (row.state === ChunkState.Bad && row.messageId !== null) toDelete.add(row.messageId);
			const others = candidates.filter((chunk) => chunk.messageId !== row.messageId);
			const copy = await adoptable(ctx, threadId, row, others, signal);
			ctx.index.chunks.markState(lot, [row], ChunkState.Pending);
			if (copy) adopt(row, copy);
			else if (row.state === ChunkState.Stored) vanished.push(label(row.kind, row.index));
			continue;
		}
		const landed = await adoptable(ctx, threadId, row, candidates, signal);
		if (landed) adopt(row, landed);
		else if (row.state === ChunkState.InFlight) {
			ctx.index.chunks.markState(lot, [row], ChunkState.Pending);
			neverLanded.push(label(row.kind, row.index));
		}
	}
	for (const chunk of found) if (!keep.has(chunk.messageId)) toDelete.add(chunk.messageId);
	for (const messageId of toDelete) {
		if (keep.has(messageId)) continue;
		await deleteThreadMessage(ctx, threadId, messageId, signal);
		deletedMessages.push(messageId);
	}
	const messagesSeen = new Set(found.map((chunk) => chunk.messageId)).size;
	if (adopted.length + vanished.length + neverLanded.length + deletedMessages.length > 0) {
		ctx.log('info', 'reconciled archive thread', {
			archiveId: archive.id,
			messagesSeen,
			adopted: adopted.length,
			vanished: vanished.length,
			neverLanded: neverLanded.length,
			deleted: deletedMessages.length
		});
	}
	return { messagesSeen, adopted, vanished, neverLanded, deletedMessages };
}

/**
 * The thread chunk that is exactly the sealed file recorded before the post: posted by the bot, with the same opaque
 * name and size, a name whose hash is the recorded one's, and bytes whose sha256 is the recorded one (downloaded and
 * checked: a name and a size alone are easy to forge). Undefined when no candidate passes.
 */
async function adoptable(
	ctx: ArchiveContext,
	threadId: string,
	row: ChunkRecord,
	candidates: readonly ThreadChunk[],
	signal: AbortSignal
): Promise<ThreadChunk | undefined> {
	if (row.filename === null || row.sha256 === null || row.storedSize === null) return undefined;
	for (const chunk of candidates) {
		if (!chunk.byBot || chunk.filename !== row.filename || chunk.size !== row.storedSize || !row.sha256.startsWith(chunk.nameHash)) continue;
		try {
			await ctx.transport.downloadAttachment(
				{ channelId: threadId, messageId: chunk.messageId, attachmentId: chunk.attachmentId },
				{
					stream: new Writable({
						write: (_piece: Buffer, _encoding, callback) => {
							callback();
						}
					})
				},
				{ live: chunk.live, expectedSize: row.storedSize, expectedSha256: row.sha256, signal }
			);
			return chunk;
		} catch (error) {
			if (!isTransportError(error) || error.code === TransportErrorCode.Aborted) throw error;
			if (error.code !== TransportErrorCode.HashMismatch && error.code !== TransportErrorCode.SizeMismatch) throw error;
			ctx.log('warn', 'a thread message carries a chunk name whose bytes are not the recorded ones; not adopted', {
				archiveLot: row.archiveLot,
				messageId: chunk.messageId
			});
		}
	}
	return undefined;
}

/**
 * The bot's own user id, to tell its messages from anyone else's (another bot and a webhook are bots too). Asked once
 * per transport and cached; a lost answer is retried, and when Discord never answers this throws: there is no
 * "any bot will do" fallback.
 *
 * @throws TransportError DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
 */
export async function botUserId(ctx: ArchiveContext, signal: AbortSignal): Promise<string> {
	return ctx.transport.selfUserId({ signal });
}

/**
 * Who may have posted the original tool's cards and chunk messages: this bot, and the user ids named in
 * DOS_LEGACY_BOT_IDS. Cards and chunks of our own format are trusted from this bot alone.
 *
 * @throws TransportError when the bot user cannot be read.
 */
export async function trustedAuthors(ctx: ArchiveContext, signal?: AbortSignal): Promise<ReadonlySet<string>> {
	const selfId = await ctx.transport.selfUserId(signal ? { signal } : {});
	return new Set([selfId, ...(ctx.settings.legacyBotIds ?? [])]);
}

/**
 * Deletes one message of a thread; a message already gone counts as deleted.
 *
 * @throws TransportError MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
 */
export async function deleteThreadMessage(ctx: ArchiveContext, threadId: string, messageId: string, signal: AbortSignal): Promise<void> {
	await ctx.transport.deleteMessage(threadId, messageId, { signal });
}
