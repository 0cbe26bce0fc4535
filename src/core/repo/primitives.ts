import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { CoreError, CoreErrorCode } from '../errors.js';
import { type Codec, codecFromId, codecId, compress, decompress } from './codec.js';

/*
 * The format 2 primitives the engine needs beyond codec.ts and cdc.ts (keys, blob sealing, pack layout), kept in one
 * module so the engine depends on a narrow surface. Layouts are specified byte for byte in
 * docs/format2-repository.md.
 */

// ---------------------------------------------------------------------------------------------------------------
// Keys

/** The subkeys of an unlocked repository (from src/core/repo/keys.ts: blobSeal, blobId, manifest, packHeader). */
export interface RepoSubkeys {
	readonly repositoryId: Buffer;
	readonly blob: Buffer;
	readonly id: Buffer;
	readonly manifest: Buffer;
	readonly pack: Buffer;
}

/** AES-256-GCM: nonce (12) ‖ ciphertext ‖ tag (16). */
export function gcmSeal(key: Uint8Array, aad: Uint8Array, plain: Uint8Array): Buffer {
	const nonce = randomBytes(12);
	const cipher = createCipheriv('aes-256-gcm', key, nonce);
	cipher.setAAD(aad);
	const body = cipher.update(plain);
	const final = cipher.final();
	return Buffer.concat([nonce, body, final, cipher.getAuthTag()]);
}

