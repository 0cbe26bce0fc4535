import { constants as fsConstants } from 'node:fs';
import { type FileHandle, lstat, open } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import path from 'node:path';
import { throwIfAborted } from './abort.js';
import { assertGzipLevel, DEFAULT_GZIP_LEVEL } from './compression.js';
import { ChunkKind, CONTAINER_OVERHEAD } from './container.js';
import { CoreError, CoreErrorCode, fromFsError } from './errors.js';
import type { ArchiveKey } from './keys.js';
import { chunkFileName } from './names.js';
import { type ArchivePlan, assertChunkSize, chunkRange, DEFAULT_ATTACHMENT_LIMIT, filesInRange, type PlanEntry } from './plan.js';
import type { CryptoPool } from './pool.js';
import type { ProgressListener } from './progress.js';
import type { SealedChunkData } from './sealing.js';

/** A sealed data chunk, ready to post or write, with everything the index and the manifest record about it. */
export interface SealedChunk extends SealedChunkData {
	readonly index: number;
	/** Opaque attachment / file name (see `chunkFileName`). */
	readonly filename: string;
}

/** What the manifest records of each chunk. */
export interface ChunkRecord {
	readonly index: number;
	readonly plainSize: number;
	readonly plainSha256: string;
	readonly storedSize: number;
	readonly sha256: string;
	readonly compressed: boolean;
}

/** Options of {@link sliceArchive}. */
export interface SliceOptions {
	/** The source folder the plan was made from. */
	readonly root: string;
	readonly plan: ArchivePlan;
	readonly key: ArchiveKey;
	/** The archive's random 128-bit uid. */
	readonly uid: Uint8Array;
	/** `#DDMMYY-NN`, for the chunk file names. */
	readonly archiveId: string;
	readonly pool: CryptoPool;
	/** 0–9; default 9. */
	readonly gzipLevel?: number;
	/** Every sealed chunk is checked against it; default 10 MiB. */
	readonly attachmentLimit?: number;
	/**
	 * Resume: chunks already stored, index → the plaintext sha256 recorded when they were sealed. Their byte ranges are
	 * re-read and re-hashed (not sealed); a difference is SOURCE_CHANGED.
	 */
	readonly stored?: ReadonlyMap<number, string>;
	/** Chunks read ahead of the workers; default 1. */
	readonly readAhead?: number;
	/**
	 * The consumer is done with a chunk's `bytes` when it asks for the next chunk (it wrote them, and keeps no view
	 * of them): their buffer is then sealed into again, so memory is not touched afresh for every chunk. Default false.
	 */
	readonly recycleSealed?: boolean;
	readonly signal?: AbortSignal;
	readonly onProgress?: ProgressListener;
}

/**
 * The slicing of one archive: an async iterable of sealed chunks in index order (iterate it once), then the
 * sha256 of every file.
 */
export interface ArchiveSlicing extends AsyncIterable<SealedChunk> {
	/** sha256 (hex) of every file by path; complete once iteration has finished without error. */
	readonly fileHashes: ReadonlyMap<string, string>;
	/** Whether every chunk was produced (or re-checked) and every file hashed. */
	readonly done: boolean;
}

/**
 * Slices a planned folder: reads the files in plan order as one stream, cuts it into chunks, and has the pool
 * compress and seal each; yields the sealed chunks in order. At most `pool.workers + readAhead` chunks are in
 * memory at once, whatever the archive size. Files are checked while read: a file whose type, size or mtime differs
 * from the plan, that shrinks or grows while read, or (on resume) whose already-stored bytes hash differently,
 * stops the slicing.
 *
 * @throws {CoreError} SOURCE_CHANGED naming the files; CHUNK_TOO_LARGE when a sealed chunk would exceed the attachment
 * limit; INVALID_OPTION; DISK_FULL / ABORTED.
 */
