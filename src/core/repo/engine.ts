import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted } from '../abort.js';
import { CoreError, CoreErrorCode } from '../errors.js';
import { MANIFEST_FORMAT } from '../manifest.js';
import type { CryptoPool } from '../pool.js';
import type { ProgressListener } from '../progress.js';
import { type SkippedSource, walk } from '../walk.js';
import {
	createRepository,
	isRepository,
	listArchives,
	loadBlobIndex,
	MIN_PACK_SIZE,
	nextArchiveId,
	openRepository,
	PackWriter,
	readManifest,
	writeManifest
} from './local.js';
import type { ManifestV2, ManifestV2Entry } from './manifest.js';
import { Chunker, chunkLengths } from './cdc.js';
import type { Codec } from './codec.js';
import { blobId } from './primitives.js';

/** Dedup scope: any blob of the repository, or only blobs of the archive being made. */
export type DedupScope = 'repository' | 'archive';

/** Plaintext bytes per worker task: small files travel many to a task. */
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_BLOBS = 1024;
/** Files up to this size are read whole; larger ones are streamed through a bounded buffer. */
const WHOLE_FILE = 1024 * 1024;
/** Small files read ahead of the one being cut. */
const READ_AHEAD = 32;
/** …and at most this many bytes of them. */
const READ_AHEAD_BYTES = 16 * 1024 * 1024;

export interface SliceToRepositoryOptions {
	readonly source: string;
	/** The repository folder (made a repository when missing or empty). */
	readonly repo: string;
	readonly passphrase: string | undefined;
	readonly pool: CryptoPool;
	readonly codec: Codec;
	readonly packSize: number;
	readonly dedup: DedupScope;
	readonly label?: string;
	readonly tool: string;
	/** PBKDF2 iterations of a new repository's first slot (tests use fewer). */
	readonly iterations?: number;
	readonly signal?: AbortSignal;
	readonly onProgress?: ProgressListener;
	readonly now?: Date;
	/** Read every file, even those the newest archive holds with the same size and mtime. */
	readonly rehash?: boolean;
}

export interface SliceToRepositoryResult {
	readonly repo: string;
	readonly created: boolean;
	readonly archiveId: string;
	readonly manifest: ManifestV2;
	readonly packs: readonly string[];
	readonly manifestParts: number;
	readonly skipped: readonly SkippedSource[];
}

interface PendingBlob {
	readonly id: Buffer;
	readonly bytes: Uint8Array;
}

/**
 * Adds an archive of `source` to a local repository (making the repository on first use): walks the folder, cuts
 * files into content-defined blobs, keeps only the blobs the repository (or, with `dedup: 'archive'`, this archive)
 * does not hold, compresses and seals them in the worker pool in batches, appends them to packs, and writes the
 * sealed manifest last. One PBKDF2.
 *
 * @throws {CoreError} NOT_FOUND; WRONG_KEY; NO_KEY; INVALID_OPTION; SOURCE_CHANGED; DISK_FULL; ABORTED.
 */
