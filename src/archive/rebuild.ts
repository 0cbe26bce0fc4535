import { CoreErrorCode, isCoreError } from '../core/index.js';
import { ArchiveFormat, ArchiveStatus, ChunkKind, isIndexError } from '../db/index.js';
import { isTransportError, type LiveMessage } from '../discord/index.js';
import type { ArchiveContext, JobRun } from './context.js';
import { type CardRecord, findCardRecord } from './card-record.js';
import { ArchiveError, ArchiveErrorCode, isArchiveError } from './errors.js';
import { botUserId, trustedAuthors } from './reconcile.js';
import { type LegacyCard, parseLegacyCard } from './legacy-card.js';
import { readMigratedCard } from './legacy-migrate.js';
import { readLegacyArchive } from './rebuild-legacy.js';
import { type FoundArchive, readOurArchive } from './rebuild-ours.js';
import { readRepositoryArchive, repositoryKeysSource } from './rebuild-repository.js';

/**
 * Rebuild (docs/design.md §4): the index is a cache of Discord, so it can be made again from the archive channel. Every
 * card is read — ours (a thread of opaque chunks whose manifest the key opens) and the original tool's (a JSON-block
 * card, a thread of `.bin` chunks and a plain JSON manifest) — and each archive's row, chunks and entries are
 * replaced in one transaction. Running it twice changes nothing the second time.
 */

/** What to rebuild. */
export interface RebuildRequest {
	/** Report what was found without writing anything. */
	readonly dryRun?: boolean;
}

/** One archive a rebuild found. */
export interface RebuiltArchive {
	readonly archiveId: string;
	readonly lot: number;
	readonly format: ArchiveFormat;
	readonly status: ArchiveStatus;
	readonly files: number;
	/** Data chunks the archive has, and how many of them its thread holds. */
	readonly chunks: number;
	readonly chunksPresent: number;
	/** Format 2: the packs its thread holds that are bound to it, and the blobs their headers list. */
	readonly packs?: number;
	readonly blobs?: number;
	/** `full` when everything was read back (our manifest opened, or a legacy manifest); `skeleton` otherwise. */
	readonly depth: 'full' | 'skeleton';
	/** Whether the index was written (false in a dry run or when it failed). */
	readonly written: boolean;
}

/** A card-like message the rebuild could not use, and why. */
export interface RebuildSkip {
	readonly messageId: string;
	readonly archiveId: string | null;
	readonly code: string;
	readonly reason: string;
}

/**
 * The oddities a rebuild names (docs/design.md §4, a hostile channel): each is reported, none overrides a genuine card and
 * none makes the rebuild delete anything.
 */
export const RebuildFindingCode = {
	/** A card names a thread that was not started on it: it may not claim (nor have cleaned up) that thread. */
	ThreadBinding: 'THREAD_BINDING',
	/** A card-like message not posted by the bot (a member's forgery, or a card edited by someone else). */
	NotPostedByBot: 'NOT_POSTED_BY_BOT',
	/** A second card claims an id, lot or uid an earlier card of this channel already holds. */
	DuplicateCard: 'DUPLICATE_CARD',
	/** A manifest part of another archive in an archive's thread: ignored. */
	ForeignPart: 'FOREIGN_PART',
	/** Several manifests of the archive in its thread: the one that authenticates and matches the card was kept. */
	ExtraManifest: 'EXTRA_MANIFEST',
	/** The archive's manifest does not open with the key (or is damaged, or names another archive): kept as a skeleton from its card. */
	UnopenableManifest: 'UNOPENABLE_MANIFEST',
	/** An index row held a thread that this card's archive genuinely owns: the row lost the thread. */
	StaleBinding: 'STALE_THREAD_BINDING',
	/** Only a skeleton could be read (no key, a manifest that does not open), and the index's full record was kept. */
	KeptIndexRecord: 'KEPT_INDEX_RECORD',
	/** A card without a thread whose archive a later card (with its thread and manifest) holds: the later card was used. */
	OrphanCard: 'ORPHAN_CARD',
	/** A card of the original tool posted by a bot that is neither this one nor one named in DOS_LEGACY_BOT_IDS: not imported. */
	UntrustedLegacyAuthor: 'UNTRUSTED_LEGACY_AUTHOR',
	/**
	 * Format 2: a pack attachment (or pack message) in an archive's thread that is not bound to the archive — its line
	 * names another archive or another count, its manifest does not list it, or it is a second copy: ignored.
	 */
	UnboundPack: 'UNBOUND_PACK',
	/** Format 2: a pack whose bytes do not hash to its name, or whose header does not open under the channel's keys: not recorded. */
	DamagedPack: 'DAMAGED_PACK'
} as const;

