import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
	assemble,
	assembleStagedFolder,
	chunksForPaths,
	CoreErrorCode,
	type Manifest,
	openStagedManifest,
	readStagedFolder,
	stageArchive,
	stagedChunkSource,
	symlinkStaysInside,
	validateManifest,
	verifyStagedFolder
} from '../../src/core/index.js';
import { describeTree } from '../support/tree.js';
import { PASS, nextCase, pool, useCoreWorkspace } from '../support/core-workspace.js';

useCoreWorkspace({ workers: 2 });

/**
 * A staged archive of a small tree, in archive order: `dir/sub/three.txt` (stream bytes 0–5, chunk 0), `dir/two.bin`
 * (5–255, chunks 0–2), `empty/`, `one.bin` (255–505, chunks 2–5); 100-byte chunks.
 */
async function stage() {
	const base = nextCase('case');
	const source = path.join(base, 'source');
	await mkdir(path.join(source, 'dir/sub'), { recursive: true });
	await mkdir(path.join(source, 'empty'));
	await writeFile(path.join(source, 'one.bin'), randomBytes(250));
	await writeFile(path.join(source, 'dir/two.bin'), randomBytes(250));
	await writeFile(path.join(source, 'dir/sub/three.txt'), 'three');
	const staged = await stageArchive({
		source,
		outDir: path.join(base, 'staged'),
		passphrase: PASS,
		pool,
		kdfIterations: 1000,
		chunkSize: 100,
		archiveId: '#010125-03'
	});
	return { base, source, staged, out: path.join(base, 'out') };
}

async function chunkFile(dir: string, index: number): Promise<string> {
	const name = (await readdir(dir)).find((file) => file.includes(`.c${String(index).padStart(6, '0')}.`));
	return path.join(dir, name!);
}

async function listAll(dir: string): Promise<string[]> {
	return Object.keys(await describeTree(dir).catch(() => ({})));
}

