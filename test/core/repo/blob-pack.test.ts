import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCoreError } from '../../../src/core/errors.js';
import { BLOB_OVERHEAD, blobAad, blobId, openBlob, sealBlob, type SealedBlob } from '../../../src/core/repo/blob.js';
import type { BlobKeys } from '../../../src/core/repo/keys.js';
import {
	blobBytes,
	DEFAULT_PACK_SIZE,
	MIN_PACK_SIZE,
	PACK_ENTRY_SIZE,
	PACK_HEADER_OVERHEAD,
	PACK_TRAILER_SIZE,
	packName,
	PackBuilder,
	readPackHeader,
	readPackTrailer
} from '../../../src/core/repo/pack.js';

function testKeys(): BlobKeys {
	return { repositoryId: randomBytes(16), blobId: randomBytes(32), blobSeal: randomBytes(32), packHeader: randomBytes(32) };
}
const keys = testKeys();
const text = (size: number): Buffer => Buffer.from('format two blob text '.repeat(Math.ceil(size / 21) + 1)).subarray(0, size);

async function openAll(k: BlobKeys, pack: Buffer): Promise<Buffer[]> {
	const header = readPackHeader(k, pack, pack.length);
	return Promise.all(header.entries.map((entry) => openBlob(k, entry.id, blobBytes(pack, entry), entry.codec, entry.rawLength)));
}

describe('format 2 blobs', () => {
	it.each([0, 1, 1000, 256 * 1024 - 1, 256 * 1024, 4 * 1024 * 1024])('GIVEN %i bytes WHEN sealed and opened THEN they round trip', async (size) => {
		for (const plain of [text(size), randomBytes(size)]) {
			const blob = await sealBlob(keys, plain, 'zstd-3');
			expect(blob.id.equals(blobId(keys, plain))).toBe(true);
			expect(blob.rawLength).toBe(size);
			if (blob.codec === 'none') expect(blob.stored.length).toBe(size + BLOB_OVERHEAD);
			expect((await openBlob(keys, blob.id, blob.stored, blob.codec, size)).equals(plain)).toBe(true);
		}
	});

	it('GIVEN a sealed blob WHEN any byte is changed THEN opening fails as tampered', async () => {
		const plain = text(3000);
		const blob = await sealBlob(keys, plain, 'gzip-9');
		expect(blob.codec).toBe('gzip-9');
		for (let at = 0; at < blob.stored.length; at++) {
			const forged = Buffer.from(blob.stored);
			forged[at]! ^= 0x80;
			await expect(openBlob(keys, blob.id, forged, blob.codec, blob.rawLength), `byte ${at}`).rejects.toSatisfy((e) =>
				isCoreError(e, 'TAMPERED_CHUNK')
			);
		}
		await expect(openBlob(keys, blob.id, blob.stored, 'gzip-8', blob.rawLength)).rejects.toSatisfy((e) => isCoreError(e, 'TAMPERED_CHUNK'));
		await expect(openBlob(keys, blob.id, blob.stored, blob.codec, blob.rawLength + 1)).rejects.toSatisfy((e) => isCoreError(e, 'TAMPERED_CHUNK'));
		await expect(openBlob(keys, blobId(keys, text(10)), blob.stored, blob.codec, blob.rawLength)).rejects.toSatisfy((e) =>
			isCoreError(e, 'TAMPERED_CHUNK')
		);
		await expect(openBlob(testKeys(), blob.id, blob.stored, blob.codec, blob.rawLength)).rejects.toSatisfy((e) =>
			isCoreError(e, 'TAMPERED_CHUNK')
		);
	});

	it('GIVEN a blob sealed under a wrong id WHEN opened THEN the recomputed id refuses it', async () => {
		const plain = text(500);
		const liar = await sealBlob(keys, plain, 'none', { id: blobId(keys, text(400)) });
		await expect(openBlob(keys, liar.id, liar.stored, liar.codec, liar.rawLength)).rejects.toThrow(/other content/);
		// A restore, which checks every file's sha256, skips that pass: the blob still has to authenticate.
		expect(await openBlob(keys, liar.id, liar.stored, liar.codec, liar.rawLength, { checkId: false })).toEqual(plain);
		const other = await sealBlob(keys, text(300), 'none');
		await expect(openBlob(keys, liar.id, other.stored, other.codec, liar.rawLength, { checkId: false })).rejects.toSatisfy((e) =>
			isCoreError(e, 'TAMPERED_CHUNK')
		);
	});

	it('GIVEN the AAD WHEN laid out THEN it is magic, version, id, codec id and raw length', () => {
		const aad = blobAad(Buffer.alloc(32, 0xab), 'zstd-3', 0x01020304);
		expect(aad.toString('hex')).toBe(`${Buffer.from('DOS2BLOB').toString('hex')}01${'ab'.repeat(32)}4301020304`);
	});

	it('GIVEN any bytes and codec WHEN sealed and opened THEN they round trip', async () => {
		await fc.assert(
			fc.asyncProperty(
				fc.uint8Array({ maxLength: 5000 }),
				fc.constantFrom('none', 'gzip-1', 'gzip-9', 'zstd-1', 'zstd-19' as const),
				async (bytes, codec) => {
					const blob = await sealBlob(keys, bytes, codec);
					expect((await openBlob(keys, blob.id, blob.stored, blob.codec, blob.rawLength)).equals(Buffer.from(bytes))).toBe(true);
				}
			),
			{ numRuns: 60 }
		);
	});
});

