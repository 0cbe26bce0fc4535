import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { setMaxListeners } from 'node:events';
import path from 'node:path';
import { tmpdir } from 'node:os';
import {
	type ClosedPack,
	type Codec,
	DEFAULT_PACK_SIZE,
	MIN_PACK_SIZE,
	type ManifestV2,
	newArchiveUid,
	parseCodec,
	type RepositorySubkeys,
	sealManifestV2,
	sha256Hex,
	sliceInto,
	type SliceResult,
	subkeysOf
} from '../core/index.js';
import { type Archive, archiveEntryInput, ArchiveFormat, ArchiveStatus, ChunkKind, EntryType, PackState } from '../db/index.js';
import { MESSAGE_REQUEST_BYTES } from '../config.js';
import { chunkNonce, DiscordLimits } from '../discord/index.js';
import { countOf, ProgressMeter, renderCard, repositorySizes } from './card.js';
import type { CardUpdater } from './card-updater.js';
import type { ArchiveContext, JobRun } from './context.js';
import { errorSummary } from './errors.js';
import { openChannelKeys } from './repository-keys.js';
import { fetchRepositoryManifest, manifestPartName } from './repository-manifest.js';
import { startUploadCard } from './upload-card.js';
import { postRecorded, postTracked } from './upload-posting.js';
import type { UploadResult } from './upload.js';

/**
 * A format 2 upload into the archive channel's repository (docs/design.md §9): the archive gets its card and thread as
 * format 1's do; the core's slice cuts the folder into content-defined blobs and keeps only those the channel does not
 * hold yet (the blobs of its stored packs, per the index), sealed with the channel's repository keys
 * into packs staged in a folder of the bot's own; each pack, once closed, waits for the next (default 2 full packs and
 * a smaller one filling the request per message) and goes into the thread, recorded in flight before its post and stored after, then its staged file is removed;
 * the sealed manifest is posted last. The parent (the newest complete format 2 archive of the same folder) spares
 * reading files whose size and mtime did not change.
 */

/** Packs per message when the settings say nothing. */
const DEFAULT_PACKS_PER_MESSAGE = 2;
/** Room kept in a message request for its JSON part and multipart framing. */
const REQUEST_OVERHEAD = 64 * 1024;

/** How format 2 uploads are made, from the settings. */
interface RepositoryOptions {
	readonly codec: Codec;
	readonly packSize: number;
	readonly dedup: 'repository' | 'archive';
	/** Full-size packs per message. */
	readonly packsPerMessage: number;
	/** Bytes one message's packs may take together. */
	readonly messageBudget: number;
	/**
	 * The limit of one more, smaller pack per message that fills the request the full ones leave (25 MiB holds two
	 * 9.5 MiB packs and about 6 MiB more); undefined when that room could not hold the smallest pack, or would hold
	 * a full one (the setting asked for fewer packs than fit).
	 */
	readonly fillerSize: number | undefined;
}

function repositoryOptions(ctx: ArchiveContext): RepositoryOptions {
	const { settings } = ctx;
	const packSize = settings.packSize ?? Math.min(DEFAULT_PACK_SIZE, settings.attachmentLimit);
	const packsPerMessage = settings.packsPerMessage ?? DEFAULT_PACKS_PER_MESSAGE;
	const messageBudget = Math.max(settings.messageRequestBytes ?? MESSAGE_REQUEST_BYTES, settings.attachmentLimit) - REQUEST_OVERHEAD;
	const room = messageBudget - packsPerMessage * packSize;
	return {
		codec: parseCodec(settings.compression ?? (settings.gzipLevel === 0 ? 'none' : `gzip-${settings.gzipLevel}`)),
		packSize,
		dedup: settings.dedup ?? 'repository',
		packsPerMessage,
		messageBudget: Math.max(messageBudget, packsPerMessage * packSize),
		fillerSize: room >= MIN_PACK_SIZE && room < packSize && packsPerMessage < DiscordLimits.attachmentsPerMessage ? room : undefined
	};
}

/**
 * Allocates the archive of a format 2 upload (lot, id, `dos-2`); its files are walked by the slice that follows.
 *
 * @throws {IndexError} as `allocate`.
 */
