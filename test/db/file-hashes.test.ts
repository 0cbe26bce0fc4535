import { afterEach, describe, expect, it } from 'vitest';
import { IndexErrorCode, type HistoryIndex } from '../../src/db/index.js';
import { fakeSha, memoryIndex, newArchive } from './index-fixture.js';

const opened: HistoryIndex[] = [];
afterEach(() => {
	for (const index of opened.splice(0)) index.close();
});

/**
 * Three data chunks of 1,000 B: `head.bin` spans chunks 0–1, `mid.txt` lies in chunk 1, `empty.txt` has no bytes,
 * `tail.bin` spans chunks 1–2.
 */
function planned(): { index: HistoryIndex; lot: number } {
	const index = memoryIndex();
	opened.push(index);
	const { lot } = index.archives.allocate(newArchive());
	index.archives.recordPlan(lot, {
		entries: [
			{ path: 'dir', type: 'directory' },
			{ path: 'head.bin', type: 'file', size: 1_500, offset: 0, firstChunk: 0, lastChunk: 1 },
			{ path: 'mid.txt', type: 'file', size: 300, offset: 1_500, firstChunk: 1, lastChunk: 1 },
			{ path: 'empty.txt', type: 'file', size: 0, offset: 1_800 },
			{ path: 'tail.bin', type: 'file', size: 1_200, offset: 1_800, firstChunk: 1, lastChunk: 2 }
		],
		chunks: [0, 1, 2].map((i) => ({ index: i, plainSize: 1_000 }))
	});
	return { index, lot };
}

const stored = (index: number) => ({
	index,
	messageId: `1${String(index).padStart(17, '0')}`,
	attachmentId: `2${String(index).padStart(17, '0')}`,
	filename: `261124-01.c${String(index).padStart(6, '0')}.abc.bin`,
	storedSize: 1_040,
	sha256: fakeSha('e')
});

function store(index: HistoryIndex, lot: number, chunk: number, completedFiles?: [string, string][]) {
	index.chunks.markInFlight(lot, { index: chunk, nonce: `n${chunk}` });
	return index.chunks.markStored(lot, { ...stored(chunk), ...(completedFiles ? { completedFiles } : {}) });
}

const hashOf = (index: HistoryIndex, lot: number, path: string) => index.entries.get(lot, path)?.sha256;

describe('file hashes recorded with the chunk that completes them', () => {
	it('GIVEN chunk 0 stored WHEN chunk 1 is stored with the files it completes THEN their hashes are recorded with it, and the others stay unknown', () => {
		const { index, lot } = planned();
		store(index, lot, 0);
		const row = store(index, lot, 1, [
			['head.bin', fakeSha('1')],
			['mid.txt', fakeSha('A')],
			['empty.txt', fakeSha('3')]
		]);
		expect(row.state).toBe('stored');
		expect(hashOf(index, lot, 'head.bin')).toBe(fakeSha('1'));
		// Hashes are kept in lower case, as every other hash of the index.
		expect(hashOf(index, lot, 'mid.txt')).toBe(fakeSha('a'));
		expect(hashOf(index, lot, 'empty.txt')).toBe(fakeSha('3'));
		expect(hashOf(index, lot, 'tail.bin')).toBeNull();
	});

	it('GIVEN a file with a chunk not stored yet WHEN its hash comes with a later chunk THEN INVALID_RECORD, and neither the chunk nor the hash is recorded', () => {
		const { index, lot } = planned();
		// Chunk 0, which holds the first bytes of head.bin, was never posted.
		index.chunks.markInFlight(lot, { index: 1, nonce: 'n1' });
		expect(() => index.chunks.markStored(lot, { ...stored(1), completedFiles: [['head.bin', fakeSha('1')]] })).toThrow(
			expect.objectContaining({
				code: IndexErrorCode.InvalidRecord,
				message: expect.stringContaining('not every chunk holding head.bin is stored')
			})
		);
		expect(index.chunks.get(lot, { index: 1 })?.state).toBe('in_flight');
		expect(index.archives.require(lot).storedChunkCount).toBe(0);
		expect(hashOf(index, lot, 'head.bin')).toBeNull();
	});

	it('GIVEN a recorded hash WHEN the same hash comes again THEN nothing changes; WHEN another comes THEN INVALID_RECORD and the first is kept', () => {
		const { index, lot } = planned();
		store(index, lot, 0);
		store(index, lot, 1, [['mid.txt', fakeSha('2')]]);
		// The same post recorded again (a retried commit) with the same hash is idempotent.
		expect(index.chunks.markStored(lot, { ...stored(1), completedFiles: [['mid.txt', fakeSha('2')]] }).state).toBe('stored');
		expect(() => index.chunks.markStored(lot, { ...stored(1), completedFiles: [['mid.txt', fakeSha('9')]] })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.InvalidRecord, message: expect.stringContaining('another sha256 is recorded') })
		);
		expect(hashOf(index, lot, 'mid.txt')).toBe(fakeSha('2'));
	});

	it('GIVEN hashes for no file of the archive, a malformed hash or a manifest part WHEN stored THEN INVALID_RECORD and the chunk stays unrecorded', () => {
		const { index, lot } = planned();
		store(index, lot, 0);
		index.chunks.markInFlight(lot, { index: 1, nonce: 'n1' });
		for (const completedFiles of [[['dir', fakeSha('1')]], [['nope.txt', fakeSha('1')]], [['mid.txt', 'not-a-hash']]] as [string, string][][]) {
			expect(() => index.chunks.markStored(lot, { ...stored(1), completedFiles })).toThrow(
				expect.objectContaining({ code: IndexErrorCode.InvalidRecord })
			);
		}
		expect(index.chunks.get(lot, { index: 1 })?.state).toBe('in_flight');
		index.chunks.markInFlight(lot, { kind: 'manifest', index: 0, nonce: 'm0' });
		expect(() => index.chunks.markStored(lot, { ...stored(0), kind: 'manifest', completedFiles: [['mid.txt', fakeSha('1')]] })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.InvalidRecord })
		);
		expect(index.chunks.get(lot, { kind: 'manifest', index: 0 })?.state).toBe('in_flight');
	});

	it('GIVEN hashes recorded chunk by chunk WHEN the end of the upload records every hash THEN only the files not recorded yet change', () => {
		const { index, lot } = planned();
		store(index, lot, 0);
		store(index, lot, 1, [
			['head.bin', fakeSha('1')],
			['mid.txt', fakeSha('2')]
		]);
		store(index, lot, 2);
		const all: [string, string][] = [
			['head.bin', fakeSha('1')],
			['mid.txt', fakeSha('2')],
			['empty.txt', fakeSha('3')],
			['tail.bin', fakeSha('4')]
		];
		expect(index.entries.setFileHashes(lot, all)).toBe(2);
		expect(index.entries.setFileHashes(lot, all)).toBe(0);
		expect(all.map(([path]) => hashOf(index, lot, path))).toEqual(all.map(([, sha256]) => sha256));
	});
});
