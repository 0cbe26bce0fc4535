import type { Command } from 'commander';
import {
	CoreError,
	CoreErrorCode,
	isLegacyArchiveFolder,
	isRepository,
	looksLikeArchiveId,
	verifyLegacyFolder,
	verifyRepository,
	verifyStagedFolder
} from '../../core/index.js';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { type CliInvocation, type CommandRun, integerOption, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { legacyManifestNote, unreadablePacksWarning } from './assemble.js';
import { plural, allOf } from '../report.js';
import { formatBytes } from '../../archive/format.js';
import type { OutputOptions } from '../io.js';
import { followJob, openCliService } from '../service.js';

interface VerifyOptions extends OutputOptions {
	readonly workers?: number;
	readonly full?: boolean;
	readonly sample?: number;
	readonly manifest?: string;
	readonly archive?: string;
	readonly repository?: boolean;
}

/** What names an archive in the index rather than a folder: `#241126-07`, `241126-07`, a lot number or a uid. */
function isArchiveReference(text: string): boolean {
	return looksLikeArchiveId(text) || /^(\d{1,15}|[0-9a-f]{32})$/i.test(text);
}

/**
 * `dos verify <dir|id>`: a staged or legacy folder offline (every chunk's hash; with USER_KEY also authentication,
 * decompression and every file's hash), or an archive on Discord (quick, full, or a full sample). Writes no
 * plaintext. Exit 1 naming each bad chunk.
 */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('verify')
		.description(
			'Check a staged (or legacy) archive folder, or an archive on Discord: every chunk hash; with USER_KEY (and --full online), also decrypt and check every file hash (nothing is written).'
		)
		.argument(
			'[dir|id]',
			'the staged (or legacy) archive folder, or an archive on Discord: #DDMMYY-NN, DDMMYY-NN, its lot or uid, or its label or a file name in it'
		)
		.option('--full', 'for an archive on Discord: download and check every chunk and file (needs USER_KEY); default: a quick check')
		.option('--sample <pct>', 'with --full: check only this percentage of the chunks, chosen at random', integerOption('--sample', 1, 100))
		.option('--workers <n>', 'crypto worker threads (default DOS_WORKERS or all cores)', integerOption('--workers', 1, 256))
		.option('--manifest <file>', 'legacy folders holding several manifests: the file name of the one to use')
		.option('--archive <id>', 'a repository: the archive to check, #DDMMYY-NN (default: the newest)')
		.option(
			'--repository',
			"the archive channel's format 2 repository as a whole, instead of one archive: every stored pack downloaded once, every blob authenticated, every reference of a live archive held (needs USER_KEY)"
		)
		.option('--json', 'print JSON lines (progress and result) on stdout')
		.action(async (given: string | undefined, options: VerifyOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				if (options.repository === true) {
					if (given !== undefined)
						throw new CoreError(
							CoreErrorCode.InvalidOption,
							'--repository checks the whole archive channel: give no folder or archive with it.'
						);
					return checkRepositoryOnline(run, options);
				}
				if (given === undefined)
					throw new CoreError(
						CoreErrorCode.InvalidOption,
						'Name the folder or the archive to verify, or use --repository for the whole archive channel.'
					);
				const dir = given;
				if (await isRepository(path.resolve(run.io.cwd, dir))) {
					const settings = run.config(['userKey']);
					const report = await verifyRepository({
						repo: path.resolve(run.io.cwd, dir),
						...(options.archive === undefined ? {} : { archiveId: options.archive }),
						passphrase: settings.userKey?.reveal(),
						pool: run.pool(options.workers ?? settings.engine.workers),
						signal: run.io.signal,
						onProgress: run.reporter.progress
					});
					const data = { format: 'repository', ...report };
					if (report.badPacks.length > 0)
						run.reporter.warn(unreadablePacksWarning(report.badPacks.map((pack) => pack.name)), { badPacks: report.badPacks });
					if (report.ok) {
						run.reporter.result(data, [
							`Archive ${report.archiveId}: ${allOf(report.blobs, 'blob')} authenticated and ${allOf(report.files, 'file').toLowerCase()} hash-checked (${report.bytes} bytes); all intact.`
						]);
						return ExitCode.Ok;
					}
					// As a staged folder's check says it: each bad piece, then each damaged file, then the count.
					run.reporter.problems(data, [
						...report.badBlobs.map(
							(blob) => `blob ${blob.id.slice(0, 16)}…${blob.pack ? ` (pack ${blob.pack})` : ''}: ${blob.code} ${blob.message}`
						),
						...report.badFiles.map((file) => `file ${file.path}: ${file.code}`),
						`Archive ${report.archiveId} is damaged: ${plural(report.badBlobs.length, 'bad blob')}, ${plural(report.badFiles.length, 'damaged file')}.`
					]);
					return ExitCode.Failed;
				}
				if (options.archive !== undefined)
					throw new CoreError(CoreErrorCode.InvalidOption, `${dir} is not a repository: --archive names an archive of a repository.`);
				// A folder on disk is verified offline; otherwise an id, or (with an archive channel set) a label or file
				// name of an archive, is verified on Discord.
				if (
					!(await isDirectory(dir, run.io.cwd)) &&
					(isArchiveReference(dir) || (!looksLikePath(dir) && run.config().discord.archiveChannelId !== undefined))
				)
					return verifyOnline(run, dir, options);
				const { config, pool, reporter, io } = run;
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
						...(options.manifest === undefined ? {} : { manifestFile: options.manifest }),
						signal: io.signal,
						onProgress: reporter.progress
					});
					const data = {
						format: 'legacy',
						manifestFile: report.manifestFile,
						contentsChecked: report.contentsChecked,
						chunks: report.chunks,
						problems: report.problems
					};
					if (report.ok) {
						reporter.result(data, [
							`${allOf(report.chunks, 'chunk')} of the legacy archive ${report.chunks === 1 ? 'is' : 'are'} intact${report.contentsChecked ? ' and every file checks out' : ''}.`,
							legacyManifestNote(report.manifestFile)
						]);
						return ExitCode.Ok;
					}
					reporter.problems(data, [
						...report.problems.map((problem) => `${problem.chunk ?? problem.file ?? 'archive'}: ${problem.code} ${problem.message}`),
						`${plural(report.problems.length, 'problem')} found.`
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
					badManifestParts: report.badManifestParts,
					limits: report.limits
				};
				if (report.ok) {
					reporter.result(data, [
						report.authenticated
							? `${allOf(report.chunksChecked, 'chunk')} of ${report.archiveId ?? 'the archive'} ${report.chunksChecked === 1 ? 'authenticates' : 'authenticate'} and ${allOf(report.filesChecked, 'file').toLowerCase()} ${report.filesChecked === 1 ? 'matches its hash' : 'match their hashes'}.`
							: `${allOf(report.chunksChecked, 'chunk')} of ${report.archiveId ?? 'the archive'} ${report.chunksChecked === 1 ? 'matches the hash in its name' : 'match the hashes in their names'}.`,
						...report.limits
					]);
					return ExitCode.Ok;
				}
				const bad = report.badChunks.filter((chunk) => chunk.index >= 0).map((chunk) => chunk.index + 1);
				reporter.problems(data, [
					...report.badManifestParts.map((part) => `manifest ${part.name}: ${part.code} ${part.message}`),
					...report.badChunks.map(
						(chunk) => `${chunk.index >= 0 ? `chunk ${chunk.index + 1}` : 'archive'}: ${chunk.code} ${chunk.message}`
					),
					...report.badFiles.map((file) => `file ${file.path}: ${file.code}`),
					bad.length > 0 ? `Bad chunks: ${bad.join(', ')}.` : 'The archive has problems.'
				]);
				return ExitCode.Failed;
			})
		);
}

