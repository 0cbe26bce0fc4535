import { randomInt } from 'node:crypto';
import { Writable } from 'node:stream';
import { isCoreError, subkeysOf, CoreErrorCode, type ManifestV2 } from '../core/index.js';
import { type Archive, ChunkKind, type ChunkRecord, ChunkState, type PackRecord, PackState } from '../db/index.js';
import { isTransportError, type LiveAttachment, type LiveMessage, TransportErrorCode } from '../discord/index.js';
import type { ArchiveContext, JobRun } from './context.js';
import { botUserId, type ChunkLabel, deleteThreadMessage, type ReconcileReport } from './reconcile.js';
import { openChannelKeys } from './repository-keys.js';
import { fetchRepositoryManifest } from './repository-manifest.js';
import { adoptLandedCard } from './upload-card.js';
import { postLogLine, recordUploadFailure, resolveUploadFolder, type UploadResult } from './upload.js';
import { repositoryLogLine, uploadRepositoryArchive } from './upload-repository.js';

/**
 * The resume of an interrupted format 2 upload (docs/design.md §4.2 and §9.7): the channel's keys are opened first
 * (WRONG_KEY before anything changes), then the index is reconciled with the archive's thread — every pack recorded in
 * flight is looked for (the bot's own message holding exactly those packs: names, sizes and sha256 of the bytes) and
 * recorded stored when it landed, forgotten when it did not; a stored pack whose message or attachment is gone is
 * forgotten; the manifest parts are settled — then the folder is sliced again with the archive's stored packs as its
 * own: their blobs are not posted again, only what is missing is, then the manifest, and the archive completes.
 *
 * What the archive holds: the folder as the run that completes it reads it. Packs are content-addressed, so a file
 * changed since the interrupted run simply makes new blobs (posted by the resume), and the blobs of its earlier
 * version stay in their pack, referenced by no manifest; nothing is refused (format 1, whose chunks are byte ranges of
 * the planned folder, refuses with SOURCE_CHANGED instead). The manifest keeps the archive's creation time.
 */

/** A resume's account of the thread (see {@link ReconcileReport}): labels are pack file names and `m<part>`. */
interface RepositoryReconciliation {
	readonly report: ReconcileReport;
	/** The message index after every one the archive's runs used (recorded in flight or stored). */
	readonly nextMessageIndex: number;
	/** Whether every manifest part is recorded stored and still in the thread. */
	readonly manifestStored: boolean;
}

/** The name of a pack's attachment. */
const packFileName = (row: Pick<PackRecord, 'name'>): string => `${row.name}.pack`;

/**
 * Resumes a format 2 archive (the caller checked it is resumable). On failure the archive is `failed` (or
 * `cancelled` / `interrupted`) and its card says why, as for an upload.
 *
 * @throws {CoreError} NO_KEY, WRONG_KEY; UNSAFE_PATH / NOT_FOUND when the source folder is gone; ABORTED.
 * @throws {ArchiveError} THREAD_MISMATCH. TransportError from reconciling or posting; IndexError.
 */
