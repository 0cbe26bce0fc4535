import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, realpath, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
	type ArchiveKey,
	ArchiveKeyCache,
	assemble,
	type AssembleResult,
	assertPassphrase,
	assertSafeName,
	assertSafeRelativePath,
	chunksForPaths,
	CONTAINER_OVERHEAD,
	CoreError,
	CoreErrorCode,
	decodeChunkHeader,
	fromFsError,
	legacyArchiveFolderName,
	legacyChunkHash,
	LEGACY_MAX_MANIFEST_BYTES,
	type LegacyManifest,
	type LostFile,
	type Manifest,
	type ProgressEvent,
	NAME_HASH_LENGTH,
	openManifest,
	parseLegacyManifest,
	parseStagedName,
	resolveInside,
	restoreLegacyFolder,
	throwIfAborted
} from '../core/index.js';
import { type Archive, ArchiveFormat, ArchiveStatus, ChunkKind, type ChunkRecord } from '../db/index.js';
import { type AttachmentLocation, isTransportError, type LiveAttachment, TransportErrorCode } from '../discord/index.js';
import { countOf } from './card.js';
import { listArchiveAttachments } from './legacy-messages.js';
import type { ArchiveContext, JobRun } from './context.js';
import { ArchiveError, ArchiveErrorCode } from './errors.js';

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

/** One attachment of an archive thread, as just listed: its live URL must be used at once, never stored. */
export interface ThreadAttachment {
	readonly messageId: string;
	readonly attachment: LiveAttachment;
	/** Who posted the message. */
	readonly authorId: string;
	/** Whether the bot itself posted it (not merely a bot: a webhook or another bot is one too). */
	readonly byBot: boolean;
}

/** How many chunk downloads run at once (one thread is one rate-limit bucket only for posts; the CDN is not). */
const DOWNLOAD_CONCURRENCY = 3;

/**
 * Every attachment of a thread, oldest message first, with live URLs (use them at once), each with its author and
 * whether that author is the bot itself.
 *
 * @throws {CoreError} MISSING_CHUNK when the thread is gone; TransportError otherwise.
 */
export async function listThreadAttachments(
	ctx: ArchiveContext,
	archive: Pick<ThreadRef, 'id' | 'threadId'>,
	signal?: AbortSignal
): Promise<ThreadAttachment[]> {
	const { threadId } = archive;
	const found: ThreadAttachment[] = [];
	const selfId = await ctx.transport.selfUserId(signal ? { signal } : {});
	try {
		for await (const message of ctx.transport.pageMessages(threadId, signal ? { signal } : {})) {
			const byBot = message.authorId === selfId;
			for (const attachment of message.attachments) found.push({ messageId: message.id, attachment, authorId: message.authorId, byBot });
		}
	} catch (error) {
		if (isTransportError(error, TransportErrorCode.NotFound)) {
			throw new CoreError(
				CoreErrorCode.MissingChunk,
				`The thread of archive ${archive.id} (${threadId}) is gone from Discord: the archive was deleted there. Its files cannot be fetched.`,
				{},
				{ cause: error }
			);
		}
		throw error;
	}
	return found;
}

/** The thread of an indexed archive. @throws {CoreError} NOT_FOUND as {@link requireThread}. */
export function threadRefOf(archive: Archive): ThreadRef {
	// A legacy archive imported from the original's history log has no thread: its chunk messages are fetched by id from
	// the storage channel its row names (listArchiveAttachments lists exactly those, never the whole channel).
	const threadless = archive.threadId === null && archive.format !== ArchiveFormat.Dos1 && archive.status !== ArchiveStatus.Deleted;
	const threadId = threadless && archive.channelId !== null ? archive.channelId : requireThread(archive);
	return { id: archive.id, threadId, lot: archive.lot, uid: archive.uid };
}

/** The thread id of an archive, or NOT_FOUND when it has none (never posted, or deleted). */
export function requireThread(archive: Archive): string {
	if (archive.status === ArchiveStatus.Deleted) {
		throw new CoreError(CoreErrorCode.NotFound, `Archive ${archive.id} was deleted (its thread is gone); there is nothing to fetch.`);
	}
	if (archive.threadId === null) {
		throw new CoreError(CoreErrorCode.NotFound, `Archive ${archive.id} has no thread on record: its upload never started. Upload it again.`);
	}
	return archive.threadId;
}

