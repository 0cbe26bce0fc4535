import { createHash, randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { inspect } from 'node:util';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
	ChunkKind,
	CONTAINER_OVERHEAD,
	CoreErrorCode,
	decodeChunkHeader,
	deriveArchiveKey,
	deriveChunkKey,
	gunzipPayload,
	HEADER_SIZE,
	KDF_CHANNEL,
	openBlob,
	openChunk,
	openContainer,
	sealBlob,
	sealChunk,
	sealContainer
} from '../../src/core/index.js';

const archiveKey = randomBytes(32);
const archiveSalt = randomBytes(16);
const uid = randomBytes(16);

function seal(payload: Buffer, overrides: Partial<Parameters<typeof sealContainer>[0]> = {}) {
	return sealContainer({
		kind: ChunkKind.Data,
		compressed: false,
		archiveKey,
		archiveSalt,
		kdfIterations: 1000,
		uid,
		index: 7,
		count: 0,
		payload,
		...overrides
	}).sealed;
}

function codeOf(fn: () => unknown): string | undefined {
	try {
		fn();
	} catch (error) {
		return (error as { code?: string }).code;
	}
	return undefined;
}

describe('chunk container format 1', () => {
	it('GIVEN a sealed chunk WHEN its header is read THEN it has the documented big-endian layout', () => {
		const sealed = seal(Buffer.from('hello'), { compressed: true, index: 0x01020304, kdfIterations: 600_000 });
		expect(sealed.toString('latin1', 0, 4)).toBe('DOSC');
		expect(sealed[4]).toBe(1);
		expect(sealed[5]).toBe(1);
		expect(sealed[6]).toBe(1);
		expect(sealed[7]).toBe(1);
		expect(sealed.readUInt32BE(8)).toBe(600_000);
		expect(sealed.subarray(12, 28).equals(archiveSalt)).toBe(true);
		expect(sealed.subarray(56, 72).equals(uid)).toBe(true);
		expect(sealed.readUInt32BE(72)).toBe(0x01020304);
		expect(sealed.readUInt32BE(76)).toBe(0);
		expect(sealed.length).toBe(5 + CONTAINER_OVERHEAD);
		const header = decodeChunkHeader(sealed);
		expect(header).toMatchObject({ version: 1, kind: 'data', compressed: true, kdfIterations: 600_000, index: 0x01020304, count: 0 });
	});

	it('GIVEN a sealed chunk WHEN it is opened with its key THEN the payload comes back, and two seals of the same bytes differ', () => {
		const payload = randomBytes(1000);
		const a = seal(payload);
		const b = seal(payload);
		expect(a.equals(b)).toBe(false);
		expect(openContainer(a, archiveKey, { kind: 'data', uid, index: 7 }).payload.equals(payload)).toBe(true);
	});

	it('GIVEN a sealed chunk WHEN ANY byte of header, ciphertext or tag is flipped THEN opening fails', () => {
		const sealed = seal(randomBytes(40));
		const codes = new Set<string | undefined>();
		for (let at = 0; at < sealed.length; at++) {
			const copy = Buffer.from(sealed);
			copy[at]! ^= 0x01;
			const code = codeOf(() => openContainer(copy, archiveKey, { kind: 'data', uid, index: 7, archiveSalt }));
			expect(code, `byte ${at}`).toBeDefined();
			codes.add(code);
		}
		expect(codes.has(CoreErrorCode.TamperedChunk)).toBe(true);
		expect(codes.has(CoreErrorCode.BadFormat)).toBe(true);
		expect(codes.has(CoreErrorCode.MisplacedChunk)).toBe(true);
	});

	it('GIVEN a recorded sha256 WHEN ANY byte is flipped THEN it is always TAMPERED_CHUNK, and intact bytes with another key are WRONG_KEY', () => {
		const sealed = seal(randomBytes(40));
		const sha256 = createHash('sha256').update(sealed).digest('hex');
		for (let at = 0; at < sealed.length; at++) {
			const copy = Buffer.from(sealed);
			copy[at]! ^= 0x80;
			expect(
				codeOf(() => openContainer(copy, archiveKey, { kind: 'data', uid, index: 7, sha256 })),
				`byte ${at}`
			).toBe(CoreErrorCode.TamperedChunk);
		}
		expect(codeOf(() => openContainer(sealed, randomBytes(32), { kind: 'data', uid, index: 7, sha256 }))).toBe(CoreErrorCode.WrongKey);
		expect(openContainer(sealed, archiveKey, { kind: 'data', uid, index: 7, sha256 }).sha256).toBe(sha256);
	});

	it('GIVEN a chunk of index 7 WHEN it is opened as index 8, as another archive or as a manifest THEN MISPLACED_CHUNK', () => {
		const sealed = seal(randomBytes(10));
		expect(codeOf(() => openContainer(sealed, archiveKey, { kind: 'data', uid, index: 8 }))).toBe(CoreErrorCode.MisplacedChunk);
		expect(codeOf(() => openContainer(sealed, archiveKey, { kind: 'data', uid: randomBytes(16), index: 7 }))).toBe(CoreErrorCode.MisplacedChunk);
		expect(codeOf(() => openContainer(sealed, archiveKey, { kind: 'manifest', uid, index: 7 }))).toBe(CoreErrorCode.MisplacedChunk);
	});

	it('GIVEN a header rewritten to claim another index WHEN opened as that index THEN the tag catches it', () => {
		const sealed = seal(randomBytes(10));
		sealed.writeUInt32BE(8, 72);
		expect(codeOf(() => openContainer(sealed, archiveKey, { kind: 'data', uid, index: 8 }))).toBe(CoreErrorCode.TamperedChunk);
	});

	it('GIVEN intact bytes WHEN opened with another key THEN WRONG_KEY, and TAMPERED_CHUNK when integrity is unknown', () => {
		const sealed = seal(randomBytes(10));
		const otherKey = randomBytes(32);
		expect(codeOf(() => openContainer(sealed, otherKey, { kind: 'data', intact: true }))).toBe(CoreErrorCode.WrongKey);
		expect(codeOf(() => openContainer(sealed, otherKey, { kind: 'data' }))).toBe(CoreErrorCode.TamperedChunk);
	});

	it('GIVEN reserved flag bits, an unknown kind or a newer version WHEN decoded THEN it is refused', () => {
		const flags = seal(Buffer.alloc(1));
		flags[6] = 0b10;
		expect(codeOf(() => decodeChunkHeader(flags))).toBe(CoreErrorCode.BadFormat);
		const kind = seal(Buffer.alloc(1));
		kind[5] = 9;
		expect(codeOf(() => decodeChunkHeader(kind))).toBe(CoreErrorCode.BadFormat);
		const version = seal(Buffer.alloc(1));
		version[4] = 2;
		expect(codeOf(() => decodeChunkHeader(version))).toBe(CoreErrorCode.UnsupportedVersion);
		expect(codeOf(() => decodeChunkHeader(Buffer.alloc(HEADER_SIZE)))).toBe(CoreErrorCode.BadFormat);
	});

	it('GIVEN a chunk salt WHEN the chunk key is derived THEN it is HKDF-SHA256 with the format info, different per salt', () => {
		const a = deriveChunkKey(archiveKey, Buffer.alloc(16, 1));
		const b = deriveChunkKey(archiveKey, Buffer.alloc(16, 2));
		expect(a).toHaveLength(32);
		expect(a.equals(b)).toBe(false);
	});
});

