import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countOf, progressLine } from '../../src/archive/card.js';
import { type CliRun, runDosHere } from './support.js';
import { allOf, plural } from '../../src/cli/report.js';

let dir: string;
beforeAll(async () => {
	dir = await mkdtemp(path.join(tmpdir(), 'dos-cli-plurals-'));
	await mkdir(path.join(dir, 'one'), { recursive: true });
	await writeFile(path.join(dir, 'one', 'only.txt'), 'just one file\n');
});
afterAll(async () => {
	await rm(dir, { recursive: true, force: true });
});

function dos(args: string[]): Promise<CliRun> {
	return runDosHere(args, { cwd: dir, env: { DOS_WORKERS: '1', USER_KEY: 'correct horse battery staple' } });
}

describe('counts in words', () => {
	it('GIVEN counts WHEN put in words THEN exactly one is singular, every other count plural', () => {
		expect([plural(0, 'file'), plural(1, 'file'), plural(2, 'file'), plural(1, 'manifest part')]).toEqual([
			'0 files',
			'1 file',
			'2 files',
			'1 manifest part'
		]);
		expect([countOf(1, 'chunk'), countOf(3, 'chunk')]).toEqual(['1 chunk', '3 chunks']);
		expect([allOf(1, 'chunk'), allOf(4, 'chunk')]).toEqual(['The 1 chunk', 'All 4 chunks']);
		expect(progressLine({ bytesDone: 0, bytesTotal: 10, chunksDone: 0, chunksTotal: 1, rate: null, etaMs: null })).toContain('0/1 chunk');
		expect(progressLine({ bytesDone: 0, bytesTotal: 10, chunksDone: 0, chunksTotal: 1, rate: null, etaMs: null })).not.toContain('chunks');
		// Format 2 knows its packs only as the slice closes them: a count posted, never "0/0 chunks".
		const packs = progressLine({ bytesDone: 5, bytesTotal: 10, chunksDone: 1, chunksTotal: 1, rate: null, etaMs: null }, 'pack');
		expect(packs).toContain('1 pack posted');
		expect(packs).not.toContain('chunk');
	});

	it('GIVEN a folder of one file WHEN sliced and verified THEN the CLI says 1 file, 1 chunk and 1 manifest part, never "1 files"', async () => {
		const slice = await dos(['slice', path.join(dir, 'one'), '--out', path.join(dir, 'staged'), '--format', '1']);
		expect(slice.code, slice.stderr).toBe(0);
		expect(slice.stdout).toContain('Sliced 1 file, 0 folders and 0 symlinks');
		expect(slice.stdout).toMatch(/into 1 chunk \(.*\) and 1 manifest part\./);
		const verify = await dos(['verify', path.join(dir, 'staged')]);
		expect(verify.code, verify.stderr).toBe(0);
		expect(verify.stdout).toMatch(/The 1 chunk of #\S+ authenticates and the 1 file matches its hash\./);
		expect(`${slice.stdout}${verify.stdout}`).not.toMatch(/\b1 (files|chunks|folders|manifest parts)\b|\(s\)/);
	});
});
