import type { ArchiveContext, ArchiveLog, ArchiveService } from '../archive/index.js';
import { existsSync } from 'node:fs';
import { type AppConfig, ConfigError, type ConfigNeed } from '../config.js';
import { type HistoryIndex, openIndex } from '../db/index.js';
import type { CommandRun } from './invocation.js';
import { SERVICE_CHURN_BYTES } from '../core/memory.js';

/**
 * The archive service for one CLI command: the index (DOS_DB_PATH), a transport to Discord (DISCORD_BOT_TOKEN, and
 * DISCORD_API_URL for an emulator), the command's crypto pool, and the settings from the configuration. `close()`
 * stops the runner (a running job ends interrupted, resumable) and closes the index and the transport; the pool is
 * closed by `runCommand`.
 */
export interface CliService {
	readonly config: AppConfig;
	readonly service: ArchiveService;
	readonly context: ArchiveContext;
	close(): Promise<void>;
}

/** Configuration the online commands need beyond the engine settings. */
export const onlineNeeds: readonly ConfigNeed[] = ['discordToken', 'archiveChannel'];

/**
 * Opens the service for a command, runs the start-up sweep, and stops the job on Ctrl-C (it ends interrupted).
 *
 * @throws ConfigError when something `needs` lists is missing; IndexError when the index cannot be opened.
 */
export async function openCliService(run: CommandRun, needs: readonly ConfigNeed[] = onlineNeeds, workers?: number): Promise<CliService> {
	const config = run.config([...new Set([...onlineNeeds, ...needs])]);
	// Loaded here, not with this module: a command's --help and its usage errors need none of the service.
	const { ArchiveService, openArchiveContext } = await import('../archive/index.js');
	const log: ArchiveLog = (level, message, fields) => {
		if (level === 'debug' || level === 'info') return;
		run.io.stderr.write(run.reporter.redact(`${level}: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`));
	};
	// The command's pool is the command's (runCommand closes it); the index and the transport are closed here.
	const opened = await openArchiveContext(config, {
		transport: { token: config.discord.token!.reveal(), apiUrl: config.discord.apiUrl },
		log,
		// The service's workers free their dead buffers early, as the bot's do (core/memory.ts).
		pool: run.pool(workers ?? config.engine.workers, { collectGarbageEvery: SERVICE_CHURN_BYTES })
	});
	const { context } = opened;
	// One command, then exit: a backup not yet due at its end is left to the next process (see shortLived).
	const service = new ArchiveService(context, { indexBackupIntervalMs: config.backups.intervalMinutes * 60_000, shortLived: true });
	const stopOnInterrupt = () => void service.shutdown();
	run.io.signal.addEventListener('abort', stopOnInterrupt, { once: true });
	try {
		await service.start();
	} catch (error) {
		run.io.signal.removeEventListener('abort', stopOnInterrupt);
		await opened.close();
		throw error;
	}
	return {
		config,
		service,
		context,
		async close() {
			run.io.signal.removeEventListener('abort', stopOnInterrupt);
			await service.shutdown();
			await opened.close();
		}
	};
}

/**
 * The index alone, for commands that only read it (list, find, status). It must exist: reading never creates an
 * empty index (which would answer "no archives" for a CLI pointed nowhere).
 *
 * @throws {ConfigError} when there is no index at DOS_DB_PATH, saying how to point the CLI at one.
 */
export function openCliIndex(run: CommandRun): { config: AppConfig; index: HistoryIndex } {
	const config = run.config([]);
	const file = config.paths.database;
	if (!existsSync(file)) {
		throw new ConfigError([
			config.discord.archiveChannelId === undefined
				? `There is no index at ${file} and DISCORD_DRIVE_ARCHIVE_CHANNEL_ID is not set: this CLI is not pointed at any archive. Load the settings the sandbox or the emulator wrote (dos --env-file <its data folder>/cli.env list), or set DOS_DB_PATH to the bot's index, or set the archive channel and build the index with dos index rebuild.`
				: `There is no index at ${file} yet: build it from the archive channel with dos index rebuild, or set DOS_DB_PATH to the bot's index.`
		]);
	}
	return { config, index: openIndex({ path: file }) };
}

/** Shows a job's progress through the reporter (bars on a terminal, JSON lines with --json) and waits for its result. */
export async function followJob<R>(cli: CliService, run: CommandRun, handle: { readonly jobId: number; readonly result: Promise<R> }): Promise<R> {
	const stop = cli.service.subscribe((event) => {
		if (event.type === 'progress' && event.event.jobId === String(handle.jobId)) run.reporter.progress(event.event);
	});
	try {
		return await handle.result;
	} finally {
		stop();
	}
}
