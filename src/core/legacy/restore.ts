import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, link, lstat, mkdir, open, realpath, rename, statfs, unlink } from 'node:fs/promises';
import path from 'node:path';
import { CoreError, CoreErrorCode, fromFsError } from '../errors.js';
import { throwIfAborted } from '../abort.js';
import { LEGACY_MAX_CHUNK_BYTES } from './chunk.js';
import { type LegacyFileEntry, type LegacyManifest, readLegacyManifestFile } from './manifest.js';
import {
	type LegacyReadOptions,
	type LegacyReadContext,
	absenceError,
	assertPlausibleSize,
	classifyTagFailure,
	isTagFailure,
	locateLegacyChunks,
	mapInOrder,
	noKeyError,
	openChunkOfArchive,
	sizeError,
	streamBlobFile
} from './reader.js';

/** Options of {@link restoreLegacyFolder}: a file is kept only if it matches `expectedSha256`, when given. */
export interface RestoreLegacyOptions extends LegacyReadOptions {
	/** Names of the files to restore (as in the manifest); only their chunks are read. All files when absent. */
	readonly paths?: readonly string[];
	/** Replace files that already exist in the output folder. Off by default: an existing file is an error. */
	readonly overwrite?: boolean;
}

/** One restored file. */
export interface LegacyRestoredFile {
	readonly name: string;
	/** Where it was written. */
	readonly path: string;
	readonly size: number;
	/** sha256 of its contents, hex. */
	readonly sha256: string;
}

/** What {@link restoreLegacyFolder} did. */
export interface LegacyRestoreResult {
	readonly manifest: LegacyManifest;
	/** The manifest's file name in the archive folder. */
	readonly manifestFile: string;
	readonly files: readonly LegacyRestoredFile[];
	/** Chunks read (and, for encrypted archives, decrypted). */
	readonly chunksRead: number;
	/** Stored bytes of those chunks. */
	readonly storedBytes: number;
}

/** How many v3.1 chunks are opened ahead of the one being written (each costs a PBKDF2 and ≤ 10 MiB). */
const CHUNKS_AHEAD = 2;

/**
 * Restores the files of a legacy archive folder (`[Archive] #DDMMYY-NN` holding the chunks and the manifest
 * the original tool uploaded) into `outDir`, which is created if needed. Files land directly in `outDir` under
 * their own names.
 *
 * Streaming and safe: each chunk is checked against the hash in its name before any key work, decrypted and
 * inflated (v3.1: one chunk at a time, two derivations in flight); each file is written to a temporary name in
 * `outDir` and moved into place only when its size — and its sha256, when `expectedSha256` names it — is
 * right. Nothing is ever written outside `outDir`, an existing file is never replaced unless `overwrite` is
 * set, and a failure leaves no partial file behind: files finished before it stay (they are complete and
 * checked), the file being written is removed.
 *
 * Before any work, every needed chunk is located (all missing ones are named at once) and every target is
 * checked for an existing file.
 *
 * @throws {CoreError} NO_KEY (encrypted archive without a passphrase); NOT_FOUND (no manifest, or a name in
 * `paths` that the archive does not hold); MISSING_CHUNK; TAMPERED_CHUNK (hash, size, or a tag that fails
 * while the passphrase opens other chunks); WRONG_KEY (the passphrase opens nothing); FILE_EXISTS;
 * HASH_MISMATCH; BAD_FORMAT, UNSUPPORTED_VERSION, UNSAFE_PATH (manifest); DISK_FULL; ABORTED.
 */
