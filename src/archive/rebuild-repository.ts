import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
	CoreError,
	CoreErrorCode,
	fromFsError,
	isCoreError,
	MANIFEST_PART_SIZE,
	type ManifestV2,
	MAX_MANIFEST_V2_PARTS,
	MAX_PACK_SIZE,
	openManifestV2,
	type PackHeader,
	readPackHeader,
	readPackTail,
	type RepositorySubkeys,
	sha256Hex,
	subkeysOf,
	forEachConcurrently
} from '../core/index.js';
import {
	type ArchiveContent,
	archiveEntryInput,
	ArchiveFormat,
	type ArchivePatch,
	ArchiveStatus,
	ChunkKind,
	ChunkState,
	EntryType,
	type RecordedChunkInput,
	type StoredPackInput
} from '../db/index.js';
import { chunkNonce, isTransportError, type LiveAttachment, type LiveMessage, TransportErrorCode } from '../discord/index.js';
import type { CardRecord } from './card-record.js';
import type { ArchiveContext } from './context.js';
import { RebuildFindingCode } from './rebuild.js';
import { type FoundArchive, skeleton } from './rebuild-ours.js';
import { openChannelKeys } from './repository-keys.js';
import { manifestPartName } from './repository-manifest.js';
import { chunkFailure, fetchAttachmentToMemory, type ThreadAttachment } from './thread-reader.js';

/**
 * Rebuilding a format 2 archive from Discord (docs/design.md §4.6 and §9.7): its card, and in its thread the sealed
 * manifest parts and the pack messages its upload posted. The manifest opens with the channel's repository keys (the
 * pinned keys message) and gives the entries, the blobs the archive references and the names of the packs it wrote;
 * each pack of the thread is bound to the archive before anything of it is believed — posted by the bot, in a message
 * whose line names this archive and as many packs as it carries, listed by the manifest, its bytes hashing to its name,
 * its sealed header opening under the channel's pack-header key — and its blobs come from that header. Packs are
 * fetched whole, three at a time, each into a file (the sha256 the index keeps, and the name check, are of the whole pack);
 * only the header, bounded by the trailer and the pack size, is read into memory.
 */

/** The channel's repository keys, opened at most once per rebuild (the failure, too, is kept). */
export type RepositoryKeysSource = () => Promise<RepositorySubkeys>;

/**
 * Opens the channel's repository keys once, on first use: read-only in a dry run (nothing mirrored, pinned or
 * deleted), otherwise mirrored in SQLite as any opening does.
 */
export function repositoryKeysSource(ctx: ArchiveContext, dryRun: boolean, signal: AbortSignal): RepositoryKeysSource {
	let opening: Promise<RepositorySubkeys> | undefined;
	return () => {
		opening ??= openChannelKeys(ctx, { readOnly: dryRun, signal }).then((opened) => subkeysOf(opened.keys));
		return opening;
	};
}

