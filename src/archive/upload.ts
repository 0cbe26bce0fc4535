import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import {
	type ArchiveKey,
	type ArchivePlan,
	assertPassphrase,
	buildManifest,
	chunksSpanned,
	CoreError,
	CoreErrorCode,
	deriveArchiveKey,
	isInside,
	newArchiveUid,
	type PlanEntry,
	planArchive,
	sealManifest,
	type SkippedSource,
	sliceArchive,
	type SliceReadPlan,
	walk
} from '../core/index.js';
import {
	type Archive,
	type ArchiveEntryInput,
	ArchiveStatus,
	ChunkKind,
	type ChunkRecord,
	ChunkState,
	IndexError,
	IndexErrorCode
} from '../db/index.js';
import { chunkNonce, isTransportError, type OutgoingFile, type ThreadInfo, TransportErrorCode } from '../discord/index.js';
import { findCardRecord, MAX_LABEL_LENGTH } from './card-record.js';
import { type CardStatus, countOf, formatBytes, ProgressMeter, renderCard } from './card.js';
import { CardUpdater } from './card-updater.js';
import type { ArchiveContext, JobPhase, JobRun } from './context.js';
import { ArchiveError, ArchiveErrorCode, errorSummary, stopReasonOf } from './errors.js';
import { botUserId, deleteThreadMessage } from './reconcile.js';
import { assertIndexCurrent } from './rebuild.js';

/**
 * The upload job (DESIGN.md §4, Upload) and the posting pipeline it shares with resume: resolve the folder inside the
 * upload root, walk and plan it, allocate lot and id and record the plan, post the card and start its thread, then
 * slice in the worker pool and post chunk after chunk with bounded memory — each chunk recorded in flight (nonce and
 * sealed file) before its post and stored (message, attachment, and the hashes of the files it completes) after — then
 * the manifest, archive the thread, the final card and one line in the log channel.
 */

/** What to upload. */
export interface UploadRequest {
	/** The folder: relative to the upload root, or absolute inside it. */
	readonly folder: string;
	readonly label?: string | null;
	/** The Discord user id who asked (null or absent for the CLI). */
	readonly requestedBy?: string | null;
}

/** An archive allocated and planned, not yet posted. */
export interface PlannedUpload {
	readonly archive: Archive;
	/** The folder, absolute and real. */
	readonly root: string;
	readonly plan: ArchivePlan;
	/** The archive key, derived once (reused by the upload that follows). */
	readonly key: ArchiveKey;
	/** Entries the walk left out, and why. */
	readonly skipped: readonly SkippedSource[];
}

/** What an upload or a resume achieved. */
export interface UploadResult {
	readonly archiveId: string;
	readonly lot: number;
	readonly uid: string;
	readonly threadId: string;
	readonly cardMessageId: string;
	/** Data chunks of the archive. */
	readonly chunks: number;
	/** Data chunks posted by this run (the rest were already stored). */
	readonly chunksPosted: number;
	readonly manifestParts: number;
	readonly originalBytes: number;
	readonly storedBytes: number;
	readonly skipped: readonly SkippedSource[];
}

/** Options of {@link continueUpload} (the part shared by upload and resume). */
export interface ContinueUploadOptions {
	readonly root: string;
	readonly plan: ArchivePlan;
	readonly key: ArchiveKey;
	readonly skipped?: readonly SkippedSource[];
	/** Who started this run, for the card. */
	readonly startedBy?: string | null;
	/**
	 * File hashes the index records already (resume), path → sha256: a file whose hash is here and whose bytes all lie
	 * in stored chunks is not read again (see `planSliceReads`); with every data chunk stored and every file's hash
	 * here, the source is not read at all.
	 */
	readonly fileHashes?: ReadonlyMap<string, string>;
}

/** How cards name the starter of a job nobody on Discord asked for (the CLI, a nightly cron job). */
export const CLI_STARTER = 'dos CLI';

