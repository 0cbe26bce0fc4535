import { createHash } from 'node:crypto';
import path from 'node:path';
import { throwIfAborted } from '../abort.js';
import { assertOutsideSource } from '../paths.js';
import { CoreError, CoreErrorCode } from '../errors.js';
import { MANIFEST_FORMAT } from '../manifest.js';
import type { CryptoPool } from '../pool.js';
import type { ProgressListener } from '../progress.js';
import type { SkippedSource, SourceEntry, WalkResult } from '../walk.js';
import {
	createRepository,
	isRepository,
	listArchives,
	loadBlobIds,
	MIN_PACK_SIZE,
	type LocalRepository,
	nextArchiveId,
	openRepository,
	type PackDestination,
	PackWriter,
	repositoryPacks,
	type RepositorySubkeys,
	readManifest,
	writeManifest
} from './local.js';
import type { ManifestV2, ManifestV2Entry } from './manifest.js';
import type { Codec } from './codec.js';
import { type ReadItem, readCapacity } from './reader.js';

/** Dedup scope: any blob of the repository, or only blobs of the archive being made. */
export type DedupScope = 'repository' | 'archive';

/** Bytes a window of a large file reads at most (complete blobs only, unless the file ends in it). */
const WINDOW = 6 * 1024 * 1024;
/** Files up to this size are read whole (and hashed by the worker), many to a task; larger ones a window at a time. */
const WHOLE_FILE = WINDOW;
/** A task of small files holds at most this many bytes… */
const GROUP_BYTES = 2 * 1024 * 1024;
/** …and this many files. */
const GROUP_FILES = 1024;
/**
 * Plaintext bytes held at once: read in flight, waiting to be sealed, being sealed and waiting for the pack writer
 * (each read's room is held until its new blobs are in a pack). Bounds the slice's memory whatever the corpus.
 */
const BUFFERED_BYTES = 16 * 1024 * 1024;

/** How to slice, whatever the repository: a local folder ({@link sliceToRepository}) or a Discord channel. */
export interface SliceOptions {
	readonly source: string;
	readonly pool: CryptoPool;
	readonly codec: Codec;
	readonly packSize: number;
	readonly dedup: DedupScope;
	readonly label?: string;
	/** Recorded in the manifest as the archive's source folder (a Discord upload's, relative to the upload root). */
	readonly sourceName?: string;
	/** Recorded in the manifest as who asked for the upload (a Discord user id). */
	readonly requestedBy?: string;
	readonly tool: string;
	readonly signal?: AbortSignal;
	readonly onProgress?: ProgressListener;
	readonly now?: Date;
	/** Read every file, even those the parent archive holds with the same size and mtime. */
	readonly rehash?: boolean;
}

/**
 * Where a slice puts what it makes, and what it knows of the repository before it starts. A local repository is
 * one ({@link sliceToRepository}); a Discord channel's repository is another (src/archive: packs staged in a folder
 * and posted as they close, the blob index and the parent manifest from the history index).
 */
export interface SliceTarget {
	readonly keys: RepositorySubkeys;
	/** Ids (hex) of the blobs the repository holds; ignored with `dedup: 'archive'`. Not changed by the slice. */
	readonly known: ReadonlySet<string>;
	readonly archiveId: string;
	/** The archive this one follows (its files of the same size and mtime are not read again), when there is one. */
	readonly parent?: { readonly id: string; readonly manifest: ManifestV2 | undefined };
	/**
	 * What this archive itself stored already, in an earlier run that was interrupted (a resume): its packs, their
	 * bytes and the blobs they hold. Those blobs are never sealed again, whatever the dedup scope, and they count as
	 * this archive's new bytes (it stored them), not as reused ones; the manifest lists those packs before this run's.
	 */
	readonly stored?: { readonly packs: readonly string[]; readonly bytes: number; readonly blobs: ReadonlySet<string> };
	/** Where packs are written, and what happens to each once it is complete. */
	readonly packs: PackDestination;
	/** Stores the sealed manifest, last; returns how many parts it took. */
	readonly writeManifest: (manifest: ManifestV2) => Promise<number>;
}

/** What {@link sliceInto} made. */
export interface SliceResult {
	readonly archiveId: string;
	readonly manifest: ManifestV2;
	readonly packs: readonly string[];
	readonly manifestParts: number;
	readonly skipped: readonly SkippedSource[];
}

