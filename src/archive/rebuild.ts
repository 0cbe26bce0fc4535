import {
	ArchiveKeyCache,
	chunksSpanned,
	CoreError,
	CoreErrorCode,
	isCoreError,
	LEGACY_SLICE_SIZE,
	type Manifest,
	parseStagedName
} from '../core/index.js';
import {
	type ArchiveContent,
	type ArchiveEntryInput,
	ArchiveFormat,
	ArchiveStatus,
	ChunkKind,
	ChunkState,
	isIndexError,
	type RecordedChunkInput
} from '../db/index.js';
import { isTransportError, type LiveMessage } from '../discord/index.js';
import type { ArchiveContext, JobRun } from './context.js';
import { type CardRecord, findCardRecord } from './card-record.js';
import { ArchiveError, ArchiveErrorCode, isArchiveError } from './errors.js';
import { botUserId, trustedAuthors } from './reconcile.js';
import { fetchLegacyManifest, openArchiveManifest, type OpenedArchiveManifest } from './thread-manifest.js';
import { listThreadAttachments, type ThreadAttachment } from './thread-reader.js';
import { type LegacyCard, legacyArchiveStatus, legacyArchiveUid, parseLegacyCard } from './legacy-card.js';
import { readMigratedCard } from './legacy-migrate.js';

/**
 * Rebuild (DESIGN.md §4): the index is a cache of Discord, so it can be made again from the archive channel. Every
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
 * The oddities a rebuild names (DESIGN.md §4, a hostile channel): each is reported, none overrides a genuine card and
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
	UntrustedLegacyAuthor: 'UNTRUSTED_LEGACY_AUTHOR'
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
				existing.kdfId !== null
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
				const content_ = found;
				// The index derives counts from the entries; a skeleton has none, so its card's counts are kept.
				if (content_.counts !== undefined) ctx.index.archives.update(archive.lot, content_.counts);
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
	return { dryRun, messagesScanned, archives, skipped, findings, highestLot };
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

interface FoundArchive {
	readonly content: ArchiveContent;
	readonly counts?: { readonly fileCount: number; readonly directoryCount: number; readonly symlinkCount: number };
	readonly summary: Omit<RebuiltArchive, 'written'>;
	/** Oddities found on the way (the archive is rebuilt all the same). */
	readonly findings?: readonly { readonly code: string; readonly reason: string }[];
}

/** At most this many combinations of candidate manifest parts are tried for one archive. */
const MAX_MANIFEST_TRIES = 8;

/**
 * One of our archives: a message with a thread whose attachments carry our opaque names. Null for any other message
 * (a chat line, a card whose thread holds no chunk of ours).
 *
 * The manifest is bound to the card: only parts named for the card's archive are candidates, the parts the index
 * recorded come first, and when several candidates exist each combination is tried until one authenticates and
 * carries the card's id, lot and uid. Parts of other archives are reported, never used. A manifest that cannot be
 * opened leaves the archive as a skeleton from its card, reported, never dropped.
 */
