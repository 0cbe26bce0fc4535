import { createHash, type Hash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, lstat, lutimes, mkdir, open, readdir, realpath, rename, rm, symlink, unlink, utimes, chmod } from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted } from './abort.js';
import { CoreError, CoreErrorCode, fromFsError, isCoreError } from './errors.js';
import { type ArchiveKey, deriveArchiveKey } from './keys.js';
import { type Manifest, type ManifestEntry, validateManifest } from './manifest.js';
import { isSymlinkTargetInside, resolveInside } from './paths.js';
import { mapOrdered } from './pipeline.js';
import { chunkRange, chunksSpanned } from './plan.js';
import type { CryptoPool } from './pool.js';
import type { ProgressListener } from './progress.js';
import { chunksForPaths, selectEntries } from './selection.js';

/**
 * Where sealed chunk bytes come from: a staged folder, downloaded files, memory. Returns the sealed bytes of data
 * chunk `index` (they are transferred to a worker: hand over a buffer nobody else keeps).
 *
 * @throws {CoreError} MISSING_CHUNK when the chunk is not there.
 */
export type ChunkSource = (index: number, signal?: AbortSignal) => Promise<Uint8Array>;

/** Options of {@link assemble}. */
export interface AssembleOptions {
	readonly manifest: Manifest;
	readonly source: ChunkSource;
	/** The restore folder: created if missing; existing files in it are never replaced unless `overwrite`. */
	readonly outDir: string;
	/** Restore only these entries (files or folders, relative, `/`-separated); all by default. */
	readonly paths?: readonly string[];
	readonly overwrite?: boolean;
	/** The archive key (from `openManifest`); else derived from `passphrase` (one PBKDF2). */
	readonly key?: ArchiveKey;
	readonly passphrase?: string;
	readonly pool: CryptoPool;
	/** Chunks fetched ahead of the workers; default 1. */
	readonly readAhead?: number;
	readonly signal?: AbortSignal;
	readonly onProgress?: ProgressListener;
	/**
	 * Salvage what can be salvaged: a chunk that is missing or damaged (MISSING_CHUNK, TAMPERED_CHUNK,
	 * MISPLACED_CHUNK, HASH_MISMATCH, BAD_FORMAT, UNSUPPORTED_VERSION from `source` or the pool) does not stop the
	 * restore; every selected file with a byte in it is lost (never renamed into place, its temporary file removed)
	 * and the restore goes on with the next chunk. A file whose own sha256 does not match is lost the same way. Other
	 * failures (WRONG_KEY, UNSAFE_PATH, FILE_EXISTS, DISK_FULL, ABORTED…) still stop at once. Off by default.
	 */
	readonly salvage?: boolean;
}

/** A selected file a salvage restore could not restore (see {@link AssembleOptions.salvage}). */
export interface LostFile {
	readonly path: string;
	/**
	 * The bad chunks it has bytes in, ascending; for a file lost to its own sha256 (code HASH_MISMATCH with intact
	 * chunks), every chunk it spans.
	 */
	readonly chunks: readonly number[];
	/** The CoreError code of the first failure that cost it. */
	readonly code: string;
}

/** An entry the restore left out on purpose. */
export interface SkippedEntry {
	readonly path: string;
	readonly reason: 'symlink-outside';
}

/** What {@link assemble} restored. */
export interface AssembleResult {
	/** The restore folder, absolute and with symlinks resolved. */
	readonly outDir: string;
	readonly files: number;
	readonly directories: number;
	readonly symlinks: number;
	readonly bytes: number;
	/** Chunks read. */
	readonly chunks: number;
	readonly skipped: readonly SkippedEntry[];
	/** Selected files not restored (salvage only; empty otherwise), in archive order. `files` and `bytes` leave them out. */
	readonly lost: readonly LostFile[];
	/** Salvage only: the chunks that were missing or damaged, ascending. */
	readonly badChunks?: readonly number[];
}

/** Chunk-level failures a salvage restore survives: they cost the files of that chunk only. */
const CHUNK_FAILURES = new Set<string>([
	CoreErrorCode.MissingChunk,
	CoreErrorCode.TamperedChunk,
	CoreErrorCode.MisplacedChunk,
	CoreErrorCode.HashMismatch,
	CoreErrorCode.BadFormat,
	CoreErrorCode.UnsupportedVersion
]);

