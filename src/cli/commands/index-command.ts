import type { Command } from 'commander';
import { backupIndex } from '../../archive/index-backup.js';
import { restoreIndexFromLog } from '../../archive/index-backup.js';
import { rebuildIndex } from '../../archive/rebuild.js';
import { JobKind } from '../../db/vocabulary.js';
import { DiscordTransport } from '../../discord/index.js';
import { type CliInvocation, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { plural } from '../report.js';
import type { OutputOptions } from '../io.js';
import { followJob, onlineNeeds, openCliService } from '../service.js';
import { register as registerImportLegacy } from './import-legacy.js';

interface RebuildOptions extends OutputOptions {
	readonly dryRun?: boolean;
}

/** `dos index backup|restore|rebuild [--dry-run]|import-legacy [<log.json>]`: the history index's backups through the log channel, and its rebuild from Discord. */
export function register(program: Command, context: CliInvocation): void {
	const index = program.command('index').description('Back up, restore or rebuild the history index (DOS_DB_PATH).');

	index
		.command('backup')
		.description('Snapshot the index, seal it with USER_KEY and post it to the log channel.')
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (options: OutputOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const cli = await openCliService(run, ['userKey', 'logChannel']);
				try {
					const handle = cli.service.runner.run({ kind: JobKind.IndexBackup, lot: null, requestedBy: null }, (job) =>
						backupIndex(cli.context, {}, job)
					);
					const result = await followJob(cli, run, handle);
					run.reporter.result({ ...result }, [
						`Backed up the index (${result.archives} archives) as ${result.filename} in the log channel.`
					]);
					return ExitCode.Ok;
				} finally {
					await cli.close();
				}
			})
		);

	index
		.command('restore')
		.description('Replace the index with the newest backup in the log channel (stop the bot first; the old file is kept).')
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (options: OutputOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const config = run.config([...onlineNeeds, 'userKey', 'logChannel']);
				const transport = new DiscordTransport({ token: config.discord.token!.reveal(), apiUrl: config.discord.apiUrl });
				try {
					const result = await restoreIndexFromLog({
						transport,
						logChannelId: config.discord.logChannelId,
						passphrase: config.userKey?.reveal(),
						indexPath: config.paths.database,
						signal: run.io.signal
					});
					run.reporter.result({ ...result, takenAt: result.takenAt.toISOString() }, [
						`Restored the index from ${result.filename} (taken ${result.takenAt.toISOString()}).`,
						...result.skipped.map((skip) => `passed over ${skip.filename} (message ${skip.messageId}): ${skip.code}`),
						...(result.previous === null ? [] : [`The previous index was kept as ${result.previous}.`]),
						'Run `dos index rebuild` to bring in what changed on Discord since this backup (it also moves the lot counter past every card).'
					]);
					return ExitCode.Ok;
				} finally {
					transport.close();
				}
			})
		);

	index
		.command('rebuild')
		.description('Rebuild the index from the archive channel: our cards (losslessly with USER_KEY) and the original tool’s.')
		.option('--dry-run', 'report what was found without writing anything')
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (options: RebuildOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const cli = await openCliService(run, []);
				try {
					const dryRun = options.dryRun === true;
					const handle = cli.service.runner.run({ kind: JobKind.Rebuild, lot: null, requestedBy: null }, (job) =>
						rebuildIndex(cli.context, { dryRun }, job)
					);
					const result = await followJob(cli, run, handle);
					run.reporter.result({ ...result }, [
						...result.archives.map(
							(archive) =>
								`${archive.archiveId} · ${archive.format} · ${archive.status} · ${plural(archive.files, 'file')} · ${
									archive.packs === undefined
										? `${archive.chunksPresent}/${plural(archive.chunks, 'chunk')}`
										: `${archive.chunksPresent}/${plural(archive.chunks, 'pack')} · ${plural(archive.blobs ?? 0, 'blob')}`
								} · ${archive.depth}`
						),
						...result.skipped.map(
							(skip) => `skipped message ${skip.messageId}${skip.archiveId ? ` (${skip.archiveId})` : ''}: ${skip.code} ${skip.reason}`
						),
						...result.findings.map(
							(finding) => `oddity in ${finding.archiveId ?? `message ${finding.messageId}`}: ${finding.code} ${finding.reason}`
						),
						`${dryRun ? 'Found' : 'Rebuilt'} ${plural(result.archives.length, 'archive')} in ${plural(result.messagesScanned, 'message')}${result.repository.packs > 0 ? ` (format 2: ${plural(result.repository.packs, 'pack')}, ${plural(result.repository.blobs, 'blob')})` : ''}${result.skipped.length > 0 ? `; ${result.skipped.length} skipped` : ''}${result.findings.length > 0 ? `; ${result.findings.length} oddit${result.findings.length === 1 ? 'y' : 'ies'}` : ''}; the next lot is above ${result.highestLot}.`
					]);
					return result.skipped.length > 0 ? ExitCode.Failed : ExitCode.Ok;
				} finally {
					await cli.close();
				}
			})
		);

	registerImportLegacy(index, context);
}
