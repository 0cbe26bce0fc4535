import { chunksSpanned, CoreError, CoreErrorCode, isCoreError, LEGACY_SLICE_SIZE, type Manifest, parseStagedName } from '../core/index.js';
import {
	type ArchiveContent,
	type ArchiveEntryInput,
	ArchiveFormat,
	ArchiveStatus,
	ChunkKind,
	ChunkState,
	isIndexError,
	type RecordedChunkInput
} from '../db/index.js';
import { isTransportError, type LiveMessage } from '../discord/index.js';
import type { ArchiveContext, JobRun } from './context.js';
import { type CardRecord, findCardRecord } from './card-record.js';
import { isArchiveError } from './errors.js';
import { fetchLegacyManifest, listThreadAttachments, openArchiveManifest, type ThreadAttachment } from './download.js';
import { type LegacyCard, legacyArchiveStatus, legacyArchiveUid, parseLegacyCard } from './legacy-card.js';

/**
 * Rebuild (DESIGN.md §4): the index is a cache of Discord, so it can be made again from the archive channel. Every
 * card is read — ours (a thread of opaque chunks whose manifest the key opens) and the original tool's (a JSON-block
 * card, a thread of `.bin` chunks and a plain JSON manifest) — and each archive's row, chunks and entries are
 * replaced in one transaction. Running it twice changes nothing the second time.
 */

/** What to rebuild. */
export interface RebuildRequest {
	/** Report what was found without writing anything. */
	readonly dryRun?: boolean;
}

/** One archive a rebuild found. */
export interface RebuiltArchive {
	readonly archiveId: string;
	readonly lot: number;
	readonly format: ArchiveFormat;
	readonly status: ArchiveStatus;
	readonly files: number;
	/** Data chunks the archive has, and how many of them its thread holds. */
	readonly chunks: number;
	readonly chunksPresent: number;
	/** `full` when everything was read back (our manifest opened, or a legacy manifest); `skeleton` otherwise. */
	readonly depth: 'full' | 'skeleton';
	/** Whether the index was written (false in a dry run or when it failed). */
	readonly written: boolean;
}

/** A card-like message the rebuild could not use, and why. */
export interface RebuildSkip {
	readonly messageId: string;
	readonly archiveId: string | null;
	readonly code: string;
	readonly reason: string;
}

/** What {@link rebuildIndex} found and did. */
export interface RebuildResult {
	readonly dryRun: boolean;
	readonly messagesScanned: number;
	readonly archives: readonly RebuiltArchive[];
	readonly skipped: readonly RebuildSkip[];
}

/**
 * Scans the archive channel and rebuilds the index from what Discord holds: for our archives, losslessly with the
 * key (every entry; every chunk with message id, attachment id, file name, size, sha256 and plaintext hash); for the
 * original tool's archives, from their JSON manifests. Archives that cannot be read (no key, wrong key, a thread that
 * is gone) are reported, never guessed. With `dryRun`, nothing is written.
 *
 * @throws {CoreError} NO_KEY is not thrown: archives that need the key are skipped and named. TransportError when
 * the archive channel cannot be read; ABORTED.
 */
export async function rebuildIndex(ctx: ArchiveContext, request: RebuildRequest, run: JobRun): Promise<RebuildResult> {
	const dryRun = request.dryRun === true;
	const archives: RebuiltArchive[] = [];
	const skipped: RebuildSkip[] = [];
	let messagesScanned = 0;
	const channelId = ctx.settings.archiveChannelId;
	run.progress({
		archiveId: undefined,
		phase: 'scanning',
		bytesDone: 0,
		bytesTotal: 0,
		chunksDone: 0,
		chunksTotal: 0,
		note: 'reading the archive channel'
	});
	for await (const message of ctx.transport.pageMessages(channelId, { signal: run.signal })) {
		messagesScanned++;
		let legacy: LegacyCard | null = null;
		try {
			if (findCardRecord(message.embeds) === null) legacy = parseLegacyCard(message);
			const content =
				legacy !== null ? await readLegacyArchive(ctx, message, legacy, run.signal) : await readOurArchive(ctx, message, run.signal);
			if (content === null) continue;
			let written = false;
			if (!dryRun) {
				const archive = ctx.index.archives.replaceContent(content.content);
				// The index derives counts from the entries; a skeleton has none, so its card's counts are kept.
				if (content.counts !== undefined) ctx.index.archives.update(archive.lot, content.counts);
				written = true;
			}
			archives.push({ ...content.summary, written });
			run.progress({
				archiveId: content.summary.archiveId,
				phase: 'scanning',
				bytesDone: 0,
				bytesTotal: 0,
				chunksDone: archives.length,
				chunksTotal: 0,
				note: `${dryRun ? 'found' : 'rebuilt'} ${content.summary.archiveId}`
			});
		} catch (error) {
			if (isCoreError(error, CoreErrorCode.Aborted)) throw error;
			if (!(isCoreError(error) || isIndexError(error) || isTransportError(error) || isArchiveError(error))) throw error;
			skipped.push({ messageId: message.id, archiveId: legacy?.archiveId ?? null, code: error.code, reason: error.message });
			ctx.log('warn', 'rebuild skipped a card', { messageId: message.id, code: error.code });
		}
	}
	if (!dryRun) ctx.index.writeMeta('rebuilt_at', new Date().toISOString());
	return { dryRun, messagesScanned, archives, skipped };
}

