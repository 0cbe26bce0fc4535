import { createCipheriv, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { CoreError, CoreErrorCode } from '../errors.js';
import { deriveLegacyKey, LEGACY_NONCE_BYTES, LEGACY_SALT_BYTES, LEGACY_SLICE_SIZE } from './chunk.js';
import { formatLegacyChunkName, legacyChunkHash, legacyFileId } from './chunk-name.js';

const gzipAsync = promisify(gzip);

/** One file of a {@link writeLegacyArchive} archive: a top-level name (the original kept no folders) and its bytes. */
export interface LegacySourceFile {
	readonly name: string;
	readonly data: Uint8Array;
}

/** A named blob of a written archive: a chunk or the manifest, as the original posted or saved it. */
export interface LegacyWrittenFile {
	readonly name: string;
	readonly data: Buffer;
}

/** Options of {@link writeLegacyArchive}. */
export interface WriteLegacyArchiveOptions {
	/** The USER_KEY the original sealed every chunk with. */
	readonly passphrase: string;
	/** `source_folder` of the manifest: the folder the original uploaded. */
	readonly sourceFolder: string;
	/** When it was made: the manifest's name carries its time and date (`{N}-manifest_HHMMSS_DDMMYY.json`). */
	readonly createdAt: Date;
	/** Plaintext slice size; the original's {@link LEGACY_SLICE_SIZE} unless a test wants several chunks per file. */
	readonly sliceSize?: number;
	readonly signal?: AbortSignal;
}

/** An archive in the original tool's v3.1 format: its chunks in posting order, then its manifest. */
export interface LegacyWrittenArchive {
	readonly chunks: readonly LegacyWrittenFile[];
	readonly manifest: LegacyWrittenFile;
	/** The bytes of the chunk files together, as the original's history log counted them (`total_size_bytes`). */
	readonly storedBytes: number;
}

/** `salt ‖ nonce ‖ AES-256-GCM(PBKDF2-HMAC-SHA256(passphrase, salt, 600,000, 32)) ‖ tag`, no AAD: the original's chunk sealing. */
export async function sealLegacyChunk(plain: Uint8Array, passphrase: string, signal?: AbortSignal): Promise<Buffer> {
	const salt = randomBytes(LEGACY_SALT_BYTES);
	const nonce = randomBytes(LEGACY_NONCE_BYTES);
	const key = await deriveLegacyKey(passphrase, salt, signal);
	const cipher = createCipheriv('aes-256-gcm', key, nonce);
	const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
	return Buffer.concat([salt, nonce, ciphertext, cipher.getAuthTag()]);
}

const two = (value: number) => String(value).padStart(2, '0');

/**
 * Writes files as the original Python tool's v3.1 `!upload` did (docs/design.md §3.4): each file cut into slices, each
 * slice gzipped (level 9) and sealed on its own, named `{seq:04d}-{file_id}-{hash16}-{index:04d}.bin`; a zero-byte
 * file is one chunk of the gzip of nothing; then the plain JSON manifest `{N}-manifest_{HHMMSS}_{DDMMYY}.json`.
 * Used to give the sandbox an original-tool archive to move over; the readers in this folder read it back.
 *
 * @throws CoreError when the passphrase is empty or a name is not a plain top-level file name.
 */
export async function writeLegacyArchive(files: readonly LegacySourceFile[], options: WriteLegacyArchiveOptions): Promise<LegacyWrittenArchive> {
	if (options.passphrase.length === 0)
		throw new CoreError(CoreErrorCode.NoKey, 'An archive of the original tool needs a USER_KEY to seal its chunks.');
	const sliceSize = options.sliceSize ?? LEGACY_SLICE_SIZE;
	const chunks: LegacyWrittenFile[] = [];
	const entries: Record<string, unknown> = {};
	let totalOriginal = 0;
	let storedBytes = 0;
	for (const { name, data } of files) {
		if (name === '' || name === '.' || name === '..' || /[/\\\0]/u.test(name)) {
			throw new CoreError(
				CoreErrorCode.UnsafePath,
				`${JSON.stringify(name)} is not a plain file name: the original tool kept only top-level files.`
			);
		}
		const fileId = legacyFileId(name);
		const slices: Uint8Array[] = [];
		for (let offset = 0; offset < data.length; offset += sliceSize) slices.push(data.subarray(offset, offset + sliceSize));
		if (slices.length === 0) slices.push(new Uint8Array(0));
		const chunkEntries: unknown[] = [];
		for (const [index, slice] of slices.entries()) {
			const sealed = await sealLegacyChunk(await gzipAsync(slice, { level: 9 }), options.passphrase, options.signal);
			const chunkName = formatLegacyChunkName(chunks.length + 1, fileId, legacyChunkHash(sealed), index);
			chunks.push({ name: chunkName, data: sealed });
			chunkEntries.push({ name: chunkName, size: sealed.length, index });
			storedBytes += sealed.length;
		}
		totalOriginal += data.length;
		entries[fileId] = { original_name: name, original_size: data.length, chunks: chunkEntries };
	}
	const manifest = {
		version: '3.1',
		encrypted: true,
		compression: 'gzip-9',
		encryption_algorithm: 'AES-256-GCM',
		kdf: 'PBKDF2-SHA256-600000',
		chunking: 'per-chunk',
		encryption_scope: 'chunk',
		source_folder: options.sourceFolder,
		files: entries,
		total_original_size: totalOriginal,
		total_processed_size: storedBytes,
		total_chunks: chunks.length
	};
	const at = options.createdAt;
	const time = `${two(at.getUTCHours())}${two(at.getUTCMinutes())}${two(at.getUTCSeconds())}`;
	const date = `${two(at.getUTCDate())}${two(at.getUTCMonth() + 1)}${two(at.getUTCFullYear() % 100)}`;
	return {
		chunks,
		manifest: { name: `${chunks.length}-manifest_${time}_${date}.json`, data: Buffer.from(JSON.stringify(manifest, null, 4)) },
		storedBytes
	};
}