/** The folder chunks of an archive are downloaded into: `[Archive] #DDMMYY-NN` under the download root. */
export function chunkFolderOf(ctx: ArchiveContext, archive: Pick<Archive, 'id'>): string {
	return resolveInside(ctx.settings.downloadRoot, legacyArchiveFolderName(archive.id));
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
 * NOT_FOUND (archive deleted, or a path it does not hold); FILE_EXISTS; HASH_MISMATCH; UNSAFE_PATH; DISK_FULL;
 * ABORTED. {@link IndexError} ARCHIVE_NOT_FOUND. TransportError when Discord stays unavailable.
 */
export async function downloadArchive(ctx: ArchiveContext, request: DownloadRequest, run: JobRun): Promise<DownloadResult> {
	const archive = ctx.index.archives.require(request.archive);
	assertPassphrase(ctx.settings.passphrase);
	// What the index knows cannot work (deleted, unfinished, a path it does not hold) is refused before anything is
	// made under the download root or fetched.
	assertDownloadable(ctx, archive, request.paths);
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
 * @throws {CoreError} NOT_FOUND; UNSAFE_PATH for a path that could never be in an archive. {@link ArchiveError}
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
	if (paths === undefined || paths.length === 0 || archive.format !== ArchiveFormat.Dos1) return;
	// A skeleton (rebuilt without its entries) cannot be checked here: the manifest is checked after it is fetched.
	if (ctx.index.entries.list(archive.lot, { limit: 1 }).length === 0) return;
	const missing = paths.filter((wanted) => {
		let normalized = wanted.replace(/^(\.\/)+/, '');
		while (normalized.endsWith('/')) normalized = normalized.slice(0, -1);
		assertSafeRelativePath(normalized);
		return ctx.index.entries.get(archive.lot, normalized) === undefined;
	});
	if (missing.length > 0) {
		throw new CoreError(
			CoreErrorCode.NotFound,
			`Not in archive ${archive.id}: ${missing.join(', ')}. Check the spelling and case (paths are relative to the archive root; /archive find or dos find lists them). Nothing was fetched.`,
			{ paths: missing }
		);
	}
}

/** Removes a folder if it is empty; anything else (not empty, gone, not allowed) leaves it as it is. */
async function removeIfEmpty(folder: string): Promise<void> {
	await rmdir(folder).catch(() => undefined);
}

/** A lot of a range that is not downloaded, and why. */
export interface SkippedInRange {
	readonly lot: number;
	/** `#DDMMYY-NN`, or null when the index holds no archive with this lot. */
	readonly id: string | null;
	/** The archive's status, or null when the index holds no archive with this lot. */
	readonly status: ArchiveStatus | null;
	/** Why it is skipped and what to do, to follow its id: `was cleaned up (its thread is gone from Discord)`. */
	readonly reason: string;
}

/** A lot range as {@link resolveArchiveRange} finds it. */
export interface ArchiveRange {
	/** The archive the range starts at, as named. */
	readonly first: Archive;
	/** The archive the range ends at, as named. */
	readonly last: Archive;
	/** The archives that can be downloaded (complete, legacy imports included), oldest lot first: at least one. */
	readonly archives: [Archive, ...Archive[]];
	/** Every other lot of the range, oldest first, with the reason. */
	readonly skipped: SkippedInRange[];
}

/**
 * A lot range, for `/archive download id: through:` and `dos download <id> --through <id>`: every lot from the
 * first to the last (inclusive), split into the archives that can be downloaded (complete) and the lots skipped
 * with the reason (cleaned up, upload unfinished, not in the index), so an answer can name every one.
 *
 * @throws {IndexError} ARCHIVE_NOT_FOUND for either end; {@link CoreError} INVALID_OPTION when the range is reversed
 * or holds nothing that can be downloaded (naming why, before anything is written).
 */
export function resolveArchiveRange(ctx: ArchiveContext, from: string, through: string): ArchiveRange {
	const first = ctx.index.archives.require(from);
	const last = ctx.index.archives.require(through);
	if (last.lot < first.lot) {
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			`The range ${first.id} … ${last.id} runs backwards (lot ${first.lot} to lot ${last.lot}): name the older archive first, as id:${last.id} through:${first.id}. Nothing was downloaded.`
		);
	}
	const archives: Archive[] = [];
	const skipped: SkippedInRange[] = [];
	for (let lot = first.lot; lot <= last.lot; lot++) {
		const archive = ctx.index.archives.get(lot);
		if (archive === undefined)
			skipped.push({ lot, id: null, status: null, reason: 'is not in the index (rebuild the index if it exists on Discord)' });
		else if (archive.status === ArchiveStatus.Complete) archives.push(archive);
		else skipped.push({ lot, id: archive.id, status: archive.status, reason: notDownloadable(archive.status) });
	}
	const [head, ...tail] = archives;
	if (head === undefined) {
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			`Nothing from ${first.id} through ${last.id} can be downloaded, so nothing was: ${describeSkippedLots(skipped)}.`
		);
	}
	return { first, last, archives: [head, ...tail], skipped };
}