/** A pack message's line, as the upload writes it: `2 packs · message 3 · #241126-07`. */
const PACK_LINE = /^(\d{1,2}) packs? · message (\d{1,9}) · (#\d{6}-\d{2,15})$/;
const PACK_FILE = /^([0-9a-f]{32})\.pack$/;
/** Packs a rebuild downloads at once (each whole, into its own staging file): as a download of an archive does. */
const PACK_READ_CONCURRENCY = 3;

/** A pack attachment the messages bind to the archive, to be read. */
interface PackCandidate {
	/** Its place in the thread, among everything a finding may name. */
	readonly order: number;
	readonly name: string;
	readonly message: LiveMessage;
	readonly attachment: LiveAttachment;
	readonly attachmentIndex: number;
	readonly messageIndex: number;
	readonly nonce: string;
	/** Larger than the archive's packs can be: never downloaded. */
	readonly oversized: boolean;
}

/** Attachments a message may carry (Discord's limit): a pack message claiming more is not read. */
const MAX_ATTACHMENTS = 10;

/** One message of the archive's thread, as far as a rebuild reads it. */
interface ThreadPost {
	readonly message: LiveMessage;
	readonly byBot: boolean;
}

type Finding = { readonly code: string; readonly reason: string };

/**
 * Reads a format 2 archive of ours from its card and thread. Without USER_KEY, with channel keys that do not open, or
 * without a manifest that opens, the archive is a skeleton from its card (named in a finding); with the keys, the packs
 * its thread holds are recorded all the same (an interrupted upload's packs are reused by the next upload, as the
 * index that saw the upload would have them).
 */
export async function readRepositoryArchive(
	ctx: ArchiveContext,
	message: LiveMessage,
	record: CardRecord,
	selfId: string,
	keysOf: RepositoryKeysSource,
	signal: AbortSignal
): Promise<FoundArchive> {
	const threadId = record.thread ?? message.thread?.id ?? null;
	if (threadId === null) return skeleton(ctx, message, record, threadId, []);
	// A format 2 archive cleaned up keeps its thread while packs in it hold blobs later archives reuse (§4.5): those
	// packs are read back as the cleanup left them; its manifest is gone, and the archive stays deleted.
	const deleted = record.status === ArchiveStatus.Deleted;
	let posts: ThreadPost[];
	try {
		posts = [];
		for await (const post of ctx.transport.pageMessages(threadId, { signal }))
			if (post.attachments.length > 0) posts.push({ message: post, byBot: post.authorId === selfId });
	} catch (error) {
		if (isTransportError(error, TransportErrorCode.NotFound))
			return skeleton(ctx, message, { ...record, status: ArchiveStatus.Deleted }, null, []);
		throw error;
	}
	const findings: Finding[] = [];
	const stem = record.id.slice(1);
	const ours = (filename: string) => PACK_FILE.test(filename) || (filename.startsWith(`${stem}.m2.`) && filename.endsWith('.bin'));
	const impostors = posts.filter((post) => !post.byBot && post.message.attachments.some((attachment) => ours(attachment.filename)));
	if (impostors.length > 0) {
		findings.push({
			code: RebuildFindingCode.NotPostedByBot,
			reason: `The thread ${threadId} of ${record.id} holds ${impostors.length} message(s) with packs or manifest parts not posted by the bot (${impostors.map((post) => post.message.id).join(', ')}): they were ignored. Delete them if they are forgeries.`
		});
	}
	const mine = posts.filter((post) => post.byBot);
	if (ctx.settings.passphrase === undefined) return { ...skeleton(ctx, message, record, threadId, []), findings };
	let keys: RepositorySubkeys;
	try {
		keys = await keysOf();
	} catch (error) {
		if (isCoreError(error, CoreErrorCode.Aborted) || !(isCoreError(error) || isTransportError(error))) throw error;
		findings.push({
			code: RebuildFindingCode.UnopenableManifest,
			reason: `The channel's repository keys could not be opened (${error.code}: ${error.message}): ${record.id} was kept as a skeleton from its card.`
		});
		return { ...skeleton(ctx, message, record, threadId, []), findings };
	}
	const thread = { id: record.id, threadId };
	if (deleted) {
		const kept = await readPacks(ctx, { ...thread, record }, mine, keys, undefined, findings, signal);
		const base = skeleton(ctx, message, record, threadId, []);
		return {
			...base,
			findings,
			repository: {
				packs: kept,
				references: [],
				patch: kept.length === 0 ? {} : { storedBytes: kept.reduce((sum, pack) => sum + pack.size, 0) }
			},
			summary: { ...base.summary, packs: kept.length, blobs: kept.reduce((sum, pack) => sum + pack.blobs.length, 0) }
		};
	}
	const opened = await openManifest(ctx, { ...thread, uid: record.uid }, mine, keys, findings, signal);
	const packs = await readPacks(ctx, { ...thread, record }, mine, keys, opened?.manifest, findings, signal);
	const packBytes = packs.reduce((sum, pack) => sum + pack.size, 0);
	const blobCount = packs.reduce((sum, pack) => sum + pack.blobs.length, 0);
	if (opened === undefined) {
		// No manifest opens: the upload was interrupted (or the manifest damaged). Its packs are recorded as stored, as the
		// index that watched the upload holds them, so that the next upload of the folder reuses their blobs instead of
		// posting them again; the archive itself is a skeleton that cannot be downloaded.
		const base = skeleton(ctx, message, record, threadId, []);
		const status =
			record.status === ArchiveStatus.Complete || record.status === ArchiveStatus.Uploading ? ArchiveStatus.Interrupted : record.status;
		return {
			...base,
			content: {
				...base.content,
				status,
				...(status === record.status ? {} : { errorCode: CoreErrorCode.MissingChunk, errorMessage: 'No manifest of it opens in its thread.' })
			},
			findings,
			repository: { packs, references: [], patch: packs.length === 0 ? {} : { storedBytes: packBytes } },
			summary: { ...base.summary, status, chunks: packs.length, chunksPresent: packs.length, packs: packs.length, blobs: blobCount }
		};
	}
	const { manifest, parts } = opened;
	const listed = new Set(manifest.packs);
	const present = packs.filter((pack) => listed.has(pack.name)).length;
	const status = present === listed.size ? ArchiveStatus.Complete : ArchiveStatus.Failed;
	const content: ArchiveContent = {
		id: record.id,
		lot: record.lot,
		uid: record.uid,
		label: record.label,
		source: manifest.source ?? '',
		...(manifest.requestedBy === undefined ? {} : { createdBy: manifest.requestedBy }),
		status,
		format: ArchiveFormat.Dos2,
		chunkSize: record.chunkSize,
		gzipLevel: null,
		kdf: null,
		channelId: ctx.settings.archiveChannelId,
		threadId,
		cardMessageId: message.id,
		createdAt: new Date(record.created),
		...(status === ArchiveStatus.Complete
			? {}
			: { errorCode: CoreErrorCode.MissingChunk, errorMessage: `${listed.size - present} pack(s) are missing from the thread.` }),
		// Format 2 files span no chunks: their blobs are in the manifest.
		entries: manifest.entries.map((entry) => archiveEntryInput(entry, null)),
		chunks: parts
	};
	const references = manifest.entries.flatMap((entry) => (entry.type === EntryType.File ? (entry.blobs ?? []) : []));
	const partBytes = parts.reduce((sum, part) => sum + (part.storedSize ?? 0), 0);
	return {
		content,
		findings,
		repository: {
			packs,
			references,
			patch: { newBytes: manifest.totals.newBytes, reusedBytes: manifest.totals.reusedBytes, storedBytes: partBytes + packBytes }
		},
		summary: {
			archiveId: record.id,
			lot: record.lot,
			format: ArchiveFormat.Dos2,
			status,
			files: manifest.totals.files,
			chunks: listed.size,
			chunksPresent: present,
			packs: packs.length,
			blobs: blobCount,
			depth: 'full'
		}
	};
}

/** What a rebuild adds to an archive's rows for format 2: its packs, the blobs it references, its sizes. */
export interface FoundRepository {
	readonly packs: readonly StoredPackInput[];
	readonly references: readonly string[];
	readonly patch: ArchivePatch;
}

/**
 * Opens the archive's manifest from the bot's parts in its thread: parts `0 … n−1` (each at most a part's size, at most
 * the parts a manifest may have), the oldest copy of each first, then the newest; the sealing binds every part to the
 * archive id, its index and the count, so parts of another archive or a set cut short never open. Undefined (with a
 * finding) when none opens.
 */
async function openManifest(
	ctx: ArchiveContext,
	thread: { readonly id: string; readonly threadId: string; readonly uid: string },
	posts: readonly ThreadPost[],
	keys: RepositorySubkeys,
	findings: Finding[],
	signal: AbortSignal
): Promise<{ manifest: ManifestV2; parts: RecordedChunkInput[] } | undefined> {
	const copies = new Map<number, { post: ThreadPost; attachment: LiveAttachment }[]>();
	for (let index = 0; index < MAX_MANIFEST_V2_PARTS; index++) {
		const name = manifestPartName(thread, index);
		const found = posts.flatMap((post) =>
			post.message.attachments
				.filter((attachment) => attachment.filename === name && attachment.size > 0 && attachment.size <= MANIFEST_PART_SIZE)
				.map((attachment) => ({ post, attachment }))
		);
		if (found.length === 0) break;
		copies.set(index, found);
	}
	if (copies.size === 0) {
		findings.push({
			code: RebuildFindingCode.UnopenableManifest,
			reason: `The thread of ${thread.id} holds no manifest of it: its upload did not finish. The packs its thread holds were recorded; the archive is kept from its card.`
		});
		return undefined;
	}
	const choices = [[...copies.values()].map((items) => items[0]!)];
	if ([...copies.values()].some((items) => items.length > 1)) {
		choices.push([...copies.values()].map((items) => items.at(-1)!));
		findings.push({
			code: RebuildFindingCode.ExtraManifest,
			reason: `The thread of ${thread.id} holds more than one copy of a manifest part: the copies that open were kept.`
		});
	}
	let first: unknown;
	for (const choice of choices) {
		try {
			const bytes: Buffer[] = [];
			for (const [index, { post, attachment }] of choice.entries()) {
				const item: ThreadAttachment = { messageId: post.message.id, attachment, authorId: post.message.authorId, byBot: true };
				bytes.push(
					await fetchAttachmentToMemory(ctx, {
						location: { channelId: thread.threadId, messageId: post.message.id, attachmentId: attachment.id },
						live: attachment,
						expectedSize: attachment.size,
						signal,
						failure: { archive: thread, index, label: `Manifest part ${index + 1}`, item }
					})
				);
			}
			const manifest = openManifestV2(keys.manifest, thread.id, bytes);
			const parts = choice.map(({ post, attachment }, index): RecordedChunkInput => ({
				kind: ChunkKind.Manifest,
				index,
				state: ChunkState.Stored,
				// As the upload posts a part the first time (a format 2 manifest is never sealed again).
				postNonce: chunkNonce({ archiveUid: thread.uid, kind: ChunkKind.Manifest, index, generation: 0 }),
				messageId: post.message.id,
				attachmentId: attachment.id,
				filename: attachment.filename,
				storedSize: bytes[index]!.length,
				sha256: sha256Hex(bytes[index]!)
			}));
			return { manifest, parts };
		} catch (error) {
			if (isCoreError(error, CoreErrorCode.Aborted) || !(isCoreError(error) || isTransportError(error))) throw error;
			first ??= error;
		}
	}
	const failure = first as CoreError;
	findings.push({
		code: RebuildFindingCode.UnopenableManifest,
		reason: `No manifest in the thread of ${thread.id} opens with the channel's keys (${failure.code}: ${failure.message}): the archive was kept as a skeleton from its card.`
	});
	return undefined;
}

/**
 * The packs of the archive's thread that are bound to it, each with the blobs its authenticated header lists. A pack
 * message counts only when the bot posted it, its line names this archive, its message number (given once) and as many
 * packs as it carries, and every attachment is named like a pack; a pack only when the manifest (if one opened) lists
 * it, it was not seen already, its size is within the archive's pack size, its bytes hash to its name and its header
 * opens under the channel's keys. Everything else is a finding and left out.
 */
async function readPacks(
	ctx: ArchiveContext,
	archive: { readonly id: string; readonly threadId: string; readonly record: CardRecord },
	posts: readonly ThreadPost[],
	keys: RepositorySubkeys,
	manifest: ManifestV2 | undefined,
	findings: Finding[],
	signal: AbortSignal
): Promise<StoredPackInput[]> {
	const listed = manifest === undefined ? undefined : new Set(manifest.packs);
	const largest = Math.min(MAX_PACK_SIZE, archive.record.chunkSize);
	const indexes = new Set<number>();
	const unbound: string[] = [];
	const damaged: string[] = [];
	// First, in thread order, what the messages alone bind (or not) to the archive; then the packs are read, three at a
	// time. Copies of one name are read one after the other: the first that reads well is the pack, the later ones are
	// second copies (as when the thread is read in order).
	const copies = new Map<string, PackCandidate[]>();
	const notes: { readonly order: number; readonly into: string[]; readonly text: string }[] = [];
	let order = 0;
	for (const { message } of posts) {
		if (!message.attachments.some((attachment) => PACK_FILE.test(attachment.filename))) continue;
		const line = PACK_LINE.exec(message.content);
		const messageIndex = line === null ? -1 : Number(line[2]) - 1;
		if (
			line === null ||
			line[3] !== archive.id ||
			Number(line[1]) !== message.attachments.length ||
			message.attachments.length > MAX_ATTACHMENTS ||
			messageIndex < 0 ||
			indexes.has(messageIndex) ||
			!message.attachments.every((attachment) => PACK_FILE.test(attachment.filename))
		) {
			notes.push({
				order: order++,
				into: unbound,
				text: `message ${message.id}: its line or attachments are not those of a pack message of ${archive.id}`
			});
			continue;
		}
		indexes.add(messageIndex);
		const nonce = chunkNonce({ archiveUid: archive.record.uid, kind: ChunkKind.Data, index: messageIndex, generation: 0 });
		for (const [attachmentIndex, attachment] of message.attachments.entries()) {
			const name = PACK_FILE.exec(attachment.filename)![1]!;
			if (listed !== undefined && !listed.has(name)) {
				notes.push({ order: order++, into: unbound, text: `${attachment.filename} (message ${message.id}): not a pack its manifest names` });
				continue;
			}
			// A copy larger than the archive's packs is never downloaded; it is a second copy when an earlier one is kept.
			const candidate: PackCandidate = {
				order: order++,
				name,
				message,
				attachment,
				attachmentIndex,
				messageIndex,
				nonce,
				oversized: attachment.size > largest
			};
			const same = copies.get(name);
			if (same === undefined) copies.set(name, [candidate]);
			else same.push(candidate);
		}
	}
	const read: { readonly order: number; readonly pack: StoredPackInput }[] = [];
	// The staging folder is made on the first pack to read; the folder of temporary files beside the index with it, when
	// missing (a rebuild on a new machine comes first).
	let made: Promise<string> | undefined;
	const staging = () =>
		(made ??= (async () => {
			const root = ctx.settings.tempRoot ?? tmpdir();
			try {
				await mkdir(root, { recursive: true, mode: 0o700 });
				return await mkdtemp(path.join(root, `rebuild-${archive.id.slice(1)}-`));
			} catch (error) {
				throw fromFsError(error, root);
			}
		})());
	try {
		await forEachConcurrently([...copies.values()], PACK_READ_CONCURRENCY, signal, async (candidates) => {
			let kept = false;
			for (const { order: at, name, message, attachment, attachmentIndex, messageIndex, nonce, oversized } of candidates) {
				if (kept) {
					notes.push({ order: at, into: unbound, text: `${attachment.filename} (message ${message.id}): a second copy` });
					continue;
				}
				if (oversized) {
					notes.push({
						order: at,
						into: damaged,
						text: `${attachment.filename} (message ${message.id}): ${attachment.size} bytes, more than its pack size ${largest}`
					});
					continue;
				}
				let pack: { sha256: string; header: PackHeader };
				try {
					pack = await readPack(ctx, await staging(), archive, { messageId: message.id, attachment, messageIndex }, keys, signal);
				} catch (error) {
					// A full disk or a stop is this machine's, not the pack's: the rebuild stops instead of recording it damaged.
					if (isCoreError(error, CoreErrorCode.Aborted) || isCoreError(error, CoreErrorCode.DiskFull) || !isCoreError(error)) throw error;
					notes.push({ order: at, into: damaged, text: `${attachment.filename} (message ${message.id}): ${error.message}` });
					continue;
				}
				kept = true;
				read.push({
					order: at,
					pack: {
						name,
						size: attachment.size,
						sha256: pack.sha256,
						attachmentIndex,
						threadId: archive.threadId,
						messageIndex,
						nonce,
						messageId: message.id,
						attachmentId: attachment.id,
						blobs: pack.header.entries.map((entry) => ({
							id: entry.id.toString('hex'),
							offset: entry.offset,
							storedLength: entry.storedLength,
							rawLength: entry.rawLength,
							codec: entry.codec
						}))
					}
				});
			}
		});
	} finally {
		const dir = await made?.catch(() => undefined);
		if (dir !== undefined) await rm(dir, { recursive: true, force: true });
	}
	for (const note of notes.sort((a, b) => a.order - b.order)) note.into.push(note.text);
	const found = read.sort((a, b) => a.order - b.order).map(({ pack }) => pack);
	if (unbound.length > 0) {
		findings.push({
			code: RebuildFindingCode.UnboundPack,
			reason: `The thread of ${archive.id} holds ${unbound.length} pack attachment(s) or message(s) not bound to it, ignored: ${unbound.slice(0, 5).join('; ')}${unbound.length > 5 ? '; …' : ''}.`
		});
	}
	if (damaged.length > 0) {
		findings.push({
			code: RebuildFindingCode.DamagedPack,
			reason: `The thread of ${archive.id} holds ${damaged.length} damaged pack(s), not recorded (their blobs count as missing): ${damaged.slice(0, 5).join('; ')}${damaged.length > 5 ? '; …' : ''}.`
		});
	}
	return found;
}

/**
 * Fetches one pack whole into a file of the staging folder (size checked as it arrives), checks that its bytes hash to
 * its name, and opens its header from the file's tail: the trailer first, then only the tail it announces, bounded by
 * the pack size. The file is removed before returning.
 *
 * @throws {CoreError} TAMPERED_CHUNK (bytes or header do not match), MISSING_CHUNK (gone), BAD_FORMAT,
 * UNSUPPORTED_VERSION, MISPLACED_CHUNK (another repository's); TransportError when Discord is unavailable.
 */
async function readPack(
	ctx: ArchiveContext,
	staging: string,
	archive: { readonly id: string; readonly threadId: string },
	where: { readonly messageId: string; readonly attachment: LiveAttachment; readonly messageIndex: number },
	keys: RepositorySubkeys,
	signal: AbortSignal
): Promise<{ sha256: string; header: PackHeader }> {
	const { attachment } = where;
	const file = path.join(staging, attachment.filename);
	try {
		let sha256: string;
		try {
			({ sha256 } = await ctx.transport.downloadAttachment(
				{ channelId: archive.threadId, messageId: where.messageId, attachmentId: attachment.id },
				{ file },
				{ expectedSize: attachment.size, live: attachment, signal }
			));
		} catch (error) {
			const item: ThreadAttachment = { messageId: where.messageId, attachment, authorId: '', byBot: true };
			throw chunkFailure(error, archive, where.messageIndex, `Pack ${attachment.filename.slice(0, 32)}`, item) ?? error;
		}
		if (!sha256.startsWith(attachment.filename.slice(0, 32)))
			throw new CoreError(CoreErrorCode.TamperedChunk, 'its bytes do not hash to its name: it was changed on Discord');
		const handle = await open(file, 'r');
		try {
			const tail = await readPackTail(attachment.size, async (offset, length) => {
				const buffer = Buffer.alloc(length);
				const { bytesRead } = await handle.read(buffer, 0, length, offset);
				return buffer.subarray(0, bytesRead);
			});
			return { sha256, header: readPackHeader(keys, tail, attachment.size) };
		} finally {
			await handle.close();
		}
	} finally {
		await rm(file, { force: true });
	}
}
