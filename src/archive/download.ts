import { mkdir, readFile, realpath, rm } from 'node:fs/promises';
import path from 'node:path';
import {
	assemble,
	type AssembleResult,
	assertPassphrase,
	selectionPath,
	chunksForPaths,
	CoreError,
	CoreErrorCode,
	fromFsError,
	legacyChunkHash,
	type LostFile,
	type ProgressEvent,
	NAME_HASH_LENGTH,
	parseStagedName,
	restoreLegacyFolder,
	sha256Hex,
	throwIfAborted
} from '../core/index.js';
import { type Archive, ArchiveFormat, ArchiveStatus, ChunkKind, type ChunkRecord } from '../db/index.js';
import { countOf } from './card.js';
import { fetchChunks, type WantedChunk } from './chunk-fetch.js';
import type { ArchiveContext, JobRun } from './context.js';
import { downloadRepositoryArchive } from './download-repository.js';
import { chunkFolderOf, newRestoreFolder, removeIfEmpty, restoreFolderName } from './download-folders.js';
import { ArchiveError, ArchiveErrorCode } from './errors.js';
import { listArchiveAttachments } from './legacy-messages.js';
import { withArchivePassphrases } from './repository-keys.js';
import { notDownloadable } from './lot-range.js';
import { fetchLegacyManifest, legacyManifestNotes, openArchiveManifest } from './thread-manifest.js';
import { type ThreadAttachment, threadRefOf } from './thread-reader.js';

/**
 * The read side's downloads (docs/design.md §4, Download): one archive, or selected paths of it, from its thread into
 * `[Archive] #DDMMYY-NN` under the download root, then restored into a new folder beside it. URLs are never
 * stored: the thread is paged right before downloading and the transport fetches fresh ones on 403/404/expiry.
 */

/** What to download. */
export interface DownloadRequest {
	/** The archive: `#241126-07`, `241126-07`, a lot number or the uid. */
	readonly archive: string;
	/** Restore only these entries (relative, `/`-separated; for legacy archives, file names); all when absent. */
	readonly paths?: readonly string[];
	/** Restore into an existing restore folder, replacing files there. Off: a new folder is always made. */
	readonly overwrite?: boolean;
	/** Keep the chunk folder after a clean restore (it is deleted by default). */
	readonly keepChunks?: boolean;
	/**
	 * Salvage (archives of ours; legacy archives restore as without it): a chunk that is missing from the thread,
	 * damaged on Discord or fails to open costs only the files with a byte in it; every other file is restored, and the
	 * result names the lost files and the bad chunks. The chunk folder is then kept, whatever `keepChunks` says.
	 */
	readonly salvage?: boolean;
}

/** What {@link downloadArchive} did. */
export interface DownloadResult {
	readonly archiveId: string;
	readonly lot: number;
	readonly format: ArchiveFormat;
	/** The chunk folder (`[Archive] #DDMMYY-NN` under the download root). */
	readonly chunkDir: string;
	/** Whether the chunk folder was deleted after the restore. */
	readonly chunkDirRemoved: boolean;
	/** The folder the files were restored into. */
	readonly restoredTo: string;
	readonly files: number;
	readonly bytes: number;
	/** Data chunks the restore needed. */
	readonly chunksNeeded: number;
	/** Chunks fetched from Discord in this run (manifest parts included). */
	readonly chunksFetched: number;
	/** Chunks already in the chunk folder with the right size and hash, not fetched again. */
	readonly chunksReused: number;
	/** Whether every selected file was restored: false only after a salvage that lost files. */
	readonly complete: boolean;
	/** Files a salvage could not restore (absent from `restoredTo`), in archive order; empty otherwise. */
	readonly lost: readonly LostFile[];
	/** Chunks a salvage found missing or damaged, ascending; empty otherwise. */
	readonly badChunks: readonly number[];
	/**
	 * What the person should know about this restore, in sentences; for the original tool's archives, that its format
	 * authenticates each chunk but not the file list, which manifest was read, and any other manifest in the thread.
	 */
	readonly notes?: readonly string[];
}