export type RebuildFindingCode = (typeof RebuildFindingCode)[keyof typeof RebuildFindingCode];

/** What {@link rebuildIndex} found and did. */
export interface RebuildResult {
	readonly dryRun: boolean;
	readonly messagesScanned: number;
	readonly archives: readonly RebuiltArchive[];
	/** Card-like messages whose archive was not rebuilt (forged, duplicate, unreadable), and why. */
	readonly skipped: readonly RebuildSkip[];
	/** Oddities about archives that were rebuilt (a foreign manifest part, an extra manifest, a skeleton for want of a manifest). */
	readonly findings: readonly RebuildSkip[];
	/** The highest lot on any card of the channel (the lot counter never falls below it), or 0. */
	readonly highestLot: number;
	/** Format 2: the packs found bound to their archives, and the blob entries their headers list. */
	readonly repository: { readonly packs: number; readonly blobs: number };
}

/**
 * Scans the archive channel and rebuilds the index from what Discord holds: for our archives, losslessly with the
 * key (every entry; every chunk with message id, attachment id, file name, size, sha256 and plaintext hash); for the
 * original tool's archives, from their JSON manifests. Archives that cannot be read (no key, wrong key, a thread that
 * is gone) are reported, never guessed. With `dryRun`, nothing is written.
 *
 * @throws {CoreError} NO_KEY is not thrown: archives that need the key are skipped and named. TransportError when
 * the archive channel cannot be read; ABORTED.
 */
