import { mkdir, realpath } from 'node:fs/promises';
import { abortedError, throwIfAborted } from '../abort.js';
import { requireArchiveId } from '../archive-id.js';
import { finishRestoredTree, preflight, RESTORED_MODE_MASK, RestoreTree, type SkippedEntry } from '../assemble.js';
import { CoreError, CoreErrorCode, fromFsError, isCoreError } from '../errors.js';
import { resolveInside } from '../paths.js';
import { forEachConcurrently } from '../pipeline.js';
import type { CryptoPool } from '../pool.js';
import type { ProgressListener } from '../progress.js';
import { selectEntries } from '../selection.js';
import type { FileProblem } from '../verify.js';
import { type BlobLocation, listArchives, loadBlobIndex, type LocalRepository, openRepository, packPath, readManifest } from './local.js';
import type { ManifestV2, ManifestV2Entry } from './manifest.js';
import { type FilesResult, type FilesTask, RESTORE_BATCH_BYTES, type RestoreFileSpec, type RestoreRecord } from './restore-worker.js';

/**
 * Plaintext bytes of the files of one group (small files travel many to a worker task; a larger file alone). Smaller
 * than a large file's batch: a group's blobs are all open at once, and 2 MiB keeps the peak RSS of a restore of many
 * small files well under 300 MB for no measurable cost.
 */
const GROUP_BYTES = RESTORE_BATCH_BYTES / 2;
/** Files of one group at most. */
const GROUP_FILES = 512;

/** A blob that did not open (tampered, undecompressable) or that no readable pack holds. */
export interface BadBlob {
	/** The blob id, hex. */
	readonly id: string;
	/** The pack that holds it; none for a blob no readable pack holds. */
	readonly pack?: string;
	readonly code: string;
	readonly message: string;
}

/** A pack whose tail (sealed header, trailer) does not open: to restores, its blobs are missing. */
export interface BadPack {
	readonly name: string;
	readonly code: string;
	readonly message: string;
}

/** A selected file a salvage restore could not restore (the format 2 counterpart of `LostFile`). */
export interface RepositoryLostFile {
	readonly path: string;
	/** The CoreError code of its first bad blob; HASH_MISMATCH when every blob opened but its sha256 differs. */
	readonly code: string;
	/** Its bad blobs (ids, hex) in file order; for HASH_MISMATCH, every blob it uses. */
	readonly blobs: readonly string[];
	/** The packs those blobs lie in, in the same order, once each (a blob no readable pack holds adds none). */
	readonly packs: readonly string[];
}

/**
 * An archive ready to restore or check: the repository whose `packs/` folder holds the pack files (its keys open them),
 * the opened manifest and where each blob lies. A local repository gives it ({@link assembleFromRepository}); a
 * download from Discord builds it from the history index and a folder of fetched packs.
 */
export interface OpenedRepositoryArchive {
	readonly repo: LocalRepository;
	readonly manifest: ManifestV2;
	readonly index: ReadonlyMap<string, BlobLocation>;
	/** Packs whose tail does not open (their blobs are missing); none when the index comes from elsewhere. */
	readonly badPacks: readonly BadPack[];
}

/** Opens an existing local repository and picks an archive (the newest by default); packs whose tail is bad are set apart. */
async function openArchive(
	repoDir: string,
	passphrase: string | undefined,
	archiveId: string | undefined,
	signal?: AbortSignal
): Promise<OpenedRepositoryArchive> {
	const repo = await openRepository(repoDir, passphrase, signal ? { signal } : {});
	const archives = await listArchives(repo);
	const id = archiveId === undefined ? archives.at(-1) : requireArchiveId(archiveId).id;
	if (id === undefined) throw new CoreError(CoreErrorCode.NotFound, `${repo.root} holds no archive yet.`, { file: repo.root });
	const manifest = await readManifest(repo, id);
	const badPacks: BadPack[] = [];
	const index = await loadBlobIndex(repo, (name, error) => {
		badPacks.push({
			name,
			code: isCoreError(error) ? error.code : CoreErrorCode.BadFormat,
			message: error instanceof Error ? error.message : String(error)
		});
	});
	return { repo, manifest, index, badPacks };
}

