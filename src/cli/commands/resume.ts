import type { Command } from 'commander';
import { formatBytes } from '../../archive/format.js';
import { type CliInvocation, integerOption, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { plural } from '../report.js';
import type { OutputOptions } from '../io.js';
import { followJob, openCliService } from '../service.js';

interface ResumeOptions extends OutputOptions {
	readonly workers?: number;
}

/** `dos resume <id>`: reconciles an unfinished archive with its thread and posts what is missing. */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('resume')
		.description('Resume an interrupted, failed or cancelled upload: reconcile its thread, then post only what is missing (needs USER_KEY).')
		.argument('<id>', 'the archive: #DDMMYY-NN, DDMMYY-NN, its lot number or uid, or its label or a file name in it (when only one archive fits)')
		.option('--workers <n>', 'crypto worker threads (default DOS_WORKERS or all cores)', integerOption('--workers', 1, 256))
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (id: string, options: ResumeOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const cli = await openCliService(run, ['userKey'], options.workers);
				try {
					const result = await followJob(cli, run, cli.service.resume({ archive: id, requestedBy: null }));
					const { reconciled } = result;
					run.reporter.result(
						{ ...result },
						result.format === 2
							? [
									`Resumed ${result.archiveId} (format 2): ${plural(result.packsPosted ?? 0, 'pack')} posted by this resume; ${formatBytes(result.newBytes ?? 0)} new, ${formatBytes(result.reusedBytes ?? 0)} reused (${formatBytes(result.storedBytes)} stored), ${plural(result.manifestParts, 'manifest part')}.`,
									`The thread held ${plural(reconciled.messagesSeen, 'pack message')}: ${reconciled.adopted.length} adopted, ${reconciled.vanished.length + reconciled.neverLanded.length} not there (their blobs posted again where needed), ${plural(reconciled.deletedMessages.length, 'message')} deleted.`
								]
							: [
									`Resumed ${result.archiveId}: ${plural(result.chunksPosted, 'chunk')} posted, ${result.chunks} in all (${formatBytes(result.storedBytes)} stored), ${plural(result.manifestParts, 'manifest part')}.`,
									`The thread held ${plural(reconciled.messagesSeen, 'chunk message')}: ${reconciled.adopted.length} adopted, ${reconciled.vanished.length + reconciled.neverLanded.length} posted again, ${plural(reconciled.deletedMessages.length, 'duplicate')} deleted.`
								]
					);
					return ExitCode.Ok;
				} finally {
					await cli.close();
				}
			})
		);
}
