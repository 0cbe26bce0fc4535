import { mkdir, open, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted } from './abort.js';
import { assemble, type AssembleResult, type ChunkSource } from './assemble.js';
import { CONTAINER_OVERHEAD, decodeChunkHeader, HEADER_SIZE } from './container.js';
import { CoreError, CoreErrorCode, fromFsError, isCoreError } from './errors.js';
import { sha256Hex } from './hash.js';
import { type ArchiveKey, deriveArchiveKey } from './keys.js';
import { buildManifest, type Manifest, newArchiveUid, type OpenedManifest, openManifest, sealManifest } from './manifest.js';
import { formatArchiveId, OFFLINE_LOT } from './archive-id.js';
import { NAME_HASH_LENGTH, parseStagedName } from './names.js';
import { assertOutsideSource } from './paths.js';
import { DEFAULT_ATTACHMENT_LIMIT, planArchive } from './plan.js';
import type { CryptoPool } from './pool.js';
import type { ProgressListener } from './progress.js';
import { type ChunkRecord, sliceArchive, toChunkRecord } from './slice.js';
import { mapOrdered } from './pipeline.js';
import { type ChunkProblem, verifyArchive, type VerifyReport } from './verify.js';
import { type SkippedSource, walk } from './walk.js';

/**
 * A staged archive folder is what `dos slice --out <dir>` writes and `dos assemble <dir>` reads: the sealed chunks
 * and manifest parts as files with opaque names (`241126-07.c000042.3fa9c0d1e2b4.bin`,
 * `241126-07.m000.9c1d2e3f4a5b.bin`).
 */

/** Options of {@link stageArchive}. */
export interface StageArchiveOptions {
	/** The folder to archive. */
	readonly source: string;
	/** The staged archive folder to write: created if missing, must be empty. */
	readonly outDir: string;
	readonly passphrase: string | undefined;
	readonly pool: CryptoPool;
	/** `#DDMMYY-NN`; default today with lot {@link OFFLINE_LOT} (01). */
	readonly archiveId?: string;
	readonly label?: string;
	readonly chunkSize?: number;
	readonly gzipLevel?: number;
	readonly attachmentLimit?: number;
	/** PBKDF2 iterations; default 600,000 (tests use fewer). */
	readonly kdfIterations?: number;
	readonly tool?: string;
	readonly signal?: AbortSignal;
	readonly onProgress?: ProgressListener;
}

/** What {@link stageArchive} wrote. */
export interface StagedArchive {
	readonly outDir: string;
	readonly archiveId: string;
	readonly manifest: Manifest;
	readonly chunkFiles: readonly string[];
	readonly manifestFiles: readonly string[];
	/** Entries of the source that the archive does not hold (sockets, unsafe names…). */
	readonly skipped: readonly SkippedSource[];
}

/**
 * Slices a folder into a staged archive folder: walk, plan, one PBKDF2, seal every chunk in the pool, write each as
 * it comes (bounded memory), then seal and write the manifest.
 *
 * @throws {CoreError} NO_KEY; NOT_FOUND for a missing source; INVALID_OPTION when the output folder is inside the
 * source; FILE_EXISTS when the output folder is not empty; SOURCE_CHANGED; CHUNK_TOO_LARGE; DISK_FULL; ABORTED.
 */
