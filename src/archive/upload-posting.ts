import { buildManifest, sealManifest } from '../core/index.js';
import { type Archive, ChunkKind, type ChunkRecord, ChunkState } from '../db/index.js';
import { chunkNonce, type OutgoingFile } from '../discord/index.js';
import type { ArchiveContext } from './context.js';
import { ArchiveError, ArchiveErrorCode } from './errors.js';
import { deleteThreadMessage } from './reconcile.js';
import type { ContinueUploadOptions } from './upload.js';

/** Posting an upload's chunks and manifest into its thread, each recorded before and after its post. */

export interface RecordedPost {
	readonly kind: ChunkKind;
	readonly index: number;
	readonly file: OutgoingFile;
	readonly facts: {
		readonly filename: string;
		readonly storedSize: number;
		readonly sha256: string;
		readonly plainSize?: number;
		readonly plainSha256?: string;
		readonly compressed?: boolean;
	};
	/** Data chunks: the files the chunk completes, path → sha256, recorded with it as stored. */
	readonly completedFiles?: ReadonlyMap<string, string>;
	readonly content: string;
	/** The nonce of this chunk's last post, if any: the next post uses the next generation. */
	readonly previousNonce: string | null;
	/** The nonce generation to post with, chosen by the caller (a format 2 resume); else the one after `previousNonce`. */
	readonly generation?: number;
	readonly signal: AbortSignal;
}

/** The nonce generation after `previous` (0 for a chunk never posted). */
export function nextGeneration(uid: string, kind: ChunkKind, index: number, previous: string | null): number {
	if (previous === null) return 0;
	for (let generation = 0; generation < 10_000; generation++) {
		if (chunkNonce({ archiveUid: uid, kind, index, generation }) === previous) return generation + 1;
	}
	return 10_000;
}

/** One message posted into an archive thread, accounted for before and after its post by the caller's records. */
export interface TrackedPost {
	readonly files: readonly OutgoingFile[];
	readonly content: string;
	/** The post's deterministic nonce (see `chunkNonce`). */
	readonly nonce: string;
	readonly signal: AbortSignal;
	/** Records, before the post, that it is in flight (with its nonce). */
	readonly inFlight: () => void;
	/** Records, after Discord accepted it, where each file now lives (attachments in the order of `files`). */
	readonly stored: (message: {
		readonly messageId: string;
		readonly attachments: readonly { readonly id: string; readonly filename: string; readonly size: number }[];
	}) => void;
}

/**
 * Posts one message of files into an archive thread, recorded in flight first and stored once Discord accepted it.
 * A post whose answer was lost is looked for in the thread by the transport (the bot's own message with these exact
 * bytes) and adopted, never posted twice; an answer holding other files than those sent (a nonce reused for other
 * bytes) fails THREAD_MISMATCH. Shared by format 1's chunks and manifest parts and format 2's packs.
 *
 * @throws {ArchiveError} THREAD_MISMATCH; TransportError; whatever the records throw.
 */
export async function postTracked(ctx: ArchiveContext, archive: Archive, threadId: string, post: TrackedPost): Promise<void> {
	post.inFlight();
	const message = await ctx.transport.postChunk({ threadId, files: post.files, content: post.content, nonce: post.nonce, signal: post.signal });
	if (!message.matchesSent || message.attachments.length !== post.files.length) {
		throw new ArchiveError(
			ArchiveErrorCode.ThreadMismatch,
			`Discord answered the post of ${post.files.map((file) => file.name).join(', ')} with message ${message.messageId}, which holds other files. Resume the archive: it reconciles the thread first.`,
			{ archiveId: archive.id, lot: archive.lot }
		);
	}
	post.stored({ messageId: message.messageId, attachments: message.attachments });
}

/**
 * Posts one chunk or manifest part, accounted for in SQLite before and after: in flight with its nonce and sealed
 * file first, stored with message and attachment once Discord accepted it — in the same transaction as the hashes of
 * the files the chunk completes, so that no hash is recorded before its bytes are posted, nor lost once they are.
 */
