import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ArchiveStatus, ChunkState, IndexErrorCode, openIndex, type ArchivePlan, type HistoryIndex } from '../../src/db/index.js';
import { ensureBuilt, repoRoot } from '../support/build.js';
import { fakeSha, manualClock, memoryIndex, newArchive, nextUid, tempFolder } from './index-fixture.js';

const opened: HistoryIndex[] = [];
const folders: ReturnType<typeof tempFolder>[] = [];
afterEach(() => {
	for (const index of opened.splice(0)) index.close();
	for (const folder of folders.splice(0)) folder.remove();
});

function fresh(clock = manualClock()): HistoryIndex {
	const index = memoryIndex(clock);
	opened.push(index);
	return index;
}

const plan: ArchivePlan = {
	entries: [
		{ path: 'a', type: 'directory' },
		{ path: 'a/one.txt', type: 'file', size: 1_500, offset: 0, firstChunk: 0, lastChunk: 1, mode: 0o644, mtimeMs: 1_700_000_000_123.5 },
		{ path: 'a/empty.txt', type: 'file', size: 0, offset: 1_500 },
		{ path: 'a/two.txt', type: 'file', size: 700, offset: 1_500, firstChunk: 1, lastChunk: 2 },
		{ path: 'link', type: 'symlink', target: 'a/one.txt' }
	],
	chunks: [
		{ index: 0, plainSize: 1_000 },
		{ index: 1, plainSize: 1_000 },
		{ index: 2, plainSize: 200 }
	]
};

describe('lot allocation', () => {
	it('GIVEN many allocations WHEN made one after another THEN lots count up by one and ids carry the local date and the lot', () => {
		const index = fresh();
		const archives = Array.from({ length: 120 }, () => index.archives.allocate(newArchive({ createdAt: new Date(2024, 10, 26, 23, 59) })));
		expect(archives.map((archive) => archive.lot)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
		expect(archives[6]!.id).toBe('#261124-07');
		expect(archives[119]!.id).toBe('#261124-120');
		expect(new Set(archives.map((archive) => archive.id)).size).toBe(120);
		expect(archives[0]).toMatchObject({ status: ArchiveStatus.Planned, format: 'dos-1', storedBytes: 0, chunkCount: 0 });
	});

	it('GIVEN an imported legacy archive with a high lot WHEN a new archive is allocated THEN its lot comes after the imported one', () => {
		const index = fresh();
		index.archives.allocate(newArchive());
		const legacy = index.archives.import({
			...newArchive({ format: 'legacy-v3.1', status: 'complete' }),
			id: '#241126-07',
			lot: 7,
			fileCount: 5
		});
		expect(legacy).toMatchObject({ id: '#241126-07', lot: 7, fileCount: 5, format: 'legacy-v3.1' });
		expect(index.archives.allocate(newArchive()).lot).toBe(8);
		// A lower import does not move the counter back.
		index.archives.import({ ...newArchive(), id: '#010124-03', lot: 3 });
		expect(index.archives.allocate(newArchive()).lot).toBe(9);
	});

	it('GIVEN an import that clashes WHEN recorded THEN it is refused: same lot, same id, same uid, or an id naming another lot', () => {
		const index = fresh();
		const first = index.archives.import({ ...newArchive(), id: '#241126-07', lot: 7 });
		expect(() => index.archives.import({ ...newArchive(), id: '#251126-07', lot: 7 })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ArchiveExists })
		);
		expect(() => index.archives.import({ ...newArchive({ uid: first.uid }), id: '#241126-08', lot: 8 })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ArchiveExists })
		);
		expect(() => index.archives.import({ ...newArchive(), id: '#241126-09', lot: 10 })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.InvalidArchiveId })
		);
		expect(() => index.archives.import({ ...newArchive(), id: '241126-10', lot: 10 })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.InvalidArchiveId })
		);
		expect(() => index.archives.allocate(newArchive({ uid: 'not-hex' }))).toThrow(
			expect.objectContaining({ code: IndexErrorCode.InvalidRecord })
		);
		expect(index.archives.count()).toBe(1);
	});

	it('GIVEN two connections on one file WHEN they allocate alternately THEN no lot is handed out twice', () => {
		const folder = tempFolder();
		folders.push(folder);
		const file = join(folder.path, 'index.sqlite');
		const left = openIndex({ path: file });
		const right = openIndex({ path: file });
		opened.push(left, right);
		const lots = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? left : right).archives.allocate(newArchive()).lot);
		expect(lots).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
	});

	it('GIVEN two processes on one file WHEN they allocate at the same time THEN every lot is unique and together they are 1…n', async () => {
		const folder = tempFolder();
		folders.push(folder);
		const file = join(folder.path, 'index.sqlite');
		openIndex({ path: file }).close();
		await ensureBuilt();
		// Each child allocates 60 archives on the shared file with the built index (plain node, no TypeScript loader).
		const script = `
			import { randomBytes } from 'node:crypto';
			import { openIndex } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'dist/db/index.js')).href)};
			const [file, count] = process.argv.slice(-2);
			const index = openIndex({ path: file, busyTimeoutMs: 30_000 });
			const lots = [];
			for (let i = 0; i < Number(count); i++)
				lots.push(index.archives.allocate({ uid: randomBytes(16).toString('hex'), source: 'shared', chunkSize: 1_000 }).lot);
			index.close();
			process.stdout.write(JSON.stringify(lots));
		`;
		const run = () => promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, '--', file, '60'], { cwd: repoRoot });
		const results = await Promise.all([run(), run()]);
		const lots = results.flatMap((result) => JSON.parse(result.stdout) as number[]);
		expect(lots).toHaveLength(120);
		expect([...lots].sort((a, b) => a - b)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
	});
});

