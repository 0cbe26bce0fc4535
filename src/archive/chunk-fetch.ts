import { lstat, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CoreError, CoreErrorCode, forEachConcurrently } from '../core/index.js';
import type { Archive } from '../db/index.js';
import type { ArchiveContext, JobRun } from './context.js';
import { chunkFailure, location, type ThreadAttachment, threadRefOf } from './thread-reader.js';

/** Fetching the chunks a download needs into its chunk folder, checked as they arrive, reusing what is already there. */

/** How many chunk downloads run at once (one thread is one rate-limit bucket only for posts; the CDN is not). */
const DOWNLOAD_CONCURRENCY = 3;

/** A chunk to put into the chunk folder. */
export interface WantedChunk {
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

/**
 * Puts every wanted chunk into the chunk folder: a file already there with the right bytes is kept; any other is
 * downloaded (fresh URL, size and hash checked as it arrives, renamed into place only when right). All chunks are
 * tried; then every damaged or missing one is named at once, or, with `salvage`, returned by index for the restore to
 * lose only their files.
 */
export async function fetchChunks(
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