export async function postRecorded(ctx: ArchiveContext, archive: Archive, threadId: string, post: RecordedPost): Promise<void> {
	const nonce = chunkNonce({
		archiveUid: archive.uid,
		kind: post.kind,
		index: post.index,
		generation: post.generation ?? nextGeneration(archive.uid, post.kind, post.index, post.previousNonce)
	});
	await postTracked(ctx, archive, threadId, {
		files: [post.file],
		content: post.content,
		nonce,
		signal: post.signal,
		inFlight: () => {
			ctx.index.chunks.markInFlight(archive.lot, { kind: post.kind, index: post.index, nonce, ...post.facts });
		},
		stored: (message) => {
			const attachment = message.attachments[0]!;
			ctx.index.chunks.markStored(archive.lot, {
				kind: post.kind,
				index: post.index,
				messageId: message.messageId,
				attachmentId: attachment.id,
				filename: attachment.filename,
				storedSize: attachment.size,
				sha256: post.facts.sha256,
				...(post.completedFiles === undefined || post.completedFiles.size === 0 ? {} : { completedFiles: post.completedFiles })
			});
		}
	});
}

/**
 * Builds, seals and posts the manifest, unless every part of it is already stored. Parts of an earlier sealing that
 * is incomplete are deleted first: the thread holds the parts of exactly one manifest.
 *
 * @returns how many manifest parts the archive has.
 */
export async function postManifest(
	ctx: ArchiveContext,
	archive: Archive,
	threadId: string,
	options: ContinueUploadOptions,
	fileHashes: ReadonlyMap<string, string>,
	signal: AbortSignal
): Promise<number> {
	const lot = archive.lot;
	const existing = ctx.index.chunks.list(lot, { kind: ChunkKind.Manifest });
	if (existing.length > 0 && existing.every((row) => row.state === ChunkState.Stored)) return existing.length;
	for (const row of existing) {
		if (row.messageId !== null) await deleteThreadMessage(ctx, threadId, row.messageId, signal);
	}
	if (existing.length > 0) ctx.index.chunks.markState(lot, existing, ChunkState.Pending);
	const dataRows = ctx.index.chunks.list(lot, { kind: ChunkKind.Data });
	const manifest = buildManifest({
		plan: options.plan,
		uid: Buffer.from(archive.uid, 'hex'),
		archiveId: archive.id,
		lot,
		label: archive.label ?? '',
		source: archive.source,
		requestedBy: archive.createdBy,
		createdAt: archive.createdAt,
		tool: 'discord-object-store',
		key: options.key,
		gzipLevel: archive.gzipLevel ?? ctx.settings.gzipLevel,
		chunks: dataRows.map(manifestChunkRecord),
		fileHashes
	});
	const parts = await sealManifest(manifest, options.key, { gzipLevel: archive.gzipLevel ?? ctx.settings.gzipLevel, signal });
	const previous = new Map(existing.map((row) => [row.index, row.postNonce]));
	for (const part of parts) {
		await postRecorded(ctx, archive, threadId, {
			kind: ChunkKind.Manifest,
			index: part.index,
			file: { name: part.filename, data: part.bytes },
			facts: { filename: part.filename, storedSize: part.storedSize, sha256: part.sha256 },
			content: `manifest ${part.index + 1}/${part.count} · ${archive.id}`,
			previousNonce: previous.get(part.index) ?? null,
			signal
		});
	}
	return parts.length;
}

function manifestChunkRecord(row: ChunkRecord) {
	if (row.state !== ChunkState.Stored || row.plainSize === null || row.plainSha256 === null || row.storedSize === null || row.sha256 === null) {
		throw new ArchiveError(
			ArchiveErrorCode.ThreadMismatch,
			`Data chunk ${row.index} is not stored (it is ${row.state}): the manifest cannot be written yet. Resume the archive.`,
			{ lot: row.archiveLot }
		);
	}
	return {
		index: row.index,
		plainSize: row.plainSize,
		plainSha256: row.plainSha256,
		storedSize: row.storedSize,
		sha256: row.sha256,
		compressed: row.compressed ?? false
	};
}
