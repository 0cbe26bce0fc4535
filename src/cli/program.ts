import { Command, CommanderError } from 'commander';
import { ExitCode } from './exit-code.js';
import type { CliInvocation } from './invocation.js';
import type { CliIo } from './io.js';
import { toolVersion } from './version.js';

type Register = (program: Command, context: CliInvocation) => void;

/**
 * The commands in the order `dos --help` lists them, each loaded only when needed: a command's module brings in what
 * its work needs (the service, discord.js, SQLite, the emulator), and a process runs one command.
 */
const commandModules: readonly (readonly [name: string, load: () => Promise<{ register: Register }>])[] = [
	['slice', () => import('./commands/slice.js')],
	['assemble', () => import('./commands/assemble.js')],
	['verify', () => import('./commands/verify.js')],
	['inspect', () => import('./commands/inspect.js')],
	['key', () => import('./commands/key.js')],
	['emulator', () => import('./commands/emulator.js')],
	['sandbox', () => import('./commands/sandbox.js')],
	['demo', () => import('./commands/demo.js')],
	['upload', () => import('./commands/upload.js')],
	['resume', () => import('./commands/resume.js')],
	['list', () => import('./commands/list.js')],
	['find', () => import('./commands/find.js')],
	['status', () => import('./commands/status.js')],
	['download', () => import('./commands/download.js')],
	['cleanup', () => import('./commands/cleanup.js')],
	['cancel', () => import('./commands/cancel.js')],
	['index', () => import('./commands/index-command.js')],
	['migrate-legacy', () => import('./commands/migrate-legacy.js')]
];

/**
 * The commands a run of `dos` with these arguments can reach, read the way commander reads the root's options: none
 * when `--version` comes first (it prints and stops), the one named when a known command comes first, and all of them
 * otherwise (help, an unknown command or option, no command), so that help and errors list every command.
 */
export function commandsFor(argv: readonly string[]): readonly string[] {
	const all = commandModules.map(([name]) => name);
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i]!;
		if (arg === '--env-file') i++;
		else if (arg.startsWith('--env-file=')) continue;
		else if (arg === '-V' || arg === '--version') return [];
		else if (arg.startsWith('-')) return all;
		else return all.includes(arg) ? [arg] : all;
	}
	return all;
}

/** Builds the `dos` program with the commands `names` (see {@link commandsFor}): each command module registers itself. */
async function buildProgram(context: CliInvocation, names: readonly string[]): Promise<Command> {
	const program = new Command('dos')
		.description('Discord Object Store: durable, encrypted, resumable folder archives in a Discord channel.')
		.version(toolVersion())
		.option('--env-file <path>', 'read settings from this file, beneath the environment and above ./.env (e.g. <sandbox data>/cli.env)')
		.showHelpAfterError('(run with --help for usage)')
		.exitOverride()
		.configureOutput({
			writeOut: (text) => context.io.stdout.write(text),
			writeErr: (text) => context.io.stderr.write(text)
		});
	program.hook('preAction', (root) => {
		const { envFile } = root.opts<{ envFile?: string }>();
		if (envFile !== undefined) context.envFile = envFile;
	});
	const wanted = commandModules.filter(([name]) => names.includes(name));
	const modules = await Promise.all(wanted.map(([, load]) => load()));
	for (const { register } of modules) register(program, context);
	for (const command of program.commands)
		command
			.exitOverride()
			.configureOutput({ writeOut: (text) => context.io.stdout.write(text), writeErr: (text) => context.io.stderr.write(text) });
	return program;
}

/** Runs `dos` with the given arguments (without `node` and the script) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
	const context: CliInvocation = { io, exitCode: ExitCode.Ok };
	const program = await buildProgram(context, commandsFor(argv));
	try {
		await program.parseAsync([...argv], { from: 'user' });
	} catch (error) {
		if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
		const { describeFailure } = await import('./failure.js');
		const failure = describeFailure(error);
		io.stderr.write(`dos: ${failure.message}\n`);
		return failure.exitCode;
	}
	return context.exitCode;
}
