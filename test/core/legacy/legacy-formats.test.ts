import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CoreErrorCode, type CoreError, isCoreError } from '../../../src/core/errors.js';
import {
	legacyChunkHash,
	parseLegacyChunkName,
	readLegacyManifest,
	restoreLegacyFolder,
	verifyLegacyFolder
} from '../../../src/core/legacy/index.js';
import { countDerivations, scratch } from './legacy-fixture.js';
import { type LegacyWriterVersion, writeLegacyArchive } from './legacy-writer.js';

const KEY = 'legacy test key';
const SLICE = 1000;
const FC_RUNS = Number(process.env.FC_RUNS ?? 15);

function sha256(bytes: Buffer): string {
	return createHash('sha256').update(bytes).digest('hex');
}

/** Text that gzip shrinks, so gzip-or-raw decisions are exercised on both kinds of data. */
function text(bytes: number): Buffer {
	const words = ['archive', 'chunk', 'lot', 'manifest', 'thread', 'card', 'restore', 'café', '名前'];
	let out = '';
	for (let i = 0; out.length < bytes; i++) out += `${words[(i * 7) % words.length]} `;
	return Buffer.from(out).subarray(0, bytes);
}

/** Files at the slice boundaries: empty, 1, slice−1, slice, slice+1, 2·slice, and random data. */
function boundaryFiles(): { name: string; data: Buffer }[] {
	return [
		{ name: 'empty.dat', data: Buffer.alloc(0) },
		{ name: 'one.txt', data: Buffer.from('x') },
		{ name: 'below.txt', data: text(SLICE - 1) },
		{ name: 'exact.txt', data: text(SLICE) },
		{ name: 'above.bin', data: randomBytes(SLICE + 1) },
		{ name: 'two slices.bin', data: randomBytes(2 * SLICE) },
		{ name: 'Ünïcødé 名前.md', data: text(2500) }
	];
}

async function expectRestored(out: string, files: readonly { name: string; data: Buffer }[]): Promise<void> {
	expect((await readdir(out)).sort()).toEqual(files.map((file) => file.name).sort());
	for (const file of files) expect(sha256(await readFile(path.join(out, file.name))), file.name).toBe(sha256(file.data));
}

