import { sha256Hex } from '../core/index.js';
import { type Archive, ArchiveStatus } from '../db/index.js';
import { isTransportError, type ThreadInfo, TransportErrorCode } from '../discord/index.js';
import { findCardRecord } from './card-record.js';
import { renderCard } from './card.js';
import { CardUpdater } from './card-updater.js';
import type { ArchiveContext } from './context.js';
import { errorSummary } from './errors.js';
import { botUserId } from './reconcile.js';

/** The card and thread of an upload: posted once (a lost answer is found again, never posted twice), then locked. */

/** A deterministic nonce for the card post, so a retried or repeated card post returns the card that landed. */
function cardNonce(uid: string): string {
	return `k${sha256Hex(`dos-card-nonce\0${uid}`).slice(0, 24)}`;
}

/**
 * Starts posting an upload: the archive becomes `uploading`, gets its card and thread if it has none, and an updater
 * for the card's progress edits.
 */
export async function startUploadCard(
	ctx: ArchiveContext,
	lot: number,
	startedBy: string | null,
	signal: AbortSignal
): Promise<{ archive: Archive; updater: CardUpdater; threadId: string }> {
	const archive = await ensureCardAndThread(ctx, ctx.index.archives.setStatus(lot, ArchiveStatus.Uploading), startedBy, signal);
	const updater = new CardUpdater({
		transport: ctx.transport,
		channelId: archive.channelId!,
		messageId: archive.cardMessageId!,
		log: ctx.log,
		...(ctx.settings.cardEditIntervalMs === undefined ? {} : { intervalMs: ctx.settings.cardEditIntervalMs })
	});
	return { archive, updater, threadId: archive.threadId! };
}

/** Posts the card and starts its thread when the archive has none yet, recording each id as soon as it exists. */
export async function ensureCardAndThread(ctx: ArchiveContext, archive: Archive, startedBy: string | null, signal: AbortSignal): Promise<Archive> {
	const channelId = archive.channelId ?? ctx.settings.archiveChannelId;
	let current = archive;
	if (current.cardMessageId === null) {
		let cardMessageId: string;
		try {
			const card = await ctx.transport.postCard(channelId, renderCard({ archive: current, status: 'slicing', startedBy }), {
				nonce: cardNonce(current.uid),
				signal
			});
			cardMessageId = card.messageId;
		} catch (error) {
			// Every try lost its answer (or Discord stayed unreachable): the card may well have landed. Adopt it rather
			// than fail, or a later try would post a second card for the same archive.
			if (!isTransportError(error, TransportErrorCode.DiscordUnavailable)) throw error;
			const landed = await findLandedCard(ctx, channelId, current.uid, signal).catch(() => null);
			if (landed === null) throw error;
			ctx.log('info', 'adopted a card whose post lost its answer', { archiveId: current.id, messageId: landed });
			cardMessageId = landed;
		}
		current = ctx.index.archives.update(current.lot, { channelId, cardMessageId });
	}
	let thread: ThreadInfo;
	if (current.threadId === null) {
		const name = `${current.id}${current.label ? ` · ${current.label}` : ''}`.slice(0, 100);
		try {
			thread = await ctx.transport.startThread({ channelId, messageId: current.cardMessageId!, name, signal });
		} catch (error) {
			// The thread may exist already (started, then a crash before it was recorded): its id is the card's id.
			if (!isTransportError(error)) throw error;
			thread = await ctx.transport.fetchThread(current.cardMessageId!, { signal }).catch(() => {
				throw error;
			});
		}
		current = ctx.index.archives.update(current.lot, { threadId: thread.id });
	} else {
		thread = await ctx.transport.fetchThread(current.threadId, { signal });
	}
	await lockArchiveThread(ctx, thread, signal);
	return current;
}

/**
 * For an archive with no card recorded (an earlier card post lost its answer and the upload stopped): adopts the card
 * the bot posted for it if the channel's newest messages hold one, so a resume does not post a second card once
 * Discord's nonce window has passed. Never throws on Discord trouble (the card post later fails or adopts as usual).
 * @throws {IndexError} from recording the card.
 */
export async function adoptLandedCard(ctx: ArchiveContext, archive: Archive, signal: AbortSignal): Promise<Archive> {
	if (archive.cardMessageId !== null) return archive;
	const channelId = archive.channelId ?? ctx.settings.archiveChannelId;
	const landed = await findLandedCard(ctx, channelId, archive.uid, signal).catch(() => null);
	if (landed === null) return archive;
	ctx.log('info', 'adopted a card posted by an earlier try', { archiveId: archive.id, messageId: landed });
	return ctx.index.archives.update(archive.lot, { channelId, cardMessageId: landed });
}

/** How many of the archive channel's newest messages are searched for a card whose post lost its answer. */
const LANDED_CARD_SEARCH = 50;

/**
 * A card post whose answer never came: the newest messages of the archive channel are searched for a card posted by
 * this bot (its own user id; none is adopted when the id is unknown) whose record carries the archive's uid. When the
 * post was repeated and several landed, the oldest is adopted (a thread started on one of them is preferred) and the
 * other copies without a thread are deleted.
 * @returns the card's message id, or null when none is found.
 * @throws TransportError from reading the channel.
 */
async function findLandedCard(ctx: ArchiveContext, channelId: string, uid: string, signal: AbortSignal): Promise<string | null> {
	const selfId = await botUserId(ctx, signal);
	// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the id comes from Discord; keep refusing to match cards when it is missing
	if (selfId === null) return null;
	const recent = await ctx.transport.recentMessages(channelId, { limit: LANDED_CARD_SEARCH, signal });
	const cards = recent.filter((message) => message.authorId === selfId && findCardRecord(message.embeds)?.uid === uid);
	const withThread = cards.filter((message) => message.thread?.id === message.id);
	const adopted = withThread.at(-1) ?? cards.at(-1);
	if (adopted === undefined) return null;
	// The other copies (a post repeated after Discord's dedup window) hold nothing: remove them, best effort.
	for (const extra of cards) {
		if (extra.id === adopted.id || extra.thread !== null) continue;
		await ctx.transport.deleteMessage(channelId, extra.id, { signal }).catch((error: unknown) => {
			ctx.log('warn', 'could not delete a repeated card', { messageId: extra.id, ...errorSummary(error) });
		});
	}
	return adopted.id;
}

/**
 * Locks an archive's thread before anything is posted into it, and keeps it locked from then on (failures, cancel and
 * resume included): the bot posts into a locked thread through Manage Threads, other members cannot slip messages in.
 * An archived thread (a resume) is reopened in the same PATCH.
 * @throws TransportError from the PATCH (the upload fails: a resume locks it again first).
 */
async function lockArchiveThread(ctx: ArchiveContext, thread: ThreadInfo, signal: AbortSignal): Promise<void> {
	if (thread.locked) return;
	await ctx.transport.setThreadState(thread.id, thread.archived ? { archived: false, locked: true } : { locked: true }, { signal });
}
