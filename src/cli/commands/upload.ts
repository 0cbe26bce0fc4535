import type { Command } from 'commander';
import { formatBytes } from '../../archive/format.js';
import { ArchiveFormat } from '../../db/vocabulary.js';
import { type CliInvocation, integerOption, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { plural } from '../report.js';
import type { OutputOptions } from '../io.js';
import { followJob, openCliService } from '../service.js';

interface UploadOptions extends OutputOptions {
	readonly label?: string;
	readonly workers?: number;
}

/** `dos upload <folder> [--label]`: uploads a folder under the upload root as a new archive, headless. */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('upload')
		.description('Upload a folder (inside DISCORD_DRIVE_UPLOAD_PATH) as a new archive: card, thread, chunks, manifest (needs USER_KEY).')
		.argument('<folder>', 'the folder, relative to the upload root or absolute inside it')
		.option('--label <label>', 'a label shown on the card and stored in the manifest')
		.option('--workers <n>', 'crypto worker threads (default DOS_WORKERS or all cores)', integerOption('--workers', 1, 256))
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (folder: string, options: UploadOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const cli = await openCliService(run, ['userKey'], options.workers);
				try {
					const handle = await cli.service.upload({ folder, label: options.label ?? null, requestedBy: null });
					const archive = cli.context.index.archives.require(handle.lot!);
					// The archive id comes first, so a script (or a person) knows what to resume if this process dies.
					if (options.json)
						run.io.stdout.write(`${JSON.stringify({ type: 'started', archiveId: archive.id, lot: archive.lot, jobId: handle.jobId })}\n`);
					else
						run.io.stderr.write(
							archive.format === ArchiveFormat.Dos2
								? `Uploading ${archive.id} (job ${handle.jobId}, format 2). If it stops, run: dos resume ${archive.id}\n`
								: `Uploading ${archive.id} (job ${handle.jobId}). If it stops, run: dos resume ${archive.id}\n`
						);
					const result = await followJob(cli, run, handle);
					run.reporter.warnSkipped(result.skipped);
					run.reporter.result({ ...result }, [
						result.format === 2
							? `Uploaded ${result.archiveId} (format 2): ${formatBytes(result.originalBytes)} · ${formatBytes(result.newBytes ?? 0)} new, ${formatBytes(result.reusedBytes ?? 0)} reused; ${plural(result.packsPosted ?? 0, 'pack')} posted (${formatBytes(result.storedBytes)} stored) and ${plural(result.manifestParts, 'manifest part')}.`
							: `Uploaded ${result.archiveId}: ${formatBytes(result.originalBytes)} in ${plural(result.chunks, 'chunk')} (${formatBytes(result.storedBytes)} stored) and ${plural(result.manifestParts, 'manifest part')}.`,
						`Thread ${result.threadId}, card ${result.cardMessageId}.`
					]);
					return ExitCode.Ok;
				} finally {
					await cli.close();
				}
			})
		);
}
