import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCardRecord } from '../../src/archive/card-record.js';
import { cleanupArchive } from '../../src/archive/cleanup.js';
import type { APIEmbed } from '../../src/discord/index.js';
import { downloadArchive } from '../../src/archive/download.js';
import { rebuildIndex } from '../../src/archive/rebuild.js';
import { ArchiveErrorCode, isArchiveError } from '../../src/archive/errors.js';
import { legacyCardContent } from '../../src/archive/legacy-card.js';
import { ArchiveFormat, ArchiveStatus } from '../../src/db/index.js';
import { CoreErrorCode, isCoreError } from '../../src/core/index.js';
import { FIXTURE_DIR, FIXTURE_KEY } from '../core/legacy/legacy-fixture.js';
import { postLegacyFixture, postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, randomContent, startArchiveHarness } from './support/harness.js';

describe('cleanupArchive', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN an archive WHEN cleaned up twice THEN the thread is deleted in one request, the row kept as deleted, the card greyed, and the second run is a no-op', async () => {
		await harness.writeTree('doomed', { 'a.bin': randomContent(150_000, 'doomed'), 'b.txt': 'b\n' });
		const { archive, threadId } = await postTestArchive(harness, 'doomed');
		const deletesBefore = harness.emulator.stats().byRoute['DELETE /channels/:channel'] ?? 0;
		const first = await cleanupArchive(harness.context, { archive: archive.id }, harness.jobRun());
		expect(first).toMatchObject({ threadDeleted: true, alreadyDeleted: false, cardUpdated: true });
		expect((harness.emulator.stats().byRoute['DELETE /channels/:channel'] ?? 0) - deletesBefore).toBe(1);
		expect(harness.emulator.state().channels.some((channel) => channel.id === threadId)).toBe(false);
		const row = harness.index.archives.get(archive.lot)!;
		expect(row.status).toBe('deleted');
		expect(harness.index.entries.list(archive.lot).length).toBeGreaterThan(0);
		const card = harness.emulator.messages(harness.archiveChannelId).find((message) => message.id === archive.cardMessageId)!;
		expect(findCardRecord(card.embeds as APIEmbed[])?.status).toBe('deleted');

		const second = await cleanupArchive(harness.context, { archive: archive.id }, harness.jobRun());
		expect(second).toMatchObject({ threadDeleted: false, alreadyDeleted: true });
		const download = await downloadArchive(harness.context, { archive: archive.id }, harness.jobRun()).catch((error: unknown) => error);
		expect(isCoreError(download, CoreErrorCode.NotFound)).toBe(true);
	});

	it('GIVEN a legacy archive WHEN cleaned up THEN its JSON card says deleted and a rebuild keeps it deleted', async () => {
		const context = { ...harness.context, settings: { ...harness.settings, passphrase: FIXTURE_KEY } };
		const { cardMessageId } = await postLegacyFixture(harness, FIXTURE_DIR);
		await rebuildIndex(context, {}, harness.jobRun());
		const result = await cleanupArchive(context, { archive: '#241126-07' }, harness.jobRun());
		expect(result).toMatchObject({ threadDeleted: true, cardUpdated: true });
		const card = harness.emulator.messages(harness.archiveChannelId).find((message) => message.id === cardMessageId)!;
		expect(card.content).toContain('"status":"deleted"');
		await rebuildIndex(context, {}, harness.jobRun());
		expect(harness.index.archives.find('#241126-07')!.status).toBe('deleted');
	});

	it('GIVEN forged original-tool cards naming the thread of another archive WHEN the index is rebuilt and cleanup asked for them THEN they are reported, never imported, and no thread is deleted', async () => {
		await harness.writeTree('victim', { 'v.bin': randomContent(70_000, 'victim') });
		const { archive: victim, threadId: victimThread } = await postTestArchive(harness, 'victim');
		const forged = (lot: number) => ({
			lot,
			archive_id: `#051226-${String(lot).padStart(2, '0')}`,
			timestamp: '2026-12-05 10:00:00',
			status: 'success',
			thread_id: victimThread
		});
		// A member posts a card; the bot's own account posts one that names a thread not started on it.
		const byMember = await harness.emulator.postAsUser(harness.archiveChannelId, 'member', legacyCardContent(forged(90)));
		const byBot = await harness.transport.postCard(harness.archiveChannelId, { content: legacyCardContent(forged(91)) });

		const result = await rebuildIndex(harness.context, {}, harness.jobRun());
		expect(result.skipped).toEqual(
			expect.arrayContaining([
				expect.objectContaining({ messageId: byMember.id, archiveId: '#051226-90', code: 'NOT_POSTED_BY_BOT' }),
				expect.objectContaining({ messageId: byBot.messageId, archiveId: '#051226-91', code: 'THREAD_BINDING' })
			])
		);
		expect(harness.index.archives.find('#051226-90')).toBeUndefined();
		expect(harness.index.archives.find('#051226-91')).toBeUndefined();
		expect(harness.index.archives.findByThread(victimThread)?.uid).toBe(victim.uid);
		// The lot counter still moves past every lot a card shows.
		expect(harness.index.archives.lastLot()).toBeGreaterThanOrEqual(91);

		// An index row that names a thread not started on its card (as an older rebuild could import) is refused.
		const stranger = await harness.transport.postCard(harness.archiveChannelId, { content: 'a chat line with a thread' });
		const strangerThread = await harness.transport.startThread({
			channelId: harness.archiveChannelId,
			messageId: stranger.messageId,
			name: 'talk'
		});
		const row = harness.index.archives.import({
			id: '#051226-92',
			lot: 92,
			uid: 'ab'.repeat(16),
			source: '',
			format: ArchiveFormat.LegacyV31,
			status: ArchiveStatus.Complete,
			chunkSize: 1024,
			channelId: harness.archiveChannelId,
			threadId: strangerThread.id,
			cardMessageId: byBot.messageId
		});
		const refused = await cleanupArchive(harness.context, { archive: row.id }, harness.jobRun()).catch((error: unknown) => error);
		expect(isArchiveError(refused, ArchiveErrorCode.ThreadMismatch)).toBe(true);
		expect(harness.emulator.state().channels.some((channel) => channel.id === strangerThread.id)).toBe(true);
		expect(harness.index.archives.get(92)!.status).toBe('complete');
		expect(harness.emulator.state().channels.some((channel) => channel.id === victimThread)).toBe(true);
	});

	it('GIVEN an original-tool card a webhook posted, with a thread started on it WHEN cleanup is asked for the row that names them THEN it is refused: a webhook is a bot, but not this bot', async () => {
		const card = await harness.emulator.postAs(
			harness.archiveChannelId,
			'webhook',
			legacyCardContent({ lot: 93, archive_id: '#051226-93', timestamp: '2026-12-05 10:00:00', status: 'success' })
		);
		const thread = await harness.transport.startThread({ channelId: harness.archiveChannelId, messageId: card.id, name: '#051226-93 chunks' });
		const row = harness.index.archives.import({
			id: '#051226-93',
			lot: 93,
			uid: 'cd'.repeat(16),
			source: '',
			format: ArchiveFormat.LegacyV31,
			status: ArchiveStatus.Complete,
			chunkSize: 1024,
			channelId: harness.archiveChannelId,
			threadId: thread.id,
			cardMessageId: card.id
		});
		const refused = await cleanupArchive(harness.context, { archive: row.id }, harness.jobRun()).catch((error: unknown) => error);
		expect(isArchiveError(refused, ArchiveErrorCode.ThreadMismatch)).toBe(true);
		expect(harness.emulator.state().channels.some((channel) => channel.id === thread.id)).toBe(true);
		expect(harness.index.archives.get(93)!.status).toBe('complete');
	});
});
