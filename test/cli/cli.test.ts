import { execFile } from 'node:child_process';
import { pbkdf2Sync } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertArchiveId } from '../../src/db/index.js';
import { runDosHere } from './support.js';
import { builtCli, ensureBuilt } from '../support/build.js';
import { describeTree } from '../support/tree.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const KEY = 'correct horse battery staple';

interface Run {
	code: number;
	stdout: string;
	stderr: string;
	lines: Record<string, unknown>[];
}

/** Runs the built CLI (`dist/`, built by the e2e project's global setup) in a child process, in `cwd`, with only the given environment. */
function dos(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Run> {
	return new Promise((resolve) => {
		execFile(
			process.execPath,
			[builtCli, ...args],
			{ cwd: options.cwd, env: { PATH: process.env.PATH ?? '', DOS_WORKERS: '2', ...options.env }, maxBuffer: 16 * 1024 * 1024 },
			(error, stdout, stderr) => {
				const lines = stdout
					.split('\n')
					.filter((line) => line.startsWith('{'))
					.map((line) => JSON.parse(line) as Record<string, unknown>);
				resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr, lines });
			}
		);
	});
}

/** Runs the CLI program in this process (fast: for usage and refusals that never reach the workers' hot path). */
function dosHere(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Run> {
	return runDosHere(args, { cwd: options.cwd, env: { DOS_WORKERS: '1', ...options.env } });
}

let work: string;
beforeAll(async () => {
	await ensureBuilt();
	work = await mkdtemp(path.join(tmpdir(), 'dos-cli-'));
	await mkdir(path.join(work, 'source/docs/empty'), { recursive: true });
	await writeFile(path.join(work, 'source/docs/readme.md'), '# hello\n'.repeat(5000));
	await writeFile(path.join(work, 'source/data.bin'), Buffer.from(Array.from({ length: 150_000 }, (_, i) => (i * 7919) % 251)));
});
afterAll(async () => {
	await rm(work, { recursive: true, force: true });
});

describe('dos CLI', () => {
	it('GIVEN a folder WHEN sliced, verified and assembled with --json THEN each step exits 0 and the tree comes back', async () => {
		const env = { USER_KEY: KEY };
		const slice = await dos(['slice', 'source', '--out', 'staged', '--format', '1', '--chunk-size', '65536', '--label', 'docs', '--json'], {
			cwd: work,
			env
		});
		expect(slice.stderr).toBe('');
		expect(slice.code).toBe(0);
		const sliced = slice.lines.at(-1)!;
		expect(sliced).toMatchObject({ type: 'result', ok: true, files: 2, directories: 2 });
		// Offline, the id minted is one the index would hold too (lot 01), not lot 00.
		expect(() => assertArchiveId(sliced.archiveId as string, 1)).not.toThrow();
		expect(slice.lines.some((line) => line.type === 'progress' && line.phase === 'slice')).toBe(true);
		const names = await readdir(path.join(work, 'staged'));
		expect(names.every((name) => /^\d{6}-\d{2,}\.(c\d{6}|m\d{3})\.[0-9a-f]{12}\.bin$/.test(name))).toBe(true);
		expect(names.join(' ')).not.toMatch(/readme|data|docs/);

		const verify = await dos(['verify', 'staged', '--json'], { cwd: work, env });
		expect(verify.code).toBe(0);
		expect(verify.lines.at(-1)).toMatchObject({ type: 'result', ok: true, authenticated: true, files: 2 });

		const assemble = await dos(['assemble', 'staged', '--out', 'restored', '--json'], { cwd: work, env });
		expect(assemble.code).toBe(0);
		expect(assemble.lines.at(-1)).toMatchObject({ type: 'result', ok: true, files: 2, archiveId: sliced.archiveId });
		expect(await describeTree(path.join(work, 'restored'))).toEqual(await describeTree(path.join(work, 'source')));

		const again = await dos(['assemble', 'staged', '--out', 'restored'], { cwd: work, env });
		expect(again.code).toBe(1);
		expect(again.stderr).toMatch(/already holds .*--overwrite.*\[FILE_EXISTS\]/);
	});

	it('GIVEN a folder WHEN sliced twice into a repository, verified and assembled with --json THEN the second run stores nothing new and the tree comes back', async () => {
		const env = { USER_KEY: KEY };
		const first = await dos(['slice', 'source', '--out', 'repo', '--json'], { cwd: work, env });
		expect(first.stderr).toBe('');
		expect(first.code).toBe(0);
		const made = first.lines.at(-1)!;
		expect(made).toMatchObject({ type: 'result', ok: true, format: 'repository', created: true, files: 2, directories: 2, reusedBytes: 0 });
		expect(first.lines.some((line) => line.type === 'progress' && line.phase === 'slice')).toBe(true);
		const second = await dos(['slice', 'source', '--out', 'repo', '--json'], { cwd: work, env });
		expect(second.code).toBe(0);
		expect(second.lines.at(-1)).toMatchObject({ created: false, newBytes: 0, reusedBytes: made.bytes, packs: 0, parent: made.archiveId });
		expect((await readdir(path.join(work, 'repo'))).sort()).toEqual(['archives', 'keys', 'packs']);

		const verify = await dos(['verify', 'repo', '--json'], { cwd: work, env });
		expect(verify.code).toBe(0);
		expect(verify.lines.at(-1)).toMatchObject({ type: 'result', ok: true, format: 'repository', files: 2 });
		const assemble = await dos(['assemble', 'repo', '--archive', String(made.archiveId), '--out', 'from-repo', '--json'], { cwd: work, env });
		expect(assemble.code).toBe(0);
		expect(assemble.lines.at(-1)).toMatchObject({ type: 'result', ok: true, format: 'repository', files: 2, archiveId: made.archiveId });
		expect(await describeTree(path.join(work, 'from-repo'))).toEqual(await describeTree(path.join(work, 'source')));

		const archiveDir = String(made.archiveId).replace('#', '');
		const inspect = await dos(['inspect', `repo/archives/${archiveDir}/manifest.0`, '--json'], { cwd: work, env });
		expect(inspect.code).toBe(0);
		expect(inspect.lines.at(-1)).toMatchObject({ type: 'result', ok: true, format: 'repository', manifest: { id: made.archiveId, version: 2 } });

		const wrong = await dos(['assemble', 'repo', '--out', 'never'], { cwd: work, env: { USER_KEY: 'not the passphrase' } });
		expect(wrong.code).toBe(1);
		expect(wrong.stderr).toContain('WRONG_KEY');
		const missing = await dos(['assemble', 'repo', '--archive', '#010101-99', '--out', 'never'], { cwd: work, env });
		expect(missing.code).not.toBe(0);
		const packs = await readdir(path.join(work, 'repo/packs'));
		const pack = path.join(work, 'repo/packs', packs[0]!);
		const bytes = await readFile(pack);
		bytes[40] = bytes[40]! ^ 0xff;
		await writeFile(pack, bytes);
		const bad = await dos(['verify', 'repo', '--json'], { cwd: work, env });
		expect(bad.code).toBe(1);
		expect(JSON.stringify(bad.lines.at(-1))).toContain(packs[0]);
		// Ten CLI runs, each with its PBKDF2: more than the default budget on a busy machine.
	}, 240_000);

	it('GIVEN no USER_KEY anywhere WHEN slicing or assembling THEN it refuses with exit 2 and says how to set it', async () => {
		const slice = await dosHere(['slice', 'source', '--out', 'nokey'], { cwd: work });
		expect(slice.code).toBe(2);
		expect(slice.stderr).toContain('export USER_KEY=');
		expect(slice.stderr).toContain('.env');
		await expect(readdir(path.join(work, 'nokey'))).rejects.toThrow();
		const assemble = await dosHere(['assemble', 'staged', '--out', 'nokey'], { cwd: work });
		expect(assemble.code).toBe(2);
		expect(assemble.stderr).toContain('USER_KEY is not set');
	});

	it('GIVEN --out a file, or a repository inside the folder WHEN slicing or assembling THEN it says what is wrong with the path and exits 2, writing nothing', async () => {
		const env = { USER_KEY: KEY };
		await writeFile(path.join(work, 'afile'), 'not a folder\n');
		for (const args of [
			['slice', 'source', '--out', 'afile'],
			['slice', 'source', '--out', 'afile', '--format', '1'],
			['assemble', 'staged', '--out', 'afile']
		]) {
			const run = await dos(args, { cwd: work, env });
			expect(run.code).toBe(2);
			expect(run.stderr).toMatch(/Cannot \w+ ".*afile.*": (a part of it is a file, not a folder|something is already there)\. Check the paths/);
			expect(run.stderr).not.toContain('Unexpected');
		}
		expect(await readFile(path.join(work, 'afile'), 'utf8')).toBe('not a folder\n');
		const inside = await dos(['slice', 'source', '--out', 'source/docs/repo'], { cwd: work, env });
		expect(inside.code).toBe(2);
		expect(inside.stderr).toMatch(/The repository .*source\/docs\/repo is inside the folder being archived/);
		await expect(readdir(path.join(work, 'source/docs/repo'))).rejects.toThrow();
		const staged = await dos(['slice', 'source', '--out', 'source/docs/staged', '--format', '1'], { cwd: work, env });
		expect(staged.code).toBe(2);
		expect(staged.stderr).toMatch(/The output folder .*source\/docs\/staged is inside the folder being archived/);
		await expect(readdir(path.join(work, 'source/docs/staged'))).rejects.toThrow();
	});

	it('GIVEN USER_KEY in a .env file WHEN the CLI runs THEN it is used', async () => {
		const dir = path.join(work, 'dotenv');
		await mkdir(dir);
		await writeFile(path.join(dir, '.env'), `USER_KEY=${KEY}\n`);
		const slice = await dos(['slice', path.join(work, 'source/docs'), '--out', 'staged', '--format', '1', '--json'], { cwd: dir });
		expect(slice.code).toBe(0);
	});

	it('GIVEN bad usage WHEN run THEN exit 2', async () => {
		expect((await dosHere(['slice', 'source'], { cwd: work })).code).toBe(2);
		expect((await dosHere(['no-such-command'], { cwd: work })).code).toBe(2);
		expect((await dosHere(['slice', 'source', '--out', 'x', '--gzip-level', '11'], { cwd: work, env: { USER_KEY: KEY } })).code).toBe(2);
		expect((await dosHere(['slice', 'missing-folder', '--out', 'x'], { cwd: work, env: { USER_KEY: KEY } })).code).toBe(2);
		const help = await dosHere(['--help'], { cwd: work });
		expect(help.code).toBe(0);
		expect(help.stdout).toMatch(/slice[\s\S]*assemble[\s\S]*verify[\s\S]*inspect/);
	});

	it('GIVEN a tampered chunk WHEN verified THEN exit 1 naming the chunk, with and without the key', async () => {
		const staged = path.join(work, 'tampered');
		await cp(path.join(work, 'staged'), staged, { recursive: true });
		const name = (await readdir(staged)).find((file) => file.includes('.c000001.'))!;
		const bytes = await readFile(path.join(staged, name));
		bytes[100]! ^= 0xff;
		await writeFile(path.join(staged, name), bytes);
		const keyless = await dos(['verify', 'tampered'], { cwd: work });
		expect(keyless.code).toBe(1);
		// The file .c000001. is chunk 2 to a person: output numbers chunks from 1.
		expect(keyless.stderr).toMatch(/chunk 2: TAMPERED_CHUNK/);
		expect(keyless.stderr).toContain('Bad chunks: 2.');
		expect(keyless.stderr).toMatch(/Chunk 2 \([^)]*\.c000001\.[^)]*\) does not match the hash in its name/);
		const keyed = await dos(['verify', 'tampered', '--json'], { cwd: work, env: { USER_KEY: KEY } });
		expect(keyed.code).toBe(1);
		expect(keyed.lines.at(-1)).toMatchObject({
			type: 'result',
			ok: false,
			badChunks: [expect.objectContaining({ index: 1, code: 'TAMPERED_CHUNK' })]
		});
	});

	it('GIVEN a manifest part WHEN inspected with the key THEN it shows the header and entries but never the key', async () => {
		const part = (await readdir(path.join(work, 'staged'))).find((file) => file.includes('.m000.'))!;
		const bytes = await readFile(path.join(work, 'staged', part));
		const derived = pbkdf2Sync(KEY, bytes.subarray(12, 28), bytes.readUInt32BE(8), 32, 'sha256').toString('hex');
		const shown = await dos(['inspect', path.join('staged', part)], { cwd: work, env: { USER_KEY: KEY } });
		expect(shown.code).toBe(0);
		expect(shown.stdout).toContain('manifest container, format 1');
		expect(shown.stdout).toContain('600000 iterations');
		expect(shown.stdout).toContain('docs/readme.md');
		const json = await dos(['inspect', path.join('staged', part), '--json'], { cwd: work, env: { USER_KEY: KEY } });
		expect(json.lines.at(-1)).toMatchObject({ header: { kind: 'manifest', index: 0, count: 1 }, manifest: { label: 'docs' } });
		for (const output of [shown.stdout + shown.stderr, json.stdout + json.stderr]) {
			expect(output).not.toContain(KEY);
			expect(output).not.toContain(derived);
		}
		const chunk = (await readdir(path.join(work, 'staged'))).find((file) => file.includes('.c000000.'))!;
		const header = await dos(['inspect', path.join('staged', chunk), '--json'], { cwd: work });
		expect(header.lines.at(-1)).toMatchObject({ header: { kind: 'data', index: 0, count: 0, version: 1 } });
		// For a person, the file .c000000. is chunk 1; its header's index stays shown as it is.
		expect((await dos(['inspect', path.join('staged', chunk)], { cwd: work })).stdout).toContain('chunk 1 (index 0)');
	});

	it('GIVEN a legacy "[Archive] #DDMMYY-NN" folder WHEN assembled THEN it is detected and restored bit for bit', async () => {
		const fixture = path.join(repo, 'test/fixtures/legacy-v3.1/[Archive] #241126-07');
		const expected = JSON.parse(await readFile(path.join(repo, 'test/fixtures/legacy-v3.1/expected-sha256.json'), 'utf8')) as Record<
			string,
			unknown
		>;
		const run = await dos(['assemble', fixture, '--out', 'legacy-out', '--json'], { cwd: work, env: { USER_KEY: KEY } });
		expect(run.stderr).toBe('');
		expect(run.code).toBe(0);
		expect(run.lines.at(-1)).toMatchObject({ type: 'result', ok: true, format: 'legacy' });
		const restored = await describeTree(path.join(work, 'legacy-out'));
		const hashes = Object.fromEntries(Object.entries(restored).map(([name, entry]) => [name, entry.sha256]));
		const wanted = (expected.files ?? expected) as Record<string, unknown>;
		for (const [name, value] of Object.entries(wanted)) {
			const sha = typeof value === 'string' ? value : (value as { sha256: string }).sha256;
			expect(hashes[name], name).toBe(sha);
		}
	});

	it('GIVEN a legacy folder holding a second, different manifest WHEN assembled or verified THEN both exit 1 asking for --manifest, and with it the named one is used', async () => {
		const folder = path.join(work, 'ambiguous');
		await cp(path.join(repo, 'test/fixtures/legacy-v3.1/[Archive] #241126-07'), folder, { recursive: true });
		const manifest = JSON.parse(await readFile(path.join(folder, '11-manifest_021328_241126.json'), 'utf8')) as {
			files: Record<string, unknown>;
		};
		const files = Object.fromEntries(Object.entries(manifest.files).slice(0, 2));
		await writeFile(
			path.join(folder, '12-manifest_031500_241126.json'),
			JSON.stringify({ version: '3.1', encrypted: true, encryption_scope: 'chunk', files })
		);
		const assembled = await dos(['assemble', 'ambiguous', '--out', 'ambiguous-out', '--json'], { cwd: work, env: { USER_KEY: KEY } });
		expect(assembled.code).toBe(1);
		expect(JSON.stringify(assembled.lines.at(-1))).toContain('--manifest');
		const verified = await dos(['verify', 'ambiguous'], { cwd: work });
		expect(verified.code).toBe(1);
		const chosen = await dos(['verify', 'ambiguous', '--manifest', '11-manifest_021328_241126.json'], { cwd: work });
		expect(chosen.code).toBe(0);
		expect(chosen.stdout).toContain('authenticates each chunk but not its file list');
	});

	it.each([
		['--lot', '0'],
		['--id', '#261124-00'],
		['--id', '#321124-05']
	])('GIVEN slice %s %s WHEN run THEN it is refused as usage: an offline id must be one the index accepts', async (flag, value) => {
		const run = await dosHere(['slice', 'source', '--out', `refused-${value.replace('#', '')}`, flag, value], {
			cwd: work,
			env: { USER_KEY: KEY }
		});
		expect(run.code).toBe(2);
	});
});
