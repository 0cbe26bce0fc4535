import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { builtBot, builtCli, ensureBuilt, repoRoot } from '../support/build.js';
import { CardControlClient } from '../../src/cli/commands/demo.js';
import { type Emulator, type EmulatorLimits, startEmulator } from '../../src/emulator/index.js';

/**
 * End-to-end harness: the emulator in the test process, the bot as its own process (`node dist/bot/index.js`, the
 * built bot, exactly what `npm start` runs), and nothing but the emulator's control API to drive it.
 */

export { builtBot, builtCli, ensureBuilt, repoRoot };
export const BOT_TOKEN = 'e2e.bot-token.0123456789abcdef';
export const USER_KEY = 'e2e passphrase, never logged';

/** A world: the emulator, a data folder with upload and download roots and the index, and a way to start the bot. */
export interface World {
	readonly emulator: Emulator;
	readonly control: CardControlClient;
	readonly dir: string;
	readonly uploadRoot: string;
	readonly downloadRoot: string;
	readonly database: string;
	readonly archiveChannelId: string;
	readonly logChannelId: string;
	/** The environment the bot process gets. */
	readonly env: Record<string, string>;
	startBot(extraEnv?: Record<string, string>): Promise<BotProcess>;
	close(): Promise<void>;
}

/** The bot running as its own process. */
export interface BotProcess {
	readonly child: ChildProcess;
	/** Everything it logged so far (stdout and stderr). */
	log(): string;
	/** SIGTERM (graceful: running jobs become interrupted), resolving with the exit code. */
	stop(): Promise<number | null>;
	/** SIGKILL: no chance to record anything. */
	kill(): Promise<void>;
}

export async function startWorld(options: { limits?: Partial<EmulatorLimits>; env?: Record<string, string> } = {}): Promise<World> {
	const dir = await mkdtemp(path.join(tmpdir(), 'dos-e2e-'));
	const uploadRoot = path.join(dir, 'uploads');
	const downloadRoot = path.join(dir, 'downloads');
	await mkdir(uploadRoot);
	await mkdir(downloadRoot);
	const emulator = await startEmulator({ port: 0, dataDir: path.join(dir, 'discord'), ...(options.limits ? { limits: options.limits } : {}) });
	const { ids } = emulator;
	const database = path.join(dir, 'dos.sqlite');
	const env: Record<string, string> = {
		PATH: process.env.PATH ?? '',
		HOME: dir,
		DISCORD_BOT_TOKEN: BOT_TOKEN,
		DISCORD_API_URL: emulator.apiUrl,
		DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: ids.channels.archive,
		DISCORD_DRIVE_LOG_CHANNEL_ID: ids.channels.log,
		GUILD_ID: ids.guildId,
		OWNER_IDS: ids.users.owner,
		ALLOWED_ROLE_IDS: ids.roles.member,
		USER_KEY,
		DISCORD_DRIVE_UPLOAD_PATH: uploadRoot,
		DISCORD_DRIVE_DOWNLOAD_PATH: downloadRoot,
		DOS_DB_PATH: database,
		DOS_CHUNK_SIZE: String(64 * 1024),
		// These tests drive format 1 archives of many small chunks; format 2 (the default) is driven by format2.test.ts
		// and by the demo's test, which leaves the format unset.
		DOS_FORMAT: '1',
		DOS_WORKERS: '1',
		...options.env
	};
	const bots: BotProcess[] = [];
	return {
		emulator,
		control: new CardControlClient(emulator.controlUrl),
		dir,
		uploadRoot,
		downloadRoot,
		database,
		archiveChannelId: ids.channels.archive,
		logChannelId: ids.channels.log,
		env,
		async startBot(extraEnv = {}) {
			const bot = await startBot(dir, { ...env, ...extraEnv });
			bots.push(bot);
			return bot;
		},
		async close() {
			// The bot before the emulator: the other order leaves it reconnecting.
			for (const bot of bots) if (bot.child.exitCode === null && bot.child.signalCode === null) await bot.kill();
			await emulator.close();
			await rm(dir, { recursive: true, force: true });
		}
	};
}

async function startBot(cwd: string, env: Record<string, string>): Promise<BotProcess> {
	const child = spawn(process.execPath, [builtBot], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
	let output = '';
	child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
	child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
	const exited = new Promise<number | null>((resolve) =>
		child.once('exit', (code) => {
			resolve(code);
		})
	);
	const deadline = Date.now() + 60_000;
	while (!output.includes('Commands registered')) {
		if (child.exitCode !== null) throw new Error(`The bot exited with ${child.exitCode} before it was ready:\n${output}`);
		if (Date.now() > deadline) {
			child.kill('SIGKILL');
			throw new Error(`The bot was not ready in time:\n${output}`);
		}
		await delay(50);
	}
	return {
		child,
		log: () => output,
		async stop() {
			child.kill('SIGTERM');
			return exited;
		},
		async kill() {
			child.kill('SIGKILL');
			await exited;
		}
	};
}

/** Bytes with a recognisable pattern (small: big data belongs in the bench). */
export function patterned(size: number, seed = 1): Buffer {
	const bytes = Buffer.alloc(size);
	for (let index = 0; index < size; index++) bytes[index] = (index * 31 + seed * 7 + (index >> 8)) & 0xff;
	return bytes;
}

/** Whether a path exists. */
export async function exists(file: string): Promise<boolean> {
	try {
		await stat(file);
		return true;
	} catch {
		return false;
	}
}

export function delay(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The archive id the bot names in its answer (`**#241126-07**`). */
export function archiveIdIn(text: string | undefined): string {
	const id = /\*\*(#\d{6}-\d{2,})\*\*/.exec(text ?? '')?.[1];
	if (id === undefined) throw new Error(`No archive id in the answer: ${JSON.stringify(text)}`);
	return id;
}

/** The custom ids of a message's buttons. */
export function buttonIds(message: { components: unknown[] }): string[] {
	const ids: string[] = [];
	const walk = (components: unknown): void => {
		if (!Array.isArray(components)) return;
		for (const component of components as { type?: number; custom_id?: string; components?: unknown }[]) {
			if (component.type === 2 && component.custom_id) ids.push(component.custom_id);
			walk(component.components);
		}
	};
	walk(message.components);
	return ids;
}

/** A world with its bot running. */
export interface StartedWorld {
	readonly world: World;
	readonly bot: BotProcess;
}

/**
 * The hooks of a describe block that runs against one world: before its tests the emulator and the bot (with
 * `botEnv`) start and `setup` runs (the block keeps what it needs of `started`); after them the world closes.
 */
export function useWorld(
	options: { limits?: Partial<EmulatorLimits>; env?: Record<string, string>; botEnv?: Record<string, string> },
	setup: (started: StartedWorld) => Promise<void> | void
): void {
	let world: World | undefined;
	beforeAll(async () => {
		await ensureBuilt();
		world = await startWorld({
			...(options.limits ? { limits: options.limits } : {}),
			...(options.env ? { env: options.env } : {})
		});
		const bot = await world.startBot(options.botEnv);
		await setup({ world, bot });
	}, 300_000);
	afterAll(async () => {
		await world?.close();
	});
}
