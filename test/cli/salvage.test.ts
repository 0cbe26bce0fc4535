import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runDosHere } from './support.js';
import {
	createCryptoPool,
	listArchives,
	loadBlobIndex,
	MIN_PACK_SIZE,
	openRepository,
	parseCodec,
	readManifest,
	sliceToRepository,
	stageArchive
} from '../../src/core/index.js';

const KEY = 'correct horse battery staple';
let work: string;

/** Runs the CLI program in this process; returns the exit code, the output and the JSON lines. */
function dos(args: string[]): Promise<CliRun> {
	return runDosHere(args, { cwd: work, env: { DOS_WORKERS: '1', USER_KEY: KEY } });
}

/**
 * A staged archive of a.bin (stream 0–150, chunks 0–1), b.bin (150–300, chunks 1–2), c.bin (300–400, chunk 3); 100-byte
 * chunks. And a repository of the same files and dir/d.bin.
 */
beforeAll(async () => {
	work = await mkdtemp(path.join(tmpdir(), 'dos-cli-salvage-'));
	await mkdir(path.join(work, 'source'));
	await writeFile(path.join(work, 'source/a.bin'), randomBytes(150));
	await writeFile(path.join(work, 'source/b.bin'), randomBytes(150));
	await writeFile(path.join(work, 'source/c.bin'), randomBytes(100));
	await cp(path.join(work, 'source'), path.join(work, 'repo-source'), { recursive: true });
	await mkdir(path.join(work, 'repo-source/dir'));
	await writeFile(path.join(work, 'repo-source/dir/d.bin'), randomBytes(200));
	const pool = createCryptoPool({ workers: 1 });
	try {
		await stageArchive({
			source: path.join(work, 'source'),
			outDir: path.join(work, 'staged'),
			passphrase: KEY,
			pool,
			kdfIterations: 1000,
			chunkSize: 100
		});
		await sliceToRepository({
			source: path.join(work, 'repo-source'),
			repo: path.join(work, 'repo'),
			passphrase: KEY,
			pool,
			codec: parseCodec('zstd-3'),
			packSize: MIN_PACK_SIZE,
			dedup: 'repository',
			tool: 'test'
		});
	} finally {
		await pool.close();
	}
});
afterAll(async () => {
	await rm(work, { recursive: true, force: true });
});

async function damageChunk(index: number): Promise<void> {
	const name = (await readdir(path.join(work, 'staged'))).find((file) => file.includes(`.c${String(index).padStart(6, '0')}.`))!;
	const file = path.join(work, 'staged', name);
	const bytes = await readFile(file);
	bytes[bytes.length - 20]! ^= 0x40;
	await writeFile(file, bytes);
}

describe('dos assemble --salvage', () => {
	it('GIVEN an intact staged archive WHEN assembled with --salvage THEN exit 0 and nothing is reported lost', async () => {
		const run = await dos(['assemble', path.join(work, 'staged'), '--out', path.join(work, 'intact'), '--salvage', '--json']);
		expect(run.code).toBe(0);
		expect(run.lines.at(-1)).toMatchObject({ type: 'result', ok: true, files: 3, lost: [], badChunks: [] });
	});

	it('GIVEN a damaged chunk WHEN assembled with --salvage THEN the other files are restored, the lost ones and the bad chunk are printed and the exit code is 1', async () => {
		await damageChunk(1);
		const human = await dos(['assemble', path.join(work, 'staged'), '--out', path.join(work, 'human'), '--salvage']);
		expect(human.code).toBe(1);
		const output = human.stdout + human.stderr;
		expect(output).toContain('Restored 1 file,');
		// Index 1 is chunk 2 to a person.
		expect(output).toContain('lost: a.bin (TAMPERED_CHUNK, chunk 2)');
		expect(output).toContain('lost: b.bin (TAMPERED_CHUNK, chunk 2)');
		expect(output).toContain('Bad chunks: 2.');
		expect((await readdir(path.join(work, 'human'))).sort()).toEqual(['c.bin']);
		expect(await readFile(path.join(work, 'human/c.bin'))).toEqual(await readFile(path.join(work, 'source/c.bin')));

		const json = await dos(['assemble', path.join(work, 'staged'), '--out', path.join(work, 'json'), '--salvage', '--json']);
		expect(json.code).toBe(1);
		expect(json.lines.at(-1)).toMatchObject({
			type: 'result',
			ok: false,
			files: 1,
			badChunks: [1],
			lost: [
				{ path: 'a.bin', chunks: [1], code: 'TAMPERED_CHUNK' },
				{ path: 'b.bin', chunks: [1], code: 'TAMPERED_CHUNK' }
			]
		});

		const plain = await dos(['assemble', path.join(work, 'staged'), '--out', path.join(work, 'plain')]);
		expect(plain.code).toBe(1);
		expect(plain.stderr).toContain('[TAMPERED_CHUNK]');
		expect(await readdir(path.join(work, 'plain')).catch(() => [])).toEqual([]);
	});
});