export function sliceArchive(options: SliceOptions): ArchiveSlicing {
	const gzipLevel = options.gzipLevel ?? DEFAULT_GZIP_LEVEL;
	assertGzipLevel(gzipLevel);
	const attachmentLimit = options.attachmentLimit ?? DEFAULT_ATTACHMENT_LIMIT;
	assertChunkSize(options.plan.chunkSize, attachmentLimit);
	const readAhead = options.readAhead ?? 1;
	if (!Number.isInteger(readAhead) || readAhead < 0 || readAhead > 64) {
		throw new CoreError(CoreErrorCode.InvalidOption, `Read-ahead must be a whole number from 0 to 64, not ${readAhead}.`);
	}
	const fileHashes = new Map<string, string>();
	let started = false;
	let done = false;

	async function* chunks(): AsyncGenerator<SealedChunk> {
		if (started) throw new CoreError(CoreErrorCode.InvalidOption, 'An archive slicing can be iterated only once.');
		started = true;
		const { plan, pool, signal } = options;
		const keyBytes = options.key.exportBytes();
		const reader = new StreamReader(options.root, plan.entries, fileHashes, signal);
		const inFlight: { index: number; task: Promise<SealedChunk | undefined> }[] = [];
		const limit = pool.workers + readAhead;
		const spare: ArrayBuffer[] = [];
		/** Buffers of sealed chunks the consumer is done with (when `recycleSealed`), large enough for any chunk. */
		const spareSealed: ArrayBuffer[] = [];
		const sealedCapacity = plan.chunkSize + CONTAINER_OVERHEAD;
		let bytesDone = 0;
		let chunksDone = 0;
		const report = (index: number) => {
			const { start, end } = chunkRange(plan, index);
			bytesDone += end - start;
			chunksDone++;
			options.onProgress?.({ phase: 'slice', bytesDone, bytesTotal: plan.totalBytes, chunksDone, chunksTotal: plan.chunkCount });
		};
		try {
			for (let index = 0; index < plan.chunkCount; index++) {
				throwIfAborted(signal);
				const { start, end } = chunkRange(plan, index);
				// Chunk buffers come back from the workers and are read into again: a few large allocations in all, so
				// the heap does not fragment and memory stays flat however large the archive.
				const plain = Buffer.from(spare.pop() ?? new ArrayBuffer(plan.chunkSize), 0, end - start);
				await reader.read(plain, start);
				const recorded = options.stored?.get(index);
				const task =
					recorded === undefined
						? sealOne(index, plain)
						: pool.hash(plain, signal).then(({ plainSha256, returned }) => {
								if (returned?.byteLength === plan.chunkSize) spare.push(returned);
								if (plainSha256 !== recorded)
									throw sourceChanged(
										filesInRange(plan.entries, start, end).map((entry) => entry.path),
										index
									);
								return undefined;
							});
				// Rejections are handled when the chunk's turn comes; until then they must not count as unhandled.
				task.catch(() => undefined);
				inFlight.push({ index, task });
				while (inFlight.length >= limit || (index === plan.chunkCount - 1 && inFlight.length > 0)) {
					const next = inFlight.shift()!;
					const chunk = await next.task;
					report(next.index);
					if (chunk) {
						yield chunk;
						const { buffer } = chunk.bytes;
						if (
							options.recycleSealed &&
							buffer instanceof ArrayBuffer &&
							buffer.byteLength >= sealedCapacity &&
							spareSealed.length < limit
						) {
							spareSealed.push(buffer);
						}
					}
				}
			}
			await reader.finish();
			done = true;
		} finally {
			keyBytes.fill(0);
			await reader.close();
		}

		async function sealOne(index: number, plain: Buffer): Promise<SealedChunk> {
			const into = spareSealed.pop();
			const sealed = await pool.seal(
				{
					kind: ChunkKind.Data,
					archiveKey: keyBytes,
					archiveSalt: options.key.salt,
					kdfIterations: options.key.iterations,
					uid: options.uid,
					index,
					count: 0,
					gzipLevel,
					plain,
					...(into === undefined ? {} : { into })
				},
				signal
			);
			if (sealed.storedSize > attachmentLimit) {
				throw new CoreError(
					CoreErrorCode.ChunkTooLarge,
					`Chunk ${index} sealed to ${sealed.storedSize} B, over the ${attachmentLimit} B attachment limit. Use a smaller chunk size.`,
					{ chunks: [index] }
				);
			}
			const { returned, ...data } = sealed;
			if (returned?.byteLength === options.plan.chunkSize) spare.push(returned);
			return { ...data, index, filename: chunkFileName(options.archiveId, index, data.sha256) };
		}
	}

	return {
		[Symbol.asyncIterator]: chunks,
		get fileHashes() {
			return fileHashes;
		},
		get done() {
			return done;
		}
	};
}

/** The records the manifest keeps of sealed chunks (drops the bytes). */
export function toChunkRecord(chunk: ChunkRecord): ChunkRecord {
	const { index, plainSize, plainSha256, storedSize, sha256, compressed } = chunk;
	return { index, plainSize, plainSha256, storedSize, sha256, compressed };
}

