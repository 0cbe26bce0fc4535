import { Command, CommanderError } from 'commander';
import { register as registerAssemble } from './commands/assemble.js';
import { register as registerCancel } from './commands/cancel.js';
import { register as registerCleanup } from './commands/cleanup.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerDownload } from './commands/download.js';
import { register as registerEmulator } from './commands/emulator.js';
import { register as registerFind } from './commands/find.js';
import { register as registerIndex } from './commands/index.js';
import { register as registerInspect } from './commands/inspect.js';
import { register as registerKey } from './commands/key.js';
import { register as registerList } from './commands/list.js';
import { register as registerMigrateLegacy } from './commands/migrate-legacy.js';
import { register as registerResume } from './commands/resume.js';
import { register as registerSandbox } from './commands/sandbox.js';
import { register as registerSlice } from './commands/slice.js';
import { register as registerStatus } from './commands/status.js';
import { register as registerUpload } from './commands/upload.js';
import { register as registerVerify } from './commands/verify.js';
import { type CliContext, toolVersion } from './context.js';
import { describeFailure, ExitCode } from './failure.js';
import type { CliIo } from './io.js';

/** Builds the `dos` program: each command module registers itself. */
export function buildProgram(context: CliContext): Command {
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
	registerSlice(program, context);
	registerAssemble(program, context);
	registerVerify(program, context);
	registerInspect(program, context);
	registerKey(program, context);
	registerEmulator(program);
	registerSandbox(program, context);
	registerDemo(program, context);
	registerUpload(program, context);
	registerResume(program, context);
	registerList(program, context);
	registerFind(program, context);
	registerStatus(program, context);
	registerDownload(program, context);
	registerCleanup(program, context);
	registerCancel(program, context);
	registerIndex(program, context);
	registerMigrateLegacy(program, context);
	for (const command of program.commands)
		command
			.exitOverride()
			.configureOutput({ writeOut: (text) => context.io.stdout.write(text), writeErr: (text) => context.io.stderr.write(text) });
	return program;
}

/** Runs `dos` with the given arguments (without `node` and the script) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
	const context: CliContext = { io, exitCode: ExitCode.Ok };
	const program = buildProgram(context);
	try {
		await program.parseAsync([...argv], { from: 'user' });
	} catch (error) {
		if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
		const failure = describeFailure(error);
		io.stderr.write(`dos: ${failure.message}\n`);
		return failure.exitCode;
	}
	return context.exitCode;
}
