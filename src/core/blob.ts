import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { ChunkKind, decodeChunkHeader, openContainer, sealContainer } from './container.js';
import { CoreError, CoreErrorCode } from './errors.js';
import { type ArchiveKey, deriveArchiveKey } from './keys.js';
import { newArchiveUid } from './manifest.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Kinds of single-blob payloads. */
export type BlobKind = 'index-backup';

/** Largest blob we inflate: 4 GiB would not fit an attachment anyway; this caps a forged payload at 2 GiB. */
const blobKinds = { 'index-backup': ChunkKind.IndexBackup } as const;

const MAX_BLOB_BYTES = 2 * 1024 * 1024 * 1024 - 1;

/** Options of {@link sealBlob}. */
export interface SealBlobOptions {
	/** PBKDF2 iterations (tests use fewer); default 600,000. */
	readonly iterations?: number;
	readonly gzipLevel?: number;
	readonly signal?: AbortSignal;
}

/**
 * Seals a single-blob payload (an index backup): gzip, then a container of its own with a new archive salt and a
 * new uid each time (so one PBKDF2 per blob).
 *
 * @throws {CoreError} NO_KEY without a passphrase; ABORTED.
 */
export async function sealBlob(kind: BlobKind, bytes: Uint8Array, passphrase: string | undefined, options: SealBlobOptions = {}): Promise<Buffer> {
	const key = await deriveArchiveKey(passphrase ?? '', {
		...(options.iterations ? { iterations: options.iterations } : {}),
		...(options.signal ? { signal: options.signal } : {})
	});
	return sealBlobWithKey(kind, bytes, key, options.gzipLevel);
}

async function sealBlobWithKey(kind: BlobKind, bytes: Uint8Array, key: ArchiveKey, gzipLevel = 9): Promise<Buffer> {
	const payload = await gzipAsync(bytes, { level: gzipLevel });
	const keyBytes = key.exportBytes();
	try {
		return sealContainer({
			kind: blobKinds[kind],
			compressed: true,
			archiveKey: keyBytes,
			archiveSalt: key.salt,
			kdfIterations: key.iterations,
			uid: newArchiveUid(),
			index: 0,
			count: 1,
			payload
		}).sealed;
	} finally {
		keyBytes.fill(0);
	}
}

/**
 * Opens a blob made by {@link sealBlob}.
 *
 * @throws {CoreError} NO_KEY; BAD_FORMAT when the bytes are not a blob; MISPLACED_CHUNK when the kind differs;
 * WRONG_KEY when authentication fails and `intact` (the caller checked the bytes' hash) — else TAMPERED_CHUNK.
 */
export async function openBlob(
	kind: BlobKind,
	sealed: Uint8Array,
	passphrase: string | undefined,
	options: { intact?: boolean; signal?: AbortSignal } = {}
): Promise<Buffer> {
	const header = decodeChunkHeader(sealed, `the ${kind}`);
	const key = await deriveArchiveKey(passphrase ?? '', {
		salt: header.archiveSalt,
		iterations: header.kdfIterations,
		...(options.signal ? { signal: options.signal } : {})
	});
	const keyBytes = key.exportBytes();
	let payload: Buffer;
	try {
		payload = openContainer(sealed, keyBytes, {
			kind: blobKinds[kind],
			index: 0,
			count: 1,
			intact: options.intact ?? false,
			label: `the ${kind}`
		}).payload;
	} finally {
		keyBytes.fill(0);
	}
	try {
		return await gunzipAsync(payload, { maxOutputLength: MAX_BLOB_BYTES });
	} catch (error) {
		throw new CoreError(CoreErrorCode.BadFormat, `The ${kind} decrypted but does not inflate. It is damaged.`, {}, { cause: error });
	}
}
