import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, mkdir, open, realpath, rename, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted } from '../abort.js';
import { preflight, RESTORED_MODE_MASK, RestoreTree, symlinkStaysInside, type SkippedEntry } from '../assemble.js';
import { CoreError, CoreErrorCode, fromFsError } from '../errors.js';
import { requireArchiveId } from '../archive-id.js';
import { resolveInside } from '../paths.js';
import type { CryptoPool } from '../pool.js';
import type { ProgressListener } from '../progress.js';
import { type BlobLocation, listArchives, loadBlobIndex, type LocalRepository, openRepository, packPath, readManifest } from './local.js';
import type { ManifestV2Entry } from './manifest.js';

// Slicing lives in slice.ts; it is re-exported here, beside assembling and verifying.
export { type DedupScope, sliceToRepository, type SliceToRepositoryOptions, type SliceToRepositoryResult } from './slice.js';

/** Plaintext bytes per worker task: small files travel many to a task. */
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCH_BLOBS = 1024;

/** Opens an existing local repository and picks an archive (the newest by default). */
async function openArchive(repoDir: string, passphrase: string | undefined, archiveId: string | undefined, signal?: AbortSignal) {
	const repo = await openRepository(repoDir, passphrase, signal ? { signal } : {});
	const archives = await listArchives(repo);
	const id = archiveId === undefined ? archives.at(-1) : requireArchiveId(archiveId).id;
	if (id === undefined) throw new CoreError(CoreErrorCode.NotFound, `${repo.root} holds no archive yet.`, { file: repo.root });
	const manifest = await readManifest(repo, id);
	const index = await loadBlobIndex(repo, () => undefined);
	return { repo, manifest, index };
}

interface BlobFailure {
	readonly id: string;
	readonly pack?: string;
	readonly code: string;
	readonly message: string;
}

/**
 * Opens the blobs of a group of files: ranges grouped by pack and coalesced (a pack read once where its blobs are
 * neighbours), opened in one worker task. Returns plaintexts by blob id, and the blobs that failed.
 */
async function openGroup(
	repo: LocalRepository,
	index: ReadonlyMap<string, BlobLocation>,
	pool: CryptoPool,
	ids: readonly string[],
	signal: AbortSignal | undefined
): Promise<{ plain: Map<string, Buffer>; failed: BlobFailure[] }> {
	const failed: BlobFailure[] = [];
	const located: { id: string; at: BlobLocation }[] = [];
	for (const id of ids) {
		const at = index.get(id);
		if (at === undefined)
			failed.push({ id, code: CoreErrorCode.MissingChunk, message: `Blob ${id.slice(0, 16)}… is in no pack of the repository.` });
		else located.push({ id, at });
	}
	located.sort((a, b) => (a.at.pack === b.at.pack ? a.at.offset - b.at.offset : a.at.pack < b.at.pack ? -1 : 1));
	const total = located.reduce((sum, blob) => sum + blob.at.storedLength, 0);
	const sealed = Buffer.allocUnsafeSlow(total);
	let at = 0;
	for (let first = 0; first < located.length;) {
		const pack = located[first]!.at.pack;
		const handle = await open(packPath(repo, pack), 'r').catch(() => undefined);
		let last = first;
		while (last < located.length && located[last]!.at.pack === pack) last++;
		if (handle === undefined) {
			for (const blob of located.slice(first, last))
				failed.push({ id: blob.id, pack, code: CoreErrorCode.MissingChunk, message: `Pack ${pack} is missing.` });
			located.splice(first, last - first);
			continue;
		}
		try {
			for (let run = first; run < last;) {
				let end = run + 1;
				while (end < last && located[end]!.at.offset === located[end - 1]!.at.offset + located[end - 1]!.at.storedLength) end++;
				const start = located[run]!.at.offset;
				const length = located[end - 1]!.at.offset + located[end - 1]!.at.storedLength - start;
				const { bytesRead } = await handle.read(sealed, at, length, start);
				if (bytesRead !== length) sealed.fill(0, at + bytesRead, at + length);
				at += length;
				run = end;
			}
		} finally {
			await handle.close();
		}
		first = last;
	}
	const plain = new Map<string, Buffer>();
	if (located.length === 0) return { plain, failed };
	const opened = await pool.openBlobs(
		{
			blobKey: repo.keys.blobSeal,
			idKey: repo.keys.blobId,
			records: located.map(({ id, at: where }) => ({
				id,
				storedLength: where.storedLength,
				rawLength: where.rawLength,
				codec: where.codec
			})),
			sealed: sealed.buffer.slice(0, at)
		},
		signal
	);
	const bad = new Map(opened.failed.map((failure) => [failure.index, failure]));
	let offset = 0;
	located.forEach((blob, position) => {
		const failure = bad.get(position);
		if (failure !== undefined) {
			failed.push({ id: blob.id, pack: blob.at.pack, code: failure.code, message: failure.message });
			return;
		}
		plain.set(blob.id, opened.plain.subarray(offset, offset + blob.at.rawLength));
		offset += blob.at.rawLength;
	});
	return { plain, failed };
}