export interface SliceToRepositoryOptions extends SliceOptions {
	/** The repository folder (made a repository when missing or empty). */
	readonly repo: string;
	readonly passphrase: string | undefined;
	/** PBKDF2 iterations of a new repository's first slot (tests use fewer). */
	readonly iterations?: number;
}

export interface SliceToRepositoryResult extends SliceResult {
	readonly repo: string;
	readonly created: boolean;
}

/** A file of the walk with its place in it. */
interface Placed {
	readonly at: number;
	readonly entry: SourceEntry;
}

/**
 * A FIFO counting gate: `acquire(n)` waits until `n` more units fit under the limit (or none are held, so that a
 * request larger than the limit still passes alone).
 */
class Gate {
	readonly #limit: number;
	#held = 0;
	readonly #waiting: { units: number; grant: () => void }[] = [];

	public constructor(limit: number) {
		this.#limit = limit;
	}

	public acquire(units: number): Promise<void> {
		if (this.#waiting.length === 0 && this.#fits(units)) {
			this.#held += units;
			return Promise.resolve();
		}
		return new Promise((grant) => this.#waiting.push({ units, grant }));
	}

	public release(units: number): void {
		this.#held -= units;
		for (let next = this.#waiting[0]; next !== undefined && this.#fits(next.units); next = this.#waiting[0]) {
			this.#waiting.shift();
			this.#held += next.units;
			next.grant();
		}
	}

	#fits(units: number): boolean {
		return this.#held === 0 || this.#held + units <= this.#limit;
	}
}

/**
 * The byte budget of every slice in this process, shared: uploads running together (three by default) hold
 * {@link BUFFERED_BYTES} between them, not each, so that the memory of several slices is that of one. They share the
 * workers anyway. A read's room is only ever waited for while the slice's earlier reads go on to their packs, so one
 * slice waiting never holds up another's progress for good.
 */
const sharedBudget = new Gate(BUFFERED_BYTES);

/** A local repository as a {@link SliceTarget}: its blob index (pack tails), its newest archive as the parent. */
async function localTarget(repo: LocalRepository, options: SliceToRepositoryOptions, created: boolean): Promise<SliceTarget> {
	const archives = created ? [] : await listArchives(repo);
	const newest = archives.at(-1);
	const useParent = options.dedup === 'repository' && options.rehash !== true && newest !== undefined;
	const [known, parentManifest, archiveId] = await Promise.all([
		options.dedup === 'repository' && !created ? loadBlobIds(repo) : new Set<string>(),
		useParent ? readManifest(repo, newest).catch(() => undefined) : undefined,
		nextArchiveId(repo, options.now)
	]);
	return {
		keys: repo.keys,
		known,
		archiveId,
		...(newest === undefined ? {} : { parent: { id: newest, manifest: parentManifest } }),
		packs: repositoryPacks(repo),
		writeManifest: (manifest) => writeManifest(repo, manifest)
	};
}

/**
 * Adds an archive of `source` to a local repository (making the repository on first use; see {@link sliceInto}).
 * The repository is unlocked, and its blob index and newest manifest read, while the walk runs; a new repository's
 * key is derived meanwhile but written only once the walk succeeded. One PBKDF2.
 *
 * @throws {CoreError} NOT_FOUND; WRONG_KEY; NO_KEY; INVALID_OPTION (also for a repository inside the source folder);
 * SOURCE_CHANGED; DISK_FULL; ABORTED.
 */
export async function sliceToRepository(options: SliceToRepositoryOptions): Promise<SliceToRepositoryResult> {
	const { signal } = options;
	await assertOutsideSource(options.source, options.repo, 'The repository');
	const created = !(await isRepository(options.repo));
	let root = '';
	const result = await sliceInto(options, async (walking) => {
		const repo = created
			? await createRepository(options.repo, options.passphrase, {
					...(options.iterations ? { iterations: options.iterations } : {}),
					...(signal ? { signal } : {}),
					writeAfter: walking
				})
			: await openRepository(options.repo, options.passphrase, signal ? { signal } : {});
		root = repo.root;
		return localTarget(repo, options, created);
	});
	return { ...result, repo: root, created };
}

