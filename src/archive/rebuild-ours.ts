import { ArchiveKeyCache, CoreError, CoreErrorCode, isCoreError, type Manifest, parseStagedName } from '../core/index.js';
import { type ArchiveContent, archiveEntryInput, ArchiveFormat, ArchiveStatus, ChunkKind, ChunkState, type RecordedChunkInput } from '../db/index.js';
import { isTransportError, type LiveMessage } from '../discord/index.js';
import type { CardRecord } from './card-record.js';
import type { ArchiveContext } from './context.js';
import { RebuildFindingCode, type RebuiltArchive } from './rebuild.js';
import { openArchiveManifest, type OpenedArchiveManifest } from './thread-manifest.js';
import type { FoundRepository } from './rebuild-repository.js';
import { listThreadAttachments, type ThreadAttachment } from './thread-reader.js';

/** A rebuild's reading of one of our archives: its card record, its thread and the manifest the key opens. */

/** What a rebuild read of one archive, ready to replace its row, chunks and entries. */
export interface FoundArchive {
	readonly content: ArchiveContent;
	readonly counts?: { readonly fileCount: number; readonly directoryCount: number; readonly symlinkCount: number };
	readonly summary: Omit<RebuiltArchive, 'written'>;
	/** Oddities found on the way (the archive is rebuilt all the same). */
	readonly findings?: readonly { readonly code: string; readonly reason: string }[];
	/** Format 2: the packs found in its thread, the blobs it references and its sizes, written with its row. */
	readonly repository?: FoundRepository;
}

/** At most this many combinations of candidate manifest parts are tried for one archive. */
const MAX_MANIFEST_TRIES = 8;

/**
 * One of our archives: a message with a thread whose attachments carry our opaque names. Null for any other message
 * (a chat line, a card whose thread holds no chunk of ours).
 *
 * The manifest is bound to the card: only parts named for the card's archive are candidates, the parts the index
 * recorded come first, and when several candidates exist each combination is tried until one authenticates and
 * carries the card's id, lot and uid. Parts of other archives are reported, never used. A manifest that cannot be
 * opened leaves the archive as a skeleton from its card, reported, never dropped.
 */