/**
 * Downloads one archive (or the chunks selected paths span) and restores it into a new folder under the download
 * root. The manifest is opened with the key first, so a wrong key fails before any data chunk is fetched. Chunks
 * already in the chunk folder with the recorded size and sha256 are not fetched again; every other chunk is checked
 * against its recorded size and sha256 as it arrives. Damaged or missing chunks are all named (index and message)
 * and nothing is restored then, unless `salvage` is asked: then every file they do not touch is restored, the result
 * says `complete: false` and names the lost files and bad chunks, and the chunk folder is kept. After a clean restore
 * the chunk folder is deleted (unless `keepChunks`).
 *
 * @throws {CoreError} NO_KEY; WRONG_KEY (at the manifest); TAMPERED_CHUNK / MISSING_CHUNK naming every bad chunk;
 * NOT_FOUND (archive deleted, or a path it does not hold); FILE_EXISTS; HASH_MISMATCH; INVALID_OPTION for a path no archive can hold; UNSAFE_PATH; DISK_FULL;
 * ABORTED. {@link IndexError} ARCHIVE_NOT_FOUND. TransportError when Discord stays unavailable.
 */
export async function downloadArchive(ctx: ArchiveContext, request: DownloadRequest, run: JobRun): Promise<DownloadResult> {
	const archive = ctx.index.archives.require(request.archive);
	assertPassphrase(ctx.settings.passphrase);
	// What the index knows cannot work (deleted, unfinished, a path it does not hold) is refused before anything is
	// made under the download root or fetched.
	assertDownloadable(ctx, archive, request.paths);
	if (archive.format === ArchiveFormat.Dos2) return downloadRepositoryArchive(ctx, archive, request, run);
	// No room for another restore folder: refused before anything is fetched (the manifest's label is the index's).
	if (archive.format === ArchiveFormat.Dos1) await restoreFolderName(ctx, archive, archive.label ?? '', request.overwrite === true);
	threadRefOf(archive);
	const chunkDir = chunkFolderOf(ctx, archive);
	await mkdir(chunkDir, { recursive: true }).catch((error: unknown) => {
		throw fromFsError(error, chunkDir);
	});
	let downloaded: Downloaded;
	try {
		const { listed } = await listArchiveAttachments(ctx, archive, run.signal);
		downloaded =
			archive.format === ArchiveFormat.Dos1
				? await downloadOurs(ctx, archive, listed, chunkDir, request, run)
				: await downloadLegacy(ctx, archive, listed, chunkDir, request, run);
	} catch (error) {
		// A failed download leaves no empty chunk folder behind (one holding chunks stays: the next attempt reuses them).
		await removeIfEmpty(chunkDir);
		throw error;
	}
	throwIfAborted(run.signal);
	let chunkDirRemoved = false;
	const complete = downloaded.lost.length === 0;
	if (request.keepChunks !== true && complete) {
		await rm(chunkDir, { recursive: true, force: true });
		chunkDirRemoved = true;
	}
	run.progress({
		archiveId: archive.id,
		phase: 'done',
		bytesDone: downloaded.bytes,
		bytesTotal: downloaded.bytes,
		chunksDone: downloaded.chunksNeeded,
		chunksTotal: downloaded.chunksNeeded,
		note: complete
			? `restored ${countOf(downloaded.files, 'file')} into ${downloaded.restoredTo}`
			: `incomplete: restored ${countOf(downloaded.files, 'file')} into ${downloaded.restoredTo}, ${downloaded.lost.length} lost to ${downloaded.badChunks.length} bad chunk(s); the chunk folder was kept`
	});
	return { archiveId: archive.id, lot: archive.lot, format: archive.format, chunkDir, chunkDirRemoved, complete, ...downloaded };
}

/**
 * Refuses, from the index alone, a download that cannot work: an archive that was cleaned up or never got a thread
 * (NOT_FOUND), one whose upload did not finish (NOT_DOWNLOADABLE: no manifest to restore from), and — for archives
 * of ours whose entries the index holds — a path the archive does not hold (NOT_FOUND naming each).
 *
 * @throws {CoreError} NOT_FOUND; INVALID_OPTION for a path that could never be in an archive. {@link ArchiveError}
 * NOT_DOWNLOADABLE.
 */