/** Groups files so that each group's blobs are about {@link BATCH_BYTES} (small files many to a group). */
function groupFiles(files: readonly ManifestV2Entry[]): ManifestV2Entry[][] {
	const groups: ManifestV2Entry[][] = [];
	let current: ManifestV2Entry[] = [];
	let bytes = 0;
	for (const file of files) {
		if (current.length > 0 && (bytes + file.size > BATCH_BYTES || current.length >= BATCH_BLOBS)) {
			groups.push(current);
			current = [];
			bytes = 0;
		}
		current.push(file);
		bytes += file.size;
	}
	if (current.length > 0) groups.push(current);
	return groups;
}

/** Runs `work` over `items` with at most `limit` at once; the first failure stops new work and is thrown. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
	let next = 0;
	let failure: unknown;
	const runner = async () => {
		while (failure === undefined && next < items.length) {
			const item = items[next++]!;
			try {
				await work(item);
			} catch (error) {
				failure ??= error;
			}
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
	if (failure !== undefined) throw failure as Error;
}

export interface AssembleFromRepositoryOptions {
	readonly repo: string;
	readonly archiveId?: string;
	readonly outDir: string;
	readonly passphrase: string | undefined;
	readonly pool: CryptoPool;
	readonly overwrite?: boolean;
	readonly signal?: AbortSignal;
	readonly onProgress?: ProgressListener;
}

export interface AssembleFromRepositoryResult {
	readonly outDir: string;
	readonly archiveId: string;
	readonly files: number;
	readonly directories: number;
	readonly symlinks: number;
	readonly bytes: number;
	readonly blobs: number;
	readonly skipped: readonly SkippedEntry[];
}

function blobError(failures: readonly BlobFailure[], files: readonly ManifestV2Entry[]): CoreError {
	const first = failures[0]!;
	const ids = new Set(failures.map((failure) => failure.id));
	const paths = files.filter((file) => file.blobs?.some((id) => ids.has(id))).map((file) => file.path);
	const code = first.code === CoreErrorCode.MissingChunk ? CoreErrorCode.MissingChunk : CoreErrorCode.TamperedChunk;
	return new CoreError(
		code,
		`${first.message}${first.pack ? ` (pack ${first.pack})` : ''} It holds part of ${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ` and ${paths.length - 5} more` : ''}; those files were not kept.`,
		{
			paths,
			...(first.pack ? { file: first.pack } : {})
		}
	);
}

/**
 * Restores an archive of a local repository (the newest by default) into a folder, with the safety rules of format
 * 1: never writes outside the folder (no symlink followed, O_EXCL | O_NOFOLLOW temporary names, symlinks last and
 * only when they resolve inside), each file renamed into place only once its sha256 matches. Files travel in groups:
 * a group's blobs are read pack by pack and opened in one worker task.
 *
 * @throws {CoreError} WRONG_KEY; NOT_FOUND; FILE_EXISTS; TAMPERED_CHUNK / MISSING_CHUNK naming the pack and files;
 * HASH_MISMATCH; UNSAFE_PATH; DISK_FULL; ABORTED.
 */