interface FoundArchive {
	readonly content: ArchiveContent;
	readonly counts?: { readonly fileCount: number; readonly directoryCount: number; readonly symlinkCount: number };
	readonly summary: Omit<RebuiltArchive, 'written'>;
}

/**
 * One of our archives: a message with a thread whose attachments carry our opaque names. Null for any other message
 * (a chat line, a card whose thread holds no chunk of ours).
 */
async function readOurArchive(ctx: ArchiveContext, message: LiveMessage, signal: AbortSignal): Promise<FoundArchive | null> {
	const record = findCardRecord(message.embeds);
	const threadId = record?.thread ?? message.thread?.id ?? null;
	if (record === null && (threadId === null || !message.authorIsBot)) return null;
	if (record !== null && (record.status === ArchiveStatus.Deleted || threadId === null)) return skeleton(ctx, message, record, threadId, []);
	let listed: ThreadAttachment[];
	try {
		listed = await listThreadAttachments(ctx, { id: record?.id ?? '(unknown)', threadId: threadId! }, signal);
	} catch (error) {
		if (record !== null && isCoreError(error, CoreErrorCode.MissingChunk))
			return skeleton(ctx, message, { ...record, status: ArchiveStatus.Deleted }, null, []);
		throw error;
	}
	const named = listed.map((item) => ({ item, name: parseStagedName(item.attachment.filename) })).filter((entry) => entry.name !== undefined);
	if (record === null && named.length === 0) return null;
	const ids = new Set(named.filter((entry) => entry.name!.kind === 'manifest').map((entry) => entry.name!.archiveId));
	if (record !== null && (ctx.settings.passphrase === undefined || !ids.has(record.id))) return skeleton(ctx, message, record, threadId, listed);
	if (ids.size === 0) {
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			`The thread ${threadId} holds chunks but no manifest: its upload did not finish. Resume it from the machine that has the source.`
		);
	}
	if (ids.size > 1)
		throw new CoreError(CoreErrorCode.BadFormat, `The thread ${threadId} holds the manifests of several archives (${[...ids].join(', ')}).`);
	const archiveId = [...ids][0]!;
	const opened = await openArchiveManifest(ctx, { id: archiveId, threadId: threadId! }, listed, { signal });
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
		source: manifest.label.length > 0 ? manifest.label : manifest.id,
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
		entries: entryRows(manifest),
		chunks
	};
	return {
		content,
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
 * An archive of ours known only from its card record (no key, or its thread is gone): the row as the record says,
 * and the chunks the thread holds by their names (message, attachment, name and size; hashes need the manifest).
 */
function skeleton(
	ctx: ArchiveContext,
	message: LiveMessage,
	record: CardRecord,
	threadId: string | null,
	listed: readonly ThreadAttachment[]
): FoundArchive {
	const chunks: RecordedChunkInput[] = [];
	const seen = new Set<string>();
	for (const item of listed) {
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
			source: record.label ?? record.id,
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

/** Every data chunk of a manifest, with the message that holds it (the copy whose name carries the recorded hash). */
function dataChunkRows(manifest: Manifest, listed: readonly ThreadAttachment[]): RecordedChunkInput[] {
	const byIndex = new Map<number, ThreadAttachment>();
	for (const item of listed) {
		const name = parseStagedName(item.attachment.filename);
		if (name?.kind !== 'data' || name.archiveId !== manifest.id) continue;
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

/** The entries of a manifest as the index records them (with the data chunks each file spans). */
function entryRows(manifest: Manifest): ArchiveEntryInput[] {
	return manifest.entries.map((entry): ArchiveEntryInput => {
		const span = entry.type === 'file' && entry.size > 0 ? chunksSpanned(manifest.chunkSize, entry.offset!, entry.size) : [];
		return {
			path: entry.path,
			type: entry.type,
			size: entry.size,
			mode: entry.mode,
			mtimeMs: entry.mtimeMs,
			sha256: entry.sha256 ?? null,
			offset: entry.offset ?? null,
			firstChunk: span[0] ?? null,
			lastChunk: span.at(-1) ?? null,
			target: entry.target ?? null
		};
	});
}

/** An archive of the original tool, from its card, its thread and its JSON manifest. */
async function readLegacyArchive(ctx: ArchiveContext, message: LiveMessage, card: LegacyCard, signal: AbortSignal): Promise<FoundArchive> {
	const base = {
		id: card.archiveId,
		lot: card.lot,
		uid: legacyArchiveUid(card),
		label: null,
		channelId: ctx.settings.archiveChannelId,
		cardMessageId: card.messageId,
		createdAt: card.createdAt ?? message.createdAt,
		chunkSize: LEGACY_SLICE_SIZE,
		// The original derived a key per chunk from the chunk's own salt: there is no archive salt to record.
		kdf: null
	};
	if (card.status === 'deleted' || card.threadId === null) {
		const status = card.status === 'deleted' ? ArchiveStatus.Deleted : ArchiveStatus.Failed;
		return {
			content: {
				...base,
				source: '',
				status,
				format: ArchiveFormat.LegacyV31,
				threadId: null,
				originalBytes: card.totalSizeBytes ?? 0,
				chunkCount: card.chunkCount ?? 0,
				entries: [],
				chunks: []
			},
			summary: {
				archiveId: card.archiveId,
				lot: card.lot,
				format: ArchiveFormat.LegacyV31,
				status,
				files: card.fileCount ?? 0,
				chunks: card.chunkCount ?? 0,
				chunksPresent: 0,
				depth: 'skeleton'
			}
		};
	}
	const threadRef = { id: card.archiveId, threadId: card.threadId };
	const listed = await listThreadAttachments(ctx, threadRef, signal);
	// The lot and uid let a manifest the index already records for this archive stay the one read (it is pinned).
	const fetched = await fetchLegacyManifest(ctx, { ...threadRef, lot: card.lot, uid: base.uid }, listed, signal);
	if (fetched.others.length > 0)
		ctx.log('warn', 'legacy thread holds other manifests, not used', { archiveId: card.archiveId, others: fetched.others });
	const { manifest } = fetched;
	const byName = new Map(listed.map((item) => [item.attachment.filename, item]));
	const chunks: RecordedChunkInput[] = [];
	const entries: ArchiveEntryInput[] = [];
	for (const file of manifest.files) {
		const seqs = file.chunks.map((chunk) => chunk.seq - 1);
		entries.push({
			path: file.name,
			type: 'file',
			size: file.size,
			sha256: null,
			// No spread: a file may have 160,000 chunks, more arguments than a call takes.
			firstChunk: seqs.length === 0 ? null : seqs.reduce((low, seq) => Math.min(low, seq)),
			lastChunk: seqs.length === 0 ? null : seqs.reduce((high, seq) => Math.max(high, seq))
		});
		for (const chunk of file.chunks) {
			const item = byName.get(chunk.name);
			chunks.push({
				index: chunk.seq - 1,
				state: item === undefined ? ChunkState.Missing : ChunkState.Stored,
				messageId: item?.messageId ?? null,
				attachmentId: item?.attachment.id ?? null,
				filename: chunk.name,
				storedSize: chunk.size ?? item?.attachment.size ?? null
			});
		}
	}
	chunks.push({
		kind: ChunkKind.Manifest,
		index: 0,
		state: ChunkState.Stored,
		messageId: fetched.messageId,
		attachmentId: fetched.attachmentId,
		filename: fetched.file,
		storedSize: fetched.size,
		sha256: fetched.sha256
	});
	const present = chunks.filter((chunk) => chunk.kind === undefined && chunk.state === ChunkState.Stored).length;
	const complete = present === manifest.totals.chunks;
	const status = complete ? legacyArchiveStatus(card, true) : ArchiveStatus.Failed;
	const format = manifest.format as ArchiveFormat;
	return {
		content: {
			...base,
			source: manifest.sourceFolder ?? '',
			status,
			format,
			threadId: card.threadId,
			...(complete
				? {}
				: {
						errorCode: CoreErrorCode.MissingChunk,
						errorMessage: `${manifest.totals.chunks - present} chunk(s) are missing from the thread.`
					}),
			entries,
			chunks
		},
		summary: {
			archiveId: card.archiveId,
			lot: card.lot,
			format,
			status,
			files: manifest.totals.files,
			chunks: manifest.totals.chunks,
			chunksPresent: present,
			depth: 'full'
		}
	};
}