export async function stageArchive(options: StageArchiveOptions): Promise<StagedArchive> {
	const { signal } = options;
	const archiveId = options.archiveId ?? formatArchiveId(new Date(), OFFLINE_LOT);
	const walked = await walk(options.source, signal ? { signal } : {});
	const plan = planArchive(walked, { chunkSize: options.chunkSize, attachmentLimit: options.attachmentLimit ?? DEFAULT_ATTACHMENT_LIMIT });
	const outDir = await prepareEmptyFolder(options.outDir, walked.root);
	const key = await deriveArchiveKey(options.passphrase ?? '', {
		...(options.kdfIterations ? { iterations: options.kdfIterations } : {}),
		...(signal ? { signal } : {})
	});
	const uid = newArchiveUid();
	const slicing = sliceArchive({
		root: walked.root,
		plan,
		key,
		uid,
		archiveId,
		pool: options.pool,
		// Each chunk is written before the next is asked for, and only its record is kept.
		recycleSealed: true,
		...(options.gzipLevel === undefined ? {} : { gzipLevel: options.gzipLevel }),
		...(options.attachmentLimit === undefined ? {} : { attachmentLimit: options.attachmentLimit }),
		...(signal ? { signal } : {}),
		...(options.onProgress ? { onProgress: options.onProgress } : {})
	});
	const records: ChunkRecord[] = [];
	const chunkFiles: string[] = [];
	for await (const chunk of slicing) {
		await writeAtomically(path.join(outDir, chunk.filename), chunk.bytes);
		records.push(toChunkRecord(chunk));
		chunkFiles.push(chunk.filename);
	}
	const manifest = buildManifest({
		plan,
		uid,
		archiveId,
		...(options.label === undefined ? {} : { label: options.label }),
		tool: options.tool ?? 'discord-object-store',
		key,
		...(options.gzipLevel === undefined ? {} : { gzipLevel: options.gzipLevel }),
		chunks: records,
		fileHashes: slicing.fileHashes
	});
	const parts = await sealManifest(manifest, key, {
		...(options.gzipLevel === undefined ? {} : { gzipLevel: options.gzipLevel }),
		...(signal ? { signal } : {})
	});
	for (const part of parts) await writeAtomically(path.join(outDir, part.filename), part.bytes);
	return { outDir, archiveId: manifest.id, manifest, chunkFiles, manifestFiles: parts.map((part) => part.filename), skipped: walked.skipped };
}

/** A file of a staged folder. */
export interface StagedFile {
	readonly file: string;
	readonly name: string;
	/** The short hash in the name (hex), when the name follows the pattern. */
	readonly nameHash?: string;
}

/** What a staged folder holds. */
export interface StagedFolder {
	readonly dir: string;
	/** `#DDMMYY-NN`, from the names. */
	readonly archiveId: string | undefined;
	readonly manifestParts: readonly StagedFile[];
	/** Data chunk files by index (several when the folder holds stray copies). */
	readonly chunks: ReadonlyMap<number, readonly StagedFile[]>;
}

/**
 * Lists a staged folder: data chunks and manifest parts by their names, and as manifest parts also any other file
 * whose header says "manifest" (renamed files still work).
 *
 * @throws {CoreError} NOT_FOUND when the folder cannot be read; BAD_FORMAT when it holds several archives' manifests.
 */
export async function readStagedFolder(dir: string): Promise<StagedFolder> {
	let names: string[];
	try {
		names = (await readdir(dir, { withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => entry.name);
	} catch (error) {
		throw new CoreError(CoreErrorCode.NotFound, `${dir} is not a folder that can be read. Check the path.`, { file: dir }, { cause: error });
	}
	names.sort();
	const ids = new Set<string>();
	const manifestParts: StagedFile[] = [];
	const chunks = new Map<number, StagedFile[]>();
	const unnamed: string[] = [];
	for (const name of names) {
		const parsed = parseStagedName(name);
		const file = path.join(dir, name);
		if (parsed === undefined) {
			unnamed.push(name);
			continue;
		}
		const staged = { file, name, nameHash: parsed.hash };
		if (parsed.kind === 'manifest') {
			ids.add(parsed.archiveId);
			manifestParts.push(staged);
		} else {
			chunks.set(parsed.index, [...(chunks.get(parsed.index) ?? []), staged]);
		}
	}
	// Renamed parts still count: any other file whose header says "manifest".
	for (const name of unnamed) {
		const head = await readHead(path.join(dir, name));
		if (head === undefined) continue;
		try {
			if (decodeChunkHeader(head).kind === 'manifest') manifestParts.push({ file: path.join(dir, name), name });
		} catch {
			// Not one of ours: other files may sit beside the archive.
		}
	}
	if (ids.size > 1) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`${dir} holds the manifests of several archives (${[...ids].join(', ')}). Put each archive in its own folder.`,
			{
				file: dir
			}
		);
	}
	return { dir, archiveId: [...ids][0], manifestParts, chunks };
}

