import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
	type BadBlob,
	checkPackBlobs,
	type Codec,
	CoreError,
	CoreErrorCode,
	forEachConcurrently,
	fromFsError,
	isCoreError,
	PACKS_DIR,
	readPackFileTail,
	readPackHeader,
	subkeysOf,
	throwIfAborted
} from '../core/index.js';
import { PackState } from '../db/index.js';
import { countOf } from './card.js';
import type { ArchiveContext, JobRun } from './context.js';
import { openChannelKeys } from './repository-keys.js';
import { chunkFailure } from './thread-reader.js';

/**
 * The repository-wide check of a channel's format 2 repository (docs/design.md §9.7, Repository check): every stored pack is downloaded
 * once (fresh URL; its size and sha256 checked as it arrives), its header opened with the channel's keys and compared
 * with what the index recorded of it, and every blob the index places in it authenticated, inflated and its id
 * recomputed, in the workers; then every blob a live archive references must lie in a stored pack. Packs are
 * fetched a few at a time into a staging folder that holds at most {@link PACKS_AT_ONCE} of them, each removed once
 * checked: disk and memory stay bounded whatever the repository. Nothing is written to Discord or to the index.
 */

/** Packs downloaded and checked at once. */
const PACKS_AT_ONCE = 3;
/** Problems listed in full; beyond, only counted. */
const LISTED = 50;

/** A pack the check found damaged: unreadable, gone, not what the index recorded, or holding bad blobs. */
export interface PackProblem {
	readonly name: string;
	/** The archive whose upload posted it. */
	readonly archiveId: string;
	readonly code: string;
	readonly message: string;
}

/** The outcome of {@link checkRepository}. */
export interface RepositoryCheckResult {
	readonly ok: boolean;
	/** Stored packs checked (each downloaded once) and their bytes. */
	readonly packs: number;
	readonly packBytes: number;
	/** Blobs authenticated and their plaintext bytes. */
	readonly blobs: number;
	readonly blobBytes: number;
	/** Packs gone, damaged, or disagreeing with the index (at most {@link LISTED}; `packProblemCount` counts all). */
	readonly packProblems: readonly PackProblem[];
	readonly packProblemCount: number;
	/** Blobs that did not open (at most {@link LISTED}; `badBlobCount` counts all). */
	readonly badBlobs: readonly BadBlob[];
	readonly badBlobCount: number;
	/** Blobs live archives reference that no stored pack holds, with those archives. */
	readonly unheld: readonly { readonly id: string; readonly archives: readonly string[] }[];
	/** Live archives that a problem above touches (ids, oldest first): download or verify them to see which files. */
	readonly damagedArchives: readonly string[];
}

/**
 * Checks the archive channel's format 2 repository as a whole: see the module comment.
 *
 * @throws {CoreError} NO_KEY, WRONG_KEY (the channel's keys); DISK_FULL (staging); ABORTED. TransportError when Discord
 * stays unavailable.
 */
