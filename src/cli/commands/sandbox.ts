import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { DosClient } from '../../bot/client.js';
import { type AppConfig, type ConfigEnv, parseConfig, readEnvironment } from '../../config.js';
import { type Emulator, type EmulatorLimits, startEmulator } from '../../emulator/index.js';
import { openIndex } from '../../db/index.js';
import { DiscordTransport } from '../../discord/index.js';
import { writeCliEnv } from '../cli-env.js';
import { type LegacySeed, seedLegacyArchive } from '../legacy-seed.js';
import { type CliInvocation, integerOption } from '../invocation.js';
import { describeFailure, ExitCode } from '../failure.js';

/** The token the sandbox's bot presents; the sandbox's emulator accepts any. Not a secret. */
const SANDBOX_TOKEN = 'sandbox.bot-token.not-a-secret';

/** Options of {@link startSandbox}. */
export interface SandboxOptions {
	/** Where the sandbox keeps everything: the emulated Discord, the index, the upload and download roots, the sandbox key. */
	readonly dataDir: string;
	/** TCP port of the emulator on 127.0.0.1; 0 picks a free one. */
	readonly port?: number;
	/** The environment the settings come from (USER_KEY, DOS_CHUNK_SIZE…); Discord settings are the sandbox's own. */
	readonly env?: ConfigEnv;
	/** Emulator limits to change (tests, the demo). */
	readonly limits?: Partial<EmulatorLimits>;
	/** Receives the bot's log lines; default stderr. */
	readonly writeLog?: (line: string) => void;
	/** Receives the sandbox's own notices (the sandbox-key warning); default stderr. */
	readonly notice?: (text: string) => void;
	/**
	 * Puts one archive of the original tool into the storage channel and its history log into the data folder, once
	 * (see {@link seedLegacyArchive}), so the "moving over" walk-through can be followed against the sandbox.
	 */
	readonly withLegacy?: boolean;
}

/** The one JSON line `dos sandbox` prints when the bot is ready. */
export interface SandboxReady {
	readonly ready: true;
	/** Base URL of the control API (`POST {control}/interactions`, `GET {control}/channels/:id/messages`…). */
	readonly control: string;
	readonly uploadRoot: string;
	readonly downloadRoot: string;
	readonly archiveChannelId: string;
	readonly logChannelId: string;
	/** Where the original tool's thread-less archives' chunk messages are (DISCORD_DRIVE_STORAGE_CHANNEL_ID). */
	readonly storageChannelId: string;
	readonly api: string;
	readonly guildId: string;
	readonly users: { readonly owner: string; readonly member: string; readonly outsider: string };
	readonly dataDir: string;
	/** The settings file a `dos` command loads to work on the sandbox's archives: `dos --env-file <cliEnv> list`. */
	readonly cliEnv: string;
	/** With `--with-legacy`: the original tool's history log to import, the seeded archive, and its files as they were. */
	readonly legacy?: { readonly seeded: boolean; readonly logFile: string; readonly sampleDir: string; readonly archiveId?: string };
}

/** A running sandbox: the emulator and the bot in this process. */
export interface Sandbox {
	readonly emulator: Emulator;
	readonly client: DosClient;
	readonly config: AppConfig;
	readonly ready: SandboxReady;
	/** Stops the bot (running jobs become interrupted), then the emulator (saving its world). Idempotent. */
	readonly close: () => Promise<void>;
}