export async function assembleFromRepository(options: AssembleFromRepositoryOptions): Promise<AssembleFromRepositoryResult> {
	const { pool, signal } = options;
	const { repo, manifest, index } = await openArchive(options.repo, options.passphrase, options.archiveId, signal);
	const overwrite = options.overwrite ?? false;
	await mkdir(options.outDir, { recursive: true }).catch((error: unknown) => {
		throw fromFsError(error, options.outDir);
	});
	const root = await realpath(options.outDir);
	const tree = new RestoreTree(root);
	await preflight(tree, manifest.entries, overwrite);
	const files = manifest.entries.filter((entry) => entry.type === 'file');
	const directories = manifest.entries.filter((entry) => entry.type === 'directory');
	const symlinks = manifest.entries.filter((entry) => entry.type === 'symlink');
	const bytesTotal = files.reduce((sum, file) => sum + file.size, 0);
	let bytesDone = 0;
	let filesDone = 0;
	const blobs = new Set(files.flatMap((file) => file.blobs ?? []));
	await forEachLimited(groupFiles(files), pool.workers + 1, async (group) => {
		throwIfAborted(signal);
		if (group.length === 1 && group[0]!.size > BATCH_BYTES) {
			// A large file alone: its blobs are opened a batch at a time and written as they come.
			const file = group[0]!;
			await writeRestoredFile(tree, file, overwrite, async (write) => {
				for (const ids of blobBatches(file, index)) {
					const { plain, failed } = await openGroup(repo, index, pool, [...new Set(ids)], signal);
					if (failed.length > 0) throw blobError(failed, group);
					for (const id of ids) await write(plain.get(id)!);
				}
			});
		} else {
			const ids = [...new Set(group.flatMap((file) => file.blobs ?? []))];
			const { plain, failed } = await openGroup(repo, index, pool, ids, signal);
			if (failed.length > 0) throw blobError(failed, group);
			await forEachLimited(group, 16, async (file) => {
				await writeRestoredFile(tree, file, overwrite, async (write) => {
					for (const id of file.blobs ?? []) await write(plain.get(id)!);
				});
			});
		}
		for (const file of group) bytesDone += file.size;
		filesDone += group.length;
		options.onProgress?.({ phase: 'assemble', bytesDone, bytesTotal, chunksDone: filesDone, chunksTotal: files.length });
	});
	for (const directory of directories) {
		throwIfAborted(signal);
		await tree.ensureDirectory(directory.path);
	}
	const skipped: SkippedEntry[] = [];
	const byPath = new Map(manifest.entries.map((entry) => [entry.path, entry]));
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
	return {
		outDir: root,
		archiveId: manifest.id,
		files: files.length,
		directories: directories.length,
		symlinks: symlinks.length - skipped.length,
		bytes: bytesTotal,
		blobs: blobs.size,
		skipped
	};
}

const parentsMade = new WeakMap<RestoreTree, Map<string, Promise<string>>>();

/** The tree's `parentOf`, one creation per folder even when files of it are written concurrently. */
function parentOf(tree: RestoreTree, relative: string): Promise<string> {
	let made = parentsMade.get(tree);
	if (made === undefined) parentsMade.set(tree, (made = new Map<string, Promise<string>>()));
	const slash = relative.lastIndexOf('/');
	const parent = slash < 0 ? '' : relative.slice(0, slash);
	let pending = made.get(parent);
	if (pending === undefined) {
		// Ancestors first, through the same cache, so that no two tasks make one folder.
		const grand = parent.lastIndexOf('/');
		pending = (grand < 0 ? Promise.resolve('') : parentOf(tree, parent)).then(() => tree.parentOf(relative));
		made.set(parent, pending);
	}
	return pending;
}

/** A file's blob ids cut into batches of about {@link BATCH_BYTES} plaintext bytes, in order. */
function blobBatches(file: ManifestV2Entry, index: ReadonlyMap<string, BlobLocation>): string[][] {
	const batches: string[][] = [];
	let current: string[] = [];
	let bytes = 0;
	for (const id of file.blobs ?? []) {
		const size = index.get(id)?.rawLength ?? 0;
		if (current.length > 0 && bytes + size > BATCH_BYTES) {
			batches.push(current);
			current = [];
			bytes = 0;
		}
		current.push(id);
		bytes += size;
	}
	if (current.length > 0) batches.push(current);
	return batches;
}

/**
 * Writes one file through a temporary name: `produce` hands its bytes in order to `write`; only when their sha256
 * matches the manifest is the file given its mode and mtime and renamed into place. Otherwise (or on any failure)
 * the temporary file is removed.
 */
async function writeRestoredFile(
	tree: RestoreTree,
	file: ManifestV2Entry,
	overwrite: boolean,
	produce: (write: (piece: Buffer) => Promise<void>) => Promise<void>
): Promise<void> {
	const hash = createHash('sha256');
	const parent = await parentOf(tree, file.path);
	const temp = path.join(parent, `.dos-${randomBytes(6).toString('hex')}.partial`);
	let handle;
	try {
		handle = await open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
	} catch (error) {
		throw fromFsError(error, file.path);
	}
	try {
		const writing = handle;
		await produce(async (piece) => {
			hash.update(piece);
			let at = 0;
			while (at < piece.length) at += (await writing.write(piece, at, piece.length - at)).bytesWritten;
		});
		if (hash.digest('hex') !== file.sha256)
			throw new CoreError(
				CoreErrorCode.HashMismatch,
				`${file.path} restores with a different sha256 than the manifest records. The archive is damaged; it was not kept.`,
				{ paths: [file.path] }
			);
		await handle.chmod(file.mode & RESTORED_MODE_MASK);
		await handle.utimes(file.mtimeMs / 1000, file.mtimeMs / 1000);
		await handle.close();
		handle = undefined;
		const target = resolveInside(tree.root, file.path);
		if (!overwrite) {
			const exists = await open(target, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).then(
				async (existing) => {
					await existing.close();
					return true;
				},
				(error: unknown) => (error as NodeJS.ErrnoException).code !== 'ENOENT'
			);
			if (exists)
				throw new CoreError(CoreErrorCode.FileExists, `${file.path} appeared in the restore folder while restoring; it was not replaced.`, {
					paths: [file.path]
				});
		}
		await rename(temp, target);
	} catch (error) {
		await handle?.close().catch(() => undefined);
		await rm(temp, { force: true }).catch(() => undefined);
		throw fromFsError(error, file.path);
	}
}