/** Opens {@link gcmSeal}'s output; undefined when authentication fails. */
export function gcmOpen(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined {
	if (sealed.length < GCM_OVERHEAD) return undefined;
	const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
	decipher.setAAD(aad);
	decipher.setAuthTag(sealed.subarray(sealed.length - 16));
	try {
		const body = decipher.update(sealed.subarray(12, sealed.length - 16));
		return Buffer.concat([body, decipher.final()]);
	} catch {
		return undefined;
	}
}

export const GCM_OVERHEAD = 28;

// ---------------------------------------------------------------------------------------------------------------
// Blobs

export const BLOB_ID_SIZE = 32;

/** blob id = HMAC-SHA256(id subkey, plaintext). */
export function blobId(idKey: Uint8Array, plain: Uint8Array): Buffer {
	return createHmac('sha256', idKey).update(plain).digest();
}

/** What a pack header records of one blob. */
export interface BlobRecord {
	readonly id: Buffer;
	readonly offset: number;
	readonly storedLength: number;
	readonly rawLength: number;
	readonly codec: number;
	readonly level: number;
}

function blobAad(id: Uint8Array, codec: number, level: number, rawLength: number): Buffer {
	const aad = Buffer.alloc(8 + BLOB_ID_SIZE + 6);
	aad.write('dosblob2', 0, 'latin1');
	Buffer.from(id).copy(aad, 8);
	aad.writeUInt8(codec, 40);
	aad.writeUInt8(level, 41);
	aad.writeUInt32BE(rawLength, 42);
	return aad;
}

/** Compresses (when that shrinks it) and seals one blob. The codec byte is codec.ts's id; the level byte is 0 (reserved). */
export async function sealRepoBlob(
	blobKey: Uint8Array,
	id: Uint8Array,
	plain: Uint8Array,
	codec: Codec
): Promise<{ sealed: Buffer; codec: number; level: number }> {
	const packed = await compress(codec, plain);
	const used = codecId(packed.codec);
	return { sealed: gcmSeal(blobKey, blobAad(id, used, 0, plain.length), packed.bytes), codec: used, level: 0 };
}

/**
 * Authenticates, decrypts and inflates one blob, then checks its id.
 *
 * @throws {CoreError} TAMPERED_CHUNK when it does not authenticate or its id does not match.
 */
export async function openRepoBlob(
	keys: { blob: Uint8Array; id: Uint8Array },
	record: Omit<BlobRecord, 'offset'>,
	sealed: Uint8Array
): Promise<Buffer> {
	const idHex = record.id.toString('hex');
	const payload = gcmOpen(keys.blob, blobAad(record.id, record.codec, record.level, record.rawLength), sealed);
	if (payload === undefined)
		throw new CoreError(CoreErrorCode.TamperedChunk, `Blob ${idHex.slice(0, 16)}… does not authenticate: its pack is damaged.`);
	let plain: Buffer;
	try {
		plain = await decompress(codecFromId(record.codec), payload, record.rawLength);
	} catch (error) {
		throw new CoreError(CoreErrorCode.TamperedChunk, `Blob ${idHex.slice(0, 16)}… does not inflate.`, {}, { cause: error });
	}
	if (plain.length !== record.rawLength || !blobId(keys.id, plain).equals(record.id))
		throw new CoreError(CoreErrorCode.TamperedChunk, `Blob ${idHex.slice(0, 16)}… does not hash to its id.`);
	return plain;
}

// ---------------------------------------------------------------------------------------------------------------
// Packs: sealed blobs ‖ sealed header ‖ trailer (header length u32 BE ‖ "DOSPACK2")

export const PACK_MAGIC = Buffer.from('DOSPACK2', 'latin1');
export const PACK_TRAILER_SIZE = 12;
const HEADER_RECORD_SIZE = BLOB_ID_SIZE + 4 + 4 + 4 + 1 + 1;
/** A pack holds at most this many blobs (a header is bounded before it is read). */
export const MAX_PACK_BLOBS = 1 << 20;

function packHeaderAad(repositoryId: Buffer): Buffer {
	return Buffer.concat([Buffer.from('dospackhdr2', 'latin1'), repositoryId]);
}

/** The sealed header and trailer that close a pack. */
export function packTail(keys: RepoSubkeys, records: readonly BlobRecord[]): Buffer {
	const plain = Buffer.alloc(4 + records.length * HEADER_RECORD_SIZE);
	plain.writeUInt32BE(records.length, 0);
	records.forEach((record, index) => {
		const at = 4 + index * HEADER_RECORD_SIZE;
		record.id.copy(plain, at);
		plain.writeUInt32BE(record.offset, at + 32);
		plain.writeUInt32BE(record.storedLength, at + 36);
		plain.writeUInt32BE(record.rawLength, at + 40);
		plain.writeUInt8(record.codec, at + 44);
		plain.writeUInt8(record.level, at + 45);
	});
	const header = gcmSeal(keys.pack, packHeaderAad(keys.repositoryId), plain);
	const trailer = Buffer.alloc(PACK_TRAILER_SIZE);
	trailer.writeUInt32BE(header.length, 0);
	PACK_MAGIC.copy(trailer, 4);
	return Buffer.concat([header, trailer]);
}

/** Reads the header length from a pack's trailer, bounded by the pack's size. @throws {CoreError} BAD_FORMAT */
export function headerLengthFromTrailer(trailer: Uint8Array, packSize: number, label: string): number {
	if (trailer.length !== PACK_TRAILER_SIZE || !Buffer.from(trailer.subarray(4)).equals(PACK_MAGIC))
		throw new CoreError(CoreErrorCode.BadFormat, `${label} is not a pack (no trailer).`, { file: label });
	const length = Buffer.from(trailer).readUInt32BE(0);
	const max = Math.min(packSize - PACK_TRAILER_SIZE, GCM_OVERHEAD + 4 + MAX_PACK_BLOBS * HEADER_RECORD_SIZE);
	if (length < GCM_OVERHEAD + 4 || length > max || (length - GCM_OVERHEAD - 4) % HEADER_RECORD_SIZE !== 0)
		throw new CoreError(CoreErrorCode.BadFormat, `${label}'s header length ${length} is out of bounds.`, { file: label });
	return length;
}

/**
 * Opens and parses a pack header; every record is bounded by the blob area.
 *
 * @throws {CoreError} TAMPERED_CHUNK when it does not authenticate; BAD_FORMAT when inconsistent.
 */
export function parsePackHeader(keys: RepoSubkeys, sealedHeader: Uint8Array, blobArea: number, label: string): BlobRecord[] {
	const plain = gcmOpen(keys.pack, packHeaderAad(keys.repositoryId), sealedHeader);
	if (plain === undefined) throw new CoreError(CoreErrorCode.TamperedChunk, `The header of ${label} does not authenticate.`, { file: label });
	const count = plain.readUInt32BE(0);
	if (plain.length !== 4 + count * HEADER_RECORD_SIZE)
		throw new CoreError(CoreErrorCode.BadFormat, `The header of ${label} is inconsistent.`, { file: label });
	const records: BlobRecord[] = [];
	let expected = 0;
	for (let index = 0; index < count; index++) {
		const at = 4 + index * HEADER_RECORD_SIZE;
		const record: BlobRecord = {
			id: Buffer.from(plain.subarray(at, at + 32)),
			offset: plain.readUInt32BE(at + 32),
			storedLength: plain.readUInt32BE(at + 36),
			rawLength: plain.readUInt32BE(at + 40),
			codec: plain.readUInt8(at + 44),
			level: plain.readUInt8(at + 45)
		};
		if (record.offset !== expected || record.storedLength < GCM_OVERHEAD || record.offset + record.storedLength > blobArea)
			throw new CoreError(CoreErrorCode.BadFormat, `The header of ${label} places blob ${index} out of bounds.`, { file: label });
		expected += record.storedLength;
		records.push(record);
	}
	if (expected !== blobArea) throw new CoreError(CoreErrorCode.BadFormat, `The header of ${label} does not cover its blobs.`, { file: label });
	return records;
}
