import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { ArchiveContext, JobProgressEvent, JobRun } from '../../src/archive/context.js';
import { findCardRecord } from '../../src/archive/card-record.js';
import { renderCard } from '../../src/archive/card.js';
import { RebuildFindingCode, rebuildIndex } from '../../src/archive/rebuild.js';
import { resumeArchive } from '../../src/archive/resume.js';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import { ArchiveStatus } from '../../src/db/index.js';
import type { ArchiveHarness } from './support/harness.js';
import { startArchiveHarness } from './support/harness.js';

let harness: ArchiveHarness | undefined;
afterEach(async () => {
	await harness?.close();
	harness = undefined;
});

/** A run that clears the emulator's faults at its first progress event (the card and thread exist by then). */
function clearingRun(h: ArchiveHarness): JobRun {
	let cleared = false;
	const events: JobProgressEvent[] = [];
	return {
		jobId: 'lost-card',
		signal: new AbortController().signal,
		progress: (event) => {
			events.push({ ...event, jobId: 'lost-card', at: Date.now() });
			if (!cleared) h.emulator.faults.reset();
			cleared = true;
		}
	};
}

function cardsOf(h: ArchiveHarness, uid: string) {
	return h.emulator.messages(h.archiveChannelId).filter((message) => findCardRecord(message.embeds as never)?.uid === uid);
}

/** Deletes the SQLite file and rebuilds a fresh index from the channel. */
async function rebuildFresh(h: ArchiveHarness) {
	h.index.close();
	for (const suffix of ['', '-wal', '-shm']) await rm(`${h.indexPath}${suffix}`, { force: true });
	const index = h.reopenIndex();
	const context: ArchiveContext = { ...h.context, index };
	return { index, result: await rebuildIndex(context, {}, h.jobRun()) };
}

describe('a card post whose answer is lost', () => {
	it('GIVEN every answer to the card post lost, past the nonce window WHEN uploading THEN the landed card is adopted, its repeats removed, and the upload completes', async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000, nonceWindowMs: 1 } } });
		const h = harness;
		await h.writeTree('small', { 'a.txt': 'hello', 'b.txt': 'world' });
		const planned = await planUpload(h.context, { folder: 'small' });
		h.emulator.faults.set({ dropAfterCommitRate: 1, routes: ['POST /channels/:channel/messages'] });

		const result = await uploadArchive(h.context, planned, clearingRun(h));
		expect(h.emulator.stats().faultsInjected.dropAfterCommit).toBeGreaterThanOrEqual(2);
		const archive = h.index.archives.require(result.lot);
		expect(archive.status).toBe('complete');
		const cards = cardsOf(h, archive.uid);
		expect(cards).toHaveLength(1);
		expect(cards[0]!.id).toBe(archive.cardMessageId);
		expect(cards[0]!.author.id).toBe(h.emulator.state().botUserId);
		expect(archive.threadId).toBe(archive.cardMessageId);

		const { result: rebuilt } = await rebuildFresh(h);
		expect(rebuilt.archives).toEqual([expect.objectContaining({ archiveId: archive.id, depth: 'full', status: 'complete' })]);
	});

	it('GIVEN an upload that stopped before its card post was answered WHEN resumed after the nonce window THEN the landed card is adopted, not posted again', async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
		const h = harness;
		await h.writeTree('small', { 'a.txt': 'hello', 'b.txt': 'world' });
		const planned = await planUpload(h.context, { folder: 'small' });
		// The card landed (another nonce: the window passed), the answer was lost, and the upload failed.
		const landed = await h.transport.postCard(h.archiveChannelId, renderCard({ archive: planned.archive, status: 'slicing', startedBy: null }), {
			nonce: 'landedcard00000000000000'
		});
		h.index.archives.setStatus(planned.archive.lot, ArchiveStatus.Failed, { code: 'DISCORD_UNAVAILABLE', message: 'no answer' });

		await resumeArchive(h.context, { archive: planned.archive.id }, h.jobRun());
		const archive = h.index.archives.require(planned.archive.lot);
		expect(archive).toMatchObject({ status: 'complete', cardMessageId: landed.messageId, threadId: landed.messageId });
		expect(cardsOf(h, archive.uid).map((card) => card.id)).toEqual([landed.messageId]);
	});

	it('GIVEN an earlier card of the same archive without a thread (a lost answer, posted again) WHEN the index is rebuilt THEN the later card with its thread and manifest is used and the orphan reported', async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
		const h = harness;
		await h.writeTree('small', { 'a.txt': 'hello', 'b.txt': 'world' });
		const planned = await planUpload(h.context, { folder: 'small' });
		// What an older version left behind: the first card landed, its answer was lost, and a later try posted another.
		const orphan = await h.transport.postCard(h.archiveChannelId, renderCard({ archive: planned.archive, status: 'slicing', startedBy: null }), {
			nonce: 'orphancard00000000000000'
		});
		const result = await uploadArchive(h.context, planned, h.jobRun());
		const archive = h.index.archives.require(result.lot);
		expect(archive.cardMessageId).not.toBe(orphan.messageId);
		expect(cardsOf(h, archive.uid)).toHaveLength(2);

		const { index, result: rebuilt } = await rebuildFresh(h);
		expect(rebuilt.skipped).toEqual([]);
		expect(rebuilt.archives).toEqual([expect.objectContaining({ archiveId: archive.id, depth: 'full', status: 'complete' })]);
		expect(rebuilt.findings).toContainEqual(
			expect.objectContaining({ messageId: orphan.messageId, archiveId: archive.id, code: RebuildFindingCode.OrphanCard })
		);
		expect(index.archives.require(archive.lot)).toMatchObject({
			status: 'complete',
			cardMessageId: archive.cardMessageId,
			threadId: archive.threadId,
			fileCount: 2
		});
	});
});
