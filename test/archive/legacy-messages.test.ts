import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadArchive } from '../../src/archive/download.js';
import { parseHistoryLog } from '../../src/archive/legacy-log.js';
import { importHistoryLog } from '../../src/archive/legacy-log-import.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { VerificationLevel } from '../../src/db/index.js';
import { expectedHashes, FIXTURE_DIR, FIXTURE_KEY } from '../core/legacy/legacy-fixture.js';
import { pythonJson, threadlessEntry } from './support/history-log.js';
import { type ArchiveHarness, startArchiveHarness } from './support/harness.js';
import { hashesOf } from '../support/tree.js';

describe('thread-less archives of the original tool (chunk messages in a storage channel)', () => {
	let harness: ArchiveHarness;
	let storage: string;
	let chunkMessages: Map<string, string>;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { passphrase: FIXTURE_KEY } });
		storage = harness.emulator.ids.channels.storage;
		const { transport } = harness;
		// As the original's first `!upload` did: a header line, a status line, then one message per file, into the channel.
		const ids: string[] = [];
		ids.push((await transport.postLine(storage, '📦 **Archive: #241126-07** | **Timestamp: 2024-11-26 02:13:28**')).messageId);
		ids.push((await transport.postLine(storage, '📤 Uploading 12 file(s) (1.20 MB)...')).messageId);
		chunkMessages = new Map();
		for (const name of (await readdir(FIXTURE_DIR)).sort()) {
			const posted = await transport.uploadFile(storage, { file: { name, data: await readFile(path.join(FIXTURE_DIR, name)) } });
			ids.push(posted.messageId);
			chunkMessages.set(name, posted.messageId);
		}
		// Another archive's manifest posted later in the same channel: only the recorded messages may be read.
		await transport.uploadFile(storage, { file: { name: '99-manifest_000000_010125.json', data: Buffer.from('{"version":"3.1","files":{}}') } });
		const log = pythonJson([threadlessEntry(7, { archiveId: '#241126-07', messageIds: ids, timestamp: '2024-11-26 02:13:28' })]);
		const imported = importHistoryLog(harness.index, parseHistoryLog(log), {
			storageChannelId: storage,
			archiveChannelId: harness.archiveChannelId
		});
		expect(imported.refused).toEqual([]);
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN a thread-less archive imported from the log WHEN downloaded THEN its recorded messages are fetched by id and every file comes back bit for bit', async () => {
		const result = await downloadArchive(harness.context, { archive: '#241126-07', keepChunks: true }, harness.jobRun());
		expect(await hashesOf(result.restoredTo)).toEqual(await expectedHashes());
		expect(result.chunksFetched).toBe(12);
		const again = await downloadArchive(harness.context, { archive: '#241126-07' }, harness.jobRun());
		expect(again.chunksReused).toBe(11);
		expect(await hashesOf(again.restoredTo)).toEqual(await expectedHashes());
	});

	it('GIVEN a thread-less archive WHEN verified quick and full THEN both pass', async () => {
		const quick = await verifyArchive(harness.context, { archive: '#241126-07', level: VerificationLevel.Quick }, harness.jobRun());
		expect(quick).toMatchObject({ ok: true, chunksChecked: 11 });
		const full = await verifyArchive(harness.context, { archive: '#241126-07', level: VerificationLevel.Full }, harness.jobRun());
		expect(full.ok).toBe(true);
		expect(full.filesChecked).toBeGreaterThan(0);
	});

	it('GIVEN one chunk message deleted from the storage channel WHEN verified quick THEN that chunk is named missing', async () => {
		const name = '0004-e39538e7f27a-034bb2a099bb505b-0001.bin';
		await harness.transport.deleteMessage(storage, chunkMessages.get(name)!);
		const quick = await verifyArchive(harness.context, { archive: '#241126-07', level: VerificationLevel.Quick }, harness.jobRun());
		expect(quick.ok).toBe(false);
		expect(quick.chunks).toMatchObject([{ code: 'MISSING_CHUNK', filename: name, index: 3 }]);
		await expect(downloadArchive(harness.context, { archive: '#241126-07' }, harness.jobRun())).rejects.toMatchObject({ code: 'MISSING_CHUNK' });
	});
});
