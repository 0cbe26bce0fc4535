import type { Command } from 'commander';
import { assembleStagedFolder, isLegacyArchiveFolder, restoreLegacyFolder } from '../../core/index.js';
import { type CliContext, collect, integerOption, runCommand } from '../context.js';
import { ExitCode } from '../failure.js';
import type { OutputOptions } from '../io.js';
import { formatBytes } from '../../archive/index.js';

interface AssembleOptions extends OutputOptions {
	readonly out: string;
	readonly path?: string[];
	readonly overwrite?: boolean;
	readonly workers?: number;
}

/**
 * `dos assemble <dir> --out <dir>`: restores a staged archive, or a legacy `[Archive] #DDMMYY-NN` folder of the
 * original tool (detected automatically).
 */
export function register(program: Command, context: CliContext): void {
	program
		.command('assemble')
		.description('Restore a staged archive folder (or a legacy "[Archive] #DDMMYY-NN" folder) into a folder, checking every file hash.')
		.argument('<dir>', 'the staged (or legacy) archive folder')
		.requiredOption('-o, --out <dir>', 'the folder to restore into (created if missing)')
		.option('-p, --path <path>', 'restore only this file or folder (repeatable)', collect)
		.option('--overwrite', 'replace files that already exist in the restore folder')
		.option('--workers <n>', 'crypto worker threads (default DOS_WORKERS or all cores)', integerOption('--workers', 1, 256))
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (dir: string, options: AssembleOptions) =>
			runCommand(context, options.json ?? false, async ({ config, pool, reporter, io }) => {
				if (await isLegacyArchiveFolder(dir)) {
					const settings = config();
					const restored = await restoreLegacyFolder(dir, options.out, {
						passphrase: settings.userKey?.reveal(),
						...(options.path ? { paths: options.path } : {}),
						overwrite: options.overwrite ?? false,
						signal: io.signal,
						onProgress: reporter.progress
					});
					const bytes = restored.files.reduce((sum, file) => sum + file.size, 0);
					reporter.result({ format: 'legacy', outDir: options.out, files: restored.files.length, bytes, chunks: restored.chunksRead }, [
						`Restored ${restored.files.length} files (${formatBytes(bytes)}) of a legacy archive into ${options.out}; every file was checked.`
					]);
					return ExitCode.Ok;
				}
				const settings = config(['userKey']);
				const restored = await assembleStagedFolder(dir, options.out, {
					passphrase: settings.userKey?.reveal(),
					pool: pool(options.workers ?? settings.engine.workers),
					...(options.path ? { paths: options.path } : {}),
					overwrite: options.overwrite ?? false,
					signal: io.signal,
					onProgress: reporter.progress
				});
				for (const skipped of restored.skipped)
					reporter.warn(`not restored: symlink ${skipped.path} points outside the restore folder`, {
						path: skipped.path,
						reason: skipped.reason
					});
				reporter.result(
					{
						format: 'dos',
						archiveId: restored.manifest.id,
						outDir: restored.outDir,
						files: restored.files,
						directories: restored.directories,
						symlinks: restored.symlinks,
						bytes: restored.bytes,
						chunks: restored.chunks,
						skipped: restored.skipped
					},
					[
						`Restored ${restored.files} files, ${restored.directories} folders and ${restored.symlinks} symlinks (${formatBytes(restored.bytes)}) of ${restored.manifest.id} into ${restored.outDir}; every file hash matched.`
					]
				);
				return ExitCode.Ok;
			})
		);
}
