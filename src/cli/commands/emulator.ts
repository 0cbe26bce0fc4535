import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { startEmulator } from '../../emulator/index.js';
import type { Emulator, EmulatorOptions } from '../../emulator/index.js';
import path from 'node:path';
import { writeCliEnv } from '../cli-env.js';

interface EmulatorCommandOptions {
	port: number;
	host: string;
	data?: string;
	token?: string;
	attachmentLimit?: number;
}

function integer(name: string, min: number, max: number) {
	return (value: string): number => {
		const parsed = Number(value);
		if (!Number.isInteger(parsed) || parsed < min || parsed > max)
			throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}.`);
		return parsed;
	};
}

/**
 * The settings a `dos` command needs against this emulator: its API, its token (accepted by the CLI because the API is
 * on 127.0.0.1), the archive and log channels, and an index of its own in the emulator's data folder.
 */
export function emulatorCliEnv(emulator: Emulator): Record<string, string> {
	return {
		DISCORD_API_URL: emulator.apiUrl,
		DISCORD_BOT_TOKEN: emulator.token,
		DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: emulator.ids.channels.archive,
		DISCORD_DRIVE_LOG_CHANNEL_ID: emulator.ids.channels.log,
		// Where the original tool's thread-less archives live, as in the sandbox.
		DISCORD_DRIVE_STORAGE_CHANNEL_ID: emulator.ids.channels.storage,
		// Absolute: the file is read from wherever the CLI runs.
		DOS_DB_PATH: path.resolve(emulator.dataDir, 'dos.sqlite')
	};
}

/** The one JSON line `dos emulator` prints when it is ready: URLs, the seeded ids scripts need, and the CLI's settings file. */
export function readyLine(emulator: Emulator, cliEnv?: string): string {
	const { ids } = emulator;
	return JSON.stringify({
		ready: true,
		api: emulator.apiUrl,
		control: emulator.controlUrl,
		gateway: emulator.gatewayUrl,
		port: emulator.port,
		token: emulator.token,
		dataDir: emulator.dataDir,
		guildId: ids.guildId,
		applicationId: ids.applicationId,
		botUserId: ids.botUserId,
		users: ids.users,
		channels: ids.channels,
		...(cliEnv === undefined ? {} : { cliEnv })
	});
}

/**
 * Starts the emulator for a command line and keeps it running until SIGINT/SIGTERM, then closes it
 * (saving the world, or removing the temporary one). Resolves once it is ready, with the ready line printed.
 */
export async function runEmulator(
	options: EmulatorCommandOptions,
	write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)
): Promise<Emulator> {
	const settings: EmulatorOptions = { port: options.port, host: options.host };
	if (options.data !== undefined) settings.dataDir = options.data;
	if (options.token !== undefined) settings.token = options.token;
	if (options.attachmentLimit !== undefined) settings.attachmentLimit = options.attachmentLimit;
	const emulator = await startEmulator(settings);
	const stop = () => {
		process.off('SIGINT', stop);
		process.off('SIGTERM', stop);
		emulator.close().then(
			() => process.exit(0),
			(error: unknown) => {
				process.stderr.write(`The emulator did not close cleanly: ${String(error)}\n`);
				process.exit(1);
			}
		);
	};
	process.on('SIGINT', stop);
	process.on('SIGTERM', stop);
	const cliEnv = await writeCliEnv(emulator.dataDir, emulatorCliEnv(emulator), `the emulator at ${emulator.apiUrl}`);
	write(readyLine(emulator, cliEnv));
	process.stderr.write(
		`The dos CLI reaches this emulator with: dos --env-file ${cliEnv} <command>  (e.g. dos --env-file ${cliEnv} index rebuild)\n`
	);
	return emulator;
}

/** `dos emulator [--port N] [--data DIR]`: a local Discord on 127.0.0.1 for tests, the demo and trying the bot. */
export function register(program: Command): void {
	program
		.command('emulator')
		.description('Run a local Discord (REST, gateway, CDN, control API) on 127.0.0.1; prints one JSON line when ready.')
		.option('--port <n>', 'TCP port (0 picks a free one)', integer('--port', 0, 65_535), 0)
		.option('--host <address>', 'address to bind', '127.0.0.1')
		.option('--data <dir>', 'keep the world (messages, threads, attachments, commands) in this directory across restarts')
		.option('--token <token>', 'the only bot token to accept (default: any)')
		.option('--attachment-limit <bytes>', 'largest attachment in bytes (default 10 MiB)', integer('--attachment-limit', 1, 2 ** 40))
		.action(async (options: EmulatorCommandOptions) => {
			await runEmulator(options);
		});
}