/** Skipped lots in words, the first ten named (ids wrapped in `emphasis`, e.g. `**` for Discord), then a count. */
export function describeSkippedLots(skipped: readonly SkippedInRange[], emphasis = ''): string {
	const named = skipped.slice(0, 10).map((lot) => `${lot.id === null ? `lot ${lot.lot}` : `${emphasis}${lot.id}${emphasis}`} ${lot.reason}`);
	return skipped.length > 10 ? `${named.join('; ')}; and ${skipped.length - 10} more lots` : named.join('; ');
}

/** Why an archive that is not complete is not downloaded as part of a range. */
function notDownloadable(status: ArchiveStatus): string {
	switch (status) {
		case ArchiveStatus.Deleted:
			return 'was cleaned up (its thread is gone from Discord)';
		case ArchiveStatus.Planned:
		case ArchiveStatus.Uploading:
			return 'is still uploading';
		default:
			return `did not finish uploading (${status}: resume it first)`;
	}
}

type Downloaded = Omit<DownloadResult, 'archiveId' | 'lot' | 'format' | 'chunkDir' | 'chunkDirRemoved' | 'complete'>;

/** A chunk to put into the chunk folder. */
interface WantedChunk {
	readonly index: number;
	readonly label: string;
	readonly filename: string;
	readonly storedSize: number;
	/** Full sha256 (ours), or undefined when only the name's short hash is known (legacy). */
	readonly sha256: string | undefined;
	/** Checks a file's bytes without the key; true when they are the chunk. */
	readonly matches: (bytes: Buffer) => boolean;
	readonly source: ThreadAttachment | undefined;
}

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
			matches: (bytes) => bytes.length === record.storedSize && sha256(bytes) === record.sha256,
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

/** An opened manifest, the archive key and how many manifest parts were fetched. */
export interface OpenedArchiveManifest {
	readonly manifest: Manifest;
	readonly key: ArchiveKey;
	readonly fetched: number;
	/** The parts used, by part index, with the sha256 and size of their bytes. */
	readonly parts: ReadonlyMap<number, { readonly item: ThreadAttachment; readonly sha256: string; readonly size: number }>;
	/** Attachments named like a part of this manifest that were left out, and why (also logged as a warning). */
	readonly ignored: readonly IgnoredManifestPart[];
}

/** An attachment named like a manifest part that {@link openArchiveManifest} did not use. */
export interface IgnoredManifestPart {
	readonly messageId: string;
	readonly filename: string;
	readonly authorId: string;
	readonly reason: string;
}

/**
 * The most part indexes a manifest is read with: a sealed manifest part holds up to a chunk of gzipped JSON, so even a
 * 64 KiB chunk size gives room for hundreds of thousands of entries. A higher index is someone's post.
 */
export const MAX_MANIFEST_PARTS = 64;

/** An archive's thread, as far as it is known (a rebuild knows only what the names in the thread say). */
export interface ThreadRef {
	/** `#DDMMYY-NN`. */
	readonly id: string;
	readonly threadId: string;
	/** The index lot, when the archive is in the index (its records are then preferred). */
	readonly lot?: number;
	/** The uid the manifest must carry, when known. */
	readonly uid?: string;
}

/**
 * Fetches the manifest parts of one of our archives from its thread and opens them with the key: one PBKDF2, and a
 * wrong key fails here, before any data chunk. With `chunkDir`, the parts are also written there (so the chunk folder
 * is a staged folder `dos assemble` reads).
 *
 * Only what the bot itself posted is a candidate. Before anything is fetched, attachments larger than a manifest part
 * can be (chunk size + container overhead, or the attachment limit when larger) and part indexes from
 * {@link MAX_MANIFEST_PARTS} up are left out. Of several copies of a part, the one the index recorded wins, else the
 * newest. Part 0 is fetched first; then only parts below the count in its header and carrying its uid are kept. Every
 * attachment left out is reported in `ignored` (and logged), never a reason to fail. A part counts as known intact
 * (the WRONG_KEY-versus-damage decision) only when its bytes match the sha256 the index recorded — never merely the
 * hash in its name, which whoever posts it chooses.
 *
 * `keys` derives the key across several calls (a rebuild's candidate part sets); by default a fresh one that refuses
 * a PBKDF2 count other than the index's record of the archive.
 *
 * @throws {CoreError} NO_KEY; WRONG_KEY; MISSING_CHUNK when the thread holds no manifest (an upload that did not
 * finish) or a part is missing; TAMPERED_CHUNK naming a damaged part (or a header asking for another PBKDF2 count
 * than recorded); MISPLACED_CHUNK; BAD_FORMAT.
 */
