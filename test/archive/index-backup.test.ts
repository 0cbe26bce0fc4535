import { createHash } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backupIndex, createIndexBackupTrigger, INDEX_BACKUP_NAME, restoreIndexFromLog } from '../../src/archive/index-backup.js';
import { ArchiveService } from '../../src/archive/service.js';
import { CoreErrorCode, isCoreError } from '../../src/core/index.js';
import type { HistoryIndex } from '../../src/db/index.js';
import { postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, randomContent, startArchiveHarness, testPassphrase } from './support/harness.js';

function tables(index: HistoryIndex) {
	return index.archives.list({ limit: 100 }).archives.map((archive) => ({
		archive,
		chunks: index.chunks.list(archive.lot),
		entries: index.entries.list(archive.lot, { limit: 10_000 })
	}));
}

describe('index backup and restore through the log channel', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ withLogChannel: true, emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN an index backed up to the log channel WHEN the SQLite file is lost and restored THEN the same tables come back; a wrong key is refused and leaves the index untouched', async () => {
		await harness.writeTree('kept', { 'a.bin': randomContent(100_000, 'kept'), 'b/c.txt': 'c\n' });
		await postTestArchive(harness, 'kept');
		const before = tables(harness.index);
		const run = harness.jobRun();
		const backup = await backupIndex(harness.context, {}, run);
		expect(backup.filename).toMatch(INDEX_BACKUP_NAME);
		expect(harness.index.backups.latest()).toMatchObject({ messageId: backup.messageId, sha256: backup.sha256 });
		const posted = harness.emulator.messages(harness.logChannelId).at(-1)!;
		expect(posted.attachments[0]!.filename).toBe(backup.filename);
		expect(run.events.some((event) => event.phase === 'backing-up')).toBe(true);
		const backedUp = tables(harness.index);

		harness.index.close();
		for (const suffix of ['', '-wal', '-shm']) await rm(`${harness.indexPath}${suffix}`, { force: true });
		const options = { transport: harness.transport, logChannelId: harness.logChannelId, indexPath: harness.indexPath };

		const refused = await restoreIndexFromLog({ ...options, passphrase: 'not the passphrase' }).catch((error: unknown) => error);
		expect(isCoreError(refused, CoreErrorCode.WrongKey)).toBe(true);
		await expect(stat(harness.indexPath)).rejects.toThrow();

		const restored = await restoreIndexFromLog({ ...options, passphrase: testPassphrase });
		expect(restored).toMatchObject({ filename: backup.filename, messageId: backup.messageId, previous: null });
		const index = harness.reopenIndex();
		expect(tables(index)).toEqual(backedUp);
		expect(backedUp).toEqual(before);
		expect(index.integrityProblems()).toEqual([]);

		const current = await readFile(harness.indexPath);
		const wrongAgain = await restoreIndexFromLog({ ...options, passphrase: 'nope' }).catch((error: unknown) => error);
		expect(isCoreError(wrongAgain, CoreErrorCode.WrongKey)).toBe(true);
		expect((await readFile(harness.indexPath)).equals(current)).toBe(true);
		index.close();
	});

	it('GIVEN an old genuine backup re-posted under a future name and a damaged one WHEN restoring THEN the newest by its sealed time is restored and the others are passed over', async () => {
		const index = harness.reopenIndex();
		const context = { ...harness.context, index };
		await harness.writeTree('older', { 'o.bin': randomContent(70_000, 'older') });
		await postTestArchive({ ...harness, index, context }, 'older');
		const old = await backupIndex(context, {}, harness.jobRun());
		await harness.writeTree('newer', { 'n.bin': randomContent(70_000, 'newer') });
		await postTestArchive({ ...harness, index, context }, 'newer');
		const genuine = await backupIndex(context, {}, harness.jobRun());
		const newest = tables(index);
		const lastLot = index.archives.lastLot();

		const oldBytes = await download(harness, old.messageId);
		const replayName = `dos-index.20991231T235959Z.${old.sha256.slice(0, 12)}.bin`;
		const replay = await harness.transport.uploadFile(harness.logChannelId, { file: { name: replayName, data: oldBytes } });
		const junk = Buffer.from('not a backup at all');
		const junkName = `dos-index.20991231T235958Z.${createHash('sha256').update(junk).digest('hex').slice(0, 12)}.bin`;
		const junkPost = await harness.transport.uploadFile(harness.logChannelId, { file: { name: junkName, data: junk } });

		index.close();
		const restored = await restoreIndexFromLog({
			transport: harness.transport,
			logChannelId: harness.logChannelId,
			indexPath: harness.indexPath,
			passphrase: testPassphrase
		});
		expect(restored).toMatchObject({ filename: genuine.filename, messageId: genuine.messageId, lastLot });
		expect(restored.skipped).toEqual([expect.objectContaining({ messageId: junkPost.messageId, code: CoreErrorCode.BadFormat })]);
		expect(restored.skipped.some((skip) => skip.messageId === replay.messageId)).toBe(false);
		const reopened = harness.reopenIndex();
		expect(tables(reopened)).toEqual(newest);
		reopened.close();
	});

	it('GIVEN no log channel WHEN backing up THEN it says what to set', async () => {
		const context = { ...harness.context, settings: { ...harness.settings, logChannelId: undefined } };
		const error = await backupIndex(context, {}, harness.jobRun()).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.InvalidOption)).toBe(true);
		expect((error as Error).message).toContain('DISCORD_DRIVE_LOG_CHANNEL_ID');
	});
});

