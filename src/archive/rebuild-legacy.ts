import { CoreErrorCode, LEGACY_SLICE_SIZE } from '../core/index.js';
import { type ArchiveEntryInput, ArchiveFormat, ArchiveStatus, ChunkKind, ChunkState, type RecordedChunkInput } from '../db/index.js';
import type { LiveMessage } from '../discord/index.js';
import type { ArchiveContext } from './context.js';
import { type LegacyCard, legacyArchiveStatus, legacyArchiveUid } from './legacy-card.js';
import type { FoundArchive } from './rebuild-ours.js';
import { fetchLegacyManifest } from './thread-manifest.js';
import { listThreadAttachments, type ThreadAttachment } from './thread-reader.js';

/** An archive of the original tool, from its card, its thread and its JSON manifest. */
export async function readLegacyArchive(ctx: ArchiveContext, message: LiveMessage, card: LegacyCard, signal: AbortSignal): Promise<FoundArchive> {
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
		return legacySkeleton(card, {
			status: card.status === 'deleted' ? ArchiveStatus.Deleted : ArchiveStatus.Failed,
			channelId: base.channelId,
			createdAt: base.createdAt,
			storedBytes: card.totalSizeBytes ?? 0,
			files: card.fileCount ?? 0,
			chunks: card.chunkCount ?? 0
		});
	}
	const threadRef = { id: card.archiveId, threadId: card.threadId };
	const listed = await listThreadAttachments(ctx, threadRef, signal);
	// The lot and uid let a manifest the index already records for this archive stay the one read (it is pinned).
	const fetched = await fetchLegacyManifest(ctx, { ...threadRef, lot: card.lot, uid: base.uid }, listed, signal);
	if (fetched.others.length > 0)
		ctx.log('warn', 'legacy thread holds other manifests, not used', { archiveId: card.archiveId, others: fetched.others });
	const { manifest } = fetched;
	// The first copy of each chunk name posted by the card's author (the original tool's bot): a later one is someone's post.
	const byName = firstByName(listed, message.authorId);
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

/** The oldest attachment of each name among those `authorId` posted. */
function firstByName(listed: readonly ThreadAttachment[], authorId: string): Map<string, ThreadAttachment> {
	const byName = new Map<string, ThreadAttachment>();
	for (const item of listed) if (item.authorId === authorId && !byName.has(item.attachment.filename)) byName.set(item.attachment.filename, item);
	return byName;
}

/**
 * An archive of the original tool known only from its card (deleted, threadless, or moved over from the history log):
 * no entries and no chunks in the index, the counts the card states. The one place such a record is built, for a
 * rebuild and for `migrate-legacy` alike.
 */
export function legacySkeleton(
	card: LegacyCard,
	known: {
		readonly status: ArchiveStatus;
		/** Where the chunks are (the archive channel, or the storage channel a migrated card names). */
		readonly channelId: string;
		readonly createdAt: Date;
		/** The card's `total_size_bytes`: the bytes of the uploaded chunk files, as the original counted them. */
		readonly storedBytes: number;
		readonly files: number;
		readonly chunks: number;
	}
): FoundArchive {
	return {
		content: {
			id: card.archiveId,
			lot: card.lot,
			uid: legacyArchiveUid(card),
			label: null,
			source: '',
			status: known.status,
			format: ArchiveFormat.LegacyV31,
			chunkSize: LEGACY_SLICE_SIZE,
			// The original derived a key per chunk from the chunk's own salt: there is no archive salt to record.
			kdf: null,
			channelId: known.channelId,
			threadId: null,
			cardMessageId: card.messageId,
			createdAt: known.createdAt,
			storedBytes: known.storedBytes,
			chunkCount: known.chunks,
			entries: [],
			chunks: []
		},
		summary: {
			archiveId: card.archiveId,
			lot: card.lot,
			format: ArchiveFormat.LegacyV31,
			status: known.status,
			files: known.files,
			chunks: known.chunks,
			chunksPresent: 0,
			depth: 'skeleton'
		}
	};
}
