import type { Command } from 'commander';
import { formatBytes, repositoryLine } from '../../archive/format.js';
import { type CliInvocation, integerOption, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { archiveName, plural } from '../report.js';
import type { OutputOptions } from '../io.js';
import { openCliIndex } from '../service.js';

interface ListOptions extends OutputOptions {
	readonly limit: number;
	readonly before?: number;
}

/** `dos list [query]`: recent archives from the index, newest first, with paging. */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('list')
		.description('List archives from the index, newest first (filter by id, lot, label or source folder).')
		.argument('[query]', 'an id prefix, a lot, or a fragment of the label or folder')
		.option('--limit <n>', 'archives per page', integerOption('--limit', 1, 100), 20)
		.option('--before <lot>', 'the page after this lot (as printed at the end of a page)', integerOption('--before', 1, Number.MAX_SAFE_INTEGER))
		.option('--json', 'print one JSON line')
		.action(async (query: string | undefined, options: ListOptions) =>
			runCommand(context, options.json ?? false, (run) => {
				const { index } = openCliIndex(run);
				try {
					const page = index.archives.list({
						limit: options.limit,
						...(query ? { query } : {}),
						...(options.before ? { before: options.before } : {})
					});
					const lines = page.archives.map(
						(archive) =>
							`${archive.id.padEnd(11)} ${archive.status.padEnd(11)} ${formatBytes(archive.originalBytes).padStart(10)}  ${plural(archive.fileCount, 'file').padStart(9)}  ${archiveName(archive)}`
					);
					if (lines.length === 0) {
						if (options.before !== undefined) lines.push('No older archive.');
						else lines.push(query ? `No archive matches "${query}" (by id, lot, label or folder).` : 'No archives.');
					}
					if (page.nextBefore !== null) lines.push(`More: dos list${query ? ` ${query}` : ''} --before ${page.nextBefore}`);
					// The format 2 repository as a whole: what every archive of it shares (dedup), once there is one.
					const repository = index.packs.totals();
					if (repository.archives > 0 || repository.packs > 0) lines.push(`Repository (format 2): ${repositoryLine(repository)}.`);
					run.reporter.result({ archives: page.archives, nextBefore: page.nextBefore, repository }, lines);
					return Promise.resolve(ExitCode.Ok);
				} finally {
					index.close();
				}
			})
		);
}
