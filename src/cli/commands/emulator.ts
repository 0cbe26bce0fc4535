import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { startEmulator } from '../../emulator/index.js';
import type { Emulator, EmulatorOptions } from '../../emulator/index.js';

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

/** The one JSON line `dos emulator` prints when it is ready: URLs and the seeded ids scripts need. */
export function readyLine(emulator: Emulator): string {
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
		channels: ids.channels
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
	write(readyLine(emulator));
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
