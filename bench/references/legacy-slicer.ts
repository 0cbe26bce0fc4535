import { createCipheriv, createHash, pbkdf2, randomBytes } from 'node:crypto';
import { channel } from 'node:diagnostics_channel';
import { mkdir, open, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

/**
 * A reference implementation of the original Python tool's slicer (manifest v3.1), to measure its scheme beside
 * ours: every top-level file on its own, cut into 9.5 MiB slices (one chunk at least, even for an empty file),
 * each slice gzip -9 compressed and sealed as `salt ‖ nonce ‖ AES-256-GCM ‖ tag` under a key derived with
 * PBKDF2-HMAC-SHA256 600,000 iterations — once per chunk. It runs one chunk at a time, as the original did; each
 * derivation is announced on `dos:kdf` so the bench counts them like ours. The output restores with our legacy
 * reader.
 */

const pbkdf2Async = promisify(pbkdf2);
const gzipAsync = promisify(gzip);
const kdf = channel('dos:kdf');

export const ORIGINAL_SLICE_SIZE = 9_961_472;
const ITERATIONS = 600_000;

export interface LegacySliceResult {
	readonly files: number;
	readonly bytes: number;
	readonly chunks: number;
	readonly storedBytes: number;
}

/** Slices the first `limitFiles` (by name) top-level files of `source` into `outDir` the way the original did. */
export async function sliceLikeOriginal(
	source: string,
	outDir: string,
	passphrase: string,
	limitFiles = Number.POSITIVE_INFINITY
): Promise<LegacySliceResult> {
	await mkdir(outDir, { recursive: true });
	const names = (await readdir(source, { withFileTypes: true }))
		.filter((entry) => entry.isFile())
		.map((entry) => entry.name)
		.sort()
		.slice(0, limitFiles);
	const files: Record<string, { original_name: string; original_size: number; chunks: { name: string; size: number; index: number }[] }> = {};
	let seq = 0;
	let bytes = 0;
	let storedBytes = 0;
	const slice = Buffer.alloc(ORIGINAL_SLICE_SIZE);
	for (const name of names) {
		const fileId = createHash('sha256').update(name).digest('hex').slice(0, 12);
		const chunks: { name: string; size: number; index: number }[] = [];
		const handle = await open(path.join(source, name), 'r');
		let size = 0;
		try {
			for (let index = 0; ; index++) {
				const { bytesRead } = await handle.read(slice, 0, ORIGINAL_SLICE_SIZE, null);
				if (bytesRead === 0 && index > 0) break;
				size += bytesRead;
				const sealed = await seal(await gzipAsync(slice.subarray(0, bytesRead), { level: 9 }), passphrase);
				seq++;
				const chunkName = `${String(seq).padStart(4, '0')}-${fileId}-${createHash('sha256').update(sealed).digest('hex').slice(0, 16)}-${String(index).padStart(4, '0')}.bin`;
				await writeFile(path.join(outDir, chunkName), sealed);
				chunks.push({ name: chunkName, size: sealed.length, index });
				storedBytes += sealed.length;
				if (bytesRead < ORIGINAL_SLICE_SIZE) break;
			}
		} finally {
			await handle.close();
		}
		bytes += size;
		files[fileId] = { original_name: name, original_size: size, chunks };
	}
	const manifest = {
		version: '3.1',
		encrypted: true,
		compression: 'gzip-9',
		encryption_algorithm: 'AES-256-GCM',
		kdf: 'PBKDF2-SHA256-600000',
		chunking: 'per-chunk',
		encryption_scope: 'chunk',
		source_folder: path.basename(source),
		files,
		total_original_size: bytes,
		total_processed_size: storedBytes,
		total_chunks: seq,
		space_saved_percent: bytes > 0 ? Math.round((1 - storedBytes / bytes) * 10_000) / 100 : 0
	};
	await writeFile(path.join(outDir, `${seq}-manifest_120000_010125.json`), JSON.stringify(manifest, null, 4));
	return { files: names.length, bytes, chunks: seq, storedBytes };
}

async function seal(plain: Buffer, passphrase: string): Promise<Buffer> {
	const salt = randomBytes(16);
	const nonce = randomBytes(12);
	kdf.publish({ iterations: ITERATIONS });
	const key = await pbkdf2Async(passphrase, salt, ITERATIONS, 32, 'sha256');
	const cipher = createCipheriv('aes-256-gcm', key, nonce);
	return Buffer.concat([salt, nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}
