import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
	assembleOpenedArchive,
	type BadPack,
	type BlobLocation,
	type Codec,
	forEachConcurrently,
	fromFsError,
	type ManifestV2,
	type OpenedRepositoryArchive,
	PACKS_DIR,
	selectEntries,
	subkeysOf,
	throwIfAborted,
	verifyOpenedArchive,
	type VerifyRepositoryResult
} from '../core/index.js';
import type { Archive, BlobPlace, PackRecord } from '../db/index.js';
import { TransportError } from '../discord/index.js';
import { countOf } from './card.js';
import type { ArchiveContext, JobRun } from './context.js';
import type { DownloadRequest, DownloadResult } from './download.js';
import { newRestoreFolder, removeIfEmpty } from './download-folders.js';
import { openChannelKeys } from './repository-keys.js';
import { fetchRepositoryManifest } from './repository-manifest.js';
import { chunkFailure, requireThread } from './thread-reader.js';

/**
 * Reading a format 2 archive back from Discord (docs/design.md §9): the channel's keys, the sealed manifest from the
 * archive's thread, then, from the history index, the stored packs that hold the blobs the selected files use —
 * whichever archive's thread holds them, into a staging folder laid out as a local repository's `packs/`; the core
 * restores or checks from there with the keys in memory, and the staging folder is removed afterwards. A pack the
 * selection needs most of is fetched whole (fresh URL, size and sha256 checked as it arrives). Of a pack it needs
 * little of (a changed file's new blobs, one path of a large archive), only the byte ranges of the needed blobs are
 * read (HTTP Range) into a sparse file of the pack's size at their own offsets: the pack's sha256 cannot be checked
 * then, but every blob is authenticated on its own (AES-GCM with its id, codec and length in the AAD) and every file
 * by its sha256 before it is kept. A range the CDN does not serve makes the pack be fetched whole. A full verify
 * always fetches whole packs.
 */

/** Blobs closer than this in a pack are read as one range (one request instead of two, a few bytes more). */
const RANGE_MERGE_GAP = 256 * 1024;
/** A pack is read in ranges only when they cover at most this share of it, in at most {@link MAX_RANGES} requests. */
const RANGE_SHARE = 0.5;
const MAX_RANGES = 16;

/** The byte ranges of a pack that hold the given blobs (offset order, close ones merged). */
export function packRanges(places: readonly Pick<BlobPlace, 'offset' | 'storedLength'>[]): { offset: number; length: number }[] {
	const sorted = [...places].sort((a, b) => a.offset - b.offset);
	const ranges: { offset: number; length: number }[] = [];
	for (const place of sorted) {
		const last = ranges.at(-1);
		const end = place.offset + place.storedLength;
		if (last !== undefined && place.offset <= last.offset + last.length + RANGE_MERGE_GAP) last.length = Math.max(last.length, end - last.offset);
		else ranges.push({ offset: place.offset, length: place.storedLength });
	}
	return ranges;
}

/** How many packs download at once. */
const PACK_DOWNLOAD_CONCURRENCY = 3;

/** A format 2 archive fetched for a restore or a check, and where its packs were staged. */
interface FetchedRepositoryArchive {
	readonly opened: OpenedRepositoryArchive;
	readonly staging: string;
	readonly manifestParts: number;
	readonly packsFetched: number;
	/** Of those, the packs read in ranges (only their needed blobs). */
	readonly packsInPart: number;
	readonly packsNeeded: number;
}

/**
 * Fetches what restoring (or checking) `paths` of a format 2 archive needs. Packs that cannot be fetched intact, and
 * blobs no stored pack holds, are left out of the blob index (the core names them as missing); `badPacks` says why.
 *
 * @throws {CoreError} NO_KEY; WRONG_KEY; NOT_FOUND (deleted, or a path the archive does not hold); MISSING_CHUNK /
 * TAMPERED_CHUNK for the manifest; DISK_FULL; ABORTED. TransportError when Discord stays unavailable.
 */
