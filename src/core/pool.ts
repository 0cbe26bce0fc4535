import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { abortedError } from './abort.js';
import type { CryptoReply, CryptoTask, ReadBlobsTask, SealBlobsTask } from './crypto-worker.js';
import type { FilesResult, FilesTask } from './repo/restore-worker.js';
import { noteBufferChurn } from './memory.js';
import { CoreError, CoreErrorCode } from './errors.js';
import type { Codec } from './repo/codec.js';
import type { ReadItemResult } from './repo/reader.js';
import type { WalkResult } from './walk.js';
import type { OpenChunkTask, OpenedChunkData, SealChunkTask, SealedChunkData } from './sealing.js';

/** Options of {@link createCryptoPool}. */
export interface CryptoPoolOptions {
	/** Worker threads; all cores by default. */
	readonly workers?: number;
	/** Workers collect their dead buffers early, after every so many bytes (see memory.ts); off by default. */
	readonly collectGarbageEvery?: number;
}

/** A sealed chunk as the pool returns it, with the plaintext's ArrayBuffer handed back for reuse. */
export interface PoolSealedChunk extends SealedChunkData {
	/** The ArrayBuffer that held the plaintext: read the next chunk into it instead of allocating. */
	readonly returned?: ArrayBuffer;
}

/** An opened chunk as the pool returns it (the header stays in the worker). */
export interface PoolOpenedChunk {
	readonly plain: Buffer;
	readonly plainSha256: string;
	readonly compressed: boolean;
}

/**
 * A pool of worker threads that compress, encrypt, decrypt and hash chunks, so the calling thread only reads and
 * writes. The bot owns one for its lifetime; the CLI makes one per command. Chunk bytes are transferred to and
 * from the workers, never copied.
 */
export interface CryptoPool {
	/** Number of worker threads. */
	readonly workers: number;
	/**
	 * Hashes, compresses (when it pays) and seals one chunk. The ArrayBuffer behind `task.plain` (which must start at
	 * its offset 0) is transferred and unusable afterwards; it comes back as `returned`. `task.into`, a recycled buffer
	 * of an earlier sealed chunk, is transferred too, and the sealed bytes are written into it when it is large enough.
	 *
	 * @throws {CoreError} ABORTED; INVALID_OPTION for a bad task; POOL_CLOSED after {@link CryptoPool.close}.
	 */
	seal(task: SealChunkTask, signal?: AbortSignal): Promise<PoolSealedChunk>;
	/**
	 * Checks, authenticates, decrypts and inflates one chunk (see `openChunk`). `task.sealed` is transferred.
	 *
	 * @throws {CoreError} TAMPERED_CHUNK, WRONG_KEY, MISPLACED_CHUNK, BAD_FORMAT, HASH_MISMATCH, ABORTED; POOL_CLOSED.
	 */
	open(task: OpenChunkTask, signal?: AbortSignal): Promise<PoolOpenedChunk>;
	/**
	 * sha256 (hex) of the bytes; `plain` is transferred, and handed back as `returned` for reuse.
	 *
	 * @throws {CoreError} ABORTED; POOL_CLOSED.
	 */
	hash(plain: Uint8Array, signal?: AbortSignal): Promise<{ plainSha256: string; returned?: ArrayBuffer }>;
	/**
	 * Format 2: compresses and seals a batch of blobs in one task (a batch of small files costs one round trip).
	 * `task.plain` is transferred. Returns the sealed blobs one after another, with their lengths and codecs.
	 */
	sealBlobs(task: Omit<SealBlobsTask, 'op'>, signal?: AbortSignal): Promise<{ sealed: Buffer; lengths: number[]; codecs: Codec[] }>;
	/**
	 * Format 2: reads a group of files or windows of files in one task (src/core/repo/reader.ts): each is read, hashed
	 * (whole files), cut into blobs and given blob ids in the worker. Returns the blobs' plaintexts one after another
	 * (from byte 0 of a transferred buffer), their ids (32 bytes each) and what each item read to; a file that could
	 * not be read or changed size is reported in its item, not thrown.
	 */
	readBlobs(task: Omit<ReadBlobsTask, 'op'>, signal?: AbortSignal): Promise<{ plain: Buffer; ids: Uint8Array; items: ReadItemResult[] }>;
	/**
	 * Walks a folder in a worker (walkSync in walk.ts: synchronous calls there, no round trip per entry here).
	 *
	 * @throws {CoreError} NOT_FOUND when `root` is not a folder; ABORTED; POOL_CLOSED.
	 */
	walk(root: string, signal?: AbortSignal): Promise<WalkResult>;
	/**
	 * Format 2: restores a few files in one task: the worker reads their blobs from the packs, opens them, and writes
	 * each file through a temporary name, renamed into place once its sha256 matches (see `FilesTask`). Blobs that do
	 * not open come back as data (nothing of their files is kept); a file that cannot be written throws its CoreError.
	 * No AbortSignal: a task stops between files through `task.stop`, so that it never leaves a temporary file behind.
	 *
	 * @throws {CoreError} HASH_MISMATCH, FILE_EXISTS, DISK_FULL, ABORTED; POOL_CLOSED.
	 */
	restoreFiles(task: Omit<FilesTask, 'op'>): Promise<FilesResult>;
	/** Format 2: checks a few files in one task (their blobs opened and their sha256 computed in the worker). */
	verifyFiles(task: Omit<FilesTask, 'op'>): Promise<FilesResult>;
	/** Waits for running tasks and stops the threads. */
	close(): Promise<void>;
}