export async function checkRepository(ctx: ArchiveContext, run: JobRun): Promise<RepositoryCheckResult> {
	const { signal } = run;
	const channelId = ctx.settings.archiveChannelId;
	const keys = subkeysOf((await openChannelKeys(ctx, { signal })).keys);
	const packs = ctx.index.packs.storedPacks(channelId);
	const ownerOf = (lot: number) => ctx.index.archives.find(String(lot))?.id ?? `lot ${lot}`;
	const staging = path.join(ctx.settings.tempRoot ?? tmpdir(), `check-${randomBytes(4).toString('hex')}`);
	await mkdir(path.join(staging, PACKS_DIR), { recursive: true, mode: 0o700 }).catch((error: unknown) => {
		throw fromFsError(error, staging);
	});
	const repo = { root: staging, keys };
	const packProblems: PackProblem[] = [];
	let packProblemCount = 0;
	const badBlobs: BadBlob[] = [];
	let badBlobCount = 0;
	const badIds = new Set<string>();
	const bytesTotal = packs.reduce((sum, pack) => sum + pack.size, 0);
	let bytesDone = 0;
	let packsDone = 0;
	let blobs = 0;
	let blobBytes = 0;
	const problem = (pack: { name: string; archiveLot: number }, code: string, message: string) => {
		packProblemCount++;
		if (packProblems.length < LISTED) packProblems.push({ name: pack.name, archiveId: ownerOf(pack.archiveLot), code, message });
	};
	try {
		run.progress({ archiveId: undefined, phase: 'verifying', bytesDone, bytesTotal, chunksDone: 0, chunksTotal: packs.length });
		await forEachConcurrently(packs, PACKS_AT_ONCE, signal, async (pack) => {
			const recorded = ctx.index.packs.blobsIn(pack.id);
			const file = path.join(staging, PACKS_DIR, pack.name);
			try {
				try {
					await ctx.transport.downloadAttachment(
						{ channelId: pack.threadId, messageId: pack.messageId!, attachmentId: pack.attachmentId! },
						{ file },
						{ expectedSize: pack.size, expectedSha256: pack.sha256, signal }
					);
				} catch (error) {
					const failure = chunkFailure(error, { id: ownerOf(pack.archiveLot) }, pack.messageIndex, `Pack ${pack.name}`, undefined);
					if (failure === undefined) throw error;
					// A cleanup running meanwhile may have deleted it: only a pack still recorded stored is missing.
					if (ctx.index.packs.list(pack.archiveLot).some((row) => row.id === pack.id && row.state === PackState.Stored)) {
						problem(pack, failure.code, failure.message);
						for (const blob of recorded) badIds.add(blob.id);
					}
					return;
				}
				// The header must open with the channel's keys and list exactly the blobs the index places in the pack.
				try {
					const { size, tail } = await readPackFileTail(file);
					const header = readPackHeader(keys, tail, size);
					const listed = new Map(header.entries.map((entry) => [entry.id.toString('hex'), entry]));
					const differs = recorded.filter((blob) => {
						const entry = listed.get(blob.id);
						return (
							entry?.offset !== blob.offset ||
							entry.storedLength !== blob.storedLength ||
							entry.rawLength !== blob.rawLength ||
							entry.codec !== blob.codec
						);
					});
					if (differs.length > 0 || listed.size !== recorded.length)
						problem(
							pack,
							CoreErrorCode.BadFormat,
							`Pack ${pack.name} of ${ownerOf(pack.archiveLot)}: its header lists ${countOf(listed.size, 'blob')}, the index ${recorded.length} (${differs.length} differing). Rebuild the index from Discord (/archive rebuild).`
						);
				} catch (error) {
					if (!isCoreError(error)) throw error;
					problem(pack, error.code, `Pack ${pack.name} of ${ownerOf(pack.archiveLot)}: its header does not open (${error.message})`);
				}
				const checked = await checkPackBlobs(
					repo,
					pack.name,
					recorded.map((blob) => ({ ...blob, codec: blob.codec as Codec })),
					{ pool: ctx.pool, signal }
				);
				blobs += checked.blobs;
				blobBytes += checked.bytes;
				if (checked.badBlobs.length > 0) {
					problem(
						pack,
						CoreErrorCode.TamperedChunk,
						`Pack ${pack.name} of ${ownerOf(pack.archiveLot)}: ${countOf(checked.badBlobs.length, 'blob')} of ${checked.blobs} do not open.`
					);
					for (const blob of checked.badBlobs) {
						badIds.add(blob.id);
						badBlobCount++;
						if (badBlobs.length < LISTED) badBlobs.push(blob);
					}
				}
			} finally {
				await rm(file, { force: true });
				await rm(`${file}.part`, { force: true });
			}
			packsDone++;
			bytesDone += pack.size;
			run.progress({
				archiveId: undefined,
				phase: 'verifying',
				bytesDone,
				bytesTotal,
				chunksDone: packsDone,
				chunksTotal: packs.length,
				note: `${countOf(packsDone, 'pack')} of ${packs.length} checked`
			});
		});
	} finally {
		await rm(staging, { recursive: true, force: true });
	}
	throwIfAborted(signal);
	// Read after the packs, so that an archive uploaded meanwhile has its packs recorded.
	const unheld = [...ctx.index.packs.unheldReferences(channelId, LISTED)].map(([id, archives]) => ({ id, archives }));
	const damagedArchives = [...new Set([...ctx.index.packs.archivesReferencing(channelId, badIds), ...unheld.flatMap((blob) => blob.archives)])];
	const ok = packProblemCount === 0 && badBlobCount === 0 && unheld.length === 0;
	run.progress({
		archiveId: undefined,
		phase: 'done',
		bytesDone,
		bytesTotal,
		chunksDone: packsDone,
		chunksTotal: packs.length,
		note: ok ? `${countOf(packsDone, 'pack')} and ${countOf(blobs, 'blob')} checked` : countOf(packProblemCount, 'damaged pack')
	});
	return {
		ok,
		packs: packsDone,
		packBytes: bytesDone,
		blobs,
		blobBytes,
		packProblems,
		packProblemCount,
		badBlobs,
		badBlobCount,
		unheld,
		damagedArchives
	};
}

/** @throws {CoreError} NOT_FOUND: the archive channel holds no format 2 archive and no pack, so there is nothing to check. */
export function assertCheckable(ctx: ArchiveContext): void {
	if (ctx.index.packs.storedPacks(ctx.settings.archiveChannelId).length === 0 && ctx.index.packs.totals().archives === 0)
		throw new CoreError(CoreErrorCode.NotFound, 'The archive channel holds no format 2 archive yet: there is no repository to check.');
}
