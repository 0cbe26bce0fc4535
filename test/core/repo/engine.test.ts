import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
	assembleFromRepository,
	CoreErrorCode,
	KDF_CHANNEL,
	listPacks,
	type ManifestV2,
	MIN_PACK_SIZE,
	openRepository,
	parseCodec,
	readManifest,
	sliceToRepository,
	verifyRepository,
	writeManifest
} from '../../../src/core/index.js';
import { PASS, pool, useCoreWorkspace, freshCase, work } from '../../support/core-workspace.js';
import { describeTree } from '../../support/tree.js';

useCoreWorkspace({ workers: 2, prefix: 'dos-repo-' });
const fresh = freshCase;

const slice = (source: string, repo: string, extra: Partial<Parameters<typeof sliceToRepository>[0]> = {}) =>
	sliceToRepository({
		source,
		repo,
		passphrase: PASS,
		pool,
		codec: parseCodec('gzip-6'),
		packSize: MIN_PACK_SIZE,
		dedup: 'repository',
		tool: 'test',
		...extra
	});

async function sampleTree(root: string): Promise<void> {
	await mkdir(path.join(root, 'docs/empty'), { recursive: true });
	await writeFile(path.join(root, 'docs/a.txt'), 'hello '.repeat(1000));
	await writeFile(path.join(root, 'docs/b.bin'), randomBytes(3 * 1024 * 1024 + 17));
	await writeFile(path.join(root, 'big.bin'), Buffer.concat([randomBytes(6 * 1024 * 1024), Buffer.alloc(3 * 1024 * 1024, 7)]));
	await writeFile(path.join(root, 'empty.txt'), '');
	for (let index = 0; index < 50; index++) await writeFile(path.join(root, 'docs', `small-${index}.txt`), `file ${index}\n`.repeat(index + 1));
	await symlink('docs/a.txt', path.join(root, 'link'));
	await utimes(path.join(root, 'docs/a.txt'), 1_600_000_000, 1_600_000_000);
}

function countKdf<T>(work: () => Promise<T>): Promise<{ result: T; kdf: number }> {
	let kdf = 0;
	const listener = () => kdf++;
	subscribe(KDF_CHANNEL, listener);
	return work()
		.then((result) => ({ result, kdf }))
		.finally(() => unsubscribe(KDF_CHANNEL, listener));
}

