import type { Command } from 'commander';
import { isLegacyArchiveFolder, verifyLegacyFolder, verifyStagedFolder } from '../../core/index.js';
import { type CliContext, integerOption, runCommand } from '../context.js';
import { ExitCode } from '../failure.js';
import type { OutputOptions } from '../io.js';

interface VerifyOptions extends OutputOptions {
	readonly workers?: number;
}

/**
 * `dos verify <dir>`: every chunk's hash; with USER_KEY also authentication, decompression and every file's hash.
 * Writes no plaintext. Exit 1 naming each bad chunk.
 */
export function register(program: Command, context: CliContext): void {
	program
		.command('verify')
		.description(
			'Check a staged (or legacy) archive folder: every chunk hash; with USER_KEY, also decrypt and check every file hash (nothing is written).'
		)
		.argument('<dir>', 'the staged (or legacy) archive folder')
		.option('--workers <n>', 'crypto worker threads (default DOS_WORKERS or all cores)', integerOption('--workers', 1, 256))
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (dir: string, options: VerifyOptions) =>
			runCommand(context, options.json ?? false, async ({ config, pool, reporter, io }) => {
				const settings = config();
				const passphrase = settings.userKey?.reveal();
				if (passphrase === undefined) {
					reporter.warn(
						'USER_KEY is not set: checking chunk hashes only. Set it (`export USER_KEY=…` or a .env line) to also decrypt and check every file.'
					);
				}
				if (await isLegacyArchiveFolder(dir)) {
					const report = await verifyLegacyFolder(dir, {
						...(passphrase ? { passphrase } : {}),
						signal: io.signal,
						onProgress: reporter.progress
					});
					const data = { format: 'legacy', contentsChecked: report.contentsChecked, chunks: report.chunks, problems: report.problems };
					if (report.ok) {
						reporter.result(data, [
							`All ${report.chunks} chunks of the legacy archive are intact${report.contentsChecked ? ' and every file checks out' : ''}.`
						]);
						return ExitCode.Ok;
					}
					reporter.problems(data, [
						...report.problems.map((problem) => `${problem.chunk ?? problem.file ?? 'archive'}: ${problem.code} ${problem.message}`),
						`${report.problems.length} problem(s) found.`
					]);
					return ExitCode.Failed;
				}
				const report = await verifyStagedFolder(dir, {
					...(passphrase ? { passphrase } : {}),
					pool: pool(options.workers ?? settings.engine.workers),
					signal: io.signal,
					onProgress: reporter.progress
				});
				const data = {
					format: 'dos',
					archiveId: report.archiveId,
					authenticated: report.authenticated,
					chunks: report.chunksChecked,
					files: report.filesChecked,
					badChunks: report.badChunks,
					badFiles: report.badFiles,
					badManifestParts: report.badManifestParts
				};
				if (report.ok) {
					reporter.result(data, [
						report.authenticated
							? `All ${report.chunksChecked} chunks of ${report.archiveId ?? 'the archive'} authenticate and all ${report.filesChecked} files match their hashes.`
							: `All ${report.chunksChecked} chunks of ${report.archiveId ?? 'the archive'} match the hashes in their names.`
					]);
					return ExitCode.Ok;
				}
				const bad = report.badChunks.filter((chunk) => chunk.index >= 0).map((chunk) => chunk.index);
				reporter.problems(data, [
					...report.badManifestParts.map((part) => `manifest ${part.name}: ${part.code} ${part.message}`),
					...report.badChunks.map((chunk) => `${chunk.index >= 0 ? `chunk ${chunk.index}` : 'archive'}: ${chunk.code} ${chunk.message}`),
					...report.badFiles.map((file) => `file ${file.path}: ${file.code}`),
					bad.length > 0 ? `Bad chunks: ${bad.join(', ')}.` : 'The archive has problems.'
				]);
				return ExitCode.Failed;
			})
		);
}
