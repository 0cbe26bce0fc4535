import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacySampleFiles, seedLegacyArchive } from '../../src/cli/legacy-seed.js';
import { parseHistoryLog } from '../../src/archive/legacy-log.js';
import { DiscordTransport } from '../../src/discord/index.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';

interface ListedMessage {
	readonly id: string;
	readonly author: { readonly bot: boolean };
	readonly attachments: readonly { readonly filename: string }[];
}

describe('seedLegacyArchive (dos sandbox --with-legacy)', () => {
	let emulator: Emulator;
	let transport: DiscordTransport;
	let dir: string;

	beforeAll(async () => {
		emulator = await startEmulator({ port: 0 });
		transport = new DiscordTransport({ token: 'seed-test-token', apiUrl: emulator.apiUrl });
		dir = await mkdtemp(path.join(tmpdir(), 'dos-legacy-seed-'));
	});

	afterAll(async () => {
		transport?.close();
		await emulator?.close();
		await rm(dir, { recursive: true, force: true });
	});

	const storageMessages = async () =>
		(await (await fetch(`${emulator.controlUrl}/channels/${emulator.ids.channels.storage}/messages`)).json()) as ListedMessage[];

	it('GIVEN an empty data folder WHEN seeded twice THEN the bot posts one thread-less archive once, and the log names exactly its messages', async () => {
		const storage = emulator.ids.channels.storage;
		const options = { transport, storageChannelId: storage, dataDir: dir, passphrase: 'seed key', lot: 3 };
		const seed = await seedLegacyArchive(options);
		expect(seed).toMatchObject({ seeded: true, archiveId: '#201124-03', lot: 3 });
		const posted = await storageMessages();
		// A header line, a status line, three chunk files, the manifest: all by the bot.
		expect(posted).toHaveLength(6);
		expect(posted.every((message) => message.author.bot)).toBe(true);
		expect(posted.slice(2).map((message) => message.attachments[0]?.filename)).toEqual([
			expect.stringMatching(/^0001-[0-9a-f]{12}-[0-9a-f]{16}-0000\.bin$/u),
			expect.stringMatching(/^0002-[0-9a-f]{12}-[0-9a-f]{16}-0000\.bin$/u),
			expect.stringMatching(/^0003-[0-9a-f]{12}-[0-9a-f]{16}-0000\.bin$/u),
			'3-manifest_091500_201124.json'
		]);
		// The original's shape, read by the importer: ids as bare integers, every message of the archive named.
		const text = await readFile(seed.logFile, 'utf8');
		for (const message of posted) expect(text).toContain(`            ${message.id}`);
		const log = parseHistoryLog(text);
		expect(log.refused).toEqual([]);
		expect(log.entries).toHaveLength(1);
		expect(JSON.stringify(log.entries[0])).toContain(posted.at(-1)!.id);
		for (const file of legacySampleFiles()) expect(await readFile(path.join(seed.sampleDir, file.name))).toEqual(file.data);

		const again = await seedLegacyArchive({ ...options, lot: 4 });
		expect(again).toMatchObject({ seeded: false, archiveId: '#201124-03' });
		expect(await storageMessages()).toHaveLength(6);
	});
});