export async function resumeRepositoryArchive(
	ctx: ArchiveContext,
	archive: Archive,
	startedBy: string,
	run: JobRun
): Promise<UploadResult & { readonly reconciled: ReconcileReport }> {
	const { signal } = run;
	let root: string;
	let reconciled: RepositoryReconciliation;
	let manifest: { manifest: ManifestV2; parts: number } | undefined;
	try {
		run.progress({
			archiveId: archive.id,
			phase: 'reconciling',
			bytesDone: 0,
			bytesTotal: archive.originalBytes,
			chunksDone: 0,
			chunksTotal: 0,
			note: 'reading the thread'
		});
		// Nothing changes before the folder is found and USER_KEY opens the channel's keys.
		({ root } = await resolveUploadFolder(ctx.settings.uploadRoot, archive.source));
		const keys = subkeysOf((await openChannelKeys(ctx, { create: true, signal })).keys);
		const current = await adoptLandedCard(ctx, archive, signal);
		reconciled = await reconcileRepositoryThread(ctx, current, signal);
		if (reconciled.manifestStored) {
			// The manifest landed whole before the run stopped: it is the archive; it completes without slicing.
			// It must open, and every blob it references must still be held (a pack of the archive may have vanished).
			let why: string | undefined;
			try {
				const fetched = await fetchRepositoryManifest(ctx, current, keys.manifest, signal);
				const ids = new Set(fetched.manifest.entries.flatMap((entry) => entry.blobs ?? []));
				const held = ctx.index.packs.locate(current.channelId ?? ctx.settings.archiveChannelId, ids);
				if (held.size === ids.size) manifest = { manifest: fetched.manifest, parts: fetched.fetched };
				else why = `${ids.size - held.size} of the blobs it references are no longer held`;
			} catch (error) {
				if (!isCoreError(error) || error.code === CoreErrorCode.Aborted) throw error;
				why = `it does not open (${error.code})`;
			}
			if (why !== undefined) {
				ctx.log('warn', 'the stored manifest is sealed and posted again', { archiveId: archive.id, why });
				const deleted = await discardManifest(ctx, current, signal);
				reconciled = { ...reconciled, report: { ...reconciled.report, deletedMessages: [...reconciled.report.deletedMessages, ...deleted] } };
			}
		}
	} catch (error) {
		await recordUploadFailure(ctx, archive.lot, error, signal, { startedBy });
		throw error;
	}
	const result = await uploadRepositoryArchive(
		ctx,
		archive.lot,
		root,
		run,
		startedBy,
		(error, updater) => recordUploadFailure(ctx, archive.lot, error, signal, { startedBy, updater }),
		{
			messageIndex: reconciled.nextMessageIndex,
			// Drawn per run: a post of an earlier run that landed late must not answer for one of this run.
			generation: randomInt(1, 2 ** 31),
			...(manifest === undefined ? {} : { manifest })
		}
	);
	await postLogLine(ctx, repositoryLogLine(ctx.index.archives.require(archive.lot), result.packsPosted ?? 0));
	return { ...result, reconciled: reconciled.report };
}

/**
 * Brings the index in line with what a format 2 archive's thread holds, before anything is posted again. Only the
 * bot's own messages are considered: a message of anyone else is never taken for the archive's, whatever it carries.
 * - A stored pack stays when its recorded message still holds its recorded attachment (name and size); otherwise it
 *   is forgotten (its blobs stop counting as held, so the resume posts them again).
 * - The packs of one message recorded in flight are recorded stored when a message of the bot holds exactly them, in
 *   order — names, sizes, and bytes whose sha256 is the recorded one (downloaded and checked) — the post that landed
 *   although its answer was lost; the oldest such message when there are several. Otherwise they are forgotten.
 * - Another message of the bot holding only packs the archive keeps stored (a repeated post) is deleted.
 * - A manifest part in flight is recorded stored on the same terms. Unless every part is then stored and in its
 *   message, every message of the bot holding a manifest part of this archive is deleted and the parts recorded
 *   pending: the resume seals and posts the whole manifest again.
 *
 * @throws TransportError from paging, downloading or deleting (NOT_FOUND when the thread itself is gone …).
 */
