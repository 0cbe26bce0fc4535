import {
	type ArchiveKey,
	type ArchivePlan,
	assertPassphrase,
	chunkCountFor,
	compareSource,
	CoreError,
	CoreErrorCode,
	deriveArchiveKey,
	isCoreError,
	type PlanEntry
} from '../core/index.js';
import { type Archive, ArchiveFormat, ArchiveStatus, ChunkKind, ChunkState, type EntryRecord } from '../db/index.js';
import { isResumable } from './card.js';
import type { ArchiveContext, JobRun } from './context.js';
import { fetchAttachmentToMemory } from './thread-reader.js';
import { ArchiveError, ArchiveErrorCode } from './errors.js';
import { type ReconcileReport, reconcileThread } from './reconcile.js';
import { resumeRepositoryArchive } from './resume-repository.js';
import { adoptLandedCard } from './upload-card.js';
import { CLI_STARTER, continueUpload, recordUploadFailure, resolveUploadFolder, type UploadResult } from './upload.js';

/**
 * The resume job (docs/design.md §4, Resume): reconcile the index with the thread first, then check the source against
 * the recorded plan (every entry's type, size, mtime, link target), then slice again in resume mode, reading only what
 * it must — sealing only the missing chunks, under the same archive key (one PBKDF2, from the recorded salt) — post
 * them, the manifest if missing, archive the thread, final card.
 *
 * What is read: every file with a byte in a missing chunk, and every file whose hash the index does not record yet
 * (each whole, from its first byte, to hash it). A file with a recorded hash that is read must still hash to it. Every
 * stored chunk such a file has a byte in is read whole (the other files' bytes in it too, unhashed), re-hashed and
 * compared with the plaintext hash recorded when it was sealed, so a change there is refused even when it kept the
 * file's size and mtime (see `planSliceReads`). A file that lies wholly in
 * stored chunks and whose hash is recorded is not read at all: its bytes are posted already and its recorded hash
 * describes exactly those bytes, so the archive stays consistent even if that file changed since; the archive then
 * holds the file as it was when it was posted.
 *
 * Before anything is sealed, the current USER_KEY must open a chunk the thread already holds (see
 * {@link assertKeyOpensArchive}): chunks sealed under another passphrase would make the archive unrestorable by any key.
 */

export interface ResumeRequest {
	/** The archive: `#241126-07`, `241126-07`, a lot number or the uid. */
	readonly archive: string;
	/** Who asked (a Discord user id), or null for the CLI (the card then names the CLI). */
	readonly requestedBy?: string | null;
}

export interface ResumeResult extends UploadResult {
	readonly reconciled: ReconcileReport;
}

/**
 * Checks that an archive can be resumed.
 *
 * @throws {ArchiveError} NOT_RESUMABLE when it is complete, deleted, imported (legacy) or lacks its key parameters.
 */
export function assertResumable(archive: Archive): void {
	if (!isResumable(archive)) {
		const why =
			archive.status === ArchiveStatus.Complete
				? 'it is already complete'
				: archive.status === ArchiveStatus.Deleted
					? 'it was deleted'
					: `it is a ${archive.format} archive, which this program does not upload`;
		throw new ArchiveError(ArchiveErrorCode.NotResumable, `Archive ${archive.id} cannot be resumed: ${why}.`, {
			archiveId: archive.id,
			lot: archive.lot
		});
	}
	// A format 2 archive is sealed with the channel's repository keys, not an archive key of its own.
	if (archive.format === ArchiveFormat.Dos1 && (archive.archiveSalt === null || archive.kdfIterations === null)) {
		throw new ArchiveError(
			ArchiveErrorCode.NotResumable,
			`Archive ${archive.id} has no recorded key parameters, so its missing chunks cannot be sealed under its key. Start a new upload of ${archive.source}.`,
			{ archiveId: archive.id, lot: archive.lot }
		);
	}
}

/**
 * Rebuilds an archive's plan from its recorded entries (manifest order, offsets, sizes, modes, mtimes, targets).
 */
