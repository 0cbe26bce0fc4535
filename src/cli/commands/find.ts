import type { Command } from 'commander';
import { formatBytes } from '../../archive/format.js';
import { type CliInvocation, integerOption, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { archiveName } from '../report.js';
import type { OutputOptions } from '../io.js';
import { openCliIndex } from '../service.js';

interface FindOptions extends OutputOptions {
	readonly limit: number;
}

/** `dos find <name>`: files, folders and links whose name matches, across archives. */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('find')
		.description('Find files, folders and links by name across all archives (at least one word of 3 characters).')
		.argument('<name>', 'words of the name, in any order')
		.option('--limit <n>', 'hits to show', integerOption('--limit', 1, 100), 50)
		.option('--json', 'print one JSON line')
		.action(async (name: string, options: FindOptions) =>
			runCommand(context, options.json ?? false, (run) => {
				const { index } = openCliIndex(run);
				try {
					const page = index.entries.search(name, { limit: options.limit });
					const lines = page.hits.map(
						(hit) =>
							`${hit.archive.id.padEnd(11)} ${hit.entry.type === 'file' ? formatBytes(hit.entry.size).padStart(10) : hit.entry.type.padStart(10)}  ${hit.entry.path}  (${archiveName(hit.archive)})`
					);
					if (lines.length === 0) lines.push(`Nothing named like "${name}".`);
					run.reporter.result({ hits: page.hits, nextBefore: page.nextBefore }, lines);
					return Promise.resolve(ExitCode.Ok);
				} finally {
					index.close();
				}
			})
		);
}
