import { CoreError, CoreErrorCode, MANIFEST_PART_SIZE, type ManifestV2, MAX_MANIFEST_V2_PARTS, openManifestV2 } from '../core/index.js';
import { type Archive, ChunkKind, ChunkState } from '../db/index.js';
import type { ArchiveContext } from './context.js';
import { fetchAttachmentToMemory, requireThread } from './thread-reader.js';

/**
 * The sealed manifest of a format 2 archive, read back from its thread: the parts the index recorded as stored (message,
 * attachment, size and sha256), each fetched with a fresh URL and checked against its record before it is opened with
 * the channel's manifest subkey. The thread is the copy of record; the index keeps where the parts are, not their
 * content (docs/design.md §9).
 */

/** The attachment name of part `index` of a format 2 manifest. */
export function manifestPartName(archive: Pick<Archive, 'id'>, index: number): string {
	return `${archive.id.slice(1)}.m2.${String(index).padStart(4, '0')}.bin`;
}

/**
 * Fetches and opens the manifest of a format 2 archive.
 *
 * @returns the manifest and how many parts were fetched.
 * @throws {CoreError} MISSING_CHUNK when no part (or not every part) is recorded stored; TAMPERED_CHUNK for a part
 * that changed on Discord or does not authenticate; BAD_FORMAT; NOT_FOUND (deleted); TransportError.
 */
export async function fetchRepositoryManifest(
	ctx: ArchiveContext,
	archive: Archive,
	manifestKey: Uint8Array,
	signal?: AbortSignal
): Promise<{ manifest: ManifestV2; fetched: number }> {
	const threadId = requireThread(archive);
	const rows = ctx.index.chunks.list(archive.lot, { kind: ChunkKind.Manifest });
	if (rows.length === 0 || rows.length > MAX_MANIFEST_V2_PARTS || rows.some((row, index) => row.index !== index || row.state !== ChunkState.Stored))
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			`The index records no complete manifest of ${archive.id} (${rows.length} part(s)): its upload did not finish. Resume it.`
		);
	const parts: Buffer[] = [];
	for (const row of rows) {
		if (
			row.messageId === null ||
			row.attachmentId === null ||
			row.storedSize === null ||
			row.sha256 === null ||
			row.storedSize > MANIFEST_PART_SIZE
		)
			throw new CoreError(CoreErrorCode.MissingChunk, `Manifest part ${row.index + 1} of ${archive.id} has no usable record.`);
		parts.push(
			await fetchAttachmentToMemory(ctx, {
				location: { channelId: threadId, messageId: row.messageId, attachmentId: row.attachmentId },
				expectedSize: row.storedSize,
				expectedSha256: row.sha256,
				signal,
				failure: { archive, index: row.index, label: `Manifest part ${row.index + 1}`, item: undefined }
			})
		);
	}
	return { manifest: openManifestV2(manifestKey, archive.id, parts), fetched: parts.length };
}