/** How a blob no readable pack holds is described: a pack whose tail does not open may be where it was. */
function missingMessage(id: string, badPacks: readonly BadPack[]): string {
	const unreadable =
		badPacks.length === 0
			? ''
			: ` (unreadable pack${badPacks.length === 1 ? '' : 's'}: ${badPacks
					.slice(0, 3)
					.map((pack) => pack.name)
					.join(', ')}${badPacks.length > 3 ? ` and ${badPacks.length - 3} more` : ''})`;
	return `Blob ${id.slice(0, 16)}… is in no readable pack of the repository${unreadable}.`;
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
	badPacks: readonly BadPack[],
	group: readonly ManifestV2Entry[]
): { packs: string[]; records: RestoreRecord[]; blobs: number[][]; missing: BadBlob[] } {
	const packs: string[] = [];
	const packIndex = new Map<string, number>();
	const records: RestoreRecord[] = [];
	const recordIndex = new Map<string, number>();
	const missing: BadBlob[] = [];
	const blobs = group.map((file) =>
		(file.blobs ?? []).map((id) => {
			let at = recordIndex.get(id);
			if (at !== undefined) return at;
			const where = index.get(id);
			if (where === undefined) {
				if (!missing.some((failure) => failure.id === id))
					missing.push({ id, code: CoreErrorCode.MissingChunk, message: missingMessage(id, badPacks) });
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
function blobFailures(result: FilesResult, records: readonly RestoreRecord[], index: ReadonlyMap<string, BlobLocation>): BadBlob[] {
	return result.failed.map((failure): BadBlob => {
		const id = records[failure.index]!.id;
		const pack = index.get(id)?.pack;
		return { id, ...(pack === undefined ? {} : { pack }), code: failure.code, message: failure.message };
	});
}

/**
 * The files of a group that a task could not restore or check: those with a bad blob (its code the first bad one's)
 * and those whose sha256 differs (`mismatched`, positions in the group), in group order.
 */
function lostInGroup(
	group: readonly ManifestV2Entry[],
	failures: readonly BadBlob[],
	mismatched: readonly number[],
	index: ReadonlyMap<string, BlobLocation>
): RepositoryLostFile[] {
	const failed = new Map(failures.map((failure) => [failure.id, failure]));
	const differs = new Set(mismatched);
	const packsOf = (blobs: readonly string[]) => [
		...new Set(blobs.map((id) => index.get(id)?.pack).filter((pack): pack is string => pack !== undefined))
	];
	const lost: RepositoryLostFile[] = [];
	for (const [position, file] of group.entries()) {
		const blobs = [...new Set(file.blobs ?? [])];
		const bad = blobs.filter((id) => failed.has(id));
		if (bad.length > 0) lost.push({ path: file.path, code: failed.get(bad[0]!)!.code, blobs: bad, packs: packsOf(bad) });
		else if (differs.has(position)) lost.push({ path: file.path, code: CoreErrorCode.HashMismatch, blobs, packs: packsOf(blobs) });
	}
	return lost;
}

/** Adds `failures` to `known` (by blob id, the first report kept). */
function noteBadBlobs(known: Map<string, BadBlob>, failures: readonly BadBlob[]): void {
	for (const failure of failures) if (!known.has(failure.id)) known.set(failure.id, failure);
}

/** Lost files in archive order (groups finish in any order). */
function inArchiveOrder<T extends { readonly path: string }>(items: T[], files: readonly ManifestV2Entry[]): T[] {
	const order = new Map(files.map((file, position) => [file.path, position]));
	return items.sort((a, b) => order.get(a.path)! - order.get(b.path)!);
}

export interface AssembleFromRepositoryOptions {
	readonly repo: string;
	readonly archiveId?: string;
	readonly outDir: string;
	readonly passphrase: string | undefined;
	readonly pool: CryptoPool;
	/** Restore only these entries (files or folders, relative, `/`-separated) and the folders above them; all by default. */
	readonly paths?: readonly string[];
	readonly overwrite?: boolean;
	/**
	 * Salvage what can be salvaged: a blob that no readable pack holds, or that does not open (TAMPERED_CHUNK, a codec
	 * failure…), costs only the selected files that use it, and a file whose own sha256 differs only itself: they are
	 * never renamed into place (their temporary files removed) and listed in `lost`; every other file is restored.
	 * Other failures (WRONG_KEY, UNSAFE_PATH, FILE_EXISTS, DISK_FULL, ABORTED…) still stop at once. Off by default.
	 */
	readonly salvage?: boolean;
	readonly signal?: AbortSignal;
	readonly onProgress?: ProgressListener;
}

export interface AssembleFromRepositoryResult {
	readonly outDir: string;
	readonly archiveId: string;
	/** Files restored (lost ones left out), folders and symlinks made, bytes of the files restored. */
	readonly files: number;
	readonly directories: number;
	readonly symlinks: number;
	readonly bytes: number;
	/** Distinct blobs the selected files use. */
	readonly blobs: number;
	readonly skipped: readonly SkippedEntry[];
	/** Selected files not restored (salvage only; empty otherwise), in archive order. */
	readonly lost: readonly RepositoryLostFile[];
	/** Salvage only: the blobs that were missing or did not open, by id. */
	readonly badBlobs?: readonly BadBlob[];
	/** Packs whose tail does not open (their blobs are missing to the restore), whether or not the selection needed them. */
	readonly badPacks: readonly BadPack[];
}

function blobError(failures: readonly BadBlob[], files: readonly ManifestV2Entry[]): CoreError {
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
 * Restores an archive of a local repository (the newest by default), or selected paths of it, into a folder, with
 * the safety rules of format 1: never writes outside the folder (no symlink followed, O_EXCL | O_NOFOLLOW temporary
 * names, symlinks last and only when they resolve inside), each file renamed into place only once its sha256
 * matches. Files travel in groups: this thread makes and checks their folders; a worker reads the group's blobs from
 * the packs (only the blobs of the selected files), opens them and writes its files (a large file alone, a batch of
 * blobs at a time).
 *
 * @throws {CoreError} WRONG_KEY; INVALID_OPTION for a selected path no archive can hold and NOT_FOUND for one this
 * archive does not hold (both before anything is written); FILE_EXISTS; TAMPERED_CHUNK / MISSING_CHUNK naming the
 * pack and files; HASH_MISMATCH; UNSAFE_PATH; DISK_FULL; ABORTED. With `salvage`, the blob failures and a file's own
 * HASH_MISMATCH are not thrown but reported in `lost` and `badBlobs`.
 */
export async function assembleFromRepository(options: AssembleFromRepositoryOptions): Promise<AssembleFromRepositoryResult> {
	return assembleOpenedArchive(await openArchive(options.repo, options.passphrase, options.archiveId, options.signal), options);
}

/**
 * Restores an archive already opened (see {@link OpenedRepositoryArchive}), as {@link assembleFromRepository} does.
 *
 * @throws {CoreError} as {@link assembleFromRepository}.
 */
export async function assembleOpenedArchive(
	opened: OpenedRepositoryArchive,
	options: Omit<AssembleFromRepositoryOptions, 'repo' | 'archiveId' | 'passphrase'>
): Promise<AssembleFromRepositoryResult> {
	const { pool, signal } = options;
	const { repo, manifest, index, badPacks } = opened;
	const entries = selectEntries(manifest, options.paths);
	const overwrite = options.overwrite ?? false;
	const salvage = options.salvage === true;
	await mkdir(options.outDir, { recursive: true }).catch((error: unknown) => {
		throw fromFsError(error, options.outDir);
	});
	const root = await realpath(options.outDir);
	const tree = new RestoreTree(root);
	await preflight(tree, entries, overwrite);
	const files = entries.filter((entry) => entry.type === 'file');
	const directories = entries.filter((entry) => entry.type === 'directory');
	const symlinks = entries.filter((entry) => entry.type === 'symlink');
	const bytesTotal = files.reduce((sum, file) => sum + file.size, 0);
	let bytesDone = 0;
	let filesDone = 0;
	const blobs = new Set(files.flatMap((file) => file.blobs ?? []));
	const lost: RepositoryLostFile[] = [];
	const badBlobs = new Map<string, BadBlob>();
	const { stop, release } = stopFlag(signal);
	try {
		await forEachGroup(groupFiles(files), pool.workers + 1, signal, async (group) => {
			const plan = planGroup(repo, index, badPacks, group);
			if (plan.missing.length > 0 && !salvage) throw blobError(plan.missing, group);
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
			const result = await pool.restoreFiles({ ...filesTask(repo, plan, specs, stop, overwrite), ...(salvage ? { salvage } : {}) });
			const failures = [...plan.missing, ...blobFailures(result, plan.records, index)];
			if (failures.length > 0 && !salvage) throw blobError(failures, group);
			noteBadBlobs(badBlobs, failures);
			lost.push(...lostInGroup(group, failures, result.mismatched, index));
			for (const file of group) bytesDone += file.size;
			filesDone += group.length;
			options.onProgress?.({ phase: 'assemble', bytesDone, bytesTotal, chunksDone: filesDone, chunksTotal: files.length });
		});
	} finally {
		release();
	}
	const skipped = await finishRestoredTree(tree, manifest.entries, directories, symlinks, overwrite, signal);
	const lostPaths = new Set(lost.map((file) => file.path));
	return {
		outDir: root,
		archiveId: manifest.id,
		files: files.length - lost.length,
		directories: directories.length,
		symlinks: symlinks.length - skipped.length,
		bytes: files.reduce((sum, file) => sum + (lostPaths.has(file.path) ? 0 : file.size), 0),
		blobs: blobs.size,
		skipped,
		lost: inArchiveOrder(lost, files),
		...(salvage ? { badBlobs: [...badBlobs.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) } : {}),
		badPacks
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
	/** Blobs that did not open (tampered, missing), with the pack and the files they hold part of (archive order). */
	readonly badBlobs: readonly (BadBlob & { readonly paths: readonly string[] })[];
	/**
	 * Every damaged file, in archive order, as format 1's check lists them: unverifiable through a bad blob (the code
	 * of its first bad blob) or HASH_MISMATCH when its blobs opened but its sha256 differs.
	 */
	readonly badFiles: readonly FileProblem[];
	/** Packs whose tail does not open: their blobs are missing to this archive if it uses any. */
	readonly badPacks: readonly BadPack[];
}

/**
 * Checks an archive of a local repository (the newest by default) without writing anything: every blob it
 * references is authenticated and its id checked, every file's sha256 recomputed (in the workers, a group of files
 * per task). Names every bad blob and every file it damages, not only the first.
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
	return verifyOpenedArchive(await openArchive(options.repo, options.passphrase, options.archiveId, options.signal), options);
}

/**
 * Checks an archive already opened (see {@link OpenedRepositoryArchive}), as {@link verifyRepository} does.
 *
 * @throws {CoreError} ABORTED.
 */
export async function verifyOpenedArchive(
	opened: OpenedRepositoryArchive,
	options: { readonly pool: CryptoPool; readonly signal?: AbortSignal; readonly onProgress?: ProgressListener }
): Promise<VerifyRepositoryResult> {
	const { pool, signal } = options;
	const { repo, manifest, index, badPacks } = opened;
	const files = manifest.entries.filter((entry) => entry.type === 'file');
	const bytesTotal = files.reduce((sum, file) => sum + file.size, 0);
	const badBlobs = new Map<string, BadBlob>();
	const badFiles: RepositoryLostFile[] = [];
	let bytesDone = 0;
	let filesDone = 0;
	const { stop, release } = stopFlag(signal);
	try {
		await forEachGroup(groupFiles(files), pool.workers + 1, signal, async (group) => {
			throwIfAborted(signal);
			const plan = planGroup(repo, index, badPacks, group);
			const specs = group.map((file, position): RestoreFileSpec => ({ path: file.path, blobs: plan.blobs[position]!, sha256: file.sha256! }));
			const result = await pool.verifyFiles(filesTask(repo, plan, specs, stop, false));
			const failures = [...plan.missing, ...blobFailures(result, plan.records, index)];
			noteBadBlobs(badBlobs, failures);
			badFiles.push(...lostInGroup(group, failures, result.mismatched, index));
			for (const file of group) bytesDone += file.size;
			filesDone += group.length;
			options.onProgress?.({ phase: 'verify', bytesDone, bytesTotal, chunksDone: filesDone, chunksTotal: files.length });
		});
	} finally {
		release();
	}
	const holders = new Map<string, string[]>();
	for (const file of files)
		for (const id of new Set(file.blobs ?? [])) {
			if (!badBlobs.has(id)) continue;
			const paths = holders.get(id);
			if (paths === undefined) holders.set(id, [file.path]);
			else paths.push(file.path);
		}
	return {
		archiveId: manifest.id,
		ok: badBlobs.size === 0 && badFiles.length === 0,
		files: files.length,
		bytes: bytesTotal,
		blobs: new Set(files.flatMap((file) => file.blobs ?? [])).size,
		badBlobs: [...badBlobs.values()].map((blob) => ({ ...blob, paths: holders.get(blob.id) ?? [] })),
		badFiles: inArchiveOrder(badFiles, files).map((file): FileProblem => ({
			path: file.path,
			code: file.code,
			message:
				file.code === CoreErrorCode.HashMismatch && !file.blobs.some((id) => badBlobs.has(id))
					? `${file.path} does not match its recorded sha256.`
					: `${file.path} is unverifiable: blob ${file.blobs[0]!.slice(0, 16)}…${file.packs.length > 0 ? ` (pack ${file.packs[0]})` : ''} is bad.`
		})),
		badPacks
	};
}

/** What {@link checkPackBlobs} found in one pack. */
export interface PackBlobsCheck {
	/** Blobs checked, and their plaintext bytes. */
	readonly blobs: number;
	readonly bytes: number;
	/** Those that did not open, or whose id is not their plaintext's (tampered, moved, missing bytes). */
	readonly badBlobs: readonly BadBlob[];
}

/**
 * Checks every given blob of one pack of `repo` (a local repository, or a staging folder laid out as one): each is
 * read at its recorded place, authenticated (AES-GCM with its id, codec and length in the AAD), inflated and its id
 * recomputed, in a worker, a batch at a time; nothing is written. A repository check runs it once per pack.
 *
 * @throws {CoreError} ABORTED.
 */
export async function checkPackBlobs(
	repo: LocalRepository,
	pack: string,
	blobs: readonly (Omit<BlobLocation, 'pack'> & { readonly id: string })[],
	options: { readonly pool: CryptoPool; readonly signal?: AbortSignal }
): Promise<PackBlobsCheck> {
	const records = blobs.map((blob): RestoreRecord => ({ ...blob, pack: 0 }));
	const { stop, release } = stopFlag(options.signal);
	try {
		throwIfAborted(options.signal);
		const result = await options.pool.verifyFiles({
			blobKey: repo.keys.blobSeal,
			idKey: repo.keys.blobId,
			packs: [packPath(repo, pack)],
			records,
			files: [],
			stop
		});
		throwIfAborted(options.signal);
		return {
			blobs: records.length,
			bytes: records.reduce((sum, record) => sum + record.rawLength, 0),
			badBlobs: result.failed.map((failure): BadBlob => ({
				id: records[failure.index]!.id,
				pack,
				code: failure.code,
				message: failure.message
			}))
		};
	} finally {
		release();
	}
}
