import { type Command, InvalidArgumentError } from 'commander';
import { cleanupArchive } from '../../archive/cleanup.js';
import { describeRepositoryCleanup } from '../../archive/cleanup-repository.js';
import { JobKind } from '../../db/vocabulary.js';
import { type CliInvocation, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import type { OutputOptions } from '../io.js';
import { followJob, openCliService } from '../service.js';

interface CleanupOptions extends OutputOptions {
	readonly yes?: boolean;
}

/** `dos cleanup <id> --yes`: deletes an archive's thread and marks it deleted (refused without --yes). */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('cleanup')
		.description(
			"Delete an archive's thread (all its chunks) from Discord and mark it deleted; its card and history stay. Format 2: only the packs no live archive reuses (without --yes: says what goes and what stays)."
		)
		.argument('<id>', 'the archive: #DDMMYY-NN, DDMMYY-NN, its lot number or uid, or its label or a file name in it (when only one archive fits)')
		.option('--yes', 'confirm: the chunks are deleted from Discord for good')
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (id: string, options: CleanupOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const cli = await openCliService(run, []);
				try {
					const archive = cli.context.index.archives.require(id);
					// Format 2: what goes and what stays, since other archives may reuse its packs (docs/design.md §4.5).
					const preview = cli.service.cleanupPreview(String(archive.lot));
					if (options.yes !== true) {
						if (preview !== null && options.json === true)
							run.reporter.warn(`cleanup of ${archive.id}: ${describeRepositoryCleanup(preview)}`, { repository: preview });
						throw new InvalidArgumentError(
							preview === null
								? `dos cleanup deletes every chunk of ${id} from Discord for good. Run it again with --yes to confirm.`
								: `dos cleanup deletes from Discord for good what ${archive.id} alone needs: ${describeRepositoryCleanup(preview)} Run it again with --yes to confirm.`
						);
					}
					const handle = cli.service.runner.run(
						{ kind: JobKind.Cleanup, lot: archive.lot, archiveId: archive.id, requestedBy: null },
						(job) => cleanupArchive(cli.context, { archive: String(archive.lot) }, job)
					);
					const result = await followJob(cli, run, handle);
					run.reporter.result({ ...result }, [
						result.alreadyDeleted
							? `${result.archiveId} was already deleted; nothing left to do.`
							: result.repository !== undefined
								? `Deleted ${result.archiveId}: ${describeRepositoryCleanup(result.repository)}${result.cardUpdated ? ' Its card says so.' : ' (Its card could not be edited.)'}`
								: result.messagesDeleted > 0
									? `Deleted ${result.archiveId}: its ${result.messagesDeleted} chunk message(s) in the storage channel are gone.`
									: `Deleted ${result.archiveId}: its thread is gone${result.cardUpdated ? ' and its card says so' : ' (its card could not be edited)'}.`
					]);
					return ExitCode.Ok;
				} finally {
					await cli.close();
				}
			})
		);
}