describe('dos assemble and dos verify of a repository, with --path and --salvage', () => {
	const out = (name: string) => path.join(work, name);

	it('GIVEN --path options WHEN a repository is assembled THEN exactly those entries come back; an unsafe path is a usage error and an unknown one is named, before anything is written', async () => {
		const some = await dos(['assemble', path.join(work, 'repo'), '--out', out('repo-some'), '--path', 'dir', '--path', './c.bin', '--json']);
		expect(some.code).toBe(0);
		expect(some.result).toMatchObject({ ok: true, format: 'repository', files: 2, directories: 1, lost: [] });
		expect((await readdir(out('repo-some'), { recursive: true })).sort()).toEqual(['c.bin', 'dir', 'dir/d.bin']);
		expect(await readFile(out('repo-some/dir/d.bin'))).toEqual(await readFile(path.join(work, 'repo-source/dir/d.bin')));

		const escape = await dos(['assemble', path.join(work, 'repo'), '--out', out('repo-escape'), '--path', '../source/a.bin']);
		expect(escape.code).toBe(2);
		expect(escape.stderr).toContain('[INVALID_OPTION]');
		const unknown = await dos(['assemble', path.join(work, 'repo'), '--out', out('repo-unknown'), '--path', 'nope.bin']);
		expect(unknown.code).toBe(2);
		expect(unknown.stderr).toMatch(/nope\.bin.*\[NOT_FOUND\]/);
		for (const name of ['repo-escape', 'repo-unknown']) await expect(readdir(out(name))).rejects.toMatchObject({ code: 'ENOENT' });
	}, 60_000);

	it('GIVEN a flipped byte in the blob of one file WHEN assembled with --salvage THEN the others are restored, the lost file is printed with its blob and pack, and the exit code is 1; verify names it', async () => {
		const repo = path.join(work, 'repo');
		const intact = await dos(['assemble', repo, '--out', out('repo-intact'), '--salvage', '--json']);
		expect(intact.code).toBe(0);
		expect(intact.result).toMatchObject({ ok: true, files: 4, lost: [], badBlobs: [] });
		expect((await dos(['verify', repo, '--json'])).code).toBe(0);

		const opened = await openRepository(repo, KEY);
		const manifest = await readManifest(opened, (await listArchives(opened))[0]!);
		const blob = manifest.entries.find((entry) => entry.path === 'b.bin')!.blobs![0]!;
		const where = (await loadBlobIndex(opened)).get(blob)!;
		const file = path.join(repo, 'packs', where.pack);
		const bytes = await readFile(file);
		bytes[where.offset + 20] = bytes[where.offset + 20]! ^ 1;
		await writeFile(file, bytes);

		const json = await dos(['assemble', repo, '--out', out('repo-json'), '--salvage', '--json']);
		expect(json.code).toBe(1);
		expect(json.result).toMatchObject({
			ok: false,
			format: 'repository',
			files: 3,
			lost: [{ path: 'b.bin', code: 'TAMPERED_CHUNK', blobs: [blob], packs: [where.pack] }],
			badBlobs: [{ id: blob, pack: where.pack, code: 'TAMPERED_CHUNK' }]
		});
		expect((await readdir(out('repo-json'), { recursive: true })).sort()).toEqual(['a.bin', 'c.bin', 'dir', 'dir/d.bin']);
		for (const name of ['a.bin', 'c.bin', 'dir/d.bin'])
			expect(await readFile(out(`repo-json/${name}`))).toEqual(await readFile(path.join(work, 'repo-source', name)));

		const human = await dos(['assemble', repo, '--out', out('repo-human'), '--salvage']);
		expect(human.code).toBe(1);
		const output = human.stdout + human.stderr;
		expect(output).toContain('Restored 3 files,');
		expect(output).toContain(`lost: b.bin (TAMPERED_CHUNK, blob ${blob.slice(0, 16)}…, pack ${where.pack})`);
		expect(output).toContain(`Bad blobs: ${blob.slice(0, 16)}….`);
		expect(output).toContain('The restore is incomplete: 1 file could not be restored');

		const plain = await dos(['assemble', repo, '--out', out('repo-plain')]);
		expect(plain.code).toBe(1);
		expect(plain.stderr).toContain('[TAMPERED_CHUNK]');
		const left = await readdir(out('repo-plain'), { recursive: true }).catch(() => [] as string[]);
		expect(left).not.toContain('b.bin');
		expect(left.filter((name) => name.endsWith('.partial'))).toEqual([]);

		const verify = await dos(['verify', repo]);
		expect(verify.code).toBe(1);
		expect(verify.stdout + verify.stderr).toContain(`file b.bin: TAMPERED_CHUNK`);
		const verifyJson = await dos(['verify', repo, '--json']);
		expect(verifyJson.result).toMatchObject({ ok: false, badFiles: [{ path: 'b.bin', code: 'TAMPERED_CHUNK' }] });
	}, 120_000);
});
