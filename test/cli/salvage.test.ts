import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runDosHere } from './support.js';
import { createCryptoPool, stageArchive } from '../../src/core/index.js';

const KEY = 'correct horse battery staple';
let work: string;

/** Runs the CLI program in this process; returns the exit code, the output and the JSON lines. */
function dos(args: string[]): Promise<CliRun> {
	return runDosHere(args, { cwd: work, env: { DOS_WORKERS: '1', USER_KEY: KEY } });
}

/** A staged archive of a.bin (stream 0–150, chunks 0–1), b.bin (150–300, chunks 1–2), c.bin (300–400, chunk 3); 100-byte chunks. */
beforeAll(async () => {
	work = await mkdtemp(path.join(tmpdir(), 'dos-cli-salvage-'));
	await mkdir(path.join(work, 'source'));
	await writeFile(path.join(work, 'source/a.bin'), randomBytes(150));
	await writeFile(path.join(work, 'source/b.bin'), randomBytes(150));
	await writeFile(path.join(work, 'source/c.bin'), randomBytes(100));
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