export async function sliceToRepository(options: SliceToRepositoryOptions): Promise<SliceToRepositoryResult> {
	const { pool, signal } = options;
	if (!Number.isSafeInteger(options.packSize) || options.packSize < MIN_PACK_SIZE)
		throw new CoreError(CoreErrorCode.InvalidOption, `The pack size must be at least ${MIN_PACK_SIZE} bytes, not ${options.packSize}.`);
	const walked = await walk(options.source, signal ? { signal } : {});
	const created = !(await isRepository(options.repo));
	const repo = created
		? await createRepository(options.repo, options.passphrase, {
				...(options.iterations ? { iterations: options.iterations } : {}),
				...(signal ? { signal } : {})
			})
		: await openRepository(options.repo, options.passphrase, signal ? { signal } : {});
	const known = new Set<string>(options.dedup === 'repository' ? (await loadBlobIndex(repo)).keys() : []);
	const archives = await listArchives(repo);
	const archiveId = await nextArchiveId(repo, options.now);
	// A file the newest archive holds with the same size and mtime, whose blobs are all stored, is taken from that
	// archive's manifest without being read (as restic does with its parent snapshot); `rehash` reads every file.
	const parentFiles = new Map<string, ManifestV2Entry>();
	const newest = archives.at(-1);
	if (options.dedup === 'repository' && options.rehash !== true && newest !== undefined) {
		const parentManifest = await readManifest(repo, newest).catch(() => undefined);
		for (const entry of parentManifest?.entries ?? [])
			if (entry.type === 'file' && (entry.blobs ?? []).every((id) => known.has(id))) parentFiles.set(entry.path, entry);
	}
	const unchangedFrom = (entry: { path: string; size: number; mtimeMs: number }) => {
		const previous = parentFiles.get(entry.path);
		return previous !== undefined && previous.size === entry.size && previous.mtimeMs === entry.mtimeMs ? previous : undefined;
	};
	const writer = new PackWriter(repo, options.packSize);
	const totals = { newBytes: 0, reusedBytes: 0, blobs: 0, newBlobs: 0 };
	const entries: ManifestV2Entry[] = [];
	const files = walked.entries.filter((entry) => entry.type === 'file');
	const bytesTotal = files.reduce((sum, file) => sum + file.size, 0);
	let bytesDone = 0;

	// Batches of new blobs go to the workers; their sealed bytes are appended to packs one batch at a time.
	let batch: PendingBlob[] = [];
	let batchBytes = 0;
	const inFlight = new Set<Promise<void>>();
	let writing: Promise<void> = Promise.resolve();
	let failure: unknown;
	const flush = async () => {
		if (batch.length === 0) return;
		const blobs = batch;
		batch = [];
		batchBytes = 0;
		const plain = Buffer.allocUnsafeSlow(blobs.reduce((sum, blob) => sum + blob.bytes.length, 0));
		const ids = Buffer.allocUnsafe(blobs.length * 32);
		let at = 0;
		blobs.forEach((blob, index) => {
			plain.set(blob.bytes, at);
			at += blob.bytes.length;
			blob.id.copy(ids, index * 32);
		});
		const task = pool
			.sealBlobs(
				{ blobKey: repo.keys.blob, codec: options.codec, ids, lengths: blobs.map((blob) => blob.bytes.length), plain: plain.buffer },
				signal
			)
			.then((sealed) => {
				writing = writing.then(async () => {
					let offset = 0;
					for (const [index, blob] of blobs.entries()) {
						const length = sealed.lengths[index]!;
						await writer.add(
							{ id: blob.id, rawLength: blob.bytes.length, codec: sealed.codecs[index]!, level: sealed.levels[index]! },
							sealed.sealed.subarray(offset, offset + length)
						);
						offset += length;
					}
				});
				return writing;
			})
			.catch((error: unknown) => {
				failure ??= error;
			});
		const tracked = task.finally(() => inFlight.delete(tracked));
		inFlight.add(tracked);
		while (inFlight.size > pool.workers) await Promise.race(inFlight);
		if (failure !== undefined) throw failure as Error;
	};
	const addBlob = async (bytes: Uint8Array): Promise<string> => {
		const id = blobId(repo.keys.id, bytes);
		const hex = id.toString('hex');
		totals.blobs++;
		if (known.has(hex)) {
			totals.reusedBytes += bytes.length;
			return hex;
		}
		known.add(hex);
		totals.newBlobs++;
		totals.newBytes += bytes.length;
		batch.push({ id, bytes });
		batchBytes += bytes.length;
		if (batchBytes >= BATCH_BYTES || batch.length >= BATCH_BLOBS) await flush();
		return hex;
	};

	const readAhead = new Map<number, Promise<Buffer>>();
	let readAheadBytes = 0;
	const smallRead = (index: number) => {
		const file = files[index];
		if (file === undefined || file.size > WHOLE_FILE || readAhead.has(index) || readAheadBytes + file.size > READ_AHEAD_BYTES) return false;
		if (unchangedFrom(file) !== undefined) return true;
		readAheadBytes += file.size;
		const reading = readFile(path.join(walked.root, file.path));
		reading.catch(() => undefined);
		readAhead.set(index, reading);
		return true;
	};
	try {
		let fileIndex = 0;
		for (const entry of walked.entries) {
			throwIfAborted(signal);
			if (entry.type !== 'file') {
				entries.push({
					path: entry.path,
					type: entry.type,
					size: 0,
					mode: entry.mode,
					mtimeMs: entry.mtimeMs,
					...(entry.target === undefined ? {} : { target: entry.target })
				});
				continue;
			}
			const index = fileIndex++;
			const previous = unchangedFrom(entry);
			if (previous !== undefined) {
				entries.push({
					path: entry.path,
					type: 'file',
					size: entry.size,
					mode: entry.mode,
					mtimeMs: entry.mtimeMs,
					sha256: previous.sha256!,
					blobs: previous.blobs!
				});
				totals.blobs += previous.blobs!.length;
				totals.reusedBytes += entry.size;
				bytesDone += entry.size;
				continue;
			}
			for (let ahead = index; ahead < index + READ_AHEAD; ahead++) if (!readAhead.has(ahead) && !smallRead(ahead) && ahead > index) break;
			const hash = createHash('sha256');
			const blobs: string[] = [];
			let size = 0;
			const absolute = path.join(walked.root, entry.path);
			const pending = readAhead.get(index);
			readAhead.delete(index);
			if (pending !== undefined) readAheadBytes -= entry.size;
			if (pending !== undefined) {
				let bytes: Buffer;
				try {
					bytes = await pending;
				} catch (error) {
					throw new CoreError(
						CoreErrorCode.SourceChanged,
						`${entry.path} could not be read: ${(error as Error).message}`,
						{ paths: [entry.path] },
						{ cause: error }
					);
				}
				hash.update(bytes);
				size = bytes.length;
				let at = 0;
				for (const length of chunkLengths(bytes)) {
					blobs.push(await addBlob(bytes.subarray(at, at + length)));
					at += length;
				}
			} else {
				size = await streamFile(absolute, entry.path, async (piece) => {
					hash.update(piece);
					blobs.push(await addBlob(piece));
				});
			}
			if (size !== entry.size)
				throw new CoreError(
					CoreErrorCode.SourceChanged,
					`${entry.path} changed while it was read (${entry.size} bytes, then ${size}). Slice again once it is stable.`,
					{ paths: [entry.path] }
				);
			entries.push({ path: entry.path, type: 'file', size, mode: entry.mode, mtimeMs: entry.mtimeMs, sha256: hash.digest('hex'), blobs });
			bytesDone += size;
			options.onProgress?.({ phase: 'slice', bytesDone, bytesTotal, chunksDone: index + 1, chunksTotal: files.length });
		}
		await flush();
		await Promise.all(inFlight);
		await writing;
		if (failure !== undefined) throw failure as Error;
		await writer.closePack();
	} catch (error) {
		await Promise.allSettled(inFlight);
		await writing.catch(() => undefined);
		await writer.abandon();
		// Packs already renamed hold blobs no manifest names yet: harmless (a later slice reuses them).
		throw error;
	}
	const counts = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
	for (const entry of entries) {
		if (entry.type === 'file') {
			counts.files++;
			counts.bytes += entry.size;
		} else if (entry.type === 'directory') counts.directories++;
		else counts.symlinks++;
	}
	const parent = archives.at(-1);
	const manifest: ManifestV2 = {
		format: MANIFEST_FORMAT,
		version: 2,
		id: archiveId,
		label: options.label ?? '',
		createdAt: (options.now ?? new Date()).toISOString(),
		tool: options.tool,
		...(parent === undefined ? {} : { parent }),
		codec: options.codec,
		dedup: options.dedup,
		packs: writer.written,
		entries,
		totals: {
			...counts,
			newBytes: totals.newBytes,
			reusedBytes: totals.reusedBytes,
			storedBytes: writer.storedBytes,
			blobs: totals.blobs,
			newBlobs: totals.newBlobs
		}
	};
	options.onProgress?.({ phase: 'manifest', bytesDone, bytesTotal, chunksDone: files.length, chunksTotal: files.length });
	const manifestParts = await writeManifest(repo, manifest);
	return { repo: repo.root, created, archiveId, manifest, packs: writer.written, manifestParts, skipped: walked.skipped };
}

