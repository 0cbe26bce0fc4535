import { afterEach, describe, expect, it } from 'vitest';
import { IndexErrorCode, type HistoryIndex } from '../../src/db/index.js';
import { fakeSha, memoryIndex, newArchive } from './index-fixture.js';

const opened: HistoryIndex[] = [];
afterEach(() => {
	for (const index of opened.splice(0)) index.close();
});

function planned(chunkCount = 3): { index: HistoryIndex; lot: number } {
	const index = memoryIndex();
	opened.push(index);
	const { lot } = index.archives.allocate(newArchive());
	index.archives.recordPlan(lot, {
		entries: [{ path: 'big.bin', type: 'file', size: chunkCount * 1_000, offset: 0, firstChunk: 0, lastChunk: chunkCount - 1 }],
		chunks: Array.from({ length: chunkCount }, (_, i) => ({ index: i, plainSize: 1_000 }))
	});
	return { index, lot };
}

const stored = (index: number, size = 1_040) => ({
	index,
	messageId: `1${String(index).padStart(17, '0')}`,
	attachmentId: `2${String(index).padStart(17, '0')}`,
	filename: `261124-01.c${String(index).padStart(6, '0')}.abc.bin`,
	storedSize: size,
	sha256: fakeSha('e')
});

describe('chunk transitions', () => {
	it('GIVEN a pending chunk WHEN marked in flight then stored THEN each step is recorded and the archive counters follow', () => {
		const { index, lot } = planned();
		const inFlight = index.chunks.markInFlight(lot, {
			index: 0,
			nonce: 'dos-1-0-a1b2',
			plainSha256: fakeSha('0'),
			compressed: false,
			storedSize: 1_040
		});
		expect(inFlight).toMatchObject({
			state: 'in_flight',
			postNonce: 'dos-1-0-a1b2',
			plainSha256: fakeSha('0'),
			compressed: false,
			messageId: null
		});
		expect(index.archives.get(lot)).toMatchObject({ storedChunkCount: 0, storedBytes: 0 });
		expect(index.chunks.findByNonce('dos-1-0-a1b2')?.index).toBe(0);

		const done = index.chunks.markStored(lot, stored(0));
		expect(done).toMatchObject({
			state: 'stored',
			messageId: stored(0).messageId,
			attachmentId: stored(0).attachmentId,
			storedSize: 1_040,
			postNonce: 'dos-1-0-a1b2'
		});
		expect(index.archives.get(lot)).toMatchObject({ storedChunkCount: 1, storedBytes: 1_040 });
		// Recording the same post again (a retried commit) changes nothing.
		index.chunks.markStored(lot, stored(0));
		expect(index.archives.get(lot)).toMatchObject({ storedChunkCount: 1, storedBytes: 1_040 });
		expect(index.chunks.countByState(lot).data).toEqual({ pending: 2, in_flight: 0, stored: 1, bad: 0, missing: 0 });
	});

	it('GIVEN chunks in several states WHEN listed by state THEN only those come back, in index order', () => {
		const { index, lot } = planned(5);
		index.chunks.markInFlight(lot, { index: 3, nonce: 'n3' });
		index.chunks.markInFlight(lot, { index: 1, nonce: 'n1' });
		index.chunks.markStored(lot, stored(1));
		expect(index.chunks.list(lot, { states: ['pending', 'in_flight'] }).map((chunk) => chunk.index)).toEqual([0, 2, 3, 4]);
		expect(index.chunks.list(lot, { states: ['stored'] }).map((chunk) => chunk.index)).toEqual([1]);
		expect(index.chunks.list(lot, { states: [] })).toEqual([]);
	});

	it('GIVEN a stored chunk WHEN posted again or stored in another message THEN CHUNK_CONFLICT, and nothing changes', () => {
		const { index, lot } = planned();
		index.chunks.markInFlight(lot, { index: 0, nonce: 'n0' });
		index.chunks.markStored(lot, stored(0));
		expect(() => index.chunks.markInFlight(lot, { index: 0, nonce: 'n0-again' })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ChunkConflict })
		);
		expect(() => index.chunks.markStored(lot, { ...stored(0), messageId: '999999999999999999' })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ChunkConflict })
		);
		expect(index.chunks.get(lot, { index: 0 })).toMatchObject({ state: 'stored', messageId: stored(0).messageId });
	});

	it('GIVEN a nonce already used WHEN another chunk is marked in flight with it THEN CHUNK_CONFLICT', () => {
		const { index, lot } = planned();
		index.chunks.markInFlight(lot, { index: 0, nonce: 'same' });
		expect(() => index.chunks.markInFlight(lot, { index: 1, nonce: 'same' })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ChunkConflict })
		);
		expect(() => index.chunks.markInFlight(lot, { index: 1, nonce: 'x'.repeat(26) })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.InvalidRecord })
		);
		expect(index.chunks.get(lot, { index: 1 })?.state).toBe('pending');
	});

	it('GIVEN a data chunk outside the plan WHEN marked THEN CHUNK_NOT_FOUND; a manifest part is created on its first post', () => {
		const { index, lot } = planned();
		expect(() => index.chunks.markInFlight(lot, { index: 9, nonce: 'n9' })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ChunkNotFound })
		);
		expect(() => index.chunks.markStored(lot, { ...stored(9) })).toThrow(expect.objectContaining({ code: IndexErrorCode.ChunkNotFound }));
		index.chunks.markInFlight(lot, { kind: 'manifest', index: 0, nonce: 'm0' });
		index.chunks.markStored(lot, { ...stored(0, 300), kind: 'manifest' });
		// Manifest parts add stored bytes but are not data chunks.
		expect(index.archives.get(lot)).toMatchObject({ storedChunkCount: 0, storedBytes: 300 });
		expect(index.chunks.list(lot, { kind: 'manifest' }).map((chunk) => chunk.state)).toEqual(['stored']);
		expect(() => index.chunks.markInFlight(999, { kind: 'manifest', index: 0, nonce: 'm-x' })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ArchiveNotFound })
		);
	});

	it('GIVEN stored chunks WHEN a verification marks them bad or missing THEN counters drop and a resume can post them again', () => {
		const { index, lot } = planned();
		for (const i of [0, 1, 2]) {
			index.chunks.markInFlight(lot, { index: i, nonce: `n${i}` });
			index.chunks.markStored(lot, stored(i));
		}
		expect(index.archives.get(lot)).toMatchObject({ storedChunkCount: 3, storedBytes: 3_120 });
		expect(index.chunks.markState(lot, [{ index: 1 }], 'bad')).toBe(1);
		expect(index.chunks.markState(lot, [{ index: 2 }, { index: 2 }], 'missing')).toBe(1);
		expect(index.chunks.get(lot, { index: 1 })).toMatchObject({ state: 'bad', messageId: stored(1).messageId });
		expect(index.chunks.get(lot, { index: 2 })).toMatchObject({ state: 'missing', messageId: null });
		expect(index.archives.get(lot)).toMatchObject({ storedChunkCount: 1, storedBytes: 1_040 });
		index.chunks.markInFlight(lot, { index: 1, nonce: 'n1-retry' });
		index.chunks.markStored(lot, { ...stored(1), messageId: '777777777777777777' });
		expect(index.archives.get(lot)).toMatchObject({ storedChunkCount: 2, storedBytes: 2_080 });
	});

	it('GIVEN a chunk left in flight by a crash WHEN the resume finds its message in the thread THEN it is recorded as stored', () => {
		const { index, lot } = planned();
		index.chunks.markInFlight(lot, { index: 2, nonce: 'crash' });
		const found = index.chunks.findByNonce('crash')!;
		index.chunks.markStored(lot, { ...stored(found.index) });
		expect(index.chunks.get(lot, { index: 2 })?.state).toBe('stored');
	});
});
