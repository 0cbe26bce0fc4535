import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { historyLogError, MAX_HISTORY_LOG_BYTES, parseHistoryLog } from '../../archive/legacy-log.js';
import { fetchHistoryLogBackup, importHistoryLog } from '../../archive/legacy-log-import.js';
import { openIndex } from '../../db/index.js';
import { DiscordTransport } from '../../discord/index.js';
import { type CliInvocation, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import type { OutputOptions } from '../io.js';

interface ImportLegacyOptions extends OutputOptions {
	readonly dryRun?: boolean;
}

/**
 * `dos index import-legacy [<log.json>] [--dry-run]`: adds the original tool's history log to the index — the file
 * named, else `DISCORD_DRIVE_LOG_FILE`, else `~/discord-drive-history.json` when it exists, else the newest backup of
 * it in the log channel.
 */
export function register(index: Command, context: CliInvocation): void {
	index
		.command('import-legacy [log]')
		.description(
			'Add the original tool’s history log (discord-drive-history.json) to the index, lots unchanged: the file named, else DISCORD_DRIVE_LOG_FILE, else ~/discord-drive-history.json, else its newest backup in the log channel.'
		)
		.option('--dry-run', 'check the log and report what would be imported, writing nothing')
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (file: string | undefined, options: ImportLegacyOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const config = run.config([]);
				let text: string;
				let source: string;
				const named = file ?? (config.legacy.logFileSet || existsSync(config.legacy.logFile) ? config.legacy.logFile : undefined);
				if (named !== undefined) {
					const size = await stat(named).then(
						(stats) => stats.size,
						(thrown: unknown) => {
							const error = thrown as NodeJS.ErrnoException;
							throw historyLogError(
								`${named} cannot be read (${error.code ?? error.message}): name the original tool's discord-drive-history.json.`
							);
						}
					);
					if (size > MAX_HISTORY_LOG_BYTES)
						throw historyLogError(`${named} is larger than ${MAX_HISTORY_LOG_BYTES} bytes: that is no log of the original tool.`);
					text = await readFile(named, 'utf8');
					source = named;
				} else {
					const online = run.config(['discordToken', 'logChannel']);
					const transport = new DiscordTransport({ token: online.discord.token!.reveal(), apiUrl: online.discord.apiUrl });
					try {
						const backup = await fetchHistoryLogBackup(transport, online.discord.logChannelId!, run.io.signal);
						if (backup === null) {
							throw historyLogError(
								`No history log found: ${config.legacy.logFile} does not exist and the log channel holds no discord-drive-history.json. Name the file: dos index import-legacy <log.json>.`
							);
						}
						text = backup.text;
						source = `the log channel's backup of ${backup.postedAt.toISOString()} (message ${backup.messageId})`;
					} finally {
						transport.close();
					}
				}
				const log = parseHistoryLog(text);
				const index = openIndex({ path: config.paths.database });
				try {
					const dryRun = options.dryRun === true;
					const result = importHistoryLog(index, log, {
						storageChannelId: config.legacy.storageChannelId,
						archiveChannelId: config.discord.archiveChannelId,
						dryRun
					});
					run.reporter.result({ source, dryRun, ...result }, [
						...result.imported.map(
							(entry) =>
								`${entry.archiveId} · lot ${entry.lot} · ${entry.status} · ${entry.holds === 'thread' ? 'card and thread' : entry.holds === 'messages' ? `${entry.messages} message(s) in the storage channel` : 'nothing on Discord'}`
						),
						...result.alreadyIndexed.map((id) => `${id} · already in the index`),
						...result.refused.map(
							(refusal) =>
								`refused entry ${refusal.position + 1}${refusal.archiveId === null ? '' : ` (${refusal.archiveId})`}: ${refusal.code} ${refusal.reason}`
						),
						`${dryRun ? 'Would import' : 'Imported'} ${result.imported.length} archive(s) from ${source}${result.alreadyIndexed.length > 0 ? `; ${result.alreadyIndexed.length} already in the index` : ''}${result.refused.length > 0 ? `; ${result.refused.length} refused` : ''}; new archives take lots above ${result.lastLot}.`
					]);
					return result.refused.length > 0 ? ExitCode.Failed : ExitCode.Ok;
				} finally {
					index.close();
				}
			})
		);
}
