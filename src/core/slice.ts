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
	/**
	 * Files hashed since the previous chunk was yielded whose every byte lies in this chunk or an earlier one: path →
	 * sha256 (hex). Empty files count as lying in the chunk they are passed with. An uploader records them in the same
	 * step that records this chunk as stored: the chunks are posted in order, so by then every byte they hash has been
	 * posted, and never before. Hashes completed in a range that is not yielded (a stored chunk) ride on the next
	 * yielded chunk, or are only in {@link ArchiveSlicing.fileHashes} when none follows.
	 */
	readonly completedFiles: ReadonlyMap<string, string>;
}

/** A sealed chunk before the files it completes are attached. */
type SealedData = Omit<SealedChunk, 'completedFiles'>;

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
	 * Resume: chunks already stored, index → the plaintext sha256 recorded when they were sealed. They are not sealed
	 * again; what of them is read and checked is decided by {@link planSliceReads}.
	 */
	readonly stored?: ReadonlyMap<number, string>;
	/**
	 * Resume: the sha256 already recorded of files, path → hex. A file whose hash is known and whose bytes all lie in
	 * stored chunks is not read at all (its hash is taken as recorded); a file with a known hash that is read anyway
	 * must hash to it, or the slicing stops with SOURCE_CHANGED.
	 */
	readonly knownFileHashes?: ReadonlyMap<string, string>;
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
	/**
	 * sha256 (hex) of every file by path — hashed while read, or as recorded for the files not read; complete once
	 * iteration has finished without error.
	 */
	readonly fileHashes: ReadonlyMap<string, string>;
	/** What the slicing reads of the source, known before the first chunk (see {@link planSliceReads}). */
	readonly reads: SliceReadPlan;
	/** Whether every chunk was produced (or re-checked) and every file hashed. */
	readonly done: boolean;
}

/**
 * What a slicing does with one chunk: `seal` it (read whole, then compressed and encrypted: it is not stored yet);
 * `check` it (stored, and a re-read file has bytes in it: read whole, re-hashed and compared with the recorded
 * plaintext hash); `skip` (stored, nothing in it is read).
 */
export type ChunkReading = 'seal' | 'check' | 'skip';

/** What a slicing reads of its source, decided before the first read. */
export interface SliceReadPlan {
	/**
	 * Paths of the files re-read and hashed, each whole from its first byte (empty files included when their hash is
	 * not known). Other files sharing a `check` chunk with them have their bytes in that chunk read too, unhashed.
	 */
	readonly files: ReadonlySet<string>;
	/** What is done with each chunk, by index. */
	readonly chunks: readonly ChunkReading[];
	/** Bytes read from the source: every `seal` and `check` chunk, whole. */
	readonly bytes: number;
	/** Chunks per reading. */
	readonly counts: Readonly<Record<ChunkReading, number>>;
}

/**
 * Decides what a slicing reads. Without `stored` every file is read and every chunk sealed. On resume a file is read
 * — whole, from its first byte, to hash it — when it has a byte in a chunk that is not stored or when its hash is not
 * known; the chunks not stored are read whole and sealed. A file whose hash is known and whose bytes all lie in stored
 * chunks is not read: its bytes are posted already and its recorded hash describes exactly those bytes, so the
 * archive stays consistent even if the file changed since. Every stored chunk a re-read file has a byte in is read
 * whole — the bytes of its other files too, unhashed — re-hashed and compared with its recorded plaintext hash
 * (`check`): so every byte re-read from a file is checked against what was posted, and a file that changed there (even
 * keeping its size and modification time) is refused. Only whole chunks are read, at most one more chunk than the
 * re-read files need at each end of a run of them.
 */
