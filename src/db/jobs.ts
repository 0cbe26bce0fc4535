import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { and, asc, desc, eq, inArray, isNull, lte, sql } from 'drizzle-orm';
import { guard, now, write, type IndexContext } from './database.js';
import { IndexError, IndexErrorCode } from './errors.js';
import { archives, jobs, type JobProgress, type JobResult } from './schema.js';
import { ArchiveStatus, JobStatus, type JobKind, type JobOutcome } from './vocabulary.js';

/** A job's row in the index. */
export type Job = typeof jobs.$inferSelect;

export interface JobRequest {
	/** The archive the job works on, by lot; null for a rebuild or an index backup. */
	readonly lot: number | null;
	readonly kind: JobKind;
	/** The Discord user id who asked (null for the CLI or an automatic job). */
	readonly requestedBy?: string | null;
}

export interface JobLease {
	/** The process token of the holder (see {@link createHolderToken}). */
	readonly holder: string;
	/** How long the lock lives without a heartbeat. */
	readonly leaseMs: number;
}

export interface JobRelease {
	readonly status: JobOutcome;
	readonly result?: JobResult | null;
	readonly error?: { readonly code: string; readonly message: string } | null;
}

/** Why a running job was marked interrupted, as recorded in its error code. */
export const JobInterruption = {
	/** Its lease ran out (the process stopped heartbeating) and another job took the lock. */
	LeaseExpired: 'LEASE_EXPIRED',
	/** Its process is gone (found at start-up). */
	HolderGone: 'HOLDER_GONE',
	/** Its process shut down gracefully before the job finished. */
	Shutdown: 'SHUTDOWN',
	/** The index was restored from a snapshot taken while it ran (its process is not the one using this file). */
	Restored: 'RESTORED'
} as const;

const interruptionMessages: Record<(typeof JobInterruption)[keyof typeof JobInterruption], string> = {
	LEASE_EXPIRED: 'The process running this job stopped answering; the job can be resumed.',
	HOLDER_GONE: 'The process running this job is gone; the job can be resumed.',
	SHUTDOWN: 'The bot shut down before this job finished; the job can be resumed.',
	RESTORED: 'The index was restored from a backup taken while this job ran; the job can be resumed.'
};

/**
 * A token naming this process as a job holder: host, pid and a random part (`host:pid:hex`), so a start-up
 * sweep can tell the jobs of a dead process on this machine from those of another live process.
 */