describe('archive records', () => {
	it('GIVEN an archive WHEN found by id, bare id, uid or lot THEN each names it; an unknown one is ARCHIVE_NOT_FOUND', () => {
		const index = fresh();
		const archive = index.archives.allocate(newArchive());
		for (const reference of [archive.id, archive.id.slice(1), archive.uid, archive.uid.toUpperCase(), String(archive.lot)]) {
			expect(index.archives.find(reference)?.lot).toBe(archive.lot);
		}
		expect(index.archives.find('#010199-99')).toBeUndefined();
		expect(() => index.archives.require('#010199-99')).toThrow(expect.objectContaining({ code: IndexErrorCode.ArchiveNotFound }));
	});

	it('GIVEN status changes WHEN recorded THEN completion stamps the time and clears the last error, and a verification is kept', () => {
		const clock = manualClock();
		const index = fresh(clock);
		const archive = index.archives.allocate(newArchive({ kdf: { id: 'pbkdf2-sha256', iterations: 600_000, salt: 'AB'.repeat(16) } }));
		expect(archive).toMatchObject({ kdfId: 'pbkdf2-sha256', kdfIterations: 600_000, archiveSalt: 'ab'.repeat(16) });
		index.archives.setStatus(archive.lot, 'failed', { code: 'RATE_LIMITED', message: 'Discord kept answering 429.' });
		expect(index.archives.get(archive.lot)).toMatchObject({ status: 'failed', errorCode: 'RATE_LIMITED' });
		clock.advance(60_000);
		const done = index.archives.setStatus(archive.lot, 'complete');
		expect(done).toMatchObject({ status: 'complete', errorCode: null, errorMessage: null });
		expect(done.completedAt?.getTime()).toBe(clock.now());
		const verified = index.archives.recordVerification(archive.lot, { level: 'quick', ok: true, summary: '3 chunks present' });
		expect(verified).toMatchObject({ verifyLevel: 'quick', verifyOk: true, verifySummary: '3 chunks present' });
		expect(() => index.archives.update(999, { label: 'x' })).toThrow(expect.objectContaining({ code: IndexErrorCode.ArchiveNotFound }));
	});

	it('GIVEN a plan WHEN recorded THEN entries and pending chunks are written in one go with the archive totals', () => {
		const index = fresh();
		const { lot } = index.archives.allocate(newArchive());
		const archive = index.archives.recordPlan(lot, plan);
		expect(archive).toMatchObject({ fileCount: 3, directoryCount: 1, symlinkCount: 1, originalBytes: 2_200, chunkCount: 3, storedChunkCount: 0 });
		expect(index.entries.list(lot).map((entry) => entry.path)).toEqual(plan.entries.map((entry) => entry.path));
		expect(index.entries.get(lot, 'a/one.txt')).toMatchObject({
			name: 'one.txt',
			mode: 0o644,
			mtimeMs: 1_700_000_000_123.5,
			firstChunk: 0,
			lastChunk: 1
		});
		expect(index.entries.get(lot, 'link')).toMatchObject({ name: 'link', target: 'a/one.txt', firstChunk: null });
		expect(index.chunks.list(lot).map((chunk) => [chunk.index, chunk.state])).toEqual([
			[0, ChunkState.Pending],
			[1, ChunkState.Pending],
			[2, ChunkState.Pending]
		]);
		expect(index.entries.spanning(lot, 1).map((entry) => entry.path)).toEqual(['a/one.txt', 'a/two.txt']);
		expect(index.entries.setFileHashes(lot, [['a/one.txt', fakeSha('1')]])).toBe(1);
		expect(index.entries.get(lot, 'a/one.txt')?.sha256).toBe(fakeSha('1'));
	});

	it('GIVEN a bad plan WHEN recorded THEN nothing of it is written', () => {
		const index = fresh();
		const { lot } = index.archives.allocate(newArchive());
		const bad =
			(entries: typeof plan.entries, chunks = plan.chunks) =>
			() =>
				index.archives.recordPlan(lot, { entries, chunks });
		expect(bad([...plan.entries, { path: 'a/one.txt', type: 'file' }])).toThrow(expect.objectContaining({ code: IndexErrorCode.InvalidRecord }));
		expect(bad([{ path: 'x', type: 'file', size: 5, firstChunk: 2, lastChunk: 3 }])).toThrow(
			expect.objectContaining({ code: IndexErrorCode.InvalidRecord })
		);
		expect(bad([{ path: '../escape', type: 'file' }])).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
		expect(bad(plan.entries, [{ index: 1 }])).toThrow(expect.objectContaining({ code: IndexErrorCode.InvalidRecord }));
		expect(index.entries.list(lot)).toEqual([]);
		expect(index.chunks.list(lot)).toEqual([]);
	});

	it('GIVEN a plan whose upload started WHEN a new plan is recorded THEN it is refused with PLAN_IN_USE; before that it is replaced', () => {
		const index = fresh();
		const { lot } = index.archives.allocate(newArchive());
		index.archives.recordPlan(lot, { entries: [{ path: 'old', type: 'directory' }], chunks: [] });
		index.archives.recordPlan(lot, plan);
		expect(index.entries.get(lot, 'old')).toBeUndefined();
		index.chunks.markInFlight(lot, { index: 0, nonce: 'n-0' });
		expect(() => index.archives.recordPlan(lot, plan)).toThrow(expect.objectContaining({ code: IndexErrorCode.PlanInUse }));
	});

	it('GIVEN an archive with entries, chunks and jobs WHEN it is removed THEN its entries, chunks and FTS rows go with it and its jobs stay', () => {
		const index = fresh();
		const { lot } = index.archives.allocate(newArchive({ label: 'holiday pictures' }));
		const other = index.archives.allocate(newArchive());
		index.archives.recordPlan(lot, plan);
		index.archives.recordPlan(other.lot, plan);
		const job = index.jobs.acquire({ lot, kind: 'upload', holder: 'h', leaseMs: 1_000 });
		expect(index.entries.search('one.txt').hits).toHaveLength(2);
		expect(index.archives.remove(lot)).toBe(true);
		expect(index.entries.list(lot)).toEqual([]);
		expect(index.chunks.list(lot)).toEqual([]);
		expect(index.entries.search('one.txt').hits.map((hit) => hit.archive.lot)).toEqual([other.lot]);
		expect(index.archives.suggest('holiday')).toEqual([]);
		expect(index.jobs.get(job.id)).toMatchObject({ archiveLot: null });
		expect(index.integrityProblems()).toEqual([]);
		expect(index.archives.remove(lot)).toBe(false);
	});

	it('GIVEN a rebuild WHEN it replaces an archive content THEN entries and chunks are replaced and counters derived, in place or as a new row', () => {
		const index = fresh();
		const { lot, uid, id } = index.archives.allocate(newArchive());
		index.archives.recordPlan(lot, plan);
		const stored = (i: number, size: number) => ({
			index: i,
			messageId: `10${i}`,
			attachmentId: `20${i}`,
			filename: `c${i}.bin`,
			storedSize: size,
			sha256: fakeSha('a')
		});
		const rebuilt = index.archives.replaceContent({
			...newArchive({ uid, status: 'complete', label: 'renamed' }),
			id,
			lot,
			entries: [{ path: 'only.bin', type: 'file', size: 10, offset: 0, firstChunk: 0, lastChunk: 0, sha256: fakeSha('b') }],
			chunks: [
				{ ...stored(0, 64), compressed: true },
				{ ...stored(0, 30), kind: 'manifest', compressed: null }
			]
		});
		expect(rebuilt).toMatchObject({
			label: 'renamed',
			status: 'complete',
			fileCount: 1,
			directoryCount: 0,
			originalBytes: 10,
			chunkCount: 1,
			storedChunkCount: 1,
			storedBytes: 94
		});
		expect(index.entries.list(lot).map((entry) => entry.path)).toEqual(['only.bin']);
		expect(index.chunks.list(lot).map((chunk) => `${chunk.kind}:${chunk.index}:${chunk.state}`)).toEqual(['data:0:stored', 'manifest:0:stored']);
		expect(index.chunks.get(lot, { index: 0 })?.recordedAt.getTime()).toBe(manualClock().now());
		// Three states survive the round trip: compressed, raw, and not applicable (manifest parts).
		expect(index.chunks.list(lot).map((chunk) => chunk.compressed)).toEqual([true, null]);

		const imported = index.archives.replaceContent({ ...newArchive(), id: '#241126-40', lot: 40, entries: [], chunks: [stored(0, 5)] });
		expect(imported).toMatchObject({ lot: 40, chunkCount: 1, storedBytes: 5 });
		expect(index.archives.allocate(newArchive()).lot).toBe(41);
		expect(() => index.archives.replaceContent({ ...newArchive(), id, lot, entries: [], chunks: [] })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ArchiveExists })
		);
	});
});