export function planSliceReads(
	plan: Pick<ArchivePlan, 'entries' | 'chunkSize' | 'chunkCount' | 'totalBytes'>,
	stored: ReadonlyMap<number, string> = new Map(),
	knownFileHashes: ReadonlyMap<string, string> = new Map()
): SliceReadPlan {
	const { chunkSize, chunkCount } = plan;
	const isStored = (index: number) => stored.has(index);
	// missingBefore[i]: chunks below i that are not stored, so "does a span hold a missing chunk" is one subtraction.
	const missingBefore = new Array<number>(chunkCount + 1);
	missingBefore[0] = 0;
	for (let index = 0; index < chunkCount; index++) missingBefore[index + 1] = missingBefore[index]! + (isStored(index) ? 0 : 1);
	const touched = new Array<boolean>(chunkCount).fill(false);
	const files = new Set<string>();
	for (const entry of plan.entries) {
		if (entry.type !== 'file') continue;
		if (entry.size === 0) {
			if (!knownFileHashes.has(entry.path)) files.add(entry.path);
			continue;
		}
		const offset = entry.offset!;
		const first = Math.floor(offset / chunkSize);
		const last = Math.floor((offset + entry.size - 1) / chunkSize);
		const touchesMissing = missingBefore[last + 1]! - missingBefore[first]! > 0;
		if (!touchesMissing && knownFileHashes.has(entry.path)) continue;
		files.add(entry.path);
		for (let index = first; index <= last; index++) touched[index] = true;
	}
	const counts: Record<ChunkReading, number> = { seal: 0, check: 0, skip: 0 };
	let bytes = 0;
	const chunks = touched.map((isTouched, index): ChunkReading => {
		const reading: ChunkReading = !isStored(index) ? 'seal' : isTouched ? 'check' : 'skip';
		counts[reading]++;
		if (reading !== 'skip') {
			const { start, end } = chunkRange(plan, index);
			bytes += end - start;
		}
		return reading;
	});
	return { files, chunks, bytes, counts };
}