export async function reconcileRepositoryThread(ctx: ArchiveContext, archive: Archive, signal: AbortSignal): Promise<RepositoryReconciliation> {
	const lot = archive.lot;
	const rows = ctx.index.packs.list(lot);
	const nextMessageIndex = rows.reduce((next, row) => Math.max(next, row.messageIndex + 1), 0);
	const adopted: ChunkLabel[] = [];
	const vanished: ChunkLabel[] = [];
	const neverLanded: ChunkLabel[] = [];
	const deletedMessages: string[] = [];
	const parts = ctx.index.chunks.list(lot, { kind: ChunkKind.Manifest });
	if (archive.threadId === null) {
		// No thread: nothing was ever posted.
		const names = rows.map((row) => row.name);
		ctx.index.packs.forget(lot, names);
		ctx.index.chunks.markState(lot, parts, ChunkState.Pending);
		return {
			report: { messagesSeen: 0, adopted, vanished, neverLanded: names.map((name) => `${name}.pack`), deletedMessages },
			nextMessageIndex,
			manifestStored: false
		};
	}
	const threadId = archive.threadId;
	const selfId = await botUserId(ctx, signal);
	const ours: LiveMessage[] = [];
	for await (const message of ctx.transport.pageMessages(threadId, { signal })) {
		if (message.authorId === selfId && message.attachments.length > 0) ours.push(message);
	}
	const byId = new Map(ours.map((message) => [message.id, message]));
	const holds = (messageId: string | null, attachmentId: string | null, filename: string, size: number | null) =>
		messageId !== null &&
		byId
			.get(messageId)
			?.attachments.some((attachment) => attachment.id === attachmentId && attachment.filename === filename && attachment.size === size) ===
			true;
	const kept = new Set<string>();

	// Stored packs: still where they were recorded, or forgotten.
	for (const row of rows.filter((candidate) => candidate.state === PackState.Stored)) {
		if (holds(row.messageId, row.attachmentId, packFileName(row), row.size)) kept.add(row.messageId!);
		else vanished.push(packFileName(row));
	}
	ctx.index.packs.forget(
		lot,
		vanished.map((file) => file.slice(0, -'.pack'.length))
	);

	// Packs in flight, one message at a time: landed (adopted) or not (forgotten).
	const inFlight = new Map<string, PackRecord[]>();
	for (const row of rows.filter((candidate) => candidate.state === PackState.InFlight)) {
		const key = `${row.messageIndex}:${row.postNonce}`;
		inFlight.set(key, [...(inFlight.get(key) ?? []), row]);
	}
	for (const group of inFlight.values()) {
		const packs = group.sort((a, b) => a.attachmentIndex - b.attachmentIndex);
		const expected = packs.map((row) => ({ filename: packFileName(row), size: row.size, sha256: row.sha256 }));
		const landed = await findExactMessage(ctx, threadId, ours, kept, expected, signal);
		if (landed === undefined) {
			ctx.index.packs.forget(
				lot,
				packs.map((row) => row.name)
			);
			neverLanded.push(...expected.map((file) => file.filename));
			continue;
		}
		ctx.index.packs.markStored(
			lot,
			packs.map((row, position) => ({ name: row.name, messageId: landed.id, attachmentId: landed.attachments[position]!.id }))
		);
		kept.add(landed.id);
		adopted.push(...expected.map((file) => file.filename));
	}

	// Repeated posts of packs kept elsewhere.
	const storedNames = new Set(
		ctx.index.packs
			.list(lot)
			.filter((row) => row.state === PackState.Stored)
			.map(packFileName)
	);
	for (const message of ours) {
		if (kept.has(message.id) || !message.attachments.every((attachment) => storedNames.has(attachment.filename))) continue;
		await deleteThreadMessage(ctx, threadId, message.id, signal);
		deletedMessages.push(message.id);
	}

	// Manifest parts: adopted when they landed; all stored and present, or all posted again.
	let manifestStored = parts.length > 0;
	for (const part of parts) {
		if (part.state === ChunkState.Stored && holds(part.messageId, part.attachmentId, part.filename ?? '', part.storedSize)) {
			kept.add(part.messageId!);
			continue;
		}
		const landed = part.state === ChunkState.InFlight ? await adoptablePart(ctx, threadId, ours, kept, part, signal) : undefined;
		if (landed === undefined) {
			manifestStored = false;
			continue;
		}
		ctx.index.chunks.markStored(lot, {
			kind: ChunkKind.Manifest,
			index: part.index,
			messageId: landed.message.id,
			attachmentId: landed.attachment.id,
			filename: landed.attachment.filename,
			storedSize: landed.attachment.size,
			sha256: part.sha256!
		});
		kept.add(landed.message.id);
		adopted.push(`m${part.index}`);
	}
	if (!manifestStored) deletedMessages.push(...(await discardManifest(ctx, archive, signal, ours)));

	const messagesSeen = ours.filter((message) => message.attachments.some((attachment) => attachment.filename.endsWith('.pack'))).length;
	if (adopted.length + vanished.length + neverLanded.length + deletedMessages.length > 0) {
		ctx.log('info', 'reconciled archive thread', {
			archiveId: archive.id,
			messagesSeen,
			adopted: adopted.length,
			vanished: vanished.length,
			neverLanded: neverLanded.length,
			deleted: deletedMessages.length
		});
	}
	return { report: { messagesSeen, adopted, vanished, neverLanded, deletedMessages }, nextMessageIndex, manifestStored };
}