async function readOurArchive(
	ctx: ArchiveContext,
	message: LiveMessage,
	record: CardRecord | null,
	selfId: string,
	signal: AbortSignal
): Promise<FoundArchive | null> {
	const threadId = record?.thread ?? message.thread?.id ?? null;
	if (record === null && (threadId === null || message.authorId !== selfId)) return null;
	if (record !== null && (record.status === ArchiveStatus.Deleted || threadId === null)) return skeleton(ctx, message, record, threadId, []);
	let listed: ThreadAttachment[];
	try {
		listed = await listThreadAttachments(ctx, { id: record?.id ?? '(unknown)', threadId: threadId! }, signal);
	} catch (error) {
		if (record !== null && isCoreError(error, CoreErrorCode.MissingChunk))
			return skeleton(ctx, message, { ...record, status: ArchiveStatus.Deleted }, null, []);
		throw error;
	}
	const allNamed = listed.map((item) => ({ item, name: parseStagedName(item.attachment.filename) })).filter((entry) => entry.name !== undefined);
	// Only the bot's own posts are parts of the archive: look-alikes from anyone else (a webhook, another bot) are not
	// even candidates, so they can neither crowd out the genuine manifest among the combinations tried nor name it.
	const named = allNamed.filter((entry) => entry.item.byBot);
	const impostors = allNamed.filter((entry) => !entry.item.byBot);
	if (record === null && named.length === 0) return null;
	const manifests = named.filter((entry) => entry.name!.kind === 'manifest');
	const ids = new Set(manifests.map((entry) => entry.name!.archiveId));
	if (record === null) {
		if (ids.size === 0) {
			throw new CoreError(
				CoreErrorCode.MissingChunk,
				`The thread ${threadId} holds chunks but no manifest: its upload did not finish. Resume it from the machine that has the source.`
			);
		}
		if (ids.size > 1)
			throw new CoreError(CoreErrorCode.BadFormat, `The thread ${threadId} holds the manifests of several archives (${[...ids].join(', ')}).`);
	}
	const archiveId = record?.id ?? [...ids][0]!;
	const findings: { code: string; reason: string }[] = [];
	if (impostors.length > 0) {
		findings.push({
			code: RebuildFindingCode.NotPostedByBot,
			reason: `The thread ${threadId} of ${archiveId} holds ${impostors.length} attachment(s) named like its parts but not posted by the bot (messages ${[...new Set(impostors.map((entry) => entry.item.messageId))].join(', ')}): they were ignored. Delete them if they are forgeries.`
		});
	}
	const foreign = manifests.filter((entry) => entry.name!.archiveId !== archiveId);
	const foreignData = named.filter((entry) => entry.name!.kind === 'data' && entry.name!.archiveId !== archiveId);
	if (foreign.length + foreignData.length > 0) {
		findings.push({
			code: RebuildFindingCode.ForeignPart,
			reason: `The thread ${threadId} of ${archiveId} holds ${foreign.length + foreignData.length} part(s) named for other archives (${[...new Set([...foreign, ...foreignData].map((entry) => entry.name!.archiveId))].join(', ')}, messages ${[...foreign, ...foreignData].map((entry) => entry.item.messageId).join(', ')}): they were ignored.`
		});
	}
	const own = manifests.filter((entry) => entry.name!.archiveId === archiveId).map((entry) => entry.item);
	if (record !== null && (ctx.settings.passphrase === undefined || own.length === 0)) {
		if (ctx.settings.passphrase !== undefined) {
			findings.push({
				code: RebuildFindingCode.UnopenableManifest,
				reason: `The thread of ${archiveId} holds no manifest of it: the archive was kept as a skeleton from its card.`
			});
		}
		return { ...skeleton(ctx, message, record, threadId, listed), findings };
	}
	const expected = { id: archiveId, lot: record?.lot, uid: record?.uid };
	let opened: OpenedArchiveManifest;
	try {
		opened = await openBoundManifest(ctx, { id: archiveId, threadId: threadId!, uid: record?.uid }, own, expected, signal);
	} catch (error) {
		if (record === null || isCoreError(error, CoreErrorCode.Aborted) || !(isCoreError(error) || isTransportError(error))) throw error;
		findings.push({
			code: RebuildFindingCode.UnopenableManifest,
			reason: `No manifest in the thread of ${archiveId} opens and matches its card (${error.code}: ${error.message}): the archive was kept as a skeleton from its card.`
		});
		return { ...skeleton(ctx, message, record, threadId, listed), findings };
	}
	if (opened.parts.size < own.length) {
		findings.push({
			code: RebuildFindingCode.ExtraManifest,
			reason: `The thread of ${archiveId} holds ${own.length} manifest part(s) of it; the ${opened.parts.size} that open and match its card were kept.`
		});
	}
	const { manifest } = opened;
	const chunks = dataChunkRows(manifest, listed);
	for (const [index, part] of opened.parts) {
		chunks.push({
			kind: ChunkKind.Manifest,
			index,
			state: ChunkState.Stored,
			messageId: part.item.messageId,
			attachmentId: part.item.attachment.id,
			filename: part.item.attachment.filename,
			storedSize: part.size,
			sha256: part.sha256,
			// As the upload records manifest parts: their compression is a property of the whole manifest, not per part.
			compressed: null
		});
	}
	const present = chunks.filter((chunk) => chunk.kind === undefined && chunk.state === ChunkState.Stored).length;
	const status = present === manifest.chunks.length ? ArchiveStatus.Complete : ArchiveStatus.Failed;
	const content: ArchiveContent = {
		id: manifest.id,
		lot: manifest.lot,
		uid: manifest.uid,
		label: manifest.label.length > 0 ? manifest.label : null,
		// Manifests older than the sealed source folder give none: an empty source, never the id (a download folder
		// would read `#id #id`).
		source: manifest.source ?? '',
		...(manifest.requestedBy === undefined ? {} : { createdBy: manifest.requestedBy }),
		...(record === null ? {} : { label: record.label }),
		status,
		format: ArchiveFormat.Dos1,
		chunkSize: manifest.chunkSize,
		gzipLevel: manifest.compression.level,
		kdf: { id: manifest.kdf.id, iterations: manifest.kdf.iterations, salt: manifest.kdf.salt },
		channelId: ctx.settings.archiveChannelId,
		threadId: threadId!,
		cardMessageId: message.id,
		createdAt: new Date(manifest.createdAt),
		...(status === ArchiveStatus.Complete
			? {}
			: { errorCode: CoreErrorCode.MissingChunk, errorMessage: `${manifest.chunks.length - present} chunk(s) are missing from the thread.` }),
		entries: entryRows(manifest),
		chunks
	};
	return {
		content,
		findings,
		summary: {
			archiveId: manifest.id,
			lot: manifest.lot,
			format: ArchiveFormat.Dos1,
			status,
			files: manifest.totals.files,
			chunks: manifest.chunks.length,
			chunksPresent: present,
			depth: 'full'
		}
	};
}

