import type { Command } from 'commander';
import { downloadArchive, type DownloadResult, resolveArchiveRange, type SkippedInRange } from '../../archive/download.js';
import { CoreError, CoreErrorCode } from '../../core/index.js';
import { formatBytes } from '../../archive/index.js';
import { JobKind } from '../../db/index.js';
import { collect, type CliContext, integerOption, runCommand } from '../context.js';
import { ExitCode } from '../failure.js';
import type { OutputOptions } from '../io.js';
import { followJob, openCliService } from '../service.js';

interface DownloadOptions extends OutputOptions {
	readonly through?: string;
	readonly path?: string[];
	readonly overwrite?: boolean;
	readonly keepChunks?: boolean;
	readonly workers?: number;
}

/**
 * `dos download <id> [--through <id>] [--path <p>]... [--overwrite]`: fetches an archive (or a range of lots, or
 * selected paths) from Discord into `[Archive] #DDMMYY-NN` under the download root and restores it into a new folder.
 */
export function register(program: Command, context: CliContext): void {
	program
		.command('download')
		.description('Download an archive (or a range of lots) and restore it into a new folder under DISCORD_DRIVE_DOWNLOAD_PATH (needs USER_KEY).')
		.argument('<id>', 'the archive: #DDMMYY-NN, DDMMYY-NN, its lot number or uid')
		.option('--through <id>', 'download every archive from <id> through this one')
		.option('--path <path>', 'restore only this file or folder (relative, repeatable); only the chunks it spans are fetched', collect)
		.option('--overwrite', 'restore into the existing restore folder, replacing files there')
		.option('--keep-chunks', 'keep the downloaded chunk folder after a clean restore')
		.option('--workers <n>', 'crypto worker threads (default DOS_WORKERS or all cores)', integerOption('--workers', 1, 256))
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (id: string, options: DownloadOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const cli = await openCliService(run, ['userKey'], options.workers);
				try {
					const range = options.through === undefined ? undefined : resolveArchiveRange(cli.context, id, options.through);
					const skipped = range?.skipped ?? [];
					if (range !== undefined && range.archives.length === 0) {
						throw new CoreError(
							CoreErrorCode.InvalidOption,
							`Nothing from ${range.first.id} through ${range.last.id} can be downloaded, so nothing was: ${skipped.map(describeSkipped).join('; ')}.`
						);
					}
					const archives = range?.archives ?? [cli.context.index.archives.require(id)];
					const results: DownloadResult[] = [];
					for (const archive of archives) {
						const handle = cli.service.runner.run(
							{ kind: JobKind.Download, lot: archive.lot, archiveId: archive.id, requestedBy: null },
							(job) =>
								downloadArchive(
									cli.context,
									{
										archive: String(archive.lot),
										...(options.path === undefined ? {} : { paths: options.path }),
										overwrite: options.overwrite === true,
										keepChunks: options.keepChunks === true
									},
									job
								)
						);
						results.push(await followJob(cli, run, handle));
					}
					run.reporter.result({ archives: results, skipped }, [
						...results.map(
							(result) =>
								`Restored ${result.archiveId}: ${result.files} file(s), ${formatBytes(result.bytes)} into ${result.restoredTo} (${result.chunksFetched} chunk(s) fetched, ${result.chunksReused} reused).`
						),
						...skipped.map((entry) => `Not downloaded: ${describeSkipped(entry)}.`)
					]);
					return ExitCode.Ok;
				} finally {
					await cli.close();
				}
			})
		);
}

/** `#DDMMYY-NN was cleaned up (…)`, or the lot number when the index does not know the archive. */
function describeSkipped(entry: SkippedInRange): string {
	return `${entry.id ?? `lot ${entry.lot}`} ${entry.reason}`;
}
