import { abortedError } from '../core/index.js';
import {
	ArchiveFormat,
	ArchiveStatus,
	IndexError,
	IndexErrorCode,
	isIndexError,
	type Job,
	type JobKind,
	JobKind as JobKinds,
	JobStatus
} from '../db/index.js';
import { renderCard } from './card.js';
import type { ArchiveContext, JobProgressEvent, JobRun } from './context.js';
import { ArchiveError, ArchiveErrorCode, errorSummary, JobStop, stopReasonOf } from './errors.js';

/**
 * The job runner: wraps every job function `(ctx, request, run) => Promise<Result>` with the SQLite job row and the
 * per-archive lock (leased, heartbeated), progress events, cancellation through an AbortController, upload
 * concurrency, the start-up sweep and a graceful shutdown. The bot and each CLI command own one runner per process.
 */

/** What a job is, for the lock and the job row. */
export interface JobSpec {
	readonly kind: JobKind;
	/** The archive the job works on, or null (rebuild, index backup). */
	readonly lot: number | null;
	/** The archive id, for events. */
	readonly archiveId?: string;
	readonly requestedBy?: string | null;
}

/** A job started or queued by the runner. */
export interface JobHandle<R> {
	/** The job row's id. */
	readonly jobId: number;
	readonly kind: JobKind;
	readonly lot: number | null;
	/** Settles when the job ends: its result, or the error that stopped it. */
	readonly result: Promise<R>;
	/** Stops the job (a queued one never starts); it ends `cancelled` and stays resumable. */
	cancel(): void;
}

/** What the runner reports to its subscribers. */
export type RunnerEvent =
	| { readonly type: 'queued'; readonly job: Job }
	| { readonly type: 'started'; readonly job: Job }
	| { readonly type: 'progress'; readonly event: JobProgressEvent }
	| { readonly type: 'finished'; readonly job: Job; readonly error?: { readonly code: string; readonly message: string } };

export type RunnerListener = (event: RunnerEvent) => void;

export interface JobRunnerOptions {
	/** How long a lock lives without a heartbeat; default 60 s (a crashed process frees its archives after that). */
	readonly leaseMs?: number;
	/** How often a running job renews its lease; default a third of the lease. */
	readonly heartbeatMs?: number;
	/** How long {@link JobRunner.shutdown} waits for running jobs to stop; default 15 s. */
	readonly shutdownGraceMs?: number;
	/**
	 * How often a running job's row is read for a cancel asked by another process (`dos cancel`, the bot's Cancel
	 * button on a CLI job); default 2 s, and never less often than the heartbeat.
	 */
	readonly cancelPollMs?: number;
}

/** Kinds that take an upload slot (each posts into its own thread; their number is `uploadConcurrency`). */
const uploadKinds = new Set<JobKind>([JobKinds.Upload, JobKinds.Resume]);

interface Active {
	readonly jobId: number;
	readonly spec: JobSpec;
	readonly controller: AbortController;
	started: boolean;
	settled: Promise<unknown>;
	latest: Omit<JobProgressEvent, 'jobId' | 'at'> | null;
}

interface Waiting {
	readonly active: Active;
	readonly start: () => void;
	readonly reject: (error: unknown) => void;
}

export class JobRunner {
	readonly #ctx: ArchiveContext;
	readonly #leaseMs: number;
	readonly #heartbeatMs: number;
	readonly #graceMs: number;
	readonly #cancelPollMs: number;
	readonly #listeners = new Set<RunnerListener>();
	readonly #active = new Map<number, Active>();
	readonly #waiting: Waiting[] = [];
	#uploadsRunning = 0;
	#closed = false;

	public constructor(ctx: ArchiveContext, options: JobRunnerOptions = {}) {
		this.#ctx = ctx;
		this.#leaseMs = options.leaseMs ?? 60_000;
		this.#heartbeatMs = options.heartbeatMs ?? Math.max(1_000, Math.floor(this.#leaseMs / 3));
		this.#graceMs = options.shutdownGraceMs ?? 15_000;
		this.#cancelPollMs = Math.min(this.#heartbeatMs, options.cancelPollMs ?? 2_000);
	}