describe('archive lists', () => {
	it('GIVEN 25 archives WHEN listed 10 per page THEN pages go newest first without overlap, and filters apply to list and count', () => {
		const index = fresh();
		for (let i = 1; i <= 25; i++) {
			index.archives.allocate(newArchive({ label: i % 5 === 0 ? `holiday ${i}` : `work ${i}`, status: i % 2 === 0 ? 'complete' : 'failed' }));
		}
		const first = index.archives.list({ limit: 10 });
		expect(first.archives.map((archive) => archive.lot)).toEqual([25, 24, 23, 22, 21, 20, 19, 18, 17, 16]);
		const second = index.archives.list({ limit: 10, before: first.nextBefore! });
		const third = index.archives.list({ limit: 10, before: second.nextBefore! });
		expect(third.archives.map((archive) => archive.lot)).toEqual([5, 4, 3, 2, 1]);
		expect(third.nextBefore).toBeNull();
		expect(index.archives.list({ query: 'holiday' }).archives.map((archive) => archive.lot)).toEqual([25, 20, 15, 10, 5]);
		expect(index.archives.list({ query: 'HOLI', statuses: ['complete'] }).archives.map((archive) => archive.lot)).toEqual([20, 10]);
		expect(index.archives.count({ query: 'holiday', statuses: ['complete'] })).toBe(2);
		expect(index.archives.count({ statuses: [] })).toBe(0);
		expect(index.archives.list({ query: '-07' }).archives.map((archive) => archive.lot)).toEqual([7]);
		expect(() => index.archives.list({ limit: 500 })).toThrow(expect.objectContaining({ code: IndexErrorCode.InvalidRecord }));
	});
});