/** Read size of a streamed file. */
const STREAM_READ = 1024 * 1024;

/** Streams a large file through the chunker with a bounded buffer (at most one blob plus one read); returns its size. */
async function streamFile(absolute: string, label: string, onBlob: (bytes: Buffer) => Promise<void>): Promise<number> {
	let handle;
	try {
		handle = await open(absolute, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
	} catch (error) {
		throw new CoreError(
			CoreErrorCode.SourceChanged,
			`${label} could not be read: ${(error as Error).message}`,
			{ paths: [label] },
			{ cause: error }
		);
	}
	try {
		const chunker = new Chunker();
		let carry: Buffer[] = [];
		let carried = 0;
		let size = 0;
		const take = (length: number): Buffer => {
			const joined = carry.length === 1 ? carry[0]! : Buffer.concat(carry, carried);
			const blob = Buffer.from(joined.subarray(0, length));
			const rest = joined.subarray(length);
			carry = rest.length > 0 ? [rest] : [];
			carried = rest.length;
			return blob;
		};
		for (;;) {
			const piece = Buffer.allocUnsafe(STREAM_READ);
			const { bytesRead } = await handle.read(piece, 0, STREAM_READ, null);
			if (bytesRead === 0) break;
			const read = piece.subarray(0, bytesRead);
			size += bytesRead;
			carry.push(read);
			carried += bytesRead;
			for (const length of chunker.push(read)) await onBlob(take(length));
		}
		const last = chunker.finish();
		if (last !== undefined) await onBlob(take(last));
		if (carried !== 0) throw new Error('the chunker left bytes behind');
		return size;
	} finally {
		await handle.close();
	}
}
