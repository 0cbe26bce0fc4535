import { afterEach, describe, expect, it } from 'vitest';
import { ArchiveFormat, ArchiveStatus, type HistoryIndex, IndexErrorCode, JobKind, JobStatus } from '../../src/db/index.js';
import { fakeSha, memoryIndex, newArchive } from './index-fixture.js';

const opened: HistoryIndex[] = [];
afterEach(() => {
	for (const index of opened.splice(0)) index.close();
});

const channelId = '100000000000000001';
const threadId = '100000000000000010';

function setup(): HistoryIndex {
	const index = memoryIndex();
	opened.push(index);
	return index;
}

function pack(name: string, blobIds: readonly string[], attachmentIndex = 0) {
	return {
		name: name.repeat(32),
		size: 1000,
		sha256: fakeSha(name),
		attachmentIndex,
		blobs: blobIds.map((id, position) => ({ id: id.repeat(64), offset: position * 100, storedLength: 100, rawLength: 72, codec: 'gzip-6' }))
	};
}

describe('format 2 packs index', () => {
	it('GIVEN packs recorded in flight then stored WHEN the channel is asked THEN only stored packs count as known, and stored bytes follow', () => {
		const index = setup();
		const a = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId }));
		index.packs.markInFlight(a.lot, { threadId, messageIndex: 0, nonce: 'd1' }, [pack('a', ['1', '2']), pack('b', ['3'], 1)]);
		expect(index.packs.knownBlobs(channelId)).toEqual(new Set());
		expect(index.packs.list(a.lot).map((row) => row.state)).toEqual(['in_flight', 'in_flight']);
		index.packs.markStored(a.lot, [{ name: 'a'.repeat(32), messageId: '100000000000000020', attachmentId: '100000000000000021' }]);
		expect(index.packs.knownBlobs(channelId)).toEqual(new Set(['1'.repeat(64), '2'.repeat(64)]));
		expect(index.archives.require(a.lot).storedBytes).toBe(1000);
		// Recording the same post again (a reconciled answer) changes nothing.
		index.packs.markStored(a.lot, [{ name: 'a'.repeat(32), messageId: '100000000000000020', attachmentId: '100000000000000021' }]);
		expect(index.archives.require(a.lot).storedBytes).toBe(1000);
		const located = index.packs.locate(channelId, ['1'.repeat(64), '3'.repeat(64)]);
		expect([...located.keys()]).toEqual(['1'.repeat(64)]);
		expect(located.get('1'.repeat(64))).toMatchObject({ offset: 0, storedLength: 100, rawLength: 72, codec: 'gzip-6' });
		expect(index.packs.knownBlobs('100000000000000099')).toEqual(new Set());
		// A cleanup marks the packs nothing needs `deleting` with the archive deleted: no longer known, nor located.
		index.packs.beginCleanup(channelId, a.lot);
		expect(index.archives.require(a.lot).status).toBe(ArchiveStatus.Deleted);
		expect(index.packs.knownBlobs(channelId)).toEqual(new Set());
		expect(index.packs.locate(channelId, ['1'.repeat(64)]).size).toBe(0);
	});

	it('GIVEN stored and in-flight packs of live and cleaned-up archives WHEN the repository totals are asked THEN only stored packs count, each blob once', () => {
		const index = setup();
		expect(index.status().repository).toEqual({ archives: 0, packs: 0, storedBytes: 0, blobs: 0, rawBytes: 0 });
		const a = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId }));
		index.packs.markInFlight(a.lot, { threadId, messageIndex: 0, nonce: 't1' }, [pack('a', ['1', '2']), pack('b', ['3'], 1)]);
		index.packs.markStored(a.lot, [{ name: 'a'.repeat(32), messageId: '100000000000000020', attachmentId: '100000000000000021' }]);
		const b = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId }));
		index.packs.markInFlight(b.lot, { threadId, messageIndex: 0, nonce: 't2' }, [pack('c', ['4', '1'])]);
		index.packs.markStored(b.lot, [{ name: 'c'.repeat(32), messageId: '100000000000000030', attachmentId: '100000000000000031' }]);
		// Blob 1 is in two stored packs: one blob, its bytes counted in each.
		expect(index.status().repository).toEqual({ archives: 2, packs: 2, storedBytes: 2000, blobs: 3, rawBytes: 4 * 72 });
		index.packs.beginCleanup(channelId, b.lot);
		expect(index.status().repository).toEqual({ archives: 1, packs: 1, storedBytes: 1000, blobs: 2, rawBytes: 2 * 72 });
	});

	it('GIVEN a pack recorded twice, malformed or never recorded WHEN recorded THEN it is refused', () => {
		const index = setup();
		const a = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId }));
		index.packs.markInFlight(a.lot, { threadId, messageIndex: 0, nonce: 'd1' }, [pack('a', ['1'])]);
		index.packs.setReferences(a.lot, ['1'.repeat(64), '1'.repeat(64)]);
		expect(index.packs.countReferences(a.lot)).toBe(1);
		expect(() => index.packs.markInFlight(a.lot, { threadId, messageIndex: 1, nonce: 'd2' }, [pack('a', ['4'])])).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ChunkConflict })
		);
		const outside = { ...pack('c', ['5']), size: 50 };
		expect(() => index.packs.markInFlight(a.lot, { threadId, messageIndex: 1, nonce: 'd2' }, [outside])).toThrow(
			expect.objectContaining({ code: IndexErrorCode.InvalidRecord })
		);
		expect(() => {
			index.packs.markStored(a.lot, [{ name: 'e'.repeat(32), messageId: '100000000000000020', attachmentId: '100000000000000021' }]);
		}).toThrow(expect.objectContaining({ code: IndexErrorCode.ChunkNotFound }));
	});

	it('GIVEN a stored and an in-flight pack WHEN a resume forgets them THEN their rows and blobs go, stored bytes follow, and recording the entries keeps the bytes of the packs still stored', () => {
		const index = setup();
		const a = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId }));
		index.packs.markInFlight(a.lot, { threadId, messageIndex: 0, nonce: 'f1' }, [pack('a', ['1', '2']), pack('b', ['3'], 1)]);
		index.packs.markStored(a.lot, [
			{ name: 'a'.repeat(32), messageId: '100000000000000020', attachmentId: '100000000000000021' },
			{ name: 'b'.repeat(32), messageId: '100000000000000020', attachmentId: '100000000000000022' }
		]);
		index.packs.markInFlight(a.lot, { threadId, messageIndex: 1, nonce: 'f2' }, [pack('c', ['4'])]);
		expect(index.packs.storedBlobsOf(a.lot)).toEqual(new Set(['1'.repeat(64), '2'.repeat(64), '3'.repeat(64)]));
		expect(index.archives.require(a.lot).storedBytes).toBe(2000);
		expect(index.packs.forget(a.lot, ['b'.repeat(32), 'c'.repeat(32), 'd'.repeat(32)])).toBe(2);
		expect(index.packs.list(a.lot).map((row) => row.name)).toEqual(['a'.repeat(32)]);
		expect(index.packs.storedBlobsOf(a.lot)).toEqual(new Set(['1'.repeat(64), '2'.repeat(64)]));
		expect(index.packs.knownBlobs(channelId)).toEqual(new Set(['1'.repeat(64), '2'.repeat(64)]));
		expect(index.archives.require(a.lot).storedBytes).toBe(1000);
		// The manifest's entries are recorded as a plan without chunks: the packs' bytes stay counted.
		index.archives.recordPlan(a.lot, { entries: [], chunks: [] });
		expect(index.archives.require(a.lot).storedBytes).toBe(1000);
	});

	it("GIVEN A, then B reusing a blob of one of the two packs of A's message WHEN A is cleaned up THEN the whole message stays, B keeps it, and it goes with B", () => {
		const index = setup();
		const a = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId }));
		index.packs.markInFlight(a.lot, { threadId, messageIndex: 0, nonce: 'p1' }, [pack('a', ['1']), pack('b', ['2'], 1)]);
		index.packs.markStored(a.lot, [
			{ name: 'a'.repeat(32), messageId: '100000000000000020', attachmentId: '100000000000000021' },
			{ name: 'b'.repeat(32), messageId: '100000000000000020', attachmentId: '100000000000000022' }
		]);
		index.packs.markInFlight(a.lot, { threadId, messageIndex: 1, nonce: 'p2' }, [pack('c', ['3'])]);
		index.packs.markStored(a.lot, [{ name: 'c'.repeat(32), messageId: '100000000000000030', attachmentId: '100000000000000031' }]);
		index.packs.setReferences(
			a.lot,
			['1', '2', '3'].map((id) => id.repeat(64)),
			channelId
		);
		const b = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId }));
		index.packs.setReferences(b.lot, ['1'.repeat(64)], channelId);
		const preview = index.packs.planCleanup(channelId, a.lot);
		expect(index.archives.require(a.lot).status).not.toBe(ArchiveStatus.Deleted);
		expect(preview.doomed.map((row) => row.name)).toEqual(['c'.repeat(32)]);
		expect(preview.kept.map((row) => row.name)).toEqual(['a'.repeat(32), 'b'.repeat(32)]);
		expect(preview).toMatchObject({ keptUnneeded: 1, keptBy: [b.id], keptByCount: 1 });
		const begun = index.packs.beginCleanup(channelId, a.lot);
		expect(begun.doomed.map((row) => row.state)).toEqual(['deleting']);
		// Pack b is kept (its message holds a), so blob 2 is still offered; blob 3 no longer.
		expect(index.packs.knownBlobs(channelId)).toEqual(new Set(['1'.repeat(64), '2'.repeat(64)]));
		// A second run (a crash before the rows were dropped) finds the same `deleting` pack.
		expect(index.packs.beginCleanup(channelId, a.lot).doomed.map((row) => row.name)).toEqual(['c'.repeat(32)]);
		expect(index.packs.dropDeleted(begun.doomed.map((row) => row.id))).toBe(1);
		// A kept pack is never dropped.
		expect(index.packs.dropDeleted(begun.kept.map((row) => row.id))).toBe(0);
		// An upload that counted blob 3 as stored cannot record it now.
		const c = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId }));
		expect(() => {
			index.packs.setReferences(c.lot, ['1'.repeat(64), '3'.repeat(64)], channelId);
		}).toThrow(expect.objectContaining({ code: IndexErrorCode.ChunkNotFound }));
		expect(index.packs.countReferences(c.lot)).toBe(0);
		// B cleaned up: A's kept packs go with it (A is deleted already).
		const last = index.packs.beginCleanup(channelId, b.lot);
		expect(last.doomed.map((row) => row.name)).toEqual(['a'.repeat(32), 'b'.repeat(32)]);
		expect(last).toMatchObject({ kept: [], keptBy: [], keptByCount: 0 });
		expect(index.packs.knownBlobs(channelId)).toEqual(new Set());
	});

	it('GIVEN a format 2 upload running in the channel WHEN a cleanup begins THEN it is refused and nothing is marked', () => {
		const index = setup();
		const a = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId }));
		const running = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId }));
		const job = index.jobs.acquire({ kind: JobKind.Upload, lot: running.lot, holder: 'test:1', leaseMs: 60_000 });
		expect(() => index.packs.beginCleanup(channelId, a.lot)).toThrow(expect.objectContaining({ code: IndexErrorCode.ArchiveBusy }));
		expect(index.archives.require(a.lot).status).not.toBe(ArchiveStatus.Deleted);
		index.jobs.release(job.id, 'test:1', { status: JobStatus.Done });
		index.packs.beginCleanup(channelId, a.lot);
		expect(index.archives.require(a.lot).status).toBe(ArchiveStatus.Deleted);
	});

	it('GIVEN complete format 2 archives of a folder WHEN the parent of a new one is asked THEN it is the newest complete one of that folder and channel', () => {
		const index = setup();
		const older = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId, source: 'photos' }));
		index.archives.setStatus(older.lot, ArchiveStatus.Complete);
		const newer = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId, source: 'photos' }));
		index.archives.setStatus(newer.lot, ArchiveStatus.Complete);
		const failed = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId, source: 'photos' }));
		index.archives.setStatus(failed.lot, ArchiveStatus.Failed);
		const other = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos1, channelId, source: 'photos' }));
		index.archives.setStatus(other.lot, ArchiveStatus.Complete);
		const current = index.archives.allocate(newArchive({ format: ArchiveFormat.Dos2, channelId, source: 'photos' }));
		expect(index.packs.parentOf(channelId, 'photos', current.lot)?.id).toBe(newer.id);
		expect(index.packs.parentOf(channelId, 'music', current.lot)).toBeUndefined();
	});
});
