import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCoreError } from '../../../src/core/errors.js';
import { BLOB_OVERHEAD, openBlob, sealBlob } from '../../../src/core/repo/blob.js';
import { Chunker } from '../../../src/core/repo/cdc.js';
import {
	createRepository,
	DEFAULT_PACK_SIZE,
	listPacks,
	loadBlobIndex,
	type LocalRepository,
	MIN_PACK_SIZE,
	OPEN_PACKS,
	PackWriter,
	repositoryPacks,
	packPath,
	PACKS_DIR
} from '../../../src/core/repo/local.js';
import { blobBytes, PACK_ENTRY_SIZE, packName, packSize, readPackHeader } from '../../../src/core/repo/pack.js';
import { makeTemp, removeTemp } from '../../support/tree.js';

let work: string;
let n = 0;
beforeAll(async () => {
	work = await makeTemp('dos-packs-');
});
afterAll(async () => {
	await removeTemp(work);
});

const fresh = (): Promise<LocalRepository> => createRepository(path.join(work, `repo-${++n}`), 'pack writer', { iterations: 1000 });

/** The CDC cuts of `bytes` of AES-256-CTR keystream keyed by the seed: the blob sizes a random file of that size gives. */
function randomFileCuts(seed: string, bytes: number): number[] {
	const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
	const chunker = new Chunker();
	const cuts: number[] = [];
	const block = Buffer.alloc(4 * 1024 * 1024);
	for (let done = 0; done < bytes; done += block.length)
		cuts.push(...chunker.push(cipher.update(block.subarray(0, Math.min(block.length, bytes - done)))));
	const last = chunker.finish();
	if (last !== undefined) cuts.push(last);
	return cuts;
}

/**
 * Stored sizes of incompressible blobs (raw + 28) as a slice of random data makes them: 4 files of 64 MiB cut by the
 * pinned FastCDC, and small whole files (1 B … 192 KiB, seeded) between them. 256 MiB of stored blobs in all.
 */
function randomCorpusBlobs(): number[] {
	const sizes: number[] = [];
	for (let file = 0; file < 4; file++) {
		sizes.push(...randomFileCuts(`pack-writer random file ${file}`, 64 * 1024 * 1024));
		for (let index = 0; index < 8; index++)
			sizes.push(1 + (createHash('sha256').update(`pack-writer small file ${file}/${index}`).digest().readUInt32BE(0) % (192 * 1024)));
	}
	return sizes.map((raw) => raw + BLOB_OVERHEAD);
}

const zeros = Buffer.alloc(4 * 1024 * 1024 + BLOB_OVERHEAD);

/** Writes blobs of these stored sizes (bytes are zeros: only the layout is under test) and returns what was written. */
async function writeBlobs(repo: LocalRepository, sizes: readonly number[], limit: number, openPacks?: number) {
	const writer = new PackWriter(repositoryPacks(repo), limit, openPacks === undefined ? {} : { openPacks });
	let mostOpen = 0;
	for (const stored of sizes) {
		await writer.add({ id: randomBytes(32), rawLength: stored - BLOB_OVERHEAD, codec: 'none' }, zeros.subarray(0, stored));
		const temps = (await readdir(path.join(repo.root, PACKS_DIR))).filter((name) => name.startsWith('.tmp-'));
		mostOpen = Math.max(mostOpen, temps.length);
	}
	await writer.finish();
	return { writer, mostOpen };
}

/** ⌈stored / limit⌉ × 1.02 + 1, the packs a run may make (issue target). */
const packBound = (stored: number, limit: number) => Math.ceil(stored / limit) * 1.02 + 1;

