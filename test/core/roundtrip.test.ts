import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { chmod, mkdir, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assembleStagedFolder, createCryptoPool, type CryptoPool, KDF_CHANNEL, stageArchive, verifyStagedFolder } from '../../src/core/index.js';
import { describeTree, makeTemp, removeTemp } from '../support/tree.js';

const FC_RUNS = Number(process.env.FC_RUNS ?? 8);
const PASS = 'correct horse battery staple';
const ITERATIONS = 1000;

let pool: CryptoPool;
let work: string;
beforeAll(async () => {
	pool = createCryptoPool({ workers: 2 });
	work = await makeTemp();
});
afterAll(async () => {
	await pool.close();
	await removeTemp(work);
});

let counter = 0;
async function roundTrip(build: (root: string) => Promise<void>, options: { chunkSize: number; gzipLevel?: number }) {
	const base = path.join(work, `case-${++counter}`);
	const source = path.join(base, 'source');
	await mkdir(source, { recursive: true });
	await build(source);
	const staged = await stageArchive({
		source,
		outDir: path.join(base, 'staged'),
		passphrase: PASS,
		pool,
		kdfIterations: ITERATIONS,
		archiveId: '#241126-07',
		...options
	});
	const restored = await assembleStagedFolder(staged.outDir, path.join(base, 'restored'), { passphrase: PASS, pool });
	return { base, source, staged, restored, before: await describeTree(source), after: await describeTree(path.join(base, 'restored')) };
}