/**
 * Starts the local emulator and the bot against it, in this process: upload and download roots under the data
 * folder, the owner, member and outsider of the emulator as OWNER_IDS / allowed role, and — when USER_KEY is
 * unset — a generated sandbox key kept in the data folder (said loudly). Resolves once `/archive` is registered.
 *
 * @throws ConfigError for invalid engine settings in the environment; the emulator's and the client's start-up errors.
 */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
	const dataDir = path.resolve(options.dataDir);
	const notice = options.notice ?? ((text: string) => process.stderr.write(text));
	const paths = {
		discord: path.join(dataDir, 'discord'),
		uploads: path.join(dataDir, 'uploads'),
		downloads: path.join(dataDir, 'downloads'),
		database: path.join(dataDir, 'dos.sqlite'),
		key: path.join(dataDir, 'sandbox-user-key')
	};
	await mkdir(paths.uploads, { recursive: true });
	await mkdir(paths.downloads, { recursive: true });
	const env = options.env ?? process.env;
	let userKey = env.USER_KEY;
	const generatedKey = userKey === undefined || userKey.trim() === '';
	if (userKey === undefined || generatedKey) {
		userKey = await sandboxKey(paths.key);
		notice(
			[
				'',
				'!!! USER_KEY is not set: the sandbox encrypts its archives with a generated key kept in',
				`!!!   ${paths.key}`,
				'!!! It is for trying the bot only. For anything you care about, set your own USER_KEY and keep it safe:',
				'!!! without it no archive can ever be restored.',
				''
			].join('\n') + '\n'
		);
	}
	const emulator = await startEmulator({ port: options.port ?? 0, dataDir: paths.discord, ...(options.limits ? { limits: options.limits } : {}) });
	try {
		const { ids } = emulator;
		// Before the bot starts, so that the index is not shared yet: the seeded lot goes above any lot it holds.
		const legacy = options.withLegacy === true ? await seedLegacy(emulator, dataDir, paths.database, userKey) : undefined;
		const config = parseConfig(
			{
				...env,
				DISCORD_BOT_TOKEN: SANDBOX_TOKEN,
				DISCORD_API_URL: emulator.apiUrl,
				DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: ids.channels.archive,
				DISCORD_DRIVE_LOG_CHANNEL_ID: ids.channels.log,
				DISCORD_DRIVE_STORAGE_CHANNEL_ID: ids.channels.storage,
				GUILD_ID: ids.guildId,
				OWNER_IDS: ids.users.owner,
				ALLOWED_ROLE_IDS: ids.roles.member,
				USER_KEY: userKey,
				DISCORD_DRIVE_UPLOAD_PATH: paths.uploads,
				DISCORD_DRIVE_DOWNLOAD_PATH: paths.downloads,
				DOS_DB_PATH: paths.database
			},
			{ cwd: dataDir }
		);
		await import('../../bot/setup.js');
		const [{ DosClient }, { Events }] = await Promise.all([import('../../bot/client.js'), import('@sapphire/framework')]);
		const client = new DosClient({ config, ...(options.writeLog ? { writeLog: options.writeLog } : {}) });
		const registered = new Promise<void>((resolve) =>
			client.once(Events.ApplicationCommandRegistriesRegistered, () => {
				resolve();
			})
		);
		try {
			await client.login();
			await registered;
		} catch (error) {
			await client.destroy();
			throw error;
		}
		// The CLI shares the bot's emulated Discord, index and roots. The generated key goes along (the file is 0600,
		// like the key's own); a USER_KEY of the person's stays in their environment, never written anywhere.
		const cliEnv = await writeCliEnv(
			dataDir,
			{
				DISCORD_API_URL: emulator.apiUrl,
				DISCORD_BOT_TOKEN: SANDBOX_TOKEN,
				DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: ids.channels.archive,
				DISCORD_DRIVE_LOG_CHANNEL_ID: ids.channels.log,
				DISCORD_DRIVE_STORAGE_CHANNEL_ID: ids.channels.storage,
				DISCORD_DRIVE_UPLOAD_PATH: paths.uploads,
				DISCORD_DRIVE_DOWNLOAD_PATH: paths.downloads,
				DOS_DB_PATH: paths.database,
				...(generatedKey ? { USER_KEY: userKey } : {})
			},
			`the sandbox in ${dataDir}`
		);
		const ready: SandboxReady = {
			ready: true,
			control: emulator.controlUrl,
			uploadRoot: paths.uploads,
			downloadRoot: paths.downloads,
			archiveChannelId: ids.channels.archive,
			logChannelId: ids.channels.log,
			storageChannelId: ids.channels.storage,
			api: emulator.apiUrl,
			guildId: ids.guildId,
			users: ids.users,
			dataDir,
			cliEnv,
			...(legacy === undefined
				? {}
				: {
						legacy: {
							seeded: legacy.seeded,
							logFile: legacy.logFile,
							sampleDir: legacy.sampleDir,
							...(legacy.archiveId === undefined ? {} : { archiveId: legacy.archiveId })
						}
					})
		};
		let closing: Promise<void> | undefined;
		const close = () =>
			(closing ??= (async () => {
				// The bot first: the other order leaves the client reconnecting to nothing.
				try {
					await client.destroy();
				} finally {
					await emulator.close();
				}
			})());
		return { emulator, client, config, ready, close };
	} catch (error) {
		await emulator.close();
		throw error;
	}
}

