import path from 'node:path';
import { type AppConfig, ConfigError } from '../config.js';
import { collectBufferGarbage, type CryptoPool, createCryptoPool, SERVICE_CHURN_BYTES } from '../core/index.js';
import { createHolderToken, type HistoryIndex, openIndex } from '../db/index.js';
import { DiscordTransport, type DiscordTransportOptions } from '../discord/index.js';
import type { ArchiveContext, ArchiveLog, ArchiveSettings } from './context.js';

/** DISCORD_DRIVE_ARCHIVE_CHANNEL_ID is not set where an archive context is opened: every job needs the channel. */
export class ArchiveChannelMissingError extends ConfigError {
	public constructor() {
		super(['DISCORD_DRIVE_ARCHIVE_CHANNEL_ID is not set: put the id of the channel that holds the archive cards in it.']);
		this.name = 'ArchiveChannelMissingError';
	}
}

/**
 * The archive settings of a validated configuration: the one mapping from configuration to {@link ArchiveSettings},
 * for the bot and the CLI alike.
 *
 * @throws {ArchiveChannelMissingError} when the configuration names no archive channel.
 */
export function archiveSettings(config: AppConfig): ArchiveSettings {
	const archiveChannelId = config.discord.archiveChannelId;
	if (archiveChannelId === undefined) throw new ArchiveChannelMissingError();
	return {
		passphrase: config.userKey?.reveal(),
		uploadRoot: config.paths.uploadRoot,
		downloadRoot: config.paths.downloadRoot,
		archiveChannelId,
		logChannelId: config.discord.logChannelId,
		chunkSize: config.engine.chunkSize,
		gzipLevel: config.engine.gzipLevel,
		attachmentLimit: config.engine.attachmentLimit,
		uploadConcurrency: config.engine.uploadConcurrency,
		format: config.engine.format,
		packSize: config.engine.packSize,
		compression: config.engine.compression,
		dedup: config.engine.dedup,
		packsPerMessage: config.engine.packsPerMessage,
		tempRoot: path.join(path.dirname(config.paths.database), 'tmp'),
		legacyBotIds: config.discord.legacyBotIds
	};
}

/** What {@link openArchiveContext} needs beyond the configuration. */
export interface OpenArchiveContextOptions {
	/**
	 * How to reach Discord: `{ rest }` to share a client's REST client (the bot), or `{ token, apiUrl }` (the CLI).
	 * The attachment limit always comes from the configuration.
	 */
	readonly transport: Omit<DiscordTransportOptions, 'attachmentLimit'>;
	readonly log: ArchiveLog;
	/**
	 * A crypto pool the caller owns and closes (the CLI's command pool); it is used as is and not closed here. Without
	 * it a pool of `workers` (default DOS_WORKERS) is created, and closed by `close()`.
	 */
	readonly pool?: CryptoPool;
	readonly workers?: number;
	/** Seams for tests: how the index and an owned pool are opened. */
	readonly openIndex?: (path: string) => HistoryIndex;
	readonly createPool?: (workers: number) => CryptoPool;
}

/** An {@link ArchiveContext} and how to close what it opened. */
export interface OwnedArchiveContext {
	readonly context: ArchiveContext;
	/** Closes, in this order, the worker pool (when opened here), the transport and the index; idempotent. */
	readonly close: () => Promise<void>;
}

/**
 * Opens the context every job runs on, for the bot and the CLI: the settings are mapped first (so a missing channel
 * fails before anything is opened), then the history index, the transport and the worker pool, in that order.
 * `close()` closes them in reverse. When one of them fails to open, the ones already open are closed before the
 * error is rethrown.
 *
 * @throws {ArchiveChannelMissingError} when the configuration names no archive channel; `IndexError` when the
 * index cannot be opened; whatever the pool or transport throws (a `RangeError` without a token or REST client).
 */
export async function openArchiveContext(config: AppConfig, options: OpenArchiveContextOptions): Promise<OwnedArchiveContext> {
	const settings = archiveSettings(config);
	const closers: (() => void | Promise<void>)[] = [];
	const closeAll = async () => {
		const failures: unknown[] = [];
		for (const close of closers.splice(0).reverse()) {
			try {
				await close();
			} catch (error) {
				failures.push(error);
			}
		}
		// Every step is closed even when one fails; the first failure is the one reported.
		if (failures.length > 0) throw failures[0] instanceof Error ? failures[0] : new Error(String(failures[0]));
	};
	let context: ArchiveContext;
	try {
		const index = (options.openIndex ?? ((path) => openIndex({ path })))(config.paths.database);
		closers.push(() => {
			index.close();
		});
		const transport = new DiscordTransport({ ...options.transport, attachmentLimit: config.engine.attachmentLimit });
		closers.push(() => {
			transport.close();
		});
		// The service streams packs and chunks through short-lived buffers: its thread frees them early (memory.ts),
		// as the workers of the pool it makes do.
		collectBufferGarbage(SERVICE_CHURN_BYTES);
		let pool = options.pool;
		if (pool === undefined) {
			const owned = (options.createPool ?? ((workers) => createCryptoPool({ workers, collectGarbageEvery: SERVICE_CHURN_BYTES })))(
				options.workers ?? config.engine.workers
			);
			closers.push(() => owned.close());
			pool = owned;
		}
		context = { index, transport, pool, holder: createHolderToken(), log: options.log, settings };
	} catch (error) {
		// The opening error is the one worth reporting; a failure while closing after it would only hide it.
		await closeAll().catch(() => undefined);
		throw error;
	}
	let closed: Promise<void> | undefined;
	return { context, close: () => (closed ??= closeAll()) };
}
