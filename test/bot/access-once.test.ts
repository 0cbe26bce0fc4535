import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/*
 * Access is checked once per interaction, in one place (docs/design.md §5): the `ArchiveAccess` precondition for
 * every subcommand, the first line of a button handler for buttons. The archive service and the bot's action
 * helpers it calls never check again: a second check drifts from the first (a button once asked for `delete`, then
 * for `cleanup`). This guard reads the sources, so that a check added anywhere else fails here.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (relative: string) => readFileSync(path.join(root, relative), 'utf8');
const checks = /\b(?:assertMayRun|interactionMayRun|mayRun)\(/g;
const count = (text: string) => [...text.matchAll(checks)].length;

function tsFiles(relative: string): string[] {
	return readdirSync(path.join(root, relative), { recursive: true, encoding: 'utf8' })
		.filter((name) => name.endsWith('.ts'))
		.map((name) => path.join(relative, name));
}

describe('one access check per interaction', () => {
	it('GIVEN the /archive command WHEN its subcommands are declared THEN each is guarded by the precondition and the command checks nothing itself', () => {
		const source = read('src/bot/commands/archive.ts');
		const subcommands = [...source.matchAll(/\{ name: '([a-z]+)', chatInputRun: '\w+'(.*)\}/g)];
		expect(subcommands.length).toBeGreaterThanOrEqual(11);
		for (const [, name, rest] of subcommands) expect(rest, name).toMatch(/preconditions: guard\(Action\.\w+\)/);
		expect(count(source)).toBe(0);
	});

	it.each(['card-buttons.ts', 'cleanup-confirmation.ts', 'list-pages.ts'])(
		'GIVEN the button handler %s WHEN it runs THEN it checks access exactly once',
		(file) => {
			expect(count(read(`src/bot/interaction-handlers/${file}`))).toBe(1);
		}
	);

	it('GIVEN the action helpers and the archive layer WHEN they run work THEN none of them checks access again', () => {
		const files = ['src/bot/lib/archive-actions.ts', 'src/bot/lib/replies.ts', ...tsFiles('src/archive'), ...tsFiles('src/cli')];
		for (const file of files) expect(count(read(file)), file).toBe(0);
	});
});