export async function readOurArchive(
	ctx: ArchiveContext,
	message: LiveMessage,
	record: CardRecord | null,
	selfId: string,
	signal: AbortSignal
): Promise<FoundArchive | null> {
	const threadId = record?.thread ?? message.thread?.id ?? null;
	if (record === null && (threadId === null || message.authorId !== selfId)) return null;
	if (record !== null && (record.status === ArchiveStatus.Deleted || threadId === null)) return skeleton(ctx, message, record, threadId, []);
	let listed: ThreadAttachment[];
	try {
		listed = await listThreadAttachments(ctx, { id: record?.id ?? '(unknown)', threadId: threadId! }, signal);
	} catch (error) {
		if (record !== null && isCoreError(error, CoreErrorCode.MissingChunk))
			return skeleton(ctx, message, { ...record, status: ArchiveStatus.Deleted }, null, []);
		throw error;
	}
	const allNamed = listed.map((item) => ({ item, name: parseStagedName(item.attachment.filename) })).filter((entry) => entry.name !== undefined);
	// Only the bot's own posts are parts of the archive: look-alikes from anyone else (a webhook, another bot) are not
	// even candidates, so they can neither crowd out the genuine manifest among the combinations tried nor name it.
	const named = allNamed.filter((entry) => entry.item.byBot);
	const impostors = allNamed.filter((entry) => !entry.item.byBot);
	if (record === null && named.length === 0) return null;
	const manifests = named.filter((entry) => entry.name!.kind === 'manifest');
	const ids = new Set(manifests.map((entry) => entry.name!.archiveId));
	if (record === null) {
		if (ids.size === 0) {
			throw new CoreError(
				CoreErrorCode.MissingChunk,
				`The thread ${threadId} holds chunks but no manifest: its upload did not finish. Resume it from the machine that has the source.`
			);
		}
		if (ids.size > 1)
			throw new CoreError(CoreErrorCode.BadFormat, `The thread ${threadId} holds the manifests of several archives (${[...ids].join(', ')}).`);
	}
	const archiveId = record?.id ?? [...ids][0]!;
	const findings: { code: string; reason: string }[] = [];
	if (impostors.length > 0) {
		findings.push({
			code: RebuildFindingCode.NotPostedByBot,
			reason: `The thread ${threadId} of ${archiveId} holds ${impostors.length} attachment(s) named like its parts but not posted by the bot (messages ${[...new Set(impostors.map((entry) => entry.item.messageId))].join(', ')}): they were ignored. Delete them if they are forgeries.`
		});
	}
	const foreign = manifests.filter((entry) => entry.name!.archiveId !== archiveId);
	const foreignData = named.filter((entry) => entry.name!.kind === 'data' && entry.name!.archiveId !== archiveId);
	if (foreign.length + foreignData.length > 0) {
		findings.push({
			code: RebuildFindingCode.ForeignPart,
			reason: `The thread ${threadId} of ${archiveId} holds ${foreign.length + foreignData.length} part(s) named for other archives (${[...new Set([...foreign, ...foreignData].map((entry) => entry.name!.archiveId))].join(', ')}, messages ${[...foreign, ...foreignData].map((entry) => entry.item.messageId).join(', ')}): they were ignored.`
		});
	}
	const own = manifests.filter((entry) => entry.name!.archiveId === archiveId).map((entry) => entry.item);
	if (record !== null && (ctx.settings.passphrase === undefined || own.length === 0)) {
		if (ctx.settings.passphrase !== undefined) {
			findings.push({
				code: RebuildFindingCode.UnopenableManifest,
				reason: `The thread of ${archiveId} holds no manifest of it: the archive was kept as a skeleton from its card.`
			});
		}
		return { ...skeleton(ctx, message, record, threadId, listed), findings };
	}
	const expected = { id: archiveId, lot: record?.lot, uid: record?.uid };
	let opened: OpenedArchiveManifest;
	try {
		opened = await openBoundManifest(ctx, { id: archiveId, threadId: threadId!, uid: record?.uid }, own, expected, signal);
	} catch (error) {
		if (record === null || isCoreError(error, CoreErrorCode.Aborted) || !(isCoreError(error) || isTransportError(error))) throw error;
		findings.push({
			code: RebuildFindingCode.UnopenableManifest,
			reason: `No manifest in the thread of ${archiveId} opens and matches its card (${error.code}: ${error.message}): the archive was kept as a skeleton from its card.`
		});
		return { ...skeleton(ctx, message, record, threadId, listed), findings };
	}
	if (opened.parts.size < own.length) {
		findings.push({
			code: RebuildFindingCode.ExtraManifest,
			reason: `The thread of ${archiveId} holds ${own.length} manifest part(s) of it; the ${opened.parts.size} that open and match its card were kept.`
		});
	}
	const { manifest } = opened;
	const chunks = dataChunkRows(manifest, listed);
	for (const [index, part] of opened.parts) {
		chunks.push({
			kind: ChunkKind.Manifest,
			index,
			state: ChunkState.Stored,
			messageId: part.item.messageId,
			attachmentId: part.item.attachment.id,
			filename: part.item.attachment.filename,
			storedSize: part.size,
			sha256: part.sha256,
			// As the upload records manifest parts: their compression is a property of the whole manifest, not per part.
			compressed: null
		});
	}
	const present = chunks.filter((chunk) => chunk.kind === undefined && chunk.state === ChunkState.Stored).length;
	const status = present === manifest.chunks.length ? ArchiveStatus.Complete : ArchiveStatus.Failed;
	const content: ArchiveContent = {
		id: manifest.id,
		lot: manifest.lot,
		uid: manifest.uid,
		label: manifest.label.length > 0 ? manifest.label : null,
		// Manifests older than the sealed source folder give none: an empty source, never the id (a download folder
		// would read `#id #id`).
		source: manifest.source ?? '',
		...(manifest.requestedBy === undefined ? {} : { createdBy: manifest.requestedBy }),
		...(record === null ? {} : { label: record.label }),
		status,
		format: ArchiveFormat.Dos1,
		chunkSize: manifest.chunkSize,
		gzipLevel: manifest.compression.level,
		kdf: { id: manifest.kdf.id, iterations: manifest.kdf.iterations, salt: manifest.kdf.salt },
		channelId: ctx.settings.archiveChannelId,
		threadId: threadId!,
		cardMessageId: message.id,
		createdAt: new Date(manifest.createdAt),
		...(status === ArchiveStatus.Complete
			? {}
			: { errorCode: CoreErrorCode.MissingChunk, errorMessage: `${manifest.chunks.length - present} chunk(s) are missing from the thread.` }),
		entries: manifest.entries.map((entry) => archiveEntryInput(entry, manifest.chunkSize)),
		chunks
	};
	return {
		content,
		findings,
		summary: {
			archiveId: manifest.id,
			lot: manifest.lot,
			format: ArchiveFormat.Dos1,
			status,
			files: manifest.totals.files,
			chunks: manifest.chunks.length,
			chunksPresent: present,
			depth: 'full'
		}
	};
}