/**
 * Slices `source` into a repository as `prepare` describes it: walks the folder (in a worker; `prepare` gets the
 * walk's promise, to work meanwhile and to wait for it before writing anything); has the worker pool read the files
 * (small ones many to a task, large ones a window at a time), hash them, cut them into content-defined blobs and
 * compute the blob ids; keeps only the blobs the target (or, with `dedup: 'archive'`, this archive) does not hold,
 * has the pool compress and seal them, appends them to packs, and writes the sealed manifest last. The slicing thread
 * opens no file of the source: it looks ids up, writes packs and keeps order. Memory stays bounded by
 * {@link BUFFERED_BYTES} of plaintext in flight.
 *
 * @throws {CoreError} NOT_FOUND; INVALID_OPTION; SOURCE_CHANGED; DISK_FULL; ABORTED; whatever `prepare` and the
 * target throw.
 */
export async function sliceInto(options: SliceOptions, prepare: (walking: Promise<WalkResult>) => Promise<SliceTarget>): Promise<SliceResult> {
	const { pool, signal } = options;
	if (!Number.isSafeInteger(options.packSize) || options.packSize < MIN_PACK_SIZE)
		throw new CoreError(CoreErrorCode.InvalidOption, `The pack size must be at least ${MIN_PACK_SIZE} bytes, not ${options.packSize}.`);
	// The walk runs in a worker: no round trip per entry on this thread, which prepares the target meanwhile.
	const walking = pool.walk(options.source, signal);
	const [walked, target] = await Promise.all([walking, prepare(walking)]);
	const { keys, archiveId } = target;
	const newest = target.parent?.id;
	// The target's set is read, never copied (it may hold every blob of a large repository); this run's own blobs are
	// kept beside it.
	const held: ReadonlySet<string> = options.dedup === 'repository' ? target.known : new Set<string>();
	const added = new Set<string>();
	const known = { has: (id: string) => held.has(id) || added.has(id) };
	// Blobs this archive stored in an earlier run and not met yet in this one: the first meeting counts as new bytes.
	const own = new Set<string>(target.stored?.blobs);
	// A file the parent archive holds with the same size and mtime, whose blobs are all stored, is taken from its
	// manifest without being read (as restic does with its parent snapshot); `rehash` reads every file. A file with a
	// blob this archive stored itself is read, so that the blob counts as this archive's.
	const parentFiles = new Map<string, ManifestV2Entry>();
	if (options.dedup === 'repository' && options.rehash !== true)
		for (const entry of target.parent?.manifest?.entries ?? [])
			if (entry.type === 'file' && (entry.blobs ?? []).every((id) => known.has(id) && !own.has(id))) parentFiles.set(entry.path, entry);
	const unchangedFrom = (entry: { path: string; size: number; mtimeMs: number }) => {
		const previous = parentFiles.get(entry.path);
		return previous !== undefined && previous.size === entry.size && previous.mtimeMs === entry.mtimeMs ? previous : undefined;
	};
	const writer = new PackWriter(target.packs, options.packSize);
	const totals = { newBytes: 0, reusedBytes: 0, blobs: 0, newBlobs: 0 };
	// Entries in walk order; files are filled in as their reads complete, in any order.
	const placed: (ManifestV2Entry | undefined)[] = new Array<ManifestV2Entry | undefined>(walked.entries.length);
	const files = walked.entries.filter((entry) => entry.type === 'file');
	const bytesTotal = files.reduce((sum, file) => sum + file.size, 0);
	let bytesDone = 0;
	let filesDone = 0;
	const fileDone = (at: number, entry: SourceEntry, sha256: string, blobs: readonly string[]) => {
		placed[at] = { path: entry.path, type: 'file', size: entry.size, mode: entry.mode, mtimeMs: entry.mtimeMs, sha256, blobs: [...blobs] };
		bytesDone += entry.size;
		filesDone++;
		options.onProgress?.({ phase: 'slice', bytesDone, bytesTotal, chunksDone: filesDone, chunksTotal: files.length });
	};

	// Every worker task (reads and seals) takes a slot; every read takes its room in the byte budget until its new
	// blobs are written to a pack (or at once when it has none).
	const slots = new Gate(2 * pool.workers);
	const budget = sharedBudget;
	const running = new Set<Promise<void>>();
	let writing: Promise<void> = Promise.resolve();
	let failure: unknown;
	const track = (work: Promise<void>) => {
		const tracked = work
			.catch((error: unknown) => {
				failure ??= error;
			})
			.finally(() => running.delete(tracked));
		running.add(tracked);
	};
	const inSlot = async <T>(work: () => Promise<T>): Promise<T> => {
		await slots.acquire(1);
		try {
			return await work();
		} finally {
			slots.release(1);
		}
	};

	/** Seals the new blobs of a read (views into its plaintext) and appends them to packs; then frees its room. */
	const seal = (fresh: { id: Uint8Array; bytes: Buffer }[], plain: Buffer, room: number) => {
		if (fresh.length === 0) {
			budget.release(room);
			return;
		}
		const lengths = fresh.map((blob) => blob.bytes.length);
		const freshBytes = lengths.reduce((sum, length) => sum + length, 0);
		let buffer: ArrayBuffer;
		if (freshBytes === plain.length) {
			// Every blob of the read is new (a first slice): its plaintext goes to the sealing worker as it is.
			buffer = plain.buffer as ArrayBuffer;
		} else {
			const copy = Buffer.allocUnsafeSlow(freshBytes);
			let at = 0;
			for (const blob of fresh) {
				copy.set(blob.bytes, at);
				at += blob.bytes.length;
			}
			buffer = copy.buffer;
			budget.release(room - freshBytes);
			room = freshBytes;
		}
		const ids = Buffer.allocUnsafeSlow(fresh.length * 32);
		fresh.forEach((blob, index) => {
			ids.set(blob.id, index * 32);
		});
		const held = room;
		track(
			(async () => {
				const sealed = await inSlot(() =>
					pool.sealBlobs({ blobKey: keys.blobSeal, codec: options.codec, ids, lengths, plain: buffer }, signal)
				);
				writing = writing.then(async () => {
					let offset = 0;
					await writer.addMany(
						lengths.map((length, index) => {
							const stored = sealed.sealed.subarray(offset, offset + sealed.lengths[index]!);
							offset += stored.length;
							return {
								blob: { id: ids.subarray(index * 32, index * 32 + 32), rawLength: length, codec: sealed.codecs[index]! },
								stored
							};
						})
					);
				});
				await writing;
			})().finally(() => {
				budget.release(held);
			})
		);
	};

	/**
	 * Reads items in a worker (their room already taken), looks their blob ids up and has the new blobs sealed.
	 * Returns, per item, the blob ids (hex); `take` sees the plaintext first (it goes to the sealing worker next).
	 */
	const read = async (items: readonly ReadItem[], labels: readonly string[], room: number, take?: (plain: Buffer) => void) => {
		let result;
		try {
			result = await inSlot(() => pool.readBlobs({ idKey: keys.blobId, items }, signal));
		} catch (error) {
			budget.release(room);
			throw error;
		}
		const { plain, ids } = result;
		const fresh: { id: Uint8Array; bytes: Buffer }[] = [];
		const perItem: string[][] = [];
		let blob = 0;
		let at = 0;
		let failed: CoreError | undefined;
		for (const [index, item] of result.items.entries()) {
			const label = labels[index]!;
			if (item.error !== undefined) {
				failed ??= new CoreError(item.error.code as CoreErrorCode, `${label} ${item.error.message}. Slice again once it is stable.`, {
					paths: [label]
				});
				perItem.push([]);
				continue;
			}
			const blobs: string[] = [];
			for (const length of item.lengths) {
				const id = ids.subarray(blob * 32, blob * 32 + 32);
				blob++;
				const hex = Buffer.from(id.buffer, id.byteOffset, 32).toString('hex');
				blobs.push(hex);
				totals.blobs++;
				if (own.delete(hex)) {
					// Stored by this archive's earlier run: new to the repository because of this archive, not sealed again.
					added.add(hex);
					totals.newBlobs++;
					totals.newBytes += length;
				} else if (known.has(hex)) totals.reusedBytes += length;
				else {
					added.add(hex);
					totals.newBlobs++;
					totals.newBytes += length;
					fresh.push({ id, bytes: plain.subarray(at, at + length) });
				}
				at += length;
			}
			perItem.push(blobs);
		}
		if (failed === undefined) take?.(plain);
		seal(fresh, plain, room);
		if (failed !== undefined) throw failed;
		return { items: result.items, perItem };
	};

	/** A group of small files: one task reads them all. */
	const readGroup = async (group: readonly Placed[]) => {
		const items = group.map(({ entry }) => ({ path: path.join(walked.root, entry.path), size: entry.size, offset: 0, window: WHOLE_FILE }));
		const room = readCapacity(items);
		await budget.acquire(room);
		track(
			(async () => {
				const { items: done, perItem } = await read(
					items,
					group.map(({ entry }) => entry.path),
					room
				);
				group.forEach(({ at, entry }, index) => {
					fileDone(at, entry, done[index]!.sha256!, perItem[index]!);
				});
			})()
		);
	};

	/** A large file: a window at a time, each starting where the last complete blob of the one before ended. */
	const readLarge = async ({ at, entry }: Placed) => {
		const absolute = path.join(walked.root, entry.path);
		const hash = createHash('sha256');
		const blobs: string[] = [];
		let offset = 0;
		for (;;) {
			if (failure !== undefined) return;
			throwIfAborted(signal);
			const items = [{ path: absolute, size: entry.size, offset, window: WINDOW }];
			const room = readCapacity(items);
			await budget.acquire(room);
			const { items: done, perItem } = await read(items, [entry.path], room, (plain) => hash.update(plain));
			blobs.push(...perItem[0]!);
			offset += done[0]!.consumed;
			if (done[0]!.end) break;
		}
		fileDone(at, entry, hash.digest('hex'), blobs);
	};

	try {
		let group: Placed[] = [];
		let groupBytes = 0;
		const flushGroup = async () => {
			if (group.length === 0) return;
			const taken = group;
			group = [];
			groupBytes = 0;
			await readGroup(taken);
		};
		// Large files stream side by side, as many as there are task slots.
		const streams = new Gate(2 * pool.workers);
		for (const [at, entry] of walked.entries.entries()) {
			throwIfAborted(signal);
			if (failure !== undefined) break;
			if (entry.type !== 'file') {
				placed[at] = {
					path: entry.path,
					type: entry.type,
					size: 0,
					mode: entry.mode,
					mtimeMs: entry.mtimeMs,
					...(entry.target === undefined ? {} : { target: entry.target })
				};
				continue;
			}
			const previous = unchangedFrom(entry);
			if (previous !== undefined) {
				totals.blobs += previous.blobs!.length;
				totals.reusedBytes += entry.size;
				fileDone(at, entry, previous.sha256!, previous.blobs!);
				continue;
			}
			if (entry.size > WHOLE_FILE) {
				await streams.acquire(1);
				track(
					readLarge({ at, entry }).finally(() => {
						streams.release(1);
					})
				);
				continue;
			}
			if (group.length > 0 && (groupBytes + entry.size > GROUP_BYTES || group.length >= GROUP_FILES)) await flushGroup();
			group.push({ at, entry });
			groupBytes += entry.size;
		}
		if (failure === undefined) await flushGroup();
		while (running.size > 0) await Promise.all(running);
		if (failure !== undefined) throw failure as Error;
		await writing;
		await writer.finish();
	} catch (error) {
		while (running.size > 0) await Promise.allSettled(running);
		await writing.catch(() => undefined);
		await writer.abandon();
		// Packs already renamed hold blobs no manifest names yet: harmless (a later slice reuses them).
		throw error;
	}
	const entries = placed as ManifestV2Entry[];
	const counts = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
	for (const entry of entries) {
		if (entry.type === 'file') {
			counts.files++;
			counts.bytes += entry.size;
		} else if (entry.type === 'directory') counts.directories++;
		else counts.symlinks++;
	}
	const manifest: ManifestV2 = {
		format: MANIFEST_FORMAT,
		version: 2,
		id: archiveId,
		label: options.label ?? '',
		...(options.sourceName === undefined ? {} : { source: options.sourceName }),
		...(options.requestedBy === undefined ? {} : { requestedBy: options.requestedBy }),
		createdAt: (options.now ?? new Date()).toISOString(),
		tool: options.tool,
		...(newest === undefined ? {} : { parent: newest }),
		codec: options.codec,
		dedup: options.dedup,
		packs: [...(target.stored?.packs ?? []), ...writer.written],
		entries,
		totals: {
			...counts,
			newBytes: totals.newBytes,
			reusedBytes: totals.reusedBytes,
			storedBytes: (target.stored?.bytes ?? 0) + writer.storedBytes,
			blobs: totals.blobs,
			newBlobs: totals.newBlobs
		}
	};
	options.onProgress?.({ phase: 'manifest', bytesDone, bytesTotal, chunksDone: files.length, chunksTotal: files.length });
	const manifestParts = await target.writeManifest(manifest);
	return { archiveId, manifest, packs: writer.written, manifestParts, skipped: walked.skipped };
}