/**
 * Deletes every message of the bot in the thread holding a manifest part of this archive (by its name) and records
 * the parts pending, so the next manifest is the thread's only one.
 *
 * @returns the messages deleted.
 */
async function discardManifest(ctx: ArchiveContext, archive: Archive, signal: AbortSignal, ours?: readonly LiveMessage[]): Promise<string[]> {
	const threadId = archive.threadId;
	if (threadId === null) return [];
	let messages = ours;
	if (messages === undefined) {
		const selfId = await botUserId(ctx, signal);
		const found: LiveMessage[] = [];
		for await (const message of ctx.transport.pageMessages(threadId, { signal })) if (message.authorId === selfId) found.push(message);
		messages = found;
	}
	const prefix = `${archive.id.slice(1)}.m2.`;
	const deleted: string[] = [];
	for (const message of messages) {
		if (!message.attachments.some((attachment) => attachment.filename.startsWith(prefix) && attachment.filename.endsWith('.bin'))) continue;
		await deleteThreadMessage(ctx, threadId, message.id, signal);
		deleted.push(message.id);
	}
	ctx.index.chunks.markState(archive.lot, ctx.index.chunks.list(archive.lot, { kind: ChunkKind.Manifest }), ChunkState.Pending);
	return deleted;
}

/** The bot's message (not one kept already) holding a manifest part exactly as recorded in flight, if one landed. */
async function adoptablePart(
	ctx: ArchiveContext,
	threadId: string,
	ours: readonly LiveMessage[],
	kept: ReadonlySet<string>,
	part: ChunkRecord,
	signal: AbortSignal
): Promise<{ message: LiveMessage; attachment: LiveAttachment } | undefined> {
	if (part.filename === null || part.storedSize === null || part.sha256 === null) return undefined;
	const message = await findExactMessage(
		ctx,
		threadId,
		ours,
		kept,
		[{ filename: part.filename, size: part.storedSize, sha256: part.sha256 }],
		signal
	);
	return message === undefined ? undefined : { message, attachment: message.attachments[0]! };
}

/**
 * The oldest of the bot's messages, not kept already, whose attachments are exactly `files` in order: names and sizes,
 * then each downloaded and its sha256 compared with the recorded one (a name and a size are easy to copy).
 */
async function findExactMessage(
	ctx: ArchiveContext,
	threadId: string,
	ours: readonly LiveMessage[],
	kept: ReadonlySet<string>,
	files: readonly { readonly filename: string; readonly size: number; readonly sha256: string }[],
	signal: AbortSignal
): Promise<LiveMessage | undefined> {
	for (const message of ours) {
		if (kept.has(message.id) || message.attachments.length !== files.length) continue;
		if (
			!files.every(
				(file, position) => message.attachments[position]!.filename === file.filename && message.attachments[position]!.size === file.size
			)
		)
			continue;
		if (await holdsBytes(ctx, threadId, message, files, signal)) return message;
	}
	return undefined;
}

/** Whether every attachment of `message` has the recorded bytes (downloaded, hashed and discarded). */
async function holdsBytes(
	ctx: ArchiveContext,
	threadId: string,
	message: LiveMessage,
	files: readonly { readonly size: number; readonly sha256: string }[],
	signal: AbortSignal
): Promise<boolean> {
	for (const [position, attachment] of message.attachments.entries()) {
		try {
			await ctx.transport.downloadAttachment(
				{ channelId: threadId, messageId: message.id, attachmentId: attachment.id },
				{
					stream: new Writable({
						write: (_piece: Buffer, _encoding, callback) => {
							callback();
						}
					})
				},
				{ live: attachment, expectedSize: files[position]!.size, expectedSha256: files[position]!.sha256, signal }
			);
		} catch (error) {
			if (!isTransportError(error) || (error.code !== TransportErrorCode.HashMismatch && error.code !== TransportErrorCode.SizeMismatch))
				throw error;
			ctx.log('warn', 'a message of the bot carries a recorded name with other bytes; not adopted', { threadId, messageId: message.id });
			return false;
		}
	}
	return true;
}