/**
 * Opens the manifest of an archive from its candidate parts: the parts the index recorded first, then each other
 * combination (newest first), until one opens with the key and carries the expected id, lot and uid.
 *
 * @throws the error of the first combination tried when none opens and matches.
 */
async function openBoundManifest(
	ctx: ArchiveContext,
	thread: { readonly id: string; readonly threadId: string; readonly uid: string | undefined },
	candidates: readonly ThreadAttachment[],
	expected: { readonly id: string; readonly lot: number | undefined; readonly uid: string | undefined },
	signal: AbortSignal
): Promise<OpenedArchiveManifest> {
	const known = expected.uid === undefined ? undefined : ctx.index.archives.find(expected.uid);
	const recorded = new Set(
		known === undefined ? [] : ctx.index.chunks.list(known.lot, { kind: ChunkKind.Manifest }).map((row) => row.attachmentId)
	);
	const byIndex = new Map<number, ThreadAttachment[]>();
	for (const item of candidates) {
		const index = parseStagedName(item.attachment.filename)!.index;
		byIndex.set(index, [...(byIndex.get(index) ?? []), item]);
	}
	const rank = (item: ThreadAttachment) => (recorded.has(item.attachment.id) ? 1 : 0);
	const options = [...byIndex.entries()]
		.sort(([a], [b]) => a - b)
		.map(([, items]) => [...items].sort((a, b) => rank(b) - rank(a) || (BigInt(b.messageId) > BigInt(a.messageId) ? 1 : -1)));
	// One key derivation per salt and PBKDF2 count for all the tries, a count other than the index's refused: the count
	// comes from an unauthenticated header and may ask for millions of iterations.
	const keys = new ArchiveKeyCache(
		ctx.settings.passphrase,
		known?.kdfIterations === null || known?.kdfIterations === undefined ? {} : { expectedIterations: known.kdfIterations }
	);
	let first: unknown;
	let tries = 0;
	for (const choice of combinations(options)) {
		if (tries++ >= MAX_MANIFEST_TRIES) break;
		try {
			const opened = await openArchiveManifest(
				ctx,
				{
					id: thread.id,
					threadId: thread.threadId,
					...(known === undefined ? {} : { lot: known.lot }),
					...(thread.uid === undefined ? {} : { uid: thread.uid })
				},
				choice,
				{ signal },
				undefined,
				keys
			);
			if (opened.manifest.id !== expected.id || (expected.lot !== undefined && opened.manifest.lot !== expected.lot)) {
				throw new CoreError(
					CoreErrorCode.MisplacedChunk,
					`The manifest in the thread of ${expected.id} names archive ${opened.manifest.id} (lot ${opened.manifest.lot}): it belongs to another card.`
				);
			}
			return opened;
		} catch (error) {
			if (isCoreError(error, CoreErrorCode.Aborted)) throw error;
			if (!(isCoreError(error) || isTransportError(error))) throw error;
			first ??= error;
		}
	}
	throw first;
}