describe('format 2 repository', () => {
	it('GIVEN a tree WHEN sliced into a new repository, assembled and verified THEN the tree comes back whole, one PBKDF2 each', async () => {
		const source = await fresh('src');
		await sampleTree(source);
		const repo = path.join(await fresh('repo'), 'r');
		const sliced = await countKdf(() => slice(source, repo));
		expect(sliced.kdf).toBe(1);
		expect(sliced.result.created).toBe(true);
		expect(sliced.result.manifest.totals.files).toBe(54);
		expect(sliced.result.manifest.totals.reusedBytes).toBe(0);
		const out = path.join(await fresh('out'), 'o');
		const assembled = await countKdf(() => assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool }));
		expect(assembled.kdf).toBe(1);
		expect(await describeTree(out)).toEqual(await describeTree(source));
		const verified = await countKdf(() => verifyRepository({ repo, passphrase: PASS, pool }));
		expect(verified.kdf).toBe(1);
		expect(verified.result.ok).toBe(true);
	});

	it('GIVEN a repository WHEN the same tree is sliced again THEN only a manifest is added (0 new packs); one edited file adds only its blobs', async () => {
		const source = await fresh('src');
		await sampleTree(source);
		const repo = path.join(await fresh('repo'), 'r');
		const first = await slice(source, repo);
		const packs = await listPacks(await openRepository(repo, PASS));
		const second = await slice(source, repo);
		expect(second.created).toBe(false);
		expect(second.packs).toEqual([]);
		expect(second.manifest.totals.newBytes).toBe(0);
		expect(second.manifest.totals.reusedBytes).toBe(first.manifest.totals.bytes);
		expect(second.manifest.parent).toBe(first.archiveId);
		expect(await listPacks(await openRepository(repo, PASS))).toEqual(packs);
		await writeFile(path.join(source, 'docs/small-3.txt'), 'edited\n');
		const third = await slice(source, repo);
		expect(third.manifest.totals.newBlobs).toBe(1);
		expect(third.manifest.totals.newBytes).toBe(7);
		expect(third.packs).toHaveLength(1);
		// Every archive stays restorable; the newest is the default.
		const out = path.join(await fresh('out'), 'o');
		const restored = await assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool });
		expect(restored.archiveId).toBe(third.archiveId);
		expect(await readFile(path.join(out, 'docs/small-3.txt'), 'utf8')).toBe('edited\n');
		const old = path.join(await fresh('out'), 'o');
		await assembleFromRepository({ repo, archiveId: first.archiveId, outDir: old, passphrase: PASS, pool });
		expect(await readFile(path.join(old, 'docs/small-3.txt'), 'utf8')).toBe('file 3\n'.repeat(4));
	});

	it('GIVEN a file edited in place with its size and mtime kept WHEN sliced again THEN only rehash sees it', async () => {
		const source = await fresh('src');
		await writeFile(path.join(source, 'a.txt'), 'aaaa');
		await utimes(path.join(source, 'a.txt'), 1_600_000_000, 1_600_000_000);
		const repo = path.join(await fresh('repo'), 'r');
		await slice(source, repo);
		await writeFile(path.join(source, 'a.txt'), 'bbbb');
		await utimes(path.join(source, 'a.txt'), 1_600_000_000, 1_600_000_000);
		expect((await slice(source, repo)).manifest.totals.newBytes).toBe(0);
		const reread = await slice(source, repo, { rehash: true });
		expect(reread.manifest.totals.newBytes).toBe(4);
		const out = path.join(await fresh('out'), 'o');
		await assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool });
		expect(await readFile(path.join(out, 'a.txt'), 'utf8')).toBe('bbbb');
	});

	it('GIVEN DOS_DEDUP=archive WHEN the same tree is sliced again THEN everything is stored again', async () => {
		const source = await fresh('src');
		await sampleTree(source);
		const repo = path.join(await fresh('repo'), 'r');
		const first = await slice(source, repo, { dedup: 'archive' });
		const second = await slice(source, repo, { dedup: 'archive' });
		expect(second.packs.length).toBeGreaterThan(0);
		expect(second.manifest.totals.newBlobs).toBe(first.manifest.totals.newBlobs);
		expect(second.manifest.dedup).toBe('archive');
	});

	it('GIVEN the wrong passphrase WHEN a repository is opened, assembled or added to THEN WRONG_KEY', async () => {
		const source = await fresh('src');
		await writeFile(path.join(source, 'a'), 'a');
		const repo = path.join(await fresh('repo'), 'r');
		await slice(source, repo);
		await expect(openRepository(repo, 'wrong')).rejects.toMatchObject({ code: CoreErrorCode.WrongKey });
		await expect(slice(source, repo, { passphrase: 'wrong' })).rejects.toMatchObject({ code: CoreErrorCode.WrongKey });
		await expect(assembleFromRepository({ repo, outDir: path.join(work, 'never'), passphrase: 'wrong', pool })).rejects.toMatchObject({
			code: CoreErrorCode.WrongKey
		});
	});

	it('GIVEN a tampered pack byte WHEN verified THEN the blob, pack and files are named; WHEN assembled THEN no complete-looking file is left', async () => {
		const source = await fresh('src');
		await writeFile(path.join(source, 'one.txt'), 'one '.repeat(5000));
		await writeFile(path.join(source, 'two.txt'), 'two '.repeat(5000));
		const repo = path.join(await fresh('repo'), 'r');
		const sliced = await slice(source, repo);
		const [pack] = sliced.packs;
		const file = path.join(repo, 'packs', pack!);
		const bytes = await readFile(file);
		bytes[20] = bytes[20]! ^ 1;
		await writeFile(file, bytes);
		const verified = await verifyRepository({ repo, passphrase: PASS, pool });
		expect(verified.ok).toBe(false);
		expect(verified.badBlobs).toHaveLength(1);
		expect(verified.badBlobs[0]).toMatchObject({ pack, code: CoreErrorCode.TamperedChunk, paths: ['one.txt'] });
		const out = path.join(await fresh('out'), 'o');
		await expect(assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool })).rejects.toMatchObject({
			code: CoreErrorCode.TamperedChunk,
			details: { paths: ['one.txt'] }
		});
		expect((await readdir(out)).filter((name) => name === 'one.txt' || name.endsWith('.partial'))).toEqual([]);
	});

	it('GIVEN random trees WHEN sliced twice and assembled THEN they round-trip and the second slice stores nothing', async () => {
		const name = fc.stringMatching(/^[a-z0-9]{1,8}$/);
		const tree = fc.uniqueArray(fc.record({ dir: fc.constantFrom('', 'x', 'x/y'), name, bytes: fc.uint8Array({ maxLength: 3000 }) }), {
			selector: (entry) => `${entry.dir}/${entry.name}`,
			maxLength: 12
		});
		await fc.assert(
			fc.asyncProperty(tree, async (files) => {
				const source = await fresh('prop');
				await mkdir(path.join(source, 'x/y'), { recursive: true });
				const taken = new Set(['x', 'x/y']);
				for (const file of files) {
					const relative = file.dir ? `${file.dir}/${file.name}` : file.name;
					if (taken.has(relative) || [...taken].some((other) => other.startsWith(`${relative}/`))) continue;
					taken.add(relative);
					await writeFile(path.join(source, relative), file.bytes);
				}
				const repo = path.join(await fresh('repo'), 'r');
				await slice(source, repo);
				const again = await slice(source, repo);
				expect(again.packs).toEqual([]);
				const out = path.join(await fresh('out'), 'o');
				await assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool });
				expect(await describeTree(out)).toEqual(await describeTree(source));
			}),
			{ numRuns: 8 }
		);
	});
});