/** `./staged`, `../x`, `a/b`, `/abs`: meant as a folder on disk, never as an archive's name. */
function looksLikePath(text: string): boolean {
	return text.startsWith('.') || text.includes('/') || text.includes(path.sep);
}

async function isDirectory(target: string, cwd: string): Promise<boolean> {
	return stat(path.resolve(cwd, target)).then(
		(info) => info.isDirectory(),
		() => false
	);
}

/** `dos verify <id> [--full] [--sample <pct>]`: the archive on Discord, through the job runner; exit 1 naming each bad chunk. */
async function verifyOnline(run: CommandRun, reference: string, options: VerifyOptions): Promise<ExitCode> {
	const full = options.full === true || options.sample !== undefined;
	const cli = await openCliService(run, full ? ['userKey'] : [], options.workers);
	try {
		const archive = cli.context.index.archives.require(reference);
		// Through the service, so the card shows the verification's progress and Cancel, and then its outcome.
		const handle = cli.service.verify({
			archive: String(archive.lot),
			level: full ? 'full' : 'quick',
			...(options.sample === undefined ? {} : { samplePercent: options.sample }),
			requestedBy: null
		});
		const result = await followJob(cli, run, handle);
		if (result.ok) {
			run.reporter.result({ ...result }, [`${result.archiveId}: ${result.summary}`]);
			return ExitCode.Ok;
		}
		run.reporter.problems({ ...result }, [
			...result.chunks.map(
				(chunk) =>
					`${chunk.kind === 'data' ? `chunk ${chunk.index + 1}` : `manifest part ${chunk.index + 1}`}${chunk.messageId ? ` (message ${chunk.messageId})` : ''}: ${chunk.code} ${chunk.message}`
			),
			...result.files.map((file) => `file ${file.path}: ${file.code}`),
			`${result.archiveId}: ${result.summary}`
		]);
		return ExitCode.Failed;
	} finally {
		await cli.close();
	}
}

/**
 * `dos verify --repository`: the archive channel's format 2 repository as a whole, through the service (one verify
 * job of no archive). Exit 1 naming each damaged pack, bad blob and unheld reference, and the archives they touch.
 */
async function checkRepositoryOnline(run: CommandRun, options: VerifyOptions): Promise<ExitCode> {
	const cli = await openCliService(run, ['userKey'], options.workers);
	try {
		const result = await followJob(cli, run, cli.service.checkRepository({ requestedBy: null }));
		const summary = `${plural(result.packs, 'pack')} (${formatBytes(result.packBytes)}) and ${plural(result.blobs, 'blob')} (${formatBytes(result.blobBytes)}) checked`;
		if (result.ok) {
			run.reporter.result({ ...result }, [`The repository is whole: ${summary}; every blob a live archive references is held.`]);
			return ExitCode.Ok;
		}
		run.reporter.problems({ ...result }, [
			...result.packProblems.map((pack) => `pack ${pack.name} (${pack.archiveId}): ${pack.code} ${pack.message}`),
			...result.badBlobs.map((blob) => `blob ${blob.id.slice(0, 16)}… (pack ${blob.pack ?? '?'}): ${blob.code} ${blob.message}`),
			...result.unheld.map((blob) => `blob ${blob.id.slice(0, 16)}…: held by no stored pack, referenced by ${blob.archives.join(', ')}`),
			`The repository is damaged: ${plural(result.packProblemCount, 'damaged pack')}, ${plural(result.badBlobCount, 'bad blob')}, ${plural(result.unheld.length, 'unheld reference')} (${summary}). Archives touched: ${result.damagedArchives.join(', ') || 'none'} — verify them in full to see which files.`
		]);
		return ExitCode.Failed;
	} finally {
		await cli.close();
	}
}
