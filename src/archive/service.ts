import { statfs } from 'node:fs/promises';
import {
	type Archive,
	ArchiveFormat,
	type ArchiveListOptions,
	type ArchivePage,
	ArchiveStatus,
	type ArchiveSuggestion,
	type EntrySearchOptions,
	type EntrySearchPage,
	type IndexStatus,
	type Job,
	JobKind,
	JobStatus,
	type RepositoryTotals,
	type SuggestOptions
} from '../db/index.js';
import { countOf, formatBytes, ProgressMeter, renderCard } from './card.js';
import { CardUpdater } from './card-updater.js';
import { type CleanupRequest, type CleanupResult, cleanupArchive } from './cleanup.js';
import { assertCheckable, checkRepository, type RepositoryCheckResult } from './check-repository.js';
import { planRepositoryCleanup, type RepositoryCleanupSummary } from './cleanup-repository.js';
import type { ArchiveContext, JobRun } from './context.js';
import { assertDownloadable, type DownloadRequest, type DownloadResult, downloadArchive } from './download.js';
import { threadRefOf } from './thread-reader.js';
import { ArchiveError, ArchiveErrorCode, errorSummary, stopReasonOf } from './errors.js';
import { migrateLegacyArchives, type MigrationResult } from './legacy-migrate.js';
import { backupIndex, createIndexBackupTrigger, type IndexBackupResult, type IndexBackupTrigger } from './index-backup.js';
import { type RebuildRequest, type RebuildResult, rebuildIndex } from './rebuild.js';
import { assertUploadKey, channelKeysStatus, type RepositoryKeysStatus } from './repository-keys.js';
import { assertResumable, type ResumeRequest, type ResumeResult, resumeArchive } from './resume.js';
import { type JobHandle, JobRunner, type JobRunnerOptions, type RunnerListener } from './runner.js';
import { type FolderSuggestionLimits, suggestUploadFolders } from './upload-folders.js';
import { CLI_STARTER, planUpload, type UploadRequest, type UploadResult, uploadArchive } from './upload.js';
import { type VerifyRequest, type VerifyResult, verifyArchive } from './verify.js';

/**
 * The archive service: the one facade the bot and the CLI use. It owns a {@link JobRunner} on a context and exposes
 * every job (each reporting progress through {@link ArchiveService.subscribe}) and the index queries the commands need.
 */

/** A root folder and the free space under it. */
export interface RootStatus {
	readonly path: string;
	/** Bytes free for this user, or null when the folder cannot be read. */
	readonly freeBytes: number | null;
}

/** What {@link ArchiveService.cancelJob} did. */
export interface CancelOutcome {
	readonly jobId: number;
	readonly kind: JobKind;
	readonly archiveId: string | null;
	/** True when this process held the job and stopped it; false when the request waits for its holder's heartbeat. */
	readonly here: boolean;
}

/** What `/archive status` and `dos status` show. */
export interface ServiceStatus {
	readonly index: IndexStatus;
	readonly uploadRoot: RootStatus;
	readonly downloadRoot: RootStatus;
	/** Whether USER_KEY is set (encrypted uploads and restores possible). Never the key itself. */
	readonly encryption: boolean;
	/** The archive channel's repository keys: whether USER_KEY opens them, and their slots (count, created, KDF). */
	readonly keys: RepositoryKeysStatus;
	readonly logChannel: boolean;
	/** Jobs of this process, with their latest progress. */
	readonly jobs: ReturnType<JobRunner['jobs']>;
}

export interface ArchiveServiceOptions extends JobRunnerOptions {
	/**
	 * With a log channel configured, the index is backed up there after every upload, resume, cleanup and rebuild that
	 * changed it, at most once per this many milliseconds (default 10 minutes) counted from the newest backup any process
	 * took; 0 turns automatic backups off.
	 */
	readonly indexBackupIntervalMs?: number;
	/**
	 * A process that runs one command and exits (the CLI): a change whose backup is not yet due when it shuts down is
	 * left to the next process that starts a service on the index (the bot, the next command), which finds it at start.
	 * Off (the bot): the pending change is backed up at shutdown.
	 */
	readonly shortLived?: boolean;
}