/**
 * Slices a planned folder: reads the files in plan order as one stream, cuts it into chunks, and has the pool
 * compress and seal each; yields the sealed chunks in order. At most `pool.workers + readAhead` chunks are in
 * memory at once, whatever the archive size. Files are checked while read: a file whose type, size or mtime differs
 * from the plan, that shrinks or grows while read, or (on resume) whose already-stored bytes or recorded hash differ
 * from what is read now, stops the slicing. On resume (`stored`, `knownFileHashes`) only what
 * {@link planSliceReads} decides is read.
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
	const knownFileHashes = options.knownFileHashes ?? new Map<string, string>();
	const reads = planSliceReads(options.plan, options.stored, knownFileHashes);
	const fileHashes = new Map<string, string>();
	let started = false;
	let done = false;

	async function* chunks(): AsyncGenerator<SealedChunk> {
		if (started) throw new CoreError(CoreErrorCode.InvalidOption, 'An archive slicing can be iterated only once.');
		started = true;
		const { plan, pool, signal } = options;
		const keyBytes = options.key.exportBytes();
		const reader = new StreamReader({ root: options.root, entries: plan.entries, reads: reads.files, knownFileHashes, fileHashes, signal });
		const inFlight: { index: number; task: Promise<SealedData | undefined> }[] = [];
		const limit = pool.workers + readAhead;
		const spare: ArrayBuffer[] = [];
		/** Buffers of sealed chunks the consumer is done with (when `recycleSealed`), large enough for any chunk. */
		const spareSealed: ArrayBuffer[] = [];
		const sealedCapacity = plan.chunkSize + CONTAINER_OVERHEAD;
		/** Files hashed while reading chunk `index`, waiting for a yielded chunk at or after it. */
		const completed: { index: number; files: Map<string, string> }[] = [];
		const completedUpTo = (index: number): Map<string, string> => {
			const files = new Map<string, string>();
			while (completed[0] !== undefined && completed[0].index <= index) {
				for (const [path, sha256] of completed.shift()!.files) files.set(path, sha256);
			}
			return files;
		};
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
				const reading = reads.chunks[index]!;
				let task: Promise<SealedData | undefined>;
				if (reading === 'skip') {
					await reader.skipTo(end);
					task = Promise.resolve(undefined);
				} else {
					// Chunk buffers come back from the workers and are read into again: a few large allocations in all, so
					// the heap does not fragment and memory stays flat however large the archive.
					const buffer = spare.pop() ?? new ArrayBuffer(plan.chunkSize);
					const plain = Buffer.from(buffer, 0, end - start);
					await reader.read(plain, start);
					task = reading === 'seal' ? sealOne(index, plain) : checkOne(index, plain, options.stored!.get(index)!, start, end);
				}
				const hashed = reader.takeCompleted();
				if (hashed.size > 0) completed.push({ index, files: hashed });
				// Rejections are handled when the chunk's turn comes; until then they must not count as unhandled.
				task.catch(() => undefined);
				inFlight.push({ index, task });
				while (inFlight.length >= limit || (index === plan.chunkCount - 1 && inFlight.length > 0)) {
					const next = inFlight.shift()!;
					const chunk = await next.task;
					report(next.index);
					if (chunk) {
						yield { ...chunk, completedFiles: completedUpTo(next.index) };
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

		async function checkOne(index: number, plain: Buffer, recorded: string, start: number, end: number): Promise<undefined> {
			const { plainSha256, returned } = await pool.hash(plain, signal);
			if (returned?.byteLength === plan.chunkSize) spare.push(returned);
			if (plainSha256 !== recorded) {
				throw sourceChanged(
					filesInRange(plan.entries, start, end).map((entry) => entry.path),
					index
				);
			}
			return undefined;
		}

		async function sealOne(index: number, plain: Buffer): Promise<SealedData> {
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
		reads,
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

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** Reads up to `want` bytes of `file` from `position` into `target` at `at`; fewer only at the end of the file. */
async function readUpTo(handle: FileHandle, file: PlanEntry, target: Buffer, at: number, position: number, want: number): Promise<number> {
	let got = 0;
	while (got < want) {
		const { bytesRead } = await handle.read(target, at + got, want - got, position + got).catch((error: unknown) => {
			throw fromFsError(error, file.path);
		});
		if (bytesRead === 0) break;
		got += bytesRead;
	}
	return got;
}

/** What a {@link StreamReader} reads, and where it records the hashes. */
interface StreamReaderOptions {
	readonly root: string;
	readonly entries: readonly PlanEntry[];
	/** The files to read (whole); the others are passed over with their known hash. */
	readonly reads: ReadonlySet<string>;
	readonly knownFileHashes: ReadonlyMap<string, string>;
	readonly fileHashes: Map<string, string>;
	readonly signal: AbortSignal | undefined;
}

/**
 * Reads the plan's files as one concatenated stream, in stream order, hashing each file it reads and checking that it
 * does not change under us (type, size and mtime before and after reading; bytes read equal to the size; the recorded
 * hash, when there is one). A file it is not asked to read is opened only for its bytes inside a chunk being read
 * (for that chunk's check, unhashed), and otherwise passed over; a file it reads must be read from its first byte to
 * its last.
 */
class StreamReader {
	private readonly root: string;
	private readonly files: PlanEntry[];
	private readonly reads: ReadonlySet<string>;
	private readonly known: ReadonlyMap<string, string>;
	private readonly fileHashes: Map<string, string>;
	private readonly signal: AbortSignal | undefined;
	private cursor = 0;
	/** Bytes of the file at the cursor read so far. */
	private readAt = 0;
	private handle: FileHandle | undefined;
	private hash: Hash | undefined;
	private completed = new Map<string, string>();
	private readonly changed: string[] = [];

	public constructor(options: StreamReaderOptions) {
		this.root = options.root;
		this.files = options.entries.filter((entry) => entry.type === 'file');
		this.reads = options.reads;
		this.known = options.knownFileHashes;
		this.fileHashes = options.fileHashes;
		this.signal = options.signal;
	}

	/**
	 * Fills `target` with the bytes, from stream position `position`, of the files to read; the bytes of other files
	 * are left as they were. Ranges must come in stream order.
	 */
	public async read(target: Buffer, position: number): Promise<void> {
		await this.advance(position + target.length, { target, position });
	}

	/** Passes the stream up to `end` without reading: no file to read may have a byte there. */
	public async skipTo(end: number): Promise<void> {
		await this.advance(end);
	}

	/** Passes the remaining (empty or not read) files, after the last chunk. */
	public async finish(): Promise<void> {
		await this.advance(Number.POSITIVE_INFINITY);
	}

	/** The files hashed since the last call, path → sha256. */
	public takeCompleted(): Map<string, string> {
		const completed = this.completed;
		this.completed = new Map();
		return completed;
	}

	public async close(): Promise<void> {
		const handle = this.handle;
		this.handle = undefined;
		await handle?.close().catch(() => undefined);
	}

	private async advance(end: number, into?: { target: Buffer; position: number }): Promise<void> {
		for (;;) {
			throwIfAborted(this.signal);
			const file = this.files[this.cursor];
			if (file === undefined) {
				if (into !== undefined && end > this.streamEnd()) {
					throw new CoreError(CoreErrorCode.InvalidOption, 'The plan has fewer bytes than its chunk count says.');
				}
				break;
			}
			const offset = file.offset!;
			// Zero-length files that sit right at the end of this range belong to it too.
			if (file.size === 0) {
				if (offset > end) break;
				await this.passEmpty(file);
				continue;
			}
			if (offset >= end) break;
			const fileEnd = offset + file.size;
			if (!this.reads.has(file.path)) {
				// Not re-read: its bytes inside a chunk being read are read for that chunk's check, without hashing the file.
				if (into !== undefined) {
					const from = Math.max(offset, into.position);
					const to = Math.min(fileEnd, end);
					if (to > from) await this.readUnhashed(file, into.target, from - into.position, from - offset, to - from);
				}
				if (fileEnd > end) break;
				this.fileHashes.set(file.path, this.known.get(file.path)!);
				this.cursor++;
				continue;
			}
			const from = Math.max(offset, into?.position ?? end);
			if (into === undefined || from - offset !== this.readAt) {
				throw new CoreError(
					CoreErrorCode.InvalidOption,
					`${file.path} is to be read whole, but bytes ${offset + this.readAt}–${from} of the stream were skipped: the read plan and the chunk loop disagree.`,
					{ paths: [file.path] }
				);
			}
			const to = Math.min(fileEnd, end);
			await this.readFile(file, into.target, from - into.position, to - from);
			if (to < fileEnd) break;
			await this.closeFile(file);
		}
		this.throwIfChanged();
	}

	/** Reads the next `want` bytes of the file at the cursor into `target` at `at`, and hashes them. */
	private async readFile(file: PlanEntry, target: Buffer, at: number, want: number): Promise<void> {
		if (this.handle === undefined) await this.openFile(file);
		const got = await readUpTo(this.handle!, file, target, at, this.readAt, want);
		this.hash!.update(target.subarray(at, at + got));
		if (got < want) {
			// The file shrank: note it, fill the rest with zeros, and fail when the range is complete.
			this.changed.push(file.path);
			target.fill(0, at + got, at + want);
		}
		this.readAt += want;
	}

	/**
	 * Reads `want` bytes from `position` of a file that is not re-read, into `target` at `at`. A file gone or shorter
	 * leaves zeros, which the chunk's check then refuses, naming the chunk's files.
	 */
	private async readUnhashed(file: PlanEntry, target: Buffer, at: number, position: number, want: number): Promise<void> {
		const handle = await this.openSource(file);
		try {
			const got = await readUpTo(handle, file, target, at, position, want);
			if (got < want) target.fill(0, at + got, at + want);
		} finally {
			await handle.close().catch(() => undefined);
		}
	}

	private streamEnd(): number {
		const last = this.files.at(-1);
		return last === undefined ? 0 : last.offset! + last.size;
	}

	private throwIfChanged(): void {
		if (this.changed.length > 0) throw sourceChanged([...new Set(this.changed)]);
	}

	private absolute(file: PlanEntry): string {
		return path.join(this.root, ...file.path.split('/'));
	}

	/** Opens a source file without following a symlink; one gone (or replaced by a link) is SOURCE_CHANGED. */
	private async openSource(file: PlanEntry): Promise<FileHandle> {
		try {
			return await open(this.absolute(file), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
		} catch (error) {
			const code = (error as NodeJS.ErrnoException).code;
			if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') throw sourceChanged([file.path]);
			throw fromFsError(error, file.path);
		}
	}

	private async openFile(file: PlanEntry): Promise<void> {
		this.handle = await this.openSource(file);
		const info = await this.handle.stat();
		if (!info.isFile() || info.size !== file.size || info.mtimeMs !== file.mtimeMs) this.changed.push(file.path);
		this.hash = createHash('sha256');
	}

	/** Passes the empty file at the cursor: checked and hashed when it is to be read, else taken as recorded. */
	private async passEmpty(file: PlanEntry): Promise<void> {
		if (this.reads.has(file.path)) {
			const info = await lstat(this.absolute(file)).catch(() => undefined);
			if (info === undefined || !info.isFile() || info.size !== 0 || info.mtimeMs !== file.mtimeMs) this.changed.push(file.path);
			this.record(file, EMPTY_SHA256);
		} else {
			this.fileHashes.set(file.path, this.known.get(file.path)!);
		}
		this.cursor++;
	}

	/** Finishes the file at the cursor, read to its end: re-checks it, records its hash, and moves on. */
	private async closeFile(file: PlanEntry): Promise<void> {
		const info = await this.handle!.stat();
		if (!info.isFile() || info.size !== file.size || info.mtimeMs !== file.mtimeMs) this.changed.push(file.path);
		this.record(file, this.hash!.digest('hex'));
		this.hash = undefined;
		this.readAt = 0;
		await this.close();
		this.cursor++;
	}

	/** Records a file's hash; one that differs from the hash recorded before means the file changed since. */
	private record(file: PlanEntry, sha256: string): void {
		const known = this.known.get(file.path);
		if (known !== undefined && known.toLowerCase() !== sha256) this.changed.push(file.path);
		this.fileHashes.set(file.path, sha256);
		this.completed.set(file.path, sha256);
	}
}
