import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { commandsFor } from '../../src/cli/program.js';
import { runDosHere } from './support.js';

/**
 * `dos` loads only the command it runs (each command's module brings in what its work needs). What a user sees must not
 * depend on that: help, versions and usage errors are the same as with every command loaded.
 */
const names = ['slice', 'assemble', 'verify', 'inspect', 'key', 'emulator', 'sandbox', 'demo', 'upload', 'resume', 'list', 'find', 'status'];
const all = [...names, 'download', 'cleanup', 'cancel', 'index', 'migrate-legacy'];
const here = (args: string[]) => runDosHere(args, { cwd: tmpdir(), env: {} });

describe('dos loads the commands it runs', () => {
	it('GIVEN arguments WHEN read THEN the command named first is the only one, --version none, and anything else all', () => {
		expect(commandsFor(['slice', 'folder', '--json'])).toEqual(['slice']);
		expect(commandsFor(['--env-file', 'cli.env', 'upload', 'folder'])).toEqual(['upload']);
		expect(commandsFor(['--env-file=cli.env', 'index', 'rebuild'])).toEqual(['index']);
		// The value of --env-file is not the command, even when it is a command's name.
		expect(commandsFor(['--env-file', 'slice', 'list'])).toEqual(['list']);
		expect(commandsFor(['--version'])).toEqual([]);
		expect(commandsFor(['--env-file', 'x', '-V'])).toEqual([]);
		for (const args of [[], ['--help'], ['-h', 'slice'], ['help', 'slice'], ['slise'], ['--bogus', 'slice'], ['--', 'slice'], ['--env-file']])
			expect(commandsFor(args), args.join(' ')).toEqual(all);
	});

	it('GIVEN dos --help WHEN run THEN every command is listed, in order', async () => {
		const help = await here(['--help']);
		expect(help.code).toBe(0);
		const listed = [...help.stdout.slice(help.stdout.indexOf('Commands:')).matchAll(/^ {2}([a-z-]+)(?= |$)/gm)].map((match) => match[1]);
		expect(listed).toEqual([...all, 'help']);
	});

	it('GIVEN dos --version WHEN run THEN it prints the package version and exits 0', async () => {
		const version = await here(['--version']);
		const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
		expect(version).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
	});

	it.each(all)('GIVEN dos %s --help WHEN run alone THEN it prints what dos help %s prints with every command loaded', async (name) => {
		const alone = await here([name, '--help']);
		const withAll = await here(['help', name]);
		expect(alone.code).toBe(0);
		expect(alone.stdout).toContain(`Usage: dos ${name}`);
		expect(alone.stdout).toBe(withAll.stdout);
	});

	it('GIVEN a command with an unknown option or a misspelt command WHEN run THEN exit 2 with the same words as before', async () => {
		const option = await here(['list', '--bogus']);
		expect(option.code).toBe(2);
		expect(option.stderr).toContain("error: unknown option '--bogus'");
		const command = await here(['slise']);
		expect(command.code).toBe(2);
		expect(command.stderr).toContain("error: unknown command 'slise'");
		expect(command.stderr).toContain('(Did you mean slice?)');
	});
});