/**
 * Resolves an upload folder inside the upload root: a relative path is taken from the root; the real path (symlinks
 * resolved) must lie inside the root's real path.
 *
 * @returns the real absolute folder and its path relative to the root (`/`-separated, `.` for the root itself).
 * @throws {CoreError} UNSAFE_PATH when the folder is outside the root (through `..`, an absolute path or a symlink);
 * NOT_FOUND when it does not exist or is not a folder.
 */
export async function resolveUploadFolder(uploadRoot: string, folder: string): Promise<{ root: string; source: string }> {
	let realRoot: string;
	try {
		realRoot = await realpath(uploadRoot);
	} catch (error) {
		throw new CoreError(
			CoreErrorCode.NotFound,
			`The upload root ${uploadRoot} does not exist. Create it or set DISCORD_DRIVE_UPLOAD_PATH.`,
			{ file: uploadRoot },
			{ cause: error }
		);
	}
	if (folder.includes('\0')) throw unsafeFolder(folder, realRoot);
	const candidate = path.resolve(realRoot, folder);
	if (!isInside(realRoot, candidate)) throw unsafeFolder(folder, realRoot);
	let real: string;
	try {
		real = await realpath(candidate);
		if (!(await stat(real)).isDirectory()) throw new Error('not a directory');
	} catch (error) {
		throw new CoreError(
			CoreErrorCode.NotFound,
			`${folder} is not a folder under the upload root ${realRoot}. Check the name.`,
			{ file: folder },
			{ cause: error }
		);
	}
	if (!isInside(realRoot, real)) throw unsafeFolder(folder, realRoot);
	const relative = path.relative(realRoot, real);
	return { root: real, source: relative === '' ? '.' : relative.split(path.sep).join('/') };
}

function unsafeFolder(folder: string, root: string): CoreError {
	return new CoreError(
		CoreErrorCode.UnsafePath,
		`Refusing to upload ${JSON.stringify(folder)}: it is not inside the upload root ${root} (no '..', absolute paths elsewhere or symlinks out of it).`,
		{ paths: [folder] }
	);
}

/**
 * The first half of an upload, before anything is posted: checks the key and the label, resolves and walks the
 * folder, plans it, derives the archive key (one PBKDF2), allocates lot and id and records the plan (entries and
 * pending chunks). The archive is `planned` until its job starts.
 *
 * @throws {CoreError} NO_KEY; UNSAFE_PATH; NOT_FOUND; CHUNK_TOO_LARGE / INVALID_OPTION for chunk settings; ABORTED.
 * @throws {ArchiveError} INVALID_REQUEST for a label that is too long.
 * @throws {IndexError} ARCHIVE_BUSY while an upload of the same folder runs; as `allocate` and `recordPlan`.
 */
export async function planUpload(ctx: ArchiveContext, request: UploadRequest, signal?: AbortSignal): Promise<PlannedUpload> {
	const { settings } = ctx;
	assertPassphrase(settings.passphrase);
	const label = request.label?.trim() || null;
	if (label !== null && label.length > MAX_LABEL_LENGTH) {
		throw new ArchiveError(ArchiveErrorCode.InvalidRequest, `A label has at most ${MAX_LABEL_LENGTH} characters; this one has ${label.length}.`);
	}
	const { root, source } = await resolveUploadFolder(settings.uploadRoot, request.folder);
	const walked = await walk(root, signal ? { signal } : {});
	const plan = planArchive(walked, { chunkSize: settings.chunkSize, attachmentLimit: settings.attachmentLimit });
	const key = await deriveArchiveKey(settings.passphrase, {
		...(settings.kdfIterations === undefined ? {} : { iterations: settings.kdfIterations }),
		...(signal ? { signal } : {})
	});
	// A lot is never reused: refuse when the channel shows a card newer than this index (INDEX_BEHIND).
	await assertIndexCurrent(ctx, signal);
	// Checked right before the allocation (no await between): two uploads of one folder asked at once start one.
	assertNotUploading(ctx, source);
	const archive = ctx.index.archives.allocate({
		uid: newArchiveUid().toString('hex'),
		source,
		label,
		chunkSize: plan.chunkSize,
		gzipLevel: settings.gzipLevel,
		kdf: { id: 'pbkdf2-sha256', iterations: key.iterations, salt: key.salt.toString('hex') },
		channelId: settings.archiveChannelId,
		createdBy: request.requestedBy ?? null
	});
	try {
		const planned = ctx.index.archives.recordPlan(archive.lot, {
			entries: plan.entries.map((entry) => toEntryInput(entry, plan.chunkSize)),
			chunks: Array.from({ length: plan.chunkCount }, (_, index) => ({
				index,
				plainSize: Math.min(plan.chunkSize, plan.totalBytes - index * plan.chunkSize)
			}))
		});
		ctx.log('info', 'archive planned', { archiveId: planned.id, files: plan.totals.files, bytes: plan.totalBytes, chunks: plan.chunkCount });
		return { archive: planned, root, plan, key, skipped: walked.skipped };
	} catch (error) {
		ctx.index.archives.remove(archive.lot);
		throw error;
	}
}