/** The bytes of the first attachment of a log channel message. */
async function download(harness: ArchiveHarness, messageId: string): Promise<Buffer> {
	const message = await harness.transport.fetchMessage(harness.logChannelId, messageId);
	const parts: Buffer[] = [];
	await harness.transport.downloadAttachment(
		{ channelId: harness.logChannelId, messageId, attachmentId: message.attachments[0]!.id },
		{
			stream: new Writable({
				write(piece: Buffer, _encoding, callback) {
					parts.push(piece);
					callback();
				}
			})
		}
	);
	return Buffer.concat(parts);
}

describe('createIndexBackupTrigger', () => {
	it('GIVEN a burst of changes WHEN notified THEN one backup runs at once, one more after the interval, and the last change is always backed up', async () => {
		vi.useFakeTimers();
		try {
			let backups = 0;
			let release: (() => void) | undefined;
			const trigger = createIndexBackupTrigger({
				minIntervalMs: 10_000,
				now: () => Date.now(),
				backup: () =>
					new Promise<void>((resolve) => {
						backups++;
						release = resolve;
					})
			});
			trigger.notify();
			await vi.advanceTimersByTimeAsync(0);
			expect(backups).toBe(1);
			for (let i = 0; i < 5; i++) trigger.notify();
			release!();
			await vi.advanceTimersByTimeAsync(5_000);
			expect(backups).toBe(1);
			await vi.advanceTimersByTimeAsync(5_000);
			expect(backups).toBe(2);
			release!();
			await vi.advanceTimersByTimeAsync(60_000);
			expect(backups).toBe(2);
			trigger.notify();
			const closing = trigger.close();
			await vi.advanceTimersByTimeAsync(0);
			expect(backups).toBe(3);
			release!();
			await closing;
		} finally {
			vi.useRealTimers();
		}
	});

	it('GIVEN a backup that cannot start (it throws at once, e.g. its lock is held) WHEN the trigger closes THEN the close succeeds, the failure is logged and the change stays pending', async () => {
		const logged: { level: string; message: string }[] = [];
		let attempts = 0;
		const trigger = createIndexBackupTrigger({
			minIntervalMs: 60_000,
			log: (level, message) => logged.push({ level, message }),
			backup: () => {
				attempts++;
				throw Object.assign(new Error('Another index-backup job is running.'), { code: 'ARCHIVE_BUSY' });
			}
		});
		trigger.notify();
		await expect(trigger.close()).resolves.toBeUndefined();
		expect(attempts).toBe(1);
		expect(logged).toEqual([{ level: 'warn', message: 'index backup failed; it is retried at the next change' }]);
	});
});

describe('automatic index backups across processes', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ withLogChannel: true, emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	function backupsPosted(): number {
		return harness.emulator
			.messages(harness.logChannelId)
			.filter((message) => message.attachments.some((file) => INDEX_BACKUP_NAME.test(file.filename))).length;
	}

	it('GIVEN one dos command after another, each changing the index WHEN each ends THEN at most one backup is posted per interval, and the change left over is backed up by the next process that starts once it is due', async () => {
		await harness.writeTree('first', { 'a.txt': 'a\n' });
		await harness.writeTree('second', { 'b.txt': 'b\n' });
		const interval = 10 * 60_000;
		const first = new ArchiveService(harness.context, { indexBackupIntervalMs: interval, shortLived: true });
		await first.start();
		await (
			await first.upload({ folder: 'first' })
		).result;
		await first.shutdown();
		expect(backupsPosted()).toBe(1);

		for (const kind of ['upload', 'verify'] as const) {
			const next = new ArchiveService(harness.context, { indexBackupIntervalMs: interval, shortLived: true });
			await next.start();
			if (kind === 'upload') await (await next.upload({ folder: 'second' })).result;
			else await next.verify({ archive: harness.index.archives.list().archives[0]!.id, level: 'quick' }).result;
			await next.shutdown();
		}
		expect(backupsPosted()).toBe(1);

		// Once the interval has passed, the next process to start backs up what the others left (here: an interval of 1 ms).
		const later = new ArchiveService(harness.context, { indexBackupIntervalMs: 1, shortLived: true });
		await later.start();
		await later.shutdown();
		expect(backupsPosted()).toBe(2);
		const again = new ArchiveService(harness.context, { indexBackupIntervalMs: 1, shortLived: true });
		await again.start();
		await again.shutdown();
		expect(backupsPosted()).toBe(2);
	});
});
