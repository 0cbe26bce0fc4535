import type { Command } from 'commander';
import {
	assembleFromRepository,
	assembleStagedFolder,
	type BadBlob,
	CoreError,
	CoreErrorCode,
	isLegacyArchiveFolder,
	isRepository,
	type LostFile,
	type RepositoryLostFile,
	restoreLegacyFolder
} from '../../core/index.js';
import { type CliInvocation, collect, integerOption, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { plural } from '../report.js';
import type { OutputOptions } from '../io.js';
import { formatBytes } from '../../archive/format.js';

interface AssembleOptions extends OutputOptions {
	readonly out: string;
	readonly path?: string[];
	readonly overwrite?: boolean;
	readonly workers?: number;
	readonly salvage?: boolean;
	readonly manifest?: string;
	readonly archive?: string;
}

/** Lost files named one per line in a salvage result; the rest are counted. */
const LOST_LINES = 20;
/** Bad chunks (or blobs) named in a salvage result; the rest are counted. */
const BAD_CHUNKS_SHOWN = 50;
/** Bad blobs named on one lost file's line; the rest are counted. */
const BLOBS_PER_LINE = 3;

/**
 * The lines of a salvage result after the restored summary: one per lost file (the first {@link LOST_LINES}, then a
 * count) and the bad chunks, numbered from 1 as people count them (indexes, from 0, stay in --json and file names).
 */
export function salvageLines(lost: readonly LostFile[], badChunks: readonly number[]): string[] {
	return lostLines(
		lost.map((file) => ({
			...file,
			cause: `chunk${file.chunks.length === 1 ? '' : 's'} ${file.chunks.map((index) => index + 1).join(', ')}`
		})),
		'Bad chunks',
		badChunks.map((index) => String(index + 1))
	);
}

/** The first `shown` of `items`, comma-separated, and how many more. */
function listed(items: readonly string[], shown: number): string {
	return `${items.slice(0, shown).join(', ')}${items.length > shown ? ` and ${items.length - shown} more` : ''}`;
}

/** A blob id as people read it: its first 16 hex digits. */
function shortBlob(id: string): string {
	return `${id.slice(0, 16)}…`;
}

/**
 * The lines of a salvage result of a repository, as {@link salvageLines} says them for a staged folder: one per lost
 * file naming its code, its bad blobs and their packs, then the bad blobs.
 */
export function repositorySalvageLines(lost: readonly RepositoryLostFile[], badBlobs: readonly BadBlob[]): string[] {
	return lostLines(
		lost.map((file) => {
			const blobs = `blob${file.blobs.length === 1 ? '' : 's'} ${listed(file.blobs.map(shortBlob), BLOBS_PER_LINE)}`;
			const packs = file.packs.length === 0 ? '' : `, pack${file.packs.length === 1 ? '' : 's'} ${listed(file.packs, BLOBS_PER_LINE)}`;
			return { ...file, cause: `${blobs}${packs}` };
		}),
		'Bad blobs',
		badBlobs.map((blob) => shortBlob(blob.id))
	);
}

/** The warning naming the packs whose tail does not open (their blobs are missing to every restore and check). */
export function unreadablePacksWarning(badPacks: readonly string[]): string {
	return `unreadable pack${badPacks.length === 1 ? '' : 's'} (its tail does not open; blobs only it holds are missing): ${listed(badPacks, BAD_CHUNKS_SHOWN)}.`;
}

/** Lost-file lines (bounded), the bad pieces (bounded) and the closing sentence, shared by both formats. */
function lostLines(lost: readonly { path: string; code: string; cause: string }[], badLabel: string, bad: readonly string[]): string[] {
	const lines = lost.slice(0, LOST_LINES).map((file) => `lost: ${file.path} (${file.code}, ${file.cause})`);
	if (lost.length > LOST_LINES)
		lines.push(`…and ${plural(lost.length - LOST_LINES, 'more lost file', 'more lost files')} (--json lists them all).`);
	if (bad.length > 0) lines.push(`${badLabel}: ${listed(bad, BAD_CHUNKS_SHOWN)}.`);
	if (lost.length > 0)
		lines.push(
			`The restore is incomplete: ${plural(lost.length, 'file')} could not be restored and are absent. Every file that is there is complete and verified.`
		);
	return lines;
}

/** What a legacy restore or verify cannot vouch for: the original format authenticates each chunk, not the file list. */
export function legacyManifestNote(manifestFile: string): string {
	return `The original tool's format authenticates each chunk but not its file list: the files are as ${manifestFile} lists them. If that manifest may not be this archive's, check it against the one the index records (its sha256).`;
}

/**
 * `dos assemble <dir> --out <dir> [--path <p>]… [--salvage]`: restores a repository's archive, a staged archive, or a
 * legacy `[Archive] #DDMMYY-NN` folder of the original tool (detected automatically). With `--salvage` (repositories
 * and staged archives) a missing or damaged chunk or blob costs only the files that use it: the rest is restored, the
 * lost files and bad chunks or blobs are listed and the exit code is 1.
 */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('assemble')
		.description('Restore a staged archive folder (or a legacy "[Archive] #DDMMYY-NN" folder) into a folder, checking every file hash.')
		.argument('<dir>', 'a repository, or a staged (or legacy) archive folder')
		.requiredOption('-o, --out <dir>', 'the folder to restore into (created if missing)')
		.option('-p, --path <path>', 'restore only this file or folder (repeatable)', collect)
		.option('--overwrite', 'replace files that already exist in the restore folder')
		.option('--workers <n>', 'crypto worker threads (default DOS_WORKERS or all cores)', integerOption('--workers', 1, 256))
		.option('--salvage', 'restore every file a missing or damaged chunk or blob does not touch, list the lost ones (exit code 1 when any)')
		.option('--manifest <file>', 'legacy folders holding several manifests: the file name of the one to use')
		.option('--archive <id>', 'a repository: the archive to restore, #DDMMYY-NN (default: the newest)')
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (dir: string, options: AssembleOptions) =>
			runCommand(context, options.json ?? false, async ({ config, pool, reporter, io }) => {
				if (await isRepository(dir)) {
					const settings = config(['userKey']);
					const restored = await assembleFromRepository({
						repo: dir,
						...(options.archive === undefined ? {} : { archiveId: options.archive }),
						outDir: options.out,
						passphrase: settings.userKey?.reveal(),
						pool: pool(options.workers ?? settings.engine.workers),
						...(options.path ? { paths: options.path } : {}),
						overwrite: options.overwrite ?? false,
						...(options.salvage === true ? { salvage: true } : {}),
						signal: io.signal,
						onProgress: reporter.progress
					});
					if (restored.badPacks.length > 0)
						reporter.warn(unreadablePacksWarning(restored.badPacks.map((pack) => pack.name)), { badPacks: restored.badPacks });
					for (const skipped of restored.skipped)
						reporter.warn(`not restored: symlink ${skipped.path} points outside the restore folder`, {
							path: skipped.path,
							reason: skipped.reason
						});
					const data = {
						format: 'repository',
						archiveId: restored.archiveId,
						outDir: restored.outDir,
						files: restored.files,
						directories: restored.directories,
						symlinks: restored.symlinks,
						bytes: restored.bytes,
						blobs: restored.blobs,
						skipped: restored.skipped,
						lost: restored.lost,
						...(restored.badBlobs === undefined ? {} : { badBlobs: restored.badBlobs }),
						badPacks: restored.badPacks
					};
					const restoredOnly = restored.lost.length > 0 ? 'restored ' : '';
					const summary = `Restored ${plural(restored.files, 'file')}, ${plural(restored.directories, 'folder')} and ${plural(restored.symlinks, 'symlink')} (${formatBytes(restored.bytes)}) of ${restored.archiveId} into ${restored.outDir}; every blob of the ${restoredOnly}files was authenticated and every ${restoredOnly}file hash matched.`;
					if (restored.lost.length > 0) {
						reporter.problems(data, [summary, ...repositorySalvageLines(restored.lost, restored.badBlobs ?? [])]);
						return ExitCode.Failed;
					}
					reporter.result(data, [summary]);
					return ExitCode.Ok;
				}
				if (options.archive !== undefined)
					throw new CoreError(CoreErrorCode.InvalidOption, `${dir} is not a repository: --archive names an archive of a repository.`);
				if (await isLegacyArchiveFolder(dir)) {
					if (options.salvage === true) {
						throw new CoreError(
							CoreErrorCode.InvalidOption,
							`${dir} is a legacy archive folder, which --salvage does not restore. Run the same command without --salvage.`
						);
					}
					const settings = config();
					const restored = await restoreLegacyFolder(dir, options.out, {
						passphrase: settings.userKey?.reveal(),
						...(options.path ? { paths: options.path } : {}),
						overwrite: options.overwrite ?? false,
						...(options.manifest === undefined ? {} : { manifestFile: options.manifest }),
						signal: io.signal,
						onProgress: reporter.progress
					});
					const bytes = restored.files.reduce((sum, file) => sum + file.size, 0);
					reporter.result(
						{
							format: 'legacy',
							outDir: options.out,
							manifestFile: restored.manifestFile,
							files: restored.files.length,
							bytes,
							chunks: restored.chunksRead
						},
						[
							`Restored ${plural(restored.files.length, 'file')} (${formatBytes(bytes)}) of a legacy archive into ${options.out}; every chunk was authenticated and every file has the size its manifest says.`,
							legacyManifestNote(restored.manifestFile)
						]
					);
					return ExitCode.Ok;
				}
				const settings = config(['userKey']);
				const common = {
					pool: pool(options.workers ?? settings.engine.workers),
					...(options.path ? { paths: options.path } : {}),
					overwrite: options.overwrite ?? false,
					signal: io.signal,
					onProgress: reporter.progress
				};
				const restored = await assembleStagedFolder(dir, options.out, {
					passphrase: settings.userKey?.reveal(),
					...common,
					...(options.salvage === true ? { salvage: true } : {})
				});
				for (const skipped of restored.skipped)
					reporter.warn(`not restored: symlink ${skipped.path} points outside the restore folder`, {
						path: skipped.path,
						reason: skipped.reason
					});
				const data = {
					format: 'dos',
					archiveId: restored.manifest.id,
					outDir: restored.outDir,
					files: restored.files,
					directories: restored.directories,
					symlinks: restored.symlinks,
					bytes: restored.bytes,
					chunks: restored.chunks,
					skipped: restored.skipped,
					lost: restored.lost,
					...(restored.badChunks === undefined ? {} : { badChunks: restored.badChunks })
				};
				const summary = `Restored ${plural(restored.files, 'file')}, ${plural(restored.directories, 'folder')} and ${plural(restored.symlinks, 'symlink')} (${formatBytes(restored.bytes)}) of ${restored.manifest.id} into ${restored.outDir}; every ${restored.lost.length > 0 ? 'restored ' : ''}file hash matched.`;
				if (restored.lost.length > 0) {
					reporter.problems(data, [summary, ...salvageLines(restored.lost, restored.badChunks ?? [])]);
					return ExitCode.Failed;
				}
				reporter.result(data, [summary]);
				return ExitCode.Ok;
			})
		);
}