/** Jobs after which the index holds something new worth a backup. */
const changingKinds: readonly JobKind[] = [JobKind.Upload, JobKind.Resume, JobKind.Cleanup, JobKind.Rebuild, JobKind.Verify];

export class ArchiveService {
	public readonly context: ArchiveContext;
	public readonly runner: JobRunner;
	readonly #backupTrigger: IndexBackupTrigger | null;
	readonly #shortLived: boolean;

	public constructor(context: ArchiveContext, options: ArchiveServiceOptions = {}) {
		this.context = context;
		this.runner = new JobRunner(context, options);
		this.#shortLived = options.shortLived === true;
		const interval = options.indexBackupIntervalMs ?? 600_000;
		if (context.settings.logChannelId !== undefined && context.settings.passphrase !== undefined && interval > 0) {
			const trigger = createIndexBackupTrigger({
				backup: () => this.backupIndex().result,
				minIntervalMs: interval,
				log: context.log,
				lastBackupAt: () => context.index.backups.latest()?.createdAt.getTime() ?? null
			});
			this.#backupTrigger = trigger;
			this.runner.subscribe((event) => {
				if (event.type === 'finished' && event.error === undefined && changingKinds.includes(event.job.kind)) trigger.notify();
			});
		} else this.#backupTrigger = null;
	}

	/** Receives job events (queued, started, progress, finished) until the returned function is called. */
	public subscribe(listener: RunnerListener): () => void {
		return this.runner.subscribe(listener);
	}

	/** The start-up sweep (see {@link JobRunner.sweep}): call once when the bot or a CLI command starts. */
	public async start(): Promise<void> {
		const swept = await this.runner.sweep();
		if (swept.length > 0) this.context.log('info', 'interrupted jobs of a stopped process', { jobs: swept.map((job) => job.id) });
		// A change another process made and left unbacked (a `dos` command that ended before its backup was due).
		if (this.#backupTrigger !== null) {
			const latest = this.context.index.backups.latest();
			if (this.context.index.jobs.doneSince(latest?.createdAt ?? null, changingKinds)) this.#backupTrigger.notify();
		}
	}

	/**
	 * Plans an upload (walk, lot and id, plan recorded) and starts or queues its job.
	 *
	 * @throws as `planUpload` (NO_KEY, UNSAFE_PATH, NOT_FOUND, INVALID_REQUEST …) and SERVICE_CLOSED; WRONG_KEY when
	 * the channel's repository keys no longer open with USER_KEY (the passphrase was changed on the host); the job's own
	 * failures arrive through the handle's `result`.
	 */
	public async upload(request: UploadRequest): Promise<JobHandle<UploadResult>> {
		await assertUploadKey(this.context);
		const planned = await planUpload(this.context, request);
		try {
			return this.runner.run(
				{ kind: JobKind.Upload, lot: planned.archive.lot, archiveId: planned.archive.id, requestedBy: request.requestedBy ?? null },
				(run) => uploadArchive(this.context, planned, run, request.requestedBy ?? CLI_STARTER)
			);
		} catch (error) {
			this.context.index.archives.setStatus(planned.archive.lot, ArchiveStatus.Failed, { code: 'NOT_STARTED', message: String(error) });
			throw error;
		}
	}

	/**
	 * Starts or queues the resume of an archive. Refused at once when the archive is not resumable or already busy
	 * (two quick Resume clicks start one job).
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND, ARCHIVE_BUSY. @throws {ArchiveError} NOT_RESUMABLE, SERVICE_CLOSED.
	 */
	public resume(request: ResumeRequest): JobHandle<ResumeResult> {
		const archive = this.context.index.archives.require(request.archive);
		assertResumable(archive);
		return this.runner.run({ kind: JobKind.Resume, lot: archive.lot, archiveId: archive.id, requestedBy: request.requestedBy ?? null }, (run) =>
			resumeArchive(this.context, { ...request, archive: String(archive.lot) }, run)
		);
	}