describe('format 2 unsafe manifests', () => {
	const emptyFile = {
		type: 'file' as const,
		size: 0,
		mode: 0o644,
		mtimeMs: 0,
		sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
		blobs: []
	};

	async function forge(entries: ManifestV2['entries'], totals: Partial<ManifestV2['totals']>): Promise<{ repo: string; id: string }> {
		const source = await fresh('src');
		await writeFile(path.join(source, 'a'), 'a');
		const repo = path.join(await fresh('repo'), 'r');
		const first = await slice(source, repo);
		const opened = await openRepository(repo, PASS);
		const manifest = await readManifest(opened, first.archiveId);
		const id = '#311299-01';
		// The forger holds the key: only validation stands between the manifest and the disk.
		const forged = {
			...manifest,
			id,
			entries,
			totals: { ...manifest.totals, files: 0, directories: 0, symlinks: 0, bytes: 0, newBytes: 0, reusedBytes: 0, ...totals }
		} as ManifestV2;
		await writeManifest(opened, forged);
		return { repo, id };
	}

	it.each(['../escape', '/etc/passwd', 'a\\b', 'a\0b', 'a/../../b', '.', 'C:/x', 'a//b'])(
		'GIVEN a sealed manifest with the path %j WHEN assembled (with and without salvage) THEN UNSAFE_PATH and nothing is written',
		async (unsafe) => {
			const { repo, id } = await forge([{ ...emptyFile, path: unsafe }], { files: 1 });
			const parent = await fresh('unsafe');
			for (const salvage of [false, true])
				await expect(
					assembleFromRepository({ repo, archiveId: id, outDir: path.join(parent, 'out'), passphrase: PASS, pool, salvage })
				).rejects.toMatchObject({
					code: CoreErrorCode.UnsafePath
				});
			expect(await readdir(parent)).toEqual([]);
		}
	);

	it('GIVEN a file "through" a symlink WHEN assembled THEN UNSAFE_PATH and nothing is written outside', async () => {
		const { repo, id } = await forge(
			[
				{ path: 'link', type: 'symlink', size: 0, mode: 0o777, mtimeMs: 0, target: '..' },
				{ ...emptyFile, path: 'link/evil' }
			],
			{ files: 1, symlinks: 1 }
		);
		const parent = await fresh('unsafe');
		for (const salvage of [false, true])
			await expect(
				assembleFromRepository({ repo, archiveId: id, outDir: path.join(parent, 'out'), passphrase: PASS, pool, salvage })
			).rejects.toMatchObject({
				code: CoreErrorCode.UnsafePath
			});
		expect(await readdir(parent)).toEqual([]);
	});

	it('GIVEN a chain of inside-looking symlinks that escapes WHEN assembled THEN the escaping link is skipped and reported', async () => {
		const { repo, id } = await forge(
			[
				{ path: 'a', type: 'directory', size: 0, mode: 0o755, mtimeMs: 0 },
				{ path: 'a/b', type: 'directory', size: 0, mode: 0o755, mtimeMs: 0 },
				{ path: 'a/b/x', type: 'symlink', size: 0, mode: 0o777, mtimeMs: 0, target: '../../c' },
				{ path: 'l', type: 'symlink', size: 0, mode: 0o777, mtimeMs: 0, target: 'a/b/x/../..' }
			],
			{ directories: 2, symlinks: 2 }
		);
		const out = path.join(await fresh('unsafe'), 'out');
		const result = await assembleFromRepository({ repo, archiveId: id, outDir: out, passphrase: PASS, pool });
		expect(result.skipped).toEqual([{ path: 'l', reason: 'symlink-outside' }]);
		expect((await readdir(out)).sort()).toEqual(['a']);
	});

	it('GIVEN an existing target file WHEN assembled without overwrite THEN FILE_EXISTS, it is untouched and nothing is written; with overwrite it is replaced', async () => {
		const source = await fresh('src');
		await mkdir(path.join(source, 'dir'));
		await writeFile(path.join(source, 'dir/two.txt'), 'two');
		await writeFile(path.join(source, 'one.txt'), 'one');
		const repo = path.join(await fresh('repo'), 'r');
		await slice(source, repo);
		const out = path.join(await fresh('out'), 'o');
		await mkdir(path.join(out, 'dir'), { recursive: true });
		await writeFile(path.join(out, 'dir/two.txt'), 'mine');
		for (const salvage of [false, true])
			await expect(assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool, salvage })).rejects.toMatchObject({
				code: CoreErrorCode.FileExists,
				details: { paths: ['dir/two.txt'] }
			});
		expect(await readFile(path.join(out, 'dir/two.txt'), 'utf8')).toBe('mine');
		expect((await readdir(out, { recursive: true })).sort()).toEqual(['dir', 'dir/two.txt']);
		await assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool, overwrite: true });
		expect(await describeTree(out)).toEqual(await describeTree(source));
	});

	it('GIVEN a restore folder whose subfolder is a symlink to elsewhere WHEN assembled THEN it refuses and writes nothing there', async () => {
		const source = await fresh('src');
		await mkdir(path.join(source, 'dir'));
		await writeFile(path.join(source, 'dir/two.txt'), 'two');
		const repo = path.join(await fresh('repo'), 'r');
		await slice(source, repo);
		const base = await fresh('out');
		const elsewhere = path.join(base, 'elsewhere');
		const out = path.join(base, 'o');
		await mkdir(elsewhere);
		await mkdir(out);
		await symlink(elsewhere, path.join(out, 'dir'));
		for (const paths of [undefined, ['dir/two.txt']])
			await expect(
				assembleFromRepository({ repo, outDir: out, passphrase: PASS, pool, overwrite: true, salvage: true, ...(paths ? { paths } : {}) })
			).rejects.toMatchObject({ code: CoreErrorCode.FileExists });
		expect(await readdir(elsewhere)).toEqual([]);
	});

	it('GIVEN a symlink pointing outside WHEN assembled THEN it is skipped and reported', async () => {
		const { repo, id } = await forge([{ path: 'out-link', type: 'symlink', size: 0, mode: 0o777, mtimeMs: 0, target: '../../etc' }], {
			symlinks: 1
		});
		const out = path.join(await fresh('unsafe'), 'out');
		const result = await assembleFromRepository({ repo, archiveId: id, outDir: out, passphrase: PASS, pool });
		expect(result.skipped).toEqual([{ path: 'out-link', reason: 'symlink-outside' }]);
		expect(await readdir(out)).toEqual([]);
		expect((await stat(out)).isDirectory()).toBe(true);
	});
});
