import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CoreErrorCode, isCoreError } from '../../../src/core/errors.js';
import {
	formatLegacyChunkName,
	isLegacyArchiveFolder,
	legacyArchiveFolderName,
	legacyFileId,
	parseLegacyArchiveId,
	parseLegacyChunkName,
	parseLegacyManifest,
	readLegacyManifest,
	readLegacyManifestFile,
	restoreLegacyFolder
} from '../../../src/core/legacy/index.js';
import { FIXTURE_DIR, FIXTURE_KEY, FIXTURE_MANIFEST, copyFixture, scratch } from './legacy-fixture.js';

type RawManifest = Record<string, unknown> & { files: Record<string, { original_name: string; original_size: number; chunks: unknown[] }> };

async function fixtureManifest(): Promise<RawManifest> {
	return JSON.parse(await readFile(path.join(FIXTURE_DIR, FIXTURE_MANIFEST), 'utf8')) as RawManifest;
}

/** The fixture's manifest with `empty.dat` renamed to `name` (and its id and chunk name made to match). */
async function manifestNaming(name: string): Promise<{ raw: RawManifest; chunkName: string; fileId: string }> {
	const raw = await fixtureManifest();
	const entry = raw.files['10fba2f1ce1f']!;
	delete raw.files['10fba2f1ce1f'];
	const fileId = legacyFileId(name);
	const chunkName = `0001-${fileId}-dca95f2de5d8f49a-0000.bin`;
	raw.files[fileId] = { ...entry, original_name: name, chunks: [{ name: chunkName, size: 64, index: 0 }] };
	return { raw, chunkName, fileId };
}

function codeOf(work: () => unknown): string | undefined {
	try {
		work();
		return undefined;
	} catch (error) {
		return isCoreError(error) ? error.code : `not a CoreError: ${String(error)}`;
	}
}

