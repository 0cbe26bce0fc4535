import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { IndexErrorCode, openIndex, restoreIndexSnapshot, type HistoryIndex } from '../../src/db/index.js';
import { fakeSha, newArchive, tempFolder } from './index-fixture.js';

const opened: HistoryIndex[] = [];
const folders: ReturnType<typeof tempFolder>[] = [];
afterEach(() => {
	for (const index of opened.splice(0)) index.close();
	for (const folder of folders.splice(0)) folder.remove();
});

function workspace(): { folder: string; file: string } {
	const folder = tempFolder();
	folders.push(folder);
	return { folder: folder.path, file: join(folder.path, 'data', 'index.sqlite') };
}

function populated(file: string): HistoryIndex {
	const index = openIndex({ path: file });
	opened.push(index);
	const { lot } = index.archives.allocate(newArchive({ label: 'before the snapshot', status: 'complete' }));
	index.archives.recordPlan(lot, {
		entries: [{ path: 'Ünïcødé.txt', type: 'file', size: 3, offset: 0, firstChunk: 0, lastChunk: 0 }],
		chunks: [{ index: 0, plainSize: 3 }]
	});
	index.chunks.markInFlight(lot, { index: 0, nonce: 'n0' });
	index.chunks.markStored(lot, { index: 0, messageId: '1', attachmentId: '2', filename: 'c0.bin', storedSize: 99, sha256: fakeSha('d') });
	return index;
}

describe('index snapshots', () => {
	it('GIVEN an index in use WHEN snapshotted, changed, then restored from the snapshot THEN it holds exactly what it held at the snapshot', async () => {
		const { folder, file } = workspace();
		const index = populated(file);
		const snapshot = join(folder, 'out', 'snapshot.sqlite');
		const taken = await index.snapshot(snapshot);
		expect(taken.bytes).toBeGreaterThan(0);
		expect(existsSync(`${snapshot}-wal`)).toBe(false);

		index.archives.allocate(newArchive({ label: 'after the snapshot' }));
		expect(index.archives.count()).toBe(2);
		index.close();

		const { previous } = await restoreIndexSnapshot({ snapshot, path: file });
		expect(previous).toBe(`${file}.before-restore`);
		const restored = openIndex({ path: file });
		opened.push(restored);
		expect(restored.archives.list().archives.map((archive) => archive.label)).toEqual(['before the snapshot']);
		expect(restored.entries.search('unic').hits).toHaveLength(1);
		expect(restored.chunks.list(1)).toEqual([expect.objectContaining({ state: 'stored', messageId: '1', storedSize: 99 })]);
		expect(restored.integrityProblems()).toEqual([]);
		// The counter was restored too: the next lot follows the snapshot's.
		expect(restored.archives.allocate(newArchive()).lot).toBe(2);
		// The replaced index is kept, with the archive made after the snapshot.
		const kept = openIndex({ path: previous! });
		opened.push(kept);
		expect(kept.archives.count()).toBe(2);
	});

	it('GIVEN a snapshot taken while jobs ran (the index backup itself among them) WHEN restored THEN those jobs are interrupted and their locks free', async () => {
		const { folder, file } = workspace();
		const index = populated(file);
		const upload = index.jobs.acquire({ lot: 1, kind: 'upload', holder: `${hostname()}:${process.pid}:snapshot`, leaseMs: 600_000 });
		const backup = index.jobs.acquire({ lot: null, kind: 'index-backup', holder: `${hostname()}:${process.pid}:snapshot`, leaseMs: 600_000 });
		const snapshot = join(folder, 'snapshot.sqlite');
		await index.snapshot(snapshot);
		index.close();

		await restoreIndexSnapshot({ snapshot, path: file });
		expect(existsSync(`${file}-wal`)).toBe(false);
		const restored = openIndex({ path: file });
		opened.push(restored);
		for (const id of [upload.id, backup.id]) {
			expect(restored.jobs.get(id)).toMatchObject({ status: 'interrupted', errorCode: 'RESTORED', leaseExpiresAt: null });
		}
		// The locks are free at once, although the holder looks alive and the leases have not run out.
		expect(restored.jobs.acquire({ lot: null, kind: 'index-backup', holder: 'next', leaseMs: 1_000 }).status).toBe('running');
		expect(restored.jobs.acquire({ lot: 1, kind: 'upload', holder: 'next', leaseMs: 1_000 }).status).toBe('running');
	});

	it('GIVEN an in-memory index WHEN snapshotted THEN the snapshot opens as a file index', async () => {
		const { folder } = workspace();
		const index = openIndex({ path: ':memory:' });
		opened.push(index);
		index.archives.allocate(newArchive({ label: 'in memory' }));
		const snapshot = join(folder, 'memory.sqlite');
		await index.snapshot(snapshot);
		const reopened = openIndex({ path: snapshot });
		opened.push(reopened);
		expect(reopened.archives.list().archives.map((archive) => archive.label)).toEqual(['in memory']);
	});

	it('GIVEN an index that another connection still has open WHEN a restore is attempted THEN INDEX_BUSY and the index is untouched', async () => {
		const { folder, file } = workspace();
		const index = populated(file);
		const snapshot = join(folder, 'snapshot.sqlite');
		await index.snapshot(snapshot);
		index.archives.allocate(newArchive({ label: 'still here' }));
		await expect(restoreIndexSnapshot({ snapshot, path: file })).rejects.toMatchObject({ code: IndexErrorCode.IndexBusy });
		expect(index.archives.count()).toBe(2);
		expect(existsSync(`${file}.restoring`)).toBe(false);
	});

	it('GIVEN a file that is not an index snapshot WHEN restored THEN BAD_SNAPSHOT and the index is untouched', async () => {
		const { folder, file } = workspace();
		populated(file).close();
		const garbage = join(folder, 'garbage.sqlite');
		writeFileSync(garbage, 'not a database at all, just some bytes that are long enough to look like a header.........');
		await expect(restoreIndexSnapshot({ snapshot: garbage, path: file })).rejects.toMatchObject({ code: IndexErrorCode.BadSnapshot });
		const other = join(folder, 'other.sqlite');
		const raw = new Database(other);
		raw.exec('CREATE TABLE t (x)');
		raw.close();
		await expect(restoreIndexSnapshot({ snapshot: other, path: file })).rejects.toMatchObject({ code: IndexErrorCode.BadSnapshot });
		await expect(restoreIndexSnapshot({ snapshot: join(folder, 'missing.sqlite'), path: file })).rejects.toMatchObject({
			code: IndexErrorCode.BadSnapshot
		});
		const index = openIndex({ path: file });
		opened.push(index);
		expect(index.archives.count()).toBe(1);
	});

	it('GIVEN no index yet (a new machine) WHEN a snapshot is restored THEN it becomes the index', async () => {
		const { folder, file } = workspace();
		const source = populated(join(folder, 'elsewhere', 'index.sqlite'));
		const snapshot = join(folder, 'snapshot.sqlite');
		await source.snapshot(snapshot);
		const { mkdirSync } = await import('node:fs');
		mkdirSync(join(folder, 'data'), { recursive: true });
		expect(await restoreIndexSnapshot({ snapshot, path: file })).toEqual({ previous: null });
		const index = openIndex({ path: file });
		opened.push(index);
		expect(index.archives.count()).toBe(1);
	});
});