/**
 * Starts a crypto worker pool. It works both from `dist/` (JavaScript) and from the TypeScript sources (tests run
 * through tsx): the worker module is resolved next to this one, with its extension.
 *
 * @throws {CoreError} INVALID_OPTION when `workers` is not a whole number from 1 to 256.
 */
export function createCryptoPool(options: CryptoPoolOptions = {}): CryptoPool {
	const workers = options.workers ?? Math.max(1, availableParallelism());
	if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
		throw new CoreError(CoreErrorCode.InvalidOption, `The number of workers must be a whole number from 1 to 256, not ${workers}.`);
	}
	const fromSource = import.meta.url.endsWith('.ts');
	const piscina = new Piscina<CryptoTask, unknown>({
		filename: fileURLToPath(new URL(fromSource ? './crypto-worker.ts' : './crypto-worker.js', import.meta.url)),
		// One thread starts with the pool, the others when tasks queue for them: a slice whose files are all unchanged
		// (the walk its only task) or a bot at rest does not pay for threads it never uses.
		minThreads: 1,
		maxThreads: workers,
		idleTimeout: 30_000,
		// The workers' garbage is mostly small (stat results, task records; their data lives in Buffers outside the
		// heap): a young generation of 4 MB instead of V8's default (up to 48 MB per thread) takes 30–50 MB off the
		// peak RSS of a slice of 20,000 small files.
		resourceLimits: { maxYoungGenerationSizeMb: 4 },
		workerData: { collectGarbageEvery: options.collectGarbageEvery },
		// Workers run plain JavaScript from dist/: they must not inherit loaders the parent was started with
		// (a TypeScript loader in a worker costs tens of MB and start-up time), only the TypeScript sources need one.
		execArgv: fromSource ? ['--import', typeScriptLoader()] : []
	});
	let closed = false;

	const run = async (message: CryptoTask, transfer: ArrayBuffer | ArrayBuffer[], signal: AbortSignal | undefined): Promise<CryptoReply> => {
		if (closed) throw new CoreError(CoreErrorCode.PoolClosed, 'The crypto pool is closed: no more work can be handed to it.');
		if (signal?.aborted) throw abortedError(signal);
		try {
			const transferList = Array.isArray(transfer) ? transfer : [transfer];
			const reply = (await piscina.run(message, { transferList, ...(signal ? { signal } : {}) })) as CryptoReply;
			// The reply's buffer is dropped by this thread once used: count it towards an early collection.
			if (reply.ok) noteBufferChurn(reply.length ?? reply.bytes?.byteLength ?? 0);
			return reply;
		} catch (error) {
			if (signal?.aborted) throw abortedError(signal);
			throw error;
		}
	};

	return {
		workers,
		async seal(task, signal) {
			const { plain, into, ...rest } = task;
			const buffer = ownedArrayBuffer(plain);
			// Never seal into the plaintext's own buffer.
			const recycled = into !== undefined && into !== buffer ? into : undefined;
			const message: CryptoTask = { op: 'seal', task: rest, plain: buffer, plainLength: plain.length, ...(recycled ? { into: recycled } : {}) };
			const reply = unwrap(await run(message, recycled ? [buffer, recycled] : buffer, signal));
			return {
				...(reply.meta as Omit<SealedChunkData, 'bytes'>),
				bytes: bytesOf(reply),
				...(reply.returned ? { returned: reply.returned } : {})
			};
		},
		async open(task, signal) {
			const { sealed, ...rest } = task;
			const buffer = ownedArrayBuffer(sealed);
			const reply = unwrap(await run({ op: 'open', task: rest, sealed: buffer, sealedLength: sealed.length }, buffer, signal));
			const meta = reply.meta as Omit<OpenedChunkData, 'plain' | 'header'> & { compressed: boolean };
			return { plain: bytesOf(reply), plainSha256: meta.plainSha256, compressed: meta.compressed };
		},
		async hash(plain, signal) {
			const buffer = ownedArrayBuffer(plain);
			const reply = unwrap(await run({ op: 'hash', plain: buffer, plainLength: plain.length }, buffer, signal));
			return { plainSha256: reply.meta.plainSha256 as string, ...(reply.returned ? { returned: reply.returned } : {}) };
		},
		async sealBlobs(task, signal) {
			const reply = unwrap(await run({ op: 'sealBlobs', ...task }, task.plain, signal));
			const meta = reply.meta as { lengths: number[]; codecs: Codec[] };
			return { sealed: bytesOf(reply), ...meta };
		},
		async readBlobs(task, signal) {
			const reply = unwrap(await run({ op: 'readBlobs', ...task }, [], signal));
			const meta = reply.meta as { items: ReadItemResult[]; ids: Uint8Array };
			return { plain: bytesOf(reply), ids: meta.ids, items: meta.items };
		},
		async walk(root, signal) {
			return (unwrap(await run({ op: 'walk', root }, [], signal)).meta as { walked: WalkResult }).walked;
		},
		async restoreFiles(task) {
			return unwrap(await run({ op: 'restoreFiles', ...task }, [], undefined)).meta as unknown as FilesResult;
		},
		async verifyFiles(task) {
			return unwrap(await run({ op: 'verifyFiles', ...task }, [], undefined)).meta as unknown as FilesResult;
		},
		async close() {
			if (closed) return;
			closed = true;
			await piscina.close();
		}
	};
}