describe('legacy manifests', () => {
	it('GIVEN the fixture manifest WHEN it is parsed THEN it is a v3.1 archive of five files in archive order', async () => {
		const manifest = parseLegacyManifest(await fixtureManifest());
		expect(manifest).toMatchObject({ format: 'legacy-v3.1', version: '3.1', encrypted: true, scope: 'chunk', sourceFolder: 'photos-2025' });
		expect(manifest.files.map((file) => file.name)).toEqual(['empty.dat', 'Ünïcødé naïve 名前.md', 'notes.txt', 'exact.bin', 'random.bin']);
		expect(manifest.totals).toEqual({ files: 5, chunks: 11, originalBytes: 498_831, storedBytes: 307_086 });
		expect(manifest.files[2]!.chunks.map((chunk) => chunk.index)).toEqual([0, 1, 2, 3]);
	});

	it.each([['../x'], ['/etc/passwd'], ['a/b'], ['a\\b'], ['nul\0byte'], ['..'], ['.'], ['']])(
		'GIVEN a manifest naming %j WHEN it is parsed THEN UNSAFE_PATH',
		async (name) => {
			const { raw } = await manifestNaming(name);
			expect(codeOf(() => parseLegacyManifest(raw))).toBe(CoreErrorCode.UnsafePath);
		}
	);

	it('GIVEN a manifest naming unsafe files WHEN it is restored THEN nothing is written, inside or outside the target', async () => {
		const { root, cleanup } = await scratch();
		try {
			for (const name of ['../x', '/etc/passwd', 'a/b', 'a\\b', 'nul\0byte', '..']) {
				const dir = await copyFixture(path.join(root, 'case'));
				const { raw, chunkName } = await manifestNaming(name);
				await writeFile(path.join(dir, chunkName), await readFile(path.join(dir, '0001-10fba2f1ce1f-dca95f2de5d8f49a-0000.bin')));
				await writeFile(path.join(dir, FIXTURE_MANIFEST), JSON.stringify(raw));
				const parent = path.join(root, 'parent');
				const out = path.join(parent, 'out');
				await mkdir(out, { recursive: true });
				const error = await restoreLegacyFolder(dir, out, { passphrase: FIXTURE_KEY }).catch((caught: unknown) => caught);
				expect(isCoreError(error, CoreErrorCode.UnsafePath), `${JSON.stringify(name)}: ${String(error)}`).toBe(true);
				expect(await readdir(parent)).toEqual(['out']);
				expect(await readdir(out)).toEqual([]);
				expect((await readdir(root)).sort()).toEqual(['case', 'parent']);
			}
		} finally {
			await cleanup();
		}
	});

	it('GIVEN a file id that is not the hash of its name WHEN parsed THEN BAD_FORMAT says the manifest was altered', async () => {
		const raw = await fixtureManifest();
		raw.files['10fba2f1ce1f']!.original_name = 'other.dat';
		expect(() => parseLegacyManifest(raw)).toThrow(/altered/);
		expect(codeOf(() => parseLegacyManifest(raw))).toBe(CoreErrorCode.BadFormat);
	});

	it.each([
		[
			'a chunk name of another file',
			(raw: RawManifest) => (raw.files['10fba2f1ce1f']!.chunks[0] = { name: '0001-e39538e7f27a-dca95f2de5d8f49a-0000.bin', size: 64, index: 0 })
		],
		[
			'a chunk that is not a chunk name',
			(raw: RawManifest) => (raw.files['10fba2f1ce1f']!.chunks[0] = { name: '../../etc/passwd', size: 64, index: 0 })
		],
		['a gap in the chunk indexes', (raw: RawManifest) => raw.files.e39538e7f27a!.chunks.splice(1, 1)],
		['an index that disagrees with the name', (raw: RawManifest) => ((raw.files.e39538e7f27a!.chunks[1] as { index: number }).index = 2)],
		['the same chunk listed twice', (raw: RawManifest) => raw.files.e39538e7f27a!.chunks.push(raw.files.e39538e7f27a!.chunks[0])],
		['a wrong total_chunks', (raw: RawManifest) => (raw.total_chunks = 12)],
		['a wrong total_original_size', (raw: RawManifest) => (raw.total_original_size = 1)],
		['a negative size', (raw: RawManifest) => (raw.files.e39538e7f27a!.original_size = -1)],
		['a missing files object', (raw: RawManifest) => delete (raw as Partial<RawManifest>).files],
		['a file without chunks', (raw: RawManifest) => (raw.files.e39538e7f27a!.chunks = [])],
		['a chunk too small to be encrypted', (raw: RawManifest) => ((raw.files['10fba2f1ce1f']!.chunks[0] as { size: number }).size = 20)]
	])('GIVEN %s WHEN parsed THEN BAD_FORMAT', async (_label, alter) => {
		const raw = await fixtureManifest();
		alter(raw);
		expect(codeOf(() => parseLegacyManifest(raw))).toBe(CoreErrorCode.BadFormat);
	});

	it.each([
		['a version from the future', (raw: RawManifest) => (raw.version = '4.0')],
		['an unknown encryption scope', (raw: RawManifest) => (raw.encryption_scope = 'stream')]
	])('GIVEN %s WHEN parsed THEN UNSUPPORTED_VERSION', async (_label, alter) => {
		const raw = await fixtureManifest();
		alter(raw);
		expect(codeOf(() => parseLegacyManifest(raw))).toBe(CoreErrorCode.UnsupportedVersion);
	});

	it('GIVEN manifest text that is not JSON WHEN parsed THEN BAD_FORMAT', () => {
		expect(codeOf(() => parseLegacyManifest('{ not json'))).toBe(CoreErrorCode.BadFormat);
	});

	it('GIVEN an unsafe source_folder WHEN parsed THEN UNSAFE_PATH', async () => {
		const raw = await fixtureManifest();
		raw.source_folder = '../escape';
		expect(codeOf(() => parseLegacyManifest(raw))).toBe(CoreErrorCode.UnsafePath);
	});

	describe('in a folder', () => {
		let root: string;
		let cleanup: () => Promise<void>;
		beforeEach(async () => ({ root, cleanup } = await scratch()));
		afterEach(async () => cleanup());

		it('GIVEN the fixture folder, an empty folder, a missing one and a folder of other chunks WHEN asked whether they are legacy archives THEN only the fixture is', async () => {
			expect(await isLegacyArchiveFolder(FIXTURE_DIR)).toBe(true);
			expect(await isLegacyArchiveFolder(root)).toBe(false);
			expect(await isLegacyArchiveFolder(path.join(root, 'missing'))).toBe(false);
			await writeFile(path.join(root, '241126-07.c000000.3fa9c0d1e2b4.bin'), 'x');
			await writeFile(path.join(root, 'manifest-notes.json'), '[1, 2]');
			expect(await isLegacyArchiveFolder(root)).toBe(false);
		});

		it('GIVEN a copy named manifest.json beside the original WHEN read THEN the identical copies are one manifest; a different one must be chosen', async () => {
			const dir = await copyFixture(root);
			await writeFile(path.join(dir, 'manifest.json'), await readFile(path.join(dir, FIXTURE_MANIFEST)));
			expect((await readLegacyManifest(dir)).totals.chunks).toBe(11);

			const other = await fixtureManifest();
			other.source_folder = 'elsewhere';
			await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(other));
			await expect(readLegacyManifest(dir)).rejects.toMatchObject({ code: CoreErrorCode.BadFormat });
			const chosen = await readLegacyManifestFile(dir, { file: 'manifest.json' });
			expect(chosen).toMatchObject({ file: 'manifest.json', manifest: { sourceFolder: 'elsewhere' } });
		});

		it('GIVEN a folder without a manifest WHEN read THEN NOT_FOUND says what to download', async () => {
			await expect(readLegacyManifest(root)).rejects.toMatchObject({
				code: CoreErrorCode.NotFound,
				message: expect.stringContaining('manifest')
			});
		});
	});
});

