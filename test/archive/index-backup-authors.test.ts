import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupIndex, restoreIndexFromLog } from '../../src/archive/index-backup.js';
import { type ArchiveHarness, startArchiveHarness, testPassphrase } from './support/harness.js';

/**
 * Index backups in the log channel count only when the bot itself posted them. A webhook (a bot too) flooding the
 * channel with files named like newer backups neither uses up the candidates nor wins by the time in its names.
 */

describe('index backups posted by others', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ withLogChannel: true, emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN a genuine backup followed by 30 look-alikes from a webhook with future names WHEN the index is restored THEN the genuine backup is restored and the look-alikes are reported', async () => {
		const backup = await backupIndex(harness.context, {}, harness.jobRun());
		for (let n = 0; n < 30; n++) {
			const junk = randomBytes(2000);
			const name = `dos-index.2099010${n % 9}T000000Z.${createHash('sha256').update(junk).digest('hex').slice(0, 12)}.bin`;
			await harness.emulator.postAs(harness.logChannelId, 'webhook', 'index backup', [{ name, data: junk.toString('base64') }]);
		}
		harness.index.close();
		for (const suffix of ['', '-wal', '-shm']) await rm(`${harness.indexPath}${suffix}`, { force: true });
		const restored = await restoreIndexFromLog({
			transport: harness.transport,
			logChannelId: harness.logChannelId,
			indexPath: harness.indexPath,
			passphrase: testPassphrase
		});
		expect(restored).toMatchObject({ messageId: backup.messageId, filename: backup.filename });
		expect(restored.skipped.length).toBeGreaterThan(0);
		expect(restored.skipped.every((entry) => entry.code === 'NOT_POSTED_BY_BOT')).toBe(true);
	});
});
