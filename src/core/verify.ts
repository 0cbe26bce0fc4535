import { createHash, type Hash } from 'node:crypto';
import { throwIfAborted } from './abort.js';
import type { ChunkSource } from './assemble.js';
import { CoreErrorCode, isCoreError } from './errors.js';
import type { ArchiveKey } from './keys.js';
import type { Manifest } from './manifest.js';
import { mapOrdered } from './pipeline.js';
import { chunkRange, filesInRange } from './plan.js';
import type { CryptoPool } from './pool.js';
import type { ProgressListener } from './progress.js';

/** One chunk that failed verification. */
export interface ChunkProblem {
	/** The chunk's index in the manifest (from 0); messages for people number chunks from 1. */
	readonly index: number;
	readonly code: string;
	readonly message: string;
}

/** One file that could not be verified, or whose hash differs. */
export interface FileProblem {
	readonly path: string;
	readonly code: string;
	readonly message: string;
}

/** The outcome of a verification: every problem, not just the first. */
export interface VerifyReport {
	readonly ok: boolean;
	readonly chunksChecked: number;
	readonly filesChecked: number;
	/** Whether chunks were authenticated and files hashed (a key was used), or only stored hashes checked. */
	readonly authenticated: boolean;
	readonly badChunks: readonly ChunkProblem[];
	readonly badFiles: readonly FileProblem[];
}

/** Options shared by the verifiers. */
export interface VerifyOptions {
	readonly source: ChunkSource;
	readonly pool: CryptoPool;
	readonly readAhead?: number;
	readonly signal?: AbortSignal;
	readonly onProgress?: ProgressListener;
}

/**
 * Full verification with the key: every chunk's stored hash, authentication tag, decompression and plaintext hash,
 * then every file's sha256, writing no plaintext anywhere. A bad chunk makes the files it holds unverifiable;
 * every bad chunk and file is reported.
 *
 * @throws {CoreError} ABORTED. Chunk and file problems are reported, not thrown.
 */
export async function verifyArchive(options: VerifyOptions & { readonly manifest: Manifest; readonly key: ArchiveKey }): Promise<VerifyReport> {
	const { manifest, pool, signal } = options;
	const keyBytes = options.key.exportBytes();
	const uid = Buffer.from(manifest.uid, 'hex');
	const salt = Buffer.from(manifest.kdf.salt, 'hex');
	const badChunks: ChunkProblem[] = [];
	const badFiles = new Map<string, FileProblem>();
	const files = manifest.entries.filter((entry) => entry.type === 'file');
	const hashes = new Map<string, Hash>();
	let bytesDone = 0;
	let chunksDone = 0;
	try {
		const results = mapOrdered(manifest.chunks, pool.workers + (options.readAhead ?? 1), async (record) => {
			try {
				const sealed = await options.source(record.index, signal);
				const opened = await pool.open(
					{
						sealed,
						archiveKey: keyBytes,
						expect: { kind: 'data', uid, index: record.index, archiveSalt: salt, label: `Chunk ${record.index + 1}` },
						sha256: record.sha256,
						plainSize: record.plainSize,
						plainSha256: record.plainSha256
					},
					signal
				);
				return { plain: opened.plain };
			} catch (error) {
				return { problem: asProblem(record.index, error, signal) };
			}
		});
		const totals = { chunkSize: manifest.chunkSize, totalBytes: manifest.totals.bytes };
		for await (const { item, result } of results) {
			throwIfAborted(signal);
			const { start, end } = chunkRange(totals, item.index);
			for (const file of filesInRange(files, start, end)) {
				if (badFiles.has(file.path)) continue;
				if (result.problem) {
					badFiles.set(file.path, {
						path: file.path,
						code: result.problem.code,
						message: `${file.path} is unverifiable: chunk ${item.index + 1} is bad.`
					});
					hashes.delete(file.path);
					continue;
				}
				let hash = hashes.get(file.path);
				if (hash === undefined) hashes.set(file.path, (hash = createHash('sha256')));
				const from = Math.max(start, file.offset!);
				const to = Math.min(end, file.offset! + file.size);
				hash.update(result.plain.subarray(from - start, to - start));
				if (to === file.offset! + file.size) {
					if (hash.digest('hex') !== file.sha256) {
						badFiles.set(file.path, {
							path: file.path,
							code: CoreErrorCode.HashMismatch,
							message: `${file.path} does not match its recorded sha256.`
						});
					}
					hashes.delete(file.path);
				}
			}
			if (result.problem) badChunks.push(result.problem);
			bytesDone += end - start;
			options.onProgress?.({
				phase: 'verify',
				bytesDone,
				bytesTotal: manifest.totals.bytes,
				chunksDone: ++chunksDone,
				chunksTotal: manifest.chunks.length
			});
		}
	} finally {
		keyBytes.fill(0);
	}
	for (const file of files) {
		if (file.size === 0 && file.sha256 !== createHash('sha256').digest('hex')) {
			badFiles.set(file.path, {
				path: file.path,
				code: CoreErrorCode.HashMismatch,
				message: `${file.path} is empty but its recorded sha256 is not.`
			});
		}
	}
	return {
		ok: badChunks.length === 0 && badFiles.size === 0,
		chunksChecked: manifest.chunks.length,
		filesChecked: files.length,
		authenticated: true,
		badChunks,
		badFiles: [...badFiles.values()]
	};
}

function problem(index: number, code: string, message: string): ChunkProblem {
	return { index, code, message };
}

function asProblem(index: number, error: unknown, signal: AbortSignal | undefined): ChunkProblem {
	throwIfAborted(signal);
	if (isCoreError(error)) {
		if (error.code === CoreErrorCode.Aborted) throw error;
		return problem(index, error.code, error.message);
	}
	return problem(index, 'ERROR', error instanceof Error ? error.message : String(error));
}