export function allocateRepositoryArchive(ctx: ArchiveContext, source: string, label: string | null, requestedBy: string | null): Archive {
	return ctx.index.archives.allocate({
		uid: newArchiveUid().toString('hex'),
		source,
		label,
		format: ArchiveFormat.Dos2,
		chunkSize: repositoryOptions(ctx).packSize,
		gzipLevel: null,
		kdf: null,
		channelId: ctx.settings.archiveChannelId,
		createdBy: requestedBy
	});
}

/** A closed pack waiting for its message. */
interface StagedPack {
	readonly pack: ClosedPack;
}

/**
 * How a resume continues a format 2 upload (see `resume-repository.ts`), once the thread is reconciled: the packs the
 * archive holds stored stay its own, and this run's posts neither reuse a message index nor a nonce of an earlier run.
 */
export interface RepositoryContinuation {
	/** The message index of this run's first pack message: after every index an earlier run used. */
	readonly messageIndex: number;
	/** The nonce generation of this run's posts (≥ 1, drawn for the run): no nonce of an earlier run is sent again. */
	readonly generation: number;
	/** The archive's manifest, when every part of it is stored already: then nothing is sliced, the upload completes. */
	readonly manifest?: { readonly manifest: ManifestV2; readonly parts: number };
}

/**
 * Uploads a folder as a format 2 archive already allocated (see {@link allocateRepositoryArchive}), or continues one a
 * resume reconciled (`continuation`). On failure the archive is `failed` (or `cancelled` / `interrupted`), its card
 * says so, and the error is rethrown; the packs it posted stay recorded, and a resume keeps them.
 *
 * @throws TransportError; CoreError SOURCE_CHANGED / WRONG_KEY / ABORTED; IndexError; ArchiveError THREAD_MISMATCH.
 */