	/**
	 * Starts a download of one archive (or selected paths of it) into the download root and its restore. What the index
	 * already knows cannot work is refused here, before any job starts (see `assertDownloadable`).
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND, ARCHIVE_BUSY; {@link ArchiveError} NOT_DOWNLOADABLE, SERVICE_CLOSED;
	 * CoreError NOT_FOUND (cleaned up, or a path the archive does not hold). The job's failures arrive through
	 * `result` (see `downloadArchive`).
	 */
	public download(request: DownloadRequest & { readonly requestedBy?: string | null }): JobHandle<DownloadResult> {
		const archive = this.context.index.archives.require(request.archive);
		assertDownloadable(this.context, archive, request.paths);
		return this.#cardJob(archive, JobKind.Download, request.requestedBy ?? null, (shown) =>
			downloadArchive(this.context, { ...request, archive: String(archive.lot) }, shown)
		);
	}

	/**
	 * Starts a verification; the card shows "verifying" with its progress and a Cancel button while it runs, and the
	 * outcome afterwards.
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND, ARCHIVE_BUSY; {@link ArchiveError} SERVICE_CLOSED; CoreError NOT_FOUND for
	 * an archive that was cleaned up or never posted.
	 */
	public verify(request: VerifyRequest & { readonly requestedBy?: string | null }): JobHandle<VerifyResult> {
		const archive = this.context.index.archives.require(request.archive);
		// A cleaned-up archive (or one never posted) has nothing to verify: refused before its card is touched.
		threadRefOf(archive);
		return this.#cardJob(archive, JobKind.Verify, request.requestedBy ?? null, (shown) =>
			verifyArchive(this.context, { ...request, archive: String(archive.lot) }, shown)
		);
	}

	/**
	 * What the cleanup of a format 2 archive would delete and keep (null for other formats, and for an archive
	 * already deleted): for the confirmation asked first. Changes nothing.
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND.
	 */
	public cleanupPreview(reference: string): RepositoryCleanupSummary | null {
		const archive = this.context.index.archives.require(reference);
		if (archive.format !== ArchiveFormat.Dos2 || archive.status === ArchiveStatus.Deleted) return null;
		return planRepositoryCleanup(this.context, archive);
	}

	/**
	 * Starts the cleanup of an archive (the caller asked for confirmation first).
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND, ARCHIVE_BUSY; {@link ArchiveError} SERVICE_CLOSED.
	 */
	public cleanup(request: CleanupRequest & { readonly requestedBy?: string | null }): JobHandle<CleanupResult> {
		const archive = this.context.index.archives.require(request.archive);
		return this.runner.run({ kind: JobKind.Cleanup, lot: archive.lot, archiveId: archive.id, requestedBy: request.requestedBy ?? null }, (run) =>
			cleanupArchive(this.context, { archive: String(archive.lot) }, run)
		);
	}

	/**
	 * Starts the repository-wide check of the archive channel's format 2 repository: every stored pack read once, every
	 * blob authenticated, every reference of a live archive held (one at a time, as a verify job of no archive).
	 *
	 * @throws CoreError NOT_FOUND when the channel holds no format 2 archive; ARCHIVE_BUSY, SERVICE_CLOSED.
	 */
	public checkRepository(request: { readonly requestedBy?: string | null } = {}): JobHandle<RepositoryCheckResult> {
		assertCheckable(this.context);
		return this.runner.run({ kind: JobKind.Verify, lot: null, requestedBy: request.requestedBy ?? null }, (run) =>
			checkRepository(this.context, run)
		);
	}

	/** Starts a rebuild of the index from the archive channel (one at a time). @throws ARCHIVE_BUSY, SERVICE_CLOSED. */
	public rebuild(request: RebuildRequest = {}): JobHandle<RebuildResult> {
		return this.runner.run({ kind: JobKind.Rebuild, lot: null }, (run) => rebuildIndex(this.context, request, run));
	}

	/**
	 * Posts a card for every archive imported from the original tool's history log without one. Runs as a rebuild job:
	 * never beside a rebuild, which reads the same cards. @throws ARCHIVE_BUSY, SERVICE_CLOSED.
	 */
	public migrateLegacy(request: { readonly dryRun?: boolean } = {}): JobHandle<MigrationResult> {
		return this.runner.run({ kind: JobKind.Rebuild, lot: null }, (run) => migrateLegacyArchives(this.context, request, run));
	}

	/** Starts an index backup to the log channel (one at a time). @throws ARCHIVE_BUSY, SERVICE_CLOSED. */
	public backupIndex(): JobHandle<IndexBackupResult> {
		return this.runner.run({ kind: JobKind.IndexBackup, lot: null }, (run) => backupIndex(this.context, {}, run));
	}

	/** Cancels this process's job on an archive. @returns false when there is none. */
	public cancel(reference: string): boolean {
		const archive = this.context.index.archives.require(reference);
		return this.runner.cancelArchive(archive.lot);
	}

	/**
	 * Cancels a running or queued job, whichever process holds it: one of this process at once (through its signal),
	 * one of another process (the bot, a CLI command) by recording the request in the job table — its holder stops it at
	 * its next heartbeat. The job is named by its id, or by its archive (id, lot or uid).
	 *
	 * @throws {ArchiveError} NO_SUCH_JOB when nothing is running or queued there. {@link IndexError} ARCHIVE_NOT_FOUND.
	 */
	public cancelJob(target: { readonly jobId: number } | { readonly archive: string }): CancelOutcome {
		const { index } = this.context;
		let job;
		if ('jobId' in target) {
			job = index.jobs.get(target.jobId);
			if (job !== undefined && job.status !== JobStatus.Running && job.status !== JobStatus.Queued) job = undefined;
			if (job === undefined) {
				throw new ArchiveError(
					ArchiveErrorCode.NoSuchJob,
					`No job ${target.jobId} is running or queued: it ended already, or never existed.`,
					{
						jobId: target.jobId
					}
				);
			}
		} else {
			const archive = index.archives.require(target.archive);
			job = index.jobs.activeFor(archive.lot);
			if (job === undefined) {
				throw new ArchiveError(ArchiveErrorCode.NoSuchJob, `Nothing is running on ${archive.id}, so there is nothing to cancel.`, {
					archiveId: archive.id,
					lot: archive.lot
				});
			}
		}
		const archiveId = job.archiveLot === null ? null : (index.archives.get(job.archiveLot)?.id ?? null);
		if (this.runner.holds(job.id) && this.runner.cancel(job.id)) return { jobId: job.id, kind: job.kind, archiveId, here: true };
		index.jobs.requestCancel(job.id);
		return { jobId: job.id, kind: job.kind, archiveId, here: false };
	}

	/** One archive by id, lot or uid. @throws {IndexError} ARCHIVE_NOT_FOUND. */
	public archive(reference: string): Archive {
		return this.context.index.archives.require(reference);
	}

	/** A page of archives, newest first. */
	public list(options: ArchiveListOptions = {}): ArchivePage {
		return this.context.index.archives.list(options);
	}

	/** The format 2 repository's totals: its live archives, their stored packs and the distinct blobs they hold. */
	public repositoryTotals(): RepositoryTotals {
		return this.context.index.packs.totals();
	}

	/** Files, folders and links whose name matches, across archives. @throws {IndexError} QUERY_TOO_SHORT. */
	public find(query: string, options: EntrySearchOptions = {}): EntrySearchPage {
		return this.context.index.entries.search(query, options);
	}

	/** Autocomplete choices for an archive option. */
	public suggest(query: string, options: SuggestOptions = {}): ArchiveSuggestion[] {
		return this.context.index.archives.suggest(query, options);
	}

	/**
	 * Folders under the upload root for what someone typed in an upload's source (see {@link suggestUploadFolders}):
	 * the same containment as upload admission, so a folder the service would refuse is never offered.
	 */
	public suggestUploadFolders(typed: string, limits: FolderSuggestionLimits = {}): Promise<string[]> {
		return suggestUploadFolders(this.context.settings.uploadRoot, typed, limits);
	}

	/** Index counts, roots and free space, encryption on or off, and this process's jobs. */
	public async status(): Promise<ServiceStatus> {
		const { settings } = this.context;
		return {
			index: this.context.index.status(),
			uploadRoot: await rootStatus(settings.uploadRoot),
			downloadRoot: await rootStatus(settings.downloadRoot),
			encryption: settings.passphrase !== undefined && settings.passphrase.length > 0,
			keys: await channelKeysStatus(this.context),
			logChannel: settings.logChannelId !== undefined,
			jobs: this.runner.jobs()
		};
	}

	/**
	 * The repository keys as `/archive status` shows them; when USER_KEY opens none of their slots, says so in the log
	 * in plain words (the bot calls this when it starts). Never throws.
	 */
	public async checkKeys(): Promise<RepositoryKeysStatus> {
		const keys = await channelKeysStatus(this.context).catch((error: unknown): RepositoryKeysStatus => ({
			state: 'unavailable',
			reason: error instanceof Error ? error.message : String(error)
		}));
		if (keys.state === 'locked') {
			this.context.log(
				'error',
				'USER_KEY opens none of the repository key slots of the archive channel: the passphrase was changed with `dos key passwd`. New uploads are refused until USER_KEY is set to the current passphrase and the bot restarted.',
				{ slots: keys.slots.length }
			);
		}
		return keys;
	}

	/** Stops the runner (running jobs end interrupted, resumable). The owner closes the index, pool and transport after. */
	public async shutdown(): Promise<void> {
		await this.#backupTrigger?.close({ onlyIfDue: this.#shortLived });
		await this.runner.shutdown();
	}
	/** Starts a download or verify job of an archive, shown on its card (see {@link #onCard}). */
	#cardJob<R>(
		archive: Archive,
		kind: typeof JobKind.Download | typeof JobKind.Verify,
		requestedBy: string | null,
		work: (run: JobRun) => Promise<R>
	): JobHandle<R> {
		const status = kind === JobKind.Download ? 'downloading' : 'verifying';
		return this.runner.run({ kind, lot: archive.lot, archiveId: archive.id, requestedBy }, (run) =>
			this.#onCard(archive.lot, status, requestedBy, run, kind, work)
		);
	}

	/**
	 * Runs a download or verify job with its card showing it: the transient status with the job's progress (at most one
	 * edit per interval) and a Cancel button while it runs, then the archive's own status with a `Last activity` line
	 * saying how the job ended (counts and codes only: no file names or paths). Cards of the original tool keep their
	 * own layout and are not touched.
	 */
	async #onCard<R>(
		lot: number,
		status: 'downloading' | 'verifying',
		startedBy: string | null,
		run: JobRun,
		kind: JobKind,
		work: (run: JobRun) => Promise<R>
	): Promise<R> {
		const { index, settings } = this.context;
		const archive = index.archives.get(lot);
		if (!archive || archive.format !== ArchiveFormat.Dos1 || archive.cardMessageId === null || archive.channelId === null) return work(run);
		const updater = new CardUpdater({
			transport: this.context.transport,
			channelId: archive.channelId,
			messageId: archive.cardMessageId,
			log: this.context.log,
			...(settings.cardEditIntervalMs === undefined ? {} : { intervalMs: settings.cardEditIntervalMs })
		});
		const meter = new ProgressMeter();
		const lastActivity = lastActivityOf(index.jobs.forArchive(lot, 20));
		updater.update(renderCard({ archive, status, startedBy, lastActivity }));
		const shown: JobRun = {
			...run,
			progress: (event) => {
				run.progress(event);
				const current = index.archives.get(lot) ?? archive;
				const counts = {
					bytesDone: event.bytesDone,
					bytesTotal: event.bytesTotal,
					chunksDone: event.chunksDone,
					chunksTotal: event.chunksTotal
				};
				updater.update(renderCard({ archive: current, status, progress: meter.sample(Date.now(), counts), startedBy, lastActivity }));
			}
		};
		let outcome: ActivityOutcome;
		try {
			const result = await work(shown);
			outcome = { kind, status: JobStatus.Done, finishedAt: new Date(), errorCode: null, result: result as Record<string, unknown> };
			return result;
		} catch (error) {
			const stop = stopReasonOf(run.signal);
			outcome = {
				kind,
				status: stop === 'cancel' ? JobStatus.Cancelled : stop === 'shutdown' ? JobStatus.Interrupted : JobStatus.Failed,
				finishedAt: new Date(),
				errorCode: stop === null ? errorSummary(error).code : null,
				result: null
			};
			throw error;
		} finally {
			const current = index.archives.get(lot) ?? archive;
			await updater.finish(renderCard({ archive: current, startedBy: null, lastActivity: describeActivity(outcome!) }));
		}
	}
}

