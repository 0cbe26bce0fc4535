import { createHash } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CoreErrorCode, type CoreError, isCoreError } from '../../../src/core/errors.js';
import { legacyChunkHash, openLegacyChunk, parseLegacyChunkName, restoreLegacyFolder, verifyLegacyFolder } from '../../../src/core/legacy/index.js';
import { FIXTURE_KEY, FIXTURE_MANIFEST, copyFixture, countDerivations, expectedHashes, scratch } from './legacy-fixture.js';

interface FixtureChunk {
	readonly name: string;
	readonly file: string;
}

/** The fixture's chunks with the file each belongs to, read from its manifest. */
async function fixtureChunks(dir: string): Promise<FixtureChunk[]> {
	const manifest = JSON.parse(await readFile(path.join(dir, FIXTURE_MANIFEST), 'utf8')) as {
		files: Record<string, { original_name: string; chunks: { name: string }[] }>;
	};
	return Object.values(manifest.files)
		.flatMap((file) => file.chunks.map((chunk) => ({ name: chunk.name, file: file.original_name })))
		.sort((a, b) => a.name.localeCompare(b.name));
}

async function sha256Of(file: string): Promise<string> {
	return createHash('sha256')
		.update(await readFile(file))
		.digest('hex');
}

async function listOrEmpty(dir: string): Promise<string[]> {
	return readdir(dir).catch(() => []);
}

function flipByte(bytes: Buffer, position: number): Buffer {
	const copy = Buffer.from(bytes);
	copy[position] = copy[position]! ^ 0x01;
	return copy;
}

