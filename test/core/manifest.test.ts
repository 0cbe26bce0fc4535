import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
	assembleStagedFolder,
	buildManifest,
	CoreErrorCode,
	createCryptoPool,
	type CryptoPool,
	decodeChunkHeader,
	deriveArchiveKey,
	type Manifest,
	newArchiveUid,
	openManifest,
	planArchive,
	sealManifest,
	type SourceEntry,
	stageArchive,
	validateManifest
} from '../../src/core/index.js';
import { describeTree, makeTemp, removeTemp } from '../support/tree.js';

const PASS = 'pw';
let pool: CryptoPool;
let work: string;
beforeAll(async () => {
	pool = createCryptoPool({ workers: 1 });
	work = await makeTemp();
});
afterAll(async () => {
	await pool.close();
	await removeTemp(work);
});

/** A manifest of many empty files (no chunks), large enough to need several parts at a small part size. */
async function bigManifest(files = 400): Promise<{ manifest: Manifest; key: Awaited<ReturnType<typeof deriveArchiveKey>> }> {
	const entries: SourceEntry[] = Array.from({ length: files }, (_, i) => ({
		path: `file-${randomBytes(8).toString('hex')}-${i}`,
		type: 'file',
		size: 0,
		mode: 0o644,
		mtimeMs: i
	}));
	const plan = planArchive(entries, { chunkSize: 1024 });
	const key = await deriveArchiveKey(PASS, { iterations: 100 });
	const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
	const manifest = buildManifest({
		plan,
		uid: newArchiveUid(),
		archiveId: '#311224-12',
		tool: 'test',
		key,
		chunks: [],
		fileHashes: new Map(entries.map((entry) => [entry.path, empty]))
	});
	return { manifest, key };
}

describe('manifest', () => {
	it('GIVEN a manifest larger than the part size WHEN sealed THEN it is split into parts that open in any order', async () => {
		const { manifest, key } = await bigManifest();
		const parts = await sealManifest(manifest, key, { partSize: 1024 });
		expect(parts.length).toBeGreaterThan(2);
		expect(parts.every((part) => part.storedSize <= 1024 + 96)).toBe(true);
		expect(parts.map((part) => decodeChunkHeader(part.bytes)).map((header) => [header.kind, header.count])).toEqual(
			parts.map(() => ['manifest', parts.length])
		);
		expect(parts[0]!.filename).toMatch(/^311224-12\.m000\.[0-9a-f]{12}\.bin$/);
		const shuffled = [...parts].reverse().map((part) => part.bytes);
		const opened = await openManifest(shuffled, PASS);
		expect(opened.manifest).toEqual(manifest);
		await expect(openManifest(shuffled.slice(1), PASS)).rejects.toMatchObject({ code: CoreErrorCode.MissingChunk });
		// People count parts from 1: the first part (.m000.) missing is part 1; a first input that is no container is part 1.
		await expect(
			openManifest(
				parts.slice(1).map((part) => part.bytes),
				PASS
			)
		).rejects.toMatchObject({
			message: expect.stringMatching(new RegExp(`^1 of the ${parts.length} manifest part\\(s\\) are missing \\(part 1\\)`))
		});
		await expect(openManifest([Buffer.from('not a container at all')], PASS)).rejects.toMatchObject({
			message: expect.stringMatching(/^manifest part 1 is not a Discord Object Store chunk/)
		});
	});

	it('GIVEN one damaged part among several WHEN opened THEN TAMPERED_CHUNK; all failing THEN WRONG_KEY', async () => {
		const { manifest, key } = await bigManifest();
		const parts = (await sealManifest(manifest, key, { partSize: 1024 })).map((part) => Buffer.from(part.bytes));
		const damaged = parts.map((bytes, i) =>
			i === 1 ? Buffer.concat([bytes.subarray(0, 100), Buffer.from([bytes[100]! ^ 1]), bytes.subarray(101)]) : bytes
		);
		await expect(openManifest(damaged, PASS)).rejects.toMatchObject({ code: CoreErrorCode.TamperedChunk });
		await expect(openManifest(parts, 'wrong')).rejects.toMatchObject({
			code: CoreErrorCode.WrongKey,
			message: expect.stringContaining('USER_KEY')
		});
		await expect(openManifest(parts, undefined)).rejects.toMatchObject({ code: CoreErrorCode.NoKey });
	});

	it('GIVEN parts of two archives WHEN opened together THEN MISPLACED_CHUNK', async () => {
		const a = await bigManifest(50);
		const b = await bigManifest(50);
		const partA = (await sealManifest(a.manifest, a.key))[0]!.bytes;
		const partB = (await sealManifest(b.manifest, b.key))[0]!.bytes;
		await expect(openManifest([partA, partB], PASS)).rejects.toMatchObject({ code: CoreErrorCode.MisplacedChunk });
	});

	it('GIVEN inconsistent manifests WHEN validated THEN they are refused', async () => {
		const { manifest } = await bigManifest(3);
		const entries = manifest.entries;
		const cases: [unknown, string][] = [
			[{ ...manifest, entries: [{ ...entries[0]!, offset: 5 }, ...entries.slice(1)] }, CoreErrorCode.BadFormat],
			[{ ...manifest, entries: [entries[0], entries[0]], totals: { ...manifest.totals, files: 2 } }, CoreErrorCode.BadFormat],
			[
				{
					...manifest,
					chunks: [{ index: 0, plainSize: 1, plainSha256: '0'.repeat(64), storedSize: 97, sha256: '0'.repeat(64), compressed: false }]
				},
				CoreErrorCode.BadFormat
			],
			[{ ...manifest, totals: { ...manifest.totals, files: 99 } }, CoreErrorCode.BadFormat],
			[{ ...manifest, extra: true }, CoreErrorCode.BadFormat],
			[{ ...manifest, version: 2 }, CoreErrorCode.UnsupportedVersion],
			[{ ...manifest, entries: [{ ...entries[0]!, path: 'sub/file' }, ...entries.slice(1)] }, CoreErrorCode.UnsafePath]
		];
		for (const [value, code] of cases) expect(() => validateManifest(value), code).toThrow(expect.objectContaining({ code }));
	});

	it('GIVEN a staged folder whose manifest part was renamed WHEN assembled THEN it is found by its header kind', async () => {
		const source = path.join(work, 'src');
		await mkdir(path.join(source, 'd'), { recursive: true });
		await writeFile(path.join(source, 'd/f.txt'), 'hello');
		const staged = await stageArchive({ source, outDir: path.join(work, 'staged'), passphrase: PASS, pool, kdfIterations: 100, chunkSize: 4 });
		const part = (await readdir(staged.outDir)).find((name) => name.includes('.m000.'))!;
		await rename(path.join(staged.outDir, part), path.join(staged.outDir, 'the-manifest.bin'));
		await assembleStagedFolder(staged.outDir, path.join(work, 'out'), { passphrase: PASS, pool });
		expect(await describeTree(path.join(work, 'out'))).toEqual(await describeTree(source));
	});
});
