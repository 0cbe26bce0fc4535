import type { REST } from 'discord.js';
import type { ArchiveContext, ArchiveLog } from '../../archive/context.js';
import type { AppConfig } from '../../config.js';
import { createCryptoPool } from '../../core/index.js';
import { createHolderToken, openIndex } from '../../db/index.js';
import { DiscordTransport } from '../../discord/index.js';

/** An {@link ArchiveContext} and how to close what it opened. */
export interface OwnedArchiveContext {
	readonly context: ArchiveContext;
	/** Closes the worker pool, the transport and the index; idempotent. */
	readonly close: () => Promise<void>;
}

/**
 * Builds the context every job of the bot runs on: the history index, the worker pool, and a transport that
 * shares the client's REST client (so chunk posts, card edits and interaction replies see the same rate-limit
 * buckets and never race each other into 429s).
 *
 * @throws {IndexError} when the index cannot be opened; `ConfigError` is the caller's (the archive channel is required).
 */
export function openArchiveContext(config: AppConfig, rest: REST, log: ArchiveLog): OwnedArchiveContext {
	const archiveChannelId = config.discord.archiveChannelId;
	if (archiveChannelId === undefined) throw new RangeError('The bot needs DISCORD_DRIVE_ARCHIVE_CHANNEL_ID (loadConfig requires it).');
	const index = openIndex({ path: config.paths.database });
	let pool;
	try {
		pool = createCryptoPool({ workers: config.engine.workers });
	} catch (error) {
		index.close();
		throw error;
	}
	const transport = new DiscordTransport({ rest, attachmentLimit: config.engine.attachmentLimit });
	const context: ArchiveContext = {
		index,
		transport,
		pool,
		holder: createHolderToken(),
		log,
		settings: {
			passphrase: config.userKey?.reveal(),
			uploadRoot: config.paths.uploadRoot,
			downloadRoot: config.paths.downloadRoot,
			archiveChannelId,
			logChannelId: config.discord.logChannelId,
			chunkSize: config.engine.chunkSize,
			gzipLevel: config.engine.gzipLevel,
			attachmentLimit: config.engine.attachmentLimit,
			uploadConcurrency: config.engine.uploadConcurrency,
			legacyBotIds: config.discord.legacyBotIds
		}
	};
	let closed: Promise<void> | undefined;
	return {
		context,
		close: () =>
			(closed ??= (async () => {
				try {
					await pool.close();
				} finally {
					transport.close();
					index.close();
				}
			})())
	};
}