function sourceChanged(paths: readonly string[], chunk?: number): CoreError {
	return new CoreError(
		CoreErrorCode.SourceChanged,
		`These files changed while being archived: ${paths.join(', ')}. Wait until nothing writes to them, then start a new archive.`,
		{ paths: [...paths], ...(chunk === undefined ? {} : { chunks: [chunk] }) }
	);
}

/**
 * Reads the plan's files as one concatenated stream, hashing each file and checking that it does not change
 * under us (type, size and mtime before and after reading; bytes read equal to the size).
 */
class StreamReader {
	private readonly root: string;
	private readonly files: PlanEntry[];
	private readonly fileHashes: Map<string, string>;
	private readonly signal: AbortSignal | undefined;
	private cursor = 0;
	private handle: FileHandle | undefined;
	private hash: Hash | undefined;
	private readonly changed: string[] = [];

	public constructor(root: string, entries: readonly PlanEntry[], fileHashes: Map<string, string>, signal: AbortSignal | undefined) {
		this.root = root;
		this.files = entries.filter((entry) => entry.type === 'file');
		this.fileHashes = fileHashes;
		this.signal = signal;
	}

	/** Fills `target` with the stream bytes from `position` (which must follow the previous read). */
	public async read(target: Buffer, position: number): Promise<void> {
		let filled = 0;
		while (filled < target.length) {
			throwIfAborted(this.signal);
			const file = this.files[this.cursor];
			if (file === undefined) throw new CoreError(CoreErrorCode.InvalidOption, 'The plan has fewer bytes than its chunk count says.');
			const fileEnd = file.offset! + file.size;
			if (file.size === 0 || fileEnd <= position + filled) {
				await this.closeFile(file);
				continue;
			}
			if (this.handle === undefined) await this.openFile(file);
			const within = position + filled - file.offset!;
			const want = Math.min(target.length - filled, file.size - within);
			let got = 0;
			while (got < want) {
				const { bytesRead } = await this.handle!.read(target, filled + got, want - got, within + got).catch((error: unknown) => {
					throw fromFsError(error, file.path);
				});
				if (bytesRead === 0) break;
				got += bytesRead;
			}
			this.hash!.update(target.subarray(filled, filled + got));
			if (got < want) {
				// The file shrank: note it, fill the rest with zeros, and fail when the chunk is complete.
				this.changed.push(file.path);
				target.fill(0, filled + got, filled + want);
			}
			filled += want;
			if (within + want === file.size) await this.closeFile(file);
		}
		// Zero-length files that sit right at the end of this range belong to it too.
		while (this.files[this.cursor]?.size === 0 && this.files[this.cursor]!.offset! <= position + target.length) {
			await this.closeFile(this.files[this.cursor]!);
		}
		this.throwIfChanged();
	}

	/** Passes the remaining (empty) files, after the last chunk. */
	public async finish(): Promise<void> {
		while (this.cursor < this.files.length) await this.closeFile(this.files[this.cursor]!);
		this.throwIfChanged();
	}

	public async close(): Promise<void> {
		const handle = this.handle;
		this.handle = undefined;
		await handle?.close().catch(() => undefined);
	}

	private throwIfChanged(): void {
		if (this.changed.length > 0) throw sourceChanged([...new Set(this.changed)]);
	}

	private absolute(file: PlanEntry): string {
		return path.join(this.root, ...file.path.split('/'));
	}

	private async openFile(file: PlanEntry): Promise<void> {
		try {
			this.handle = await open(this.absolute(file), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
		} catch (error) {
			const code = (error as NodeJS.ErrnoException).code;
			if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') throw sourceChanged([file.path]);
			throw fromFsError(error, file.path);
		}
		const info = await this.handle.stat();
		if (!info.isFile() || info.size !== file.size || info.mtimeMs !== file.mtimeMs) this.changed.push(file.path);
		this.hash = createHash('sha256');
	}

	/** Finishes the file at the cursor: re-checks it, records its hash, and moves on. */
	private async closeFile(file: PlanEntry): Promise<void> {
		if (file.size === 0) {
			const info = await lstat(this.absolute(file)).catch(() => undefined);
			if (info === undefined || !info.isFile() || info.size !== 0 || info.mtimeMs !== file.mtimeMs) this.changed.push(file.path);
			this.fileHashes.set(file.path, createHash('sha256').digest('hex'));
		} else {
			const info = await this.handle!.stat();
			if (!info.isFile() || info.size !== file.size || info.mtimeMs !== file.mtimeMs) this.changed.push(file.path);
			this.fileHashes.set(file.path, this.hash!.digest('hex'));
			this.hash = undefined;
			await this.close();
		}
		this.cursor++;
	}
}