/**
 * Opens the manifest of an archive from its candidate parts: the parts the index recorded first, then each other
 * combination (newest first), until one opens with the key and carries the expected id, lot and uid.
 *
 * @throws the error of the first combination tried when none opens and matches.
 */
async function openBoundManifest(
	ctx: ArchiveContext,
	thread: { readonly id: string; readonly threadId: string; readonly uid: string | undefined },
	candidates: readonly ThreadAttachment[],
	expected: { readonly id: string; readonly lot: number | undefined; readonly uid: string | undefined },
	signal: AbortSignal
): Promise<OpenedArchiveManifest> {
	const known = expected.uid === undefined ? undefined : ctx.index.archives.find(expected.uid);
	const recorded = new Set(
		known === undefined ? [] : ctx.index.chunks.list(known.lot, { kind: ChunkKind.Manifest }).map((row) => row.attachmentId)
	);
	const byIndex = new Map<number, ThreadAttachment[]>();
	for (const item of candidates) {
		const index = parseStagedName(item.attachment.filename)!.index;
		byIndex.set(index, [...(byIndex.get(index) ?? []), item]);
	}
	const rank = (item: ThreadAttachment) => (recorded.has(item.attachment.id) ? 1 : 0);
	const options = [...byIndex.entries()]
		.sort(([a], [b]) => a - b)
		.map(([, items]) => [...items].sort((a, b) => rank(b) - rank(a) || (BigInt(b.messageId) > BigInt(a.messageId) ? 1 : -1)));
	// One key derivation per salt and PBKDF2 count for all the tries, a count other than the index's refused: the count
	// comes from an unauthenticated header and may ask for millions of iterations.
	const keys = new ArchiveKeyCache(
		ctx.settings.passphrase,
		known?.kdfIterations === null || known?.kdfIterations === undefined ? {} : { expectedIterations: known.kdfIterations }
	);
	let first: unknown;
	let tries = 0;
	for (const choice of combinations(options)) {
		if (tries++ >= MAX_MANIFEST_TRIES) break;
		try {
			const opened = await openArchiveManifest(
				ctx,
				{
					id: thread.id,
					threadId: thread.threadId,
					...(known === undefined ? {} : { lot: known.lot }),
					...(thread.uid === undefined ? {} : { uid: thread.uid })
				},
				choice,
				{ signal },
				undefined,
				keys
			);
			if (opened.manifest.id !== expected.id || (expected.lot !== undefined && opened.manifest.lot !== expected.lot)) {
				throw new CoreError(
					CoreErrorCode.MisplacedChunk,
					`The manifest in the thread of ${expected.id} names archive ${opened.manifest.id} (lot ${opened.manifest.lot}): it belongs to another card.`
				);
			}
			return opened;
		} catch (error) {
			if (isCoreError(error, CoreErrorCode.Aborted)) throw error;
			if (!(isCoreError(error) || isTransportError(error))) throw error;
			first ??= error;
		}
	}
	throw first;
}

/** Every choice of one item per slot, the preferred items first. */
function* combinations<T>(slots: readonly (readonly T[])[]): Generator<T[]> {
	if (slots.length === 0) {
		yield [];
		return;
	}
	const [head, ...rest] = slots;
	for (const item of head!) for (const tail of combinations(rest)) yield [item, ...tail];
}

/**
 * An archive of ours known only from its card record (no key, or its thread is gone): the row as the record says,
 * and the chunks the thread holds by their names (message, attachment, name and size; hashes need the manifest).
 */