async function fetchRepositoryArchive(
	ctx: ArchiveContext,
	archive: Archive,
	run: JobRun,
	paths: readonly string[] | undefined,
	whole = false
): Promise<FetchedRepositoryArchive> {
	requireThread(archive);
	const { signal } = run;
	const keys = subkeysOf((await openChannelKeys(ctx, { signal })).keys);
	const { manifest, fetched: manifestParts } = await fetchRepositoryManifest(ctx, archive, keys.manifest, signal);
	const wanted = neededBlobs(manifest, paths);
	const places = ctx.index.packs.locate(archive.channelId ?? ctx.settings.archiveChannelId, wanted);
	const packs = new Map<string, PackRecord>();
	const blobsOf = new Map<string, BlobPlace[]>();
	for (const place of places.values()) {
		if (!packs.has(place.pack.name)) packs.set(place.pack.name, place.pack);
		const held = blobsOf.get(place.pack.name);
		if (held === undefined) blobsOf.set(place.pack.name, [place]);
		else held.push(place);
	}
	/** The ranges to read of a pack, or undefined to fetch it whole. */
	const rangesOf = (pack: PackRecord) => {
		if (whole) return undefined;
		const ranges = packRanges(blobsOf.get(pack.name) ?? []);
		const bytes = ranges.reduce((sum, range) => sum + range.length, 0);
		return ranges.length <= MAX_RANGES && bytes <= pack.size * RANGE_SHARE ? ranges : undefined;
	};
	const plans = [...packs.values()].map((pack) => ({ pack, ranges: rangesOf(pack) }));
	const staging = path.join(ctx.settings.tempRoot ?? tmpdir(), `download-${archive.id.slice(1)}-${randomBytes(4).toString('hex')}`);
	await mkdir(path.join(staging, PACKS_DIR), { recursive: true, mode: 0o700 }).catch((error: unknown) => {
		throw fromFsError(error, staging);
	});
	const badPacks: BadPack[] = [];
	const bytesTotal = plans.reduce((sum, { pack, ranges }) => sum + (ranges ?? [pack]).reduce((bytes, range) => bytes + rangeBytes(range), 0), 0);
	let bytesDone = 0;
	let packsFetched = 0;
	let packsInPart = 0;
	try {
		run.progress({ archiveId: archive.id, phase: 'downloading', bytesDone, bytesTotal, chunksDone: 0, chunksTotal: packs.size });
		await forEachConcurrently(plans, PACK_DOWNLOAD_CONCURRENCY, signal, async ({ pack, ranges }) => {
			const location = { channelId: pack.threadId, messageId: pack.messageId!, attachmentId: pack.attachmentId! };
			const file = path.join(staging, PACKS_DIR, pack.name);
			let fetchedBytes = pack.size;
			try {
				if (ranges !== undefined && (await readRanges(ctx, location, pack, ranges, file, signal))) {
					fetchedBytes = ranges.reduce((sum, range) => sum + range.length, 0);
					packsInPart++;
				} else await ctx.transport.downloadAttachment(location, { file }, { expectedSize: pack.size, expectedSha256: pack.sha256, signal });
			} catch (error) {
				const failure = chunkFailure(error, archive, pack.messageIndex, `Pack ${pack.name}`, undefined);
				if (failure === undefined) throw error;
				badPacks.push({ name: pack.name, code: failure.code, message: failure.message });
				return;
			}
			packsFetched++;
			bytesDone += fetchedBytes;
			run.progress({
				archiveId: archive.id,
				phase: 'downloading',
				bytesDone,
				bytesTotal,
				chunksDone: packsFetched,
				chunksTotal: packs.size,
				note: `${countOf(packsFetched, 'pack')} of ${packs.size} downloaded`
			});
		});
	} catch (error) {
		await rm(staging, { recursive: true, force: true });
		throw error;
	}
	const unusable = new Set(badPacks.map((pack) => pack.name));
	const index = new Map<string, BlobLocation>();
	for (const [id, place] of places) {
		if (unusable.has(place.pack.name)) continue;
		index.set(id, {
			pack: place.pack.name,
			offset: place.offset,
			storedLength: place.storedLength,
			rawLength: place.rawLength,
			codec: place.codec as Codec
		});
	}
	return {
		opened: { repo: { root: staging, keys }, manifest, index, badPacks },
		staging,
		manifestParts,
		packsFetched,
		packsInPart,
		packsNeeded: packs.size
	};
}

function rangeBytes(range: { readonly size: number } | { readonly length: number }): number {
	return 'size' in range ? range.size : range.length;
}

/**
 * Reads the given ranges of a pack into a sparse file of its size, each at its own offset. Returns false, leaving no
 * file, when the CDN would not serve a range or a range read failed: the caller then fetches the pack whole (which
 * retries and checks its sha256).
 *
 * @throws TransportError ABORTED; CoreError DISK_FULL; errors of the staging file.
 */
async function readRanges(
	ctx: ArchiveContext,
	location: { channelId: string; messageId: string; attachmentId: string },
	pack: PackRecord,
	ranges: readonly { offset: number; length: number }[],
	file: string,
	signal: AbortSignal
): Promise<boolean> {
	const handle = await open(file, 'w', 0o600).catch((error: unknown) => {
		throw fromFsError(error, file);
	});
	try {
		await handle.truncate(pack.size);
	} catch (error) {
		await rm(file, { force: true });
		throw fromFsError(error, file);
	} finally {
		await handle.close();
	}
	for (const range of ranges) {
		const stream = createWriteStream(file, { flags: 'r+', start: range.offset });
		stream.on('error', () => undefined);
		try {
			await ctx.transport.downloadAttachment(location, { stream }, { expectedSize: pack.size, range, signal });
			await finished(stream);
		} catch (error) {
			stream.destroy();
			await rm(file, { force: true });
			if (signal.aborted || !(error instanceof TransportError)) throw fromFsError(error, file);
			ctx.log('warn', 'a range read of a pack failed; fetching it whole', { pack: pack.name, code: error.code });
			return false;
		}
	}
	return true;
}

