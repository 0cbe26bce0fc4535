import { createCipheriv, createHash, pbkdf2, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

/**
 * A test-only writer of the original tool's archive layouts, so the readers of v3.0 and v2.x (for which we
 * have no fixture) and corner cases of v3.1 can be exercised. It follows our reading of the original's
 * slicer (see src/core/legacy/manifest.ts); the v3.1 output has the same shape as the fixture it made.
 */

const pbkdf2Async = promisify(pbkdf2);

export type LegacyWriterVersion = '3.1' | '3.0' | '2.1' | '2.0';

export interface LegacyWriterOptions {
	readonly version: LegacyWriterVersion;
	/** USER_KEY for 3.x. */
	readonly passphrase?: string;
	/** Plaintext slice size (3.1, 2.x) or blob cut size (3.0). */
	readonly sliceSize: number;
	/** 2.x only: store the gzip of each whole file, cut, as the original's last reader also accepted. */
	readonly gzipPlain?: boolean;
	readonly sourceFolder?: string;
	/** Manifest file name; by default `{total_chunks}-manifest_120000_241126.json`. */
	readonly manifestName?: string;
}

export interface WrittenLegacyArchive {
	readonly manifestPath: string;
	/** The manifest as written (a plain object, to be altered by tests). */
	readonly manifest: Record<string, unknown>;
	/** Chunk file names in archive order, with the name of the file each belongs to. */
	readonly chunks: readonly { readonly name: string; readonly file: string }[];
}

export function fileIdOf(name: string): string {
	return createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 12);
}

export function hash16Of(bytes: Uint8Array): string {
	return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** The original's per-blob sealing: `salt ‖ nonce ‖ AES-256-GCM(PBKDF2(passphrase, salt, 600k)) ‖ tag`. */
export async function sealLikeOriginal(plain: Uint8Array, passphrase: string): Promise<Buffer> {
	const salt = randomBytes(16);
	const nonce = randomBytes(12);
	const key = await pbkdf2Async(Buffer.from(passphrase, 'utf8'), salt, 600_000, 32, 'sha256');
	const cipher = createCipheriv('aes-256-gcm', key, nonce);
	const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
	return Buffer.concat([salt, nonce, ciphertext, cipher.getAuthTag()]);
}

function slices(data: Buffer, size: number): Buffer[] {
	const out: Buffer[] = [];
	for (let offset = 0; offset < data.length; offset += size) out.push(data.subarray(offset, offset + size));
	return out;
}

/** Writes `files` (in this order) as an archive of the given version into `dir`. */
export async function writeLegacyArchive(
	dir: string,
	files: readonly { name: string; data: Buffer }[],
	options: LegacyWriterOptions
): Promise<WrittenLegacyArchive> {
	await mkdir(dir, { recursive: true });
	const { version, sliceSize } = options;
	const encrypted = version.startsWith('3');
	const passphrase = options.passphrase ?? '';
	if (encrypted && passphrase.length === 0) throw new Error('A 3.x archive needs a passphrase.');
	let seq = 0;
	const chunks: { name: string; file: string }[] = [];
	const entries: Record<string, unknown> = {};
	let totalOriginal = 0;
	let totalProcessed = 0;
	for (const { name, data } of files) {
		const fileId = fileIdOf(name);
		let pieces: Buffer[];
		if (version === '3.1') {
			const plainSlices = data.length === 0 ? [Buffer.alloc(0)] : slices(data, sliceSize);
			pieces = [];
			for (const slice of plainSlices) pieces.push(await sealLikeOriginal(gzipSync(slice, { level: 9 }), passphrase));
		} else if (version === '3.0') {
			pieces = slices(await sealLikeOriginal(gzipSync(data, { level: 9 }), passphrase), sliceSize);
		} else {
			pieces = slices(options.gzipPlain === true ? gzipSync(data, { level: 9 }) : data, sliceSize);
		}
		const chunkEntries: unknown[] = [];
		for (const [index, piece] of pieces.entries()) {
			seq++;
			const chunkName = version.startsWith('2')
				? `${seq}-data_${fileId}_${hash16Of(piece)}_${String(index).padStart(4, '0')}.bin`
				: `${String(seq).padStart(4, '0')}-${fileId}-${hash16Of(piece)}-${String(index).padStart(4, '0')}.bin`;
			await writeFile(path.join(dir, chunkName), piece);
			chunks.push({ name: chunkName, file: name });
			chunkEntries.push(version.startsWith('2') ? chunkName : { name: chunkName, size: piece.length, index });
			totalProcessed += piece.length;
		}
		totalOriginal += data.length;
		entries[fileId] = version.startsWith('2')
			? { original_name: name, total_size: data.length, chunks: chunkEntries }
			: { original_name: name, original_size: data.length, chunks: chunkEntries };
	}
	const manifest: Record<string, unknown> = { version };
	if (encrypted) {
		Object.assign(manifest, { encrypted: true, compression: 'gzip-9', encryption_algorithm: 'AES-256-GCM', kdf: 'PBKDF2-SHA256-600000' });
		if (version === '3.1') Object.assign(manifest, { chunking: 'per-chunk', encryption_scope: 'chunk' });
	}
	if (version !== '2.0') manifest.source_folder = options.sourceFolder ?? 'folder';
	manifest.files = entries;
	if (encrypted) {
		Object.assign(manifest, { total_original_size: totalOriginal, total_processed_size: totalProcessed, total_chunks: seq });
	}
	const manifestPath = path.join(dir, options.manifestName ?? `${seq}-manifest_120000_241126.json`);
	await writeFile(manifestPath, JSON.stringify(manifest, null, 4));
	return { manifestPath, manifest, chunks };
}