describe('slice → assemble round trips', () => {
	const CHUNK = 64;
	it.each([
		['empty file', [0]],
		['one byte', [1]],
		['chunk − 1', [CHUNK - 1]],
		['exactly one chunk', [CHUNK]],
		['chunk + 1', [CHUNK + 1]],
		['two chunks', [2 * CHUNK]],
		['files straddling boundaries', [CHUNK - 1, 2, CHUNK, 0, CHUNK + 1, 0]],
		['many empty files', [0, 0, 0, 0]]
	] as const)('GIVEN %s WHEN sliced with a 64 B chunk and assembled THEN the tree is identical', async (_name, sizes) => {
		const result = await roundTrip(
			async (root) => {
				let i = 0;
				for (const size of sizes) await writeFile(path.join(root, `f${i++}.bin`), randomBytes(size));
			},
			{ chunkSize: CHUNK }
		);
		const total = sizes.reduce((a, b) => a + b, 0);
		expect(result.staged.manifest.chunks).toHaveLength(Math.ceil(total / CHUNK));
		expect(result.after).toEqual(result.before);
	});

	it('GIVEN empty directories, deep and non-ASCII paths, symlinks, modes and mtimes WHEN round-tripped THEN everything comes back', async () => {
		const result = await roundTrip(
			async (root) => {
				await mkdir(path.join(root, 'empty'));
				await mkdir(path.join(root, 'a/b/c/d/e/f'), { recursive: true });
				await writeFile(path.join(root, 'a/b/c/d/e/f/deep.txt'), 'deep');
				await mkdir(path.join(root, 'ünïcødé 📁'));
				await writeFile(path.join(root, 'ünïcødé 📁/日本語.txt'), 'こんにちは');
				await writeFile(path.join(root, 'script.sh'), '#!/bin/sh\necho hi\n');
				await chmod(path.join(root, 'script.sh'), 0o751);
				await writeFile(path.join(root, 'readonly.txt'), 'ro');
				await chmod(path.join(root, 'readonly.txt'), 0o444);
				await symlink('a/b/c/d/e/f/deep.txt', path.join(root, 'link-inside'));
				await symlink('dangling-but-inside', path.join(root, 'link-dangling'));
				await utimes(path.join(root, 'a/b'), 1_000_000, 1_000_000);
				await utimes(path.join(root, 'script.sh'), 1_500_000_000.123, 1_500_000_000.123);
				await chmod(path.join(root, 'empty'), 0o705);
			},
			{ chunkSize: 16 }
		);
		expect(result.after).toEqual(result.before);
		expect(result.restored.skipped).toEqual([]);
	});

	it('GIVEN a symlink pointing outside the source WHEN restored THEN it is skipped and reported, never created', async () => {
		const result = await roundTrip(
			async (root) => {
				await writeFile(path.join(root, 'file'), 'x');
				await symlink('../../../etc/passwd', path.join(root, 'escape'));
				await symlink('/etc/passwd', path.join(root, 'absolute'));
			},
			{ chunkSize: 1024 }
		);
		expect(result.restored.skipped.map((s) => s.path).sort()).toEqual(['absolute', 'escape']);
		expect(Object.keys(result.after)).toEqual(['file']);
	});

	it('GIVEN 200 small files WHEN sliced THEN they share chunks: ⌈total/chunk⌉ chunks, not 200', async () => {
		const result = await roundTrip(
			async (root) => {
				for (let i = 0; i < 200; i++)
					await writeFile(path.join(root, `small-${String(i).padStart(3, '0')}.txt`), randomBytes(100 + (i % 37)));
			},
			{ chunkSize: 4096 }
		);
		const total = result.staged.manifest.totals.bytes;
		expect(result.staged.manifest.chunks).toHaveLength(Math.ceil(total / 4096));
		expect(result.staged.manifest.chunks.length).toBeLessThan(10);
		expect(result.after).toEqual(result.before);
	});

	it('GIVEN compressible and incompressible chunks WHEN sliced THEN text is gzipped and random bytes stored raw', async () => {
		const big = 600 * 1024;
		const result = await roundTrip(
			async (root) => {
				await writeFile(
					path.join(root, 'a-text.log'),
					Buffer.from('GET /index.html 200 0.003s user-agent=curl/8\n'.repeat(Math.ceil(big / 44))).subarray(0, big)
				);
				await writeFile(path.join(root, 'b-random.bin'), randomBytes(big));
			},
			{ chunkSize: big }
		);
		const [text, random] = result.staged.manifest.chunks;
		expect(text!.compressed).toBe(true);
		expect(random!.compressed).toBe(false);
		expect(random!.storedSize).toBe(big + 96);
		expect(result.after).toEqual(result.before);
	});

	it('GIVEN a slice and an assemble WHEN PBKDF2 derivations are counted on dos:kdf THEN there is exactly one each', async () => {
		const seen: unknown[] = [];
		const listener = (message: unknown) => seen.push(message);
		subscribe(KDF_CHANNEL, listener);
		try {
			const base = path.join(work, 'kdf');
			await mkdir(path.join(base, 'src'), { recursive: true });
			for (let i = 0; i < 20; i++) await writeFile(path.join(base, 'src', `f${i}`), randomBytes(300));
			await stageArchive({
				source: path.join(base, 'src'),
				outDir: path.join(base, 'staged'),
				passphrase: PASS,
				pool,
				kdfIterations: ITERATIONS,
				chunkSize: 256
			});
			expect(seen).toHaveLength(1);
			expect((await readdir(path.join(base, 'staged'))).length).toBeGreaterThan(10);
			await assembleStagedFolder(path.join(base, 'staged'), path.join(base, 'out'), { passphrase: PASS, pool });
			expect(seen).toEqual([{ iterations: ITERATIONS }, { iterations: ITERATIONS }]);
			const report = await verifyStagedFolder(path.join(base, 'staged'), { passphrase: PASS, pool });
			expect(report.ok).toBe(true);
			expect(seen).toHaveLength(3);
		} finally {
			unsubscribe(KDF_CHANNEL, listener);
		}
	});

	it('GIVEN arbitrary trees WHEN sliced with arbitrary chunk sizes and assembled THEN they are identical (property)', async () => {
		const name = fc.stringMatching(/^[a-zA-Z0-9 ._é漢-]{1,12}$/).filter((n) => n !== '.' && n !== '..');
		const tree = fc.uniqueArray(fc.tuple(fc.array(name, { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 400 })), {
			maxLength: 12,
			selector: ([parts]) => parts.join('/')
		});
		await fc.assert(
			fc.asyncProperty(tree, fc.integer({ min: 48, max: 600 }), fc.integer({ min: 0, max: 9 }), async (files, chunkSize, gzipLevel) => {
				const result = await roundTrip(
					async (root) => {
						for (const [parts, size] of files) {
							const file = path.join(root, ...parts);
							await mkdir(path.dirname(file), { recursive: true }).catch(() => undefined);
							await writeFile(file, randomBytes(size), { flag: 'wx' }).catch(() => undefined);
						}
					},
					{ chunkSize, gzipLevel }
				);
				expect(result.after).toEqual(result.before);
				await removeTemp(result.base);
			}),
			{ numRuns: FC_RUNS }
		);
	});
});
