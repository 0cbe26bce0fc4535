import type { Command } from 'commander';
import {
	CoreError,
	CoreErrorCode,
	formatArchiveId,
	MAX_GZIP_LEVEL,
	OFFLINE_LOT,
	parseArchiveId,
	parseCodec,
	readArchiveId,
	sliceToRepository,
	stageArchive
} from '../../core/index.js';
import { type CliInvocation, integerOption, runCommand } from '../invocation.js';
import { toolVersion } from '../version.js';
import { ExitCode } from '../failure.js';
import { plural } from '../report.js';
import type { OutputOptions } from '../io.js';
import { formatBytes } from '../../archive/format.js';

interface SliceOptions extends OutputOptions {
	readonly out: string;
	readonly label?: string;
	readonly id?: string;
	readonly lot?: number;
	readonly chunkSize?: number;
	readonly gzipLevel?: number;
	readonly workers?: number;
	readonly format: string;
	readonly compression?: string;
	readonly rehash?: boolean;
}

/**
 * `dos slice <folder> --out <repo>`: adds an archive of a folder to a repository (format 2), making the repository on
 * first use; with `--format 1`, writes a staged archive (sealed chunks and manifest parts) instead, as before.
 */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('slice')
		.description(
			'Slice a folder into a repository (made on first use; later archives store only new blobs), or with --format 1 into a staged archive (needs USER_KEY).'
		)
		.argument('<folder>', 'the folder to archive')
		.requiredOption(
			'-o, --out <dir>',
			'the repository (new, empty or existing), or with --format 1 the staged archive folder to write (new or empty)'
		)
		.option('--format <n>', 'format 2 (a repository, the default) or 1 (a staged archive folder)', '2')
		.option('--rehash', 'format 2: read every file, even those the newest archive holds with the same size and mtime')
		.option('--compression <codec>', 'format 2: none, gzip-1…gzip-9, zstd-1…zstd-19 (default DOS_COMPRESSION or gzip-9)')
		.option('--label <label>', 'a label stored in the manifest')
		.option('--id <id>', 'archive id #DDMMYY-NN, lot from 01 (default: today, lot from --lot)')
		.option(
			'--lot <n>',
			'lot number for the default id (default 1: offline, no index allocates lots)',
			integerOption('--lot', 1, 1_000_000),
			OFFLINE_LOT
		)
		.option('--chunk-size <bytes>', 'plaintext chunk size (default DOS_CHUNK_SIZE or 9961472)', integerOption('--chunk-size', 1, 0xffff_ffff))
		.option('--gzip-level <n>', 'gzip level 0–9 (default DOS_GZIP_LEVEL or 9)', integerOption('--gzip-level', 0, MAX_GZIP_LEVEL))
		.option('--workers <n>', 'crypto worker threads (default DOS_WORKERS or all cores)', integerOption('--workers', 1, 256))
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (folder: string, options: SliceOptions) =>
			runCommand(context, options.json ?? false, async ({ config, pool, reporter, io }) => {
				const settings = config(['userKey']);
				if (options.format !== '1' && options.format !== '2')
					throw new CoreError(CoreErrorCode.InvalidOption, `--format is 1 or 2, not ${JSON.stringify(options.format)}.`);
				if (options.format === '2') {
					if (options.chunkSize !== undefined || options.gzipLevel !== undefined || options.id !== undefined)
						throw new CoreError(
							CoreErrorCode.InvalidOption,
							'--chunk-size, --gzip-level and --id are format 1 options: pass --format 1, or --compression for a repository.'
						);
					const sliced = await sliceToRepository({
						source: folder,
						repo: options.out,
						passphrase: settings.userKey?.reveal(),
						pool: pool(options.workers ?? settings.engine.workers),
						codec: parseCodec(options.compression ?? settings.engine.compression),
						packSize: settings.engine.packSize,
						dedup: settings.engine.dedup,
						...(options.rehash === true ? { rehash: true } : {}),
						...(options.label === undefined ? {} : { label: options.label }),
						tool: `discord-object-store/${toolVersion()}`,
						signal: io.signal,
						onProgress: reporter.progress
					});
					reporter.warnSkipped(sliced.skipped);
					const totals = sliced.manifest.totals;
					reporter.result(
						{
							format: 'repository',
							repo: sliced.repo,
							created: sliced.created,
							archiveId: sliced.archiveId,
							parent: sliced.manifest.parent ?? null,
							codec: sliced.manifest.codec,
							dedup: sliced.manifest.dedup,
							files: totals.files,
							directories: totals.directories,
							symlinks: totals.symlinks,
							bytes: totals.bytes,
							newBytes: totals.newBytes,
							reusedBytes: totals.reusedBytes,
							storedBytes: totals.storedBytes,
							blobs: totals.blobs,
							newBlobs: totals.newBlobs,
							packs: sliced.packs.length,
							manifestParts: sliced.manifestParts,
							skipped: sliced.skipped
						},
						[
							`Sliced ${plural(totals.files, 'file')}, ${plural(totals.directories, 'folder')} and ${plural(totals.symlinks, 'symlink')}: original ${formatBytes(totals.bytes)}, new ${formatBytes(totals.newBytes)}, reused ${formatBytes(totals.reusedBytes)}.`,
							`Stored ${formatBytes(totals.storedBytes)} in ${plural(sliced.packs.length, 'new pack')}; archive ${sliced.archiveId} is in ${sliced.created ? 'the new repository' : 'the repository'} ${sliced.repo}.`
						]
					);
					return ExitCode.Ok;
				}
				const staged = await stageArchive({
					source: folder,
					outDir: options.out,
					passphrase: settings.userKey?.reveal(),
					pool: pool(options.workers ?? settings.engine.workers),
					archiveId: options.id === undefined ? formatArchiveId(new Date(), options.lot ?? OFFLINE_LOT) : sliceId(options.id),
					...(options.label === undefined ? {} : { label: options.label }),
					chunkSize: options.chunkSize ?? settings.engine.chunkSize,
					gzipLevel: options.gzipLevel ?? settings.engine.gzipLevel,
					attachmentLimit: settings.engine.attachmentLimit,
					tool: `discord-object-store/${toolVersion()}`,
					signal: io.signal,
					onProgress: reporter.progress
				});
				reporter.warnSkipped(staged.skipped);
				const { totals } = staged.manifest;
				reporter.result(
					{
						archiveId: staged.archiveId,
						uid: staged.manifest.uid,
						outDir: staged.outDir,
						files: totals.files,
						directories: totals.directories,
						symlinks: totals.symlinks,
						bytes: totals.bytes,
						storedBytes: totals.storedBytes,
						chunks: totals.chunks,
						manifestParts: staged.manifestFiles.length,
						skipped: staged.skipped
					},
					[
						`Sliced ${plural(totals.files, 'file')}, ${plural(totals.directories, 'folder')} and ${plural(totals.symlinks, 'symlink')} (${formatBytes(totals.bytes)}) into ` +
							`${plural(totals.chunks, 'chunk')} (${formatBytes(totals.storedBytes)}) and ${plural(staged.manifestFiles.length, 'manifest part')}.`,
						`Archive ${staged.archiveId} is in ${staged.outDir}.`
					]
				);
				return ExitCode.Ok;
			})
		);
}

/**
 * The id `--id` names, as the index would hold it, so that a staged archive's id is accepted everywhere.
 *
 * @throws {CoreError} INVALID_OPTION when it is not `#DDMMYY-NN` with a real date and a lot from 01.
 */
function sliceId(text: string): string {
	const id = readArchiveId(text)?.id;
	if (id === undefined || parseArchiveId(id) === null)
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			`--id ${JSON.stringify(text)} is not an archive id: write #DDMMYY-NN with a real date and a lot from 01, e.g. #241126-07.`
		);
	return id;
}