export async function openArchiveManifest(
	ctx: ArchiveContext,
	archive: ThreadRef,
	listed: readonly ThreadAttachment[],
	run: Pick<JobRun, 'signal'>,
	chunkDir?: string,
	keys?: ArchiveKeyCache
): Promise<OpenedArchiveManifest> {
	const records = new Map(
		archive.lot === undefined ? [] : ctx.index.chunks.list(archive.lot, { kind: ChunkKind.Manifest }).map((row) => [row.index, row] as const)
	);
	const largest = Math.max(ctx.settings.chunkSize + CONTAINER_OVERHEAD, ctx.settings.attachmentLimit);
	const ignored: IgnoredManifestPart[] = [];
	const ignore = (item: ThreadAttachment, reason: string) =>
		ignored.push({ messageId: item.messageId, filename: item.attachment.filename, authorId: item.authorId, reason });
	const parts = new Map<number, ThreadAttachment>();
	for (const item of listed) {
		const name = parseStagedName(item.attachment.filename);
		if (name?.kind !== 'manifest' || name.archiveId !== archive.id) continue;
		if (!item.byBot) {
			ignore(item, 'not posted by the bot');
			continue;
		}
		if (item.attachment.size > largest) {
			ignore(item, `${item.attachment.size} bytes, more than a manifest part can hold (${largest})`);
			continue;
		}
		if (name.index >= MAX_MANIFEST_PARTS) {
			ignore(item, `part index ${name.index}, beyond the ${MAX_MANIFEST_PARTS} parts a manifest is read with`);
			continue;
		}
		const recorded = records.get(name.index)?.attachmentId;
		const current = parts.get(name.index);
		if (current === undefined || recorded === item.attachment.id || current.attachment.id !== recorded) parts.set(name.index, item);
	}
	const reportIgnored = () => {
		if (ignored.length === 0) return;
		ctx.log('warn', 'attachments named like manifest parts were ignored', {
			archiveId: archive.id,
			threadId: archive.threadId,
			ignored: ignored.map((entry) => `${entry.filename} (message ${entry.messageId}): ${entry.reason}`)
		});
	};
	if (parts.size === 0) {
		reportIgnored();
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			`The thread of archive ${archive.id} holds no manifest posted by the bot: its upload did not finish. Resume the upload, or run a quick verify.`
		);
	}
	if (!parts.has(0)) {
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			`Part 0 of the manifest of ${archive.id} is not in its thread: 1 or more manifest part(s) are missing. Resume the upload, or run a quick verify.`
		);
	}
	const inputs = [];
	const partHashes = new Map<number, { item: ThreadAttachment; sha256: string; size: number }>();
	let first: { readonly count: number; readonly uid: Buffer } | undefined;
	for (const [index, item] of [...parts].sort(([a], [b]) => a - b)) {
		if (first !== undefined && index >= first.count) {
			ignore(item, `part ${index}, but part 0 says the manifest has ${first.count} part(s)`);
			continue;
		}
		const record = records.get(index);
		const expectedSha256 = record?.attachmentId === item.attachment.id ? (record.sha256 ?? undefined) : undefined;
		const bytes = await fetchToMemory(ctx, archive, item, { index, kind: 'manifest', expectedSha256 }, run.signal);
		const label = `manifest part ${index} of ${archive.id}`;
		if (index === 0) {
			const header = decodeChunkHeader(bytes, label);
			first = { count: header.count, uid: header.uid };
		} else if (first !== undefined && !decodeChunkHeader(bytes, label).uid.equals(first.uid)) {
			ignore(item, 'its header names another archive than part 0');
			continue;
		}
		const digest = sha256(bytes);
		const nameHash = parseStagedName(item.attachment.filename)?.hash;
		if (nameHash !== undefined && !digest.startsWith(nameHash)) {
			throw new CoreError(
				CoreErrorCode.TamperedChunk,
				`Manifest part ${index + 1} of ${archive.id} (${item.attachment.filename}, message ${item.messageId}) does not match the hash in its name: it was damaged on Discord.`
			);
		}
		partHashes.set(index, { item, sha256: digest, size: bytes.length });
		if (chunkDir !== undefined) await writeChunkFile(path.join(chunkDir, item.attachment.filename), bytes);
		inputs.push({ bytes, intact: expectedSha256 !== undefined, label });
	}
	reportIgnored();
	// The header's PBKDF2 count is not authenticated: one other than the index recorded is refused before deriving.
	const recordedIterations = archive.lot === undefined ? undefined : (ctx.index.archives.get(archive.lot)?.kdfIterations ?? undefined);
	const opened = await openManifest(inputs, ctx.settings.passphrase, {
		signal: run.signal,
		keys: keys ?? new ArchiveKeyCache(ctx.settings.passphrase, recordedIterations === undefined ? {} : { expectedIterations: recordedIterations })
	});
	if (archive.uid !== undefined && opened.manifest.uid !== archive.uid) {
		throw new CoreError(
			CoreErrorCode.MisplacedChunk,
			`The manifest in the thread of ${archive.id} belongs to another archive (uid ${opened.manifest.uid}, not ${archive.uid}). Rebuild the index.`
		);
	}
	return { ...opened, fetched: inputs.length, parts: partHashes, ignored };
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
	const restored = await restoreLegacyFolder(chunkDir, restoredTo, {
		passphrase: ctx.settings.passphrase,
		...(request.paths === undefined || request.paths.length === 0 ? {} : { paths: request.paths }),
		overwrite: request.overwrite === true,
		expectedSha256,
		manifestFile,
		signal: run.signal,
		onProgress: restoringProgress(run, archive.id)
	});
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