describe('index status', () => {
	it('GIVEN archives, jobs and a backup WHEN the status is asked THEN it counts by status and names the newest archive and backup', () => {
		const index = fresh();
		index.archives.allocate(newArchive({ status: 'complete' }));
		const last = index.archives.allocate(newArchive({ status: 'uploading' }));
		index.jobs.acquire({ lot: last.lot, kind: 'upload', holder: 'h', leaseMs: 10_000 });
		index.jobs.enqueue({ lot: null, kind: 'index-backup' });
		const backup = index.backups.record({
			channelId: '1',
			messageId: '2',
			attachmentId: '3',
			filename: 'index.bin',
			size: 100,
			sha256: fakeSha('c')
		});
		const status = index.status();
		expect(status.archives.total).toBe(2);
		expect(status.archives.byStatus).toMatchObject({ complete: 1, uploading: 1, failed: 0 });
		expect(status.lastArchive?.lot).toBe(last.lot);
		expect(status.lastBackup).toEqual(backup);
		expect(status.runningJobs).toHaveLength(1);
		expect(status.queuedJobs.map((job) => job.kind)).toEqual(['index-backup']);
		index.writeMeta('rebuilt-at', '2024-11-26');
		expect(index.readMeta('rebuilt-at')).toBe('2024-11-26');
		expect(nextUid()).toMatch(/^[0-9a-f]{32}$/);
	});
});

