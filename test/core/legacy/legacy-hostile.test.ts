import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CoreErrorCode } from '../../../src/core/errors.js';
import {
	LEGACY_MAX_MANIFEST_BYTES,
	parseLegacyManifest,
	readLegacyManifestFile,
	restoreLegacyFolder,
	verifyLegacyFolder
} from '../../../src/core/legacy/index.js';
import { FIXTURE_KEY, FIXTURE_MANIFEST, copyFixture, expectedHashes, scratch } from './legacy-fixture.js';
import { fileIdOf, writeLegacyArchive } from './legacy-writer.js';

/**
 * Legacy folders as someone hostile may leave them: a second manifest beside the archive's, manifests far larger than
 * any real one, and plain v2.x manifests that claim more than their gzip chunks can hold.
 */

let root: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
	({ root, cleanup } = await scratch());
});

afterEach(async () => {
	await cleanup();
});

async function listOrEmpty(dir: string): Promise<string[]> {
	return readdir(dir).catch(() => []);
}

describe('a legacy folder holding several manifests', () => {
	it('GIVEN a second, different manifest beside the archive one WHEN restored or verified without naming one THEN both refuse and say how to choose; named THEN the named one is used', async () => {
		const dir = await copyFixture(root);
		const original = JSON.parse(await readFile(path.join(dir, FIXTURE_MANIFEST), 'utf8')) as { files: Record<string, unknown> };
		const { files, ...rest } = original;
		const fewer = Object.fromEntries(Object.entries(files).slice(0, 2));
		await writeFile(path.join(dir, '12-manifest_031500_241126.json'), JSON.stringify({ ...rest, files: fewer, total_chunks: undefined }));

		const out = path.join(root, 'out');
		const refusal = { code: CoreErrorCode.BadFormat, message: expect.stringContaining('--manifest <file>') };
		await expect(restoreLegacyFolder(dir, out, { passphrase: FIXTURE_KEY })).rejects.toMatchObject(refusal);
		await expect(verifyLegacyFolder(dir)).rejects.toMatchObject(refusal);
		expect(await listOrEmpty(out)).toEqual([]);

		const keyless = await verifyLegacyFolder(dir, { manifestFile: FIXTURE_MANIFEST });
		expect(keyless).toMatchObject({ ok: true, manifestFile: FIXTURE_MANIFEST, chunks: 11 });
		const restored = await restoreLegacyFolder(dir, out, { passphrase: FIXTURE_KEY, manifestFile: FIXTURE_MANIFEST });
		expect(Object.fromEntries(restored.files.map((file) => [file.name, file.sha256]))).toEqual(await expectedHashes());
	});
});

describe('huge legacy manifests', () => {
	it('GIVEN a manifest file larger than LEGACY_MAX_MANIFEST_BYTES WHEN read THEN it is refused from its size, unread', async () => {
		const file = path.join(root, 'manifest.json');
		await writeFile(file, '{"files":{}}');
		await truncate(file, LEGACY_MAX_MANIFEST_BYTES + 1);
		await expect(readLegacyManifestFile(root)).rejects.toMatchObject({
			code: CoreErrorCode.BadFormat,
			message: expect.stringContaining('far larger')
		});
	});

	it('GIVEN a valid manifest of 160,000 chunks in one file WHEN parsed THEN it is read (no spread over the chunks)', () => {
		const name = 'huge.bin';
		const fileId = fileIdOf(name);
		const chunks = Array.from(
			{ length: 160_000 },
			(_, index) => `${index + 1}-data_${fileId}_${'0'.repeat(16)}_${String(index).padStart(4, '0')}.bin`
		);
		const manifest = parseLegacyManifest({ version: '2.1', files: { [fileId]: { original_name: name, total_size: 160_000 * 1024, chunks } } });
		expect(manifest.totals).toMatchObject({ files: 1, chunks: 160_000 });
	});
});

describe('plain v2.x gzip chunks and the size their manifest claims', () => {
	/** A v2.x archive of one gzip-stored file of 8 MiB of zeros (8 KiB of chunks), its manifest claiming `claimed` bytes. */
	async function bomb(claimed: number): Promise<string> {
		const dir = path.join(root, `[Archive] #241126-09`);
		const written = await writeLegacyArchive(dir, [{ name: 'zeros.bin', data: Buffer.alloc(8 * 1024 * 1024) }], {
			version: '2.1',
			sliceSize: 1024 * 1024,
			gzipPlain: true
		});
		const files = written.manifest.files as Record<string, { total_size: number }>;
		files[fileIdOf('zeros.bin')]!.total_size = claimed;
		await writeFile(written.manifestPath, JSON.stringify(written.manifest));
		return dir;
	}

	it('GIVEN a manifest claiming far more than its chunks can inflate to WHEN restored or verified THEN a damaged archive is reported before a byte is written', async () => {
		const dir = await bomb(1024 * 1024 * 1024 * 1024);
		const out = path.join(root, 'out');
		let chunksRead = 0;
		await expect(
			restoreLegacyFolder(dir, out, {
				onProgress: (progress) => {
					chunksRead = progress.chunksDone;
				}
			})
		).rejects.toMatchObject({ code: CoreErrorCode.BadFormat, message: expect.stringContaining('cannot inflate to that much') });
		expect(chunksRead).toBe(0);
		expect(await listOrEmpty(out)).toEqual([]);
		const report = await verifyLegacyFolder(dir);
		expect(report.ok).toBe(false);
		expect(report.problems).toMatchObject([{ code: CoreErrorCode.BadFormat, message: expect.stringContaining('cannot inflate to that much') }]);
	});

	it('GIVEN a manifest claiming less than the chunks inflate to WHEN restored THEN inflating stops at the claim, the archive is reported damaged and no partial file stays', async () => {
		const dir = await bomb(1024 * 1024);
		const out = path.join(root, 'out');
		await expect(restoreLegacyFolder(dir, out)).rejects.toMatchObject({
			code: CoreErrorCode.BadFormat,
			message: expect.stringContaining('more than its')
		});
		expect(await listOrEmpty(out)).toEqual([]);
	});
});
