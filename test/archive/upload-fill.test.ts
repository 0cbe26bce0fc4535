import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadArchive } from '../../src/archive/download.js';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import { MIN_PACK_SIZE } from '../../src/core/index.js';
import { type ArchiveHarness, randomContent, startArchiveHarness } from './support/harness.js';
import { treeDigest } from '../support/tree.js';

/**
 * Format 2 messages are filled to the request limit: two full packs leave room in a Create Message request, and every
 * third pack is made small enough to take it, so an upload needs fewer messages (each one a turn of the thread's rate
 * limit) than two packs to a message would.
 */

const MiB = 1024 * 1024;
const packSize = MIN_PACK_SIZE + MiB;
/** Two full packs and room for one of the smallest size and a quarter MiB more (the request keeps 64 KiB aside). */
const messageRequestBytes = 2 * packSize + MIN_PACK_SIZE + 256 * 1024 + 64 * 1024;

let h: ArchiveHarness;

beforeAll(async () => {
	h = await startArchiveHarness({
		emulator: { limits: { channelMessagesPerWindow: 1000 } },
		settings: { format: 2, packSize, packsPerMessage: 2, compression: 'none', messageRequestBytes }
	});
});

afterAll(async () => {
	await h.close();
});

describe('format 2 messages filled to the request limit', () => {
	it('GIVEN 36 MiB of incompressible files WHEN uploaded THEN messages carry two full packs and a smaller third, none over the request, in no more messages than two packs each, and it downloads byte-identical', async () => {
		const source = await h.writeTree('fill', {
			'a.bin': randomContent(14 * MiB, 'fill-a'),
			'b.bin': randomContent(12 * MiB, 'fill-b'),
			'c.bin': randomContent(10 * MiB, 'fill-c')
		});
		const result = await uploadArchive(h.context, await planUpload(h.context, { folder: 'fill' }), h.jobRun());
		const packs = h.index.packs.list(result.lot);
		const messages = h.emulator
			.messages(result.threadId)
			.filter((message) => message.attachments.length > 0 && message.attachments.every((file) => file.filename.endsWith('.pack')));
		expect(messages.reduce((sum, message) => sum + message.attachments.length, 0)).toBe(packs.length);
		for (const message of messages) {
			const bytes = message.attachments.reduce((sum, file) => sum + file.size, 0);
			expect(bytes).toBeLessThanOrEqual(messageRequestBytes - 64 * 1024);
			expect(message.attachments.length).toBeLessThanOrEqual(3);
		}
		// At least one message holds three packs (two full ones leave room for a third only if it is a smaller one).
		expect(messages.filter((message) => message.attachments.length === 3).length).toBeGreaterThanOrEqual(1);
		// Never more messages than two full packs to a message would take for the same bytes (the writer's last, partly
		// filled packs make the count of a folder this small vary by one).
		const stored = packs.reduce((sum, pack) => sum + pack.size, 0);
		expect(messages.length).toBeLessThanOrEqual(Math.ceil(stored / (2 * packSize)));
		const downloaded = await downloadArchive(h.context, { archive: result.archiveId }, h.jobRun());
		expect(await treeDigest(downloaded.restoredTo)).toEqual(await treeDigest(source));
	}, 120_000);
});
