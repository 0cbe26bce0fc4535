import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
	assembleFromRepository,
	CoreErrorCode,
	type CryptoPool,
	listPacks,
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

/**
 * A repository of one archive: four incompressible 1.5 MiB files (so that they spread over several 4 MiB packs), a
 * 9 MiB file (several blobs, restored a batch at a time), two files with the same bytes (one shared blob), a small
 * and an empty file, an empty folder and a symlink.
 */
/**
 * A repository of a varied tree. With `bigFirst`, big.bin is sliced alone into it first, so that its blobs fill packs
 * of their own (the later slice reuses them): a pack no other file has a blob in, whatever the random cut.
 */
async function spreadRepository(options: { readonly bigFirst?: boolean } = {}) {
	const source = await fresh('src');
	await mkdir(path.join(source, 'docs/empty'), { recursive: true });
	for (const name of ['docs/a.bin', 'docs/b.bin', 'c.bin', 'd.bin']) await writeFile(path.join(source, name), randomBytes(1536 * 1024));
	await writeFile(path.join(source, 'big.bin'), randomBytes(9 * 1024 * 1024));
	await writeFile(path.join(source, 'twin1.txt'), 'the same bytes '.repeat(300));
	await writeFile(path.join(source, 'docs/twin2.txt'), 'the same bytes '.repeat(300));
	await writeFile(path.join(source, 'small.txt'), 'small');
	await writeFile(path.join(source, 'empty.txt'), '');
	await symlink('small.txt', path.join(source, 'link'));
	const repo = path.join(await fresh('repo'), 'r');
	if (options.bigFirst === true) {
		const alone = await fresh('big-alone');
		await copyFile(path.join(source, 'big.bin'), path.join(alone, 'big.bin'));
		await slice(alone, repo);
	}
	const { manifest } = await slice(source, repo);
	const index = await loadBlobIndex(await openRepository(repo, PASS));
	const files = manifest.entries.filter((entry) => entry.type === 'file');
	const blobsOf = (name: string) => files.find((file) => file.path === name)!.blobs!;
	const packOf = (blob: string) => index.get(blob)!.pack;
	return { source, repo, manifest, files, blobsOf, packOf, out: path.join(await fresh('out'), 'o') };
}

/** Expects `out` to hold exactly what `source` holds, less `lost`: every file byte-identical, no temporary file. */
async function expectAllBut(out: string, source: string, lost: readonly string[]) {
	const expected = Object.fromEntries(Object.entries(await describeTree(source)).filter(([name]) => !lost.includes(name)));
	expect(await describeTree(out)).toEqual(expected);
	expect(await partials(out)).toEqual([]);
}

