import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
	assembleFromRepository,
	CoreError,
	CoreErrorCode,
	type CryptoPool,
	MIN_PACK_SIZE,
	parseCodec,
	sliceToRepository
} from '../../../src/core/index.js';
import { CDC_MAX_SIZE, chunkLengths } from '../../../src/core/repo/cdc.js';
import { blobId } from '../../../src/core/repo/blob.js';
import { readItems } from '../../../src/core/repo/reader.js';
import { PASS, pool, useCoreWorkspace, freshCase } from '../../support/core-workspace.js';
import { describeTree } from '../../support/tree.js';
import { vectorInput } from './cdc-input.js';

useCoreWorkspace({ workers: 2, prefix: 'dos-slice2-' });
const fresh = freshCase;

const slice = (source: string, repo: string, using: CryptoPool = pool) =>
	sliceToRepository({
		source,
		repo,
		passphrase: PASS,
		pool: using,
		codec: parseCodec('gzip-1'),
		packSize: MIN_PACK_SIZE,
		dedup: 'repository',
		tool: 'test'
	});

/** The pool, with its read and walk tasks counted, and a hook that runs before the first read task is handed on. */
function countingPool(beforeFirstRead?: () => Promise<void>) {
	const counts = { walks: 0, readTasks: 0, items: [] as string[] };
	let hook = beforeFirstRead;
	const counted: CryptoPool = {
		...pool,
		async walk(root, signal) {
			counts.walks++;
			return pool.walk(root, signal);
		},
		async readBlobs(task, signal) {
			counts.readTasks++;
			counts.items.push(...task.items.map((item) => item.path));
			const run = hook;
			hook = undefined;
			await run?.();
			return pool.readBlobs(task, signal);
		}
	};
	return { counted, counts };
}

async function expectSourceChanged(work: Promise<unknown>, file: string): Promise<void> {
	const error = await work.then(
		() => undefined,
		(thrown: unknown) => thrown
	);
	expect(error).toBeInstanceOf(CoreError);
	expect((error as CoreError).code).toBe(CoreErrorCode.SourceChanged);
	expect((error as CoreError).message).toContain(file);
	expect((error as CoreError).details).toMatchObject({ paths: [file] });
}

describe('format 2 slicing in the worker pool', () => {
	it('GIVEN 3,000 small files WHEN sliced THEN a handful of worker tasks read them all, and the tree assembles byte for byte', async () => {
		const source = await fresh('src');
		for (let folder = 0; folder < 30; folder++) {
			await mkdir(path.join(source, `d${folder}`));
			for (let index = 0; index < 100; index++) {
				const name = path.join(source, `d${folder}`, `f${index}.txt`);
				// Some duplicates (dedup within the run), some random, some empty.
				const body =
					index % 10 === 0 ? 'same content\n' : index % 7 === 0 ? randomBytes(index * 37) : `file ${folder}/${index}\n`.repeat(index % 5);
				await writeFile(name, body);
			}
		}
		const repo = path.join(await fresh('repo'), 'r');
		const { counted, counts } = countingPool();
		const sliced = await slice(source, repo, counted);
		expect(sliced.manifest.totals.files).toBe(3000);
		// Every file was opened by a worker task, once, and many files went to each task: none by this thread.
		expect(counts.walks).toBe(1);
		expect(counts.items).toHaveLength(3000);
		expect(new Set(counts.items).size).toBe(3000);
		expect(counts.readTasks).toBeLessThanOrEqual(5);
		// Manifest entries stay in walk order, and identical files share one blob.
		const paths = sliced.manifest.entries.map((entry) => entry.path);
		expect(paths).toEqual([...paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
		expect(sliced.manifest.totals.reusedBytes).toBe(299 * 'same content\n'.length);
		const out = path.join(await fresh('out'), 'o');
		await assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool });
		expect(await describeTree(out)).toEqual(await describeTree(source));
	});

	it('GIVEN a small file that grows between the walk and its read WHEN sliced THEN SOURCE_CHANGED names it and no pack is left half written', async () => {
		const source = await fresh('src');
		for (let index = 0; index < 20; index++) await writeFile(path.join(source, `f${index}.txt`), `file ${index}\n`);
		const repo = path.join(await fresh('repo'), 'r');
		const { counted } = countingPool(() => appendFile(path.join(source, 'f13.txt'), 'more'));
		await expectSourceChanged(slice(source, repo, counted), 'f13.txt');
		expect((await readdir(path.join(repo, 'packs'))).filter((name) => name.startsWith('.tmp-'))).toEqual([]);
	});

	it('GIVEN a small file that shrinks or vanishes between the walk and its read WHEN sliced THEN SOURCE_CHANGED names it', async () => {
		for (const change of ['shrinks', 'vanishes'] as const) {
			const source = await fresh('src');
			for (let index = 0; index < 5; index++) await writeFile(path.join(source, `f${index}.txt`), 'x'.repeat(1000));
			const file = path.join(source, 'f2.txt');
			const { counted } = countingPool(() => (change === 'shrinks' ? truncate(file, 10) : rm(file)));
			await expectSourceChanged(slice(source, path.join(await fresh('repo'), 'r'), counted), 'f2.txt');
		}
	});

	it('GIVEN a slice under way WHEN it is aborted THEN ABORTED, no pack is left half written and no archive is added', async () => {
		const source = await fresh('src');
		await writeFile(path.join(source, 'big.bin'), vectorInput('abort', 30 * 1024 * 1024));
		for (let index = 0; index < 50; index++) await writeFile(path.join(source, `f${index}.txt`), `file ${index}\n`);
		const repo = path.join(await fresh('repo'), 'r');
		const controller = new AbortController();
		const { counted } = countingPool(() => {
			controller.abort();
			return Promise.resolve();
		});
		const error = await sliceToRepository({
			source,
			repo,
			passphrase: PASS,
			pool: counted,
			codec: parseCodec('gzip-1'),
			packSize: MIN_PACK_SIZE,
			dedup: 'repository',
			tool: 'test',
			signal: controller.signal
		}).then(
			() => undefined,
			(thrown: unknown) => thrown
		);
		expect((error as CoreError).code).toBe(CoreErrorCode.Aborted);
		expect((await readdir(path.join(repo, 'packs'))).filter((name) => name.startsWith('.tmp-'))).toEqual([]);
		expect(await readdir(path.join(repo, 'archives'))).toEqual([]);
	});

	it('GIVEN a source that does not exist WHEN sliced into a new repository THEN NOT_FOUND and no repository is made (the key is derived during the walk, written only after it)', async () => {
		const repo = path.join(await fresh('repo'), 'r');
		const error = await slice(path.join(await fresh('src'), 'missing'), repo).then(
			() => undefined,
			(thrown: unknown) => thrown
		);
		expect((error as CoreError).code).toBe(CoreErrorCode.NotFound);
		await expect(readdir(repo)).rejects.toMatchObject({ code: 'ENOENT' });
	});

	it('GIVEN a large file that changes size between the walk and a later window WHEN sliced THEN SOURCE_CHANGED names it', async () => {
		for (const change of ['grows', 'shrinks'] as const) {
			const source = await fresh('src');
			const file = path.join(source, 'big.bin');
			await writeFile(file, vectorInput('large-file-change', 20 * 1024 * 1024));
			const { counted } = countingPool(() => (change === 'grows' ? appendFile(file, 'tail') : truncate(file, 18 * 1024 * 1024)));
			await expectSourceChanged(slice(source, path.join(await fresh('repo'), 'r'), counted), 'big.bin');
		}
	});
});

