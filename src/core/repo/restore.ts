import { mkdir, realpath } from 'node:fs/promises';
import { abortedError, throwIfAborted } from '../abort.js';
import { requireArchiveId } from '../archive-id.js';
import { finishRestoredTree, preflight, RESTORED_MODE_MASK, RestoreTree, type SkippedEntry } from '../assemble.js';
import { CoreError, CoreErrorCode, fromFsError } from '../errors.js';
import { resolveInside } from '../paths.js';
import { forEachConcurrently } from '../pipeline.js';
import type { CryptoPool } from '../pool.js';
import type { ProgressListener } from '../progress.js';
import { type BlobLocation, listArchives, loadBlobIndex, type LocalRepository, openRepository, packPath, readManifest } from './local.js';
import type { ManifestV2Entry } from './manifest.js';
import { type FilesResult, type FilesTask, RESTORE_BATCH_BYTES, type RestoreFileSpec, type RestoreRecord } from './restore-worker.js';

/**
 * Plaintext bytes of the files of one group (small files travel many to a worker task; a larger file alone). Smaller
 * than a large file's batch: a group's blobs are all open at once, and 2 MiB keeps the peak RSS of a restore of many
 * small files well under 300 MB for no measurable cost.
 */
const GROUP_BYTES = RESTORE_BATCH_BYTES / 2;
/** Files of one group at most. */
const GROUP_FILES = 512;

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
 * Groups files so that each group's plaintext is about {@link GROUP_BYTES} (small files many to a group; a larger
 * file alone, its blobs opened a batch at a time by the worker).
 */
