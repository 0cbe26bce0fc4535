import { type Archive, ChunkKind, type PackCleanupPlan, type PackRecord } from '../db/index.js';
import { isTransportError, type LiveMessage, TransportErrorCode } from '../discord/index.js';
import { countOf, formatBytes } from './card.js';
import type { ArchiveContext } from './context.js';
import { ArchiveError, ArchiveErrorCode, errorSummary } from './errors.js';

/**
 * Cleanup of a format 2 archive (docs/design.md §4.5, §9.7). Its packs may hold blobs later archives reuse, so what
 * goes is decided by references, not by thread: a pack goes when no live archive (anything not `deleted`: complete,
 * failed, interrupted…) references a blob it holds, and a message goes only when all its packs do. The same holds
 * for the packs of the channel's deleted archives a cleanup kept before: they go once the last archive needing them
 * is cleaned up. An archive's thread goes once none of its packs is needed; until then it stays with the messages
 * still needed, and only the messages the index records (its deleted packs, its manifest parts) are deleted from it.
 */

/** What a format 2 cleanup deletes and keeps in the channel's repository: the plan asked first, or what it did. */
export interface RepositoryCleanupSummary {
	/** Packs deleted from Discord (and from the index). */
	readonly packsDeleted: number;
	readonly bytesDeleted: number;
	/** Pack messages deleted one by one, or with their thread. */
	readonly messagesDeleted: number;
	/** Archives whose thread is deleted whole (this one, and deleted archives whose last needed pack goes). */
	readonly threadsDeleted: readonly string[];
	/** Whether this archive's thread stays because live archives still need packs in it. */
	readonly threadKept: boolean;
	/** Packs of this archive and of earlier deleted ones that stay, and their bytes. */
	readonly packsKept: number;
	readonly bytesKept: number;
	/** The live archives that keep them (ids, oldest first, at most 10) and how many there are. */
	readonly keptBy: readonly string[];
	readonly keptByCount: number;
}

/** What cleaning up `archive` would delete and keep, without changing anything: for the confirmation asked first. */
export function planRepositoryCleanup(ctx: ArchiveContext, archive: Archive): RepositoryCleanupSummary {
	const plan = ctx.index.packs.planCleanup(channelOf(ctx, archive), archive.lot);
	return summarize(archive, plan, new Set(threadsGoing(ctx, archive, plan).map((going) => going.id)));
}

/**
 * Cleans up format 2 archive `archive` (its thread checked bound to its card beforehand by `checkThread`): marks it
 * deleted and its unneeded packs `deleting` in one transaction, then deletes on Discord — whole threads where
 * nothing in them is needed any more, else the recorded messages of unneeded packs and this archive's manifest
 * parts — and drops each pack's rows once its message is gone. A crash midway leaves `deleting` packs, never offered
 * for reuse; running the cleanup again (of this or any format 2 archive of the channel) finishes them.
 *
 * @returns what was deleted and kept, and whether this archive's thread was deleted by this run.
 * @throws IndexError ARCHIVE_BUSY while a format 2 upload of the channel runs (nothing changed then);
 * {@link ArchiveError} THREAD_MISMATCH when a recorded message is not what the index says; TransportError.
 */
export async function cleanupRepository(
	ctx: ArchiveContext,
	archive: Archive,
	deleteBoundThread: (archive: Archive, threadId: string) => Promise<boolean>,
	signal: AbortSignal
): Promise<{ readonly summary: RepositoryCleanupSummary; readonly threadDeleted: boolean }> {
	const channelId = channelOf(ctx, archive);
	const plan = ctx.index.packs.beginCleanup(channelId, archive.lot);
	const going = threadsGoing(ctx, archive, plan);
	const goingLots = new Set(going.map((owner) => owner.lot));
	let threadDeleted = false;
	let messagesDeleted = 0;
	const selfId = await ctx.transport.selfUserId({ signal });
	// Threads nothing in which is needed any more: deleted whole (as format 1's, with whatever else was posted there).
	for (const owner of going) {
		const deleted = owner.threadId === null ? false : await deleteBoundThread(owner, owner.threadId);
		if (owner.lot === archive.lot) threadDeleted = deleted;
		ctx.index.packs.dropDeleted(plan.doomed.filter((pack) => pack.archiveLot === owner.lot).map((pack) => pack.id));
	}
	// Threads that stay: only the messages the index records for unneeded packs, each checked before its deletion.
	const staying = new Map<number, PackRecord[]>();
	for (const pack of plan.doomed) {
		if (goingLots.has(pack.archiveLot)) continue;
		staying.set(pack.archiveLot, [...(staying.get(pack.archiveLot) ?? []), pack]);
	}
	if (!goingLots.has(archive.lot) && !staying.has(archive.lot)) staying.set(archive.lot, []);
	for (const [lot, doomed] of staying) {
		const owner = ctx.index.archives.require(lot);
		let touched = false;
		const byMessage = new Map<string | null, PackRecord[]>();
		for (const pack of doomed) byMessage.set(pack.messageId, [...(byMessage.get(pack.messageId) ?? []), pack]);
		for (const [messageId, packs] of byMessage) {
			// A pack whose post was never confirmed has no message on record: its row goes, a message it may have left stays.
			if (messageId !== null) {
				const threadId = packs[0]!.threadId;
				if (threadId !== owner.threadId)
					throw mismatch(owner, `the index records pack message ${messageId} in thread ${threadId}, not in its own thread.`);
				const message = await fetchIfThere(ctx, threadId, messageId, signal);
				if (message !== null) {
					const names = message.attachments.map((attachment) => attachment.filename).sort();
					const expected = packs.map((pack) => `${pack.name}.pack`).sort();
					if (message.authorId !== selfId || names.join() !== expected.join())
						throw mismatch(owner, `message ${messageId} in its thread is not the bot's message of packs ${expected.join(', ')}.`);
					if (await ctx.transport.deleteMessage(threadId, messageId, { signal })) messagesDeleted++;
					touched = true;
				}
			}
			ctx.index.packs.dropDeleted(packs.map((pack) => pack.id));
		}
		if (lot === archive.lot && owner.threadId !== null) {
			// The archive is deleted: its manifest parts go too (no live archive reads another's manifest).
			for (const part of ctx.index.chunks.list(lot, { kind: ChunkKind.Manifest })) {
				if (part.messageId === null) continue;
				const message = await fetchIfThere(ctx, owner.threadId, part.messageId, signal);
				if (message === null) continue;
				if (message.authorId !== selfId || message.attachments.length !== 1 || message.attachments[0]!.filename !== part.filename)
					throw mismatch(owner, `message ${part.messageId} in its thread is not the bot's manifest part ${part.filename ?? ''}.`);
				await ctx.transport.deleteMessage(owner.threadId, part.messageId, { signal });
				touched = true;
			}
		}
		if (touched && owner.threadId !== null) {
			// Deleting reopened the thread; it is closed again (a failure only leaves it open).
			await ctx.transport.archiveThread(owner.threadId, { signal }).catch((error: unknown) => {
				if (isTransportError(error, TransportErrorCode.Aborted)) throw error;
				ctx.log('warn', 'could not archive the thread again after a cleanup', { archiveId: owner.id, ...errorSummary(error) });
			});
		}
	}
	ctx.log('info', 'format 2 cleanup', { archiveId: archive.id, packsDeleted: plan.doomed.length, messagesDeletedOneByOne: messagesDeleted });
	return { summary: summarize(archive, plan, new Set(going.map((owner) => owner.id))), threadDeleted };
}