export async function rebuildIndex(ctx: ArchiveContext, request: RebuildRequest, run: JobRun): Promise<RebuildResult> {
	const dryRun = request.dryRun === true;
	const archives: RebuiltArchive[] = [];
	const skipped: RebuildSkip[] = [];
	const findings: RebuildSkip[] = [];
	const claimed: Claims = { ids: new Map(), lots: new Map(), uids: new Map() };
	let highestLot = 0;
	let messagesScanned = 0;
	const selfId = await botUserId(ctx, run.signal);
	const legacyAuthors = await trustedAuthors(ctx, run.signal);
	const repositoryKeys = repositoryKeysSource(ctx, dryRun, run.signal);
	const channelId = ctx.settings.archiveChannelId;
	run.progress({
		archiveId: undefined,
		phase: 'scanning',
		bytesDone: 0,
		bytesTotal: 0,
		chunksDone: 0,
		chunksTotal: 0,
		note: 'reading the archive channel'
	});
	for await (const message of ctx.transport.pageMessages(channelId, { signal: run.signal })) {
		messagesScanned++;
		let legacy: LegacyCard | null = null;
		let claimedId: string | null = null;
		try {
			const record = findCardRecord(message.embeds);
			if (record === null) legacy = parseLegacyCard(message);
			claimedId = record?.id ?? legacy?.archiveId ?? null;
			if (record !== null || legacy !== null) {
				checkCardAuthor(message, record, legacy, selfId, legacyAuthors);
				// Every card the bot posted counts for the lot floor, even one whose archive is not rebuilt (a member's
				// forgery does not: it could only push the ids up).
				highestLot = Math.max(highestLot, record?.lot ?? legacy?.lot ?? 0);
				checkCardBinding(message, record, legacy);
			}
			// A card migrate-legacy posted for a thread-less archive: its chunk messages are listed in an attachment.
			const migrated = legacy === null ? null : await readMigratedCard(ctx, message, legacy, run.signal);
			const found: FoundArchive | null =
				migrated !== null
					? migrated.found
					: legacy !== null
						? await readLegacyArchive(ctx, message, legacy, run.signal)
						: record?.format === ArchiveFormat.Dos2
							? await readRepositoryArchive(ctx, message, record, selfId, repositoryKeys, run.signal)
							: await readOurArchive(ctx, message, record, selfId, run.signal);
			if (found === null) continue;
			const content = found.content;
			const orphan = resolveDuplicateCard(claimed, message.id, found);
			if (orphan !== null) {
				// The earlier card was a skeleton without a thread (its post lost its answer, the card was posted again):
				// this card, with the thread and the opened manifest, takes its place.
				const at = archives.findIndex((archive) => archive.archiveId === orphan.archiveId && archive.lot === orphan.lot);
				if (at >= 0) archives.splice(at, 1);
				findings.push({
					messageId: orphan.messageId,
					archiveId: content.id,
					code: RebuildFindingCode.OrphanCard,
					reason: `The card ${orphan.messageId} of ${content.id} has no thread; the later card ${message.id} holds the archive and was used. Delete the orphan card ${orphan.messageId}.`
				});
				ctx.log('warn', 'rebuild found an orphan card', { messageId: orphan.messageId, code: RebuildFindingCode.OrphanCard });
			}
			recordClaim(claimed, message.id, found);
			highestLot = Math.max(highestLot, content.lot);
			for (const finding of found.findings ?? []) {
				findings.push({ messageId: message.id, archiveId: content.id, ...finding });
				ctx.log('warn', 'rebuild found an oddity', { messageId: message.id, code: finding.code });
			}
			let written = false;
			const existing = ctx.index.archives.get(content.lot);
			if (
				found.summary.depth === 'skeleton' &&
				content.status !== ArchiveStatus.Deleted &&
				existing?.uid === content.uid &&
				existing.format === content.format &&
				(existing.kdfId !== null ||
					(existing.format === ArchiveFormat.Dos2 && ctx.index.chunks.list(existing.lot, { kind: ChunkKind.Manifest }).length > 0))
			) {
				// The index already knows this archive in full (its manifest was opened before): a skeleton would lose it.
				findings.push({
					messageId: message.id,
					archiveId: content.id,
					code: RebuildFindingCode.KeptIndexRecord,
					reason: `Only a skeleton of ${content.id} could be read now; the index's full record of it (files, hashes, source folder) was kept.`
				});
				archives.push({ ...found.summary, written: false });
				continue;
			}
			if (!dryRun) {
				// The row, its entries and chunks, and a format 2 archive's packs and references land together or not at all.
				ctx.index.transaction(() => {
					const holder =
						content.threadId === null || content.threadId === undefined ? undefined : ctx.index.archives.findByThread(content.threadId);
					if (holder !== undefined && holder.lot !== content.lot) {
						// The card this thread was started on is this one: the other row's claim on it was stale or forged.
						ctx.index.archives.update(holder.lot, { threadId: null });
						findings.push({
							messageId: message.id,
							archiveId: holder.id,
							code: RebuildFindingCode.StaleBinding,
							reason: `The index held the thread ${content.threadId} for archive ${holder.id}, but the thread was started on the card of ${content.id}: ${holder.id} no longer names it.`
						});
					}
					const archive = ctx.index.archives.replaceContent(content);
					if (migrated !== null) ctx.index.legacyMessages.record(archive.lot, migrated.refs);
					// The index derives counts from the entries; a skeleton has none, so its card's counts are kept.
					if (found.counts !== undefined) ctx.index.archives.update(archive.lot, found.counts);
					const { repository } = found;
					if (repository !== undefined) {
						// A skeleton without the keys knows no packs: what the index recorded of them stays.
						if (repository.packs.length > 0 || found.summary.depth === 'full')
							ctx.index.packs.replaceStored(archive.lot, repository.packs);
						if (found.summary.depth === 'full') ctx.index.packs.setReferences(archive.lot, repository.references);
						ctx.index.archives.update(archive.lot, repository.patch);
					}
				});
				written = true;
			}
			archives.push({ ...found.summary, written });
			run.progress({
				archiveId: found.summary.archiveId,
				phase: 'scanning',
				bytesDone: 0,
				bytesTotal: 0,
				chunksDone: archives.length,
				chunksTotal: 0,
				note: `${dryRun ? 'found' : 'rebuilt'} ${found.summary.archiveId}`
			});
		} catch (error) {
			if (isCoreError(error, CoreErrorCode.Aborted)) throw error;
			// Whatever one card holds, the next card is still read: a hostile post must not end the rebuild.
			const known =
				isCoreError(error) || isIndexError(error) || isTransportError(error) || isArchiveError(error) || error instanceof RebuildFinding;
			const code = known ? error.code : 'UNEXPECTED';
			const reason = known
				? error.message
				: `Reading this card failed unexpectedly (${error instanceof Error ? error.name : typeof error}); the log has the details.`;
			skipped.push({ messageId: message.id, archiveId: claimedId, code, reason });
			ctx.log(known ? 'warn' : 'error', 'rebuild skipped a card', { messageId: message.id, code, ...(known ? {} : { error: String(error) }) });
		}
	}
	// Lots are never reused: the counter moves past the highest lot any card of the channel shows, used or not.
	if (!dryRun && highestLot > 0) ctx.index.archives.raiseLotFloor(highestLot);
	if (!dryRun) ctx.index.writeMeta('rebuilt_at', new Date().toISOString());
	const repository = {
		packs: archives.reduce((sum, archive) => sum + (archive.packs ?? 0), 0),
		blobs: archives.reduce((sum, archive) => sum + (archive.blobs ?? 0), 0)
	};
	return { dryRun, messagesScanned, archives, skipped, findings, highestLot, repository };
}