describe('assembly failures', () => {
	it('GIVEN a missing chunk WHEN assembled THEN MISSING_CHUNK names it and no file of its range is left looking complete', async () => {
		const { staged, out } = await stage();
		await rename(await chunkFile(staged.outDir, 3), path.join(staged.outDir, 'moved-away'));
		const error = await assembleStagedFolder(staged.outDir, out, { passphrase: PASS, pool }).catch((e: unknown) => e);
		expect(error).toMatchObject({ code: CoreErrorCode.MissingChunk, details: { chunks: [3], paths: ['one.bin'] } });
		const left = await listAll(out);
		expect(left).not.toContain('one.bin');
		expect(left.filter((file) => file.endsWith('.partial'))).toEqual([]);
		// dir/two.bin lies wholly before the missing chunk: it is complete and verified.
		expect(left).toContain('dir/two.bin');
	});

	it('GIVEN a flipped byte in a chunk WHEN assembled THEN TAMPERED_CHUNK names the chunk', async () => {
		const { staged, out } = await stage();
		const file = await chunkFile(staged.outDir, 1);
		const bytes = await readFile(file);
		bytes[bytes.length - 20]! ^= 0x40;
		await writeFile(file, bytes);
		await expect(assembleStagedFolder(staged.outDir, out, { passphrase: PASS, pool })).rejects.toMatchObject({
			code: CoreErrorCode.TamperedChunk,
			details: { chunks: [1], paths: ['dir/two.bin'] }
		});
		expect(await listAll(out)).not.toContain('dir/two.bin');
	});

	it('GIVEN two swapped chunks WHEN assembled THEN the swap is detected', async () => {
		const { staged, out } = await stage();
		const a = await chunkFile(staged.outDir, 0);
		const b = await chunkFile(staged.outDir, 1);
		const [bytesA, bytesB] = [await readFile(a), await readFile(b)];
		await writeFile(a, bytesB);
		await writeFile(b, bytesA);
		await expect(assembleStagedFolder(staged.outDir, out, { passphrase: PASS, pool })).rejects.toMatchObject({
			code: CoreErrorCode.TamperedChunk,
			details: { chunks: [0] }
		});
	});

	it('GIVEN a chunk of another archive with a matching record WHEN opened THEN MISPLACED_CHUNK', async () => {
		const first = await stage();
		const second = await stage();
		const { manifest, key } = await openStagedManifest(await readStagedFolder(first.staged.outDir), PASS);
		const foreign = await readFile(await chunkFile(second.staged.outDir, 0));
		const { createHash } = await import('node:crypto');
		// A source that lies, and a record forged to match: only the authenticated header can tell.
		const forged: Manifest = {
			...manifest,
			chunks: manifest.chunks.map((chunk) =>
				chunk.index === 0 ? { ...chunk, sha256: createHash('sha256').update(foreign).digest('hex') } : chunk
			)
		};
		await expect(
			assemble({ manifest: forged, key, pool, outDir: first.out, source: () => Promise.resolve(Buffer.from(foreign)) })
		).rejects.toMatchObject({
			code: CoreErrorCode.MisplacedChunk
		});
	});

	it('GIVEN the wrong key WHEN assembled THEN WRONG_KEY at the manifest and nothing is written', async () => {
		const { staged, out } = await stage();
		await expect(assembleStagedFolder(staged.outDir, out, { passphrase: 'not the passphrase', pool })).rejects.toMatchObject({
			code: CoreErrorCode.WrongKey
		});
		expect(await listAll(out)).toEqual([]);
	});

	it('GIVEN a manifest and the wrong passphrase WHEN assembled directly THEN WRONG_KEY at the first chunk and no skeleton is left', async () => {
		const { staged, out } = await stage();
		const folder = await readStagedFolder(staged.outDir);
		const { manifest } = await openStagedManifest(folder, PASS);
		await expect(
			assemble({ manifest, passphrase: 'wrong', pool, outDir: out, source: stagedChunkSource(folder, manifest) })
		).rejects.toMatchObject({
			code: CoreErrorCode.WrongKey,
			details: { chunks: [0] }
		});
		expect(await listAll(out)).toEqual([]);
	});

	it('GIVEN an existing target file WHEN assembled without overwrite THEN FILE_EXISTS and it is untouched; with overwrite it is replaced', async () => {
		const { source, staged, out } = await stage();
		await mkdir(path.join(out, 'dir'), { recursive: true });
		await writeFile(path.join(out, 'dir/two.bin'), 'mine');
		await expect(assembleStagedFolder(staged.outDir, out, { passphrase: PASS, pool })).rejects.toMatchObject({
			code: CoreErrorCode.FileExists,
			details: { paths: ['dir/two.bin'] }
		});
		expect(await readFile(path.join(out, 'dir/two.bin'), 'utf8')).toBe('mine');
		expect(await listAll(out)).toEqual(['dir', 'dir/two.bin']);
		await assembleStagedFolder(staged.outDir, out, { passphrase: PASS, pool, overwrite: true });
		expect(await describeTree(out)).toEqual(await describeTree(source));
	});

	it('GIVEN selected paths WHEN restored THEN only the chunks they span are read and nothing else is written', async () => {
		const { staged, out } = await stage();
		const folder = await readStagedFolder(staged.outDir);
		const { manifest, key } = await openStagedManifest(folder, PASS);
		const read: number[] = [];
		const source = stagedChunkSource(folder, manifest);
		expect(chunksForPaths(manifest, ['one.bin'])).toEqual([2, 3, 4, 5]);
		expect(chunksForPaths(manifest, ['dir/sub'])).toEqual([0]);
		expect(chunksForPaths(manifest, ['dir'])).toEqual([0, 1, 2]);
		expect(chunksForPaths(manifest, ['empty'])).toEqual([]);
		await assemble({ manifest, key, pool, outDir: out, paths: ['dir/sub/'], source: (index) => (read.push(index), source(index)) });
		expect(read).toEqual([0]);
		expect(await listAll(out)).toEqual(['dir', 'dir/sub', 'dir/sub/three.txt']);
		expect(await readFile(path.join(out, 'dir/sub/three.txt'), 'utf8')).toBe('three');
		await expect(assemble({ manifest, key, pool, outDir: out, paths: ['nope'], source })).rejects.toMatchObject({ code: CoreErrorCode.NotFound });
		// A path no archive can hold is the option's fault, as for a repository.
		for (const unsafe of ['../dir', '/dir', 'dir/../..', 'a\0b'])
			await expect(assemble({ manifest, key, pool, outDir: out, paths: [unsafe], source })).rejects.toMatchObject({
				code: CoreErrorCode.InvalidOption,
				details: { paths: [unsafe] }
			});
	});

	it('GIVEN a restore folder whose subfolder is a symlink to elsewhere WHEN assembled THEN it refuses and writes nothing there', async () => {
		const { staged, out, base } = await stage();
		const elsewhere = path.join(base, 'elsewhere');
		await mkdir(elsewhere);
		await mkdir(out);
		await symlink(elsewhere, path.join(out, 'dir'));
		await expect(assembleStagedFolder(staged.outDir, out, { passphrase: PASS, pool, overwrite: true })).rejects.toMatchObject({
			code: CoreErrorCode.FileExists
		});
		expect(await readdir(elsewhere)).toEqual([]);
	});

	it('GIVEN damaged chunks WHEN verified THEN every bad chunk is reported, with and without the key', async () => {
		const { staged } = await stage();
		for (const index of [1, 4]) {
			const file = await chunkFile(staged.outDir, index);
			const bytes = await readFile(file);
			bytes[90]! ^= 1;
			await writeFile(file, bytes);
		}
		await rename(await chunkFile(staged.outDir, 2), path.join(staged.outDir, 'gone'));
		const keyless = await verifyStagedFolder(staged.outDir, { pool });
		expect(keyless.ok).toBe(false);
		expect(keyless.badChunks.map((c) => [c.index, c.code])).toEqual([
			[1, 'TAMPERED_CHUNK'],
			[2, 'MISSING_CHUNK'],
			[4, 'TAMPERED_CHUNK']
		]);
		const keyed = await verifyStagedFolder(staged.outDir, { pool, passphrase: PASS });
		expect(keyed.authenticated).toBe(true);
		expect(keyed.badChunks.map((c) => [c.index, c.code])).toEqual([
			[1, 'TAMPERED_CHUNK'],
			[2, 'MISSING_CHUNK'],
			[4, 'TAMPERED_CHUNK']
		]);
		expect(keyed.badFiles.map((f) => f.path).sort()).toEqual(['dir/two.bin', 'one.bin']);
		expect(keyed.filesChecked).toBe(2 + 1);
	});
});