describe('reading a large file a window at a time', () => {
	const SIZE = 21 * 1024 * 1024 + 333;
	const key = createHash('sha256').update('window test key').digest();
	// Random bytes with a run of zeros (cut at the maximum) and a repeated stretch, so that blobs vary in length.
	const bytes = Buffer.concat([
		vectorInput('window-a', 9 * 1024 * 1024),
		Buffer.alloc(5 * 1024 * 1024),
		vectorInput('window-a', 7 * 1024 * 1024 + 333)
	]);
	const whole = chunkLengths(bytes);
	const wholeIds: string[] = [];
	let at = 0;
	for (const length of whole) {
		wholeIds.push(blobId({ blobId: key }, bytes.subarray(at, at + length)).toString('hex'));
		at += length;
	}
	const boundaries = whole.slice(0, -1).map((_, index) => whole.slice(0, index + 1).reduce((a, b) => a + b, 0));
	// Windows ending just before, on and just after blob boundaries, the smallest window, and the file's size.
	const windows = [
		...new Set([
			CDC_MAX_SIZE,
			CDC_MAX_SIZE + 1,
			...boundaries.filter((end) => end > CDC_MAX_SIZE).flatMap((end) => [end - 1, end, end + 1]),
			SIZE - 1,
			SIZE,
			SIZE + 1,
			16 * 1024 * 1024
		])
	];
	let file: string;

	beforeAll(async () => {
		expect(bytes.length).toBe(SIZE);
		expect(whole.length).toBeGreaterThan(8);
		file = path.join(await fresh('window'), 'big.bin');
		await writeFile(file, bytes);
	});

	it.each(windows)('GIVEN windows of %i bytes WHEN a file is read window after window THEN its blobs are those of the whole file', (window) => {
		const lengths: number[] = [];
		const ids: string[] = [];
		const hash = createHash('sha256');
		let offset = 0;
		for (let round = 0; round < 100; round++) {
			const result = readItems([{ path: file, size: SIZE, offset, window }], key);
			const item = result.items[0]!;
			expect(item.error).toBeUndefined();
			expect(item.consumed).toBe(result.plain.length);
			expect(item.consumed).toBeGreaterThan(0);
			lengths.push(...item.lengths);
			for (let index = 0; index < item.lengths.length; index++)
				ids.push(Buffer.from(result.ids.subarray(index * 32, index * 32 + 32)).toString('hex'));
			hash.update(result.plain);
			// The file's sha256 comes from the worker only when one item read it all.
			expect(item.sha256 !== undefined).toBe(offset === 0 && item.end);
			offset += item.consumed;
			if (item.end) break;
		}
		expect(offset).toBe(SIZE);
		expect(lengths).toEqual(whole);
		expect(ids).toEqual(wholeIds);
		expect(hash.digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
	});
});
