import { createHmac, timingSafeEqual } from 'node:crypto';
import { CoreError, CoreErrorCode } from '../errors.js';
import { type Codec, codecId, compress, compressSync, decompress } from './codec.js';
import { GCM_OVERHEAD, gcmOpen, gcmSeal, gcmSealInto } from './gcm.js';
import type { BlobKeys } from './keys.js';

/**
 * A sealed blob (docs/format2-primitives.md §Blobs): `nonce (12) ‖ AES-256-GCM(blob-seal subkey, payload) ‖ tag (16)`,
 * payload = the plaintext compressed by its codec (or raw), AAD = {@link blobAad}. Blob id = HMAC-SHA256(blob-id
 * subkey, plaintext), 32 bytes.
 */
export const BLOB_MAGIC = Buffer.from('DOS2BLOB', 'ascii');
export const BLOB_VERSION = 1;
export const BLOB_ID_SIZE = 32;
/** Stored bytes a blob adds to its payload (nonce and tag). */
export const BLOB_OVERHEAD = GCM_OVERHEAD;
/** The largest raw length a blob may record (the CDC maximum is 4 MiB; room for other blob makers). */
export const MAX_BLOB_RAW_LENGTH = 16 * 1024 * 1024;

/** A blob ready to go into a pack. */
export interface SealedBlob {
	/** HMAC-SHA256(blob-id subkey, plaintext). */
	readonly id: Buffer;
	/** nonce ‖ ciphertext ‖ tag. */
	readonly stored: Buffer;
	readonly rawLength: number;
	/** The codec actually used (`none` when compression did not shrink the blob). */
	readonly codec: Codec;
}

/** The keyed id of a plaintext: HMAC-SHA256(blob-id subkey, plaintext). Keyed, so Discord cannot test for known content. */
export function blobId(keys: Pick<BlobKeys, 'blobId'>, plaintext: Uint8Array): Buffer {
	return createHmac('sha256', keys.blobId).update(plaintext).digest();
}

/** AAD of a blob: "DOS2BLOB" ‖ version u8 (1) ‖ blob id (32) ‖ codec id u8 ‖ raw length u32 BE — 46 bytes. */
export function blobAad(id: Uint8Array, codec: Codec, rawLength: number): Buffer {
	const aad = Buffer.alloc(BLOB_MAGIC.length + 1 + BLOB_ID_SIZE + 1 + 4);
	BLOB_MAGIC.copy(aad, 0);
	aad[BLOB_MAGIC.length] = BLOB_VERSION;
	Buffer.from(id.buffer, id.byteOffset, id.byteLength).copy(aad, BLOB_MAGIC.length + 1);
	aad[BLOB_MAGIC.length + 1 + BLOB_ID_SIZE] = codecId(codec);
	aad.writeUInt32BE(rawLength, BLOB_MAGIC.length + 2 + BLOB_ID_SIZE);
	return aad;
}

/** Options of {@link sealBlob}. */
export interface SealBlobOptions {
	/** The blob id when the caller already computed it (to look it up before sealing); not checked. */
	readonly id?: Uint8Array;
}

/**
 * Seals a plaintext as a blob: id, compression with the codec (raw when it would not shrink), AES-256-GCM with a
 * random 96-bit nonce under the blob-seal subkey.
 *
 * @throws {CoreError} INVALID_OPTION for a plaintext above {@link MAX_BLOB_RAW_LENGTH} or an unknown codec.
 */
export async function sealBlob(
	keys: Pick<BlobKeys, 'blobId' | 'blobSeal'>,
	plaintext: Uint8Array,
	codec: Codec,
	options: SealBlobOptions = {}
): Promise<SealedBlob> {
	return sealBlobWithId(keys.blobSeal, options.id ?? blobId(keys, plaintext), plaintext, codec);
}

/**
 * {@link sealBlob} for a plaintext whose id the caller computed (the engine looks ids up before sealing, and the
 * worker threads that seal need only the blob-seal subkey). The id is not checked here; {@link openBlob} checks it.
 *
 * @throws {CoreError} INVALID_OPTION for a plaintext above {@link MAX_BLOB_RAW_LENGTH} or an unknown codec.
 */