export function assertDownloadable(ctx: ArchiveContext, archive: Archive, paths?: readonly string[]): void {
	threadRefOf(archive);
	if (archive.status !== ArchiveStatus.Complete) {
		throw new ArchiveError(
			ArchiveErrorCode.NotDownloadable,
			`${archive.id} cannot be downloaded: it ${notDownloadable(archive.status)}. Nothing was fetched.`,
			{ archiveId: archive.id, lot: archive.lot }
		);
	}
	if (paths === undefined || paths.length === 0 || (archive.format !== ArchiveFormat.Dos1 && archive.format !== ArchiveFormat.Dos2)) return;
	// A skeleton (rebuilt without its entries) cannot be checked here: the manifest is checked after it is fetched.
	if (ctx.index.entries.list(archive.lot, { limit: 1 }).length === 0) return;
	const missing = paths.filter((wanted) => ctx.index.entries.get(archive.lot, selectionPath(wanted)) === undefined);
	if (missing.length > 0) {
		throw new CoreError(
			CoreErrorCode.NotFound,
			`Not in archive ${archive.id}: ${missing.join(', ')}. Check the spelling and case (paths are relative to the archive root; /archive find or dos find lists them). Nothing was fetched.`,
			{ paths: missing }
		);
	}
}

type Downloaded = Omit<DownloadResult, 'archiveId' | 'lot' | 'format' | 'chunkDir' | 'chunkDirRemoved' | 'complete'>;

async function downloadOurs(
	ctx: ArchiveContext,
	archive: Archive,
	listed: readonly ThreadAttachment[],
	chunkDir: string,
	request: DownloadRequest,
	run: JobRun
): Promise<Downloaded> {
	const { manifest, key, fetched: manifestFetched } = await openArchiveManifest(ctx, threadRefOf(archive), listed, run, chunkDir);
	const needed = chunksForPaths(manifest, request.paths);
	const records = new Map(ctx.index.chunks.list(archive.lot, { kind: ChunkKind.Data }).map((row) => [row.index, row]));
	const byIndex = dataAttachments(archive, listed);
	const wanted = needed.map((index): WantedChunk => {
		const record = manifest.chunks[index]!;
		const source = pickAttachment(byIndex.get(index) ?? [], records.get(index), record.sha256);
		const filename =
			source?.attachment.filename ?? records.get(index)?.filename ?? `${archive.id.slice(1)}.c${String(index).padStart(6, '0')}.bin`;
		return {
			index,
			label: `Chunk ${index + 1}`,
			filename,
			storedSize: record.storedSize,
			sha256: record.sha256,
			matches: (bytes) => bytes.length === record.storedSize && sha256Hex(bytes) === record.sha256,
			source
		};
	});
	const salvage = request.salvage === true;
	const fetchedChunks = await fetchChunks(ctx, archive, wanted, chunkDir, run, salvage);
	const restoredTo = await newRestoreFolder(ctx, archive, manifest.label, request.overwrite === true);
	let result: AssembleResult;
	try {
		result = await assemble({
			manifest,
			key,
			source: async (index) => {
				const failed = fetchedChunks.failures.get(index);
				if (failed !== undefined) throw failed;
				const chunk = wanted.find((candidate) => candidate.index === index);
				if (chunk === undefined)
					throw new CoreError(CoreErrorCode.MissingChunk, `Chunk ${index + 1} was not downloaded.`, { chunks: [index] });
				return readFile(path.join(chunkDir, chunk.filename));
			},
			salvage,
			outDir: restoredTo,
			...(request.paths === undefined ? {} : { paths: request.paths }),
			overwrite: request.overwrite === true,
			pool: ctx.pool,
			signal: run.signal,
			onProgress: restoringProgress(run, archive.id)
		});
	} catch (error) {
		// A restore that failed before writing a file leaves no empty folder behind.
		await removeIfEmpty(restoredTo);
		throw error;
	}
	return {
		restoredTo: result.outDir,
		files: result.files,
		bytes: result.bytes,
		chunksNeeded: needed.length,
		chunksFetched: fetchedChunks.fetched + manifestFetched,
		chunksReused: fetchedChunks.reused,
		lost: result.lost,
		badChunks: result.badChunks ?? []
	};
}

/** The data chunks a thread holds, by index (several when stray copies were posted). */
function dataAttachments(archive: Archive, listed: readonly ThreadAttachment[]): Map<number, ThreadAttachment[]> {
	const byIndex = new Map<number, ThreadAttachment[]>();
	for (const item of listed) {
		const name = parseStagedName(item.attachment.filename);
		if (name?.kind !== 'data' || name.archiveId !== archive.id) continue;
		byIndex.set(name.index, [...(byIndex.get(name.index) ?? []), item]);
	}
	return byIndex;
}