function groupFiles(files: readonly ManifestV2Entry[]): ManifestV2Entry[][] {
	const groups: ManifestV2Entry[][] = [];
	let current: ManifestV2Entry[] = [];
	let bytes = 0;
	for (const file of files) {
		if (current.length > 0 && (bytes + file.size > GROUP_BYTES || current.length >= GROUP_FILES)) {
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

/**
 * Plans the worker task of a group: its distinct blobs with their locations (packs by index), each file's blobs by
 * index (-1 for a blob no pack holds, returned in `missing`).
 */
function planGroup(
	repo: LocalRepository,
	index: ReadonlyMap<string, BlobLocation>,
	group: readonly ManifestV2Entry[]
): { packs: string[]; records: RestoreRecord[]; blobs: number[][]; missing: BlobFailure[] } {
	const packs: string[] = [];
	const packIndex = new Map<string, number>();
	const records: RestoreRecord[] = [];
	const recordIndex = new Map<string, number>();
	const missing: BlobFailure[] = [];
	const blobs = group.map((file) =>
		(file.blobs ?? []).map((id) => {
			let at = recordIndex.get(id);
			if (at !== undefined) return at;
			const where = index.get(id);
			if (where === undefined) {
				if (!missing.some((failure) => failure.id === id))
					missing.push({ id, code: CoreErrorCode.MissingChunk, message: `Blob ${id.slice(0, 16)}… is in no pack of the repository.` });
				return -1;
			}
			let pack = packIndex.get(where.pack);
			if (pack === undefined) {
				pack = packs.push(packPath(repo, where.pack)) - 1;
				packIndex.set(where.pack, pack);
			}
			at = records.push({ ...where, id, pack }) - 1;
			recordIndex.set(id, at);
			return at;
		})
	);
	return { packs, records, blobs, missing };
}

/** The failures a worker reported, by blob id and pack name. */
function blobFailures(result: FilesResult, records: readonly RestoreRecord[], index: ReadonlyMap<string, BlobLocation>): BlobFailure[] {
	return result.failed.map((failure): BlobFailure => {
		const id = records[failure.index]!.id;
		const pack = index.get(id)?.pack;
		return { id, ...(pack === undefined ? {} : { pack }), code: failure.code, message: failure.message };
	});
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
 * A flag the worker tasks of one run read between files and batches: set when `signal` fires, so that a task stops
 * on a clean boundary (a worker is never killed mid-file, which would leave a temporary file behind).
 */
function stopFlag(signal: AbortSignal | undefined): { stop: SharedArrayBuffer; release: () => void } {
	const stop = new SharedArrayBuffer(4);
	if (signal === undefined) return { stop, release: () => undefined };
	const onAbort = () => {
		Atomics.store(new Int32Array(stop), 0, 1);
	};
	if (signal.aborted) onAbort();
	signal.addEventListener('abort', onAbort, { once: true });
	return {
		stop,
		release: () => {
			signal.removeEventListener('abort', onAbort);
		}
	};
}

/** Runs `task` over the groups, at most `limit` at once (see forEachConcurrently); ABORTED says it the engine's way. */
async function forEachGroup<T>(items: readonly T[], limit: number, signal: AbortSignal | undefined, task: (item: T) => Promise<void>): Promise<void> {
	try {
		await forEachConcurrently(items, limit, signal ?? new AbortController().signal, task);
	} catch (error) {
		if (signal?.aborted === true || (error instanceof CoreError && error.code === CoreErrorCode.Aborted)) throw abortedError(signal);
		throw error;
	}
}

/**
 * Restores an archive of a local repository (the newest by default) into a folder, with the safety rules of format
 * 1: never writes outside the folder (no symlink followed, O_EXCL | O_NOFOLLOW temporary names, symlinks last and
 * only when they resolve inside), each file renamed into place only once its sha256 matches. Files travel in groups:
 * this thread makes and checks their folders; a worker reads the group's blobs from the packs, opens them and writes
 * its files (a large file alone, a batch of blobs at a time).
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
	const { stop, release } = stopFlag(signal);
	try {
		await forEachGroup(groupFiles(files), pool.workers + 1, signal, async (group) => {
			const plan = planGroup(repo, index, group);
			if (plan.missing.length > 0) throw blobError(plan.missing, group);
			const specs: RestoreFileSpec[] = [];
			for (const [position, file] of group.entries())
				specs.push({
					path: file.path,
					blobs: plan.blobs[position]!,
					sha256: file.sha256!,
					parent: await parentOf(tree, file.path),
					target: resolveInside(tree.root, file.path),
					mode: file.mode & RESTORED_MODE_MASK,
					mtimeMs: file.mtimeMs
				});
			throwIfAborted(signal);
			const result = await pool.restoreFiles(filesTask(repo, plan, specs, stop, overwrite));
			if (result.failed.length > 0) throw blobError(blobFailures(result, plan.records, index), group);
			for (const file of group) bytesDone += file.size;
			filesDone += group.length;
			options.onProgress?.({ phase: 'assemble', bytesDone, bytesTotal, chunksDone: filesDone, chunksTotal: files.length });
		});
	} finally {
		release();
	}
	const skipped = await finishRestoredTree(tree, manifest.entries, directories, symlinks, overwrite, signal);
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

function filesTask(
	repo: LocalRepository,
	plan: ReturnType<typeof planGroup>,
	files: readonly RestoreFileSpec[],
	stop: SharedArrayBuffer,
	overwrite: boolean
): Omit<FilesTask, 'op'> {
	return { blobKey: repo.keys.blobSeal, idKey: repo.keys.blobId, packs: plan.packs, records: plan.records, files, overwrite, stop };
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
 * references is authenticated and its id checked, every file's sha256 recomputed (in the workers, a group of files
 * per task). Names what is bad.
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
	const { stop, release } = stopFlag(signal);
	try {
		await forEachGroup(groupFiles(files), pool.workers + 1, signal, async (group) => {
			throwIfAborted(signal);
			const plan = planGroup(repo, index, group);
			const specs = group.map((file, position): RestoreFileSpec => ({ path: file.path, blobs: plan.blobs[position]!, sha256: file.sha256! }));
			const result = await pool.verifyFiles(filesTask(repo, plan, specs, stop, false));
			const failures = [...plan.missing, ...blobFailures(result, plan.records, index)];
			for (const failure of failures) {
				const holders = group.filter((file) => file.blobs?.includes(failure.id)).map((file) => file.path);
				const known = badBlobs.get(failure.id);
				if (known === undefined)
					badBlobs.set(failure.id, { id: failure.id, ...(failure.pack ? { pack: failure.pack } : {}), code: failure.code, paths: holders });
				else for (const holder of holders) if (!known.paths.includes(holder)) known.paths.push(holder);
			}
			for (const position of result.mismatched) badFiles.push(group[position]!.path);
			for (const file of group) bytesDone += file.size;
			filesDone += group.length;
			options.onProgress?.({ phase: 'verify', bytesDone, bytesTotal, chunksDone: filesDone, chunksTotal: files.length });
		});
	} finally {
		release();
	}
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