/** The distinct blobs the selected files (all by default) use. @throws {CoreError} as `selectEntries`. */
function neededBlobs(manifest: ManifestV2, paths: readonly string[] | undefined): Set<string> {
	const ids = new Set<string>();
	for (const entry of selectEntries(manifest, paths)) for (const id of entry.blobs ?? []) ids.add(id);
	return ids;
}

/**
 * Downloads a format 2 archive (or selected paths of it) and restores it into a new folder under the download root,
 * with the core's safety rules (nothing written outside it, each file renamed into place once its sha256 matches).
 * With `salvage`, files whose blobs are missing or damaged are left out and listed; otherwise the first such failure
 * stops the restore.
 *
 * @throws as {@link fetchRepositoryArchive}, and the core restore's CoreErrors (FILE_EXISTS, MISSING_CHUNK,
 * TAMPERED_CHUNK, HASH_MISMATCH, UNSAFE_PATH, DISK_FULL, ABORTED).
 */
export async function downloadRepositoryArchive(
	ctx: ArchiveContext,
	archive: Archive,
	request: DownloadRequest,
	run: JobRun
): Promise<DownloadResult> {
	const paths = request.paths === undefined || request.paths.length === 0 ? undefined : request.paths;
	const fetched = await fetchRepositoryArchive(ctx, archive, run, paths);
	try {
		throwIfAborted(run.signal);
		const restoredTo = await newRestoreFolder(ctx, archive, fetched.opened.manifest.label, request.overwrite === true);
		let result;
		try {
			result = await assembleOpenedArchive(fetched.opened, {
				outDir: restoredTo,
				pool: ctx.pool,
				...(paths === undefined ? {} : { paths }),
				overwrite: request.overwrite === true,
				salvage: request.salvage === true,
				signal: run.signal,
				onProgress: (event) => {
					run.progress({
						archiveId: archive.id,
						phase: 'restoring',
						bytesDone: event.bytesDone,
						bytesTotal: event.bytesTotal,
						chunksDone: event.chunksDone,
						chunksTotal: event.chunksTotal
					});
				}
			});
		} catch (error) {
			await removeIfEmpty(restoredTo);
			throw error;
		}
		const complete = result.lost.length === 0;
		run.progress({
			archiveId: archive.id,
			phase: 'done',
			bytesDone: result.bytes,
			bytesTotal: result.bytes,
			chunksDone: fetched.packsNeeded,
			chunksTotal: fetched.packsNeeded,
			note: complete
				? `restored ${countOf(result.files, 'file')} into ${result.outDir}`
				: `incomplete: restored ${countOf(result.files, 'file')} into ${result.outDir}, ${result.lost.length} lost`
		});
		return {
			archiveId: archive.id,
			lot: archive.lot,
			format: archive.format,
			chunkDir: fetched.staging,
			chunkDirRemoved: true,
			restoredTo: result.outDir,
			files: result.files,
			bytes: result.bytes,
			chunksNeeded: fetched.packsNeeded,
			chunksFetched: fetched.packsFetched + fetched.manifestParts,
			chunksReused: 0,
			complete,
			lost: result.lost.map((file) => ({ path: file.path, chunks: [], code: file.code })),
			badChunks: [],
			notes: [
				`Format 2: ${countOf(fetched.packsFetched, 'pack')} fetched for ${countOf(result.blobs, 'blob')}${fetched.packsInPart > 0 ? ` (${fetched.packsInPart} of them only in part)` : ''}.`,
				...fetched.opened.badPacks.map((pack) => pack.message)
			]
		};
	} finally {
		await rm(fetched.staging, { recursive: true, force: true });
	}
}

/**
 * Checks a format 2 archive in full: fetches every pack holding a blob it references and has the core authenticate
 * every blob and recompute every file's sha256, writing no plaintext anywhere.
 *
 * @throws as {@link fetchRepositoryArchive}.
 */
export async function verifyRepositoryArchive(
	ctx: ArchiveContext,
	archive: Archive,
	run: JobRun
): Promise<VerifyRepositoryResult & { readonly packsChecked: number; readonly packsNeeded: number }> {
	const fetched = await fetchRepositoryArchive(ctx, archive, run, undefined, true);
	try {
		const result = await verifyOpenedArchive(fetched.opened, {
			pool: ctx.pool,
			signal: run.signal,
			onProgress: (event) => {
				run.progress({
					archiveId: archive.id,
					phase: 'verifying',
					bytesDone: event.bytesDone,
					bytesTotal: event.bytesTotal,
					chunksDone: event.chunksDone,
					chunksTotal: event.chunksTotal
				});
			}
		});
		return { ...result, badPacks: fetched.opened.badPacks, packsChecked: fetched.packsFetched, packsNeeded: fetched.packsNeeded };
	} finally {
		await rm(fetched.staging, { recursive: true, force: true });
	}
}