/** Of several copies of a chunk, the one the index recorded, else the one whose name carries the recorded hash. */
function pickAttachment(
	candidates: readonly ThreadAttachment[],
	record: ChunkRecord | undefined,
	sha: string | undefined
): ThreadAttachment | undefined {
	return (
		candidates.find((candidate) => record?.attachmentId != null && candidate.attachment.id === record.attachmentId) ??
		candidates.find((candidate) => sha !== undefined && candidate.attachment.filename.includes(`.${sha.slice(0, NAME_HASH_LENGTH)}.`)) ??
		candidates.at(-1)
	);
}

async function downloadLegacy(
	ctx: ArchiveContext,
	archive: Archive,
	listed: readonly ThreadAttachment[],
	chunkDir: string,
	request: DownloadRequest,
	run: JobRun
): Promise<Downloaded> {
	const fetchedManifest = await fetchLegacyManifest(ctx, threadRefOf(archive), listed, run.signal, chunkDir);
	const { manifest, file: manifestFile } = fetchedManifest;
	const files =
		request.paths === undefined || request.paths.length === 0
			? manifest.files
			: manifest.files.filter((file) => request.paths!.includes(file.name));
	const unknown = (request.paths ?? []).filter((name) => !manifest.files.some((file) => file.name === name));
	if (unknown.length > 0) {
		throw new CoreError(
			CoreErrorCode.NotFound,
			`Not in archive ${archive.id}: ${unknown.join(', ')}. Its files are named at its top level only.`,
			{
				paths: unknown
			}
		);
	}
	// Of several attachments with one chunk's name, the earliest is the original tool's; a later one is someone's post.
	const byName = new Map<string, ThreadAttachment>();
	for (const item of listed) if (!byName.has(item.attachment.filename)) byName.set(item.attachment.filename, item);
	const wanted = files.flatMap((file) =>
		file.chunks.map((chunk): WantedChunk => ({
			index: chunk.seq - 1,
			label: `Chunk ${chunk.name}`,
			filename: chunk.name,
			storedSize: chunk.size ?? byName.get(chunk.name)?.attachment.size ?? 0,
			sha256: undefined,
			matches: (bytes) => (chunk.size === null || bytes.length === chunk.size) && legacyChunkHash(bytes) === chunk.hash16,
			source: byName.get(chunk.name)
		}))
	);
	const fetchedChunks = await fetchChunks(ctx, archive, wanted, chunkDir, run);
	const restoredTo = await newRestoreFolder(ctx, archive, manifest.sourceFolder ?? '', request.overwrite === true);
	const expectedSha256 = Object.fromEntries(
		ctx.index.entries
			.list(archive.lot, { limit: 100_000 })
			.filter((entry) => entry.sha256 !== null)
			.map((entry) => [entry.path, entry.sha256!])
	);
	// A wrong passphrase is found before any file is written, so the next one tries the same empty folder.
	const restored = await withArchivePassphrases(ctx, run.signal, (passphrase) =>
		restoreLegacyFolder(chunkDir, restoredTo, {
			...(passphrase === undefined ? {} : { passphrase }),
			...(request.paths === undefined || request.paths.length === 0 ? {} : { paths: request.paths }),
			overwrite: request.overwrite === true,
			expectedSha256,
			manifestFile,
			signal: run.signal,
			onProgress: restoringProgress(run, archive.id)
		})
	);
	return {
		restoredTo: await realpath(restoredTo),
		files: restored.files.length,
		bytes: restored.files.reduce((sum, file) => sum + file.size, 0),
		chunksNeeded: wanted.length,
		chunksFetched: fetchedChunks.fetched + 1,
		chunksReused: fetchedChunks.reused,
		lost: [],
		badChunks: [],
		notes: legacyManifestNotes(fetchedManifest)
	};
}

/** Reports an engine's restore progress as the job's `restoring` phase. */
function restoringProgress(run: JobRun, archiveId: string): (event: ProgressEvent) => void {
	return (event) => {
		run.progress({
			archiveId,
			phase: 'restoring',
			bytesDone: event.bytesDone,
			bytesTotal: event.bytesTotal,
			chunksDone: event.chunksDone,
			chunksTotal: event.chunksTotal
		});
	};
}
