import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
	assembleStagedFolder,
	CoreErrorCode,
	decodeChunkHeader,
	manifestPartFileName,
	openManifest,
	parseStagedName,
	stageArchive,
	verifyStagedFolder
} from '../../src/core/index.js';

import { PASS, nextCase, pool, useCoreWorkspace } from '../support/core-workspace.js';

/**
 * Numbers a staged folder carries before anything is authenticated (a manifest part's count, the chunk numbers in
 * file names) are only compared with what is present: forged ones are reported, never used to size or drive anything.
 */

useCoreWorkspace({ workers: 1 });

async function stage() {
	const base = nextCase('case');
	const source = path.join(base, 'source');
	await mkdir(source, { recursive: true });
	await writeFile(path.join(source, 'one.bin'), randomBytes(250));
	await writeFile(path.join(source, 'two.txt'), 'two');
	const staged = await stageArchive({
		source,
		outDir: path.join(base, 'staged'),
		passphrase: PASS,
		pool,
		kdfIterations: 1000,
		chunkSize: 100,
		archiveId: '#010125-03'
	});
	return { base, dir: staged.outDir, out: path.join(base, 'out') };
}

/** Rewrites every manifest part's count field and renames each file so that the hash in its name matches again. */
async function forgeManifestCount(dir: string, count: number): Promise<void> {
	for (const name of await readdir(dir)) {
		const parsed = parseStagedName(name);
		if (parsed?.kind !== 'manifest') continue;
		const bytes = await readFile(path.join(dir, name));
		bytes.writeUInt32BE(count, 76);
		await rm(path.join(dir, name));
		const sha256 = createHash('sha256').update(bytes).digest('hex');
		await writeFile(path.join(dir, manifestPartFileName('#010125-03', parsed.index, sha256)), bytes);
	}
}

describe('pre-authentication numbers', () => {
	it('GIVEN a manifest part whose count says 0xFFFFFFFF WHEN opened THEN MISSING_CHUNK says how many parts are absent, without sizing anything by it', async () => {
		const { dir } = await stage();
		const name = (await readdir(dir)).find((file) => parseStagedName(file)?.kind === 'manifest')!;
		const bytes = await readFile(path.join(dir, name));
		bytes.writeUInt32BE(0xffff_ffff, 76);
		expect(decodeChunkHeader(bytes).count).toBe(0xffff_ffff);
		await expect(openManifest([bytes], PASS)).rejects.toMatchObject({
			code: CoreErrorCode.MissingChunk,
			message: expect.stringContaining(`${0xffff_ffff - 1} of the 4294967295 manifest part(s) are missing (part 2, 3, 4`)
		});
		bytes.writeUInt32BE(0, 76);
		await expect(openManifest([bytes], PASS)).rejects.toMatchObject({ code: CoreErrorCode.BadFormat });
		bytes.writeUInt32BE(2, 76);
		await expect(openManifest([bytes], PASS)).rejects.toMatchObject({
			code: CoreErrorCode.MissingChunk,
			message: expect.stringContaining('1 of the 2 manifest part(s) are missing (part 2)')
		});
	});

	it('GIVEN a staged folder whose manifest count is forged and its name hash matched WHEN assembled or verified THEN a CoreError, not a crash', async () => {
		const { dir, out } = await stage();
		await forgeManifestCount(dir, 0xffff_ffff);
		await expect(assembleStagedFolder(dir, out, { passphrase: PASS, pool })).rejects.toMatchObject({ code: CoreErrorCode.MissingChunk });
		await expect(verifyStagedFolder(dir, { passphrase: PASS, pool })).rejects.toMatchObject({ code: CoreErrorCode.MissingChunk });
	});

	it('GIVEN a chunk file named as chunk 4,000,000,000 WHEN verified without the key THEN the gap is summed up, not listed one by one', async () => {
		const { dir } = await stage();
		const first = (await readdir(dir)).find((file) => file.includes('.c000000.'))!;
		const copy = first.replace('.c000000.', '.c4000000000.');
		await writeFile(path.join(dir, copy), await readFile(path.join(dir, first)));
		const report = await verifyStagedFolder(dir, { pool });
		expect(report.ok).toBe(false);
		expect(report.badChunks.length).toBeLessThan(1010);
		expect(report.badChunks.filter((chunk) => chunk.code === CoreErrorCode.MissingChunk).length).toBe(1001);
		expect(report.badChunks.find((chunk) => chunk.index === -1)?.message).toMatch(/more chunk\(s\) below chunk 4000000001 are missing/);
		// A number no container index can be is not taken for a chunk name at all.
		expect(parseStagedName('010125-03.c99999999999999999999.0123456789ab.bin')).toBeUndefined();
	});

	it('GIVEN a chunk file grown to 3 GiB (sparse) WHEN assembled or verified THEN it is refused from its size, never read', async () => {
		const { dir, out } = await stage();
		const chunk = (await readdir(dir)).find((file) => file.includes('.c000001.'))!;
		await truncate(path.join(dir, chunk), 3 * 1024 * 1024 * 1024);
		await expect(assembleStagedFolder(dir, out, { passphrase: PASS, pool })).rejects.toMatchObject({ code: CoreErrorCode.TamperedChunk });
		const keyless = await verifyStagedFolder(dir, { pool });
		expect(keyless.badChunks).toMatchObject([{ index: 1, code: CoreErrorCode.TamperedChunk }]);
		const keyed = await verifyStagedFolder(dir, { pool, passphrase: PASS });
		expect(keyed.badChunks).toMatchObject([{ index: 1, code: CoreErrorCode.TamperedChunk }]);
	});

	it('GIVEN the last chunk deleted WHEN verified without the key THEN the report says it cannot see a deletion after the last chunk present', async () => {
		const { dir } = await stage();
		const chunks = (await readdir(dir)).filter((file) => parseStagedName(file)?.kind === 'data').sort();
		await rename(path.join(dir, chunks.at(-1)!), nextCase('moved'));
		const keyless = await verifyStagedFolder(dir, { pool });
		expect(keyless.ok).toBe(true);
		expect(keyless.limits).toEqual([
			expect.stringContaining(`a chunk deleted after chunk ${chunks.length - 1} (numbered from 1) cannot be detected`)
		]);
		const keyed = await verifyStagedFolder(dir, { pool, passphrase: PASS });
		expect(keyed.ok).toBe(false);
		expect(keyed.limits).toEqual([]);
	});
});