export function planFromIndex(ctx: ArchiveContext, archive: Archive): ArchivePlan {
	const entries: PlanEntry[] = [];
	const totals = { files: 0, directories: 0, symlinks: 0 };
	let totalBytes = 0;
	for (let after: number | undefined; ;) {
		const page: EntryRecord[] = ctx.index.entries.list(archive.lot, { limit: 1_000, ...(after === undefined ? {} : { after }) });
		for (const entry of page) {
			const base = {
				path: entry.path,
				type: entry.type,
				size: entry.type === 'file' ? entry.size : 0,
				mode: entry.mode ?? 0,
				mtimeMs: entry.mtimeMs ?? 0
			};
			if (entry.type === 'file') {
				totals.files++;
				entries.push({ ...base, offset: entry.offset ?? totalBytes });
				totalBytes += entry.size;
			} else if (entry.type === 'directory') {
				totals.directories++;
				entries.push(base);
			} else {
				totals.symlinks++;
				entries.push({ ...base, target: entry.target ?? '' });
			}
		}
		const last = page.at(-1);
		if (last === undefined || page.length < 1_000) break;
		after = last.id;
	}
	const chunkCount = chunkCountFor(totalBytes, archive.chunkSize);
	if (chunkCount !== archive.chunkCount) {
		throw new ArchiveError(
			ArchiveErrorCode.NotResumable,
			`The index lists ${totalBytes} bytes of files for archive ${archive.id}, which makes ${chunkCount} chunks, but it planned ${archive.chunkCount}. The index is inconsistent: rebuild it from Discord.`,
			{ archiveId: archive.id, lot: archive.lot }
		);
	}
	return { chunkSize: archive.chunkSize, entries, totalBytes, chunkCount, totals };
}

/**
 * Resumes an interrupted, failed or cancelled upload (a format 2 one through {@link resumeRepositoryArchive}). On failure the archive is `failed` (or `cancelled` /
 * `interrupted` when stopped) and its card says why, as for an upload.
 *
 * @throws {ArchiveError} NOT_RESUMABLE; THREAD_MISMATCH.
 * @throws {CoreError} NO_KEY; SOURCE_CHANGED naming the files that changed; UNSAFE_PATH / NOT_FOUND when the source
 * folder is gone or moved out of the upload root; ABORTED.
 * @throws {IndexError} ARCHIVE_NOT_FOUND. TransportError from reconciling or posting.
 */
export async function resumeArchive(ctx: ArchiveContext, request: ResumeRequest, run: JobRun): Promise<ResumeResult> {
	const { signal } = run;
	assertPassphrase(ctx.settings.passphrase);
	const archive = ctx.index.archives.require(request.archive);
	assertResumable(archive);
	const startedBy = request.requestedBy ?? CLI_STARTER;
	if (archive.format === ArchiveFormat.Dos2) return resumeRepositoryArchive(ctx, archive, startedBy, run);
	let reconciled: ReconcileReport;
	let continued: Parameters<typeof continueUpload>[3];
	try {
		run.progress({
			archiveId: archive.id,
			phase: 'reconciling',
			bytesDone: 0,
			bytesTotal: archive.originalBytes,
			chunksDone: archive.storedChunkCount,
			chunksTotal: archive.chunkCount,
			note: 'reading the thread'
		});
		// The source is checked before the thread is reconciled: a resume that cannot go on deletes nothing.
		const plan = planFromIndex(ctx, archive);
		const { root } = await resolveUploadFolder(ctx.settings.uploadRoot, archive.source);
		const changes = await compareSource(root, plan, { signal });
		if (changes.length > 0) {
			const named = changes.slice(0, 20).map((change) => `${change.path} (${change.change})`);
			throw new CoreError(
				CoreErrorCode.SourceChanged,
				`The source of ${archive.id} changed since it was planned: ${named.join(', ')}${changes.length > 20 ? ` and ${changes.length - 20} more` : ''}. Its missing chunks cannot be rebuilt; restore those files as they were, or start a new upload.`,
				{ paths: changes.map((change) => change.path) }
			);
		}
		reconciled = await reconcileThread(ctx, archive, signal);
		await adoptLandedCard(ctx, archive, signal);
		const key = await deriveArchiveKey(ctx.settings.passphrase, {
			salt: Buffer.from(archive.archiveSalt!, 'hex'),
			iterations: archive.kdfIterations!,
			signal
		});
		// The key must open what the thread already holds before anything is sealed under it (WRONG_KEY otherwise).
		if (await assertKeyOpensArchive(ctx, archive, key, signal)) {
			// Damaged stored chunks were marked bad: a second pass deletes their messages and makes them pending.
			const again = await reconcileThread(ctx, archive, signal);
			reconciled = {
				messagesSeen: reconciled.messagesSeen,
				adopted: [...reconciled.adopted, ...again.adopted],
				vanished: [...reconciled.vanished, ...again.vanished],
				neverLanded: reconciled.neverLanded,
				deletedMessages: [...reconciled.deletedMessages, ...again.deletedMessages]
			};
		}
		continued = { root, plan, key, startedBy, fileHashes: recordedFileHashes(ctx, archive) };
	} catch (error) {
		await recordUploadFailure(ctx, archive.lot, error, signal, { startedBy });
		throw error;
	}
	const result = await continueUpload(ctx, archive.lot, run, continued);
	return { ...result, reconciled };
}