describe('legacy archive layouts written like the original tool', () => {
	let root: string;
	let cleanup: () => Promise<void>;
	beforeEach(async () => ({ root, cleanup } = await scratch()));
	afterEach(async () => cleanup());

	it.each<[LegacyWriterVersion, string, boolean, number]>([
		// version, format, gzip for plain, PBKDF2 runs expected for a full restore of boundaryFiles()
		['3.1', 'legacy-v3.1', false, 11],
		['3.0', 'legacy-v3.0', false, 7],
		['2.1', 'legacy-v2', false, 0],
		['2.0', 'legacy-v2', false, 0],
		['2.1', 'legacy-v2', true, 0]
	])(
		'GIVEN a v%s archive (%s, gzip for plain: %s) WHEN restored THEN every file round-trips at the slice boundaries',
		async (version, format, gzipPlain, kdfRuns) => {
			const files = boundaryFiles();
			const dir = path.join(root, '[Archive] #010125-01');
			await writeLegacyArchive(dir, files, { version, passphrase: KEY, sliceSize: SLICE, gzipPlain });
			const manifest = await readLegacyManifest(dir);
			expect(manifest.format).toBe(format);

			const out = path.join(root, 'out');
			const { result, error, derivations } = await countDerivations(() => restoreLegacyFolder(dir, out, { passphrase: KEY }));
			expect(error).toBeUndefined();
			expect(derivations).toBe(kdfRuns);
			await expectRestored(out, files);
			expect(result!.files.map((file) => file.sha256).sort()).toEqual(files.map((file) => sha256(file.data)).sort());

			// The fixture covers verify of v3.1, whose PBKDF2 per chunk is the slow part of this file.
			if (version === '3.1') return;
			const report = await verifyLegacyFolder(dir, { passphrase: KEY });
			expect(report.problems).toEqual([]);
			expect(Object.fromEntries(report.files.map((file) => [file.name, file.sha256]))).toEqual(
				Object.fromEntries(files.map((file) => [file.name, sha256(file.data)]))
			);
		}
	);

	it('GIVEN a v3.0 archive and the wrong key WHEN restored THEN WRONG_KEY and nothing is written', async () => {
		const files = [
			{ name: 'a.txt', data: text(3000) },
			{ name: 'b.bin', data: randomBytes(1500) }
		];
		const dir = path.join(root, 'archive');
		await writeLegacyArchive(dir, files, { version: '3.0', passphrase: KEY, sliceSize: SLICE });
		const out = path.join(root, 'out');
		const error = await restoreLegacyFolder(dir, out, { passphrase: 'wrong' }).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.WrongKey), String(error)).toBe(true);
		expect(await readdir(out)).toEqual([]);
		const report = await verifyLegacyFolder(dir, { passphrase: 'wrong' });
		expect(report.problems.map((problem) => problem.code)).toEqual([CoreErrorCode.WrongKey]);
	});

	it('GIVEN a v3.0 archive with an altered chunk renamed to match WHEN restored THEN TAMPERED_CHUNK names the file and nothing of it is written', async () => {
		const files = [
			{ name: 'a.txt', data: text(3000) },
			{ name: 'b.bin', data: randomBytes(1500) }
		];
		const dir = path.join(root, 'archive');
		const written = await writeLegacyArchive(dir, files, { version: '3.0', passphrase: KEY, sliceSize: SLICE });
		const victim = written.chunks.find((chunk) => chunk.file === 'b.bin')!.name;
		const bytes = await readFile(path.join(dir, victim));
		bytes[500] = bytes[500]! ^ 0xff;
		const renamed = victim.replace(parseLegacyChunkName(victim)!.hash16, legacyChunkHash(bytes));
		await rm(path.join(dir, victim));
		await writeFile(path.join(dir, renamed), bytes);
		await writeFile(written.manifestPath, (await readFile(written.manifestPath, 'utf8')).replace(victim, renamed));

		const out = path.join(root, 'out');
		const error = await restoreLegacyFolder(dir, out, { passphrase: KEY, paths: ['b.bin'] }).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.TamperedChunk), String(error)).toBe(true);
		expect((error as CoreError).details.paths).toEqual(['b.bin']);
		expect(await readdir(out)).toEqual([]);

		const report = await verifyLegacyFolder(dir, { passphrase: KEY });
		expect(report.problems.map((problem) => [problem.code, problem.file])).toEqual([[CoreErrorCode.TamperedChunk, 'b.bin']]);
		expect(report.files.find((file) => file.name === 'a.txt')!.ok).toBe(true);
	});

	it('GIVEN a v2 archive with a flipped byte WHEN restored THEN the name hash catches it, without any key', async () => {
		const files = [{ name: 'plain.txt', data: text(2500) }];
		const dir = path.join(root, 'archive');
		const written = await writeLegacyArchive(dir, files, { version: '2.0', sliceSize: SLICE });
		const victim = written.chunks[1]!.name;
		const bytes = await readFile(path.join(dir, victim));
		bytes[0] = bytes[0]! ^ 1;
		await writeFile(path.join(dir, victim), bytes);
		const out = path.join(root, 'out');
		const error = await restoreLegacyFolder(dir, out).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.TamperedChunk)).toBe(true);
		expect((error as CoreError).details.file).toBe(victim);
		expect(await readdir(out)).toEqual([]);
	});

	it('GIVEN a v2 manifest whose size disagrees with its chunks WHEN restored THEN BAD_FORMAT and no file is kept', async () => {
		const files = [{ name: 'plain.txt', data: text(2500) }];
		const dir = path.join(root, 'archive');
		const written = await writeLegacyArchive(dir, files, { version: '2.1', sliceSize: SLICE });
		const manifest = JSON.parse(await readFile(written.manifestPath, 'utf8')) as { files: Record<string, { total_size: number }> };
		for (const entry of Object.values(manifest.files)) entry.total_size = 2400;
		await writeFile(written.manifestPath, JSON.stringify(manifest));
		const out = path.join(root, 'out');
		const error = await restoreLegacyFolder(dir, out).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.BadFormat), String(error)).toBe(true);
		expect(await readdir(out)).toEqual([]);
	});

	it('GIVEN random plain v2 archives WHEN restored THEN they round-trip (property)', async () => {
		let run = 0;
		await fc.assert(
			fc.asyncProperty(
				fc.uniqueArray(fc.record({ name: fc.stringMatching(/^[a-zA-Z0-9 ._-]{1,20}$/), data: fc.uint8Array({ maxLength: 5000 }) }), {
					selector: (file) => file.name,
					maxLength: 6
				}),
				fc.integer({ min: 1, max: 2048 }),
				fc.boolean(),
				async (raw, sliceSize, gzipPlain) => {
					const files = raw
						.filter((file) => file.name !== '.' && file.name !== '..')
						.map((file) => ({ name: file.name, data: Buffer.from(file.data) }));
					const dir = path.join(root, `run-${run}`, 'archive');
					const out = path.join(root, `run-${run++}`, 'out');
					await writeLegacyArchive(dir, files, { version: '2.1', sliceSize, gzipPlain });
					await restoreLegacyFolder(dir, out);
					await expectRestored(out, files);
				}
			),
			{ numRuns: FC_RUNS }
		);
	});
});
