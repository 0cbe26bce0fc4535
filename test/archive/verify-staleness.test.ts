import { afterEach, describe, expect, it } from 'vitest';
import { renderCard } from '../../src/archive/card.js';
import { cleanupArchive } from '../../src/archive/cleanup.js';
import { resumeArchive } from '../../src/archive/resume.js';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import { verifyArchive } from '../../src/archive/verify.js';
import type { APIEmbed } from '../../src/discord/index.js';
import { type ArchiveHarness, nestedTree, startArchiveHarness, stoppingRun } from './support/harness.js';

let harness: ArchiveHarness | undefined;
afterEach(async () => {
	await harness?.close();
	harness = undefined;
});

/** The fields of the archive's card as the archive channel shows it now. */
function cardFields(h: ArchiveHarness, cardMessageId: string): Map<string, string> {
	const card = h.emulator.messages(h.archiveChannelId).find((message) => message.id === cardMessageId)!;
	return new Map(((card.embeds[0] as APIEmbed).fields ?? []).map((field) => [field.name, field.value]));
}

describe('the last verification on a card', () => {
	it('GIVEN a stopped upload that a quick verify found chunks missing in WHEN it is resumed THEN the green card shows that verification as one of the archive before the resume; a new verification is current again; a cleanup makes it stale again', async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { chunkSize: 16 * 1024 } });
		await harness.writeTree('nested', nestedTree());
		const planned = await planUpload(harness.context, { folder: 'nested' });
		await uploadArchive(harness.context, planned, stoppingRun(3)).catch(() => undefined);
		const { id, lot } = planned.archive;
		expect(harness.index.archives.require(lot).status).toBe('cancelled');

		const quick = await verifyArchive(harness.context, { archive: id, level: 'quick' }, harness.jobRun());
		expect(quick.ok).toBe(false);
		expect(quick.summary).toMatch(/missing chunk/);
		expect(renderCard({ archive: harness.index.archives.require(lot) }).embeds![0]!.fields!.map((field) => field.name)).toContain(
			'Last verification'
		);

		await resumeArchive(harness.context, { archive: id }, harness.jobRun());
		const resumed = harness.index.archives.require(lot);
		expect(resumed.status).toBe('complete');
		const afterResume = cardFields(harness, resumed.cardMessageId!);
		expect(afterResume.has('Last verification')).toBe(false);
		expect(afterResume.get('Last verification (before the last resume)')).toContain('missing chunk');

		const again = await verifyArchive(harness.context, { archive: id, level: 'quick' }, harness.jobRun());
		expect(again.ok).toBe(true);
		const current = new Map(
			renderCard({ archive: harness.index.archives.require(lot) }).embeds![0]!.fields!.map((field) => [field.name, field.value])
		);
		expect(current.get('Last verification')).toContain('✅');
		expect(current.has('Last verification (before the last resume)')).toBe(false);

		await cleanupArchive(harness.context, { archive: id }, harness.jobRun());
		expect(cardFields(harness, resumed.cardMessageId!).get('Last verification (before the last deletion)')).toContain('✅');
	});
});
