import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupArchive } from '../../src/archive/cleanup.js';
import type { ArchiveContext } from '../../src/archive/context.js';
import { downloadArchive } from '../../src/archive/download.js';
import { parseHistoryLog } from '../../src/archive/legacy-log.js';
import { importHistoryLog } from '../../src/archive/legacy-log-import.js';
import { migrateLegacyArchives } from '../../src/archive/legacy-migrate.js';
import { rebuildIndex } from '../../src/archive/rebuild.js';
import { openIndex, type HistoryIndex } from '../../src/db/index.js';
import { expectedHashes, FIXTURE_DIR, FIXTURE_KEY } from '../core/legacy/legacy-fixture.js';
import { pythonJson, threadlessEntry } from './support/history-log.js';
import { type ArchiveHarness, startArchiveHarness } from './support/harness.js';
import { hashesOf } from '../support/tree.js';

describe('migrate-legacy: thread-less archives get a card a rebuild can read', () => {
	let harness: ArchiveHarness;
	let storage: string;
	let recorded: string[];
	let spare: string;
	let fresh: HistoryIndex | undefined;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { passphrase: FIXTURE_KEY } });
		storage = harness.emulator.ids.channels.storage;
		spare = await mkdtemp(path.join(tmpdir(), 'dos-migrate-'));
		recorded = [(await harness.transport.postLine(storage, '📦 **Archive: #241126-07**')).messageId];
		for (const name of (await readdir(FIXTURE_DIR)).sort()) {
			recorded.push(
				(await harness.transport.uploadFile(storage, { file: { name, data: await readFile(path.join(FIXTURE_DIR, name)) } })).messageId
			);
		}
		const log = pythonJson([
			threadlessEntry(3, { archiveId: '#201124-03', messageIds: [], status: 'failed' }),
			threadlessEntry(7, { archiveId: '#241126-07', messageIds: recorded, timestamp: '2024-11-26 02:13:28' })
		]);
		expect(
			importHistoryLog(harness.index, parseHistoryLog(log), { storageChannelId: storage, archiveChannelId: harness.archiveChannelId }).refused
		).toEqual([]);
	});

	afterAll(async () => {
		fresh?.close();
		await harness?.close();
		await rm(spare, { recursive: true, force: true });
	});

	it('GIVEN imported thread-less archives WHEN migrated THEN each gets a card marked as imported, a second run does nothing, and the chunks stay where they are', async () => {
		const dry = await migrateLegacyArchives(harness.context, { dryRun: true }, harness.jobRun());
		expect(dry.migrated.map((archive) => archive.lot)).toEqual([3, 7]);
		expect(harness.emulator.messages(harness.archiveChannelId)).toEqual([]);
		const result = await migrateLegacyArchives(harness.context, {}, harness.jobRun());
		expect(result.migrated.map((archive) => [archive.archiveId, archive.messages])).toEqual([
			['#201124-03', 0],
			['#241126-07', recorded.length]
		]);
		const cards = harness.emulator.messages(harness.archiveChannelId);
		expect(cards).toHaveLength(2);
		expect(cards[1]?.content).toContain('"imported_from":"history-log"');
		expect(cards[1]?.attachments.map((attachment) => attachment.filename)).toEqual(['dos-legacy-messages.json']);
		expect(harness.emulator.messages(storage).map((message) => message.id)).toEqual(recorded);
		expect((await migrateLegacyArchives(harness.context, {}, harness.jobRun())).migrated).toEqual([]);
		// The archive still downloads from its recorded messages.
		const download = await downloadArchive(harness.context, { archive: '#241126-07' }, harness.jobRun());
		expect(await hashesOf(download.restoredTo)).toEqual(await expectedHashes());
	});

	it('GIVEN the SQLite index lost and no history log WHEN the index is rebuilt from Discord THEN every archive comes back with its lot and downloads byte-identical', async () => {
		fresh = openIndex({ path: path.join(spare, 'new.sqlite') });
		const context: ArchiveContext = { ...harness.context, index: fresh, settings: { ...harness.settings, downloadRoot: spare } };
		const rebuilt = await rebuildIndex(context, {}, harness.jobRun());
		expect(rebuilt.skipped).toEqual([]);
		expect(rebuilt.archives.map((archive) => [archive.archiveId, archive.lot, archive.status])).toEqual([
			['#201124-03', 3, 'failed'],
			['#241126-07', 7, 'complete']
		]);
		expect(fresh.legacyMessages.get(7)).toEqual({ channelId: storage, messageIds: recorded });
		expect(fresh.archives.lastLot()).toBe(7);
		const download = await downloadArchive(context, { archive: '#241126-07' }, harness.jobRun());
		expect(await hashesOf(download.restoredTo)).toEqual(await expectedHashes());
		// Rebuilding again over the index it made changes nothing.
		const again = await rebuildIndex(context, {}, harness.jobRun());
		expect(again.skipped).toEqual([]);
		expect(fresh.legacyMessages.get(7)?.messageIds).toEqual(recorded);
	});
});

describe('cleanup of a migrated thread-less archive', () => {
	let harness: ArchiveHarness;
	let spare: string;
	let fresh: HistoryIndex | undefined;

	beforeAll(async () => {
		harness = await startArchiveHarness({ settings: { passphrase: FIXTURE_KEY } });
		spare = await mkdtemp(path.join(tmpdir(), 'dos-migrate-'));
	});

	afterAll(async () => {
		fresh?.close();
		await harness?.close();
		await rm(spare, { recursive: true, force: true });
	});

	it('GIVEN a migrated archive WHEN cleaned up THEN its card says deleted, so a rebuild from Discord alone keeps it deleted', async () => {
		const storage = harness.emulator.ids.channels.storage;
		const ids = [
			(await harness.transport.uploadFile(storage, { file: { name: '11-manifest_021328_241126.json', data: Buffer.from('{}') } })).messageId
		];
		const log = pythonJson([threadlessEntry(5, { archiveId: '#241126-05', messageIds: ids })]);
		importHistoryLog(harness.index, parseHistoryLog(log), { storageChannelId: storage, archiveChannelId: harness.archiveChannelId });
		await migrateLegacyArchives(harness.context, {}, harness.jobRun());
		const result = await cleanupArchive(harness.context, { archive: '#241126-05' }, harness.jobRun());
		expect(result).toMatchObject({ messagesDeleted: 1, cardUpdated: true });
		expect(harness.emulator.messages(harness.archiveChannelId)[0]?.content).toContain('"status":"deleted"');
		fresh = openIndex({ path: path.join(spare, 'new.sqlite') });
		await rebuildIndex({ ...harness.context, index: fresh }, {}, harness.jobRun());
		expect(fresh.archives.require(5).status).toBe('deleted');
	});
});