/**
 * Opens the manifest of a staged folder (one PBKDF2). Parts whose name hash matches their bytes count as intact, so a
 * failing tag on them means a wrong key.
 *
 * @throws {CoreError} as `openManifest`; MISSING_CHUNK when the folder holds no manifest.
 */
export async function openStagedManifest(
	folder: StagedFolder,
	passphrase: string | undefined,
	options: { key?: ArchiveKey; signal?: AbortSignal } = {}
): Promise<OpenedManifest> {
	if (folder.manifestParts.length === 0) {
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			`${folder.dir} holds no manifest part (*.m000.*.bin). The archive is incomplete or this is not a staged archive folder.`,
			{ file: folder.dir }
		);
	}
	const parts = await Promise.all(
		folder.manifestParts.map(async (part) => {
			const bytes = await readStagedFile(part.file, MAX_STAGED_FILE_BYTES);
			const intact = part.nameHash !== undefined && sha256Hex(bytes).startsWith(part.nameHash);
			if (part.nameHash !== undefined && !intact) {
				throw new CoreError(
					CoreErrorCode.TamperedChunk,
					`Manifest part ${part.name} does not match the hash in its name: it was changed or damaged.`,
					{ file: part.file }
				);
			}
			return { bytes, intact, label: part.name };
		})
	);
	return openManifest(parts, passphrase, options);
}

/**
 * A chunk source over a staged folder. With the manifest, a stray copy whose name hash differs from the record is
 * passed over for one that matches.
 */
export function stagedChunkSource(folder: StagedFolder, manifest?: Manifest): ChunkSource {
	return async (index) => {
		const candidates = folder.chunks.get(index) ?? [];
		const wanted = manifest?.chunks[index]?.sha256.slice(0, NAME_HASH_LENGTH);
		const chosen = candidates.find((candidate) => wanted === undefined || candidate.nameHash === wanted) ?? candidates[0];
		if (chosen === undefined) {
			throw new CoreError(
				CoreErrorCode.MissingChunk,
				`Chunk ${index + 1} is missing from ${folder.dir}. Fetch it again (its name starts with the archive id and .c${String(index).padStart(6, '0')}).`,
				{
					chunks: [index],
					file: folder.dir
				}
			);
		}
		try {
			const recorded = manifest?.chunks[index]?.storedSize;
			return await readStagedFile(chosen.file, recorded ?? MAX_STAGED_FILE_BYTES);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
				throw new CoreError(CoreErrorCode.MissingChunk, `Chunk ${index + 1} (${chosen.name}) vanished from ${folder.dir}.`, {
					chunks: [index],
					file: chosen.file
				});
			}
			throw fromFsError(error, chosen.file);
		}
	};
}

/** Options of {@link assembleStagedFolder}. */
export interface AssembleStagedOptions {
	readonly passphrase: string | undefined;
	readonly pool: CryptoPool;
	readonly paths?: readonly string[];
	readonly overwrite?: boolean;
	/** Restore every file a missing or damaged chunk does not touch (see `AssembleOptions.salvage`). */
	readonly salvage?: boolean;
	readonly signal?: AbortSignal;
	readonly onProgress?: ProgressListener;
}

/**
 * Restores a staged archive folder into `outDir` (see `assemble`): one PBKDF2 in all.
 *
 * @throws {CoreError} as `openStagedManifest` and `assemble`.
 */
export async function assembleStagedFolder(
	dir: string,
	outDir: string,
	options: AssembleStagedOptions
): Promise<AssembleResult & { manifest: Manifest }> {
	const folder = await readStagedFolder(dir);
	const { manifest, key } = await openStagedManifest(folder, options.passphrase, options.signal ? { signal: options.signal } : {});
	const result = await assemble({
		manifest,
		key,
		source: stagedChunkSource(folder, manifest),
		outDir,
		pool: options.pool,
		...(options.paths ? { paths: options.paths } : {}),
		...(options.overwrite === undefined ? {} : { overwrite: options.overwrite }),
		...(options.salvage === undefined ? {} : { salvage: options.salvage }),
		...(options.signal ? { signal: options.signal } : {}),
		...(options.onProgress ? { onProgress: options.onProgress } : {})
	});
	return { ...result, manifest };
}