describe('format 2 packs', () => {
	it('GIVEN blobs WHEN packed THEN the header lists them, the tail alone parses, and the name is the hash', async () => {
		const writer = new PackBuilder(keys);
		const plains = [text(100_000), randomBytes(70_000), Buffer.alloc(0), text(5)];
		for (const plain of plains) writer.add(await sealBlob(keys, plain, 'zstd-3'));
		const pack = writer.finish();
		expect(pack.bytes.length).toBe(writer.size);
		expect(pack.name).toBe(packName(pack.bytes));
		expect(pack.name).toMatch(/^[0-9a-f]{32}$/);
		const { tailLength } = readPackTrailer(pack.bytes.subarray(pack.bytes.length - PACK_TRAILER_SIZE), pack.bytes.length);
		const header = readPackHeader(keys, pack.bytes.subarray(pack.bytes.length - tailLength), pack.bytes.length);
		expect(header.entries.map((e) => e.id.toString('hex'))).toEqual(pack.header.entries.map((e) => e.id.toString('hex')));
		expect(header.uid).toBe(pack.header.uid);
		const opened = await openAll(keys, pack.bytes);
		opened.forEach((plain, index) => {
			expect(plain.equals(plains[index]!)).toBe(true);
		});
		expect(() => readPackHeader(keys, pack.bytes.subarray(pack.bytes.length - tailLength + 1), pack.bytes.length)).toThrow(/needs the last/);
	});

	it('GIVEN any one byte of a pack changed WHEN read THEN the blob it holds, or the header, is refused', async () => {
		const writer = new PackBuilder(keys);
		for (const plain of [text(2000), randomBytes(300)]) writer.add(await sealBlob(keys, plain, 'gzip-6'));
		const { bytes } = writer.finish();
		for (let at = 0; at < bytes.length; at++) {
			const forged = Buffer.from(bytes);
			forged[at]! ^= 0x01;
			await expect(openAll(keys, forged), `byte ${at}`).rejects.toSatisfy((e) => isCoreError(e));
		}
	});

	it('GIVEN a pack from another repository or two blobs swapped WHEN read THEN they are refused', async () => {
		const other = testKeys();
		const mine = new PackBuilder(keys);
		const a = await sealBlob(keys, randomBytes(1000), 'none');
		const b = await sealBlob(keys, randomBytes(1000), 'none');
		mine.add(a);
		mine.add(b);
		const pack = mine.finish();
		// b's stored bytes moved into a's slot (same length): the header says a is there.
		const moved = Buffer.concat([b.stored, b.stored, pack.bytes.subarray(2 * a.stored.length)]);
		await expect(openAll(keys, moved)).rejects.toSatisfy((e) => isCoreError(e, 'TAMPERED_CHUNK'));
		// A blob of another pack of the same repository in this pack's slot.
		const elsewhere = await sealBlob(keys, randomBytes(1000), 'none');
		const swapped = Buffer.concat([elsewhere.stored, pack.bytes.subarray(a.stored.length)]);
		await expect(openAll(keys, swapped)).rejects.toSatisfy((e) => isCoreError(e, 'TAMPERED_CHUNK'));
		// Another repository's keys do not open the header.
		expect(() => readPackHeader(other, pack.bytes, pack.bytes.length)).toThrow(/does not authenticate/);
		// Same header key, other repository id: still refused.
		expect(() => readPackHeader({ ...keys, repositoryId: other.repositoryId }, pack.bytes, pack.bytes.length)).toThrow();
	});

	it('GIVEN blobs that fill a pack exactly WHEN added THEN the pack is the limit, and one byte more does not fit', async () => {
		const limit = MIN_PACK_SIZE;
		const writer = new PackBuilder(keys, limit);
		const first = await sealBlob(keys, randomBytes(1024 * 1024), 'none');
		writer.add(first);
		// Room left for a second blob, counting its header entry.
		const room = limit - writer.size - PACK_ENTRY_SIZE;
		const exact = await sealBlob(keys, randomBytes(room - BLOB_OVERHEAD), 'none');
		expect(writer.fits(exact.stored.length + 1)).toBe(false);
		expect(writer.fits(exact.stored.length)).toBe(true);
		writer.add(exact);
		expect(writer.fits(BLOB_OVERHEAD)).toBe(false);
		expect(() => {
			writer.add(first);
		}).toThrow(/does not fit/);
		const pack = writer.finish();
		expect(pack.bytes.length).toBe(limit);
		expect((await openAll(keys, pack.bytes)).length).toBe(2);
	});

	it('GIVEN pack limits WHEN checked THEN below one raw 4 MiB blob or above the maximum is refused', () => {
		expect(() => new PackBuilder(keys, MIN_PACK_SIZE - 1)).toThrow(/pack size/);
		expect(() => new PackBuilder(keys, 600 * 1024 * 1024)).toThrow(/pack size/);
		expect(new PackBuilder(keys).limit).toBe(DEFAULT_PACK_SIZE);
		expect(DEFAULT_PACK_SIZE).toBeLessThanOrEqual(10 * 1024 * 1024);
	});

	it('GIVEN forged trailers and headers with huge lengths and counts WHEN parsed THEN they are refused before allocating', async () => {
		const writer = new PackBuilder(keys);
		writer.add(await sealBlob(keys, text(5000), 'none'));
		const { bytes } = writer.finish();
		const withHeaderLength = (length: number): Buffer => {
			const forged = Buffer.from(bytes);
			forged.writeUInt32BE(length, forged.length - 4);
			return forged;
		};
		for (const length of [0xffffffff, bytes.length, bytes.length - PACK_TRAILER_SIZE + 1, PACK_HEADER_OVERHEAD - 1, PACK_HEADER_OVERHEAD + 1]) {
			expect(() => readPackHeader(keys, withHeaderLength(length), bytes.length), `length ${length}`).toThrow(/not a sound/);
		}
		expect(() => readPackTrailer(bytes, 0xffffffff)).toThrow(/not a sound/);
		expect(() => readPackTrailer(bytes, 10)).toThrow(/not a sound/);
		expect(() => readPackTrailer(Buffer.alloc(16), 1000)).toThrow(/no pack trailer/);

		// A header that authenticates but lies (count, offsets, overlaps) is refused too: build one with the key.
		const { createCipheriv } = await import('node:crypto');
		const forgeHeader = (mutate: (header: Buffer) => void): Buffer => {
			const good = readPackHeader(keys, bytes, bytes.length);
			const header = Buffer.alloc(8 + 1 + 16 + 16 + 4 + PACK_ENTRY_SIZE);
			let at = Buffer.from('DOS2PKHD').copy(header, 0);
			header[at++] = 1;
			at += Buffer.from(keys.repositoryId).copy(header, at);
			at += 16;
			at = header.writeUInt32BE(1, at);
			const entry = good.entries[0]!;
			at += entry.id.copy(header, at);
			at = header.writeUInt32BE(entry.offset, at);
			at = header.writeUInt32BE(entry.storedLength, at);
			at = header.writeUInt32BE(entry.rawLength, at);
			header[at] = 0;
			mutate(header);
			const nonce = randomBytes(12);
			const cipher = createCipheriv('aes-256-gcm', keys.packHeader, nonce);
			cipher.setAAD(Buffer.concat([Buffer.from('DOS2PACK'), keys.repositoryId]));
			const sealed = Buffer.concat([nonce, cipher.update(header), cipher.final(), cipher.getAuthTag()]);
			const trailer = Buffer.from(bytes.subarray(bytes.length - PACK_TRAILER_SIZE));
			return Buffer.concat([blobBytes(bytes, entry), sealed, trailer]);
		};
		expect(
			readPackHeader(
				keys,
				forgeHeader(() => undefined),
				bytes.length
			).entries.length
		).toBe(1);
		const countAt = 8 + 1 + 16 + 16;
		const entryAt = countAt + 4 + 32;
		const cases: [string, (h: Buffer) => void][] = [
			['huge count', (h) => h.writeUInt32BE(0xffffffff, countAt)],
			['count 2', (h) => h.writeUInt32BE(2, countAt)],
			['offset 1', (h) => h.writeUInt32BE(1, entryAt)],
			['stored past the area', (h) => h.writeUInt32BE(0xffffffff, entryAt + 4)],
			['stored short of the area', (h) => h.writeUInt32BE(h.readUInt32BE(entryAt + 4) - 1, entryAt + 4)],
			['raw length huge', (h) => h.writeUInt32BE(0xffffffff, entryAt + 8)],
			['codec unknown', (h) => (h[entryAt + 12] = 200)],
			['compressed but not smaller', (h) => (h[entryAt + 12] = 33)],
			['other repository', (h) => (h[9] = h[9]! ^ 1)],
			['version', (h) => (h[8] = 2)]
		];
		for (const [name, mutate] of cases) {
			expect(() => readPackHeader(keys, forgeHeader(mutate), bytes.length), name).toThrow();
		}
	});

	it('GIVEN random sets of blobs WHEN packed and read back THEN every blob round trips', async () => {
		await fc.assert(
			fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 8 }), async (plains) => {
				const writer = new PackBuilder(keys);
				const sealed: SealedBlob[] = [];
				for (const plain of plains) {
					const blob = await sealBlob(keys, plain, 'zstd-1');
					if (writer.has(blob.id)) continue;
					writer.add(blob);
					sealed.push(blob);
				}
				const pack = writer.finish();
				const opened = await openAll(keys, pack.bytes);
				expect(opened.map((b) => blobId(keys, b).toString('hex'))).toEqual(sealed.map((b) => b.id.toString('hex')));
			}),
			{ numRuns: 40 }
		);
	});
});
