import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assemble, CoreErrorCode, openStagedManifest, readStagedFolder, stageArchive, stagedChunkSource } from '../../src/core/index.js';
import { describeTree } from '../support/tree.js';
import { PASS, nextCase, pool, useCoreWorkspace } from '../support/core-workspace.js';

useCoreWorkspace({ workers: 2, prefix: 'dos-salvage-' });

/** Sizes of the files of the staged tree, in archive order; 100-byte chunks, 600 stream bytes, chunks 0–5. */
const SIZES = { 'a.bin': 150, 'b.bin': 100, 'c.bin': 30, 'd.bin': 120, 'e.bin': 0, 'f.bin': 150, 'g.bin': 50 } as const;

/**
 * A staged archive: a.bin (stream 0–150, chunks 0–1), b.bin (150–250, 1–2), c.bin (250–280, 2), d.bin (280–400, 2–3),
 * e.bin (empty, at 400), f.bin (400–550, 4–5), g.bin (550–600, 5), plus an empty folder and a symlink. Then chunk 1 is
 * deleted and a byte of chunk 4 flipped.
 */
async function damagedArchive() {
	const base = nextCase('case');
	const source = path.join(base, 'source');
	await mkdir(path.join(source, 'empty'), { recursive: true });
	const hashes: Record<string, string> = {};
	for (const [name, size] of Object.entries(SIZES)) {
		const bytes = randomBytes(size);
		hashes[name] = createHash('sha256').update(bytes).digest('hex');
		await writeFile(path.join(source, name), bytes);
	}
	await symlink('c.bin', path.join(source, 'link-to-c'));
	const staged = await stageArchive({
		source,
		outDir: path.join(base, 'staged'),
		passphrase: PASS,
		pool,
		kdfIterations: 1000,
		chunkSize: 100,
		archiveId: '#010125-04'
	});
	// The layout the test relies on.
	const offsets = Object.fromEntries(staged.manifest.entries.filter((entry) => entry.type === 'file').map((entry) => [entry.path, entry.offset]));
	expect(offsets).toEqual({ 'a.bin': 0, 'b.bin': 150, 'c.bin': 250, 'd.bin': 280, 'e.bin': 400, 'f.bin': 400, 'g.bin': 550 });
	expect(staged.manifest.chunks).toHaveLength(6);
	await rm(await chunkFile(staged.outDir, 1));
	const flipped = await chunkFile(staged.outDir, 4);
	const bytes = await readFile(flipped);
	bytes[bytes.length - 20]! ^= 0x40;
	await writeFile(flipped, bytes);
	const folder = await readStagedFolder(staged.outDir);
	const { manifest, key } = await openStagedManifest(folder, PASS);
	return { out: path.join(base, 'out'), manifest, key, source: stagedChunkSource(folder, manifest), hashes };
}

async function chunkFile(dir: string, index: number): Promise<string> {
	const name = (await readdir(dir)).find((file) => file.includes(`.c${String(index).padStart(6, '0')}.`));
	return path.join(dir, name!);
}

describe('salvage restore', () => {
	it('GIVEN one missing and one tampered chunk WHEN assembled with salvage THEN every file clear of them is restored byte-identical and every file touching them is absent', async () => {
		const { out, manifest, key, source, hashes } = await damagedArchive();
		const result = await assemble({ manifest, key, source, outDir: out, pool, salvage: true });

		expect(result.badChunks).toEqual([1, 4]);
		expect(result.lost).toEqual([
			{ path: 'a.bin', chunks: [1], code: CoreErrorCode.MissingChunk },
			{ path: 'b.bin', chunks: [1], code: CoreErrorCode.MissingChunk },
			{ path: 'f.bin', chunks: [4], code: CoreErrorCode.TamperedChunk }
		]);
		expect(result.files).toBe(4);
		expect(result.bytes).toBe(SIZES['c.bin'] + SIZES['d.bin'] + SIZES['g.bin']);
		const tree = await describeTree(out);
		// No temporary file left, nothing lost renamed into place; the folder and the symlink are there.
		expect(Object.keys(tree).sort()).toEqual(['c.bin', 'd.bin', 'e.bin', 'empty', 'g.bin', 'link-to-c']);
		for (const name of ['c.bin', 'd.bin', 'e.bin', 'g.bin']) expect(tree[name]?.sha256, name).toBe(hashes[name]);
		expect(tree['link-to-c']).toMatchObject({ type: 'symlink', target: 'c.bin' });
		expect(tree.empty?.type).toBe('directory');
	});

	it('GIVEN the same damage WHEN assembled without salvage THEN the first bad chunk still stops it and nothing after is restored', async () => {
		const { out, manifest, key, source } = await damagedArchive();
		await expect(assemble({ manifest, key, source, outDir: out, pool })).rejects.toMatchObject({
			code: CoreErrorCode.MissingChunk,
			details: { chunks: [1], paths: ['a.bin'] }
		});
		expect(Object.keys(await describeTree(out))).toEqual([]);
	});

	it('GIVEN selected paths WHEN assembled with salvage THEN only they are restored or lost, and only the chunks they span count', async () => {
		const { out, manifest, key, source, hashes } = await damagedArchive();
		const result = await assemble({ manifest, key, source, outDir: out, pool, salvage: true, paths: ['b.bin', 'd.bin', 'g.bin'] });

		expect(result.badChunks).toEqual([1]);
		expect(result.lost).toEqual([{ path: 'b.bin', chunks: [1], code: CoreErrorCode.MissingChunk }]);
		expect(result.files).toBe(2);
		const tree = await describeTree(out);
		expect(Object.keys(tree).sort()).toEqual(['d.bin', 'g.bin']);
		expect(tree['d.bin']?.sha256).toBe(hashes['d.bin']);
		expect(tree['g.bin']?.sha256).toBe(hashes['g.bin']);
	});

	it('GIVEN the wrong passphrase WHEN assembled with salvage THEN WRONG_KEY stops it at once and nothing is written', async () => {
		const { out, manifest, source } = await damagedArchive();
		await expect(assemble({ manifest, passphrase: 'not it', source, outDir: out, pool, salvage: true })).rejects.toMatchObject({
			code: CoreErrorCode.WrongKey
		});
		expect(Object.keys(await describeTree(out).catch(() => ({})))).toEqual([]);
	});

	it('GIVEN a file whose own sha256 does not match WHEN assembled with salvage THEN only it is lost, as HASH_MISMATCH over the chunks it spans', async () => {
		const { out, manifest, key, source, hashes } = await damagedArchive();
		const wrong = {
			...manifest,
			entries: manifest.entries.map((entry) => (entry.path === 'd.bin' ? { ...entry, sha256: '0'.repeat(64) } : entry))
		};
		const result = await assemble({ manifest: wrong, key, source, outDir: out, pool, salvage: true, paths: ['c.bin', 'd.bin'] });

		expect(result.badChunks).toEqual([]);
		expect(result.lost).toEqual([{ path: 'd.bin', chunks: [2, 3], code: CoreErrorCode.HashMismatch }]);
		const tree = await describeTree(out);
		expect(Object.keys(tree)).toEqual(['c.bin']);
		expect(tree['c.bin']?.sha256).toBe(hashes['c.bin']);
	});

	it('GIVEN an intact archive WHEN assembled with salvage THEN everything is restored and nothing is reported lost', async () => {
		const { out, manifest, key, source } = await damagedArchive();
		const result = await assemble({ manifest, key, source, outDir: out, pool, salvage: true, paths: ['c.bin', 'd.bin', 'e.bin'] });
		expect(result).toMatchObject({ files: 3, lost: [], badChunks: [] });
	});
});
