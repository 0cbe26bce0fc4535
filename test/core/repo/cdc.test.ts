import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CDC_GEAR, CDC_MAX_SIZE, CDC_MIN_SIZE, Chunker, chunkLengths, deriveGearTable } from '../../../src/core/repo/cdc.js';
import { vectorInput } from './cdc-input.js';

interface Vector {
	readonly seed: string | null;
	readonly zeros?: boolean;
	readonly length: number;
	readonly sha256: string;
	readonly lengths: number[];
}
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/fastcdc-vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[] };

function sum(values: readonly number[]): number {
	return values.reduce((a, b) => a + b, 0);
}

describe('FastCDC chunker', () => {
	it('GIVEN the checked-in gear table WHEN derived again from its seed THEN they are equal', () => {
		expect(Array.from(deriveGearTable())).toEqual(Array.from(CDC_GEAR));
		expect(CDC_GEAR.length).toBe(256);
	});

	it('GIVEN the test vectors WHEN chunked THEN the cut points are the pinned ones', () => {
		expect(fixture.vectors.length).toBeGreaterThanOrEqual(3);
		for (const vector of fixture.vectors) {
			const input = vector.zeros ? Buffer.alloc(vector.length) : vectorInput(vector.seed!, vector.length);
			expect(createHash('sha256').update(input).digest('hex')).toBe(vector.sha256);
			expect(chunkLengths(input)).toEqual(vector.lengths);
		}
	});

	it.each([
		[0, []],
		[1, [1]],
		[CDC_MIN_SIZE - 1, [CDC_MIN_SIZE - 1]],
		[CDC_MIN_SIZE, [CDC_MIN_SIZE]],
		[CDC_MIN_SIZE + 1, [CDC_MIN_SIZE + 1]]
	])('GIVEN %i bytes (below or at the minimum) WHEN chunked THEN the blobs are %j', (size, expected) => {
		expect(chunkLengths(randomBytes(size))).toEqual(expected);
	});

	it('GIVEN zero bytes at max−1, max, max+1 and 2·max WHEN chunked THEN no blob passes max and every byte is covered', () => {
		// Zero bytes make the hash periodic: whether it cuts is fixed by the table, so check the invariants.
		for (const size of [CDC_MAX_SIZE - 1, CDC_MAX_SIZE, CDC_MAX_SIZE + 1, 2 * CDC_MAX_SIZE]) {
			const lengths = chunkLengths(Buffer.alloc(size));
			expect(sum(lengths)).toBe(size);
			for (const length of lengths) expect(length).toBeLessThanOrEqual(CDC_MAX_SIZE);
			for (const length of lengths.slice(0, -1)) expect(length).toBeGreaterThanOrEqual(CDC_MIN_SIZE);
		}
	});

	it('GIVEN a run that never cuts WHEN chunked THEN blobs end at exactly max, and the rest is one more blob', () => {
		const never = { minSize: 4, avgSize: 8, maxSize: 16, maskS: -1, maskL: -1 };
		// With every mask bit set, a cut needs the whole hash to be 0, which these bytes never give.
		const bytes = Buffer.alloc(16 * 3 + 1, 7);
		const lengths = chunkLengths(bytes, never);
		expect(lengths).toEqual([16, 16, 16, 1]);
	});

	it('GIVEN real-size random data WHEN chunked THEN blobs lie within min and max and average near 1 MiB', () => {
		const input = vectorInput('discord-object-store/test/cdc-average', 48 * 1024 * 1024);
		const lengths = chunkLengths(input);
		expect(sum(lengths)).toBe(input.length);
		for (const length of lengths.slice(0, -1)) {
			expect(length).toBeGreaterThanOrEqual(CDC_MIN_SIZE);
			expect(length).toBeLessThanOrEqual(CDC_MAX_SIZE);
		}
		const mean = input.length / lengths.length;
		expect(mean).toBeGreaterThan(0.7 * 1024 * 1024);
		expect(mean).toBeLessThan(1.6 * 1024 * 1024);
	});

	it('GIVEN bytes inserted at the front WHEN chunked again THEN only the first blobs change and the cut points resync', () => {
		const input = vectorInput('discord-object-store/test/cdc-stability', 12 * 1024 * 1024);
		const ends = (lengths: number[], shift: number): Set<number> => {
			const out = new Set<number>();
			let at = -shift;
			for (const length of lengths) out.add((at += length));
			return out;
		};
		const before = chunkLengths(input);
		const beforeEnds = [...ends(before, 0)];
		for (const inserted of [1, 100, 5000, 300_000]) {
			const after = chunkLengths(Buffer.concat([vectorInput(`insert ${inserted}`, inserted), input]));
			const afterEnds = ends(after, inserted);
			const shared = beforeEnds.filter((end) => afterEnds.has(end));
			// Once one cut is found again, every later one is: the shared cuts are the tail of the original.
			expect(shared).toEqual(beforeEnds.slice(beforeEnds.length - shared.length));
			// An insert below the minimum changes the first blob only; a larger one shifts the mask regime
			// (normalized chunking) of a few blobs before the cuts resync.
			expect(shared.length).toBeGreaterThanOrEqual(inserted < CDC_MIN_SIZE ? before.length - 1 : before.length / 2);
		}
	});

	it('GIVEN any split of the stream into buffers WHEN chunked THEN the cut points are the same', () => {
		const input = vectorInput('discord-object-store/fastcdc-vectors/2', 5 * 1024 * 1024 + 12345);
		const expected = chunkLengths(input);
		fc.assert(
			fc.property(fc.array(fc.integer({ min: 0, max: 3 * 1024 * 1024 }), { maxLength: 12 }), (splits) => {
				const points = [...new Set(splits)].sort((a, b) => a - b);
				const chunker = new Chunker();
				const lengths: number[] = [];
				let from = 0;
				for (const point of [...points, input.length]) {
					lengths.push(...chunker.push(input.subarray(from, Math.max(from, point))));
					from = Math.max(from, point);
				}
				const last = chunker.finish();
				if (last !== undefined) lengths.push(last);
				expect(lengths).toEqual(expected);
			}),
			{ numRuns: 20 }
		);
	});
});