/**
 * Proves that `key` (the current USER_KEY over the archive's recorded salt) is the key the archive's stored chunks were
 * sealed with, before a resume seals anything: it downloads the first stored data chunk (the thread's copy, checked
 * against its recorded sha256) and opens it. A chunk that is damaged or gone proves nothing: it is marked bad (the
 * caller reconciles again, which deletes its message and makes it pending) and the next stored chunk is tried. With no
 * stored data chunk, nothing was sealed under any key yet (or every sealed chunk is bad), so any key is consistent.
 *
 * @returns whether a chunk was marked bad (the thread then needs reconciling again).
 * @throws {CoreError} WRONG_KEY when the key does not open an intact chunk: nothing has been posted or sealed.
 * TransportError when Discord stays unavailable; ABORTED.
 */
export async function assertKeyOpensArchive(ctx: ArchiveContext, archive: Archive, key: ArchiveKey, signal: AbortSignal): Promise<boolean> {
	if (archive.threadId === null) return false;
	const stored = ctx.index.chunks
		.list(archive.lot, { kind: ChunkKind.Data })
		.filter(
			(row) =>
				row.state === ChunkState.Stored &&
				row.messageId !== null &&
				row.attachmentId !== null &&
				row.sha256 !== null &&
				row.storedSize !== null
		);
	let markedBad = false;
	const keyBytes = key.exportBytes();
	try {
		for (const row of stored) {
			try {
				const sealed = await fetchAttachmentToMemory(ctx, {
					location: { channelId: archive.threadId, messageId: row.messageId!, attachmentId: row.attachmentId! },
					expectedSize: row.storedSize!,
					expectedSha256: row.sha256!,
					signal,
					failure: { archive, index: row.index, label: `Chunk ${row.index}`, item: undefined }
				});
				await ctx.pool.open(
					{
						sealed,
						archiveKey: keyBytes,
						expect: {
							kind: 'data',
							uid: Buffer.from(archive.uid, 'hex'),
							index: row.index,
							archiveSalt: key.salt,
							label: `Chunk ${row.index} of ${archive.id}`
						},
						sha256: row.sha256!,
						...(row.plainSize === null ? {} : { plainSize: row.plainSize }),
						...(row.plainSha256 === null ? {} : { plainSha256: row.plainSha256 })
					},
					signal
				);
				return markedBad;
			} catch (error) {
				if (isCoreError(error, CoreErrorCode.WrongKey)) {
					throw new CoreError(
						CoreErrorCode.WrongKey,
						`USER_KEY does not open the chunks ${archive.id} already holds: they were sealed under another passphrase. Nothing was posted. Set USER_KEY back to the passphrase this archive was uploaded with, then resume again.`,
						{ chunks: [row.index] },
						{ cause: error }
					);
				}
				if (!isCoreError(error) || error.code === CoreErrorCode.Aborted) throw error;
				ctx.log('warn', 'a stored chunk is damaged: it will be posted again', { archiveId: archive.id, chunk: row.index, code: error.code });
				ctx.index.chunks.markState(archive.lot, [row], ChunkState.Bad);
				markedBad = true;
			}
		}
		return markedBad;
	} finally {
		keyBytes.fill(0);
	}
}

/**
 * The file hashes the index records for an archive (recorded with the chunk that completed each file), path → sha256:
 * with them, the resume does not read the files that lie wholly in stored chunks.
 */
function recordedFileHashes(ctx: ArchiveContext, archive: Archive): Map<string, string> {
	const hashes = new Map<string, string>();
	for (let after: number | undefined; ;) {
		const page = ctx.index.entries.list(archive.lot, { limit: 1_000, ...(after === undefined ? {} : { after }) });
		for (const entry of page) {
			if (entry.type === 'file' && entry.sha256 !== null) hashes.set(entry.path, entry.sha256);
		}
		const last = page.at(-1);
		if (last === undefined || page.length < 1_000) break;
		after = last.id;
	}
	return hashes;
}