function skeleton(
	ctx: ArchiveContext,
	message: LiveMessage,
	record: CardRecord,
	threadId: string | null,
	listed: readonly ThreadAttachment[]
): FoundArchive {
	const chunks: RecordedChunkInput[] = [];
	const seen = new Set<string>();
	for (const item of listed) {
		if (!item.byBot) continue;
		const name = parseStagedName(item.attachment.filename);
		if (name === undefined || name.archiveId !== record.id) continue;
		const key = `${name.kind}:${name.index}`;
		if (seen.has(key)) continue;
		seen.add(key);
		chunks.push({
			kind: name.kind === 'data' ? ChunkKind.Data : ChunkKind.Manifest,
			index: name.index,
			state: ChunkState.Stored,
			messageId: item.messageId,
			attachmentId: item.attachment.id,
			filename: item.attachment.filename,
			storedSize: item.attachment.size
		});
	}
	const present = chunks.filter((chunk) => chunk.kind === ChunkKind.Data).length;
	return {
		counts: { fileCount: record.files, directoryCount: record.dirs, symlinkCount: record.links },
		content: {
			id: record.id,
			lot: record.lot,
			uid: record.uid,
			label: record.label,
			source: '',
			status: record.status,
			format: record.format,
			chunkSize: record.chunkSize,
			channelId: ctx.settings.archiveChannelId,
			threadId,
			cardMessageId: message.id,
			createdAt: new Date(record.created),
			originalBytes: record.bytes,
			fileCount: record.files,
			directoryCount: record.dirs,
			symlinkCount: record.links,
			chunkCount: record.chunks,
			entries: [],
			chunks: chunks.filter((chunk) => chunk.kind === ChunkKind.Manifest || chunk.index < record.chunks)
		},
		summary: {
			archiveId: record.id,
			lot: record.lot,
			format: record.format,
			status: record.status,
			files: record.files,
			chunks: record.chunks,
			chunksPresent: present,
			depth: 'skeleton'
		}
	};
}

/**
 * Every data chunk of a manifest, with the message that holds it: the OLDEST copy posted by the bot itself whose name
 * carries the recorded hash and whose size is the recorded one — as a download picks it. A later look-alike (a
 * webhook's or another bot's post, a duplicate) never replaces it.
 */
function dataChunkRows(manifest: Manifest, listed: readonly ThreadAttachment[]): RecordedChunkInput[] {
	const byIndex = new Map<number, ThreadAttachment>();
	for (const item of listed) {
		if (!item.byBot) continue;
		const name = parseStagedName(item.attachment.filename);
		if (name?.kind !== 'data' || name.archiveId !== manifest.id || byIndex.has(name.index)) continue;
		const record = manifest.chunks[name.index];
		if (record === undefined || !record.sha256.startsWith(name.hash) || item.attachment.size !== record.storedSize) continue;
		byIndex.set(name.index, item);
	}
	return manifest.chunks.map((record): RecordedChunkInput => {
		const item = byIndex.get(record.index);
		return {
			index: record.index,
			state: item === undefined ? ChunkState.Missing : ChunkState.Stored,
			messageId: item?.messageId ?? null,
			attachmentId: item?.attachment.id ?? null,
			filename: item?.attachment.filename ?? null,
			storedSize: record.storedSize,
			sha256: record.sha256,
			plainSize: record.plainSize,
			plainSha256: record.plainSha256,
			compressed: record.compressed
		};
	});
}

/** The entries of a manifest as the index records them (with the data chunks each file spans). */
function entryRows(manifest: Manifest): ArchiveEntryInput[] {
	return manifest.entries.map((entry): ArchiveEntryInput => {
		const span = entry.type === 'file' && entry.size > 0 ? chunksSpanned(manifest.chunkSize, entry.offset!, entry.size) : [];
		return {
			path: entry.path,
			type: entry.type,
			size: entry.size,
			mode: entry.mode,
			mtimeMs: entry.mtimeMs,
			sha256: entry.sha256 ?? null,
			offset: entry.offset ?? null,
			firstChunk: span[0] ?? null,
			lastChunk: span.at(-1) ?? null,
			target: entry.target ?? null
		};
	});
}