export async function restoreLegacyFolder(dir: string, outDir: string, options: RestoreLegacyOptions = {}): Promise<LegacyRestoreResult> {
	const { signal } = options;
	throwIfAborted(signal);
	const { manifest, file: manifestFile } = await readLegacyManifestFile(dir, { file: options.manifestFile });
	if (manifest.encrypted && (options.passphrase === undefined || options.passphrase.length === 0)) throw noKeyError();
	const files = selectFiles(manifest, options.paths);

	const { sizes, absent } = await locateLegacyChunks(dir, files);
	if (absent.length > 0) throw absenceError(dir, absent);
	// A size the chunks cannot inflate to is a damaged archive, said before a byte is written, not a full disk later.
	for (const file of files) assertPlausibleSize(manifest, file, sizes);

	await mkdir(outDir, { recursive: true }).catch((error: unknown) => {
		throw fromFsError(error, outDir);
	});
	const root = await realpath(outDir);
	await assertTargetsFree(root, files, options.overwrite === true);
	await assertRoomFor(root, files);

	const chunksTotal = files.reduce((sum, file) => sum + file.chunks.length, 0);
	const bytesTotal = files.reduce((sum, file) => sum + file.chunks.reduce((total, chunk) => total + (sizes.get(chunk.name) ?? 0), 0), 0);
	let chunksDone = 0;
	let bytesDone = 0;
	let currentFile: string | undefined;
	const ctx: LegacyReadContext = {
		dir,
		manifest,
		passphrase: options.passphrase,
		signal,
		storedSizes: sizes,
		keyConfirmed: false,
		onChunkRead: (_chunk, stored) => {
			chunksDone++;
			bytesDone += stored;
			options.onProgress?.({ phase: 'assemble', bytesDone, bytesTotal, chunksDone, chunksTotal, file: currentFile });
		}
	};

	const restored: LegacyRestoredFile[] = [];
	const write = async (file: LegacyFileEntry, fill: (target: PartialFile) => Promise<void>) => {
		currentFile = file.name;
		restored.push(await writeFileAtomically(root, file, options, fill));
	};

	if (manifest.scope === 'chunk') {
		const jobs = files.flatMap((file) => file.chunks.map((chunk) => ({ file, chunk })));
		const opened = mapInOrder(jobs, CHUNKS_AHEAD, async ({ file, chunk }) =>
			openChunkOfArchive(ctx, chunk, Math.min(file.size, LEGACY_MAX_CHUNK_BYTES))
		);
		try {
			for (const file of files) {
				await write(file, async (target) => {
					for (const chunk of file.chunks) {
						// Failing tags are classified here, in order, so only the first one costs a probe.
						const next = await opened.next().catch(async (error: unknown) => {
							throw isTagFailure(error) ? await classifyTagFailure(ctx, error, file, chunk) : error;
						});
						if (next.done === true) throw new Error('The chunk pipeline ended early.');
						if (target.size + next.value.length > file.size) throw sizeError(file, `more than its ${file.size} bytes`);
						await target.append(next.value);
					}
					if (target.size !== file.size) throw sizeError(file, `${target.size} bytes`);
				});
			}
		} finally {
			await opened.return(undefined);
		}
	} else {
		for (const file of files) {
			await write(file, async (target) => {
				try {
					await streamBlobFile(ctx, file, (bytes) => target.append(bytes));
				} catch (error) {
					if (isTagFailure(error)) throw await classifyTagFailure(ctx, error, file);
					throw error;
				}
			});
		}
	}

	return { manifest, manifestFile, files: restored, chunksRead: chunksDone, storedBytes: bytesDone };
}

/** A file being written under a temporary name. */
interface PartialFile {
	readonly size: number;
	append(bytes: Buffer): Promise<void>;
}

function selectFiles(manifest: LegacyManifest, names: readonly string[] | undefined): LegacyFileEntry[] {
	if (names === undefined) return [...manifest.files];
	const wanted = new Set(names);
	const unknown = [...wanted].filter((name) => !manifest.files.some((file) => file.name === name));
	if (unknown.length > 0) {
		throw new CoreError(
			CoreErrorCode.NotFound,
			`This archive holds no file named ${unknown.map((name) => JSON.stringify(name)).join(', ')}. Its files are: ${manifest.files
				.slice(0, 20)
				.map((file) => JSON.stringify(file.name))
				.join(', ')}${manifest.files.length > 20 ? '…' : ''}.`,
			{ paths: unknown }
		);
	}
	return manifest.files.filter((file) => wanted.has(file.name));
}

/** Every file's target must be free (or replaceable, with `overwrite`), and never a directory. */
async function assertTargetsFree(root: string, files: readonly LegacyFileEntry[], overwrite: boolean): Promise<void> {
	const taken: string[] = [];
	for (const file of files) {
		const target = targetPath(root, file.name);
		try {
			const stats = await lstat(target);
			if (!overwrite || stats.isDirectory()) taken.push(file.name);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(error, target);
		}
	}
	if (taken.length > 0) {
		throw new CoreError(
			CoreErrorCode.FileExists,
			`${root} already holds ${taken.map((name) => JSON.stringify(name)).join(', ')}. Restore into an empty folder, or ask to overwrite (a folder is never replaced).`,
			{ paths: taken, file: path.join(root, taken[0]!) }
		);
	}
}

/** The target of a file: its name, a single safe segment (checked with the manifest), directly in `root`. */
function targetPath(root: string, name: string): string {
	const target = path.join(root, name);
	if (path.dirname(target) !== root) {
		throw new CoreError(CoreErrorCode.UnsafePath, `Refusing ${JSON.stringify(name)}: it would be written outside ${root}.`, { paths: [name] });
	}
	return target;
}

