import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createHolderToken, holderIsAlive, IndexErrorCode, JobInterruption, openIndex, type HistoryIndex } from '../../src/db/index.js';
import { manualClock, memoryIndex, newArchive, tempFolder, type ManualClock } from './index-fixture.js';

const opened: HistoryIndex[] = [];
afterEach(() => {
	for (const index of opened.splice(0)) index.close();
});

function setup(): { index: HistoryIndex; clock: ManualClock; lot: number } {
	const clock = manualClock();
	const index = memoryIndex(clock);
	opened.push(index);
	const { lot } = index.archives.allocate(newArchive({ status: 'uploading' }));
	return { index, clock, lot };
}

const lease = 30_000;

describe('job lock', () => {
	it('GIVEN a running job WHEN a second job asks for the same archive THEN ARCHIVE_BUSY names the holder job; another archive is free', () => {
		const { index, lot } = setup();
		const job = index.jobs.acquire({ lot, kind: 'upload', holder: 'bot', leaseMs: lease, requestedBy: '42' });
		expect(job).toMatchObject({ status: 'running', holder: 'bot', archiveLot: lot, requestedBy: '42' });
		expect(() => index.jobs.acquire({ lot, kind: 'verify', holder: 'cli', leaseMs: lease })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ArchiveBusy, details: expect.objectContaining({ jobId: job.id }) })
		);
		const other = index.archives.allocate(newArchive());
		expect(index.jobs.acquire({ lot: other.lot, kind: 'verify', holder: 'cli', leaseMs: lease }).status).toBe('running');
		expect(index.jobs.running()).toHaveLength(2);
	});

	it('GIVEN a released job WHEN the archive is asked for again THEN it is granted', () => {
		const { index, lot } = setup();
		const job = index.jobs.acquire({ lot, kind: 'upload', holder: 'bot', leaseMs: lease });
		const done = index.jobs.release(job.id, 'bot', { status: 'done', result: { chunks: 3 } });
		expect(done).toMatchObject({ status: 'done', result: { chunks: 3 }, leaseExpiresAt: null });
		expect(done.finishedAt).not.toBeNull();
		expect(index.jobs.acquire({ lot, kind: 'verify', holder: 'bot', leaseMs: lease }).status).toBe('running');
		expect(() => index.jobs.release(job.id, 'bot', { status: 'done' })).toThrow(expect.objectContaining({ code: IndexErrorCode.LeaseLost }));
	});

	it('GIVEN a job whose holder stopped heartbeating WHEN its lease passes THEN another job takes the lock and the old one is interrupted', () => {
		const { index, clock, lot } = setup();
		const crashed = index.jobs.acquire({ lot, kind: 'upload', holder: 'dead', leaseMs: lease });
		clock.advance(lease - 1);
		expect(() => index.jobs.acquire({ lot, kind: 'resume', holder: 'new', leaseMs: lease })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ArchiveBusy })
		);
		clock.advance(1);
		const resumed = index.jobs.acquire({ lot, kind: 'resume', holder: 'new', leaseMs: lease });
		expect(resumed).toMatchObject({ status: 'running', holder: 'new' });
		expect(index.jobs.get(crashed.id)).toMatchObject({ status: 'interrupted', errorCode: JobInterruption.LeaseExpired });
		expect(index.archives.get(lot)).toMatchObject({ status: 'interrupted', errorCode: JobInterruption.LeaseExpired });
		// The old holder learns it lost the job at its next heartbeat.
		expect(() => index.jobs.heartbeat(crashed.id, 'dead')).toThrow(expect.objectContaining({ code: IndexErrorCode.LeaseLost }));
	});

	it('GIVEN a job that heartbeats WHEN time passes beyond its first lease THEN it keeps the lock and its progress', () => {
		const { index, clock, lot } = setup();
		const job = index.jobs.acquire({ lot, kind: 'upload', holder: 'bot', leaseMs: lease });
		for (let beat = 1; beat <= 4; beat++) {
			clock.advance(lease / 2);
			const renewed = index.jobs.heartbeat(job.id, 'bot', { chunksDone: beat });
			expect(renewed.leaseExpiresAt?.getTime()).toBe(clock.now() + lease);
		}
		expect(() => index.jobs.acquire({ lot, kind: 'verify', holder: 'cli', leaseMs: lease })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ArchiveBusy })
		);
		expect(index.jobs.get(job.id)?.progress).toEqual({ chunksDone: 4 });
		expect(() => index.jobs.heartbeat(job.id, 'someone-else')).toThrow(expect.objectContaining({ code: IndexErrorCode.LeaseLost }));
	});

	it('GIVEN jobs without an archive WHEN two rebuilds start THEN only one runs; an index backup may run beside it', () => {
		const { index } = setup();
		index.jobs.acquire({ lot: null, kind: 'rebuild', holder: 'bot', leaseMs: lease });
		expect(() => index.jobs.acquire({ lot: null, kind: 'rebuild', holder: 'cli', leaseMs: lease })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ArchiveBusy })
		);
		expect(index.jobs.acquire({ lot: null, kind: 'index-backup', holder: 'bot', leaseMs: lease }).status).toBe('running');
	});

	it('GIVEN the schema itself WHEN a second running job is written for an archive behind the API THEN SQLite refuses it', () => {
		const folder = tempFolder();
		try {
			const file = join(folder.path, 'index.sqlite');
			const index = openIndex({ path: file });
			const { lot } = index.archives.allocate(newArchive());
			index.jobs.acquire({ lot, kind: 'upload', holder: 'bot', leaseMs: lease });
			index.close();
			const raw = new Database(file);
			const insert = raw.prepare(
				`INSERT INTO jobs (archive_lot, kind, status, holder, lease_expires_at, created_at) VALUES (?, 'verify', 'running', 'x', 1, 1)`
			);
			expect(() => insert.run(lot)).toThrow(/UNIQUE/);
			raw.close();
		} finally {
			folder.remove();
		}
	});

	it('GIVEN a queued job WHEN started THEN it takes the lock; a cancelled one cannot start', () => {
		const { index, lot } = setup();
		const queued = index.jobs.enqueue({ lot, kind: 'download', requestedBy: '7' });
		const other = index.jobs.enqueue({ lot, kind: 'verify' });
		expect(index.jobs.queued().map((job) => job.id)).toEqual([queued.id, other.id]);
		const started = index.jobs.acquire({ lot, kind: 'download', holder: 'bot', leaseMs: lease, jobId: queued.id });
		expect(started).toMatchObject({ id: queued.id, status: 'running', requestedBy: '7' });
		index.jobs.cancelQueued(other.id);
		index.jobs.release(started.id, 'bot', { status: 'done' });
		expect(() => index.jobs.acquire({ lot, kind: 'verify', holder: 'bot', leaseMs: lease, jobId: other.id })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.JobNotFound })
		);
		expect(index.jobs.forArchive(lot).map((job) => job.status)).toEqual(['cancelled', 'done']);
	});

	it('GIVEN a graceful shutdown WHEN this holder interrupts its jobs THEN they and their uploading archives become interrupted, others untouched', () => {
		const { index, lot } = setup();
		const verifying = index.archives.allocate(newArchive({ status: 'complete' }));
		const mine = index.jobs.acquire({ lot, kind: 'upload', holder: 'me', leaseMs: lease });
		const mineToo = index.jobs.acquire({ lot: verifying.lot, kind: 'verify', holder: 'me', leaseMs: lease });
		const theirs = index.jobs.acquire({ lot: null, kind: 'rebuild', holder: 'them', leaseMs: lease });
		expect(
			index.jobs
				.markRunningJobsInterrupted('me')
				.map((job) => job.id)
				.sort()
		).toEqual([mine.id, mineToo.id].sort());
		expect(index.jobs.get(mine.id)).toMatchObject({ status: 'interrupted', errorCode: JobInterruption.Shutdown });
		expect(index.archives.get(lot)?.status).toBe('interrupted');
		expect(index.archives.get(verifying.lot)?.status).toBe('complete');
		expect(index.jobs.get(theirs.id)?.status).toBe('running');
	});

	it('GIVEN running jobs at start-up WHEN swept THEN expired and dead-holder jobs are interrupted and live ones kept', () => {
		const { index, clock, lot } = setup();
		const second = index.archives.allocate(newArchive({ status: 'uploading' }));
		const third = index.archives.allocate(newArchive({ status: 'uploading' }));
		const expired = index.jobs.acquire({ lot, kind: 'upload', holder: 'old', leaseMs: 1_000 });
		const dead = index.jobs.acquire({ lot: second.lot, kind: 'upload', holder: 'dead', leaseMs: lease });
		const live = index.jobs.acquire({ lot: third.lot, kind: 'upload', holder: 'live', leaseMs: lease });
		clock.advance(1_000);
		const swept = index.jobs.sweep((holder) => holder !== 'dead');
		expect(swept.map((job) => job.id).sort()).toEqual([expired.id, dead.id].sort());
		expect(index.jobs.get(expired.id)).toMatchObject({ status: 'interrupted', errorCode: JobInterruption.LeaseExpired });
		expect(index.jobs.get(dead.id)).toMatchObject({ status: 'interrupted', errorCode: JobInterruption.HolderGone });
		expect(index.jobs.get(live.id)?.status).toBe('running');
		expect([lot, second.lot, third.lot].map((l) => index.archives.get(l)?.status)).toEqual(['interrupted', 'interrupted', 'uploading']);
	});

	it('GIVEN holder tokens WHEN checked on this host THEN this process is alive and a finished process is not', async () => {
		const token = createHolderToken();
		expect(holderIsAlive(token)).toBe(true);
		const { spawn } = await import('node:child_process');
		const child = spawn(process.execPath, ['-e', '']);
		const pid = child.pid!;
		await new Promise((resolve) => child.on('exit', resolve));
		expect(holderIsAlive(token.replace(`:${process.pid}:`, `:${pid}:`))).toBe(false);
		expect(holderIsAlive(`another-host:${pid}:abc`)).toBe(true);
	});

	it('GIVEN a token with this process pid that this process did not make WHEN checked THEN it is an earlier process that had the same pid (a restarted container), not alive', () => {
		const own = createHolderToken();
		expect(holderIsAlive(own)).toBe(true);
		expect(holderIsAlive(`${hostname()}:${process.pid}:0123456789ab`)).toBe(false);
	});
});