/** Every choice of one item per slot, the preferred items first. */
function* combinations<T>(slots: readonly (readonly T[])[]): Generator<T[]> {
	if (slots.length === 0) {
		yield [];
		return;
	}
	const [head, ...rest] = slots;
	for (const item of head!) for (const tail of combinations(rest)) yield [item, ...tail];
}

/**
 * An archive of ours known only from its card record (no key, or its thread is gone): the row as the record says,
 * and the chunks the thread holds by their names (message, attachment, name and size; hashes need the manifest).
 */
export function skeleton(
	ctx: ArchiveContext,
	message: LiveMessage,
	record: CardRecord,
	threadId: string | null,
	listed: readonly ThreadAttachment[]
): FoundArchive {
	const chunks: RecordedChunkInput[] = [];
	const seen = new Set<string>();
	for (const item of listed) {
		if (!item.byBot) continue;
		const name = parseStagedName(item.attachment.filename);
		if (name === undefined || name.archiveId !== record.id) continue;
		const key = `${name.kind}:${name.index}`;
		if (seen.has(key)) continue;
		seen.add(key);
		chunks.push({
			kind: name.kind === 'data' ? ChunkKind.Data : ChunkKind.Manifest,
			index: name.index,
			state: ChunkState.Stored,
			messageId: item.messageId,
			attachmentId: item.attachment.id,
			filename: item.attachment.filename,
			storedSize: item.attachment.size
		});
	}
	const present = chunks.filter((chunk) => chunk.kind === ChunkKind.Data).length;
	return {
		counts: { fileCount: record.files, directoryCount: record.dirs, symlinkCount: record.links },
		content: {
			id: record.id,
			lot: record.lot,
			uid: record.uid,
			label: record.label,
			source: '',
			status: record.status,
			format: record.format,
			chunkSize: record.chunkSize,
			channelId: ctx.settings.archiveChannelId,
			threadId,
			cardMessageId: message.id,
			createdAt: new Date(record.created),
			originalBytes: record.bytes,
			fileCount: record.files,
			directoryCount: record.dirs,
			symlinkCount: record.links,
			chunkCount: record.chunks,
			entries: [],
			chunks: chunks.filter((chunk) => chunk.kind === ChunkKind.Manifest || chunk.index < record.chunks)
		},
		summary: {
			archiveId: record.id,
			lot: record.lot,
			format: record.format,
			status: record.status,
			files: record.files,
			chunks: record.chunks,
			chunksPresent: present,
			depth: 'skeleton'
		}
	};
}

/**
 * Every data chunk of a manifest, with the message that holds it: the OLDEST copy posted by the bot itself whose name
 * carries the recorded hash and whose size is the recorded one — as a download picks it. A later look-alike (a
 * webhook's or another bot's post, a duplicate) never replaces it.
 */
function dataChunkRows(manifest: Manifest, listed: readonly ThreadAttachment[]): RecordedChunkInput[] {
	const byIndex = new Map<number, ThreadAttachment>();
	for (const item of listed) {
		if (!item.byBot) continue;
		const name = parseStagedName(item.attachment.filename);
		if (name?.kind !== 'data' || name.archiveId !== manifest.id || byIndex.has(name.index)) continue;
		const record = manifest.chunks[name.index];
		if (record === undefined || !record.sha256.startsWith(name.hash) || item.attachment.size !== record.storedSize) continue;
		byIndex.set(name.index, item);
	}
	return manifest.chunks.map((record): RecordedChunkInput => {
		const item = byIndex.get(record.index);
		return {
			index: record.index,
			state: item === undefined ? ChunkState.Missing : ChunkState.Stored,
			messageId: item?.messageId ?? null,
			attachmentId: item?.attachment.id ?? null,
			filename: item?.attachment.filename ?? null,
			storedSize: record.storedSize,
			sha256: record.sha256,
			plainSize: record.plainSize,
			plainSha256: record.plainSha256,
			compressed: record.compressed
		};
	});
}
