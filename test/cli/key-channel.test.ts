import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runDosHere } from './support.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import { testPassphrase, writeTree } from '../archive/support/harness.js';
import { treeDigest } from '../support/tree.js';

const NEW_PASSPHRASE = 'the passphrase after the change';

let emulator: Emulator;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
	emulator = await startEmulator({ port: 0, limits: { channelMessagesPerWindow: 1000 } });
	dir = await mkdtemp(path.join(tmpdir(), 'dos-cli-key-'));
	env = {
		DISCORD_BOT_TOKEN: 'emulator-token-for-cli-tests',
		DISCORD_API_URL: emulator.apiUrl,
		DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: emulator.ids.channels.archive,
		USER_KEY: testPassphrase,
		DISCORD_DRIVE_UPLOAD_PATH: path.join(dir, 'uploads'),
		DISCORD_DRIVE_DOWNLOAD_PATH: path.join(dir, 'downloads'),
		DOS_DB_PATH: path.join(dir, 'index.sqlite'),
		DOS_CHUNK_SIZE: String(16 * 1024),
		DOS_GZIP_LEVEL: '1',
		DOS_FORMAT: '1',
		DOS_WORKERS: '1'
	};
	await writeFile(path.join(dir, 'new.txt'), `${NEW_PASSPHRASE}\n`);
});

afterAll(async () => {
	await emulator?.close();
	await rm(dir, { recursive: true, force: true });
});

function dos(args: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> {
	return runDosHere(args, { cwd: dir, env: { ...env, ...extraEnv } });
}

describe('dos key list|passwd on the archive channel', () => {
	it('GIVEN an archive uploaded under USER_KEY WHEN dos key passwd changes the channel passphrase THEN the old USER_KEY is refused, nothing is uploaded again, and the archive downloads with the new one', async () => {
		const source = await writeTree(path.join(dir, 'uploads', 'docs'), { 'a.txt': 'before the change\n', 'b/c.bin': Buffer.alloc(40_000, 7) });
		const upload = await dos(['upload', 'docs', '--json']);
		expect(upload.code, upload.stderr).toBe(0);
		const archiveId = String(upload.result!.archiveId);

		const none = await dos(['key', 'list', '--json']);
		expect(none.code, none.stderr).toBe(0);
		expect(none.result).toMatchObject({ state: 'none' });

		const argument = await dos(['key', 'passwd', NEW_PASSPHRASE]);
		expect(argument.code).toBe(2);

		const messagesBefore = emulator.messages(emulator.ids.channels.archive).length;
		const passwd = await dos(['key', 'passwd', '--new-passphrase-file', 'new.txt', '--json']);
		expect(passwd.code, passwd.stderr).toBe(0);
		expect(passwd.stdout + passwd.stderr).not.toContain(NEW_PASSPHRASE);
		// One keys message in the end: the intermediate ones were deleted; no chunk or card was posted again.
		const after = emulator.messages(emulator.ids.channels.archive);
		expect(after.length).toBe(messagesBefore + 1);
		expect(after.filter((message) => message.pinned).map((message) => message.id)).toEqual([passwd.result!.messageId]);

		const old = await dos(['key', 'list', '--json']);
		expect(old.result).toMatchObject({ state: 'locked', slots: [expect.objectContaining({ id: passwd.result!.added })] });
		await writeTree(path.join(dir, 'uploads', 'more'), { 'd.txt': 'refused\n' });
		const refused = await dos(['upload', 'more', '--json']);
		expect(refused.code).not.toBe(0);
		expect(refused.stdout + refused.stderr).toMatch(/WRONG_KEY/);

		const fresh = await dos(['key', 'list', '--json'], { USER_KEY: NEW_PASSPHRASE });
		expect(fresh.result).toMatchObject({ state: 'open', opened: passwd.result!.added });
		const download = await dos(['download', archiveId, '--json'], { USER_KEY: NEW_PASSPHRASE });
		expect(download.code, download.stderr).toBe(0);
		const [restored] = download.result!.archives as { restoredTo: string }[];
		expect(await treeDigest(restored!.restoredTo)).toEqual(await treeDigest(source));
	});
});