/** What the `Last activity` line of a card is made of: a download or verify job as it ended. */
export type ActivityOutcome = Pick<Job, 'kind' | 'status' | 'finishedAt' | 'errorCode' | 'result'>;

/** The `Last activity` line from an archive's latest jobs (newest first): its last finished download or verify. */
export function lastActivityOf(jobs: readonly Job[]): string | null {
	const last = jobs.find(
		(job) =>
			(job.kind === JobKind.Download || job.kind === JobKind.Verify) &&
			job.finishedAt !== null &&
			job.status !== JobStatus.Running &&
			job.status !== JobStatus.Queued
	);
	return last === undefined ? null : describeActivity(last);
}

/**
 * One line on how a download or verify ended, for the card: what, how, when, counts or the error code. Never a file
 * name or a host path (the card is seen by everyone in the channel).
 */
export function describeActivity(job: ActivityOutcome): string {
	const what = job.kind === JobKind.Download ? '⬇️ Download' : '🔍 Verify';
	const when = job.finishedAt === null ? '' : ` <t:${Math.floor(job.finishedAt.getTime() / 1000)}:R>`;
	const number = (key: string) => (typeof job.result?.[key] === 'number' ? job.result[key] : null);
	switch (job.status) {
		case JobStatus.Done: {
			if (job.kind !== JobKind.Download) return `${what} finished${when}: see the last verification.`;
			const files = number('files') ?? 0;
			const lost = Array.isArray(job.result?.lost) ? job.result.lost.length : 0;
			const counts = `${countOf(files, 'file')}, ${formatBytes(number('bytes') ?? 0)}, ${countOf(number('chunksFetched') ?? 0, 'chunk')} fetched (the manifest's included)`;
			return lost > 0 ? `⚠️ Download partly restored${when}: ${counts}, ${countOf(lost, 'file')} lost.` : `${what} restored${when}: ${counts}.`;
		}
		case JobStatus.Cancelled:
			return `${what} cancelled${when}.`;
		case JobStatus.Interrupted:
			return `${what} interrupted${when} (the bot or the CLI stopped).`;
		// A job still queued or running has no outcome yet; it reads as failed, as it always has.
		case JobStatus.Failed:
		case JobStatus.Queued:
		case JobStatus.Running:
		default:
			return `${what} failed${when} (code ${job.errorCode ?? 'UNEXPECTED'}).`;
	}
}
/** A root folder and its free space (null when it cannot be read). */
export async function rootStatus(path: string): Promise<RootStatus> {
	try {
		const stats = await statfs(path);
		return { path, freeBytes: stats.bavail * stats.bsize };
	} catch {
		return { path, freeBytes: null };
	}
}