/** A chunk that could not be opened, in a salvage restore. */
interface BadChunk {
	readonly bad: CoreError;
}

/** Permission bits we restore: setuid and setgid are dropped (a restored archive must not grant privileges). */
export const RESTORED_MODE_MASK = 0o1777;
const SYMLINK_HOPS = 40;

/**
 * Restores an archive (or selected paths of it) into a folder, streaming: reads only the chunks the selection spans,
 * decrypts them in the pool, writes each file to a temporary name and renames it into place only when its sha256
 * matches the manifest. Never writes outside the folder: it never follows a symlink when creating parents, opens
 * files with O_EXCL | O_NOFOLLOW, creates symlinks last and only when they resolve inside the folder (others are
 * skipped and reported). Restores empty directories, modes and mtimes (directories after their contents).
 *
 * @throws {CoreError} FILE_EXISTS when targets exist and `overwrite` is not set (nothing is written then);
 * MISSING_CHUNK, TAMPERED_CHUNK, WRONG_KEY, MISPLACED_CHUNK, HASH_MISMATCH naming the chunk and the file being written
 * (files already renamed into place are complete and verified; the one in progress is removed); UNSAFE_PATH;
 * NOT_FOUND for a selected path not in the archive; DISK_FULL; ABORTED; NO_KEY. With `salvage`, the chunk-level
 * failures and a file's own HASH_MISMATCH are not thrown but reported in `lost` and `badChunks`.
 */
export async function assemble(options: AssembleOptions): Promise<AssembleResult> {
	const { pool, signal } = options;
	// Re-validated here too: the assembler is the last line before the disk, whatever handed it the manifest.
	const manifest = validateManifest(options.manifest);
	const entries = selectEntries(manifest, options.paths);
	const neededChunks = chunksForPaths(manifest, options.paths);
	const key =
		options.key?.matches(Buffer.from(manifest.kdf.salt, 'hex'), manifest.kdf.iterations) === true
			? options.key
			: await deriveArchiveKey(options.passphrase ?? '', {
					salt: Buffer.from(manifest.kdf.salt, 'hex'),
					iterations: manifest.kdf.iterations,
					...(signal ? { signal } : {})
				});

	await mkdir(options.outDir, { recursive: true }).catch((error: unknown) => {
		throw fromFsError(error, options.outDir);
	});
	const root = await realpath(options.outDir);
	const tree = new RestoreTree(root);
	await preflight(tree, entries, options.overwrite ?? false);

	const files = entries.filter((entry) => entry.type === 'file');
	const directories = entries.filter((entry) => entry.type === 'directory');
	const symlinks = entries.filter((entry) => entry.type === 'symlink');
	const bytesTotal = files.reduce((sum, file) => sum + file.size, 0);
	let bytesDone = 0;
	let chunksDone = 0;
	const salvage = options.salvage === true;
	const badChunks: number[] = [];
	const geometry = { chunkSize: manifest.chunkSize, totalBytes: manifest.totals.bytes };
	const writer = new FileWriter(tree, files, { overwrite: options.overwrite ?? false, salvage, chunkSize: manifest.chunkSize });
	const keyBytes = key.exportBytes();
	const uid = Buffer.from(manifest.uid, 'hex');
	const salt = Buffer.from(manifest.kdf.salt, 'hex');
	try {
		const openOne = async (index: number) => {
			const record = manifest.chunks[index]!;
			const sealed = await options.source(index, signal);
			return pool.open(
				{
					sealed,
					archiveKey: keyBytes,
					expect: { kind: 'data', uid, index, archiveSalt: salt, label: `Chunk ${index + 1}` },
					sha256: record.sha256,
					plainSize: record.plainSize,
					plainSha256: record.plainSha256
				},
				signal
			);
		};
		const opened = mapOrdered(neededChunks, pool.workers + (options.readAhead ?? 1), async (index) => {
			if (!salvage) return openOne(index);
			try {
				return await openOne(index);
			} catch (error) {
				if (isCoreError(error) && CHUNK_FAILURES.has(error.code) && !signal?.aborted) return { bad: error } satisfies BadChunk;
				throw error;
			}
		});
		for await (const { item: index, result } of opened) {
			throwIfAborted(signal);
			const range = chunkRange(geometry, index);
			let covered: number;
			if ('bad' in result) {
				badChunks.push(index);
				covered = await writer.lose(range.start, range.end, index, result.bad.code);
			} else {
				covered = await writer.write(range.start, result.plain);
			}
			bytesDone += covered;
			chunksDone++;
			options.onProgress?.({ phase: 'assemble', bytesDone, bytesTotal, chunksDone, chunksTotal: neededChunks.length });
		}
		await writer.finish();
	} catch (error) {
		const paths = writer.pending();
		await writer.abandon();
		throw withAffectedPaths(error, paths);
	} finally {
		keyBytes.fill(0);
	}

	// Folders are made as files need them, and the rest (empty ones) only now, so a restore that fails at its
	// first chunk leaves no skeleton behind.
	const skipped = await finishRestoredTree(tree, manifest.entries, directories, symlinks, options.overwrite ?? false, signal);
	const lost = writer.lostFiles();
	return {
		outDir: root,
		files: files.length - lost.length,
		directories: directories.length,
		symlinks: symlinks.length - skipped.length,
		bytes: bytesTotal - lost.reduce((sum, file) => sum + file.size, 0),
		chunks: neededChunks.length,
		skipped,
		lost: lost.map(({ path: lostPath, chunks, code }) => ({ path: lostPath, chunks, code })),
		...(salvage ? { badChunks } : {})
	};
}

