import { statfs } from 'node:fs/promises';
import {
	type Archive,
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
import type { ArchiveContext } from './context.js';
import { assertResumable, type ResumeRequest, type ResumeResult, resumeArchive } from './resume.js';
import { type JobHandle, JobRunner, type JobRunnerOptions, type RunnerListener } from './runner.js';
import { planUpload, type UploadRequest, type UploadResult, uploadArchive } from './upload.js';

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

export class ArchiveService {
	public readonly context: ArchiveContext;
	public readonly runner: JobRunner;

	public constructor(context: ArchiveContext, options: JobRunnerOptions = {}) {
		this.context = context;
		this.runner = new JobRunner(context, options);
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
				(run) => uploadArchive(this.context, planned, run, request.requestedBy ?? null)
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
		await this.runner.shutdown();
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