	/** Receives every runner event until the returned function is called. Listeners must not throw. */
	public subscribe(listener: RunnerListener): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	/** Jobs of this process that are running or queued, with their latest progress. */
	public jobs(): { jobId: number; kind: JobKind; lot: number | null; started: boolean; progress: Active['latest'] }[] {
		return [...this.#active.values()].map((active) => ({
			jobId: active.jobId,
			kind: active.spec.kind,
			lot: active.spec.lot,
			started: active.started,
			progress: active.latest
		}));
	}

	/**
	 * Starts a job, or queues it when it is an upload or resume and `uploadConcurrency` of them are running. Only one job
	 * per archive at a time: a second request for an archive this process is already working on (running or queued) is
	 * refused at once, and the SQLite lock refuses one that another process holds.
	 *
	 * @throws {IndexError} ARCHIVE_BUSY (synchronously) when this process already has a job for the archive.
	 * @throws {ArchiveError} SERVICE_CLOSED after {@link shutdown}.
	 */
	public run<R>(spec: JobSpec, work: (run: JobRun) => Promise<R>): JobHandle<R> {
		if (this.#closed) throw new ArchiveError(ArchiveErrorCode.ServiceClosed, 'The archive service is shutting down and takes no new job.');
		const { index, holder } = this.#ctx;
		if (spec.lot !== null) {
			const busy = [...this.#active.values()].find((active) => active.spec.lot === spec.lot);
			if (busy) {
				throw new IndexError(
					IndexErrorCode.ArchiveBusy,
					`${spec.archiveId ?? `Archive lot ${spec.lot}`} is busy with a ${busy.spec.kind} job (job ${busy.jobId}). Wait for it to finish or cancel it (the card's Cancel button, or dos cancel job:${busy.jobId}), then try again.`,
					{ lot: spec.lot, jobId: busy.jobId }
				);
			}
		}
		const queue = uploadKinds.has(spec.kind) && this.#uploadsRunning >= Math.max(1, this.#ctx.settings.uploadConcurrency);
		let job: Job;
		if (queue) job = index.jobs.enqueue({ lot: spec.lot, kind: spec.kind, requestedBy: spec.requestedBy ?? null });
		else job = index.jobs.acquire({ lot: spec.lot, kind: spec.kind, requestedBy: spec.requestedBy ?? null, holder, leaseMs: this.#leaseMs });
		const active: Active = { jobId: job.id, spec, controller: new AbortController(), started: false, settled: Promise.resolve(), latest: null };
		this.#active.set(job.id, active);
		const result = new Promise<R>((resolve, reject) => {
			const start = (acquired: Job) => {
				active.started = true;
				if (uploadKinds.has(spec.kind)) this.#uploadsRunning++;
				this.#emit({ type: 'started', job: acquired });
				const execution = this.#execute(active, acquired, work);
				active.settled = execution.catch(() => undefined);
				execution.then(resolve, reject);
			};
			if (queue) {
				this.#emit({ type: 'queued', job });
				this.#waiting.push({
					active,
					reject,
					start: () => {
						let acquired: Job;
						try {
							acquired = index.jobs.acquire({ lot: spec.lot, kind: spec.kind, holder, leaseMs: this.#leaseMs, jobId: job.id });
						} catch (error) {
							this.#active.delete(job.id);
							reject(error instanceof Error ? error : new Error(String(error)));
							this.#drain();
							return;
						}
						start(acquired);
					}
				});
			} else start(job);
		});
		result.catch(() => undefined);
		return {
			jobId: job.id,
			kind: spec.kind,
			lot: spec.lot,
			result,
			cancel: () => this.cancel(job.id)
		};
	}

	/**
	 * Cancels a job of this process: a running one through its signal (it ends `cancelled`, resumable), a queued one
	 * before it starts.
	 *
	 * @returns false when this process has no such job.
	 */
	public cancel(jobId: number): boolean {
		const active = this.#active.get(jobId);
		if (!active) return false;
		if (!active.started) this.#dropQueued(active, new JobStop('cancel'));
		else active.controller.abort(new JobStop('cancel'));
		return true;
	}

	/** Whether this process runs or queues the job. */
	public holds(jobId: number): boolean {
		return this.#active.has(jobId);
	}

	/** Cancels this process's job on an archive (the card's Cancel button). @returns false when there is none. */
	public cancelArchive(lot: number): boolean {
		const active = [...this.#active.values()].find((candidate) => candidate.spec.lot === lot);
		return active ? this.cancel(active.jobId) : false;
	}

	/**
	 * The start-up sweep: marks interrupted every running job whose lease expired or whose process is gone (their
	 * uploading archives become `interrupted`, resumable) and updates those archives' cards.
	 *
	 * @returns the jobs it interrupted.
	 */
	public async sweep(): Promise<Job[]> {
		const swept = this.#ctx.index.jobs.sweep();
		await this.#refreshCards(swept);
		return swept;
	}

	/**
	 * Stops taking jobs, cancels queued ones, stops running ones (their archives become `interrupted`, resumable), waits
	 * for them up to the grace period, and marks whatever is still held interrupted.
	 */
	public async shutdown(): Promise<void> {
		this.#closed = true;
		for (const waiting of [...this.#waiting]) this.#dropQueued(waiting.active, new JobStop('shutdown'));
		const running = [...this.#active.values()].filter((active) => active.started);
		for (const active of running) active.controller.abort(new JobStop('shutdown'));
		let timer: NodeJS.Timeout | undefined;
		await Promise.race([
			Promise.all(running.map((active) => active.settled)),
			new Promise((resolve) => {
				timer = setTimeout(resolve, this.#graceMs);
				timer.unref();
			})
		]);
		clearTimeout(timer);
		const held = this.#ctx.index.jobs.markRunningJobsInterrupted(this.#ctx.holder);
		await this.#refreshCards(held);
	}

	async #execute<R>(active: Active, job: Job, work: (run: JobRun) => Promise<R>): Promise<R> {
		const { index, holder } = this.#ctx;
		const signal = active.controller.signal;
		const cancelRequested = (row: Job) => {
			if (row.cancelRequestedAt !== null && !signal.aborted) {
				this.#ctx.log('info', 'cancel requested through the job table: stopping the job', { jobId: job.id });
				active.controller.abort(new JobStop('cancel'));
			}
		};
		cancelRequested(job);
		// A cancel asked through the job table (another process) is read more often than the lease is renewed.
		const cancelPoll = setInterval(() => {
			try {
				const row = index.jobs.get(job.id);
				if (row !== undefined) cancelRequested(row);
			} catch (error) {
				this.#ctx.log('warn', 'could not read the job row', { jobId: job.id, ...errorSummary(error) });
			}
		}, this.#cancelPollMs);
		cancelPoll.unref();
		const heartbeat = setInterval(() => {
			try {
				cancelRequested(index.jobs.heartbeat(job.id, holder, active.latest ?? undefined));
			} catch (error) {
				if (isIndexError(error, 'LEASE_LOST')) {
					this.#ctx.log('error', 'job lease lost: stopping the job', { jobId: job.id });
					active.controller.abort(new JobStop('shutdown'));
				} else this.#ctx.log('warn', 'job heartbeat failed', { jobId: job.id, ...errorSummary(error) });
			}
		}, this.#heartbeatMs);
		heartbeat.unref();
		const run: JobRun = {
			jobId: String(job.id),
			signal,
			progress: (event) => {
				active.latest = event;
				this.#emit({ type: 'progress', event: { ...event, jobId: String(job.id), at: Date.now() } });
			}
		};
		try {
			const result = await work(run);
			clearInterval(heartbeat);
			clearInterval(cancelPoll);
			const released = this.#release(job.id, { status: JobStatus.Done, result: toJobResult(result) });
			this.#emit({ type: 'finished', job: released ?? job });
			return result;
		} catch (error) {
			clearInterval(heartbeat);
			clearInterval(cancelPoll);
			const stop = stopReasonOf(signal);
			const summary =
				stop === 'cancel'
					? { code: 'CANCELLED', message: 'Cancelled on request.' }
					: stop === 'shutdown'
						? { code: 'SHUTDOWN', message: 'Stopped because the process shut down; the job can be resumed.' }
						: errorSummary(error);
			const status = stop === 'cancel' ? JobStatus.Cancelled : stop === 'shutdown' ? JobStatus.Interrupted : JobStatus.Failed;
			const released = this.#release(job.id, { status, error: summary });
			this.#emit({ type: 'finished', job: released ?? job, error: summary });
			throw stop !== null && !(error instanceof Error && (error as { code?: unknown }).code === 'ABORTED') ? abortedError(signal) : error;
		} finally {
			this.#active.delete(job.id);
			if (uploadKinds.has(active.spec.kind)) this.#uploadsRunning--;
			this.#drain();
		}
	}

	#release(jobId: number, outcome: Parameters<ArchiveContext['index']['jobs']['release']>[2]): Job | undefined {
		try {
			return this.#ctx.index.jobs.release(jobId, this.#ctx.holder, outcome);
		} catch (error) {
			this.#ctx.log('warn', 'could not release the job', { jobId, ...errorSummary(error) });
			return undefined;
		}
	}

	#dropQueued(active: Active, stop: JobStop): void {
		const position = this.#waiting.findIndex((waiting) => waiting.active === active);
		if (position === -1) return;
		const [waiting] = this.#waiting.splice(position, 1);
		this.#active.delete(active.jobId);
		try {
			const job = this.#ctx.index.jobs.cancelQueued(active.jobId);
			this.#emit({ type: 'finished', job, error: { code: 'CANCELLED', message: stop.message } });
			if (active.spec.lot !== null && active.spec.kind === JobKinds.Upload) {
				const archive = this.#ctx.index.archives.get(active.spec.lot);
				if (archive?.status === ArchiveStatus.Planned) {
					this.#ctx.index.archives.setStatus(
						active.spec.lot,
						stop.kind === 'cancel' ? ArchiveStatus.Cancelled : ArchiveStatus.Interrupted,
						{
							code: stop.kind === 'cancel' ? 'CANCELLED' : 'SHUTDOWN',
							message: stop.message
						}
					);
				}
			}
		} catch (error) {
			this.#ctx.log('warn', 'could not cancel a queued job', { jobId: active.jobId, ...errorSummary(error) });
		}
		active.controller.abort(stop);
		waiting?.reject(abortedError(active.controller.signal));
	}

	#drain(): void {
		while (!this.#closed && this.#waiting.length > 0 && this.#uploadsRunning < Math.max(1, this.#ctx.settings.uploadConcurrency)) {
			const next = this.#waiting.shift()!;
			next.start();
		}
	}

	async #refreshCards(jobs: readonly Job[]): Promise<void> {
		for (const job of jobs) {
			if (job.archiveLot === null) continue;
			const archive = this.#ctx.index.archives.get(job.archiveLot);
			if (!archive || archive.format !== ArchiveFormat.Dos1 || archive.cardMessageId === null || archive.channelId === null) continue;
			await this.#ctx.transport.editCard(archive.channelId, archive.cardMessageId, renderCard({ archive })).catch((error: unknown) => {
				this.#ctx.log('warn', 'card edit failed', { archiveId: archive.id, ...errorSummary(error) });
			});
		}
	}

	#emit(event: RunnerEvent): void {
		for (const listener of this.#listeners) {
			try {
				listener(event);
			} catch (error) {
				this.#ctx.log('warn', 'a job listener threw', errorSummary(error));
			}
		}
	}
}

/** A job's result as the job row stores it: plain JSON. */
function toJobResult(result: unknown): Record<string, unknown> | null {
	if (result === null || typeof result !== 'object') return result === undefined ? null : { value: result as never };
	return JSON.parse(JSON.stringify(result)) as Record<string, unknown>;
}