/** How long an archive just planned counts as being uploaded before its job row exists. */
const PLANNED_GRACE_MS = 60_000;

/**
 * Refuses a second upload of a folder while one of it runs (in this process or another): its job is running or
 * queued, or it was planned a moment ago and its job is about to start.
 *
 * @throws {IndexError} ARCHIVE_BUSY naming the archive and the job.
 */
function assertNotUploading(ctx: ArchiveContext, source: string): void {
	const { archives: candidates } = ctx.index.archives.list({ statuses: [ArchiveStatus.Planned, ArchiveStatus.Uploading], limit: 100 });
	for (const archive of candidates) {
		if (archive.source !== source) continue;
		const job = ctx.index.jobs.activeFor(archive.lot);
		const justPlanned = archive.status === ArchiveStatus.Planned && Date.now() - archive.updatedAt.getTime() < PLANNED_GRACE_MS;
		if (job === undefined && !justPlanned) continue;
		throw new IndexError(
			IndexErrorCode.ArchiveBusy,
			`${source === '.' ? 'The upload root' : `\`${source}\``} is being uploaded already as ${archive.id}${job === undefined ? '' : ` (job ${job.id})`}. Wait for it to finish, or cancel it (the card's Cancel button, or dos cancel ${archive.id}), then upload again.`,
			{ lot: archive.lot, ...(job === undefined ? {} : { jobId: job.id }) }
		);
	}
}

function toEntryInput(entry: PlanEntry, chunkSize: number): ArchiveEntryInput {
	const span = entry.type === 'file' ? chunksSpanned(chunkSize, entry.offset ?? 0, entry.size) : [];
	return {
		path: entry.path,
		type: entry.type,
		size: entry.size,
		mode: entry.mode,
		mtimeMs: entry.mtimeMs,
		offset: entry.type === 'file' ? (entry.offset ?? null) : null,
		firstChunk: span[0] ?? null,
		lastChunk: span.at(-1) ?? null,
		target: entry.target ?? null
	};
}

/**
 * The upload job proper, for an archive {@link planUpload} made: everything from the card to the final card. On
 * failure the archive is `failed` (or `cancelled` / `interrupted` when stopped), its card says what failed and offers
 * Resume, and the error is rethrown.
 *
 * @throws whatever stopped the upload (TransportError, CoreError SOURCE_CHANGED / ABORTED, IndexError …).
 */
export async function uploadArchive(ctx: ArchiveContext, planned: PlannedUpload, run: JobRun, startedBy?: string | null): Promise<UploadResult> {
	return continueUpload(ctx, planned.archive.lot, run, {
		root: planned.root,
		plan: planned.plan,
		key: planned.key,
		skipped: planned.skipped,
		startedBy: startedBy ?? planned.archive.createdBy ?? null
	});
}

/**
 * Posts whatever an archive still lacks — its card and thread if missing, every pending data chunk, the manifest —
 * then archives the thread and writes the final card. Shared by upload and resume (which reconciles first).
 *
 * @throws as {@link uploadArchive}.
 */