/** The card that holds an id, a lot, a uid during a rebuild. */
interface Claim {
	readonly messageId: string;
	readonly archiveId: string;
	readonly lot: number;
	readonly uid: string;
	/** A skeleton from a card without a thread: a later card of the same archive with its thread may replace it. */
	readonly threadless: boolean;
}

interface Claims {
	readonly ids: Map<string, Claim>;
	readonly lots: Map<number, Claim>;
	readonly uids: Map<string, Claim>;
}

/** Records that `messageId`'s card holds the archive it found. */
function recordClaim(claimed: Claims, messageId: string, found: FoundArchive): void {
	const { content } = found;
	const claim: Claim = {
		messageId,
		archiveId: content.id,
		lot: content.lot,
		uid: content.uid,
		threadless: found.summary.depth === 'skeleton' && (content.threadId === null || content.threadId === undefined)
	};
	claimed.ids.set(claim.archiveId, claim);
	claimed.lots.set(claim.lot, claim);
	claimed.uids.set(claim.uid, claim);
}

/**
 * Two cards claim the same id, lot or uid. The first card keeps them, except that a card with a thread and an opened
 * manifest replaces an earlier skeleton without a thread of the very same archive (id, lot and uid): a card whose
 * post lost its answer and was posted again. Returns the replaced (orphan) claim, null when nothing was claimed.
 * @throws RebuildFinding DUPLICATE_CARD when this card is not used.
 */
function resolveDuplicateCard(claimed: Claims, messageId: string, found: FoundArchive): Claim | null {
	const { content } = found;
	const earlier = [claimed.ids.get(content.id), claimed.lots.get(content.lot), claimed.uids.get(content.uid)].filter(
		(claim): claim is Claim => claim !== undefined
	);
	if (earlier.length === 0) return null;
	const [first] = earlier;
	const replaceable =
		earlier.every((claim) => claim === first) &&
		first!.threadless &&
		first!.archiveId === content.id &&
		first!.lot === content.lot &&
		first!.uid === content.uid &&
		found.summary.depth === 'full' &&
		content.threadId !== null &&
		content.threadId !== undefined &&
		content.threadId === messageId;
	if (!replaceable) {
		throw new RebuildFinding(
			RebuildFindingCode.DuplicateCard,
			`Another card earlier in the channel already holds archive ${content.id} (lot ${content.lot}) or its uid: this one was not used. If both are genuine, the ids collided; the first card keeps the id.`
		);
	}
	return first!;
}

/** A reason a rebuild does not use a card (see {@link RebuildFindingCode}). */
class RebuildFinding extends Error {
	public readonly code: RebuildFindingCode;

	public constructor(code: RebuildFindingCode, message: string) {
		super(message);
		this.name = 'RebuildFinding';
		this.code = code;
	}
}

/**
 * A card is bound to the thread started on it (whose id is the card's message id on Discord), and only the bot posts
 * cards: a card naming another thread, or posted (or, since only the author may edit a message, edited) by someone
 * else, is refused before its thread is even read. "The bot" is this bot user — never merely a bot: a webhook or
 * another bot application is one too. A card of the original tool may also come from a user id named in
 * DOS_LEGACY_BOT_IDS; another bot's is reported as UNTRUSTED_LEGACY_AUTHOR, and none of these raises the lot counter.
 */
