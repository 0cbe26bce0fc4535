import type { Command } from 'commander';
import { formatBytes } from '../../archive/format.js';
import { type CliInvocation, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { plural } from '../report.js';
import type { OutputOptions } from '../io.js';
import { openCliIndex } from '../service.js';

/** `dos status`: index counts, running and queued jobs (of any process), roots and free space, encryption, last backup. */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('status')
		.description('Show the index: archives by status, running and queued jobs, roots and free space, encryption, last backup.')
		.option('--json', 'print one JSON line')
		.action(async (options: OutputOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const { config, index } = openCliIndex(run);
				// The service's module only once there is an index to report on (`status --help` needs none of it).
				const { repositoryLine, rootStatus } = await import('../../archive/index.js');
				try {
					const status = index.status();
					const uploadRoot = await rootStatus(config.paths.uploadRoot);
					const downloadRoot = await rootStatus(config.paths.downloadRoot);
					const encryption = config.userKey !== undefined;
					const byStatus = Object.entries(status.archives.byStatus)
						.filter(([, count]) => count > 0)
						.map(([name, count]) => `${count} ${name}`);
					const free = (root: typeof uploadRoot) =>
						`${root.path} (${root.freeBytes === null ? 'not readable' : `${formatBytes(root.freeBytes)} free`})`;
					run.reporter.result(
						{
							index: config.paths.database,
							archives: status.archives,
							lastArchive: status.lastArchive,
							lastBackup: status.lastBackup,
							runningJobs: status.runningJobs,
							queuedJobs: status.queuedJobs,
							repository: status.repository,
							uploadRoot,
							downloadRoot,
							encryption
						},
						[
							`Index ${config.paths.database}: ${plural(status.archives.total, 'archive')}${byStatus.length > 0 ? ` (${byStatus.join(', ')})` : ''}.`,
							`Last archive: ${status.lastArchive ? `${status.lastArchive.id} ${status.lastArchive.status}` : 'none'}. Last index backup: ${status.lastBackup ? status.lastBackup.createdAt.toISOString() : 'none'}.`,
							`Jobs: ${status.runningJobs.length} running, ${status.queuedJobs.length} queued.${status.runningJobs.map((job) => ` #${job.id} ${job.kind}${job.archiveLot === null ? '' : ` lot ${job.archiveLot}`}`).join(',')}`,
							`Repository (format 2): ${repositoryLine(status.repository)}.`,
							`Upload root ${free(uploadRoot)}; download root ${free(downloadRoot)}.`,
							`Encryption: ${encryption ? 'on (USER_KEY set)' : 'off — set USER_KEY to upload or restore'}.`
						]
					);
					return ExitCode.Ok;
				} finally {
					index.close();
				}
			})
		);
}
