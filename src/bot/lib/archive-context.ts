import type { REST } from 'discord.js';
import { type ArchiveLog, openArchiveContext, type OwnedArchiveContext } from '../../archive/index.js';
import type { AppConfig } from '../../config.js';

export type { OwnedArchiveContext } from '../../archive/index.js';

/**
 * The context every job of the bot runs on ({@link openArchiveContext}), with a transport that shares the client's
 * REST client (so chunk posts, card edits and interaction replies see the same rate-limit buckets and never race
 * each other into 429s) and a worker pool of DOS_WORKERS that `close()` closes.
 *
 * @throws {ArchiveChannelMissingError} without DISCORD_DRIVE_ARCHIVE_CHANNEL_ID; `IndexError` when the index cannot be opened.
 */
export function openBotArchiveContext(config: AppConfig, rest: REST, log: ArchiveLog): Promise<OwnedArchiveContext> {
	return openArchiveContext(config, { transport: { rest }, log });
}