export async function sealBlobWithId(blobSeal: Uint8Array, id: Uint8Array, plaintext: Uint8Array, codec: Codec): Promise<SealedBlob> {
	if (plaintext.length > MAX_BLOB_RAW_LENGTH) {
		throw new CoreError(CoreErrorCode.InvalidOption, `A blob holds at most ${MAX_BLOB_RAW_LENGTH} bytes, not ${plaintext.length}.`);
	}
	const packed = await compress(codec, plaintext);
	const stored = gcmSeal(blobSeal, blobAad(id, packed.codec, plaintext.length), packed.bytes);
	return { id: Buffer.from(id), stored, rawLength: plaintext.length, codec: packed.codec };
}

/**
 * {@link sealBlobWithId} writing the sealed bytes into `into` at `at` (room for the plaintext's length plus
 * {@link BLOB_OVERHEAD}: a payload is never larger than its plaintext). Synchronous, for the workers that seal many
 * blobs into one buffer: no sealed blob is allocated and copied again.
 *
 * @throws {CoreError} as {@link sealBlobWithId}.
 */
export function sealBlobInto(
	blobSeal: Uint8Array,
	id: Uint8Array,
	plaintext: Uint8Array,
	codec: Codec,
	into: Buffer,
	at: number
): { readonly storedLength: number; readonly codec: Codec } {
	if (plaintext.length > MAX_BLOB_RAW_LENGTH) {
		throw new CoreError(CoreErrorCode.InvalidOption, `A blob holds at most ${MAX_BLOB_RAW_LENGTH} bytes, not ${plaintext.length}.`);
	}
	const packed = compressSync(codec, plaintext);
	return { storedLength: gcmSealInto(blobSeal, blobAad(id, packed.codec, plaintext.length), packed.bytes, into, at), codec: packed.codec };
}

function tampered(id: Uint8Array, why: string, cause?: unknown): CoreError {
	return new CoreError(
		CoreErrorCode.TamperedChunk,
		`Blob ${Buffer.from(id).toString('hex').slice(0, 16)}… ${why}: it is damaged, forged or not the blob asked for.`,
		{},
		cause === undefined ? undefined : { cause }
	);
}

/**
 * Opens a stored blob: authenticates it against the id, codec and raw length the index records, decompresses at most
 * `rawLength` bytes, and checks that the plaintext has that id. `checkId: false` skips that last HMAC pass, for a
 * restore that checks the sha256 of every file it writes anyway: the AAD already binds the blob to its id under the
 * key, so only a writer holding the key could have sealed other content under it, and the file hash catches that.
 *
 * @throws {CoreError} TAMPERED_CHUNK when anything does not authenticate or match; BAD_FORMAT for a recorded raw length
 * out of range.
 */
export async function openBlob(
	keys: Pick<BlobKeys, 'blobId' | 'blobSeal'>,
	id: Uint8Array,
	stored: Uint8Array,
	codec: Codec,
	rawLength: number,
	options: { readonly checkId?: boolean } = {}
): Promise<Buffer> {
	if (id.length !== BLOB_ID_SIZE) throw tampered(id, `has an id of ${id.length} bytes`);
	if (!Number.isSafeInteger(rawLength) || rawLength < 0 || rawLength > MAX_BLOB_RAW_LENGTH) {
		throw new CoreError(CoreErrorCode.BadFormat, `A blob records a raw length of ${rawLength} bytes (at most ${MAX_BLOB_RAW_LENGTH}).`);
	}
	if (stored.length < BLOB_OVERHEAD) throw tampered(id, 'is too short');
	const payload = gcmOpen(keys.blobSeal, blobAad(id, codec, rawLength), stored);
	if (payload === undefined) throw tampered(id, 'does not authenticate');
	let plaintext: Buffer;
	try {
		plaintext = await decompress(codec, payload, rawLength);
	} catch (error) {
		throw tampered(id, 'authenticates but does not decompress to its recorded length', error);
	}
	if (options.checkId !== false && !timingSafeEqual(blobId(keys, plaintext), Buffer.from(id)))
		throw tampered(id, 'holds other content than its id says');
	return plaintext;
}