function checkCardAuthor(
	message: LiveMessage,
	record: CardRecord | null,
	legacy: LegacyCard | null,
	selfId: string,
	legacyAuthors: ReadonlySet<string>
): void {
	if (message.authorId === selfId) return;
	if (record === null && legacy !== null && legacyAuthors.has(message.authorId)) return;
	if (record === null && legacy !== null && message.authorIsBot) {
		throw new RebuildFinding(
			RebuildFindingCode.UntrustedLegacyAuthor,
			`Message ${message.id} looks like the original tool's card of ${legacy.archiveId} but was posted by the bot user ${message.authorId}, which is neither this bot nor one named in DOS_LEGACY_BOT_IDS: it was not imported. If that user is the original tool's bot, add its id to DOS_LEGACY_BOT_IDS and rebuild again.`
		);
	}
	throw new RebuildFinding(
		RebuildFindingCode.NotPostedByBot,
		`Message ${message.id} looks like the card of ${record?.id ?? legacy?.archiveId ?? 'an archive'} but was not posted by the bot: it was ignored. Delete it if it is a forgery.`
	);
}

/** See {@link checkCardAuthor}: the thread a card names must be the one started on it. */
function checkCardBinding(message: LiveMessage, record: CardRecord | null, legacy: LegacyCard | null): void {
	const named = record !== null ? record.thread : (legacy?.threadId ?? null);
	const started = message.thread?.id ?? null;
	if (named !== null && named !== message.id && named !== started) {
		throw new RebuildFinding(
			RebuildFindingCode.ThreadBinding,
			`The card ${message.id} of ${record?.id ?? legacy?.archiveId ?? 'an archive'} names the thread ${named}, which was not started on it: the card was ignored and that thread left alone.`
		);
	}
	if (started !== null && started !== message.id) {
		throw new RebuildFinding(
			RebuildFindingCode.ThreadBinding,
			`The thread ${started} of message ${message.id} is not the thread started on it: the card was ignored.`
		);
	}
}

/** How many of the bot's newest messages in the archive channel {@link assertIndexCurrent} reads. */
const RECENT_CARDS_CHECKED = 50;
/** At most this many messages are paged through to find them (chat between cards does not hide them, a flood is bounded). */
const RECENT_MESSAGES_PAGED = 1000;

/**
 * The cheap check an upload makes before it allocates a lot: the 50 newest messages the bot posted in the archive
 * channel (paged past anyone else's posts, up to 1000 messages) must not show a lot above the highest this index has handed out or seen. A lot is never reused, so a process
 * whose index is behind the channel — a CLI with its own DOS_DB_PATH beside the bot, an index restored from an old
 * backup — refuses to upload until it is brought up to date.
 *
 * @returns the highest lot the newest cards show (0 when none).
 * @throws {ArchiveError} INDEX_BEHIND naming the card and what to do. TransportError when the channel cannot be read.
 */
export async function assertIndexCurrent(ctx: ArchiveContext, signal?: AbortSignal): Promise<number> {
	const selfId = await botUserId(ctx, signal ?? new AbortController().signal);
	// The bot's own newest messages, however many others (members, webhooks, other bots) posted after them.
	const recent: LiveMessage[] = [];
	let paged = 0;
	for await (const message of ctx.transport.pageMessagesNewestFirst(ctx.settings.archiveChannelId, signal ? { signal } : {})) {
		if (message.authorId === selfId) recent.push(message);
		if (recent.length >= RECENT_CARDS_CHECKED || ++paged >= RECENT_MESSAGES_PAGED) break;
	}
	let highest: { lot: number; id: string; messageId: string } | undefined;
	for (const message of recent) {
		let found: { lot: number; id: string } | null = null;
		try {
			const record = findCardRecord(message.embeds);
			const legacy = record === null ? parseLegacyCard(message) : null;
			found = record ?? (legacy === null ? null : { lot: legacy.lot, id: legacy.archiveId });
		} catch {
			found = null;
		}
		if (found !== null && (highest === undefined || found.lot > highest.lot)) highest = { lot: found.lot, id: found.id, messageId: message.id };
	}
	const lastLot = ctx.index.archives.lastLot();
	if (highest !== undefined && highest.lot > lastLot) {
		throw new ArchiveError(
			ArchiveErrorCode.IndexBehind,
			`The archive channel shows card ${highest.id} (lot ${highest.lot}, message ${highest.messageId}), newer than this index (last lot ${lastLot}): another bot or CLI uploads with another index file. Nothing was uploaded. Run \`dos index rebuild\` (or /archive rebuild), or point DOS_DB_PATH at the bot's index: the CLI and the bot must share one index file.`,
			{ archiveId: highest.id, lot: highest.lot }
		);
	}
	return highest?.lot ?? 0;
}
