import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCardRecord } from '../../src/archive/card-record.js';
import { cleanupArchive } from '../../src/archive/cleanup.js';
import type { APIEmbed } from '../../src/discord/index.js';
import { downloadArchive } from '../../src/archive/download.js';
import { rebuildIndex } from '../../src/archive/rebuild.js';
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
});