/** Seeds the original tool's archive as the sandbox's bot user, with the lot after the highest the index holds. */
async function seedLegacy(emulator: Emulator, dataDir: string, database: string, passphrase: string): Promise<LegacySeed> {
	const index = openIndex({ path: database });
	let lot: number;
	try {
		lot = index.archives.lastLot() + 1;
	} finally {
		index.close();
	}
	const transport = new DiscordTransport({ token: SANDBOX_TOKEN, apiUrl: emulator.apiUrl });
	try {
		return await seedLegacyArchive({ transport, storageChannelId: emulator.ids.channels.storage, dataDir, passphrase, lot });
	} finally {
		transport.close();
	}
}

/** The sandbox's key: read from its file, or made once (random, 0600) and kept there. */
async function sandboxKey(file: string): Promise<string> {
	try {
		const existing = (await readFile(file, 'utf8')).trim();
		if (existing !== '') return existing;
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
	}
	const key = `sandbox-${randomBytes(24).toString('base64url')}`;
	await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
	return key;
}

interface SandboxCommandOptions {
	data: string;
	port: number;
	withLegacy?: boolean;
}

/** `dos sandbox [--data DIR] [--port N]`: the emulator and the bot in one process, until Ctrl-C. */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('sandbox')
		.description('Run the bot against a local emulated Discord, no token needed; prints one JSON line when ready.')
		.option('--data <dir>', 'folder for the sandbox (emulated Discord, index, upload and download roots)', 'data/sandbox')
		.option('--port <n>', 'TCP port of the emulator on 127.0.0.1 (0 picks a free one)', integerOption('--port', 0, 65_535), 0)
		.option(
			'--with-legacy',
			'put one archive of the original tool into the storage channel and its history log into the data folder (once), to try moving over'
		)
		.action(async (options: SandboxCommandOptions) => {
			const { io } = context;
			let sandbox: Sandbox;
			try {
				sandbox = await startSandbox({
					dataDir: path.resolve(io.cwd, options.data),
					port: options.port,
					// Like the bot and the other commands: the environment over ./.env (USER_KEY, DOS_CHUNK_SIZE…); the
					// Discord settings of the file are replaced by the sandbox's own.
					env: readEnvironment({ env: io.env, cwd: io.cwd }),
					writeLog: (line) => io.stderr.write(line),
					notice: (text) => io.stderr.write(text),
					withLegacy: options.withLegacy ?? false
				});
			} catch (error) {
				const failure = describeFailure(error);
				io.stderr.write(`dos sandbox: ${failure.message}\n`);
				context.exitCode = failure.exitCode;
				return;
			}
			io.stdout.write(`${JSON.stringify(sandbox.ready)}\n`);
			io.stderr.write(
				`The dos CLI works on this sandbox's archives with: dos --env-file ${sandbox.ready.cliEnv} <command>  (e.g. dos --env-file ${sandbox.ready.cliEnv} list)\n`
			);
			const { legacy } = sandbox.ready;
			if (legacy !== undefined) io.stderr.write(legacyNextSteps(sandbox.ready.cliEnv, legacy));
			await new Promise<void>((resolve) => {
				if (io.signal.aborted) resolve();
				io.signal.addEventListener(
					'abort',
					() => {
						resolve();
					},
					{ once: true }
				);
				process.once('SIGTERM', () => {
					resolve();
				});
			});
			await sandbox.close();
			context.exitCode = ExitCode.Ok;
		});
}

/** What to run next to move the seeded archive over: the README's walk-through, with this sandbox's paths. */
function legacyNextSteps(cliEnv: string, legacy: NonNullable<SandboxReady['legacy']>): string {
	const id = legacy.archiveId ?? '<the id import-legacy prints>';
	const dos = `npm run dos -- --env-file ${cliEnv}`;
	return [
		!legacy.seeded
			? `The original tool's archive was seeded at an earlier start (its history log: ${legacy.logFile}); nothing was posted again.`
			: `Seeded the original tool's archive ${id} in the storage channel and its history log in ${legacy.logFile}.`,
		'Move it over, from another terminal:',
		`  ${dos} index import-legacy ${legacy.logFile}`,
		`  ${dos} download '${id}'`,
		`  ${dos} verify '${id}' --full`,
		`  ${dos} migrate-legacy`,
		'then find and restore it from Discord alone, with a new index: see "Moving over from the original tool" in the README.',
		''
	].join('\n');
}