/** What the last steps of a restore need of an entry (format 1 and format 2 manifests alike). */
type FinishedEntry = Pick<ManifestEntry, 'path' | 'type' | 'target' | 'mode' | 'mtimeMs'>;

/**
 * The last steps of every restore, once its files are in place: the folders no file needed, then the symlinks (only
 * those that resolve inside the folder, judged against all of the manifest's `entries`), then folder modes and
 * mtimes, deepest first. Returns the symlinks passed over.
 */
export async function finishRestoredTree(
	tree: RestoreTree,
	entries: readonly FinishedEntry[],
	directories: readonly FinishedEntry[],
	symlinks: readonly FinishedEntry[],
	overwrite: boolean,
	signal: AbortSignal | undefined
): Promise<SkippedEntry[]> {
	for (const directory of directories) {
		throwIfAborted(signal);
		await tree.ensureDirectory(directory.path);
	}
	const skipped: SkippedEntry[] = [];
	const byPath = new Map(entries.map((entry) => [entry.path, entry]));
	for (const link of symlinks) {
		throwIfAborted(signal);
		if (!symlinkStaysInside(byPath, link.path, link.target!) || !(await tree.createSymlink(link, overwrite)))
			skipped.push({ path: link.path, reason: 'symlink-outside' });
	}
	for (const directory of [...directories].reverse()) {
		const target = await tree.existingDirectory(directory.path);
		await chmod(target, directory.mode & RESTORED_MODE_MASK);
		await utimes(target, directory.mtimeMs / 1000, directory.mtimeMs / 1000);
	}
	return skipped;
}

/**
 * Whether a symlink of the archive resolves inside the restore folder, following the archive's own symlinks the way
 * the kernel would (a lexical check alone can be fooled by a chain of links).
 */
export function symlinkStaysInside(entries: ReadonlyMap<string, Pick<ManifestEntry, 'type' | 'target'>>, linkPath: string, target: string): boolean {
	if (!isSymlinkTargetInside(linkPath, target)) return false;
	const current = linkPath.split('/').slice(0, -1);
	let remaining = target.split('/');
	let hops = 0;
	while (remaining.length > 0) {
		const [part, ...rest] = remaining as [string, ...string[]];
		remaining = rest;
		if (part === '' || part === '.') continue;
		if (part === '..') {
			if (current.length === 0) return false;
			current.pop();
			continue;
		}
		current.push(part);
		const entry = entries.get(current.join('/'));
		if (entry?.type === 'symlink') {
			if (++hops > SYMLINK_HOPS || entry.target === undefined || path.posix.isAbsolute(entry.target) || entry.target.includes('\\'))
				return false;
			current.pop();
			remaining = [...entry.target.split('/'), ...remaining];
		}
	}
	return true;
}