/** The JSON manifest of a legacy archive, fetched from its thread (no key needed: it is plain JSON). */
export interface FetchedLegacyManifest {
	readonly manifest: LegacyManifest;
	/** Its attachment's file name. */
	readonly file: string;
	readonly messageId: string;
	readonly attachmentId: string;
	readonly size: number;
	/** sha256 of the manifest file. */
	readonly sha256: string;
	/**
	 * How it was chosen: `recorded` (the message and sha256 the index holds for this archive), `only` (the thread's one
	 * manifest) or `earliest` (the first posted of several, when the index records none).
	 */
	readonly chosenBy: 'recorded' | 'only' | 'earliest';
	/** The thread's other manifest attachments, which were not read: each is someone's later post, or a copy. */
	readonly others: readonly { readonly file: string; readonly messageId: string }[];
}

/**
 * Fetches and validates the manifest of a legacy archive from its thread (an attachment whose name ends in `.json` and
 * contains `manifest`, as the original tool looked for it). The original format authenticates each chunk but not the
 * manifest, so which manifest is read decides what is restored: when the index records one for this archive (its
 * message id and sha256, stored when the archive was first seen), that one and only that one is read, and any change
 * is refused; otherwise the earliest posted one is read (a later post is an addition). Every other manifest attachment
 * is named in `others`. Its announced size is checked against {@link LEGACY_MAX_MANIFEST_BYTES} before a byte is read.
 *
 * @throws {CoreError} MISSING_CHUNK when the thread holds none, or not the recorded one; TAMPERED_CHUNK when the
 * recorded one changed; BAD_FORMAT when it is too large, or for a manifest that cannot be trusted;
 * UNSUPPORTED_VERSION / UNSAFE_PATH.
 */
export async function fetchLegacyManifest(
	ctx: ArchiveContext,
	archive: Pick<ThreadRef, 'id' | 'threadId' | 'lot' | 'uid'>,
	listed: readonly ThreadAttachment[],
	signal?: AbortSignal,
	chunkDir?: string
): Promise<FetchedLegacyManifest> {
	const candidates = listed
		.filter(({ attachment }) => isLegacyManifestName(attachment.filename))
		.sort((a, b) => compareSnowflakes(a.messageId, b.messageId));
	const describe = (items: readonly ThreadAttachment[]) =>
		items
			.slice(0, 10)
			.map((entry) => `${entry.attachment.filename} (message ${entry.messageId})`)
			.join(', ') + (items.length > 10 ? ` and ${items.length - 10} more` : '');
	if (candidates.length === 0) {
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			`The thread of legacy archive ${archive.id} holds no manifest (a file like 11-manifest_021328_241126.json): its upload did not finish.`
		);
	}
	const recorded = recordedLegacyManifest(ctx, archive);
	let item: ThreadAttachment | undefined;
	if (recorded !== undefined) {
		item = candidates.find(
			(entry) => entry.messageId === recorded.messageId && (recorded.attachmentId === null || entry.attachment.id === recorded.attachmentId)
		);
		if (item === undefined) {
			throw new CoreError(
				CoreErrorCode.MissingChunk,
				`The manifest recorded for legacy archive ${archive.id} (${recorded.filename ?? 'a JSON file'}, message ${recorded.messageId}) is no longer in its thread, which holds ${describe(candidates)} instead. The original format does not authenticate its file list, so another manifest is not used in its place. Restore the index from a backup, or check the thread on Discord.`,
				{ file: recorded.filename ?? undefined }
			);
		}
	} else {
		item = candidates[0]!;
	}
	const others = candidates.filter((entry) => entry !== item);
	assertSafeName(item.attachment.filename);
	if (item.attachment.size > LEGACY_MAX_MANIFEST_BYTES) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`The manifest ${item.attachment.filename} of legacy archive ${archive.id} is ${item.attachment.size} bytes, more than the ${LEGACY_MAX_MANIFEST_BYTES} any manifest of the original tool holds. It is not read.`,
			{ file: item.attachment.filename }
		);
	}
	const bytes = await fetchToMemory(ctx, archive, item, { index: 0, kind: 'manifest', expectedSha256: undefined }, signal);
	const digest = sha256(bytes);
	if (recorded?.sha256 != null && digest !== recorded.sha256) {
		throw new CoreError(
			CoreErrorCode.TamperedChunk,
			`The manifest of legacy archive ${archive.id} (${item.attachment.filename}, message ${item.messageId}) is not the one recorded when the archive was indexed (sha256 ${digest}, not ${recorded.sha256}). Nothing is restored from it.`,
			{ file: item.attachment.filename }
		);
	}
	const manifest = parseLegacyManifest(bytes.toString('utf8'));
	if (chunkDir !== undefined) await writeChunkFile(path.join(chunkDir, item.attachment.filename), bytes);
	return {
		manifest,
		file: item.attachment.filename,
		messageId: item.messageId,
		attachmentId: item.attachment.id,
		size: bytes.length,
		sha256: digest,
		chosenBy: recorded !== undefined ? 'recorded' : others.length === 0 ? 'only' : 'earliest',
		others: others.map((entry) => ({ file: entry.attachment.filename, messageId: entry.messageId }))
	};
}