function channelOf(ctx: ArchiveContext, archive: Archive): string {
	return archive.channelId ?? ctx.settings.archiveChannelId;
}

/** Archives (this one and deleted ones with packs going) none of whose packs stays: their whole thread goes. */
function threadsGoing(ctx: ArchiveContext, archive: Archive, plan: PackCleanupPlan): Archive[] {
	const keeping = new Set(plan.kept.map((pack) => pack.archiveLot));
	const lots = new Set([archive.lot, ...plan.doomed.map((pack) => pack.archiveLot)]);
	return [...lots]
		.filter((lot) => !keeping.has(lot))
		.sort((a, b) => a - b)
		.map((lot) => (lot === archive.lot ? archive : ctx.index.archives.require(lot)));
}

function summarize(archive: Archive, plan: PackCleanupPlan, threads: ReadonlySet<string>): RepositoryCleanupSummary {
	const bytes = (packs: readonly PackRecord[]) => packs.reduce((sum, pack) => sum + pack.size, 0);
	return {
		packsDeleted: plan.doomed.length,
		bytesDeleted: bytes(plan.doomed),
		messagesDeleted: new Set(plan.doomed.map((pack) => `${pack.archiveLot}:${pack.messageIndex}`)).size,
		threadsDeleted: [...threads],
		threadKept: !threads.has(archive.id),
		packsKept: plan.kept.length,
		bytesKept: bytes(plan.kept),
		keptBy: plan.keptBy,
		keptByCount: plan.keptByCount
	};
}

async function fetchIfThere(ctx: ArchiveContext, channelId: string, messageId: string, signal: AbortSignal): Promise<LiveMessage | null> {
	try {
		return await ctx.transport.fetchMessage(channelId, messageId, { signal });
	} catch (error) {
		if (isTransportError(error, TransportErrorCode.NotFound)) return null;
		throw error;
	}
}

function mismatch(archive: Archive, why: string): ArchiveError {
	return new ArchiveError(
		ArchiveErrorCode.ThreadMismatch,
		`Cleanup of ${archive.id} stopped: ${why} That message was not deleted; the packs it should hold are no longer offered for reuse. Rebuild the index (dos index rebuild) if it is out of date.`,
		{ archiveId: archive.id, lot: archive.lot }
	);
}

/**
 * One or two short sentences saying what a format 2 cleanup deletes and keeps, for the confirmation and the answer:
 * "Goes: 3 packs in 2 messages (12 MiB), the thread of #…. Stays: 2 packs (8 MiB) and the thread, which #…, #… reuse."
 */
export function describeRepositoryCleanup(summary: RepositoryCleanupSummary): string {
	const shown = summary.threadsDeleted.slice(0, 5).join(', ');
	const hidden = summary.threadsDeleted.length - 5;
	const threads =
		summary.threadsDeleted.length === 0
			? ''
			: `, the thread${summary.threadsDeleted.length === 1 ? '' : 's'} of ${shown}${hidden > 0 ? ` and ${hidden} more` : ''}`;
	const packs =
		summary.packsDeleted === 0
			? 'no pack'
			: `${countOf(summary.packsDeleted, 'pack')} in ${countOf(summary.messagesDeleted, 'message')} (${formatBytes(summary.bytesDeleted)})`;
	const goes = `Goes: ${packs}${threads}.`;
	if (summary.packsKept === 0) return goes;
	const more = summary.keptByCount > summary.keptBy.length ? ` and ${summary.keptByCount - summary.keptBy.length} more` : '';
	return `${goes} Stays: ${countOf(summary.packsKept, 'pack')} (${formatBytes(summary.bytesKept)})${summary.threadKept ? ' and its thread' : ''}, which ${summary.keptBy.join(', ')}${more} reuse${summary.keptByCount === 1 ? 's' : ''}.`;
}