export async function preflight(tree: RestoreTree, entries: readonly Pick<ManifestEntry, 'path' | 'type'>[], overwrite: boolean): Promise<void> {
	const conflicts: string[] = [];
	// Each folder of the restore folder is listed once, and only names it holds are looked at: a restore into an
	// empty folder costs one listing, not one failed lstat per entry (20,000 of them, each a thread-pool round trip,
	// kept the workers of a small-file restore idle for a second or more). A folder that is missing, or not a real
	// folder, holds nothing to collide with here (writing through it is refused later, by RestoreTree).
	const listings = new Map<string, Promise<ReadonlySet<string> | undefined>>();
	const listing = (dir: string): Promise<ReadonlySet<string> | undefined> => {
		let pending = listings.get(dir);
		if (pending === undefined) {
			pending = (async () => {
				if (dir !== '') {
					const slash = dir.lastIndexOf('/');
					const above = await listing(slash < 0 ? '' : dir.slice(0, slash));
					if (!above?.has(dir.slice(slash + 1))) return undefined;
				}
				const absolute = dir === '' ? tree.root : resolveInside(tree.root, dir);
				const info = await lstat(absolute).catch(() => undefined);
				if (info?.isDirectory() !== true) return undefined;
				return new Set(await readdir(absolute).catch(() => []));
			})();
			listings.set(dir, pending);
		}
		return pending;
	};
	for (const entry of entries) {
		const slash = entry.path.lastIndexOf('/');
		const names = await listing(slash < 0 ? '' : entry.path.slice(0, slash));
		if (!names?.has(entry.path.slice(slash + 1))) continue;
		const info = await lstat(resolveInside(tree.root, entry.path)).catch(() => undefined);
		if (info === undefined) continue;
		if (entry.type === 'directory') {
			if (!info.isDirectory()) conflicts.push(entry.path);
		} else if (info.isDirectory() || !overwrite) {
			conflicts.push(entry.path);
		}
	}
	if (conflicts.length > 0) {
		const shown = conflicts.slice(0, 10).join(', ') + (conflicts.length > 10 ? ` and ${conflicts.length - 10} more` : '');
		throw new CoreError(
			CoreErrorCode.FileExists,
			`The restore folder already holds ${shown}. Choose an empty folder, or pass --overwrite to replace files (folders are never replaced by files).`,
			{ paths: conflicts, file: tree.root }
		);
	}
}

/** The restore folder, with every path created or checked without following symlinks. */
export class RestoreTree {
	public readonly root: string;
	private readonly checked = new Set<string>(['']);

	public constructor(root: string) {
		this.root = root;
	}

	/** Makes sure every directory of `relative` exists as a real directory (never a symlink), creating it. */
	public async ensureDirectory(relative: string): Promise<string> {
		const parts = relative.split('/');
		for (let depth = 1; depth <= parts.length; depth++) {
			const prefix = parts.slice(0, depth).join('/');
			if (this.checked.has(prefix)) continue;
			const absolute = resolveInside(this.root, prefix);
			const info = await lstat(absolute).catch(() => undefined);
			if (info === undefined) {
				await mkdir(absolute, { mode: 0o700 }).catch((error: unknown) => {
					throw fromFsError(error, prefix);
				});
			} else if (!info.isDirectory()) {
				throw new CoreError(
					CoreErrorCode.UnsafePath,
					`Refusing to write through ${prefix}: it exists in the restore folder and is not a real folder${info.isSymbolicLink() ? ' (a symlink)' : ''}.`,
					{ paths: [prefix] }
				);
			}
			this.checked.add(prefix);
		}
		return resolveInside(this.root, relative);
	}

	/** The absolute path of an entry's parent directory, created and checked. */
	public async parentOf(relative: string): Promise<string> {
		const slash = relative.lastIndexOf('/');
		return slash < 0 ? this.root : this.ensureDirectory(relative.slice(0, slash));
	}

	public async existingDirectory(relative: string): Promise<string> {
		return this.ensureDirectory(relative);
	}

