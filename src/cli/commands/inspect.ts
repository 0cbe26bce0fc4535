import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import {
	CONTAINER_OVERHEAD,
	CoreError,
	CoreErrorCode,
	decodeChunkHeader,
	isRepository,
	type Manifest,
	openRepository,
	readManifest,
	openStagedManifest,
	readStagedFolder,
	sha256Hex
} from '../../core/index.js';
import { type CliInvocation, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { plural } from '../report.js';
import type { OutputOptions } from '../io.js';
import { formatBytes } from '../../archive/format.js';
import { inspectPack, looksLikePack } from './inspect-pack.js';

interface InspectOptions extends OutputOptions {
	readonly entries?: boolean;
}

/** `dos inspect <file>`: what a chunk header or a pack trailer says; with USER_KEY, a manifest part's manifest or a pack's blobs. Never the key. */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('inspect')
		.description(
			"Show what a chunk, manifest part or pack says: its header, and with USER_KEY a manifest's summary and entries or a pack's blobs."
		)
		.argument('<file>', 'a sealed chunk or manifest part (.bin), a repository manifest part, or a format 2 pack')
		.option('--entries', 'list every entry of a manifest or blob of a pack (default: the first 50)')
		.option('--json', 'print the result as one JSON line')
		.action(async (file: string, options: InspectOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const { config, reporter } = run;
				const info = await stat(file).catch((error: unknown) => {
					throw new CoreError(CoreErrorCode.NotFound, `${file} cannot be read. Check the path.`, { file }, { cause: error });
				});
				if (!info.isFile()) throw new CoreError(CoreErrorCode.NotFound, `${file} is not a file. Name one chunk or manifest part.`, { file });
				// A repository's manifest part: <repo>/archives/<DDMMYY-NN>/manifest.<n>.
				const absolute = path.resolve(file);
				const archiveDir = path.dirname(absolute);
				const repoDir = path.dirname(path.dirname(archiveDir));
				if (/^manifest\.\d{1,4}$/.test(path.basename(absolute)) && (await isRepository(repoDir))) {
					const settings = config(['userKey']);
					const repo = await openRepository(repoDir, settings.userKey?.reveal());
					const manifest = await readManifest(repo, `#${path.basename(archiveDir)}`);
					const { totals } = manifest;
					const lines = [
						`${file}: manifest of archive ${manifest.id} of the repository ${repo.root} (format 2)`,
						`  ${manifest.label ? `"${manifest.label}", ` : ''}created ${manifest.createdAt} by ${manifest.tool}${manifest.parent ? `, after ${manifest.parent}` : ''}; codec ${manifest.codec}, dedup ${manifest.dedup}`,
						`  ${plural(totals.files, 'file')}, ${plural(totals.directories, 'folder')}, ${plural(totals.symlinks, 'symlink')}; original ${formatBytes(totals.bytes)}, new ${formatBytes(totals.newBytes)}, reused ${formatBytes(totals.reusedBytes)}; ${formatBytes(totals.storedBytes)} stored in ${plural(manifest.packs.length, 'pack')}`
					];
					const shown = options.entries ? manifest.entries : manifest.entries.slice(0, 50);
					for (const entry of shown) {
						const mode = entry.mode.toString(8).padStart(4, '0');
						const detail =
							entry.type === 'file'
								? `${entry.size} B sha256 ${entry.sha256} in ${plural(entry.blobs?.length ?? 0, 'blob')}`
								: entry.type === 'symlink'
									? `-> ${entry.target}`
									: '';
						lines.push(
							`  ${entry.type.padEnd(9)} ${mode} ${new Date(entry.mtimeMs).toISOString()} ${entry.path}${entry.type === 'directory' ? '/' : ''} ${detail}`.trimEnd()
						);
					}
					if (shown.length < manifest.entries.length)
						lines.push(`  … and ${manifest.entries.length - shown.length} more (--entries lists all)`);
					reporter.result({ format: 'repository', manifest }, lines);
					return ExitCode.Ok;
				}
				if (await looksLikePack(file, info.size)) return inspectPack(run, file, options.entries === true);
				const bytes = await readFile(file);
				const header = decodeChunkHeader(bytes, path.basename(file));
				const summary = {
					file,
					kind: header.kind,
					version: header.version,
					flags: { compressed: header.compressed },
					kdf: { id: 'pbkdf2-sha256', iterations: header.kdfIterations },
					archiveSalt: header.archiveSalt.toString('hex'),
					uid: header.uid.toString('hex'),
					index: header.index,
					count: header.count,
					storedSize: bytes.length,
					payloadSize: bytes.length - CONTAINER_OVERHEAD,
					sha256: sha256Hex(bytes)
				};
				const lines = [
					`${path.basename(file)}: ${header.kind} container, format ${header.version}`,
					`  ${header.kind === 'manifest' ? `part ${header.index + 1} of ${header.count}` : `chunk ${header.index + 1} (index ${header.index})`}, payload ${header.compressed ? 'gzip' : 'raw'}`,
					`  key derivation PBKDF2-HMAC-SHA256, ${header.kdfIterations} iterations, archive salt ${summary.archiveSalt}`,
					`  archive uid ${summary.uid}`,
					`  ${formatBytes(bytes.length)} stored (${bytes.length} B, payload ${summary.payloadSize} B), sha256 ${summary.sha256}`
				];
				let manifest: Manifest | undefined;
				const passphrase = header.kind === 'manifest' ? config().userKey?.reveal() : undefined;
				if (header.kind === 'manifest' && passphrase === undefined) lines.push('  (set USER_KEY to decrypt the manifest)');
				if (passphrase !== undefined) {
					const folder = await readStagedFolder(path.dirname(path.resolve(file)));
					const ownParts = folder.manifestParts.length > 0 ? folder : { ...folder, manifestParts: [{ file, name: path.basename(file) }] };
					manifest = (await openStagedManifest(ownParts, passphrase)).manifest;
					const { totals } = manifest;
					lines.push(
						`Archive ${manifest.id} (lot ${manifest.lot})${manifest.label ? ` "${manifest.label}"` : ''}, created ${manifest.createdAt} by ${manifest.tool}`,
						`  ${plural(totals.files, 'file')}, ${plural(totals.directories, 'folder')}, ${plural(totals.symlinks, 'symlink')}; ${formatBytes(totals.bytes)} in ${plural(totals.chunks, 'chunk')} of ${formatBytes(manifest.chunkSize)} (${formatBytes(totals.storedBytes)} stored), gzip ${manifest.compression.level}`
					);
					const shown = options.entries ? manifest.entries : manifest.entries.slice(0, 50);
					for (const entry of shown) {
						const mode = entry.mode.toString(8).padStart(4, '0');
						const detail =
							entry.type === 'file' ? `${entry.size} B sha256 ${entry.sha256}` : entry.type === 'symlink' ? `-> ${entry.target}` : '';
						lines.push(
							`  ${entry.type.padEnd(9)} ${mode} ${new Date(entry.mtimeMs).toISOString()} ${entry.path}${entry.type === 'directory' ? '/' : ''} ${detail}`.trimEnd()
						);
					}
					if (shown.length < manifest.entries.length)
						lines.push(`  … and ${manifest.entries.length - shown.length} more (--entries lists all)`);
				}
				reporter.result({ header: summary, ...(manifest ? { manifest } : {}) }, lines);
				return ExitCode.Ok;
			})
		);
}
