import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLegacyManifest, restoreLegacyFolder, writeLegacyArchive } from '../../../src/core/legacy/index.js';

describe('writeLegacyArchive (the sandbox seed of an original-tool v3.1 archive)', () => {
	let dir: string;

	beforeAll(async () => {
		dir = await mkdtemp(path.join(tmpdir(), 'dos-legacy-writer-'));
	});

	afterAll(async () => {
		await rm(dir, { recursive: true, force: true });
	});

	it('GIVEN files, one split into slices and one empty WHEN written and read back by the legacy reader THEN every file comes back byte for byte', async () => {
		const files = [
			{ name: 'a.txt', data: Buffer.from('hello '.repeat(50)) },
			{ name: 'b.bin', data: createHash('sha512').update('b').digest() },
			{ name: 'empty', data: Buffer.alloc(0) }
		];
		const archive = await writeLegacyArchive(files, {
			passphrase: 'the original key',
			sourceFolder: 'src',
			createdAt: new Date(Date.UTC(2024, 10, 20, 9, 15, 0)),
			sliceSize: 100
		});
		expect(archive.chunks.map((chunk) => chunk.name)).toEqual([
			expect.stringMatching(/^0001-[0-9a-f]{12}-[0-9a-f]{16}-0000\.bin$/u),
			expect.stringMatching(/^0002-[0-9a-f]{12}-[0-9a-f]{16}-0001\.bin$/u),
			expect.stringMatching(/^0003-[0-9a-f]{12}-[0-9a-f]{16}-0002\.bin$/u),
			expect.stringMatching(/^0004-[0-9a-f]{12}-[0-9a-f]{16}-0000\.bin$/u),
			expect.stringMatching(/^0005-[0-9a-f]{12}-[0-9a-f]{16}-0000\.bin$/u)
		]);
		expect(archive.manifest.name).toBe('5-manifest_091500_201124.json');
		expect(parseLegacyManifest(archive.manifest.data.toString('utf8'))).toBeTruthy();
		const folder = path.join(dir, 'archive');
		const out = path.join(dir, 'out');
		await mkdir(folder);
		for (const file of [...archive.chunks, archive.manifest]) await writeFile(path.join(folder, file.name), file.data);
		const restored = await restoreLegacyFolder(folder, out, { passphrase: 'the original key' });
		expect(restored.files.map((file) => [file.name, file.sha256])).toEqual(
			files.map((file) => [file.name, createHash('sha256').update(file.data).digest('hex')])
		);
	}, 60_000);

	it('GIVEN a name with a separator WHEN written THEN it is refused as UNSAFE_PATH', async () => {
		await expect(
			writeLegacyArchive([{ name: '../x', data: Buffer.from('x') }], { passphrase: 'k', sourceFolder: 's', createdAt: new Date() })
		).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
	});
});