/**
 * Writes one file to a fresh temporary name in `root` (created exclusively, never through a symlink), lets
 * `fill` stream its contents, syncs it, checks size and expected hash, then moves it into place: `link` when
 * not overwriting (fails if the name was taken meanwhile), `rename` when overwriting. Any failure removes the
 * temporary file.
 */
async function writeFileAtomically(
	root: string,
	file: LegacyFileEntry,
	options: RestoreLegacyOptions,
	fill: (target: PartialFile) => Promise<void>
): Promise<LegacyRestoredFile> {
	const target = targetPath(root, file.name);
	const temporary = path.join(root, `.dos-legacy-${randomBytes(8).toString('hex')}.partial`);
	const hash = createHash('sha256');
	let handle: FileHandle | undefined;
	let size = 0;
	try {
		handle = await open(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o666).catch(
			(error: unknown) => {
				throw fromFsError(error, temporary);
			}
		);
		const output = handle;
		await fill({
			get size() {
				return size;
			},
			append: async (bytes) => {
				throwIfAborted(options.signal);
				hash.update(bytes);
				let offset = 0;
				while (offset < bytes.length) {
					const { bytesWritten } = await output.write(bytes, offset, bytes.length - offset).catch((error: unknown) => {
						throw fromFsError(error, target);
					});
					offset += bytesWritten;
				}
				size += bytes.length;
			}
		});
		if (size !== file.size) throw sizeError(file, `${size} bytes`);
		const sha256 = hash.digest('hex');
		const expected = options.expectedSha256?.[file.name];
		if (expected !== undefined && expected.toLowerCase() !== sha256) {
			throw new CoreError(
				CoreErrorCode.HashMismatch,
				`${JSON.stringify(file.name)} restores with sha256 ${sha256}, not the expected ${expected.toLowerCase()}. It was not kept; download the archive again, or report it.`,
				{ paths: [file.name] }
			);
		}
		await output.datasync().catch((error: unknown) => {
			throw fromFsError(error, target);
		});
		await output.close();
		handle = undefined;
		throwIfAborted(options.signal);
		await moveIntoPlace(temporary, target, file.name, options.overwrite === true);
		return { name: file.name, path: target, size, sha256 };
	} catch (error) {
		await handle?.close().catch(() => undefined);
		await unlink(temporary).catch(() => undefined);
		throw error;
	}
}

async function moveIntoPlace(temporary: string, target: string, name: string, overwrite: boolean): Promise<void> {
	if (overwrite) {
		const existing = await lstat(target).catch(() => undefined);
		if (existing?.isDirectory()) throw fileExists(target, name);
		await rename(temporary, target).catch((error: unknown) => {
			throw fromFsError(error, target);
		});
		return;
	}
	try {
		await link(temporary, target);
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		if (code === 'EEXIST') throw fileExists(target, name);
		// Some file systems (FAT, exFAT, some network mounts) have no hard links: check, then rename.
		if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EMLINK')
			throw fromFsError(error, target);
		if (
			await lstat(target).then(
				() => true,
				() => false
			)
		) {
			throw fileExists(target, name);
		}
		await rename(temporary, target).catch((renameError: unknown) => {
			throw fromFsError(renameError, target);
		});
		return;
	}
	await unlink(temporary);
}

/**
 * Refuses a restore the output folder's file system has no room for (the files' sizes, as the manifest says and the
 * chunks can hold), before anything is written. Where free space cannot be read, the writes themselves report it.
 *
 * @throws {CoreError} DISK_FULL.
 */
async function assertRoomFor(root: string, files: readonly LegacyFileEntry[]): Promise<void> {
	const needed = files.reduce((sum, file) => sum + file.size, 0);
	let free: number;
	try {
		const stats = await statfs(root);
		free = stats.bavail * stats.bsize;
	} catch {
		return;
	}
	if (needed > free) {
		throw new CoreError(
			CoreErrorCode.DiskFull,
			`Restoring these ${files.length} file(s) needs ${needed} bytes, but only ${free} are free where ${root} is. Free some space or restore into another folder, then retry.`,
			{ file: root }
		);
	}
}

function fileExists(target: string, name: string): CoreError {
	return new CoreError(
		CoreErrorCode.FileExists,
		`${target} already exists; it was left as it is. Restore into an empty folder, or ask to overwrite.`,
		{ paths: [name], file: target }
	);
}
