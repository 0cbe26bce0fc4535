import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
	ChunkKind,
	CoreErrorCode,
	deriveArchiveKey,
	newArchiveUid,
	openChunk,
	planArchive,
	planSliceReads,
	type SealedChunk,
	sliceArchive,
	walk
} from '../../src/core/index.js';

import { nextCase, pool, useCoreWorkspace } from '../support/core-workspace.js';

useCoreWorkspace({ workers: 2 });

/** Whole seconds, so an mtime set again after a rewrite is exactly the planned one. */
const planned = new Date(2024, 0, 1, 12, 0, 0);

/**
 * Chunks of 100 B over 680 B: a.bin [0, 250) spans chunks 0–2, b.bin [250, 370) chunks 2–3, empty.txt sits at 370,
 * c.bin [370, 450) spans chunks 3–4, d.bin [450, 680) chunks 4–6.
 */
async function source() {
	const root = nextCase('src');
	await mkdir(root, { recursive: true });
	const files = {
		'a.bin': randomBytes(250),
		'b.bin': randomBytes(120),
		'empty.txt': Buffer.alloc(0),
		'c.bin': randomBytes(80),
		'd.bin': randomBytes(230)
	};
	for (const [name, content] of Object.entries(files)) {
		await writeFile(path.join(root, name), content);
		await utimes(path.join(root, name), planned, planned);
	}
	const walked = await walk(root);
	// The walk orders by name; keep the layout above whatever it is.
	const order = Object.keys(files);
	const plan = planArchive(
		[...walked.entries].sort((x, y) => order.indexOf(x.path) - order.indexOf(y.path)),
		{ chunkSize: 100 }
	);
	const key = await deriveArchiveKey('pw', { iterations: 100 });
	const uid = newArchiveUid();
	const slice = (options: { stored?: ReadonlyMap<number, string>; knownFileHashes?: ReadonlyMap<string, string> } = {}) =>
		sliceArchive({ root, plan, key, uid, archiveId: '#010125-01', pool, ...options });
	const full = slice();
	const chunks = await collect(full);
	return { root, plan, key, uid, slice, chunks, fileHashes: new Map(full.fileHashes) };
}

async function collect(iterable: AsyncIterable<SealedChunk>): Promise<SealedChunk[]> {
	const out: SealedChunk[] = [];
	for await (const chunk of iterable) out.push(chunk);
	return out;
}

/** Changes bytes of a file in place, keeping its size and its planned mtime (a change only a read can see). */
async function rewriteInPlace(file: string, at: number): Promise<void> {
	const bytes = await readFile(file);
	bytes[at] = bytes[at]! ^ 0xff;
	await writeFile(file, bytes);
	await utimes(file, planned, planned);
}

const storedExcept = (chunks: readonly SealedChunk[], missing: readonly number[]) =>
	new Map(chunks.filter((chunk) => !missing.includes(chunk.index)).map((chunk) => [chunk.index, chunk.plainSha256]));

const pick = (hashes: ReadonlyMap<string, string>, paths: readonly string[]) => new Map(paths.map((p) => [p, hashes.get(p)!]));

describe('what a resume reads', () => {
	it('GIVEN no stored chunk WHEN planned THEN every file is read and every chunk sealed', async () => {
		const { plan } = await source();
		const reads = planSliceReads(plan);
		expect([...reads.files]).toEqual(['a.bin', 'b.bin', 'empty.txt', 'c.bin', 'd.bin']);
		expect(reads.bytes).toBe(680);
		expect(reads.counts).toEqual({ seal: 7, check: 0, skip: 0 });
	});

	it('GIVEN chunks 4–5 missing and the hashes of the files wholly in stored chunks WHEN planned THEN only the files touching a missing chunk are read', async () => {
		const { plan, chunks, fileHashes } = await source();
		const reads = planSliceReads(plan, storedExcept(chunks, [4, 5]), pick(fileHashes, ['a.bin', 'b.bin', 'empty.txt']));
		expect([...reads.files]).toEqual(['c.bin', 'd.bin']);
		// Whole chunks are read: chunk 3 holds the end of b.bin (read for the check, not hashed) and the start of c.bin.
		expect(reads.bytes).toBe(100 + 100 + 100 + 80);
		expect(reads.chunks).toEqual(['skip', 'skip', 'skip', 'check', 'seal', 'seal', 'check']);
	});

	it('GIVEN every chunk stored WHEN a file hash is not recorded THEN that file is read and the stored chunks it covers in full are re-checked', async () => {
		const { plan, chunks, fileHashes } = await source();
		const reads = planSliceReads(plan, storedExcept(chunks, []), pick(fileHashes, ['b.bin', 'empty.txt', 'c.bin', 'd.bin']));
		expect([...reads.files]).toEqual(['a.bin']);
		expect(reads.chunks).toEqual(['check', 'check', 'check', 'skip', 'skip', 'skip', 'skip']);
		const none = planSliceReads(plan, storedExcept(chunks, []), fileHashes);
		expect(none.files.size).toBe(0);
		expect(none.counts).toEqual({ seal: 0, check: 0, skip: 7 });
	});
});