export async function uploadRepositoryArchive(
	ctx: ArchiveContext,
	lot: number,
	root: string,
	run: JobRun,
	startedBy: string | null,
	onFailure: (error: unknown, updater: CardUpdater | null) => Promise<void>,
	continuation?: RepositoryContinuation
): Promise<UploadResult> {
	const { index, transport, settings } = ctx;
	const { signal } = run;
	setMaxListeners(256, signal);
	const options = repositoryOptions(ctx);
	let archive = index.archives.require(lot);
	let updater: CardUpdater | null = null;
	const staging = path.join(settings.tempRoot ?? tmpdir(), `upload-${archive.id.slice(1)}-${randomBytes(4).toString('hex')}`);
	const progress = { bytesDone: 0, bytesTotal: 0, packsPosted: 0 };
	const meter = new ProgressMeter();
	let reportedAt = 0;
	/** Reports bytes sliced and packs posted to the job and the card (every message, and at most twice a second between). */
	const report = (note?: string) => {
		reportedAt = Date.now();
		run.progress({
			archiveId: archive.id,
			phase: 'uploading',
			bytesDone: progress.bytesDone,
			bytesTotal: progress.bytesTotal,
			chunksDone: progress.packsPosted,
			chunksTotal: progress.packsPosted,
			...(note === undefined ? {} : { note })
		});
		const counts = {
			bytesDone: progress.bytesDone,
			bytesTotal: progress.bytesTotal,
			chunksDone: progress.packsPosted,
			chunksTotal: progress.packsPosted
		};
		updater?.update(renderCard({ archive, status: 'uploading', progress: meter.sample(reportedAt, counts), startedBy }));
	};
	try {
		const started = await startUploadCard(ctx, lot, startedBy, signal);
		({ archive, updater } = started);
		const { threadId } = started;
		await mkdir(staging, { recursive: true, mode: 0o700 });
		let messageIndex = continuation?.messageIndex ?? 0;
		const generation = continuation?.generation ?? 0;
		let waiting: StagedPack[] = [];
		let waitingBytes = 0;
		// Full packs and, when it fits, a smaller one that fills the rest of the request: every (n+1)-th pack opened.
		const perMessage = options.packsPerMessage + (options.fillerSize === undefined ? 0 : 1);
		/** Posts the packs waiting as one message: recorded in flight (with their blobs), posted, recorded stored, unstaged. */
		const postWaiting = async () => {
			if (waiting.length === 0) return;
			const batch = waiting;
			waiting = [];
			waitingBytes = 0;
			// Streamed from the staged files when the request is sent: no pack is read into memory to be posted.
			const files = batch.map(({ pack }) => ({ name: `${pack.name}.pack`, path: pack.file, size: pack.size, sha256: pack.sha256 }));
			const nonce = chunkNonce({ archiveUid: archive.uid, kind: ChunkKind.Data, index: messageIndex, generation });
			const at = messageIndex++;
			await postTracked(ctx, archive, threadId, {
				files,
				content: `${countOf(batch.length, 'pack')} · message ${at + 1} · ${archive.id}`,
				nonce,
				signal,
				inFlight: () => {
					index.packs.markInFlight(
						lot,
						{ threadId, messageIndex: at, nonce },
						batch.map(({ pack }, position) => ({
							name: pack.name,
							size: pack.size,
							sha256: pack.sha256,
							attachmentIndex: position,
							blobs: pack.entries.map((entry) => ({
								id: entry.id.toString('hex'),
								offset: entry.offset,
								storedLength: entry.storedLength,
								rawLength: entry.rawLength,
								codec: entry.codec
							}))
						}))
					);
				},
				stored: (message) => {
					index.packs.markStored(
						lot,
						batch.map(({ pack }, position) => ({
							name: pack.name,
							messageId: message.messageId,
							attachmentId: message.attachments[position]!.id
						}))
					);
				}
			});
			for (const { pack } of batch) await rm(pack.file, { force: true });
			progress.packsPosted += batch.length;
			archive = index.archives.require(lot);
			report(`${countOf(progress.packsPosted, 'pack')} stored`);
		};
		let keys: RepositorySubkeys | undefined;
		let manifestParts = 0;
		/** Slices the folder, posting packs as they close and the manifest last. */
		const slice = (): Promise<SliceResult> =>
			sliceInto(
				{
					source: root,
					pool: ctx.pool,
					codec: options.codec,
					packSize: options.packSize,
					dedup: options.dedup,
					label: archive.label ?? '',
					// Sealed in the manifest, so that a rebuild from Discord gives the row back whole.
					sourceName: archive.source,
					...(archive.createdBy === null || !/^\d{1,20}$/.test(archive.createdBy) ? {} : { requestedBy: archive.createdBy }),
					tool: 'discord-object-store',
					signal,
					now: archive.createdAt,
					onProgress: (event) => {
						progress.bytesDone = event.bytesDone;
						progress.bytesTotal = event.bytesTotal;
						if (Date.now() - reportedAt >= 500) report();
					}
				},
				async () => {
					const opened = await openChannelKeys(ctx, { create: true, signal });
					keys = subkeysOf(opened.keys);
					const parent = index.packs.parentOf(settings.archiveChannelId, archive.source, lot);
					let parentManifest: ManifestV2 | undefined;
					if (parent !== undefined && options.dedup === 'repository') {
						parentManifest = await fetchRepositoryManifest(ctx, parent, keys.manifest, signal).then(
							(fetched) => fetched.manifest,
							(error: unknown) => {
								// Without it every file is read again; nothing is lost.
								ctx.log('warn', 'the parent manifest could not be read', {
									archiveId: archive.id,
									parent: parent.id,
									...errorSummary(error)
								});
								return undefined;
							}
						);
					}
					// The archive's own stored packs (a resume's earlier runs): kept, and counted as its new bytes.
					const own = index.packs.list(lot).filter((row) => row.state === PackState.Stored);
					return {
						keys,
						known: options.dedup === 'repository' ? index.packs.knownBlobs(settings.archiveChannelId) : new Set<string>(),
						...(own.length === 0
							? {}
							: {
									stored: {
										packs: own.map((row) => row.name),
										bytes: own.reduce((sum, row) => sum + row.size, 0),
										blobs: index.packs.storedBlobsOf(lot)
									}
								}),
						archiveId: archive.id,
						...(parent === undefined ? {} : { parent: { id: parent.id, manifest: parentManifest } }),
						packs: {
							dir: staging,
							keys,
							...(options.fillerSize === undefined
								? {}
								: {
										limitFor: (ordinal: number) =>
											ordinal % perMessage === perMessage - 1 ? options.fillerSize! : options.packSize
									}),
							onClosed: async (pack) => {
								// Packs close in any order (the writer keeps several open): a message takes them while they fit.
								// Awaited: the writer, and so the slice, waits while a message's worth is being posted.
								if (waitingBytes + pack.size > options.messageBudget) await postWaiting();
								waiting.push({ pack });
								waitingBytes += pack.size;
								if (waiting.length >= perMessage) await postWaiting();
							}
						},
						writeManifest: async (manifest) => {
							await postWaiting();
							manifestParts = await postRepositoryManifest(ctx, archive, threadId, manifest, keys!.manifest, generation, signal);
							return manifestParts;
						}
					};
				}
			);
		// A resume that found the whole manifest stored slices nothing: the thread holds the archive already.
		const result: Pick<SliceResult, 'manifest' | 'skipped'> =
			continuation?.manifest === undefined ? await slice() : { manifest: continuation.manifest.manifest, skipped: [] };
		if (continuation?.manifest !== undefined) manifestParts = continuation.manifest.parts;
		const { totals } = result.manifest;
		archive = index.archives.update(lot, { newBytes: totals.newBytes, reusedBytes: totals.reusedBytes });
		archive = index.archives.setStatus(lot, ArchiveStatus.Complete);
		try {
			await transport.archiveThread(threadId, { signal });
		} catch (error) {
			ctx.log('warn', 'could not archive and lock the thread', { archiveId: archive.id, threadId, ...errorSummary(error) });
		}
		run.progress({
			archiveId: archive.id,
			phase: 'done',
			bytesDone: totals.bytes,
			bytesTotal: totals.bytes,
			chunksDone: progress.packsPosted,
			chunksTotal: progress.packsPosted,
			note: `${archive.id} complete`
		});
		await updater.finish(renderCard({ archive, status: 'complete', startedBy }));
		ctx.log('info', 'archive complete', { archiveId: archive.id, packsPosted: progress.packsPosted, manifestParts });
		return {
			archiveId: archive.id,
			lot,
			uid: archive.uid,
			threadId,
			cardMessageId: archive.cardMessageId!,
			chunks: 0,
			chunksPosted: 0,
			manifestParts,
			originalBytes: archive.originalBytes,
			storedBytes: archive.storedBytes,
			skipped: result.skipped,
			format: 2,
			packsPosted: progress.packsPosted,
			newBytes: totals.newBytes,
			reusedBytes: totals.reusedBytes
		};
	} catch (error) {
		await onFailure(error, updater);
		throw error;
	} finally {
		await rm(staging, { recursive: true, force: true });
	}
}

