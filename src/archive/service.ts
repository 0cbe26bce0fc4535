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
	JobKind,
	type SuggestOptions
} from '../db/index.js';
import { renderCard } from './card.js';
import { type CleanupRequest, type CleanupResult, cleanupArchive } from './cleanup.js';
import { migrateLegacyArchives, type MigrationResult } from './legacy-migrate.js';
import type { ArchiveContext } from './context.js';
import { type DownloadRequest, type DownloadResult, downloadArchive } from './download.js';
import { errorSummary } from './errors.js';
import { backupIndex, createIndexBackupTrigger, type IndexBackupResult, type IndexBackupTrigger } from './index-backup.js';
import { type RebuildRequest, type RebuildResult, rebuildIndex } from './rebuild.js';
import { assertResumable, type ResumeRequest, type ResumeResult, resumeArchive } from './resume.js';
import { type JobHandle, JobRunner, type JobRunnerOptions, type RunnerListener } from './runner.js';
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

/** What `/archive status` and `dos status` show. */
export interface ServiceStatus {
	readonly index: IndexStatus;
	readonly uploadRoot: RootStatus;
	readonly downloadRoot: RootStatus;
	/** Whether USER_KEY is set (encrypted uploads and restores possible). Never the key itself. */
	readonly encryption: boolean;
	readonly logChannel: boolean;
	/** Jobs of this process, with their latest progress. */
	readonly jobs: ReturnType<JobRunner['jobs']>;
}

export interface ArchiveServiceOptions extends JobRunnerOptions {
	/**
	 * With a log channel configured, the index is backed up there after every upload, resume, cleanup and rebuild that
	 * changed it, at most once per this many milliseconds (default 10 minutes); 0 turns automatic backups off.
	 */
	readonly indexBackupIntervalMs?: number;
}

/** Jobs after which the index holds something new worth a backup. */
const changingKinds = new Set<string>([JobKind.Upload, JobKind.Resume, JobKind.Cleanup, JobKind.Rebuild, JobKind.Verify]);

export class ArchiveService {
	public readonly context: ArchiveContext;
	public readonly runner: JobRunner;
	readonly #backupTrigger: IndexBackupTrigger | null;

	public constructor(context: ArchiveContext, options: ArchiveServiceOptions = {}) {
		this.context = context;
		this.runner = new JobRunner(context, options);
		const interval = options.indexBackupIntervalMs ?? 600_000;
		if (context.settings.logChannelId !== undefined && context.settings.passphrase !== undefined && interval > 0) {
			const trigger = createIndexBackupTrigger({ backup: () => this.backupIndex().result, minIntervalMs: interval, log: context.log });
			this.#backupTrigger = trigger;
			this.runner.subscribe((event) => {
				if (event.type === 'finished' && event.error === undefined && changingKinds.has(event.job.kind)) trigger.notify();
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
	}

	/**
	 * Plans an upload (walk, lot and id, plan recorded) and starts or queues its job.
	 *
	 * @throws as `planUpload` (NO_KEY, UNSAFE_PATH, NOT_FOUND, INVALID_REQUEST …) and SERVICE_CLOSED; the job's own
	 * failures arrive through the handle's `result`.
	 */
	public async upload(request: UploadRequest): Promise<JobHandle<UploadResult>> {
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
	 * Starts a download of one archive (or selected paths of it) into the download root and its restore.
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND, ARCHIVE_BUSY; {@link ArchiveError} SERVICE_CLOSED. The job's failures arrive
	 * through `result` (see `downloadArchive`).
	 */
	public download(request: DownloadRequest): JobHandle<DownloadResult> {
		const archive = this.context.index.archives.require(request.archive);
		return this.runner.run({ kind: JobKind.Download, lot: archive.lot, archiveId: archive.id }, (run) =>
			downloadArchive(this.context, { ...request, archive: String(archive.lot) }, run)
		);
	}

	/**
	 * Starts a verification; the card shows "verifying" while it runs and the outcome afterwards.
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND, ARCHIVE_BUSY; {@link ArchiveError} SERVICE_CLOSED.
	 */
	public verify(request: VerifyRequest & { readonly requestedBy?: string | null }): JobHandle<VerifyResult> {
		const archive = this.context.index.archives.require(request.archive);
		return this.runner.run(
			{ kind: JobKind.Verify, lot: archive.lot, archiveId: archive.id, requestedBy: request.requestedBy ?? null },
			async (run) => {
				await this.#showCard(archive.lot, 'verifying', request.requestedBy ?? null);
				try {
					return await verifyArchive(this.context, { ...request, archive: String(archive.lot) }, run);
				} finally {
					await this.#showCard(archive.lot, undefined, request.requestedBy ?? null);
				}
			}
		);
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

	/** One archive by id, lot or uid. @throws {IndexError} ARCHIVE_NOT_FOUND. */
	public archive(reference: string): Archive {
		return this.context.index.archives.require(reference);
	}

	/** A page of archives, newest first. */
	public list(options: ArchiveListOptions = {}): ArchivePage {
		return this.context.index.archives.list(options);
	}

	/** Files, folders and links whose name matches, across archives. @throws {IndexError} QUERY_TOO_SHORT. */
	public find(query: string, options: EntrySearchOptions = {}): EntrySearchPage {
		return this.context.index.entries.search(query, options);
	}

	/** Autocomplete choices for an archive option. */
	public suggest(query: string, options: SuggestOptions = {}): ArchiveSuggestion[] {
		return this.context.index.archives.suggest(query, options);
	}

	/** Index counts, roots and free space, encryption on or off, and this process's jobs. */
	public async status(): Promise<ServiceStatus> {
		const { settings } = this.context;
		return {
			index: this.context.index.status(),
			uploadRoot: await rootStatus(settings.uploadRoot),
			downloadRoot: await rootStatus(settings.downloadRoot),
			encryption: settings.passphrase !== undefined && settings.passphrase.length > 0,
			logChannel: settings.logChannelId !== undefined,
			jobs: this.runner.jobs()
		};
	}

	/** Stops the runner (running jobs end interrupted, resumable). The owner closes the index, pool and transport after. */
	public async shutdown(): Promise<void> {
		await this.#backupTrigger?.close();
		await this.runner.shutdown();
	}

	/** Re-renders an archive's card (with a transient status such as `verifying`); edit failures are logged. */
	async #showCard(lot: number, status: Parameters<typeof renderCard>[0]['status'], startedBy: string | null): Promise<void> {
		const archive = this.context.index.archives.get(lot);
		// Cards of the original tool keep their own layout (its JSON block and embed): only ours are re-rendered.
		if (!archive || archive.format !== ArchiveFormat.Dos1 || archive.cardMessageId === null || archive.channelId === null) return;
		await this.context.transport
			.editCard(archive.channelId, archive.cardMessageId, renderCard({ archive, ...(status === undefined ? {} : { status }), startedBy }))
			.catch((error: unknown) => this.context.log('warn', 'card edit failed', { archiveId: archive.id, ...errorSummary(error) }));
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