export interface VerifyRepositoryResult {
	readonly archiveId: string;
	readonly ok: boolean;
	readonly files: number;
	readonly bytes: number;
	readonly blobs: number;
	/** Blobs that did not open (tampered, missing), with the pack and the files they hold part of. */
	readonly badBlobs: readonly { readonly id: string; readonly pack?: string; readonly code: string; readonly paths: readonly string[] }[];
	/** Files whose blobs opened but whose sha256 differs. */
	readonly badFiles: readonly string[];
}

/**
 * Checks an archive of a local repository (the newest by default) without writing anything: every blob it
 * references is authenticated and its id checked, every file's sha256 recomputed. Names what is bad.
 *
 * @throws {CoreError} WRONG_KEY; NOT_FOUND; BAD_FORMAT for a damaged manifest; ABORTED.
 */
export async function verifyRepository(options: {
	readonly repo: string;
	readonly archiveId?: string;
	readonly passphrase: string | undefined;
	readonly pool: CryptoPool;
	readonly signal?: AbortSignal;
	readonly onProgress?: ProgressListener;
}): Promise<VerifyRepositoryResult> {
	const { pool, signal } = options;
	const { repo, manifest, index } = await openArchive(options.repo, options.passphrase, options.archiveId, signal);
	const files = manifest.entries.filter((entry) => entry.type === 'file');
	const bytesTotal = files.reduce((sum, file) => sum + file.size, 0);
	const badBlobs = new Map<string, { id: string; pack?: string; code: string; paths: string[] }>();
	const badFiles: string[] = [];
	let bytesDone = 0;
	let filesDone = 0;
	await forEachLimited(groupFiles(files), pool.workers + 1, async (group) => {
		throwIfAborted(signal);
		if (group.length === 1 && group[0]!.size > BATCH_BYTES) {
			const file = group[0]!;
			const hash = createHash('sha256');
			let lost = false;
			for (const ids of blobBatches(file, index)) {
				const { plain, failed } = await openGroup(repo, index, pool, [...new Set(ids)], signal);
				for (const failure of failed) {
					const known = badBlobs.get(failure.id);
					if (known === undefined)
						badBlobs.set(failure.id, {
							id: failure.id,
							...(failure.pack ? { pack: failure.pack } : {}),
							code: failure.code,
							paths: [file.path]
						});
					else if (!known.paths.includes(file.path)) known.paths.push(file.path);
					lost = true;
				}
				if (!lost) for (const id of ids) hash.update(plain.get(id)!);
			}
			if (!lost && hash.digest('hex') !== file.sha256) badFiles.push(file.path);
			bytesDone += file.size;
			filesDone++;
			options.onProgress?.({ phase: 'verify', bytesDone, bytesTotal, chunksDone: filesDone, chunksTotal: files.length });
			return;
		}
		const ids = [...new Set(group.flatMap((file) => file.blobs ?? []))];
		const { plain, failed } = await openGroup(repo, index, pool, ids, signal);
		for (const failure of failed)
			badBlobs.set(failure.id, { id: failure.id, ...(failure.pack ? { pack: failure.pack } : {}), code: failure.code, paths: [] });
		for (const file of group) {
			const lostBlobs = (file.blobs ?? []).filter((id) => badBlobs.has(id));
			if (lostBlobs.length > 0) {
				for (const id of lostBlobs) badBlobs.get(id)!.paths.push(file.path);
				continue;
			}
			const hash = createHash('sha256');
			for (const id of file.blobs ?? []) hash.update(plain.get(id)!);
			if (hash.digest('hex') !== file.sha256) badFiles.push(file.path);
			bytesDone += file.size;
			filesDone++;
		}
		options.onProgress?.({ phase: 'verify', bytesDone, bytesTotal, chunksDone: filesDone, chunksTotal: files.length });
	});
	return {
		archiveId: manifest.id,
		ok: badBlobs.size === 0 && badFiles.length === 0,
		files: files.length,
		bytes: bytesTotal,
		blobs: new Set(files.flatMap((file) => file.blobs ?? [])).size,
		badBlobs: [...badBlobs.values()],
		badFiles
	};
}
