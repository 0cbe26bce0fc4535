import type { Command } from 'commander';
import { migrateLegacyArchives } from '../../archive/legacy-migrate.js';
import { type CliInvocation, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import type { OutputOptions } from '../io.js';
import { openCliService } from '../service.js';

interface MigrateLegacyOptions extends OutputOptions {
	readonly dryRun?: boolean;
}

/** `dos migrate-legacy [--dry-run]`: a card for every archive imported from the original's history log without one. */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('migrate-legacy')
		.description(
			'Post a card in the archive channel for every archive imported from the original tool’s history log without one, so that a rebuild from Discord alone finds it (its chunks stay where they are).'
		)
		.option('--dry-run', 'list what would get a card, posting nothing')
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (options: MigrateLegacyOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const cli = await openCliService(run, []);
				try {
					const result = await migrateLegacyArchives(
						cli.context,
						{ dryRun: options.dryRun === true },
						{
							jobId: 'migrate-legacy',
							signal: run.io.signal,
							progress: (event) => {
								run.reporter.progress(event);
							}
						}
					);
					run.reporter.result({ ...result }, [
						...result.migrated.map(
							(archive) =>
								`${archive.archiveId} · lot ${archive.lot} · ${archive.messages} chunk message(s) referenced${archive.cardMessageId === null ? '' : ` · card ${archive.cardMessageId}`}`
						),
						...result.skipped.map((skip) => `skipped ${skip.archiveId}: ${skip.reason}`),
						`${result.dryRun ? 'Would migrate' : 'Migrated'} ${result.migrated.length} archive(s); ${result.skipped.length} skipped.`
					]);
					return ExitCode.Ok;
				} finally {
					await cli.close();
				}
			})
		);
}