export async function continueUpload(ctx: ArchiveContext, lot: number, run: JobRun, options: ContinueUploadOptions): Promise<UploadResult> {
	const { index, transport, settings } = ctx;
	const { signal } = run;
	// Every chunk in flight (a worker task, a post) listens to the job's signal for a moment.
	setMaxListeners(256, signal);
	let archive = index.archives.require(lot);
	const startedBy = options.startedBy ?? null;
	const meter = new ProgressMeter();
	let updater: CardUpdater | null = null;
	let status: CardStatus = 'slicing';
	const totals = { bytes: options.plan.totalBytes, chunks: options.plan.chunkCount };
	const progress = { bytesDone: 0, chunksDone: 0 };
	const report = (phase: JobPhase, note?: string) => {
		run.progress({
			archiveId: archive.id,
			phase,
			bytesDone: progress.bytesDone,
			bytesTotal: totals.bytes,
			chunksDone: progress.chunksDone,
			chunksTotal: totals.chunks,
			...(note === undefined ? {} : { note })
		});
		if (updater !== null) {
			const counts = { bytesDone: progress.bytesDone, bytesTotal: totals.bytes, chunksDone: progress.chunksDone, chunksTotal: totals.chunks };
			updater.update(renderCard({ archive, status, progress: meter.sample(Date.now(), counts), startedBy }));
		}
	};
	try {
		archive = index.archives.setStatus(lot, ArchiveStatus.Uploading);
		archive = await ensureCardAndThread(ctx, archive, startedBy, signal);
		updater = new CardUpdater({
			transport,
			channelId: archive.channelId!,
			messageId: archive.cardMessageId!,
			log: ctx.log,
			...(settings.cardEditIntervalMs === undefined ? {} : { intervalMs: settings.cardEditIntervalMs })
		});
		const threadId = archive.threadId!;
		const rows = new Map(index.chunks.list(lot, { kind: ChunkKind.Data }).map((row) => [row.index, row]));
		const stored = new Map<number, string>();
		for (const row of rows.values()) {
			if (row.state === ChunkState.Stored && row.plainSha256 !== null) {
				stored.set(row.index, row.plainSha256);
				progress.bytesDone += row.plainSize ?? 0;
				progress.chunksDone++;
			}
		}
		let chunksPosted = 0;
		const recorded = options.fileHashes ?? new Map<string, string>();
		const slicing = sliceArchive({
			root: options.root,
			plan: options.plan,
			key: options.key,
			uid: Buffer.from(archive.uid, 'hex'),
			archiveId: archive.id,
			pool: ctx.pool,
			gzipLevel: archive.gzipLevel ?? settings.gzipLevel,
			attachmentLimit: settings.attachmentLimit,
			stored,
			knownFileHashes: recorded,
			signal
		});
		if (slicing.reads.files.size > 0 || slicing.reads.counts.seal > 0) {
			status = 'uploading';
			report('slicing', stored.size > 0 ? resumeReadingNote(slicing.reads) : undefined);
		}
		for await (const chunk of slicing) {
			const previous = rows.get(chunk.index);
			const file: OutgoingFile = { name: chunk.filename, data: chunk.bytes };
			await postRecorded(ctx, archive, threadId, {
				kind: ChunkKind.Data,
				index: chunk.index,
				file,
				facts: {
					filename: chunk.filename,
					storedSize: chunk.storedSize,
					sha256: chunk.sha256,
					plainSize: chunk.plainSize,
					plainSha256: chunk.plainSha256,
					compressed: chunk.compressed
				},
				completedFiles: chunk.completedFiles,
				content: `chunk ${chunk.index + 1}/${options.plan.chunkCount} · ${archive.id}`,
				previousNonce: previous?.postNonce ?? null,
				signal
			});
			chunksPosted++;
			progress.bytesDone += chunk.plainSize;
			progress.chunksDone++;
			archive = index.archives.require(lot);
			report('uploading', `chunk ${chunk.index + 1}/${options.plan.chunkCount} stored`);
		}
		const fileHashes = slicing.fileHashes;
		// Most hashes were recorded with the chunk completing their file; the rest (files completed in stored chunks
		// after the last posted one, empty files of an archive without chunks) now that every chunk is stored.
		index.entries.setFileHashes(
			lot,
			[...fileHashes].filter(([path, sha256]) => recorded.get(path) !== sha256)
		);
		report('manifest', 'posting the manifest');
		const manifestParts = await postManifest(ctx, archive, threadId, options, fileHashes, signal);
		archive = index.archives.setStatus(lot, ArchiveStatus.Complete);
		try {
			// Archived and locked: only moderators (the bot among them) may post into it or reopen it; resume and
			// cleanup reopen it through the transport's 50083 path.
			await transport.archiveThread(threadId, { signal });
		} catch (error) {
			// An active thread left open costs one of ~1000 slots, not data: note it and finish.
			ctx.log('warn', 'could not archive and lock the thread', { archiveId: archive.id, threadId, ...errorSummary(error) });
		}
		status = 'complete';
		progress.bytesDone = totals.bytes;
		report('done', `${archive.id} complete`);
		await updater.finish(renderCard({ archive, status: 'complete', startedBy }));
		await postLogLine(
			ctx,
			`✅ ${archive.id}${archive.label ? ` · ${archive.label}` : ''} uploaded: ${countOf(archive.fileCount, 'file')}, ${formatBytes(archive.originalBytes)} → ${formatBytes(archive.storedBytes)} in ${countOf(archive.chunkCount, 'chunk')}.`
		);
		ctx.log('info', 'archive complete', { archiveId: archive.id, chunksPosted, manifestParts });
		return {
			archiveId: archive.id,
			lot,
			uid: archive.uid,
			threadId,
			cardMessageId: archive.cardMessageId!,
			chunks: archive.chunkCount,
			chunksPosted,
			manifestParts,
			originalBytes: archive.originalBytes,
			storedBytes: archive.storedBytes,
			skipped: options.skipped ?? []
		};
	} catch (error) {
		await recordUploadFailure(ctx, lot, error, signal, { startedBy, updater });
		throw error;
	}
}