describe('format 2 restores of selected paths', () => {
	it('GIVEN a folder and a file selected WHEN assembled THEN exactly they and the folders above them are restored, from only the packs their blobs lie in', async () => {
		const { source, repo, files, blobsOf, packOf, out } = await spreadRepository({ bigFirst: true });
		const packsRead = new Set<string>();
		const watched: CryptoPool = {
			...pool,
			async restoreFiles(task) {
				for (const pack of task.packs) packsRead.add(path.basename(pack));
				return pool.restoreFiles(task);
			}
		};
		const result = await assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool: watched, paths: ['./docs/', 'small.txt'] });
		const selected = ['docs', 'docs/a.bin', 'docs/b.bin', 'docs/empty', 'docs/twin2.txt', 'small.txt'];
		const whole = await describeTree(source);
		expect(await describeTree(out)).toEqual(Object.fromEntries(selected.map((name) => [name, whole[name]])));
		expect(result).toMatchObject({ files: 4, directories: 2, symlinks: 0, lost: [] });
		const needed = new Set(['docs/a.bin', 'docs/b.bin', 'docs/twin2.txt', 'small.txt'].flatMap(blobsOf).map(packOf));
		expect([...packsRead].sort()).toEqual([...needed].sort());
		// Some pack holds none of their blobs (big.bin, sliced alone first, fills packs of its own), and it was not read.
		expect(needed.size).toBeLessThan(new Set(files.flatMap((file) => file.blobs!).map(packOf)).size);

		const link = path.join(await fresh('out'), 'o');
		await assembleFromRepository({ repo, outDir: link, passphrase: PASS, pool, paths: ['link'] });
		expect(await describeTree(link)).toEqual({ link: whole.link });
	});

	it.each(['../escape', '/etc/passwd', 'docs/../../x', 'a\0b', 'a\\b', '.'])(
		'GIVEN the path %j WHEN assembled THEN INVALID_OPTION before anything is written',
		async (unsafe) => {
			const { repo, out } = await spreadRepository();
			await expect(assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool, paths: ['small.txt', unsafe] })).rejects.toMatchObject({
				code: CoreErrorCode.InvalidOption,
				details: { paths: [unsafe] }
			});
			await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
		}
	);

	it('GIVEN paths the archive does not hold WHEN assembled THEN NOT_FOUND names each of them and nothing is written', async () => {
		const { repo, out } = await spreadRepository();
		const refused = assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool, paths: ['small.txt', 'nope.txt', 'docs/missing'] });
		await expect(refused).rejects.toMatchObject({ code: CoreErrorCode.NotFound, details: { paths: ['nope.txt', 'docs/missing'] } });
		await expect(refused).rejects.toThrow(/nope\.txt, docs\/missing/);
		await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
	});
});

