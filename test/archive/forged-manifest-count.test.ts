import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildIndex } from '../../src/archive/rebuild.js';
import { downloadArchive } from '../../src/archive/download.js';
import { manifestPartFileName, parseStagedName } from '../../src/core/index.js';
import { postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, randomContent, startArchiveHarness } from './support/harness.js';

/**
 * A manifest part's count is read before anything is authenticated. Someone who can delete and post in a thread can
 * replace the parts with copies whose count says 0xFFFFFFFF, renamed so that the hash in their names matches: the
 * archive must be reported and skipped, and the rest of the channel read, not the process die out of memory.
 */
describe('a manifest part with a forged count on Discord', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN an archive whose manifest parts were replaced by copies counting 0xFFFFFFFF parts WHEN the index is rebuilt and the archive downloaded THEN it is reported, the index keeps what it knew, and the next archive is still read', async () => {
		await harness.writeTree('forged', { 'a.bin': randomContent(20_000, 'forged') });
		await harness.writeTree('fine', { 'b.bin': randomContent(20_000, 'fine') });
		const forged = await postTestArchive(harness, 'forged');
		const fine = await postTestArchive(harness, 'fine');

		const parts = harness.emulator
			.messages(forged.threadId)
			.flatMap((message) => message.attachments.map((attachment) => ({ message, attachment })))
			.filter(({ attachment }) => parseStagedName(attachment.filename)?.kind === 'manifest');
		expect(parts.length).toBeGreaterThan(0);
		for (const { message, attachment } of parts) {
			const bytes = Buffer.from(await (await fetch(attachment.url)).arrayBuffer());
			bytes.writeUInt32BE(0xffff_ffff, 76);
			const sha256 = createHash('sha256').update(bytes).digest('hex');
			const index = parseStagedName(attachment.filename)!.index;
			await harness.transport.deleteMessage(forged.threadId, message.id);
			await harness.transport.uploadFile(forged.threadId, {
				file: { name: manifestPartFileName(forged.archive.id, index, sha256), data: bytes }
			});
		}

		await expect(downloadArchive(harness.context, { archive: forged.archive.id }, harness.jobRun())).rejects.toMatchObject({
			code: 'MISSING_CHUNK'
		});
		const rebuilt = await rebuildIndex(harness.context, {}, harness.jobRun());
		// The card still vouches for the archive: it is kept (as the index knew it), and the forged parts are named.
		expect(rebuilt.skipped).toEqual([]);
		expect(rebuilt.findings).toEqual(
			expect.arrayContaining([
				expect.objectContaining({
					archiveId: forged.archive.id,
					code: 'UNOPENABLE_MANIFEST',
					reason: expect.stringContaining('manifest part(s) are missing')
				})
			])
		);
		expect(rebuilt.archives).toMatchObject([
			{ archiveId: forged.archive.id, depth: 'skeleton', written: false },
			{ archiveId: fine.archive.id, status: 'complete', depth: 'full' }
		]);
	});
});
