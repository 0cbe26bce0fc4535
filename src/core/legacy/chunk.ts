import { createDecipheriv, pbkdf2 } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { throwIfAborted } from '../abort.js';
import { CoreError, CoreErrorCode } from '../errors.js';
import { KDF_CHANNEL } from '../keys.js';
import { assertLegacyChunkBytes } from './chunk-name.js';

/** PBKDF2-HMAC-SHA256 iterations of the original tool, run once for every chunk (v3.1) or file (v3.0). */
export const LEGACY_PBKDF2_ITERATIONS = 600_000;
/** Bytes of the PBKDF2 salt at the start of every encrypted legacy blob. */
export const LEGACY_SALT_BYTES = 16;
/** Bytes of the AES-GCM nonce after the salt. */
export const LEGACY_NONCE_BYTES = 12;
/** Bytes of the AES-GCM tag at the end. */
export const LEGACY_TAG_BYTES = 16;
/** What encryption adds to a blob: salt, nonce and tag. */
export const LEGACY_SEAL_OVERHEAD = LEGACY_SALT_BYTES + LEGACY_NONCE_BYTES + LEGACY_TAG_BYTES;
/** The original tool's slice size: 9.5 MiB of plaintext per chunk. Archives made with another size exist. */
export const LEGACY_SLICE_SIZE = 9_961_472;
/**
 * Upper bound we accept for one stored chunk and for one chunk's plaintext. The original wrote 9.5 MiB
 * slices (Discord's limit was 10 MiB, later 25 MiB); anything far beyond is not a real chunk and would only
 * cost memory.
 */
export const LEGACY_MAX_CHUNK_BYTES = 64 * 1024 * 1024;

/**
 * The most bytes deflate can make of one byte of compressed input (its best case, long runs of one byte, is ~1032:1).
 * A size a manifest claims beyond this many times the compressed bytes is a lie, refused before anything is written.
 */
export const LEGACY_MAX_GZIP_RATIO = 1032;

/** How many PBKDF2 derivations of legacy chunks run at once in this process, whatever the caller. */
const KDF_PARALLELISM = 2;
/** Where every PBKDF2 derivation is announced (`{ iterations }`): the same channel as the new format's. */
const kdfChannel = diagnosticsChannel.channel(KDF_CHANNEL);

const pbkdf2Async = promisify(pbkdf2);
const gunzipAsync = promisify(gunzip);

/**
 * A small counting gate: legacy archives need one PBKDF2 per chunk, hundreds of them on a large archive, and
 * each takes a libuv thread for ~0.2 s. Bounding them leaves threads for file I/O and zlib.
 */
class KdfGate {
	private readonly limit: number;
	private running = 0;
	private readonly waiting: (() => void)[] = [];

	public constructor(limit: number) {
		this.limit = limit;
	}

	public async run<T>(task: () => Promise<T>): Promise<T> {
		// A finishing task hands its slot straight to the next waiter, so the count never overshoots.
		if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
		else this.running++;
		try {
			return await task();
		} finally {
			const next = this.waiting.shift();
			if (next === undefined) this.running--;
			else next();
		}
	}
}

const kdfGate = new KdfGate(KDF_PARALLELISM);

/**
 * Derives the AES-256 key of one legacy blob: PBKDF2-HMAC-SHA256(UTF-8 passphrase, salt, 600,000, 32).
 * Runs asynchronously, at most two at a time in the process, and announces itself on `dos:kdf`.
 *
 * @throws {CoreError} ABORTED when `signal` fired before the derivation started.
 */
export async function deriveLegacyKey(passphrase: string, salt: Uint8Array, signal?: AbortSignal): Promise<Buffer> {
	return kdfGate.run(async () => {
		throwIfAborted(signal);
		kdfChannel.publish({ iterations: LEGACY_PBKDF2_ITERATIONS });
		return pbkdf2Async(Buffer.from(passphrase, 'utf8'), salt, LEGACY_PBKDF2_ITERATIONS, 32, 'sha256');
	});
}

/**
 * Decrypts one whole encrypted legacy blob `salt(16) ‖ nonce(12) ‖ ciphertext ‖ tag(16)` (no AAD) and returns
 * the gzip bytes inside. `label` names the blob in errors (a chunk file name).
 *
 * @throws {CoreError} BAD_FORMAT when the blob is too short to be one; WRONG_KEY when the tag does not verify
 * (the caller, knowing whether the bytes are intact and whether the key opened other chunks, may reclassify
 * that as TAMPERED_CHUNK); ABORTED.
 */