describe('slicing a resume', () => {
	it('GIVEN files wholly in stored chunks with known hashes, one deleted and one rewritten WHEN resumed THEN the slicing succeeds without them and matches a full slicing', async () => {
		const { root, key, uid, slice, chunks, fileHashes } = await source();
		// Neither can be read as it was: any read of them would fail or hash differently.
		await rm(path.join(root, 'a.bin'));
		await rewriteInPlace(path.join(root, 'b.bin'), 10);
		const again = slice({ stored: storedExcept(chunks, [4, 5]), knownFileHashes: pick(fileHashes, ['a.bin', 'b.bin', 'empty.txt']) });
		const resumed = await collect(again);
		expect(again.done).toBe(true);
		expect(resumed.map((chunk) => chunk.index)).toEqual([4, 5]);
		const keyBytes = key.exportBytes();
		for (const chunk of resumed) {
			const original = chunks[chunk.index]!;
			expect(chunk.plainSha256).toBe(original.plainSha256);
			const plain = openChunk({ sealed: chunk.bytes, archiveKey: keyBytes, expect: { kind: ChunkKind.Data, uid, index: chunk.index } }).plain;
			expect(Buffer.from(plain)).toEqual(
				Buffer.from(
					openChunk({ sealed: original.bytes, archiveKey: keyBytes, expect: { kind: ChunkKind.Data, uid, index: chunk.index } }).plain
				)
			);
		}
		expect(again.fileHashes).toEqual(fileHashes);
		// c.bin ends in chunk 4 and rides on it; d.bin ends in stored chunk 6, after the last chunk yielded.
		expect(resumed[0]!.completedFiles).toEqual(pick(fileHashes, ['c.bin']));
		expect(resumed[1]!.completedFiles).toEqual(new Map());
	});

	it('GIVEN a full slicing WHEN each chunk is yielded THEN it carries exactly the files whose last byte it holds', async () => {
		const { chunks, fileHashes } = await source();
		expect(chunks.map((chunk) => [...chunk.completedFiles.keys()])).toEqual([
			[],
			[],
			['a.bin'],
			['b.bin', 'empty.txt'],
			['c.bin'],
			[],
			['d.bin']
		]);
		expect(new Map(chunks.flatMap((chunk) => [...chunk.completedFiles]))).toEqual(fileHashes);
	});

	it('GIVEN a file spanning missing chunks and a stored one WHEN its bytes in the stored chunk changed THEN SOURCE_CHANGED names it and that chunk', async () => {
		const { root, slice, chunks, fileHashes } = await source();
		// d.bin [450, 680): byte 200 is stream byte 650, in stored chunk 6, which d.bin covers in full.
		await rewriteInPlace(path.join(root, 'd.bin'), 200);
		await expect(
			collect(slice({ stored: storedExcept(chunks, [4, 5]), knownFileHashes: pick(fileHashes, ['a.bin', 'b.bin', 'empty.txt']) }))
		).rejects.toMatchObject({ code: CoreErrorCode.SourceChanged, details: { paths: ['d.bin'], chunks: [6] } });
	});

	it('GIVEN a file with a recorded hash that overlaps a missing chunk WHEN its bytes there changed THEN SOURCE_CHANGED names it', async () => {
		const { root, slice, chunks, fileHashes } = await source();
		// Chunk 1 went missing after everything was stored; a.bin byte 150 lies in it, so no stored chunk sees the change.
		await rewriteInPlace(path.join(root, 'a.bin'), 150);
		const error = await collect(slice({ stored: storedExcept(chunks, [1]), knownFileHashes: fileHashes })).catch((e: unknown) => e);
		expect(error).toMatchObject({ code: CoreErrorCode.SourceChanged, details: { paths: ['a.bin'] }, message: expect.stringContaining('a.bin') });
	});

	it('GIVEN a file spanning a stored chunk it shares with a file not re-read, and a missing chunk WHEN resumed THEN the shared chunk is read whole and checked, and the file is hashed whole', async () => {
		const { slice, chunks, fileHashes } = await source();
		// c.bin [370, 450) starts in stored chunk 3, which also holds b.bin's end [300, 370).
		const again = slice({ stored: storedExcept(chunks, [4]), knownFileHashes: pick(fileHashes, ['a.bin', 'b.bin', 'empty.txt', 'd.bin']) });
		expect(again.reads.chunks).toEqual(['skip', 'skip', 'skip', 'check', 'seal', 'check', 'check']);
		const resumed = await collect(again);
		expect(resumed.map((chunk) => chunk.index)).toEqual([4]);
		expect(resumed[0]!.completedFiles.get('c.bin')).toBe(fileHashes.get('c.bin'));
		expect(again.fileHashes).toEqual(fileHashes);
	});

	it('GIVEN a re-read file whose bytes in a shared stored chunk changed (same size and mtime) WHEN resumed THEN SOURCE_CHANGED names that chunk and its files', async () => {
		const { root, slice, chunks, fileHashes } = await source();
		// c.bin byte 10 is stream byte 380, in stored chunk 3 next to b.bin's end; c.bin has no recorded hash to compare.
		await rewriteInPlace(path.join(root, 'c.bin'), 10);
		const error = await collect(
			slice({ stored: storedExcept(chunks, [4]), knownFileHashes: pick(fileHashes, ['a.bin', 'b.bin', 'empty.txt', 'd.bin']) })
		).catch((e: unknown) => e);
		expect(error).toMatchObject({
			code: CoreErrorCode.SourceChanged,
			details: { chunks: [3], paths: expect.arrayContaining(['b.bin', 'c.bin']) }
		});
	});

	it('GIVEN a file not re-read that shares a stored chunk with a re-read one WHEN it is gone THEN the chunk cannot be checked and SOURCE_CHANGED names it', async () => {
		const { root, slice, chunks, fileHashes } = await source();
		await rm(path.join(root, 'b.bin'));
		const error = await collect(
			slice({ stored: storedExcept(chunks, [4]), knownFileHashes: pick(fileHashes, ['a.bin', 'b.bin', 'empty.txt', 'd.bin']) })
		).catch((e: unknown) => e);
		expect(error).toMatchObject({ code: CoreErrorCode.SourceChanged, details: { paths: ['b.bin'] } });
	});
});