/**
 * Records the archive's entries and the blobs it references, seals its manifest with the channel's manifest subkey and
 * posts the parts, each recorded before and after its post as format 1's manifest parts are.
 *
 * @returns how many parts the manifest took.
 */
async function postRepositoryManifest(
	ctx: ArchiveContext,
	archive: Archive,
	threadId: string,
	manifest: ManifestV2,
	manifestKey: Uint8Array,
	generation: number,
	signal: AbortSignal
): Promise<number> {
	ctx.index.archives.recordPlan(archive.lot, {
		// Format 2 files span no chunks: their blobs are in the manifest.
		entries: manifest.entries.map((entry) => archiveEntryInput(entry, null)),
		chunks: []
	});
	// Checked held in the same transaction: a cleanup since the slice began may have deleted a pack it counted on.
	ctx.index.packs.setReferences(
		archive.lot,
		manifest.entries.flatMap((entry) => (entry.type === EntryType.File ? (entry.blobs ?? []) : [])),
		archive.channelId ?? ctx.settings.archiveChannelId
	);
	const parts = sealManifestV2(manifestKey, manifest);
	for (const [index, bytes] of parts.entries()) {
		const filename = manifestPartName(archive, index);
		await postRecorded(ctx, archive, threadId, {
			kind: ChunkKind.Manifest,
			index,
			file: { name: filename, data: bytes },
			facts: { filename, storedSize: bytes.length, sha256: sha256Hex(bytes) },
			content: `manifest ${index + 1}/${parts.length} · ${archive.id}`,
			previousNonce: null,
			generation,
			signal
		});
	}
	return parts.length;
}

/** The log channel's line for a finished format 2 upload. */
export function repositoryLogLine(archive: Archive, packsPosted: number): string {
	return `✅ ${archive.id}${archive.label ? ` · ${archive.label}` : ''} uploaded: ${countOf(archive.fileCount, 'file')}, ${repositorySizes(archive)}, ${countOf(packsPosted, 'pack')} posted.`;
}