/**
 * Records why an upload or a resume stopped: the archive becomes `cancelled` (Cancel), `interrupted` (shutdown) or
 * `failed` with the error's code and message, its card says so and offers Resume, and a failure goes to the log channel.
 * Never throws (the original error is what the caller rethrows).
 */
export async function recordUploadFailure(
	ctx: ArchiveContext,
	lot: number,
	error: unknown,
	signal: AbortSignal,
	options: { readonly startedBy?: string | null; readonly updater?: CardUpdater | null } = {}
): Promise<void> {
	const { index, transport } = ctx;
	const stop = stopReasonOf(signal);
	const finalStatus = stop === 'cancel' ? ArchiveStatus.Cancelled : stop === 'shutdown' ? ArchiveStatus.Interrupted : ArchiveStatus.Failed;
	const failure =
		stop === 'cancel'
			? { code: 'CANCELLED', message: 'The upload was cancelled. Resume it to continue where it stopped.' }
			: stop === 'shutdown'
				? { code: 'SHUTDOWN', message: 'The upload stopped because the bot or the CLI shut down. Resume it to continue.' }
				: errorSummary(error);
	let archive: Archive;
	try {
		archive = index.archives.setStatus(lot, finalStatus, failure);
	} catch (recordError) {
		ctx.log('error', 'could not record the failed upload', { lot, ...errorSummary(recordError) });
		return;
	}
	const card = renderCard({ archive, status: finalStatus, startedBy: options.startedBy ?? null, failure: `${failure.code}: ${failure.message}` });
	if (options.updater) await options.updater.finish(card);
	else if (archive.cardMessageId !== null && archive.channelId !== null) {
		await transport.editCard(archive.channelId, archive.cardMessageId, card).catch((editError: unknown) => {
			ctx.log('warn', 'card edit failed', { archiveId: archive.id, ...errorSummary(editError) });
		});
	}
	if (finalStatus === ArchiveStatus.Failed) {
		await postLogLine(ctx, `❌ ${archive.id} upload failed (${failure.code}). Resume it with /archive resume or dos resume ${archive.id}.`);
	}
	ctx.log(finalStatus === ArchiveStatus.Failed ? 'error' : 'info', `upload ${finalStatus}`, {
		archiveId: archive.id,
		code: failure.code,
		message: failure.message
	});
}