/**
 * The TypeScript loader for workers started from the sources (tests, `node --import tsx`), resolved from this module
 * rather than from the working directory, so it is found wherever the process was started.
 */
function typeScriptLoader(): string {
	try {
		return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
	} catch {
		return 'tsx';
	}
}

/** From this size a buffer cannot come from Node's small-buffer pool (8 KiB slabs). */
const WHOLE_BUFFER_MIN = 64 * 1024;

/**
 * The ArrayBuffer behind `bytes` when the view starts it and covers all of it, or when the view starts a large
 * buffer (a reused chunk buffer, the last chunk shorter than the others); otherwise an exact copy, so that Node's
 * small-buffer pool is never transferred.
 */
function ownedArrayBuffer(bytes: Uint8Array): ArrayBuffer {
	if (
		bytes.byteOffset === 0 &&
		bytes.buffer instanceof ArrayBuffer &&
		(bytes.buffer.byteLength === bytes.length || bytes.buffer.byteLength >= WHOLE_BUFFER_MIN)
	) {
		return bytes.buffer;
	}
	return (bytes.buffer as ArrayBuffer).slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
}

function unwrap(reply: CryptoReply): Extract<CryptoReply, { ok: true }> {
	if (reply.ok) return reply;
	if (reply.code !== undefined && (Object.values(CoreErrorCode) as string[]).includes(reply.code)) {
		throw new CoreError(reply.code as CoreErrorCode, reply.message, reply.details ?? {});
	}
	throw new Error(`A crypto worker failed: ${reply.message}`);
}

function bytesOf(reply: Extract<CryptoReply, { ok: true }>): Buffer {
	if (reply.bytes === undefined) return Buffer.alloc(0);
	return Buffer.from(reply.bytes, 0, reply.length ?? reply.bytes.byteLength);
}
