import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Events } from '@sapphire/framework';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { register } from 'tsx/esm/api';
import '../../src/bot/setup.js';
import { DosClient } from '../../src/bot/client.js';
import { parseConfig } from '../../src/config.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';

const token = 'sandbox-token-0123456789abcdef';

// Sapphire imports its pieces with Node's own import(): let it read TypeScript.
register();

describe('the bot client', () => {
	let emulator: Emulator;
	let dir: string;
	const lines: string[] = [];

	beforeAll(async () => {
		dir = await mkdtemp(path.join(tmpdir(), 'dos-bot-client-'));
		emulator = await startEmulator({ port: 0 });
	});

	afterAll(async () => {
		await emulator?.close();
		await rm(dir, { recursive: true, force: true });
	});

	it('GIVEN the emulator WHEN the client logs in THEN it connects with the Guilds intent, registers /archive in the guild and stops cleanly without logging a secret', async () => {
		const { ids } = emulator;
		const config = parseConfig(
			{
				DISCORD_BOT_TOKEN: token,
				USER_KEY: 'a passphrase that must stay secret',
				DISCORD_API_URL: emulator.apiUrl,
				DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: ids.channels.archive,
				GUILD_ID: ids.guildId,
				OWNER_IDS: ids.users.owner,
				DOS_WORKERS: '1'
			},
			{ cwd: dir }
		);
		const client = new DosClient({ config, writeLog: (line) => lines.push(line) });
		const registered = new Promise<void>((resolve) =>
			client.once(Events.ApplicationCommandRegistriesRegistered, () => {
				resolve();
			})
		);
		try {
			await client.login();
			await registered;
			expect(client.options.intents.bitfield).toBe(1);
			const state = (await (await fetch(`${emulator.controlUrl}/state`)).json()) as { gateway: { identifies: number } };
			expect(state.gateway.identifies).toBe(1);
		} finally {
			await client.destroy();
		}
		const log = lines.join('');
		expect(log).toContain('Connected as');
		expect(log).not.toContain(token);
		expect(log).not.toContain('a passphrase that must stay secret');
	});
});
