import { setMaxListeners } from 'node:events';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import {
	type ArchiveKey,
	type ArchivePlan,
	assertPassphrase,
	CoreError,
	CoreErrorCode,
	deriveArchiveKey,
	isInside,
	newArchiveUid,
	planArchive,
	type SkippedSource,
	sliceArchive,
	type SliceReadPlan,
	walk
} from '../core/index.js';
import { type Archive, archiveEntryInput, ArchiveStatus, ChunkKind, ChunkState, IndexError, IndexErrorCode } from '../db/index.js';
import { type OutgoingFile } from '../discord/index.js';
import { MAX_LABEL_LENGTH } from './card-record.js';
import { type CardStatus, countOf, formatBytes, ProgressMeter, renderCard } from './card.js';
import type { CardUpdater } from './card-updater.js';
import type { ArchiveContext, JobPhase, JobRun } from './context.js';
import { ArchiveError, ArchiveErrorCode, errorSummary, stopReasonOf } from './errors.js';
import { assertIndexCurrent } from './rebuild.js';
import { startUploadCard } from './upload-card.js';
import { postManifest, postRecorded } from './upload-posting.js';
import { allocateRepositoryArchive, repositoryLogLine, uploadRepositoryArchive } from './upload-repository.js';

/**
 * The upload job (docs/design.md §4, Upload) and the posting pipeline it shares with resume: resolve the folder inside the
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

/** An archive allocated and planned, not yet posted: format 1 (chunks planned) or format 2 (walked by its slice). */
export type PlannedUpload = PlannedChunkUpload | PlannedRepositoryUpload;

/** A format 2 upload allocated: the slice walks the folder when the job runs. */
export interface PlannedRepositoryUpload {
	readonly format: 2;
	readonly archive: Archive;
	/** The folder, absolute and real. */
	readonly root: string;
}

/** A format 1 upload allocated and planned. */
export interface PlannedChunkUpload {
	readonly format: 1;
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
	/** Format 2 only: the format, packs posted, and plaintext bytes stored anew and found stored already. */
	readonly format?: 2;
	readonly packsPosted?: number;
	readonly newBytes?: number;
	readonly reusedBytes?: number;
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
	if (settings.format === 2) {
		await assertIndexCurrent(ctx, signal);
		assertNotUploading(ctx, source);
		const allocated = allocateRepositoryArchive(ctx, source, label, request.requestedBy ?? null);
		ctx.log('info', 'archive planned', { archiveId: allocated.id, format: 2 });
		return { format: 2, archive: allocated, root };
	}
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
			entries: plan.entries.map((entry) => archiveEntryInput(entry, plan.chunkSize)),
			chunks: Array.from({ length: plan.chunkCount }, (_, index) => ({
				index,
				plainSize: Math.min(plan.chunkSize, plan.totalBytes - index * plan.chunkSize)
			}))
		});
		ctx.log('info', 'archive planned', { archiveId: planned.id, files: plan.totals.files, bytes: plan.totalBytes, chunks: plan.chunkCount });
		return { format: 1, archive: planned, root, plan, key, skipped: walked.skipped };
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

/**
 * The upload job proper, for an archive {@link planUpload} made: everything from the card to the final card. On
 * failure the archive is `failed` (or `cancelled` / `interrupted` when stopped), its card says what failed and offers
 * Resume, and the error is rethrown.
 *
 * @throws whatever stopped the upload (TransportError, CoreError SOURCE_CHANGED / ABORTED, IndexError …).
 */
export async function uploadArchive(ctx: ArchiveContext, planned: PlannedUpload, run: JobRun, startedBy?: string | null): Promise<UploadResult> {
	if (planned.format === 2) {
		const starter = startedBy ?? planned.archive.createdBy ?? null;
		const result = await uploadRepositoryArchive(ctx, planned.archive.lot, planned.root, run, starter, (error, updater) =>
			recordUploadFailure(ctx, planned.archive.lot, error, run.signal, { startedBy: starter, updater })
		);
		await postLogLine(ctx, repositoryLogLine(ctx.index.archives.require(result.lot), result.packsPosted ?? 0));
		return result;
	}
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
		const started = await startUploadCard(ctx, lot, startedBy, signal);
		({ archive, updater } = started);
		const { threadId } = started;
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