/** A staged folder's verification, with problems of the manifest parts apart. */
export interface StagedVerifyReport extends VerifyReport {
	readonly archiveId: string | undefined;
	readonly badManifestParts: readonly { readonly name: string; readonly code: string; readonly message: string }[];
	/**
	 * What this check could not establish, in words (empty when it established everything): without the key the number
	 * of chunks is unknown, so chunks deleted after the last one present cannot be seen.
	 */
	readonly limits: readonly string[];
}

/**
 * Verifies a staged folder. Without a passphrase: every file's bytes against the hash in its name, every header
 * (kind, index, one archive), and gaps in the chunk numbers. With one: the manifest is opened and every chunk is
 * checked against it, authenticated and decompressed, and every file hashed; nothing is written.
 *
 * @throws {CoreError} NOT_FOUND; WRONG_KEY / MISSING_CHUNK / BAD_FORMAT when the manifest cannot be opened; ABORTED.
 */
export async function verifyStagedFolder(
	dir: string,
	options: { passphrase?: string; pool: CryptoPool; signal?: AbortSignal; onProgress?: ProgressListener }
): Promise<StagedVerifyReport> {
	const folder = await readStagedFolder(dir);
	const common = {
		pool: options.pool,
		...(options.signal ? { signal: options.signal } : {}),
		...(options.onProgress ? { onProgress: options.onProgress } : {})
	};
	if (options.passphrase) {
		const { manifest, key } = await openStagedManifest(folder, options.passphrase, options.signal ? { signal: options.signal } : {});
		const report = await verifyArchive({ ...common, manifest, key, source: stagedChunkSource(folder, manifest) });
		return { ...report, archiveId: manifest.id, badManifestParts: [], limits: [] };
	}
	const badManifestParts: StagedVerifyReport['badManifestParts'][number][] = [];
	for (const part of folder.manifestParts) {
		const bytes = await readStagedFile(part.file, MAX_STAGED_FILE_BYTES);
		if (part.nameHash !== undefined && !sha256Hex(bytes).startsWith(part.nameHash)) {
			badManifestParts.push({
				name: part.name,
				code: CoreErrorCode.TamperedChunk,
				message: `${part.name} does not match the hash in its name.`
			});
		}
	}
	if (folder.manifestParts.length === 0)
		badManifestParts.push({ name: '(none)', code: CoreErrorCode.MissingChunk, message: 'No manifest part was found.' });
	const indexes = [...folder.chunks.keys()].sort((a, b) => a - b);
	const badChunks: ChunkProblem[] = [];
	const uids = new Set<string>();
	// The indexes come from file names, unauthenticated: gaps are walked from one present index to the next, and only
	// the first few are named, so a name claiming chunk 4,000,000,000 costs nothing.
	let gaps = 0;
	let previous = -1;
	for (const index of indexes) {
		for (let missing = previous + 1; missing < index && gaps < MAX_NAMED_GAPS; missing++, gaps++) {
			badChunks.push({ index: missing, code: CoreErrorCode.MissingChunk, message: `Chunk ${missing + 1} is missing.` });
		}
		if (gaps >= MAX_NAMED_GAPS) {
			const unnamed = indexes.reduce((sum, present, at) => sum + (present - (at === 0 ? -1 : indexes[at - 1]!) - 1), 0) - gaps;
			if (unnamed > 0) {
				badChunks.push({
					index: -1,
					code: CoreErrorCode.MissingChunk,
					message: `${unnamed} more chunk(s) below chunk ${indexes.at(-1)! + 1} are missing (the first ${MAX_NAMED_GAPS} are named).`
				});
			}
			break;
		}
		previous = index;
	}
	// Without the manifest, the name is the record: its short hash; and the header must agree with the index.
	const checks = mapOrdered(indexes, options.pool.workers + 1, async (index): Promise<ChunkProblem | undefined> => {
		const file = folder.chunks.get(index)![0]!;
		try {
			const bytes = await readStagedFile(file.file, MAX_STAGED_FILE_BYTES);
			const header = decodeChunkHeader(bytes, file.name);
			const { plainSha256: digest } = await options.pool.hash(bytes, options.signal);
			if (!digest.startsWith(file.nameHash!))
				return {
					index,
					code: CoreErrorCode.TamperedChunk,
					message: `Chunk ${index + 1} (${file.name}) does not match the hash in its name.`
				};
			if (header.kind !== 'data' || header.index !== index) {
				return {
					index,
					code: CoreErrorCode.MisplacedChunk,
					message: `${file.name} holds ${header.kind} ${header.index + 1}, not chunk ${index + 1}.`
				};
			}
			uids.add(header.uid.toString('hex'));
			return undefined;
		} catch (error) {
			throwIfAborted(options.signal);
			if (isCoreError(error)) return { index, code: error.code, message: error.message };
			throw fromFsError(error, file.file);
		}
	});
	let chunksDone = 0;
	for await (const { result } of checks) {
		if (result) badChunks.push(result);
		options.onProgress?.({ phase: 'verify', bytesDone: 0, bytesTotal: 0, chunksDone: ++chunksDone, chunksTotal: indexes.length });
	}
	if (uids.size > 1)
		badChunks.push({ index: -1, code: CoreErrorCode.MisplacedChunk, message: `The chunks belong to ${uids.size} different archives.` });
	badChunks.sort((a, b) => a.index - b.index);
	return {
		ok: badChunks.length === 0 && badManifestParts.length === 0,
		chunksChecked: indexes.length,
		filesChecked: 0,
		authenticated: false,
		badChunks,
		badFiles: [],
		archiveId: folder.archiveId,
		badManifestParts,
		limits: [
			`Without USER_KEY the manifest stays closed, so the number of chunks is unknown: a chunk deleted after ${
				indexes.length === 0 ? 'the first' : `chunk ${indexes.at(-1)! + 1} (numbered from 1)`
			} cannot be detected. Set USER_KEY to check the folder against its manifest.`
		]
	};
}