describe('format 2 salvage restores', () => {
	it('GIVEN one pack deleted WHEN assembled with salvage THEN every file with no blob in it is restored byte-identical and exactly the others are lost, naming their blobs', async () => {
		const { source, repo, files, blobsOf, packOf, out } = await spreadRepository();
		// Which pack a file's blobs land in depends on how the workers interleave: take the pack of docs/a.bin's
		// blobs, or of any blob, whose loss costs the fewest files, so that most of the tree has to come back.
		const victimsOf = (pack: string) => files.filter((file) => file.blobs!.some((blob) => packOf(blob) === pack));
		const fewest = (packs: readonly string[]) =>
			[...new Set(packs)].sort((a, b) => victimsOf(a).length - victimsOf(b).length || a.localeCompare(b))[0]!;
		const ofA = fewest(blobsOf('docs/a.bin').map(packOf));
		const gone = victimsOf(ofA).length < files.length - 2 ? ofA : fewest(files.flatMap((file) => file.blobs!).map(packOf));
		const victims = victimsOf(gone);
		expect(victims.length).toBeGreaterThan(0);
		expect(victims.length).toBeLessThan(files.length - 2);
		await rm(path.join(repo, 'packs', gone));
		const result = await assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool, salvage: true });
		expect(result.lost).toEqual(
			victims.map((file) => ({
				path: file.path,
				code: CoreErrorCode.MissingChunk,
				blobs: [...new Set(file.blobs!.filter((blob) => packOf(blob) === gone))],
				packs: []
			}))
		);
		const goneBlobs = [...new Set(victims.flatMap((file) => file.blobs!).filter((blob) => packOf(blob) === gone))].sort();
		expect(result.badBlobs!.map((blob) => blob.id)).toEqual(goneBlobs);
		expect(result.files).toBe(files.length - victims.length);
		expect(result.bytes).toBe(files.reduce((sum, file) => sum + file.size, 0) - victims.reduce((sum, file) => sum + file.size, 0));
		await expectAllBut(
			out,
			source,
			victims.map((file) => file.path)
		);

		// Without salvage the same damage stops the restore, and no file it cost is left, whole or partial.
		const plain = path.join(await fresh('out'), 'o');
		await expect(assembleFromRepository({ repo, outDir: plain, passphrase: PASS, pool })).rejects.toMatchObject({
			code: CoreErrorCode.MissingChunk
		});
		expect(await partials(plain)).toEqual([]);
		const left = await readdir(plain, { recursive: true });
		for (const victim of victims) expect(left).not.toContain(victim.path);
	});

	it('GIVEN the packs of an earlier archive deleted WHEN a later one that shares files with it is assembled with salvage THEN in each worker task only the files of those packs are lost', async () => {
		const source = await fresh('src');
		for (let file = 0; file < 40; file++) await writeFile(path.join(source, `f${String(file).padStart(2, '0')}.txt`), `old ${file} `.repeat(50));
		const repo = path.join(await fresh('repo'), 'r');
		await slice(source, repo);
		const oldPacks = await listPacks(await openRepository(repo, PASS));
		// New files sort between the old ones, so that every task holds lost and restored files in turn.
		for (let file = 0; file < 40; file++)
			await writeFile(path.join(source, `f${String(file).padStart(2, '0')}-new.txt`), `new ${file} `.repeat(50));
		const second = await slice(source, repo);
		for (const pack of oldPacks) await rm(path.join(repo, 'packs', pack));
		const out = path.join(await fresh('out'), 'o');
		const { watched, seen } = watchedPool();
		const result = await assembleFromRepository({
			repo,
			archiveId: second.archiveId,
			outDir: out,
			passphrase: PASS,
			pool: watched,
			salvage: true
		});
		expect(seen.tasks).toBeLessThan(4);
		const old = Array.from({ length: 40 }, (_, file) => `f${String(file).padStart(2, '0')}.txt`);
		expect(result.lost.map((file) => [file.path, file.code, file.blobs.length, file.packs])).toEqual(
			old.map((name) => [name, CoreErrorCode.MissingChunk, 1, []])
		);
		expect(result.files).toBe(40);
		await expectAllBut(out, source, old);
	});

	it('GIVEN one byte flipped in a blob two files share and in a late blob of a large file WHEN assembled with salvage THEN only the files using them are lost', async () => {
		const { source, repo, files, blobsOf, packOf, out } = await spreadRepository();
		const twin = blobsOf('twin1.txt')[0]!;
		expect(blobsOf('docs/twin2.txt')).toEqual([twin]);
		const late = blobsOf('big.bin').at(-1)!;
		expect(blobsOf('big.bin').length).toBeGreaterThan(2);
		await tamper(repo, twin);
		await tamper(repo, late);
		const result = await assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool, salvage: true });
		const lost = files.filter((file) => ['big.bin', 'docs/twin2.txt', 'twin1.txt'].includes(file.path)).map((file) => file.path);
		expect(result.lost).toEqual(
			lost.map((name) => {
				const blob = name === 'big.bin' ? late : twin;
				return { path: name, code: CoreErrorCode.TamperedChunk, blobs: [blob], packs: [packOf(blob)] };
			})
		);
		expect(result.badBlobs).toEqual(
			[twin, late].sort().map((id) => expect.objectContaining({ id, pack: packOf(id), code: CoreErrorCode.TamperedChunk }) as unknown)
		);
		await expectAllBut(out, source, lost);

		// Only the selected files count.
		const some = path.join(await fresh('out'), 'o');
		const selected = await assembleFromRepository({ repo, outDir: some, passphrase: PASS, pool, salvage: true, paths: ['c.bin', 'twin1.txt'] });
		expect(selected.lost.map((file) => file.path)).toEqual(['twin1.txt']);
		expect(selected.badBlobs!.map((blob) => blob.id)).toEqual([twin]);
		expect(Object.keys(await describeTree(some))).toEqual(['c.bin']);

		// Without salvage: TAMPERED_CHUNK, nothing partial left, no lost file in place.
		const plain = path.join(await fresh('out'), 'o');
		await expect(assembleFromRepository({ repo, outDir: plain, passphrase: PASS, pool })).rejects.toMatchObject({
			code: CoreErrorCode.TamperedChunk
		});
		expect(await partials(plain)).toEqual([]);
		const left = await readdir(plain, { recursive: true });
		for (const name of lost) expect(left).not.toContain(name);
	});

	it('GIVEN a pack whose tail is damaged WHEN verified and assembled with salvage THEN the pack is named and only the files of its blobs are lost', async () => {
		const { source, repo, files, blobsOf, packOf, out } = await spreadRepository();
		const broken = packOf(blobsOf('c.bin')[0]!);
		const file = path.join(repo, 'packs', broken);
		const bytes = await readFile(file);
		bytes[bytes.length - 40] = bytes[bytes.length - 40]! ^ 1;
		await writeFile(file, bytes);
		const victims = files.filter((entry) => entry.blobs!.some((blob) => packOf(blob) === broken)).map((entry) => entry.path);

		const verified = await verifyRepository({ repo, passphrase: PASS, pool });
		expect(verified.ok).toBe(false);
		expect(verified.badPacks).toMatchObject([{ name: broken }]);
		expect(verified.badFiles.map((entry) => [entry.path, entry.code])).toEqual(victims.map((name) => [name, CoreErrorCode.MissingChunk]));
		expect(verified.badBlobs[0]!.message).toContain(broken);

		const result = await assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool, salvage: true });
		expect(result.badPacks).toMatchObject([{ name: broken }]);
		expect(result.lost.map((entry) => entry.path)).toEqual(victims);
		await expectAllBut(out, source, victims);
	});

	it('GIVEN a file whose own sha256 differs WHEN assembled with salvage THEN only it is lost, as HASH_MISMATCH over every blob it uses', async () => {
		const { source, repo, manifest, blobsOf, packOf, out } = await spreadRepository();
		const opened = await openRepository(repo, PASS);
		const id = '#311299-01';
		// The forger holds the key: the file hashes are the last check.
		await writeManifest(opened, {
			...manifest,
			id,
			entries: manifest.entries.map((entry) => (entry.path === 'big.bin' ? { ...entry, sha256: '0'.repeat(64) } : entry))
		});
		const result = await assembleFromRepository({ repo, archiveId: id, outDir: out, passphrase: PASS, pool, salvage: true });
		const blobs = [...new Set(blobsOf('big.bin'))];
		expect(result.lost).toEqual([{ path: 'big.bin', code: CoreErrorCode.HashMismatch, blobs, packs: [...new Set(blobs.map(packOf))] }]);
		expect(result.badBlobs).toEqual([]);
		await expectAllBut(out, source, ['big.bin']);
	});

	it('GIVEN an intact repository WHEN assembled with salvage THEN everything is restored and nothing is reported lost', async () => {
		const { source, repo, out } = await spreadRepository();
		const result = await assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool, salvage: true });
		expect(result).toMatchObject({ lost: [], badBlobs: [], badPacks: [] });
		await expectAllBut(out, source, []);
	});
});

describe('format 2 checks', () => {
	it('GIVEN one pack deleted WHEN verified THEN every file with a blob in it is reported, not only the first, and each bad blob names its files', async () => {
		const { repo, files, blobsOf, packOf } = await spreadRepository();
		const gone = packOf(blobsOf('big.bin')[0]!);
		const victims = files.filter((file) => file.blobs!.some((blob) => packOf(blob) === gone));
		await rm(path.join(repo, 'packs', gone));
		const verified = await verifyRepository({ repo, passphrase: PASS, pool });
		expect(verified.ok).toBe(false);
		expect(verified.badFiles).toEqual(
			victims.map((file) => ({ path: file.path, code: CoreErrorCode.MissingChunk, message: expect.stringContaining(file.path) as unknown }))
		);
		for (const blob of verified.badBlobs)
			expect(blob.paths).toEqual(victims.filter((file) => file.blobs!.includes(blob.id)).map((file) => file.path));
	});
});