/** An archive of the original tool, from its card, its thread and its JSON manifest. */
async function readLegacyArchive(ctx: ArchiveContext, message: LiveMessage, card: LegacyCard, signal: AbortSignal): Promise<FoundArchive> {
	const base = {
		id: card.archiveId,
		lot: card.lot,
		uid: legacyArchiveUid(card),
		label: null,
		channelId: ctx.settings.archiveChannelId,
		cardMessageId: card.messageId,
		createdAt: card.createdAt ?? message.createdAt,
		chunkSize: LEGACY_SLICE_SIZE,
		// The original derived a key per chunk from the chunk's own salt: there is no archive salt to record.
		kdf: null
	};
	if (card.status === 'deleted' || card.threadId === null) {
		const status = card.status === 'deleted' ? ArchiveStatus.Deleted : ArchiveStatus.Failed;
		return {
			content: {
				...base,
				source: '',
				status,
				format: ArchiveFormat.LegacyV31,
				threadId: null,
				originalBytes: card.totalSizeBytes ?? 0,
				chunkCount: card.chunkCount ?? 0,
				entries: [],
				chunks: []
			},
			summary: {
				archiveId: card.archiveId,
				lot: card.lot,
				format: ArchiveFormat.LegacyV31,
				status,
				files: card.fileCount ?? 0,
				chunks: card.chunkCount ?? 0,
				chunksPresent: 0,
				depth: 'skeleton'
			}
		};
	}
	const threadRef = { id: card.archiveId, threadId: card.threadId };
	const listed = await listThreadAttachments(ctx, threadRef, signal);
	// The lot and uid let a manifest the index already records for this archive stay the one read (it is pinned).
	const fetched = await fetchLegacyManifest(ctx, { ...threadRef, lot: card.lot, uid: base.uid }, listed, signal);
	if (fetched.others.length > 0)
		ctx.log('warn', 'legacy thread holds other manifests, not used', { archiveId: card.archiveId, others: fetched.others });
	const { manifest } = fetched;
	// The first copy of each chunk name posted by the card's author (the original tool's bot): a later one is someone's post.
	const byName = firstByName(listed, message.authorId);
	const chunks: RecordedChunkInput[] = [];
	const entries: ArchiveEntryInput[] = [];
	for (const file of manifest.files) {
		const seqs = file.chunks.map((chunk) => chunk.seq - 1);
		entries.push({
			path: file.name,
			type: 'file',
			size: file.size,
			sha256: null,
			// No spread: a file may have 160,000 chunks, more arguments than a call takes.
			firstChunk: seqs.length === 0 ? null : seqs.reduce((low, seq) => Math.min(low, seq)),
			lastChunk: seqs.length === 0 ? null : seqs.reduce((high, seq) => Math.max(high, seq))
		});
		for (const chunk of file.chunks) {
			const item = byName.get(chunk.name);
			chunks.push({
				index: chunk.seq - 1,
				state: item === undefined ? ChunkState.Missing : ChunkState.Stored,
				messageId: item?.messageId ?? null,
				attachmentId: item?.attachment.id ?? null,
				filename: chunk.name,
				storedSize: chunk.size ?? item?.attachment.size ?? null
			});
		}
	}
	chunks.push({
		kind: ChunkKind.Manifest,
		index: 0,
		state: ChunkState.Stored,
		messageId: fetched.messageId,
		attachmentId: fetched.attachmentId,
		filename: fetched.file,
		storedSize: fetched.size,
		sha256: fetched.sha256
	});
	const present = chunks.filter((chunk) => chunk.kind === undefined && chunk.state === ChunkState.Stored).length;
	const complete = present === manifest.totals.chunks;
	const status = complete ? legacyArchiveStatus(card, true) : ArchiveStatus.Failed;
	const format = manifest.format as ArchiveFormat;
	return {
		content: {
			...base,
			source: manifest.sourceFolder ?? '',
			status,
			format,
			threadId: card.threadId,
			...(complete
				? {}
				: {
						errorCode: CoreErrorCode.MissingChunk,
						errorMessage: `${manifest.totals.chunks - present} chunk(s) are missing from the thread.`
					}),
			entries,
			chunks
		},
		summary: {
			archiveId: card.archiveId,
			lot: card.lot,
			format,
			status,
			files: manifest.totals.files,
			chunks: manifest.totals.chunks,
			chunksPresent: present,
			depth: 'full'
		}
	};
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

/** The oldest attachment of each name among those `authorId` posted. */
function firstByName(listed: readonly ThreadAttachment[], authorId: string): Map<string, ThreadAttachment> {
	const byName = new Map<string, ThreadAttachment>();
	for (const item of listed) if (item.authorId === authorId && !byName.has(item.attachment.filename)) byName.set(item.attachment.filename, item);
	return byName;
}
