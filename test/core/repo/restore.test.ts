import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
	assembleFromRepository,
	CoreErrorCode,
	type CryptoPool,
	loadBlobIndex,
	MIN_PACK_SIZE,
	openRepository,
	parseCodec,
	readManifest,
	sliceToRepository,
	verifyRepository,
	writeManifest
} from '../../../src/core/index.js';
import { PASS, pool, useCoreWorkspace, freshCase } from '../../support/core-workspace.js';
import { describeTree } from '../../support/tree.js';

useCoreWorkspace({ workers: 2, prefix: 'dos-restore-' });
const fresh = freshCase;

const slice = (source: string, repo: string) =>
	sliceToRepository({
		source,
		repo,
		passphrase: PASS,
		pool,
		codec: parseCodec('zstd-3'),
		packSize: MIN_PACK_SIZE,
		dedup: 'repository',
		tool: 'test'
	});

/** The pool, with the files each restore task carries counted, and a hook run before each task. */
function watchedPool(before?: (files: readonly string[]) => Promise<void> | void) {
	const seen = { tasks: 0, files: [] as string[] };
	const watched: CryptoPool = {
		...pool,
		async restoreFiles(task) {
			seen.tasks++;
			seen.files.push(...task.files.map((file) => file.path));
			await before?.(task.files.map((file) => file.path));
			return pool.restoreFiles(task);
		}
	};
	return { watched, seen };
}

/** Temporary files a restore left anywhere under `dir`. */
async function partials(dir: string): Promise<string[]> {
	const names = await readdir(dir, { recursive: true }).catch(() => []);
	return names.filter((name) => /(^|\/)\.dos-[^/]*\.partial$/.test(name));
}

/** Flips one byte of a stored blob, `at` bytes into it. */
async function tamper(repo: string, blob: string, at = 20): Promise<string> {
	const index = await loadBlobIndex(await openRepository(repo, PASS));
	const where = index.get(blob)!;
	const file = path.join(repo, 'packs', where.pack);
	const bytes = await readFile(file);
	bytes[where.offset + at] = bytes[where.offset + at]! ^ 1;
	await writeFile(file, bytes);
	return where.pack;
}

/**
 * Assembles a repository with a tampered blob of `victim`: TAMPERED_CHUNK naming it and its pack, no partial file
 * left, the file not restored. Returns what a verify of the same repository finds.
 */
async function expectTamperedRestore(repo: string, victim: string, pack: string) {
	const out = path.join(await fresh('out'), 'o');
	await expect(assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool })).rejects.toMatchObject({
		code: CoreErrorCode.TamperedChunk,
		details: { paths: [victim], file: pack }
	});
	expect(await partials(out)).toEqual([]);
	expect(await readdir(out)).not.toContain(victim);
	return verifyRepository({ repo, passphrase: PASS, pool });
}

