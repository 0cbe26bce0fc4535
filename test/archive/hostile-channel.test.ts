import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileThread } from '../../src/archive/reconcile.js';
import { ChunkKind, ChunkState } from '../../src/db/index.js';
import { postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, randomContent, startArchiveHarness } from './support/harness.js';

/**
 * A hostile archive channel (DESIGN.md §4): anyone who can post, edit or delete in the archive channel and its
 * threads. Nothing they post may be adopted, imported or restored as ours, and nothing of ours may be deleted for it.
 */

/** The bytes of one attachment of a message. */
async function fetchBytes(harness: ArchiveHarness, channelId: string, messageId: string, attachmentId: string): Promise<Buffer> {
	const parts: Buffer[] = [];
	await harness.transport.downloadAttachment(
		{ channelId, messageId, attachmentId },
		{
			stream: new Writable({
				write(piece: Buffer, _encoding, callback) {
					parts.push(piece);
					callback();
				}
			})
		}
	);
	return Buffer.concat(parts);
}

describe('a hostile archive channel', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 5000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN a chunk posted before a crash and a look-alike with its name and size but other bytes WHEN the thread is reconciled THEN only the genuine bytes are adopted', async () => {
		await harness.writeTree('recon', { 'r.bin': randomContent(100_000, 'recon') });
		const { archive, threadId } = await postTestArchive(harness, 'recon');
		const lot = archive.lot;
		const row = harness.index.chunks.get(lot, { kind: ChunkKind.Data, index: 0 })!;
		const genuine = await fetchBytes(harness, threadId, row.messageId!, row.attachmentId!);
		await harness.transport.deleteMessage(threadId, row.messageId!);
		const facts = {
			filename: row.filename!,
			storedSize: row.storedSize!,
			sha256: row.sha256!,
			plainSize: row.plainSize!,
			plainSha256: row.plainSha256!,
			compressed: row.compressed!
		};
		harness.index.chunks.markState(lot, [row], ChunkState.Pending);
		harness.index.chunks.markInFlight(lot, { index: 0, nonce: 'hostile-0', ...facts });

		const lookAlike = await harness.transport.uploadFile(threadId, { file: { name: row.filename!, data: randomBytes(row.storedSize!) } });
		const first = await reconcileThread(harness.context, harness.index.archives.get(lot)!, new AbortController().signal);
		expect(first.adopted).toEqual([]);
		expect(first.neverLanded).toEqual(['c0']);
		expect(first.deletedMessages).toContain(lookAlike.messageId);
		expect(harness.index.chunks.get(lot, { kind: ChunkKind.Data, index: 0 })!.state).toBe(ChunkState.Pending);

		harness.index.chunks.markInFlight(lot, { index: 0, nonce: 'hostile-1', ...facts });
		const reposted = await harness.transport.uploadFile(threadId, { file: { name: row.filename!, data: genuine } });
		const second = await reconcileThread(harness.context, harness.index.archives.get(lot)!, new AbortController().signal);
		expect(second.adopted).toEqual(['c0']);
		expect(harness.index.chunks.get(lot, { kind: ChunkKind.Data, index: 0 })).toMatchObject({
			state: ChunkState.Stored,
			messageId: reposted.messageId
		});
	});
});
