import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupArchive } from '../../src/archive/cleanup.js';
import { cardRecordOf, encodeCardRecord, findCardRecord } from '../../src/archive/card-record.js';
import type { ArchiveContext } from '../../src/archive/context.js';
import { downloadArchive } from '../../src/archive/download.js';
import { legacyCardContent } from '../../src/archive/legacy-card.js';
import { reconcileThread } from '../../src/archive/reconcile.js';
import { rebuildIndex } from '../../src/archive/rebuild.js';
import type { APIEmbed } from '../../src/discord/index.js';
import { ArchiveFormat, ArchiveStatus, ChunkKind, ChunkState, openIndex } from '../../src/db/index.js';
import { postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, nestedTree, randomContent, startArchiveHarness } from './support/harness.js';
import { treeDigest } from '../support/tree.js';

/**
 * A hostile archive channel (docs/design.md §4): anyone who can post, edit or delete in the archive channel and its
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

	it('GIVEN a channel with foreign manifest parts, an extra manifest, fake, duplicated and miscounted cards WHEN the index is rebuilt THEN each genuine archive comes back whole, every oddity is named, nothing is deleted and downloads restore the right bytes', async () => {
		const sourceA = await harness.writeTree('alpha', nestedTree());
		const sourceB = await harness.writeTree('bravo', { 'b.bin': randomContent(150_000, 'bravo'), 'notes/b.txt': 'bravo\n' });
		const a = await postTestArchive(harness, 'alpha', { label: 'alpha' });
		const b = await postTestArchive(harness, 'bravo', { label: 'bravo' });
		const manifestOf = (lot: number) => harness.index.chunks.list(lot, { kind: ChunkKind.Manifest })[0]!;

		// A's manifest part posted into B's thread (newest there, as if B's were replaced).
		const partA = manifestOf(a.archive.lot);
		const bytesA = await fetchBytes(harness, a.threadId, partA.messageId!, partA.attachmentId!);
		const foreign = await harness.transport.uploadFile(b.threadId, { file: { name: partA.filename!, data: bytesA } });
		// An extra "manifest" of B that is not one, under a name whose hash matches its bytes.
		const partB = manifestOf(b.archive.lot);
		const junk = randomBytes(2_000);
		const junkName = partB.filename!.replace(/\.[0-9a-f]{12}\.bin$/, `.${createHash('sha256').update(junk).digest('hex').slice(0, 12)}.bin`);
		const extra = await harness.transport.uploadFile(b.threadId, { file: { name: junkName, data: junk } });
		// B's card edited (by the bot's account, as a compromised editor would) to claim other counts.
		const recordB = findCardRecord(
			harness.emulator.messages(harness.archiveChannelId).find((m) => m.id === b.archive.cardMessageId)!.embeds as APIEmbed[]
		)!;
		await harness.transport.editCard(harness.archiveChannelId, b.archive.cardMessageId!, {
			embeds: [{ title: `Archive ${b.archive.id}`, footer: { text: encodeCardRecord({ ...recordB, files: 9_999, chunks: 1 }) } }]
		});
		// A second card claiming A (posted later, no thread of its own) and a member's fake card claiming B's thread.
		const duplicate = await harness.transport.postCard(harness.archiveChannelId, {
			embeds: [
				{
					title: `Archive ${a.archive.id}`,
					footer: { text: encodeCardRecord({ ...cardRecordOf(harness.index.archives.get(a.archive.lot)!), thread: null }) }
				}
			]
		});
		const fake = await harness.emulator.postAsUser(
			harness.archiveChannelId,
			'member',
			legacyCardContent({ lot: 77, archive_id: '#051226-77', status: 'success', thread_id: b.threadId })
		);

		const channels = [harness.archiveChannelId, a.threadId, b.threadId];
		const countMessages = () => channels.map((channel) => harness.emulator.messages(channel).length);
		const messagesBefore = countMessages();

		const index = openIndex({ path: `${harness.dir}/hostile/dos.sqlite` });
		try {
			const context: ArchiveContext = { ...harness.context, index };
			const result = await rebuildIndex(context, {}, harness.jobRun());
			const byId = new Map(result.archives.map((archive) => [archive.archiveId, archive]));
			expect(byId.get(a.archive.id)).toMatchObject({ depth: 'full', status: 'complete', files: a.manifest.totals.files });
			expect(byId.get(b.archive.id)).toMatchObject({ depth: 'full', status: 'complete', files: 2, chunks: b.manifest.chunks.length });
			expect(result.skipped).toEqual(
				expect.arrayContaining([
					expect.objectContaining({ messageId: duplicate.messageId, code: 'DUPLICATE_CARD' }),
					expect.objectContaining({ messageId: fake.id, code: 'NOT_POSTED_BY_BOT' })
				])
			);
			const findingsOfB = result.findings.filter((finding) => finding.archiveId === b.archive.id);
			expect(findingsOfB.map((finding) => finding.code).sort()).toEqual(['EXTRA_MANIFEST', 'FOREIGN_PART']);
			expect(findingsOfB.find((finding) => finding.code === 'FOREIGN_PART')!.reason).toContain(foreign.messageId);
			expect(index.archives.find('#051226-77')).toBeUndefined();
			expect(index.archives.get(b.archive.lot)).toMatchObject({
				uid: b.archive.uid,
				threadId: b.threadId,
				cardMessageId: b.archive.cardMessageId,
				fileCount: 2
			});
			expect(index.chunks.list(b.archive.lot, { kind: ChunkKind.Manifest }).map((row) => row.messageId)).toEqual([partB.messageId]);
			expect(index.chunks.list(b.archive.lot, { kind: ChunkKind.Manifest }).some((row) => row.messageId === extra.messageId)).toBe(false);
			expect(countMessages()).toEqual(messagesBefore);

			const restoredA = await downloadArchive(context, { archive: a.archive.id }, harness.jobRun());
			const restoredB = await downloadArchive(context, { archive: b.archive.id }, harness.jobRun());
			expect(await treeDigest(restoredA.restoredTo)).toEqual(await treeDigest(sourceA));
			expect(await treeDigest(restoredB.restoredTo)).toEqual(await treeDigest(sourceB));
		} finally {
			index.close();
		}
	});

	it('GIVEN an index row that holds the thread of another archive (imported from a forged card before) WHEN the index is rebuilt THEN the genuine archive takes its thread back, the stale row loses it and its cleanup deletes nothing', async () => {
		await harness.writeTree('owned', { 'o.txt': 'owned\n' });
		const genuine = await postTestArchive(harness, 'owned');
		const index = openIndex({ path: `${harness.dir}/stale/dos.sqlite` });
		try {
			const stale = index.archives.import({
				id: '#051226-95',
				lot: 95,
				uid: 'cd'.repeat(16),
				source: '',
				format: ArchiveFormat.LegacyV31,
				status: ArchiveStatus.Complete,
				chunkSize: 1024,
				channelId: harness.archiveChannelId,
				threadId: genuine.threadId,
				cardMessageId: '100000000000000095'
			});
			const context: ArchiveContext = { ...harness.context, index };
			const result = await rebuildIndex(context, {}, harness.jobRun());
			expect(result.findings).toEqual(expect.arrayContaining([expect.objectContaining({ archiveId: stale.id, code: 'STALE_THREAD_BINDING' })]));
			expect(index.archives.findByThread(genuine.threadId)?.uid).toBe(genuine.archive.uid);
			expect(index.archives.get(95)!.threadId).toBeNull();
			const cleaned = await cleanupArchive(context, { archive: stale.id }, harness.jobRun());
			expect(cleaned.threadDeleted).toBe(false);
			expect(harness.emulator.state().channels.some((channel) => channel.id === genuine.threadId)).toBe(true);
		} finally {
			index.close();
		}
	});
});