export async function decryptLegacyBlob(blob: Uint8Array, passphrase: string, label: string, signal?: AbortSignal): Promise<Buffer> {
	if (blob.length < LEGACY_SEAL_OVERHEAD) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`${label} is ${blob.length} bytes, too short to be an encrypted chunk of the original tool (at least ${LEGACY_SEAL_OVERHEAD}).`,
			{ file: label }
		);
	}
	const bytes = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
	const salt = bytes.subarray(0, LEGACY_SALT_BYTES);
	const nonce = bytes.subarray(LEGACY_SALT_BYTES, LEGACY_SALT_BYTES + LEGACY_NONCE_BYTES);
	const key = await deriveLegacyKey(passphrase, salt, signal);
	const decipher = createDecipheriv('aes-256-gcm', key, nonce);
	decipher.setAuthTag(bytes.subarray(bytes.length - LEGACY_TAG_BYTES));
	const ciphertext = bytes.subarray(LEGACY_SALT_BYTES + LEGACY_NONCE_BYTES, bytes.length - LEGACY_TAG_BYTES);
	try {
		return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
	} catch (error) {
		throw legacyAuthenticationError(label, error);
	}
}

/** Options of {@link openLegacyChunk}. */
export interface OpenLegacyChunkOptions {
	/** Largest plaintext the chunk may hold (what is left of its file); more is refused as damage. */
	readonly maxPlainBytes?: number;
	readonly signal?: AbortSignal;
}

/**
 * Opens one v3.1 legacy chunk: checks its bytes against the hash in its name (before any key work), derives
 * its key, authenticates and decrypts it, and gunzips the payload.
 *
 * @param name the chunk's file name, `{seq}-{file_id}-{hash16}-{index}.bin`
 * @param bytes the chunk's stored bytes
 * @throws {CoreError} TAMPERED_CHUNK when the bytes do not match the name's hash; WRONG_KEY when the tag does
 * not verify on intact bytes (see {@link decryptLegacyBlob}); BAD_FORMAT when the name is not a chunk name,
 * the blob is too short, the payload is not gzip or inflates beyond `maxPlainBytes`; ABORTED.
 */
export async function openLegacyChunk(name: string, bytes: Uint8Array, passphrase: string, options: OpenLegacyChunkOptions = {}): Promise<Buffer> {
	assertLegacyChunkBytes(name, bytes);
	const compressed = await decryptLegacyBlob(bytes, passphrase, name, options.signal);
	return gunzipLegacyPayload(compressed, name, options.maxPlainBytes ?? LEGACY_MAX_CHUNK_BYTES);
}

/**
 * Gunzips an authenticated legacy payload, refusing to inflate beyond `maxPlainBytes`.
 *
 * @throws {CoreError} BAD_FORMAT when the payload is not gzip or holds more than `maxPlainBytes`.
 */
export async function gunzipLegacyPayload(compressed: Uint8Array, label: string, maxPlainBytes: number): Promise<Buffer> {
	const limit = Math.min(Math.max(0, maxPlainBytes), LEGACY_MAX_CHUNK_BYTES, compressed.length * LEGACY_MAX_GZIP_RATIO);
	let plain: Buffer;
	try {
		plain = await gunzipAsync(compressed, { maxOutputLength: Math.max(1, limit) });
	} catch (error) {
		const tooLarge = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
		throw new CoreError(
			CoreErrorCode.BadFormat,
			tooLarge
				? `${label} inflates to more than the ${limit} bytes its file has left: the manifest and the chunk disagree. Download the archive again, or report it.`
				: `${label} decrypts, but what it holds is not gzip data as the original tool wrote it. Download the archive again, or report it.`,
			{ file: label },
			{ cause: error }
		);
	}
	if (plain.length > limit) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`${label} inflates to ${plain.length} bytes, more than the ${limit} bytes its file has left: the manifest and the chunk disagree.`,
			{ file: label }
		);
	}
	return plain;
}

/** The error for a tag that does not verify on bytes whose name hash matched. */
export function legacyAuthenticationError(label: string, cause?: unknown): CoreError {
	return new CoreError(
		CoreErrorCode.WrongKey,
		`The passphrase does not open ${label}. Set USER_KEY to the key this archive was made with (the original tool's USER_KEY) and retry.`,
		{ file: label },
		{ cause }
	);
}