	/** Creates a symlink; returns false (and removes it) when it resolves outside the folder on disk. */
	public async createSymlink(link: Pick<ManifestEntry, 'path' | 'target' | 'mtimeMs'>, overwrite: boolean): Promise<boolean> {
		await this.parentOf(link.path);
		const absolute = resolveInside(this.root, link.path);
		if (overwrite) {
			const info = await lstat(absolute).catch(() => undefined);
			if (info && !info.isDirectory()) await unlink(absolute);
		}
		await symlink(link.target!, absolute).catch((error: unknown) => {
			const code = (error as NodeJS.ErrnoException).code;
			if (code === 'EEXIST')
				throw new CoreError(CoreErrorCode.FileExists, `${link.path} appeared in the restore folder while restoring.`, { paths: [link.path] });
			throw fromFsError(error, link.path);
		});
		const resolved = await realpath(absolute).catch(() => undefined);
		if (resolved !== undefined && resolved !== this.root && !resolved.startsWith(this.root + path.sep)) {
			await unlink(absolute);
			return false;
		}
		await lutimes(absolute, link.mtimeMs / 1000, link.mtimeMs / 1000).catch(() => undefined);
		return true;
	}
}

/**
 * Writes the selected files from the plaintext stream, each through a temporary name, checking its sha256. In salvage
 * mode it also keeps track of the files a bad chunk (or their own hash) cost: they are never renamed into place, and
 * their bytes in later chunks are discarded.
 */
class FileWriter {
	private readonly tree: RestoreTree;
	private readonly files: readonly ManifestEntry[];
	private readonly overwrite: boolean;
	private readonly salvage: boolean;
	private readonly chunkSize: number;
	private cursor = 0;
	private current: { handle: FileHandle; temp: string; hash: Hash; written: number } | undefined;
	/** Lost files by their position in `files` (salvage only). */
	private readonly lost = new Map<number, { chunks: number[]; code: string }>();

	public constructor(tree: RestoreTree, files: readonly ManifestEntry[], options: { overwrite: boolean; salvage: boolean; chunkSize: number }) {
		this.tree = tree;
		this.files = files;
		this.overwrite = options.overwrite;
		this.salvage = options.salvage;
		this.chunkSize = options.chunkSize;
	}

	/**
	 * Writes the parts of the selected files that `plain` (stream bytes from `start`) holds; returns the bytes of
	 * selected files it covered (written, or discarded for lost files).
	 */
	public async write(start: number, plain: Buffer): Promise<number> {
		return this.advance(start, start + plain.length, plain);
	}

	/**
	 * Salvage: stream bytes `[start, end)` (chunk `index`) cannot be had. Every selected file with a byte there is lost
	 * (the one in progress has its temporary file removed); empty files there are still made. Returns the bytes of
	 * selected files it covered.
	 */
	public async lose(start: number, end: number, index: number, code: string): Promise<number> {
		for (let position = this.cursor; position < this.files.length; position++) {
			const file = this.files[position]!;
			const fileStart = file.offset!;
			if (fileStart >= end) break;
			if (file.size === 0 || fileStart + file.size <= start) continue;
			const known = this.lost.get(position);
			if (known === undefined) this.lost.set(position, { chunks: [index], code });
			else if (!known.chunks.includes(index)) known.chunks.push(index);
		}
		if (this.lost.has(this.cursor)) await this.abandon();
		return this.advance(start, end, undefined);
	}

	/** Completes the remaining (empty) files after the last chunk. */
	public async finish(): Promise<void> {
		for (let file = this.files[this.cursor]; file !== undefined; file = this.files[this.cursor]) {
			if (this.lost.has(this.cursor)) {
				this.cursor++;
				continue;
			}
			if (file.size !== 0) throw new CoreError(CoreErrorCode.MissingChunk, `The chunks for ${file.path} never came.`, { paths: [file.path] });
			await this.open(file);
			await this.close(file);
		}
	}

	/** Paths of files not yet in place (the one being written). */
	public pending(): string[] {
		const file = this.files[this.cursor];
		return file === undefined ? [] : [file.path];
	}

	/** The lost files, in archive order. */
	public lostFiles(): { path: string; size: number; chunks: number[]; code: string }[] {
		return [...this.lost.entries()]
			.sort(([a], [b]) => a - b)
			.map(([position, { chunks, code }]) => {
				const file = this.files[position]!;
				return { path: file.path, size: file.size, chunks: [...chunks].sort((a, b) => a - b), code };
			});
	}

	/** Removes the temporary file of the file in progress. */
	public async abandon(): Promise<void> {
		const current = this.current;
		this.current = undefined;
		if (current === undefined) return;
		await current.handle.close().catch(() => undefined);
		await rm(current.temp, { force: true }).catch(() => undefined);
	}

