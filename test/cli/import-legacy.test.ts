import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runDosHere } from './support.js';
import { openIndex } from '../../src/db/index.js';
import { DiscordTransport } from '../../src/discord/index.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import { pythonJson, threadEntry, threadlessEntry } from '../archive/support/history-log.js';

const STORAGE = '1300000000000000001';
let emulator: Emulator;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
	emulator = await startEmulator({ port: 0 });
	dir = await mkdtemp(path.join(tmpdir(), 'dos-cli-import-legacy-'));
	env = {
		DISCORD_BOT_TOKEN: 'emulator-token-for-cli-tests',
		DISCORD_API_URL: emulator.apiUrl,
		DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: emulator.ids.channels.archive,
		DISCORD_DRIVE_LOG_CHANNEL_ID: emulator.ids.channels.log,
		DISCORD_DRIVE_STORAGE_CHANNEL_ID: STORAGE,
		DOS_WORKERS: '1'
	};
});

afterAll(async () => {
	await emulator?.close();
	await rm(dir, { recursive: true, force: true });
});

function dos(args: string[], extraEnv: Record<string, string>): Promise<CliRun> {
	return runDosHere(args, { cwd: dir, env: { ...env, ...extraEnv } });
}

const log = pythonJson([
	threadlessEntry(3, { archiveId: '#201124-03', messageIds: ['1311111111111111112', '1311111111111111113'] }),
	threadEntry(5, { archiveId: '#261124-05', threadId: '1311111111111111200' })
]);

describe('dos index import-legacy', () => {
	it('GIVEN the log named on the command line WHEN imported THEN its archives are listed with their lots, and a second run changes nothing', async () => {
		const file = path.join(dir, 'named.json');
		await writeFile(file, log);
		const db = path.join(dir, 'named.sqlite');
		const run = await dos(['index', 'import-legacy', file], { DOS_DB_PATH: db });
		expect(run.stderr).toBe('');
		expect(run.code).toBe(0);
		expect(run.stdout).toContain('#201124-03 · lot 3 · complete · 2 message(s) in the storage channel');
		expect(run.stdout).toContain('new archives take lots above 5');
		const again = await dos(['index', 'import-legacy', file], { DOS_DB_PATH: db });
		expect(again.code).toBe(0);
		expect(again.stdout).toContain('Imported 0 archive(s)');
		const index = openIndex({ path: db });
		try {
			expect(index.legacyMessages.get(3)?.messageIds).toEqual(['1311111111111111112', '1311111111111111113']);
		} finally {
			index.close();
		}
	});

	it('GIVEN DISCORD_DRIVE_LOG_FILE WHEN no file is named THEN that log is read; a dry run writes nothing', async () => {
		const file = path.join(dir, 'env.json');
		await writeFile(file, log);
		const db = path.join(dir, 'env.sqlite');
		const run = await dos(['index', 'import-legacy', '--dry-run'], { DOS_DB_PATH: db, DISCORD_DRIVE_LOG_FILE: file });
		expect(run.code).toBe(0);
		expect(run.stdout).toContain(`Would import 2 archive(s) from ${file}`);
		const index = openIndex({ path: db });
		try {
			expect(index.archives.lastLot()).toBe(0);
		} finally {
			index.close();
		}
		const missing = await dos(['index', 'import-legacy'], { DOS_DB_PATH: db, DISCORD_DRIVE_LOG_FILE: path.join(dir, 'nope.json') });
		expect(missing.code).toBe(1);
		expect(missing.stderr).toContain('BAD_HISTORY_LOG');
	});

	it('GIVEN no log file WHEN imported THEN the newest discord-drive-history.json backup in the log channel is read', async () => {
		const transport = new DiscordTransport({ token: env.DISCORD_BOT_TOKEN!, apiUrl: emulator.apiUrl });
		try {
			await transport.uploadFile(emulator.ids.channels.log, {
				content: 'old backup',
				file: {
					name: 'discord-drive-history.json',
					data: Buffer.from(pythonJson([threadlessEntry(1, { archiveId: '#011124-01', messageIds: [] })]))
				}
			});
			await transport.uploadFile(emulator.ids.channels.log, {
				content: 'newest backup',
				file: { name: 'discord-drive-history.json', data: Buffer.from(log) }
			});
		} finally {
			transport.close();
		}
		const db = path.join(dir, 'channel.sqlite');
		const run = await dos(['index', 'import-legacy'], { DOS_DB_PATH: db, DISCORD_DRIVE_LOG_FILE: '' });
		expect(run.stderr).toBe('');
		expect(run.stdout).toContain("from the log channel's backup");
		expect(run.stdout).toContain('Imported 2 archive(s)');
	});
});
