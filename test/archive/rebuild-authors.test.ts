import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveContext } from '../../src/archive/context.js';
import { ArchiveErrorCode, isArchiveError } from '../../src/archive/errors.js';
import { legacyCardContent } from '../../src/archive/legacy-card.js';
import { assertIndexCurrent, rebuildIndex } from '../../src/archive/rebuild.js';
import { openIndex } from '../../src/db/index.js';
import { postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, startArchiveHarness } from './support/harness.js';

/**
 * A rebuild imports our cards only when this bot user posted them, and the original tool's cards only from this bot
 * or a user id named in DOS_LEGACY_BOT_IDS. A webhook or another bot (both `author.bot`) posting a card-like message
 * with a high lot is reported and moves no lot counter.
 */

const forgedLegacyCard = (lot: number) =>
	legacyCardContent({
		lot,
		archive_id: `#010199-${lot}`,
		timestamp: '2099-01-01 00:00:00',
		status: 'success',
		file_count: 1
	});

describe('rebuild and the authors of cards', () => {
	let harness: ArchiveHarness;

	beforeEach(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterEach(async () => {
		await harness?.close();
	});

	it('GIVEN a legacy card with lot 90 posted by a webhook WHEN the index is rebuilt THEN it is reported as UNTRUSTED_LEGACY_AUTHOR and the lot counter stays', async () => {
		const posted = await harness.emulator.postAs(harness.archiveChannelId, 'webhook', forgedLegacyCard(90));
		const rebuilt = await rebuildIndex(harness.context, {}, harness.jobRun());
		expect(rebuilt.skipped).toMatchObject([{ messageId: posted.id, code: 'UNTRUSTED_LEGACY_AUTHOR' }]);
		expect(rebuilt.highestLot).toBe(0);
		expect(harness.index.archives.lastLot()).toBe(0);
	});

	it('GIVEN the same card from another bot named in DOS_LEGACY_BOT_IDS WHEN the index is rebuilt THEN its author is trusted (its lot counts)', async () => {
		const posted = await harness.emulator.postAs(harness.archiveChannelId, 'other-bot', forgedLegacyCard(90));
		const context: ArchiveContext = { ...harness.context, settings: { ...harness.context.settings, legacyBotIds: [posted.author.id] } };
		const rebuilt = await rebuildIndex(context, {}, harness.jobRun());
		expect(rebuilt.skipped.filter((skip) => skip.code === 'UNTRUSTED_LEGACY_AUTHOR' || skip.code === 'NOT_POSTED_BY_BOT')).toEqual([]);
		expect(rebuilt.highestLot).toBe(90);
	});

	it('GIVEN a legacy card from a member WHEN the index is rebuilt THEN it is reported as NOT_POSTED_BY_BOT', async () => {
		const posted = await harness.emulator.postAs(harness.archiveChannelId, 'member', forgedLegacyCard(90));
		const rebuilt = await rebuildIndex(harness.context, {}, harness.jobRun());
		expect(rebuilt.skipped).toMatchObject([{ messageId: posted.id, code: 'NOT_POSTED_BY_BOT' }]);
		expect(rebuilt.highestLot).toBe(0);
	});

	it('GIVEN an index behind the channel and 120 chat lines posted after the newest card WHEN an upload checks the index THEN the card is still found (INDEX_BEHIND)', async () => {
		await harness.writeTree('carded', { 'c.txt': 'c\n' });
		await postTestArchive(harness, 'carded');
		for (let line = 0; line < 120; line++) await harness.emulator.postAsUser(harness.archiveChannelId, 'member', `chat ${line}`);
		const other = openIndex({ path: path.join(harness.dir, 'other', 'dos.sqlite') });
		try {
			const refused = await assertIndexCurrent({ ...harness.context, index: other }).catch((error: unknown) => error);
			expect(isArchiveError(refused, ArchiveErrorCode.IndexBehind)).toBe(true);
		} finally {
			other.close();
		}
	});
});