/** A deterministic nonce for the card post, so a retried or repeated card post returns the card that landed. */
function cardNonce(uid: string): string {
	return `k${createHash('sha256').update(`dos-card-nonce\0${uid}`).digest('hex').slice(0, 24)}`;
}

/** Posts the card and starts its thread when the archive has none yet, recording each id as soon as it exists. */
async function ensureCardAndThread(ctx: ArchiveContext, archive: Archive, startedBy: string | null, signal: AbortSignal): Promise<Archive> {
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

interface RecordedPost {
	readonly kind: ChunkKind;
	readonly index: number;
	readonly file: OutgoingFile;
	readonly facts: {
		readonly filename: string;
		readonly storedSize: number;
		readonly sha256: string;
		readonly plainSize?: number;
		readonly plainSha256?: string;
		readonly compressed?: boolean;
	};
	/** Data chunks: the files the chunk completes, path → sha256, recorded with it as stored. */
	readonly completedFiles?: ReadonlyMap<string, string>;
	readonly content: string;
	/** The nonce of this chunk's last post, if any: the next post uses the next generation. */
	readonly previousNonce: string | null;
	readonly signal: AbortSignal;
}

/** The nonce generation after `previous` (0 for a chunk never posted). */
export function nextGeneration(uid: string, kind: ChunkKind, index: number, previous: string | null): number {
	if (previous === null) return 0;
	for (let generation = 0; generation < 10_000; generation++) {
		if (chunkNonce({ archiveUid: uid, kind, index, generation }) === previous) return generation + 1;
	}
	return 10_000;
}

/**
 * Posts one chunk or manifest part, accounted for in SQLite before and after: in flight with its nonce and sealed
 * file first, stored with message and attachment once Discord accepted it — in the same transaction as the hashes of
 * the files the chunk completes, so that no hash is recorded before its bytes are posted, nor lost once they are.
 */
async function postRecorded(ctx: ArchiveContext, archive: Archive, threadId: string, post: RecordedPost): Promise<void> {
	const nonce = chunkNonce({
		archiveUid: archive.uid,
		kind: post.kind,
		index: post.index,
		generation: nextGeneration(archive.uid, post.kind, post.index, post.previousNonce)
	});
	ctx.index.chunks.markInFlight(archive.lot, { kind: post.kind, index: post.index, nonce, ...post.facts });
	const message = await ctx.transport.postChunk({ threadId, files: [post.file], content: post.content, nonce, signal: post.signal });
	const attachment = message.attachments[0];
	if (!message.matchesSent || attachment === undefined) {
		throw new ArchiveError(
			ArchiveErrorCode.ThreadMismatch,
			`Discord answered the post of ${post.file.name} with message ${message.messageId}, which holds another file. Resume the archive: it reconciles the thread first.`,
			{ archiveId: archive.id, lot: archive.lot }
		);
	}
	ctx.index.chunks.markStored(archive.lot, {
		kind: post.kind,
		index: post.index,
		messageId: message.messageId,
		attachmentId: attachment.id,
		filename: attachment.filename,
		storedSize: attachment.size,
		sha256: post.facts.sha256,
		...(post.completedFiles === undefined || post.completedFiles.size === 0 ? {} : { completedFiles: post.completedFiles })
	});
}

/**
 * Builds, seals and posts the manifest, unless every part of it is already stored. Parts of an earlier sealing that
 * is incomplete are deleted first: the thread holds the parts of exactly one manifest.
 *
 * @returns how many manifest parts the archive has.
 */
async function postManifest(
	ctx: ArchiveContext,
	archive: Archive,
	threadId: string,
	options: ContinueUploadOptions,
	fileHashes: ReadonlyMap<string, string>,
	signal: AbortSignal
): Promise<number> {
	const lot = archive.lot;
	const existing = ctx.index.chunks.list(lot, { kind: ChunkKind.Manifest });
	if (existing.length > 0 && existing.every((row) => row.state === ChunkState.Stored)) return existing.length;
	for (const row of existing) {
		if (row.messageId !== null) await deleteThreadMessage(ctx, threadId, row.messageId, signal);
	}
	if (existing.length > 0) ctx.index.chunks.markState(lot, existing, ChunkState.Pending);
	const dataRows = ctx.index.chunks.list(lot, { kind: ChunkKind.Data });
	const manifest = buildManifest({
		plan: options.plan,
		uid: Buffer.from(archive.uid, 'hex'),
		archiveId: archive.id,
		lot,
		label: archive.label ?? '',
		source: archive.source,
		requestedBy: archive.createdBy,
		createdAt: archive.createdAt,
		tool: 'discord-object-store',
		key: options.key,
		gzipLevel: archive.gzipLevel ?? ctx.settings.gzipLevel,
		chunks: dataRows.map(manifestChunkRecord),
		fileHashes
	});
	const parts = await sealManifest(manifest, options.key, { gzipLevel: archive.gzipLevel ?? ctx.settings.gzipLevel, signal });
	const previous = new Map(existing.map((row) => [row.index, row.postNonce]));
	for (const part of parts) {
		await postRecorded(ctx, archive, threadId, {
			kind: ChunkKind.Manifest,
			index: part.index,
			file: { name: part.filename, data: part.bytes },
			facts: { filename: part.filename, storedSize: part.storedSize, sha256: part.sha256 },
			content: `manifest ${part.index + 1}/${part.count} · ${archive.id}`,
			previousNonce: previous.get(part.index) ?? null,
			signal
		});
	}
	return parts.length;
}

function manifestChunkRecord(row: ChunkRecord) {
	if (row.state !== ChunkState.Stored || row.plainSize === null || row.plainSha256 === null || row.storedSize === null || row.sha256 === null) {
		throw new ArchiveError(
			ArchiveErrorCode.ThreadMismatch,
			`Data chunk ${row.index} is not stored (it is ${row.state}): the manifest cannot be written yet. Resume the archive.`,
			{ lot: row.archiveLot }
		);
	}
	return {
		index: row.index,
		plainSize: row.plainSize,
		plainSha256: row.plainSha256,
		storedSize: row.storedSize,
		sha256: row.sha256,
		compressed: row.compressed ?? false
	};
}

/**
 * What a resume reads of the source, for the card and the CLI: the bytes it reads (whole chunks), the files it re-hashes,
 * the missing chunks it rebuilds and the stored chunks it re-checks.
 */
export function resumeReadingNote(reads: SliceReadPlan): string {
	const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
	if (reads.files.size === 0) return 'nothing to re-read: every chunk is stored and every file hash recorded';
	const parts = [`re-reading ${formatBytes(reads.bytes)} of the source (${plural(reads.files.size, 'file')} re-hashed)`];
	if (reads.counts.seal > 0) parts.push(`to rebuild ${plural(reads.counts.seal, 'missing chunk')}`);
	if (reads.counts.check > 0) parts.push(`re-checking ${plural(reads.counts.check, 'stored chunk')} against it`);
	return parts.join(', ');
}

/** One line in the log channel when one is configured; failures are logged, never thrown. */
export async function postLogLine(ctx: ArchiveContext, line: string): Promise<void> {
	if (ctx.settings.logChannelId === undefined) return;
	try {
		await ctx.transport.postLine(ctx.settings.logChannelId, line);
	} catch (error) {
		ctx.log('warn', 'could not post to the log channel', errorSummary(error));
	}
}