	/**
	 * Moves through the selected files that stream bytes `[start, end)` reach: writes their bytes from `plain`, or, for
	 * lost files, discards them (`plain` is undefined for a bad chunk, whose non-empty files are all lost).
	 */
	private async advance(start: number, end: number, plain: Buffer | undefined): Promise<number> {
		let covered = 0;
		for (;;) {
			const file = this.files[this.cursor];
			if (file === undefined) break;
			const fileStart = file.offset!;
			const fileEnd = fileStart + file.size;
			if (fileStart > end || (fileStart === end && file.size > 0)) break;
			if (this.lost.has(this.cursor)) {
				covered += Math.max(0, Math.min(end, fileEnd) - Math.max(start, fileStart));
				if (fileEnd > end) break;
				this.cursor++;
				continue;
			}
			if (file.size === 0) {
				await this.open(file);
				await this.close(file);
				continue;
			}
			if (fileEnd <= start || plain === undefined)
				throw new CoreError(CoreErrorCode.BadFormat, `The chunks for ${file.path} came out of order.`);
			if (this.current === undefined) await this.open(file);
			const from = Math.max(start, fileStart + this.current!.written);
			const to = Math.min(end, fileEnd);
			const slice = plain.subarray(from - start, to - start);
			await writeAll(this.current!.handle, slice, file.path);
			this.current!.hash.update(slice);
			this.current!.written += slice.length;
			covered += slice.length;
			if (this.current!.written === file.size) await this.close(file);
			else break;
		}
		return covered;
	}

	private async open(file: ManifestEntry): Promise<void> {
		const parent = await this.tree.parentOf(file.path);
		const temp = path.join(parent, `.dos-${randomBytes(6).toString('hex')}.partial`);
		try {
			const handle = await open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
			this.current = { handle, temp, hash: createHash('sha256'), written: 0 };
		} catch (error) {
			throw fromFsError(error, file.path);
		}
	}

	private async close(file: ManifestEntry): Promise<void> {
		const current = this.current!;
		const sha256 = current.hash.digest('hex');
		if (sha256 !== file.sha256) {
			if (this.salvage) {
				// Every chunk opened intact, yet the file is wrong: it is lost, and the restore goes on.
				this.lost.set(this.cursor, { chunks: chunksSpanned(this.chunkSize, file.offset!, file.size), code: CoreErrorCode.HashMismatch });
				await this.abandon();
				this.cursor++;
				return;
			}
			throw new CoreError(
				CoreErrorCode.HashMismatch,
				`${file.path} restored with a different sha256 than the manifest records. The archive is damaged; it was not kept.`,
				{
					paths: [file.path]
				}
			);
		}
		try {
			await current.handle.chmod(file.mode & RESTORED_MODE_MASK);
			await current.handle.utimes(file.mtimeMs / 1000, file.mtimeMs / 1000);
			await current.handle.close();
		} catch (error) {
			throw fromFsError(error, file.path);
		}
		const target = resolveInside(this.tree.root, file.path);
		const existing = await lstat(target).catch(() => undefined);
		if (existing !== undefined && (existing.isDirectory() || !this.overwrite)) {
			throw new CoreError(CoreErrorCode.FileExists, `${file.path} appeared in the restore folder while restoring; it was not replaced.`, {
				paths: [file.path]
			});
		}
		await rename(current.temp, target).catch((error: unknown) => {
			throw fromFsError(error, file.path);
		});
		this.current = undefined;
		this.cursor++;
	}
}

async function writeAll(handle: FileHandle, bytes: Buffer, label: string): Promise<void> {
	let at = 0;
	try {
		while (at < bytes.length) at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten;
	} catch (error) {
		throw fromFsError(error, label);
	}
}

function withAffectedPaths(error: unknown, paths: readonly string[]): unknown {
	if (!isCoreError(error) || paths.length === 0 || error.details.paths !== undefined) return error;
	return new CoreError(
		error.code,
		`${error.message} Stopped at ${paths.join(', ')}, which was not kept; files restored before it are complete and verified.`,
		{ ...error.details, paths: [...paths] },
		{ cause: error.cause }
	);
}