describe('chunk sealing', () => {
	const task = { kind: ChunkKind.Data, archiveKey, archiveSalt, kdfIterations: 1000, uid, index: 0, count: 0, gzipLevel: 9 };

	it('GIVEN incompressible bytes WHEN sealed THEN they are stored raw and never exceed chunk + 96 bytes', () => {
		const plain = randomBytes(1024 * 1024);
		const sealed = sealChunk({ ...task, plain });
		expect(sealed.compressed).toBe(false);
		expect(decodeChunkHeader(sealed.bytes).compressed).toBe(false);
		expect(sealed.storedSize).toBe(plain.length + CONTAINER_OVERHEAD);
	});

	it('GIVEN compressible text WHEN sealed THEN it is gzipped, flagged, and opens to the same bytes', () => {
		const plain = Buffer.from('a line of a log file that repeats itself with small changes 12345\n'.repeat(20_000));
		const sealed = sealChunk({ ...task, plain });
		expect(sealed.compressed).toBe(true);
		expect(sealed.storedSize).toBeLessThan(plain.length / 10);
		const opened = openChunk({
			sealed: sealed.bytes,
			archiveKey,
			expect: { kind: 'data', uid, index: 0 },
			sha256: sealed.sha256,
			plainSize: plain.length,
			plainSha256: sealed.plainSha256
		});
		expect(opened.plain.equals(plain)).toBe(true);
	});

	it('GIVEN small incompressible bytes (below the probe size) WHEN sealed THEN gzip is tried but not kept', () => {
		const sealed = sealChunk({ ...task, plain: randomBytes(1000) });
		expect(sealed.compressed).toBe(false);
		expect(sealed.storedSize).toBe(1000 + CONTAINER_OVERHEAD);
	});

	it('GIVEN a recorded sha256 WHEN the bytes differ THEN TAMPERED_CHUNK before any decryption, and WRONG_KEY when intact', () => {
		const sealed = sealChunk({ ...task, plain: Buffer.from('x'.repeat(100)) });
		const copy = Buffer.from(sealed.bytes);
		copy[copy.length - 1]! ^= 1;
		expect(codeOf(() => openChunk({ sealed: copy, archiveKey, expect: { kind: 'data', index: 0 }, sha256: sealed.sha256 }))).toBe(
			CoreErrorCode.TamperedChunk
		);
		expect(
			codeOf(() => openChunk({ sealed: sealed.bytes, archiveKey: randomBytes(32), expect: { kind: 'data', index: 0 }, sha256: sealed.sha256 }))
		).toBe(CoreErrorCode.WrongKey);
	});
});