describe('format 2 pack writer', () => {
	it('GIVEN 256 MiB of blobs cut like random data WHEN written first fit over open packs THEN packs ≤ ⌈stored / limit⌉ × 1.02 + 1, each ≤ the limit and readable; closing when the next blob does not fit misses that bound', async () => {
		const sizes = randomCorpusBlobs();
		expect(sizes.reduce((sum, size) => sum + size, 0)).toBeGreaterThanOrEqual(200 * 1024 * 1024);
		const repo = await fresh();
		const { writer, mostOpen } = await writeBlobs(repo, sizes, DEFAULT_PACK_SIZE);
		// Open packs live on disk, a few at a time.
		expect(mostOpen).toBe(OPEN_PACKS);
		expect(await readdir(path.join(repo.root, PACKS_DIR))).toEqual(await listPacks(repo));
		const packs = await listPacks(repo);
		expect([...packs].sort()).toEqual([...writer.written].sort());
		let total = 0;
		for (const pack of packs) {
			const { size } = await stat(packPath(repo, pack));
			expect(size).toBeLessThanOrEqual(DEFAULT_PACK_SIZE);
			total += size;
		}
		expect(total).toBe(writer.storedBytes);
		expect(packs.length).toBeLessThanOrEqual(packBound(total, DEFAULT_PACK_SIZE));
		const index = await loadBlobIndex(repo);
		expect(index.size).toBe(sizes.length);
		expect([...index.values()].map((where) => where.storedLength).sort((a, b) => a - b)).toEqual([...sizes].sort((a, b) => a - b));

		// The same blobs with one open pack, closed as soon as the next blob does not fit (the former policy).
		const old = await fresh();
		const closing = await writeBlobs(old, sizes, DEFAULT_PACK_SIZE, 1);
		expect(closing.writer.written.length).toBeGreaterThan(packBound(closing.writer.storedBytes, DEFAULT_PACK_SIZE));
		expect(closing.writer.written.length).toBeGreaterThan(packs.length);
	}, 120_000);

	it('GIVEN a destination shaping every third pack smaller WHEN blobs cut like random data are written THEN each pack stays within the limit it was opened with, the small ones within theirs, and every blob reads back', async () => {
		const sizes = randomCorpusBlobs().slice(0, 120);
		const repo = await fresh();
		const small = MIN_PACK_SIZE + 512 * 1024;
		const asked: number[] = [];
		const closed: { name: string; size: number }[] = [];
		const writer = new PackWriter(
			{
				...repositoryPacks(repo),
				limitFor: (ordinal) => {
					asked.push(ordinal);
					return ordinal % 3 === 2 ? small : DEFAULT_PACK_SIZE;
				},
				onClosed: async (pack) => {
					closed.push({ name: pack.name, size: pack.size });
					await Promise.resolve();
				}
			},
			DEFAULT_PACK_SIZE,
			{ openPacks: 1 }
		);
		for (const stored of sizes)
			await writer.add({ id: randomBytes(32), rawLength: stored - BLOB_OVERHEAD, codec: 'none' }, zeros.subarray(0, stored));
		await writer.finish();
		// One open pack: packs close in the order they were opened, so the n-th closed is the n-th asked for.
		expect(asked).toEqual(closed.map((_, index) => index));
		expect(closed.length).toBeGreaterThanOrEqual(6);
		for (const [index, pack] of closed.entries()) expect(pack.size).toBeLessThanOrEqual(index % 3 === 2 ? small : DEFAULT_PACK_SIZE);
		// The full ones are nearly full: the small limit is not applied to them.
		expect(closed.filter((_, index) => index % 3 !== 2 && index < closed.length - 1).every((pack) => pack.size > small)).toBe(true);
		expect((await loadBlobIndex(repo)).size).toBe(sizes.length);

		// A limit asked below the smallest pack (which holds the largest blob) or above the writer's is kept within them.
		const other = await fresh();
		const clamped = new PackWriter({ ...repositoryPacks(other), limitFor: () => 1 }, DEFAULT_PACK_SIZE, { openPacks: 1 });
		await clamped.add({ id: randomBytes(32), rawLength: 4 * 1024 * 1024, codec: 'none' }, zeros.subarray(0, 4 * 1024 * 1024 + BLOB_OVERHEAD));
		await clamped.finish();
		expect((await stat(packPath(other, clamped.written[0]!))).size).toBeLessThanOrEqual(MIN_PACK_SIZE);
	}, 60_000);

	it('GIVEN blobs that fill a pack exactly WHEN written THEN the pack is the limit, closes at once, and reads back; one byte more goes to another pack', async () => {
		const limit = MIN_PACK_SIZE;
		const first = 1024 * 1024 + BLOB_OVERHEAD;
		const exact = limit - packSize(first, 2);
		expect(packSize(first + exact, 2)).toBe(limit);
		const repo = await fresh();
		const writer = new PackWriter(repositoryPacks(repo), limit);
		await writer.add({ id: randomBytes(32), rawLength: first - BLOB_OVERHEAD, codec: 'none' }, zeros.subarray(0, first));
		expect(writer.written).toEqual([]);
		await writer.add({ id: randomBytes(32), rawLength: exact - BLOB_OVERHEAD, codec: 'none' }, zeros.subarray(0, exact));
		// Not even an empty blob fits any more: the pack is closed without waiting for the end.
		expect(writer.written).toHaveLength(1);
		const bytes = await readFile(packPath(repo, writer.written[0]!));
		expect(bytes.length).toBe(limit);
		expect(packName(bytes)).toBe(writer.written[0]);
		expect([...(await loadBlobIndex(repo)).values()].map((where) => where.storedLength)).toEqual([first, exact]);

		const other = await fresh();
		const next = new PackWriter(repositoryPacks(other), limit);
		await next.add({ id: randomBytes(32), rawLength: first - BLOB_OVERHEAD, codec: 'none' }, zeros.subarray(0, first));
		await next.add({ id: randomBytes(32), rawLength: exact + 1 - BLOB_OVERHEAD, codec: 'none' }, zeros.subarray(0, exact + 1));
		await next.finish();
		expect(next.written).toHaveLength(2);
		for (const pack of next.written) expect((await stat(packPath(other, pack))).size).toBeLessThan(limit);
	});

	it('GIVEN a small blob after a pack was left with room WHEN written THEN it goes into the first pack where it fits', async () => {
		const limit = MIN_PACK_SIZE;
		const repo = await fresh();
		const writer = new PackWriter(repositoryPacks(repo), limit);
		const big = 3 * 1024 * 1024;
		const add = (stored: number) =>
			writer.add({ id: randomBytes(32), rawLength: stored - BLOB_OVERHEAD, codec: 'none' }, zeros.subarray(0, stored));
		await add(big); // pack 1: 3 MiB
		await add(big); // does not fit pack 1: pack 2
		await add(512 * 1024); // fits pack 1 (first fit), not a third pack
		await writer.finish();
		expect(writer.written).toHaveLength(2);
		const sizes = await Promise.all(writer.written.map(async (pack) => (await stat(packPath(repo, pack))).size));
		expect(sizes.sort((a, b) => a - b)).toEqual([packSize(big, 1), packSize(big + 512 * 1024, 2)]);
	});

	it('GIVEN more packs needed than may be open WHEN a blob fits none THEN the fullest open pack is closed first', async () => {
		const limit = MIN_PACK_SIZE;
		const repo = await fresh();
		const writer = new PackWriter(repositoryPacks(repo), limit, { openPacks: 2 });
		const add = (stored: number) =>
			writer.add({ id: randomBytes(32), rawLength: stored - BLOB_OVERHEAD, codec: 'none' }, zeros.subarray(0, stored));
		await add(3 * 1024 * 1024); // pack A
		await add(3.5 * 1024 * 1024); // pack B, the fuller
		expect(writer.written).toEqual([]);
		await add(3 * 1024 * 1024); // fits neither: B is closed, C opened
		expect(writer.written).toHaveLength(1);
		expect((await stat(packPath(repo, writer.written[0]!))).size).toBe(packSize(3.5 * 1024 * 1024, 1));
		await writer.finish();
		expect(writer.written).toHaveLength(3);
	});

	it('GIVEN batches of blobs that fill and close packs midway WHEN written with addMany THEN every blob is at the offset its entry names, byte for byte', async () => {
		const repo = await fresh();
		const writer = new PackWriter(repositoryPacks(repo), MIN_PACK_SIZE, { openPacks: 2 });
		const given = new Map<string, Buffer>();
		for (let batch = 0; batch < 8; batch++) {
			const blobs = Array.from({ length: 37 }, (_, index) => {
				const stored = randomBytes(BLOB_OVERHEAD + (((batch * 37 + index) * 7919) % (200 * 1024)));
				const id = randomBytes(32);
				given.set(id.toString('hex'), stored);
				return { blob: { id, rawLength: stored.length - BLOB_OVERHEAD, codec: 'none' as const }, stored };
			});
			await writer.addMany(blobs);
		}
		await writer.finish();
		expect(writer.written.length).toBeGreaterThan(2);
		const index = await loadBlobIndex(repo);
		expect(index.size).toBe(given.size);
		for (const [id, where] of index) {
			const pack = await readFile(packPath(repo, where.pack));
			expect(pack.subarray(where.offset, where.offset + where.storedLength).equals(given.get(id)!)).toBe(true);
		}
		for (const pack of writer.written) expect(packName(await readFile(packPath(repo, pack)))).toBe(pack);
	});

	it('GIVEN a blob a pack cannot hold, the same blob twice in one pack, or a failure WHEN written THEN it is refused, and abandon leaves no temporary file', async () => {
		const limit = MIN_PACK_SIZE;
		const repo = await fresh();
		const writer = new PackWriter(repositoryPacks(repo), limit);
		const tooBig = limit - packSize(0, 1) + 1;
		await expect(writer.add({ id: randomBytes(32), rawLength: tooBig - BLOB_OVERHEAD, codec: 'none' }, Buffer.alloc(tooBig))).rejects.toThrow(
			/does not fit a pack/
		);
		const id = randomBytes(32);
		await writer.add({ id, rawLength: 10, codec: 'none' }, zeros.subarray(0, 10 + BLOB_OVERHEAD));
		await expect(writer.add({ id, rawLength: 10, codec: 'none' }, zeros.subarray(0, 10 + BLOB_OVERHEAD))).rejects.toThrow(/already holds/);
		await writer.abandon();
		expect(await readdir(path.join(repo.root, PACKS_DIR))).toEqual([]);
		expect(() => new PackWriter(repositoryPacks(repo), MIN_PACK_SIZE - 1)).toThrow(/pack size/);
		expect(() => new PackWriter(repositoryPacks(repo), limit, { openPacks: 0 })).toThrow(/at least one pack/);
		expect(PACK_ENTRY_SIZE).toBe(45);
	});

	it("GIVEN packs the writer made WHEN any byte is changed or a blob is moved into another pack's slot THEN the blob it holds, or the header, is refused", async () => {
		const repo = await fresh();
		const writer = new PackWriter(repositoryPacks(repo), MIN_PACK_SIZE);
		const plains = [Buffer.from('a text blob, compressible. '.repeat(40)), randomBytes(300), randomBytes(300), Buffer.from('x')];
		const blobs = await Promise.all(plains.map((plain) => sealBlob(repo.keys, plain, 'gzip-6')));
		// Two packs of the same repository: the first two blobs in one, the others in the other.
		for (const blob of blobs.slice(0, 2)) await writer.add(blob, blob.stored);
		await writer.finish();
		for (const blob of blobs.slice(2)) await writer.add(blob, blob.stored);
		await writer.finish();
		expect(writer.written).toHaveLength(2);
		const [first, second] = await Promise.all(writer.written.map((pack) => readFile(packPath(repo, pack))));
		const openAll = async (pack: Buffer) => {
			const header = readPackHeader(repo.keys, pack, pack.length);
			return Promise.all(header.entries.map((entry) => openBlob(repo.keys, entry.id, blobBytes(pack, entry), entry.codec, entry.rawLength)));
		};
		expect((await openAll(first!)).map((plain) => plain.length)).toEqual([plains[0]!.length, 300]);
		for (let at = 0; at < first!.length; at++) {
			const forged = Buffer.from(first!);
			forged[at]! ^= 0x01;
			await expect(openAll(forged), `byte ${at}`).rejects.toSatisfy((error) => isCoreError(error));
		}
		// blob 2 (300 random bytes, stored raw like blob 1) put in blob 1's slot of the first pack.
		const header = readPackHeader(repo.keys, first!, first!.length);
		const slot = header.entries[1]!;
		expect(blobs[2]!.stored.length).toBe(slot.storedLength);
		const moved = Buffer.from(first!);
		blobs[2]!.stored.copy(moved, slot.offset);
		await expect(openAll(moved)).rejects.toSatisfy((error) => isCoreError(error, 'TAMPERED_CHUNK'));
		expect(second!.length).toBeGreaterThan(0);
	});
});