describe('thread binding and the lot floor', () => {
	it('GIVEN an archive holding a thread WHEN another archive is given that thread (import, update or raw SQL) THEN it is refused', () => {
		const folder = tempFolder();
		folders.push(folder);
		const file = join(folder.path, 'index.sqlite');
		const index = openIndex({ path: file });
		opened.push(index);
		const first = index.archives.allocate({ ...newArchive(), threadId: '100000000000000001' });
		expect(() => index.archives.import({ ...newArchive(), id: '#010124-05', lot: 5, threadId: '100000000000000001' })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ArchiveExists })
		);
		const second = index.archives.allocate(newArchive());
		expect(() => index.archives.update(second.lot, { threadId: '100000000000000001' })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ArchiveExists })
		);
		expect(index.archives.findByThread('100000000000000001')?.lot).toBe(first.lot);
		// The database itself holds the rule (a unique index), whatever writes to it.
		const raw = new Database(file);
		try {
			expect(() => raw.prepare('UPDATE archives SET thread_id = ? WHERE lot = ?').run('100000000000000001', second.lot)).toThrow(/UNIQUE/);
		} finally {
			raw.close();
		}
	});

	it('GIVEN a lot floor seen on Discord WHEN raised THEN the next allocation is above it and the floor never falls', () => {
		const index = fresh();
		index.archives.allocate(newArchive());
		expect(index.archives.raiseLotFloor(16)).toBe(16);
		expect(index.archives.raiseLotFloor(3)).toBe(16);
		expect(index.archives.allocate(newArchive()).lot).toBe(17);
	});
});

describe('naming an archive to delete', () => {
	it('GIVEN archives labelled "work-docs" and "holiday pictures" WHEN named for a cleanup THEN only the id, lot, uid or whole label names one, never a fragment', () => {
		const index = fresh();
		const work = index.archives.allocate(newArchive({ label: 'work-docs', status: 'complete' }));
		index.archives.allocate(newArchive({ label: 'holiday pictures', status: 'complete' }));
		// A fragment is enough to find an archive to read…
		expect(index.archives.require('work').lot).toBe(work.lot);
		// …but not to delete one.
		expect(() => index.archives.requireExact('work')).toThrow(expect.objectContaining({ code: IndexErrorCode.ArchiveNotFound }));
		expect(() => index.archives.requireExact('docs')).toThrow(expect.objectContaining({ code: IndexErrorCode.ArchiveNotFound }));
		expect(index.archives.requireExact('WORK-DOCS').lot).toBe(work.lot);
		expect(index.archives.requireExact(work.id).lot).toBe(work.lot);
		expect(index.archives.requireExact(work.uid).lot).toBe(work.lot);
		expect(index.archives.requireExact(work.lot).lot).toBe(work.lot);
	});
});