export function createHolderToken(): string {
	const token = `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
	ownHolderTokens.add(token);
	return token;
}

/** The tokens this process has made: a token with this process's pid that is not among them is an earlier process's. */
const ownHolderTokens = new Set<string>();

/**
 * Whether the process named by a {@link createHolderToken} token is still alive, as far as this machine can
 * tell: false for a token of this host whose pid no longer exists, and for one that carries this process's own pid
 * but was not made by it (an earlier process that had the same pid: a bot restarted as pid 1 in a container).
 * Tokens of other hosts count as alive (their leases decide).
 */
export function holderIsAlive(holder: string): boolean {
	const [host, pidText] = holder.split(':');
	const pid = Number(pidText);
	if (host !== hostname() || !Number.isSafeInteger(pid) || pid <= 0) return true;
	if (pid === process.pid) return ownHolderTokens.has(holder);
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}

/**
 * Jobs and the one-job-per-archive lock. A job holds its archive while `running`: a partial unique index
 * allows one running job per archive (and one running rebuild and index backup), and acquiring runs in a
 * `BEGIN IMMEDIATE` transaction. The holder renews a lease with heartbeats; a lock whose lease has passed
 * belonged to a process that died, and the next acquire takes it over, marking the old job `interrupted`.
 */
export class JobLocks {
	readonly #context: IndexContext;

	/** @internal Built by {@link openIndex}. */
	public constructor(context: IndexContext) {
		this.#context = context;
	}

	/** One job. */
	public get(id: number): Job | undefined {
		return guard(this.#context, () => this.#context.db.select().from(jobs).where(eq(jobs.id, id)).get());
	}

	/** Running jobs, oldest first. */
	public running(): Job[] {
		return this.#byStatus(JobStatus.Running);
	}

	/** Queued jobs, oldest first. */
	public queued(): Job[] {
		return this.#byStatus(JobStatus.Queued);
	}

	/** The latest jobs of an archive, newest first. */
	public forArchive(lot: number, limit = 10): Job[] {
		return guard(this.#context, () =>
			this.#context.db.select().from(jobs).where(eq(jobs.archiveLot, lot)).orderBy(desc(jobs.id)).limit(limit).all()
		);
	}

	/** Records a job that will run later; it holds no lock until {@link acquire} starts it. */
	public enqueue(request: JobRequest): Job {
		return write(this.#context, () =>
			this.#context.db
				.insert(jobs)
				.values({
					archiveLot: request.lot,
					kind: request.kind,
					status: JobStatus.Queued,
					requestedBy: request.requestedBy ?? null,
					createdAt: now(this.#context)
				})
				.returning()
				.get()
		);
	}

	/**
	 * Starts a job holding its archive's lock, atomically: a new job from `request`, or the queued job `jobId`.
	 * A running job whose lease has expired is marked `interrupted` and its lock taken over (its archive, if it
	 * was uploading, becomes `interrupted`).
	 *
	 * @throws {IndexError} ARCHIVE_BUSY when another job holds the archive with a live lease; JOB_NOT_FOUND for a
	 * `jobId` that is not queued; ARCHIVE_NOT_FOUND for an unknown lot; INVALID_RECORD for a lease that is not positive.
	 */
	public acquire(request: JobRequest & JobLease & { readonly jobId?: number }): Job {
		if (!Number.isSafeInteger(request.leaseMs) || request.leaseMs < 1) {
			throw new IndexError(IndexErrorCode.InvalidRecord, `A job lease is a positive number of milliseconds, not ${request.leaseMs}.`);
		}
		const { db } = this.#context;
		return write(this.#context, () => {
			const at = now(this.#context);
			if (request.lot !== null && !db.select({ lot: archives.lot }).from(archives).where(eq(archives.lot, request.lot)).get()) {
				throw new IndexError(IndexErrorCode.ArchiveNotFound, `No archive with lot ${request.lot} in the index.`, { lot: request.lot });
			}
			const holding = db
				.select()
				.from(jobs)
				.where(
					and(
						eq(jobs.status, JobStatus.Running),
						request.lot === null ? and(isNull(jobs.archiveLot), eq(jobs.kind, request.kind)) : eq(jobs.archiveLot, request.lot)
					)
				)
				.get();
			if (holding) {
				if (holding.leaseExpiresAt !== null && holding.leaseExpiresAt.getTime() > at.getTime()) {
					const since = holding.startedAt?.toISOString() ?? 'recently';
					throw new IndexError(
						IndexErrorCode.ArchiveBusy,
						request.lot === null
							? `Another ${holding.kind} job (job ${holding.id}) is running since ${since}. Wait for it to finish or cancel it (dos cancel job:${holding.id}), then try again.`
							: `Archive lot ${request.lot} is busy with a ${holding.kind} job (job ${holding.id}) since ${since}. Wait for it to finish or cancel it (the card's Cancel button, or dos cancel job:${holding.id}), then try again.`,
						{ jobId: holding.id, ...(request.lot === null ? {} : { lot: request.lot }) }
					);
				}
				this.#interrupt([holding], JobInterruption.LeaseExpired);
			}
			const running = {
				status: JobStatus.Running,
				holder: request.holder,
				leaseMs: request.leaseMs,
				leaseExpiresAt: new Date(at.getTime() + request.leaseMs),
				startedAt: at,
				heartbeatAt: at
			};
			if (request.jobId !== undefined) {
				const started = db
					.update(jobs)
					.set(running)
					.where(and(eq(jobs.id, request.jobId), eq(jobs.status, JobStatus.Queued)))
					.returning()
					.get();
				// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- drizzle types .get() as a row but returns undefined when none matched
				if (!started)
					throw new IndexError(IndexErrorCode.JobNotFound, `No queued job ${request.jobId}: it already ran or was cancelled.`, {
						jobId: request.jobId
					});
				return started;
			}
			return db
				.insert(jobs)
				.values({ ...running, archiveLot: request.lot, kind: request.kind, requestedBy: request.requestedBy ?? null, createdAt: at })
				.returning()
				.get();
		});
	}

	/**
	 * Renews the lease of a running job (and records its progress, when given).
	 *
	 * @throws {IndexError} LEASE_LOST when the job is no longer running under this holder: stop working on it.
	 */
	public heartbeat(jobId: number, holder: string, progress?: JobProgress): Job {
		return write(this.#context, () => {
			const at = now(this.#context);
			const row = this.#context.db
				.update(jobs)
				.set({
					leaseExpiresAt: sql`${at.getTime()} + ${jobs.leaseMs}`,
					heartbeatAt: at,
					...(progress === undefined ? {} : { progress })
				})
				.where(and(eq(jobs.id, jobId), eq(jobs.holder, holder), eq(jobs.status, JobStatus.Running)))
				.returning()
				.get();
			// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- drizzle types .get() as a row but returns undefined when none matched
			return row ?? this.#lost(jobId);
		});
	}

	/**
	 * Ends a running job with its final status, releasing the archive.
	 *
	 * @throws {IndexError} LEASE_LOST when the job was already ended or taken over by another holder.
	 */
	public release(jobId: number, holder: string, outcome: JobRelease): Job {
		return write(this.#context, () => {
			const row = this.#context.db
				.update(jobs)
				.set({
					status: outcome.status,
					finishedAt: now(this.#context),
					leaseExpiresAt: null,
					result: outcome.result ?? null,
					errorCode: outcome.error?.code ?? null,
					errorMessage: outcome.error?.message ?? null
				})
				.where(and(eq(jobs.id, jobId), eq(jobs.holder, holder), eq(jobs.status, JobStatus.Running)))
				.returning()
				.get();
			// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- drizzle types .get() as a row but returns undefined when none matched
			return row ?? this.#lost(jobId);
		});
	}

	/**
	 * Cancels a job that has not started.
	 *
	 * @throws {IndexError} JOB_NOT_FOUND when it is not queued.
	 */
	public cancelQueued(jobId: number): Job {
		return write(this.#context, () => {
			const row = this.#context.db
				.update(jobs)
				.set({ status: JobStatus.Cancelled, finishedAt: now(this.#context) })
				.where(and(eq(jobs.id, jobId), eq(jobs.status, JobStatus.Queued)))
				.returning()
				.get();
			// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- drizzle types .get() as a row but returns undefined when none matched
			if (!row)
				throw new IndexError(IndexErrorCode.JobNotFound, `No queued job ${jobId}: it already started, finished or was cancelled.`, { jobId });
			return row;
		});
	}

	/**
	 * Asks a running or queued job to stop, whichever process holds it: records the request on its row, and the holder
	 * stops the job at its next heartbeat (a queued job when it would start).
	 *
	 * @returns the job with the request recorded.
	 * @throws {IndexError} JOB_NOT_FOUND when no such job is running or queued.
	 */
	public requestCancel(jobId: number): Job {
		return write(this.#context, () => {
			const row = this.#context.db
				.update(jobs)
				.set({ cancelRequestedAt: sql`coalesce(${jobs.cancelRequestedAt}, ${now(this.#context).getTime()})` })
				.where(and(eq(jobs.id, jobId), inArray(jobs.status, [JobStatus.Running, JobStatus.Queued])))
				.returning()
				.get();
			// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- drizzle types .get() as a row but returns undefined when none matched
			if (!row) throw new IndexError(IndexErrorCode.JobNotFound, `No job ${jobId} is running or queued: it already ended.`, { jobId });
			return row;
		});
	}

	/** Whether a job of one of these kinds ended `done` after `since` (all time when null): e.g. a change since a backup. */
	public doneSince(since: Date | null, kinds: readonly JobKind[]): boolean {
		if (kinds.length === 0) return false;
		return guard(this.#context, () => {
			const conditions = [eq(jobs.status, JobStatus.Done), inArray(jobs.kind, [...kinds])];
			if (since !== null) conditions.push(sql`${jobs.finishedAt} > ${since.getTime()}`);
			return (
				this.#context.db
					.select({ id: jobs.id })
					.from(jobs)
					.where(and(...conditions))
					.limit(1)
					.get() !== undefined
			);
		});
	}

	/** The running or queued job of an archive (running first), or undefined. */
	public activeFor(lot: number): Job | undefined {
		return guard(this.#context, () =>
			this.#context.db
				.select()
				.from(jobs)
				.where(and(eq(jobs.archiveLot, lot), inArray(jobs.status, [JobStatus.Running, JobStatus.Queued])))
				.orderBy(sql`case ${jobs.status} when 'running' then 0 else 1 end`, asc(jobs.id))
				.get()
		);
	}

	/**
	 * For a graceful shutdown: marks every job this holder is running `interrupted` (and their archives
	 * `interrupted` if they were uploading), so they can be resumed.
	 *
	 * @returns the jobs as they were before.
	 */
	public markRunningJobsInterrupted(holder: string): Job[] {
		return write(this.#context, () => {
			const held = this.#context.db
				.select()
				.from(jobs)
				.where(and(eq(jobs.status, JobStatus.Running), eq(jobs.holder, holder)))
				.all();
			this.#interrupt(held, JobInterruption.Shutdown);
			return held;
		});
	}

	/**
	 * The start-up sweep: marks `interrupted` every running job whose lease has expired or whose holder is
	 * known dead (`isHolderAlive`, by default {@link holderIsAlive}), and their archives `interrupted` if they
	 * were uploading. Jobs of a live process (a CLI running beside the bot) are left alone.
	 *
	 * @returns the jobs as they were before.
	 */
	public sweep(isHolderAlive: (holder: string) => boolean = holderIsAlive): Job[] {
		return write(this.#context, () => {
			const at = now(this.#context);
			const running = this.#context.db.select().from(jobs).where(eq(jobs.status, JobStatus.Running)).all();
			const expired = running.filter((job) => job.leaseExpiresAt === null || job.leaseExpiresAt.getTime() <= at.getTime());
			const gone = running.filter((job) => !expired.includes(job) && job.holder !== null && !isHolderAlive(job.holder));
			this.#interrupt(expired, JobInterruption.LeaseExpired);
			this.#interrupt(gone, JobInterruption.HolderGone);
			return [...expired, ...gone];
		});
	}

	/**
	 * After a restore: every job the snapshot shows running belonged to the process that took the snapshot, never
	 * to one using this file, so each is marked `interrupted` (and its archive, if uploading) at once rather than
	 * holding its lock until the lease runs out.
	 *
	 * @returns the jobs as they were before.
	 */
	public interruptRestored(): Job[] {
		return write(this.#context, () => {
			const running = this.#context.db.select().from(jobs).where(eq(jobs.status, JobStatus.Running)).all();
			this.#interrupt(running, JobInterruption.Restored);
			return running;
		});
	}

	/** Running jobs whose lease has passed (for a status display). */
	public expired(): Job[] {
		return guard(this.#context, () =>
			this.#context.db
				.select()
				.from(jobs)
				.where(and(eq(jobs.status, JobStatus.Running), lte(jobs.leaseExpiresAt, now(this.#context))))
				.orderBy(asc(jobs.id))
				.all()
		);
	}

	#byStatus(status: JobStatus): Job[] {
		return guard(this.#context, () => this.#context.db.select().from(jobs).where(eq(jobs.status, status)).orderBy(asc(jobs.id)).all());
	}

	#interrupt(held: readonly Job[], reason: (typeof JobInterruption)[keyof typeof JobInterruption]): void {
		if (held.length === 0) return;
		const at = now(this.#context);
		const { db } = this.#context;
		db.update(jobs)
			.set({
				status: JobStatus.Interrupted,
				finishedAt: at,
				leaseExpiresAt: null,
				errorCode: reason,
				errorMessage: interruptionMessages[reason]
			})
			.where(
				inArray(
					jobs.id,
					held.map((job) => job.id)
				)
			)
			.run();
		const lots = held.flatMap((job) => (job.archiveLot === null ? [] : [job.archiveLot]));
		if (lots.length === 0) return;
		db.update(archives)
			.set({ status: ArchiveStatus.Interrupted, errorCode: reason, errorMessage: interruptionMessages[reason], updatedAt: at })
			.where(and(inArray(archives.lot, lots), eq(archives.status, ArchiveStatus.Uploading)))
			.run();
	}

	#lost(jobId: number): never {
		const job = this.get(jobId);
		if (!job) throw new IndexError(IndexErrorCode.JobNotFound, `No job ${jobId}.`, { jobId });
		throw new IndexError(
			IndexErrorCode.LeaseLost,
			`Job ${jobId} is no longer held by this process (it is ${job.status}${job.errorCode ? `: ${job.errorCode}` : ''}). Stop working on it; resume the archive to continue.`,
			{ jobId, ...(job.archiveLot === null ? {} : { lot: job.archiveLot }) }
		);
	}
}