describe('unsafe manifests', () => {
	const base = {
		format: 'discord-object-store',
		version: 1,
		uid: '0'.repeat(32),
		id: '#010125-01',
		lot: 1,
		label: '',
		createdAt: '2025-01-01T00:00:00.000Z',
		tool: 'test',
		chunkSize: 100,
		compression: { algorithm: 'gzip', level: 9 },
		kdf: { id: 'pbkdf2-sha256', iterations: 1000, salt: '0'.repeat(32) },
		chunks: [],
		totals: { files: 1, directories: 0, symlinks: 0, bytes: 0, storedBytes: 0, chunks: 0 }
	};
	const emptyFile = {
		type: 'file',
		size: 0,
		mode: 0o644,
		mtimeMs: 0,
		offset: 0,
		sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
	};

	it.each(['../escape', '/etc/passwd', 'a\\b', 'a\0b', 'a/../../b', '.', 'C:/x', 'a//b'])(
		'GIVEN the path %j WHEN validated THEN UNSAFE_PATH',
		(unsafe) => {
			expect(() => validateManifest({ ...base, entries: [{ ...emptyFile, path: unsafe }] })).toThrow(
				expect.objectContaining({ code: CoreErrorCode.UnsafePath })
			);
		}
	);

	it('GIVEN a symlink followed by a file "through" it WHEN validated or assembled THEN UNSAFE_PATH and nothing is written outside', async () => {
		const manifest = {
			...base,
			entries: [
				{ path: 'link', type: 'symlink', size: 0, mode: 0o777, mtimeMs: 0, target: '..' },
				{ ...emptyFile, path: 'link/evil' }
			],
			totals: { ...base.totals, symlinks: 1 }
		};
		expect(() => validateManifest(manifest)).toThrow(expect.objectContaining({ code: CoreErrorCode.UnsafePath }));
		const parent = nextCase('unsafe');
		await mkdir(parent);
		await expect(
			assemble({
				manifest: manifest as unknown as Manifest,
				passphrase: PASS,
				pool,
				outDir: path.join(parent, 'out'),
				source: () => Promise.reject(new Error('no chunk'))
			})
		).rejects.toMatchObject({ code: CoreErrorCode.UnsafePath });
		expect(await readdir(parent)).toEqual([]);
	});

	it('GIVEN a chain of inside-looking symlinks that escapes WHEN checked THEN it is refused', () => {
		const entries = new Map([
			['a', { type: 'directory' as const }],
			['a/b', { type: 'directory' as const }],
			['a/b/x', { type: 'symlink' as const, target: '../../c' }]
		]);
		expect(symlinkStaysInside(entries, 'l', 'a/b/x/../..')).toBe(false);
		expect(symlinkStaysInside(entries, 'l', 'a/b/x')).toBe(true);
		expect(symlinkStaysInside(entries, 'a/l', '../b')).toBe(true);
		expect(symlinkStaysInside(entries, 'l', '../x')).toBe(false);
	});
});