/** How many missing chunk numbers a verify without the key names one by one before it sums up the rest. */
const MAX_NAMED_GAPS = 1000;

/** The largest file a staged folder can hold: a container of the largest attachment the configuration allows (1 GiB). */
const MAX_STAGED_FILE_BYTES = 1024 * 1024 * 1024;

/**
 * Reads a staged file that can be at most `maxBytes` long (its recorded size, or the largest container), checking its
 * size first: a file put in a chunk's place is never read into memory past what the chunk can be.
 *
 * @throws {CoreError} TAMPERED_CHUNK when it is larger; ENOENT and other file system errors as they come.
 */
async function readStagedFile(file: string, maxBytes: number): Promise<Buffer> {
	const info = await stat(file);
	if (info.size > maxBytes) {
		throw new CoreError(
			CoreErrorCode.TamperedChunk,
			`${path.basename(file)} is ${info.size} bytes, more than the ${maxBytes} it can be: it is not the file this archive stored. Fetch it again.`,
			{ file }
		);
	}
	return readFile(file);
}

async function readHead(file: string): Promise<Buffer | undefined> {
	const info = await stat(file).catch(() => undefined);
	if (info === undefined || info.size < CONTAINER_OVERHEAD) return undefined;
	const handle = await open(file, 'r');
	try {
		const head = Buffer.alloc(HEADER_SIZE);
		await handle.read(head, 0, HEADER_SIZE, 0);
		return Buffer.concat([head, Buffer.alloc(CONTAINER_OVERHEAD - HEADER_SIZE)]);
	} finally {
		await handle.close();
	}
}

async function prepareEmptyFolder(dir: string, sourceRoot: string): Promise<string> {
	await assertOutsideSource(sourceRoot, dir, 'The output folder');
	await mkdir(dir, { recursive: true }).catch((error: unknown) => {
		throw fromFsError(error, dir);
	});
	const real = await realpath(dir);
	if ((await readdir(real)).length > 0) {
		throw new CoreError(CoreErrorCode.FileExists, `The output folder ${dir} is not empty. Choose a new or empty folder.`, { file: dir });
	}
	return real;
}

async function writeAtomically(file: string, bytes: Uint8Array): Promise<void> {
	const temp = `${file}.partial`;
	try {
		await writeFile(temp, bytes, { flag: 'wx' });
		await rename(temp, file);
	} catch (error) {
		await rm(temp, { force: true }).catch(() => undefined);
		throw fromFsError(error, file);
	}
}