describe('legacy chunk names', () => {
	it.each([
		['0003-e39538e7f27a-960bf87909f08f9f-0000.bin', { style: 'v3', seq: 3, fileId: 'e39538e7f27a', hash16: '960bf87909f08f9f', index: 0 }],
		['12345-e39538e7f27a-960bf87909f08f9f-10000.bin', { style: 'v3', seq: 12_345, index: 10_000 }],
		['7-data_e39538e7f27a_0123456789abcdef_0002.bin', { style: 'v2', seq: 7, fileId: 'e39538e7f27a', hash16: '0123456789abcdef', index: 2 }]
	])('GIVEN %s WHEN parsed THEN its parts are read', (name, expected) => {
		expect(parseLegacyChunkName(name)).toMatchObject({ name, ...expected });
	});

	it.each([
		'003-e39538e7f27a-960bf87909f08f9f-0000.bin',
		'0003-E39538E7F27A-960bf87909f08f9f-0000.bin',
		'0003-e39538e7f27a-960bf87909f08f9-0000.bin',
		'0003-e39538e7f27a-960bf87909f08f9f-000.bin',
		'0003-e39538e7f27a-960bf87909f08f9f-0000.bin.json',
		'../0003-e39538e7f27a-960bf87909f08f9f-0000.bin',
		'241126-07.c000042.3fa9c0d1e2b4.bin'
	])('GIVEN %s WHEN parsed THEN it is not a legacy chunk name', (name) => {
		expect(parseLegacyChunkName(name)).toBeNull();
	});

	it('GIVEN the parts of a name WHEN formatted THEN it parses back to them', () => {
		const name = formatLegacyChunkName(3, 'e39538e7f27a', '960bf87909f08f9f', 0);
		expect(name).toBe('0003-e39538e7f27a-960bf87909f08f9f-0000.bin');
		expect(legacyFileId('notes.txt')).toBe('e39538e7f27a');
		expect(legacyFileId('Ünïcødé naïve 名前.md')).toBe('00041cdfc23d');
	});
});

describe('legacy archive ids', () => {
	it.each([
		['[Archive] #241126-07', { id: '#241126-07', dateCode: '241126', day: 24, month: 11, year: 2026, lot: 7 }],
		['[Archive] #241126-123', { id: '#241126-123', lot: 123 }],
		['[Archive] #010125-7', { id: '#010125-07', lot: 7 }],
		['[Archive] 241126-07', { id: '#241126-07' }],
		['#241126-07', { id: '#241126-07' }],
		['241126-07', { id: '#241126-07' }],
		['  [Archive] #290224-01 ', { id: '#290224-01', day: 29, month: 2, year: 2024 }]
	])('GIVEN the folder name %j WHEN parsed THEN the id is read', (name, expected) => {
		expect(parseLegacyArchiveId(name)).toMatchObject(expected);
	});

	it.each([
		'[Archive] #321126-07',
		'[Archive] #241326-07',
		'[Archive] #290225-01',
		'[Archive] #241126',
		'Archive #241126-07',
		'[Archive] #241126-07 copy',
		'photos'
	])('GIVEN the folder name %j WHEN parsed THEN it holds no id', (name) => {
		expect(parseLegacyArchiveId(name)).toBeNull();
	});

	it('GIVEN an id WHEN its folder name is asked for THEN it is the original tool’s', () => {
		expect(legacyArchiveFolderName('#241126-7')).toBe('[Archive] #241126-07');
		expect(codeOf(() => legacyArchiveFolderName('nonsense'))).toBe(CoreErrorCode.InvalidOption);
	});
});