/**
 * What a person should know about a legacy restore from `fetched`: that the format authenticates each chunk but not
 * the file list, which manifest was read, and the thread's other manifests.
 */
export function legacyManifestNotes(fetched: Pick<FetchedLegacyManifest, 'file' | 'messageId' | 'chosenBy' | 'others'>): string[] {
	const how =
		fetched.chosenBy === 'recorded'
			? 'the one the index recorded when the archive was first seen'
			: fetched.chosenBy === 'only'
				? 'the only one among its messages; the index recorded none'
				: 'the earliest posted; the index recorded none';
	const notes = [
		`Original-tool archive: each chunk is authenticated, but its file list (the manifest) is not. The manifest read was ${fetched.file} (message ${fetched.messageId}), ${how}.`
	];
	if (fetched.others.length > 0) {
		notes.push(
			`The thread also holds ${fetched.others.length} other manifest(s), not used: ${fetched.others
				.slice(0, 10)
				.map((entry) => `${entry.file} (message ${entry.messageId})`)
				.join(
					', '
				)}${fetched.others.length > 10 ? ` and ${fetched.others.length - 10} more` : ''}. They are not the manifest this archive is read by: someone may have posted them to alter it; check the thread.`
		);
	}
	return notes;
}

/** The manifest the index records for a legacy archive (its row must be this archive's), or undefined. */
function recordedLegacyManifest(ctx: ArchiveContext, archive: Pick<ThreadRef, 'lot' | 'uid'>): (ChunkRecord & { messageId: string }) | undefined {
	if (archive.lot === undefined) return undefined;
	const row = ctx.index.archives.get(archive.lot);
	if (row === undefined || row.format === ArchiveFormat.Dos1 || (archive.uid !== undefined && row.uid !== archive.uid)) return undefined;
	const record = ctx.index.chunks.get(archive.lot, { kind: ChunkKind.Manifest, index: 0 });
	if (record?.messageId === null || record?.messageId === undefined) return undefined;
	return record as ChunkRecord & { messageId: string };
}