describe('format 2 restores in the workers', () => {
	it('GIVEN 3,000 small files in folders WHEN assembled THEN the worker op writes every one of them, hundreds per task, and the tree comes back whole', async () => {
		const source = await fresh('src');
		for (let dir = 0; dir < 6; dir++) {
			await mkdir(path.join(source, `d${dir}`, 'deep'), { recursive: true });
			for (let file = 0; file < 500; file++)
				await writeFile(path.join(source, `d${dir}`, file % 2 ? 'deep' : '', `f${file}.txt`), `${dir}/${file} `.repeat((file % 37) + 1));
		}
		const repo = path.join(await fresh('repo'), 'r');
		await slice(source, repo);
		const out = path.join(await fresh('out'), 'o');
		const { watched, seen } = watchedPool();
		const result = await assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool: watched });
		expect(result.files).toBe(3000);
		// Every file went through the worker op, and no file twice: none was written by this thread.
		expect(seen.files).toHaveLength(3000);
		expect(new Set(seen.files).size).toBe(3000);
		expect(seen.tasks).toBeLessThanOrEqual(12);
		expect(await describeTree(out)).toEqual(await describeTree(source));
		expect(await partials(out)).toEqual([]);
	});

	it('GIVEN a tampered blob of one small file in a group WHEN assembled THEN TAMPERED_CHUNK names its pack and file, and no temporary file is left', async () => {
		const source = await fresh('src');
		for (let file = 0; file < 40; file++)
			await writeFile(path.join(source, `f${String(file).padStart(2, '0')}.txt`), `file ${file} `.repeat(200));
		const repo = path.join(await fresh('repo'), 'r');
		const { manifest } = await slice(source, repo);
		const victim = manifest.entries.find((entry) => entry.path === 'f17.txt')!;
		const pack = await tamper(repo, victim.blobs![0]!);
		const verified = await expectTamperedRestore(repo, 'f17.txt', pack);
		expect(verified.badBlobs).toMatchObject([{ id: victim.blobs![0], pack, code: CoreErrorCode.TamperedChunk, paths: ['f17.txt'] }]);
		expect(verified.badBlobs).toHaveLength(1);
		expect(verified.badFiles).toMatchObject([{ path: 'f17.txt', code: CoreErrorCode.TamperedChunk }]);
		expect(verified.badFiles).toHaveLength(1);
	});

	it('GIVEN a tampered blob late in a large file WHEN assembled THEN TAMPERED_CHUNK names it, and its temporary file (already written in part) is removed', async () => {
		const source = await fresh('src');
		await writeFile(path.join(source, 'big.bin'), randomBytes(9 * 1024 * 1024));
		await writeFile(path.join(source, 'small.txt'), 'small');
		const repo = path.join(await fresh('repo'), 'r');
		const { manifest } = await slice(source, repo);
		const big = manifest.entries.find((entry) => entry.path === 'big.bin')!;
		expect(big.blobs!.length).toBeGreaterThan(2);
		const pack = await tamper(repo, big.blobs!.at(-1)!);
		const verified = await expectTamperedRestore(repo, 'big.bin', pack);
		expect(verified.badBlobs).toMatchObject([{ id: big.blobs!.at(-1), pack, paths: ['big.bin'] }]);
	});

	it('GIVEN a file that appears in the target while restoring WHEN assembled without overwrite THEN FILE_EXISTS and the file is untouched; with overwrite it is replaced', async () => {
		const source = await fresh('src');
		await writeFile(path.join(source, 'a.txt'), 'ours a');
		await writeFile(path.join(source, 'b.txt'), 'ours b');
		const repo = path.join(await fresh('repo'), 'r');
		await slice(source, repo);
		const out = path.join(await fresh('out'), 'o');
		// After the preflight (which found the folder empty), before the worker writes.
		const { watched } = watchedPool(async () => writeFile(path.join(out, 'b.txt'), 'theirs'));
		await expect(assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool: watched })).rejects.toMatchObject({
			code: CoreErrorCode.FileExists,
			details: { paths: ['b.txt'] }
		});
		expect(await readFile(path.join(out, 'b.txt'), 'utf8')).toBe('theirs');
		expect(await partials(out)).toEqual([]);
		const again = path.join(await fresh('out'), 'o');
		const late = watchedPool(async () => writeFile(path.join(again, 'b.txt'), 'theirs'));
		await assembleFromRepository({ repo, outDir: again, passphrase: PASS, pool: late.watched, overwrite: true });
		expect(await readFile(path.join(again, 'b.txt'), 'utf8')).toBe('ours b');
	});

	it('GIVEN blobs that open but files whose sha256 differs (small and large) WHEN verified THEN both are bad files; WHEN assembled THEN HASH_MISMATCH and nothing is left', async () => {
		const source = await fresh('src');
		await writeFile(path.join(source, 'big.bin'), randomBytes(6 * 1024 * 1024));
		await writeFile(path.join(source, 'small.txt'), 'small');
		await writeFile(path.join(source, 'fine.txt'), 'fine');
		const repo = path.join(await fresh('repo'), 'r');
		const first = await slice(source, repo);
		const opened = await openRepository(repo, PASS);
		const manifest = await readManifest(opened, first.archiveId);
		const wrong = createHash('sha256').update('something else').digest('hex');
		const id = '#311299-01';
		// The forger holds the key: the file hashes are the last check.
		await writeManifest(opened, {
			...manifest,
			id,
			entries: manifest.entries.map((entry) => (entry.path === 'fine.txt' ? entry : { ...entry, sha256: wrong }))
		});
		const verified = await verifyRepository({ repo, archiveId: id, passphrase: PASS, pool });
		expect(verified.ok).toBe(false);
		expect(verified.badBlobs).toEqual([]);
		expect(verified.badFiles.map((file) => [file.path, file.code])).toEqual([
			['big.bin', CoreErrorCode.HashMismatch],
			['small.txt', CoreErrorCode.HashMismatch]
		]);
		for (const name of ['big.bin', 'small.txt']) {
			const out = path.join(await fresh('out'), 'o');
			const only = { ...manifest, id: name === 'big.bin' ? '#311299-02' : '#311299-03' };
			await writeManifest(opened, {
				...only,
				entries: manifest.entries.map((entry) => (entry.path === name ? { ...entry, sha256: wrong } : entry))
			});
			await expect(assembleFromRepository({ repo, archiveId: only.id, outDir: out, passphrase: PASS, pool })).rejects.toMatchObject({
				code: CoreErrorCode.HashMismatch,
				details: { paths: [name] }
			});
			expect(await readdir(out)).not.toContain(name);
			expect(await partials(out)).toEqual([]);
		}
	});

	it('GIVEN a restore aborted between worker tasks WHEN it stops THEN ABORTED and no temporary file is left', async () => {
		const source = await fresh('src');
		for (let file = 0; file < 1200; file++) await writeFile(path.join(source, `f${file}.txt`), `file ${file} `.repeat(10));
		const repo = path.join(await fresh('repo'), 'r');
		await slice(source, repo);
		const out = path.join(await fresh('out'), 'o');
		const controller = new AbortController();
		const { watched, seen } = watchedPool(() => {
			if (seen.tasks === 2) controller.abort();
		});
		await expect(assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool: watched, signal: controller.signal })).rejects.toMatchObject(
			{
				code: CoreErrorCode.Aborted
			}
		);
		expect(await partials(out)).toEqual([]);
		expect((await readdir(out)).length).toBeLessThan(1200);
	});
});
