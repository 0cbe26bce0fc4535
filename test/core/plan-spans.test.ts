import { describe, expect, it } from 'vitest';
import { chunkCountFor, chunkRange, chunksSpanned, filesInRange, planArchive } from '../../src/core/plan.js';
import type { SourceEntry } from '../../src/core/walk.js';

/** Boundary tables for the span arithmetic of a plan: where files sit in the stream and which chunks hold them. */
const C = 8;

const file = (path: string, size: number): SourceEntry => ({ path, type: 'file', size, mode: 0o644, mtimeMs: 0 });
const folder = (path: string): SourceEntry => ({ path, type: 'directory', size: 0, mode: 0o755, mtimeMs: 0 });
const link = (path: string): SourceEntry => ({ path, type: 'symlink', size: 0, mode: 0, mtimeMs: 0, target: 'elsewhere' });

/** Per chunk, the names of the files with a byte in it, and every byte of the stream counted once. */
function layout(entries: readonly SourceEntry[]) {
	const plan = planArchive(entries, { chunkSize: C });
	const chunks = Array.from({ length: plan.chunkCount }, (_, index) => {
		const { start, end } = chunkRange(plan, index);
		return { start, end, files: filesInRange(plan.entries, start, end).map((entry) => entry.path) };
	});
	return { plan, chunks };
}

describe('one file against the chunk size', () => {
	it.each([
		{ size: 0, chunks: 0, spanned: [], lastEnd: null },
		{ size: 1, chunks: 1, spanned: [0], lastEnd: 1 },
		{ size: C - 1, chunks: 1, spanned: [0], lastEnd: C - 1 },
		{ size: C, chunks: 1, spanned: [0], lastEnd: C },
		{ size: C + 1, chunks: 2, spanned: [0, 1], lastEnd: C + 1 },
		{ size: 2 * C, chunks: 2, spanned: [0, 1], lastEnd: 2 * C },
		{ size: 2 * C + 1, chunks: 3, spanned: [0, 1, 2], lastEnd: 2 * C + 1 }
	])('GIVEN a file of $size B and chunks of 8 B WHEN planned THEN $chunks chunk(s), spanning $spanned', ({ size, chunks, spanned, lastEnd }) => {
		const { plan, chunks: laid } = layout([file('a', size)]);
		expect(plan.totalBytes).toBe(size);
		expect(plan.chunkCount).toBe(chunks);
		expect(chunkCountFor(size, C)).toBe(chunks);
		expect(plan.entries[0]!.offset).toBe(0);
		expect(chunksSpanned(C, 0, size)).toEqual(spanned);
		expect(laid.at(-1)?.end ?? null).toBe(lastEnd);
		for (const [index, chunk] of laid.entries()) {
			expect(chunk.start).toBe(index * C);
			expect(chunk.end - chunk.start).toBe(index < laid.length - 1 ? C : size - index * C);
			expect(chunk.files).toEqual(['a']);
		}
	});
});

