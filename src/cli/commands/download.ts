import type { Command } from 'commander';
import type { DownloadResult } from '../../archive/download.js';
import { describeSkippedLots, resolveArchiveRange } from '../../archive/lot-range.js';
import { formatBytes } from '../../archive/format.js';
import { collect, type CliInvocation, integerOption, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { plural } from '../report.js';
import type { OutputOptions } from '../io.js';
import { followJob, openCliService } from '../service.js';
import { salvageLines } from './assemble.js';

interface DownloadOptions extends OutputOptions {
	readonly through?: string;
	readonly path?: string[];
	readonly overwrite?: boolean;
	readonly keepChunks?: boolean;
	readonly workers?: number;
	readonly salvage?: boolean;
}

/**
 * `dos download <id> [--through <id>] [--path <p>]... [--overwrite] [--salvage]`: fetches an archive (or a range of
 * lots, or selected paths) from Discord into `[Archive] #DDMMYY-NN` under the download root and restores it into a new
 * folder. With `--salvage` a chunk that is missing or damaged costs only the files it holds: the rest is restored, the
 * lost files and bad chunks are listed, the chunk folder is kept and the exit code is 1.
 */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('download')
		.description('Download an archive (or a range of lots) and restore it into a new folder under DISCORD_DRIVE_DOWNLOAD_PATH (needs USER_KEY).')
		.argument('<id>', 'the archive: #DDMMYY-NN, DDMMYY-NN, its lot number or uid, or its label or a file name in it (when only one archive fits)')
		.option('--through <id>', 'download every archive from <id> through this one')
		.option('--path <path>', 'restore only this file or folder (relative, repeatable); only the chunks it spans are fetched', collect)
		.option('--overwrite', 'restore into the existing restore folder, replacing files there')
		.option('--keep-chunks', 'keep the downloaded chunk folder after a clean restore')
		.option('--salvage', 'restore every file a missing or damaged chunk does not touch, list the lost ones (exit code 1 when any)')
		.option('--workers <n>', 'crypto worker threads (default DOS_WORKERS or all cores)', integerOption('--workers', 1, 256))
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (id: string, options: DownloadOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const cli = await openCliService(run, ['userKey'], options.workers);
				try {
					const range = options.through === undefined ? undefined : resolveArchiveRange(cli.context, id, options.through);
					const skipped = range?.skipped ?? [];
					const archives = range?.archives ?? [cli.context.index.archives.require(id)];
					const results: DownloadResult[] = [];
					for (const archive of archives) {
						// Through the service, so the card shows the download's progress and Cancel, and then how it ended.
						const handle = cli.service.download({
							archive: String(archive.lot),
							...(options.path === undefined ? {} : { paths: options.path }),
							overwrite: options.overwrite === true,
							keepChunks: options.keepChunks === true,
							salvage: options.salvage === true,
							requestedBy: null
						});
						results.push(await followJob(cli, run, handle));
					}
					const data = {
						archives: results,
						skipped,
						lost: results.flatMap((result) => result.lost.map((file) => ({ archiveId: result.archiveId, ...file }))),
						badChunks: results.flatMap((result) => result.badChunks.map((index) => ({ archiveId: result.archiveId, index })))
					};
					const lines = [
						...results.flatMap((result) =>
							result.complete
								? [
										`Restored ${result.archiveId}: ${plural(result.files, 'file')}, ${formatBytes(result.bytes)} into ${result.restoredTo} (${plural(result.chunksFetched, 'attachment')} fetched, the manifest's included; ${result.chunksReused} reused).`,
										...(result.notes ?? [])
									]
								: [
										`Partly restored ${result.archiveId}: ${plural(result.files, 'file')}, ${formatBytes(result.bytes)} into ${result.restoredTo}, ${plural(result.lost.length, 'file')} lost${result.chunkDirRemoved ? '.' : `; the chunks are kept in ${result.chunkDir}.`}`,
										...salvageLines(result.lost, result.badChunks)
									]
						),
						...skipped.map((entry) => `Not downloaded: ${describeSkippedLots([entry])}.`)
					];
					if (results.some((result) => !result.complete)) {
						run.reporter.problems(data, lines);
						return ExitCode.Failed;
					}
					run.reporter.result(data, lines);
					return ExitCode.Ok;
				} finally {
					await cli.close();
				}
			})
		);
}