/** Orders Discord ids (decimal strings of up to 20 digits) by value, so by creation time. */
function compareSnowflakes(a: string, b: string): number {
	return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Whether an attachment name is a legacy manifest's, as the original tool recognised them. */
export function isLegacyManifestName(name: string): boolean {
	const lower = name.toLowerCase();
	return lower.endsWith('.json') && lower.includes('manifest');
}

/**
 * Puts every wanted chunk into the chunk folder: a file already there with the right bytes is kept; any other is
 * downloaded (fresh URL, size and hash checked as it arrives, renamed into place only when right). All chunks are
 * tried; then every damaged or missing one is named at once, or, with `salvage`, returned by index for the restore to
 * lose only their files.
 */
async function fetchChunks(
	ctx: ArchiveContext,
	archive: Archive,
	wanted: readonly WantedChunk[],
	chunkDir: string,
	run: JobRun,
	salvage = false
): Promise<{ fetched: number; reused: number; failures: ReadonlyMap<number, CoreError> }> {
	const bytesTotal = wanted.reduce((sum, chunk) => sum + chunk.storedSize, 0);
	let bytesDone = 0;
	let chunksDone = 0;
	let fetched = 0;
	let reused = 0;
	const failures: { chunk: WantedChunk; error: CoreError }[] = [];
	const report = (chunk: WantedChunk, note: string) => {
		bytesDone += chunk.storedSize;
		chunksDone++;
		run.progress({ archiveId: archive.id, phase: 'downloading', bytesDone, bytesTotal, chunksDone, chunksTotal: wanted.length, note });
	};
	run.progress({ archiveId: archive.id, phase: 'downloading', bytesDone, bytesTotal, chunksDone, chunksTotal: wanted.length });
	await forEachConcurrently(wanted, DOWNLOAD_CONCURRENCY, run.signal, async (chunk) => {
		const file = path.join(chunkDir, chunk.filename);
		if (await holdsChunk(file, chunk)) {
			reused++;
			report(chunk, `${chunk.label.toLowerCase()} already downloaded`);
			return;
		}
		if (chunk.source === undefined) {
			failures.push({
				chunk,
				error: new CoreError(CoreErrorCode.MissingChunk, `${chunk.label} (${chunk.filename}) is not in the thread of ${archive.id}.`, {
					chunks: [chunk.index]
				})
			});
			return;
		}
		try {
			await ctx.transport.downloadAttachment(
				location(threadRefOf(archive), chunk.source),
				{ file },
				{
					live: chunk.source.attachment,
					expectedSize: chunk.storedSize,
					...(chunk.sha256 === undefined ? {} : { expectedSha256: chunk.sha256 }),
					signal: run.signal
				}
			);
			if (chunk.sha256 === undefined && !chunk.matches(await readFile(file))) {
				await rm(file, { force: true });
				throw new CoreError(CoreErrorCode.TamperedChunk, `does not match the hash in its name`);
			}
			fetched++;
			report(chunk, `${chunk.label.toLowerCase()} downloaded`);
		} catch (error) {
			const failure = chunkFailure(error, archive, chunk.index, chunk.label, chunk.source);
			if (failure === undefined) throw error;
			failures.push({ chunk, error: failure });
		}
	});
	if (salvage) return { fetched, reused, failures: new Map(failures.map((failure) => [failure.chunk.index, failure.error])) };
	if (failures.length > 0) {
		failures.sort((a, b) => a.chunk.index - b.chunk.index);
		const tampered = failures.some((failure) => failure.error.code === CoreErrorCode.TamperedChunk);
		throw new CoreError(
			tampered ? CoreErrorCode.TamperedChunk : CoreErrorCode.MissingChunk,
			`${failures.length} chunk(s) of ${archive.id} could not be fetched intact, so nothing was restored: ${failures
				.map((failure) => failure.error.message)
				.join(' ')} Run a full verify; resume the upload from the source if you still have it.`,
			{ chunks: failures.map((failure) => failure.chunk.index) }
		);
	}
	return { fetched, reused, failures: new Map() };
}

/** Whether the chunk folder already holds this chunk with the right size and hash. */
async function holdsChunk(file: string, chunk: WantedChunk): Promise<boolean> {
	const info = await lstat(file).catch(() => undefined);
	if (info === undefined || !info.isFile() || info.size !== chunk.storedSize) return false;
	return chunk.matches(await readFile(file));
}

/** Downloads a small attachment (a manifest, a sample chunk) into memory. */
export async function fetchToMemory(
	ctx: ArchiveContext,
	archive: Pick<ThreadRef, 'id' | 'threadId'>,
	item: ThreadAttachment,
	what: { readonly index: number; readonly kind: 'data' | 'manifest'; readonly expectedSha256: string | undefined; readonly expectedSize?: number },
	signal?: AbortSignal
): Promise<Buffer> {
	const parts: Buffer[] = [];
	const sink = new Writable({
		write(piece: Buffer, _encoding, callback) {
			parts.push(piece);
			callback();
		}
	});
	try {
		await ctx.transport.downloadAttachment(
			location(archive, item),
			{ stream: sink },
			{
				live: item.attachment,
				expectedSize: what.expectedSize ?? item.attachment.size,
				...(what.expectedSha256 === undefined ? {} : { expectedSha256: what.expectedSha256 }),
				...(signal ? { signal } : {})
			}
		);
	} catch (error) {
		// People count chunks from 1; the index (and the file name) stay as they are.
		const label = what.kind === 'data' ? `Chunk ${what.index + 1}` : `Manifest part ${what.index + 1}`;
		throw chunkFailure(error, archive, what.index, label, item) ?? error;
	}
	return Buffer.concat(parts);
}

/** Where an attachment of an archive's thread lives. */
export function location(archive: Pick<ThreadRef, 'threadId'>, item: ThreadAttachment): AttachmentLocation {
	return { channelId: archive.threadId, messageId: item.messageId, attachmentId: item.attachment.id };
}

/**
 * A chunk that arrived damaged or is gone, as a CoreError naming it (index, file name and message); undefined for
 * other failures (Discord unavailable, disk full, stopped), which end the job.
 */
export function chunkFailure(
	error: unknown,
	archive: Pick<ThreadRef, 'id'>,
	index: number,
	label: string,
	item: ThreadAttachment | undefined
): CoreError | undefined {
	const where = item === undefined ? '' : ` (${item.attachment.filename}, message ${item.messageId})`;
	const details = { chunks: [index] };
	if (error instanceof CoreError && error.code === CoreErrorCode.TamperedChunk) {
		return new CoreError(CoreErrorCode.TamperedChunk, `${label}${where} is damaged: it ${error.message}.`, details, { cause: error });
	}
	if (isTransportError(error, TransportErrorCode.HashMismatch) || isTransportError(error, TransportErrorCode.SizeMismatch)) {
		return new CoreError(
			CoreErrorCode.TamperedChunk,
			`${label}${where} of ${archive.id} is damaged on Discord: its bytes do not match the recorded size and sha256.`,
			details,
			{ cause: error }
		);
	}
	if (isTransportError(error, TransportErrorCode.NotFound)) {
		return new CoreError(CoreErrorCode.MissingChunk, `${label}${where} of ${archive.id} is gone from Discord.`, details, { cause: error });
	}
	return undefined;
}

/** How many restore folders of one archive the download root may hold: `#… name`, then ` (2)` … ` (10)`. */
export const MAX_RESTORE_FOLDERS = 10;

/**
 * A new folder to restore into under the download root: `#DDMMYY-NN <name>`, or with ` (2)`, ` (3)`… when that
 * exists, so nothing is ever written over; with `overwrite`, the first name is reused. At most
 * {@link MAX_RESTORE_FOLDERS} restores of one archive are kept side by side: repeated downloads do not fill the disk.
 *
 * @throws {CoreError} FILE_EXISTS when every name is taken (see {@link restoreFolderName}).
 */
async function newRestoreFolder(ctx: ArchiveContext, archive: Archive, hint: string, overwrite: boolean): Promise<string> {
	const folder = await restoreFolderName(ctx, archive, hint, overwrite);
	await mkdir(folder, { recursive: true }).catch((error: unknown) => {
		throw fromFsError(error, folder);
	});
	return folder;
}

/**
 * The folder {@link newRestoreFolder} would make, without making it: checked before any chunk is fetched.
 *
 * @throws {CoreError} FILE_EXISTS when {@link MAX_RESTORE_FOLDERS} restores of the archive are there already.
 */
async function restoreFolderName(ctx: ArchiveContext, archive: Archive, hint: string, overwrite: boolean): Promise<string> {
	const base = `${archive.id} ${safeFolderHint(hint || path.posix.basename(archive.source))}`.trim();
	for (let attempt = 1; attempt <= MAX_RESTORE_FOLDERS; attempt++) {
		const name = attempt === 1 ? base : `${base} (${attempt})`;
		const folder = resolveInside(ctx.settings.downloadRoot, name);
		const exists = await stat(folder).then(
			() => true,
			() => false
		);
		if (!exists || (overwrite && attempt === 1)) return folder;
	}
	throw new CoreError(
		CoreErrorCode.FileExists,
		`The download root already holds ${MAX_RESTORE_FOLDERS} restores of ${archive.id} ("${base}" up to "${base} (${MAX_RESTORE_FOLDERS})"), so nothing was downloaded. Delete or move the ones you no longer need (or restore over the first with overwrite), then download again.`
	);
}

/** A label or folder name made safe as one path segment (or empty). */
function safeFolderHint(hint: string): string {
	const cleaned = [...hint]
		.map((char) => (char.charCodeAt(0) < 0x20 || '\\/:*?"<>|'.includes(char) ? ' ' : char))
		.join('')
		.replace(/\s+/g, ' ')
		.trim()
		.slice(0, 80)
		.replace(/^\.+/, '')
		.trim();
	try {
		if (cleaned.length > 0) assertSafeName(cleaned);
		return cleaned;
	} catch {
		return '';
	}
}

async function writeChunkFile(file: string, bytes: Buffer): Promise<void> {
	await writeFile(file, bytes).catch((error: unknown) => {
		throw fromFsError(error, file);
	});
}

function sha256(bytes: Uint8Array): string {
	return createHash('sha256').update(bytes).digest('hex');
}

/** Runs `task` over `items` with at most `limit` at once; the first unexpected error stops the rest and is thrown. */
export async function forEachConcurrently<T>(
	items: readonly T[],
	limit: number,
	signal: AbortSignal,
	task: (item: T) => Promise<void>
): Promise<void> {
	let next = 0;
	let failed: { error: unknown } | undefined;
	const worker = async () => {
		while (failed === undefined && next < items.length) {
			throwIfAborted(signal);
			const item = items[next++]!;
			try {
				await task(item);
			} catch (error) {
				failed ??= { error };
			}
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
	if (failed !== undefined) throw failed.error;
	throwIfAborted(signal);
}

/** Reports an engine's restore progress as the job's `restoring` phase. */
function restoringProgress(run: JobRun, archiveId: string): (event: ProgressEvent) => void {
	return (event) =>
		run.progress({
			archiveId,
			phase: 'restoring',
			bytesDone: event.bytesDone,
			bytesTotal: event.bytesTotal,
			chunksDone: event.chunksDone,
			chunksTotal: event.chunksTotal
		});
}