describe('inflating a payload', () => {
	const text = Buffer.from('chunk of a log line that repeats\n'.repeat(4000));
	const gzipped = gzipSync(text, { level: 9 });

	it('GIVEN the exact recorded size WHEN inflated THEN the bytes come back whole in one buffer that starts it', () => {
		const plain = gunzipPayload(gzipped, text.length, 'the chunk', true);
		expect(plain.equals(text)).toBe(true);
		expect(plain.byteOffset).toBe(0);
	});

	it('GIVEN a payload that inflates past the recorded size WHEN inflated exactly or not THEN BAD_FORMAT', () => {
		for (const exact of [true, false]) {
			expect(() => gunzipPayload(gzipped, text.length - 1, 'the chunk', exact)).toThrow(
				expect.objectContaining({ code: CoreErrorCode.BadFormat })
			);
		}
	});
});

describe('archive keys', () => {
	it('GIVEN a derivation WHEN it runs THEN it is published once on dos:kdf with its iterations', async () => {
		const seen: unknown[] = [];
		const listener = (message: unknown) => seen.push(message);
		subscribe(KDF_CHANNEL, listener);
		try {
			const key = await deriveArchiveKey('passphrase', { iterations: 1234 });
			expect(seen).toEqual([{ iterations: 1234 }]);
			const again = await deriveArchiveKey('passphrase', { iterations: 1234, salt: key.salt });
			expect(again.exportBytes().equals(key.exportBytes())).toBe(true);
		} finally {
			unsubscribe(KDF_CHANNEL, listener);
		}
	});

	it('GIVEN a key WHEN printed, inspected or serialized THEN the key bytes never appear', async () => {
		const key = await deriveArchiveKey('passphrase', { iterations: 10 });
		const hex = key.exportBytes().toString('hex');
		for (const text of [String(key), inspect(key), JSON.stringify(key), inspect({ nested: key })]) {
			expect(text).not.toContain(hex);
			expect(text).toContain('redacted');
		}
	});

	it('GIVEN no passphrase WHEN a key is derived THEN NO_KEY says how to set USER_KEY', async () => {
		await expect(deriveArchiveKey('')).rejects.toMatchObject({ code: CoreErrorCode.NoKey, message: expect.stringContaining('USER_KEY') });
	});

	it('GIVEN an index backup WHEN sealed twice and opened THEN the bytes return, each with its own salt and uid', async () => {
		const bytes = Buffer.from('SQLite format 3\0 pretend pages');
		const a = await sealBlob('index-backup', bytes, 'pw', { iterations: 100 });
		const b = await sealBlob('index-backup', bytes, 'pw', { iterations: 100 });
		expect(decodeChunkHeader(a).kind).toBe('index-backup');
		expect(decodeChunkHeader(a).archiveSalt.equals(decodeChunkHeader(b).archiveSalt)).toBe(false);
		expect(decodeChunkHeader(a).uid.equals(decodeChunkHeader(b).uid)).toBe(false);
		expect((await openBlob('index-backup', a, 'pw')).equals(bytes)).toBe(true);
		await expect(openBlob('index-backup', a, 'other', { intact: true })).rejects.toMatchObject({ code: CoreErrorCode.WrongKey });
	});
});