describe('legacy v3.1 restore of the original tool’s fixture', () => {
	let root: string;
	let cleanup: () => Promise<void>;
	let dir: string;
	let out: string;

	beforeEach(async () => {
		({ root, cleanup } = await scratch());
		dir = await copyFixture(root);
		out = path.join(root, 'restored');
	});
	afterEach(async () => cleanup());

	it('GIVEN the fixture and its key WHEN it is restored THEN every file matches expected-sha256.json bit for bit, with one PBKDF2 per chunk', async () => {
		const expected = await expectedHashes();
		const progress: number[] = [];
		const { result, error, derivations } = await countDerivations(() =>
			restoreLegacyFolder(dir, out, {
				passphrase: FIXTURE_KEY,
				expectedSha256: expected,
				onProgress: (event) => progress.push(event.chunksDone)
			})
		);
		expect(error).toBeUndefined();
		expect(derivations).toBe(11);
		expect(result!.files.map((file) => file.name).sort()).toEqual(Object.keys(expected).sort());
		for (const [name, sha256] of Object.entries(expected)) {
			expect(await sha256Of(path.join(out, name))).toBe(sha256);
		}
		expect((await readdir(out)).sort()).toEqual(Object.keys(expected).sort());
		expect(result!.chunksRead).toBe(11);
		expect(progress.at(-1)).toBe(11);
		expect(result!.manifest.format).toBe('legacy-v3.1');
	});

	it('GIVEN the fixture WHEN it is verified with and without the key THEN both pass, and the full check reports every file’s sha256', async () => {
		const expected = await expectedHashes();
		const quick = await verifyLegacyFolder(dir);
		expect(quick).toMatchObject({ ok: true, contentsChecked: false, chunks: 11, problems: [] });
		const full = await verifyLegacyFolder(dir, { passphrase: FIXTURE_KEY });
		expect(full).toMatchObject({ ok: true, contentsChecked: true, chunks: 11, problems: [] });
		expect(Object.fromEntries(full.files.map((file) => [file.name, file.sha256]))).toEqual(expected);
		expect(await listOrEmpty(out)).toEqual([]);
	});

	it('GIVEN a flipped byte in any one chunk WHEN that file is restored THEN the name hash names the chunk as tampered and nothing is written', async () => {
		const chunks = await fixtureChunks(dir);
		expect(chunks).toHaveLength(11);
		for (const chunk of chunks) {
			const file = path.join(dir, chunk.name);
			const original = await readFile(file);
			await writeFile(file, flipByte(original, Math.floor(original.length / 2)));
			const target = path.join(out, chunk.name);
			const error = await restoreLegacyFolder(dir, target, { passphrase: FIXTURE_KEY, paths: [chunk.file] }).catch((caught: unknown) => caught);
			expect(isCoreError(error, CoreErrorCode.TamperedChunk), `${chunk.name}: ${String(error)}`).toBe(true);
			expect((error as CoreError).details.file).toBe(chunk.name);
			expect(await listOrEmpty(target)).toEqual([]);
			await writeFile(file, original);
		}
	});

	it('GIVEN a flipped byte in any one chunk, renamed to match its new hash WHEN that file is restored THEN the GCM tag names the chunk as tampered and nothing is written', async () => {
		const chunks = await fixtureChunks(dir);
		const manifestPath = path.join(dir, FIXTURE_MANIFEST);
		const manifestText = await readFile(manifestPath, 'utf8');
		for (const chunk of chunks) {
			const original = await readFile(path.join(dir, chunk.name));
			// Flip a ciphertext byte (after salt and nonce), so the key derivation is the right one and only the tag can tell.
			const altered = flipByte(original, 28 + Math.floor((original.length - 44) / 2));
			const parsed = parseLegacyChunkName(chunk.name)!;
			const renamed = chunk.name.replace(parsed.hash16, legacyChunkHash(altered));
			await rm(path.join(dir, chunk.name));
			await writeFile(path.join(dir, renamed), altered);
			await writeFile(manifestPath, manifestText.replace(chunk.name, renamed));

			const target = path.join(out, chunk.name);
			const error = await restoreLegacyFolder(dir, target, { passphrase: FIXTURE_KEY, paths: [chunk.file] }).catch((caught: unknown) => caught);
			expect(isCoreError(error, CoreErrorCode.TamperedChunk), `${chunk.name}: ${String(error)}`).toBe(true);
			expect((error as CoreError).details.file).toBe(renamed);
			expect(await listOrEmpty(target)).toEqual([]);

			await rm(path.join(dir, renamed));
			await writeFile(path.join(dir, chunk.name), original);
			await writeFile(manifestPath, manifestText);
		}
	});

	it('GIVEN tampered bytes WHEN one chunk is opened THEN it is refused by its name hash before any key derivation', async () => {
		const [first] = await fixtureChunks(dir);
		const bytes = await readFile(path.join(dir, first!.name));
		const { error, derivations } = await countDerivations(() => openLegacyChunk(first!.name, flipByte(bytes, 30), FIXTURE_KEY));
		expect(isCoreError(error, CoreErrorCode.TamperedChunk)).toBe(true);
		expect(derivations).toBe(0);
		const { result } = await countDerivations(() => openLegacyChunk(first!.name, bytes, FIXTURE_KEY));
		expect(result).toEqual(Buffer.alloc(0));
	});

	it('GIVEN two damaged chunks WHEN the folder is verified with the key THEN both are reported, not just the first', async () => {
		const chunks = await fixtureChunks(dir);
		const hashVictim = chunks[3]!;
		const tagVictim = chunks[8]!;
		const hashBytes = await readFile(path.join(dir, hashVictim.name));
		await writeFile(path.join(dir, hashVictim.name), flipByte(hashBytes, 100));
		const tagBytes = flipByte(await readFile(path.join(dir, tagVictim.name)), 200);
		const renamed = tagVictim.name.replace(parseLegacyChunkName(tagVictim.name)!.hash16, legacyChunkHash(tagBytes));
		await rm(path.join(dir, tagVictim.name));
		await writeFile(path.join(dir, renamed), tagBytes);
		const manifestPath = path.join(dir, FIXTURE_MANIFEST);
		await writeFile(manifestPath, (await readFile(manifestPath, 'utf8')).replace(tagVictim.name, renamed));

		const quick = await verifyLegacyFolder(dir);
		expect(quick.problems.map((problem) => [problem.code, problem.chunk])).toEqual([[CoreErrorCode.TamperedChunk, hashVictim.name]]);

		const full = await verifyLegacyFolder(dir, { passphrase: FIXTURE_KEY });
		expect(full.ok).toBe(false);
		expect(full.problems.map((problem) => [problem.code, problem.chunk]).sort()).toEqual(
			[
				[CoreErrorCode.TamperedChunk, hashVictim.name],
				[CoreErrorCode.TamperedChunk, renamed]
			].sort()
		);
		const bad = full.files.filter((file) => !file.ok).map((file) => file.name);
		expect(bad.sort()).toEqual([hashVictim.file, tagVictim.file].sort());
	});

	it('GIVEN the wrong key WHEN the fixture is restored THEN it fails at the first chunk with WRONG_KEY and writes nothing', async () => {
		const { error, derivations } = await countDerivations(() => restoreLegacyFolder(dir, out, { passphrase: 'not the key' }));
		expect(isCoreError(error, CoreErrorCode.WrongKey), String(error)).toBe(true);
		expect((error as CoreError).details.file).toMatch(/^0001-/);
		// The first chunk, the one opened ahead of it, and at most one probe: never the whole archive.
		expect(derivations).toBeLessThanOrEqual(3);
		expect(await listOrEmpty(out)).toEqual([]);

		const report = await verifyLegacyFolder(dir, { passphrase: 'not the key' });
		expect(report.ok).toBe(false);
		expect(report.problems.map((problem) => problem.code)).toEqual([CoreErrorCode.WrongKey]);
	});

	it('GIVEN no key WHEN the encrypted fixture is restored THEN it asks for USER_KEY', async () => {
		const error = await restoreLegacyFolder(dir, out).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.NoKey)).toBe(true);
		expect((error as Error).message).toContain('USER_KEY');
	});

	it('GIVEN a missing chunk WHEN the fixture is restored THEN MISSING_CHUNK names it before anything is written', async () => {
		const missing = (await fixtureChunks(dir))[5]!;
		await rm(path.join(dir, missing.name));
		const { error, derivations } = await countDerivations(() => restoreLegacyFolder(dir, out, { passphrase: FIXTURE_KEY }));
		expect(isCoreError(error, CoreErrorCode.MissingChunk)).toBe(true);
		expect((error as CoreError).message).toContain(missing.name);
		expect((error as CoreError).details.paths).toEqual([missing.file]);
		expect(derivations).toBe(0);
		expect(await listOrEmpty(out)).toEqual([]);

		const report = await verifyLegacyFolder(dir);
		expect(report.problems).toEqual([expect.objectContaining({ code: CoreErrorCode.MissingChunk, chunk: missing.name, file: missing.file })]);
	});

	it('GIVEN a truncated chunk WHEN the fixture is restored THEN its size names it as tampered before any key work', async () => {
		const victim = (await fixtureChunks(dir))[7]!;
		const bytes = await readFile(path.join(dir, victim.name));
		await writeFile(path.join(dir, victim.name), bytes.subarray(0, bytes.length - 1));
		const { error, derivations } = await countDerivations(() => restoreLegacyFolder(dir, out, { passphrase: FIXTURE_KEY }));
		expect(isCoreError(error, CoreErrorCode.TamperedChunk)).toBe(true);
		expect((error as CoreError).message).toContain(victim.name);
		expect(derivations).toBe(0);
		expect(await listOrEmpty(out)).toEqual([]);
		const report = await verifyLegacyFolder(dir);
		expect(report.problems).toEqual([expect.objectContaining({ code: CoreErrorCode.TamperedChunk, chunk: victim.name })]);
	});

	it('GIVEN an existing file in the target WHEN restoring without overwrite THEN it is refused and left untouched; with overwrite it is replaced', async () => {
		const expected = await expectedHashes();
		await restoreLegacyFolder(dir, out, { passphrase: FIXTURE_KEY, paths: ['empty.dat'] });
		await writeFile(path.join(out, 'notes.txt'), 'mine');
		const error = await restoreLegacyFolder(dir, out, { passphrase: FIXTURE_KEY, paths: ['notes.txt'] }).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.FileExists)).toBe(true);
		expect(await readFile(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
		expect((await readdir(out)).sort()).toEqual(['empty.dat', 'notes.txt']);

		await restoreLegacyFolder(dir, out, { passphrase: FIXTURE_KEY, paths: ['notes.txt'], overwrite: true });
		expect(await sha256Of(path.join(out, 'notes.txt'))).toBe(expected['notes.txt']);
		expect((await readdir(out)).sort()).toEqual(['empty.dat', 'notes.txt']);
	});

	it('GIVEN only the chunks of one file WHEN that file is restored by name THEN it succeeds reading only its chunks', async () => {
		const expected = await expectedHashes();
		for (const chunk of await fixtureChunks(dir)) if (chunk.file !== 'notes.txt') await rm(path.join(dir, chunk.name));
		const { result, error, derivations } = await countDerivations(() =>
			restoreLegacyFolder(dir, out, { passphrase: FIXTURE_KEY, paths: ['notes.txt'] })
		);
		expect(error).toBeUndefined();
		expect(derivations).toBe(4);
		expect(result!.chunksRead).toBe(4);
		expect(await readdir(out)).toEqual(['notes.txt']);
		expect(await sha256Of(path.join(out, 'notes.txt'))).toBe(expected['notes.txt']);
	});

	it('GIVEN a name the archive does not hold WHEN it is asked for THEN NOT_FOUND lists what the archive holds', async () => {
		const error = await restoreLegacyFolder(dir, out, { passphrase: FIXTURE_KEY, paths: ['nope.txt'] }).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.NotFound)).toBe(true);
		expect((error as Error).message).toContain('notes.txt');
	});

	it('GIVEN a wrong expected sha256 WHEN restoring THEN HASH_MISMATCH and the file is not kept', async () => {
		const error = await restoreLegacyFolder(dir, out, {
			passphrase: FIXTURE_KEY,
			paths: ['exact.bin'],
			expectedSha256: { 'exact.bin': '0'.repeat(64) }
		}).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.HashMismatch)).toBe(true);
		expect(await listOrEmpty(out)).toEqual([]);
	});

	it('GIVEN an aborted signal WHEN restoring THEN ABORTED and nothing is written', async () => {
		const controller = new AbortController();
		controller.abort();
		const error = await restoreLegacyFolder(dir, out, { passphrase: FIXTURE_KEY, signal: controller.signal }).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.Aborted)).toBe(true);
		expect(await listOrEmpty(out)).toEqual([]);
	});

	it('GIVEN a restore stopped mid-way WHEN the signal fires after the first chunk THEN no partial file is left', async () => {
		const controller = new AbortController();
		const error = await restoreLegacyFolder(dir, out, {
			passphrase: FIXTURE_KEY,
			paths: ['random.bin'],
			signal: controller.signal,
			onProgress: (progress) => {
				if (progress.chunksDone === 1) controller.abort();
			}
		}).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.Aborted), String(error)).toBe(true);
		expect(await listOrEmpty(out)).toEqual([]);
	});

	it('GIVEN the chunks folder renamed WHEN restoring from it THEN the folder name does not matter', async () => {
		const moved = path.join(root, 'downloaded');
		await rename(dir, moved);
		const result = await restoreLegacyFolder(moved, out, { passphrase: FIXTURE_KEY, paths: ['empty.dat'] });
		expect(result.files).toEqual([expect.objectContaining({ name: 'empty.dat', size: 0 })]);
	});
});