describe('files straddling chunk boundaries', () => {
	it.each([
		{
			name: 'a file ending one byte before the boundary',
			sizes: [C - 1, 2],
			offsets: [0, C - 1],
			spans: [[0], [0, 1]],
			perChunk: [['f0', 'f1'], ['f1']]
		},
		{ name: 'a file ending on the boundary', sizes: [C, 1], offsets: [0, C], spans: [[0], [1]], perChunk: [['f0'], ['f1']] },
		{
			name: 'a file ending one byte after the boundary',
			sizes: [C + 1, C - 1],
			offsets: [0, C + 1],
			spans: [[0, 1], [1]],
			perChunk: [['f0'], ['f0', 'f1']]
		},
		{
			name: 'a file starting on a boundary and filling two chunks',
			sizes: [C, 2 * C],
			offsets: [0, C],
			spans: [[0], [1, 2]],
			perChunk: [['f0'], ['f1'], ['f1']]
		},
		{
			name: 'a file covering a whole middle chunk',
			sizes: [1, 2 * C, 1],
			offsets: [0, 1, 2 * C + 1],
			spans: [[0], [0, 1, 2], [2]],
			perChunk: [['f0', 'f1'], ['f1'], ['f1', 'f2']]
		},
		{
			name: 'one-byte files across a boundary',
			sizes: [1, 1, 1, 1, 1, 1, 1, 1, 1],
			offsets: [0, 1, 2, 3, 4, 5, 6, 7, 8],
			spans: [[0], [0], [0], [0], [0], [0], [0], [0], [1]],
			perChunk: [['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7'], ['f8']]
		}
	])('GIVEN $name WHEN planned THEN offsets, spans and chunk contents match the table', ({ sizes, offsets, spans, perChunk }) => {
		const { plan, chunks } = layout(sizes.map((size, index) => file(`f${index}`, size)));
		expect(plan.entries.map((entry) => entry.offset)).toEqual(offsets);
		expect(plan.entries.map((entry) => chunksSpanned(C, entry.offset!, entry.size))).toEqual(spans);
		expect(chunks.map((chunk) => chunk.files)).toEqual(perChunk);
		expect(plan.totalBytes).toBe(sizes.reduce((sum, size) => sum + size, 0));
	});
});

describe('entries without bytes between files', () => {
	it('GIVEN empty files, a folder and a symlink between two files WHEN planned THEN they take no bytes, span no chunk and sit in none', () => {
		const { plan, chunks } = layout([file('a', C - 1), file('empty1', 0), folder('dir'), file('dir/empty2', 0), link('dir/link'), file('b', 2)]);
		expect(plan.entries.map((entry) => [entry.path, entry.offset ?? null, entry.size])).toEqual([
			['a', 0, C - 1],
			['empty1', C - 1, 0],
			['dir', null, 0],
			['dir/empty2', C - 1, 0],
			['dir/link', null, 0],
			['b', C - 1, 2]
		]);
		expect(chunksSpanned(C, C - 1, 0)).toEqual([]);
		expect(chunks.map((chunk) => chunk.files)).toEqual([['a', 'b'], ['b']]);
		expect(plan.totals).toEqual({ files: 4, directories: 1, symlinks: 1 });
	});

	it('GIVEN only empty files WHEN planned THEN the stream is empty and there is no chunk', () => {
		const { plan, chunks } = layout([file('e1', 0), file('e2', 0)]);
		expect(plan.totalBytes).toBe(0);
		expect(plan.chunkCount).toBe(0);
		expect(chunks).toEqual([]);
		expect(plan.entries.map((entry) => entry.offset)).toEqual([0, 0]);
	});
});

describe('every byte in exactly one chunk', () => {
	it.each([[[0]], [[1]], [[C - 1]], [[C]], [[C + 1]], [[2 * C]], [[3, 0, 5, 0, 0, 9, 1]], [[C - 1, 1, C + 1, C - 1, 0, 2 * C]]])(
		'GIVEN files of %j B WHEN the chunks are laid out THEN the overlaps of files and chunks add up to every byte once',
		(sizes) => {
			const { plan, chunks } = layout(sizes.map((size, index) => file(`f${index}`, size)));
			const perFile = new Map<string, number>();
			for (const chunk of chunks) {
				let inChunk = 0;
				for (const entry of filesInRange(plan.entries, chunk.start, chunk.end)) {
					const overlap = Math.min(chunk.end, entry.offset! + entry.size) - Math.max(chunk.start, entry.offset!);
					expect(overlap).toBeGreaterThan(0);
					expect(chunksSpanned(C, entry.offset!, entry.size)).toContain(chunk.start / C);
					perFile.set(entry.path, (perFile.get(entry.path) ?? 0) + overlap);
					inChunk += overlap;
				}
				expect(inChunk).toBe(chunk.end - chunk.start);
			}
			for (const entry of plan.entries) expect(perFile.get(entry.path) ?? 0).toBe(entry.size);
		}
	);
});
