import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupArchive } from '../../src/archive/cleanup.js';
import { downloadArchive } from '../../src/archive/download.js';
import { parseHistoryLog } from '../../src/archive/legacy-log.js';
import { importHistoryLog } from '../../src/archive/legacy-log-import.js';
import { FIXTURE_DIR, FIXTURE_KEY } from '../core/legacy/legacy-fixture.js';
import { legacyCardContent } from '../../src/archive/legacy-card.js';
import { PyInt, pythonJson, threadlessEntry } from './support/history-log.js';
import { type ArchiveHarness, startArchiveHarness } from './support/harness.js';

describe('cleanup of thread-less archives of the original tool', () => {
	let harness: ArchiveHarness;
	let storage: string;

	beforeEach(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { passphrase: FIXTURE_KEY } });
		storage = harness.emulator.ids.channels.storage;
	});

	afterEach(async () => {
		await harness?.close();
	});

	/** Posts the fixture's files into the storage channel, one message each, with strangers' messages around them. */
	async function postArchive(extra: readonly string[] = []): Promise<{ recorded: string[]; others: string[] }> {
		const others = [(await harness.emulator.postAsUser(storage, 'member', 'before the archive')).id];
		const recorded = [(await harness.transport.postLine(storage, '📦 **Archive: #241126-07**')).messageId];
		for (const name of (await readdir(FIXTURE_DIR)).sort()) {
			recorded.push(
				(await harness.transport.uploadFile(storage, { file: { name, data: await readFile(path.join(FIXTURE_DIR, name)) } })).messageId
			);
		}
		others.push(
			(await harness.transport.uploadFile(storage, { file: { name: '0001-aaaaaaaaaaaa-0123456789abcdef-0000.bin', data: Buffer.from('x') } }))
				.messageId
		);
		others.push((await harness.emulator.postAsUser(storage, 'member', 'after the archive')).id);
		const log = pythonJson([threadlessEntry(7, { archiveId: '#241126-07', messageIds: [...recorded, ...extra] })]);
		expect(importHistoryLog(harness.index, parseHistoryLog(log), { storageChannelId: storage, archiveChannelId: undefined }).refused).toEqual([]);
		return { recorded, others };
	}

	it('GIVEN a thread-less archive WHEN cleaned up THEN exactly its recorded messages are deleted, the archive is marked deleted, and a second run deletes nothing', async () => {
		const { recorded, others } = await postArchive();
		const result = await cleanupArchive(harness.context, { archive: '#241126-07' }, harness.jobRun());
		expect(result).toMatchObject({ messagesDeleted: recorded.length, threadDeleted: false, alreadyDeleted: false });
		expect(harness.emulator.messages(storage).map((message) => message.id)).toEqual(others);
		expect(harness.index.archives.require(7).status).toBe('deleted');
		const again = await cleanupArchive(harness.context, { archive: '#241126-07' }, harness.jobRun());
		expect(again).toMatchObject({ messagesDeleted: 0, alreadyDeleted: true });
		await expect(downloadArchive(harness.context, { archive: '#241126-07' }, harness.jobRun())).rejects.toMatchObject({ code: 'NOT_FOUND' });
	});

	it('GIVEN a log that records a person’s message among the chunks WHEN cleaned up THEN nothing at all is deleted', async () => {
		const stranger = (await harness.emulator.postAsUser(storage, 'member', 'my own message')).id;
		await postArchive([stranger]);
		const before = harness.emulator.messages(storage).map((message) => message.id);
		await expect(cleanupArchive(harness.context, { archive: '#241126-07' }, harness.jobRun())).rejects.toMatchObject({ code: 'THREAD_MISMATCH' });
		expect(harness.emulator.messages(storage).map((message) => message.id)).toEqual(before);
		expect(harness.index.archives.require(7).status).toBe('complete');
	});

	it('GIVEN a forged log naming archive cards, or the log channel, as chunk messages WHEN cleaned up THEN nothing is deleted', async () => {
		const archiveChannel = harness.archiveChannelId;
		const card = (await harness.transport.postLine(archiveChannel, legacyCardContent({ lot: 1, archive_id: '#011124-01', status: 'success' })))
			.messageId;
		const starter = (await harness.transport.postLine(archiveChannel, 'a message with a thread')).messageId;
		await harness.transport.startThread({ channelId: archiveChannel, messageId: starter, name: 'thread' });
		const backup = (await harness.transport.uploadFile(harness.logChannelId, { file: { name: 'backup.bin', data: Buffer.from('x') } })).messageId;
		const log = pythonJson([
			{ ...threadlessEntry(8, { archiveId: '#011124-08', messageIds: [card] }), storage_channel_id: new PyInt(archiveChannel) },
			{ ...threadlessEntry(9, { archiveId: '#011124-09', messageIds: [starter] }), storage_channel_id: new PyInt(archiveChannel) },
			{ ...threadlessEntry(10, { archiveId: '#011124-10', messageIds: [backup] }), storage_channel_id: new PyInt(harness.logChannelId) }
		]);
		expect(
			importHistoryLog(harness.index, parseHistoryLog(log), { storageChannelId: storage, archiveChannelId: archiveChannel }).refused
		).toEqual([]);
		const settings = { ...harness.context.settings, logChannelId: harness.logChannelId };
		for (const lot of [8, 9, 10]) {
			await expect(cleanupArchive({ ...harness.context, settings }, { archive: String(lot) }, harness.jobRun())).rejects.toMatchObject({
				code: 'THREAD_MISMATCH'
			});
		}
		expect(harness.emulator.messages(archiveChannel).map((message) => message.id)).toEqual(expect.arrayContaining([card, starter]));
		expect(harness.emulator.messages(harness.logChannelId).map((message) => message.id)).toContain(backup);
	});
});
