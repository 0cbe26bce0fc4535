import { Writable } from 'node:stream';
import { runCli } from '../../src/cli/program.js';

/** What one run of the CLI program wrote: exit code, output, its JSON lines and the `result` line among them. */
export interface CliRun {
	code: number;
	stdout: string;
	stderr: string;
	lines: Record<string, unknown>[];
	result: Record<string, unknown> | undefined;
}

/**
 * Runs `dos …` in this process, not interactive, in `cwd` with exactly `env` (nothing of this process's
 * environment): fast, for what never needs the built CLI.
 */
export async function runDosHere(args: string[], options: { cwd: string; env: Record<string, string> }): Promise<CliRun> {
	let stdout = '';
	let stderr = '';
	const sink = (append: (text: string) => void) =>
		new Writable({
			write: (chunk: Buffer, _encoding, done) => {
				append(chunk.toString());
				done();
			}
		});
	const code = await runCli(args, {
		stdout: sink((text) => (stdout += text)),
		stderr: sink((text) => (stderr += text)),
		env: options.env,
		cwd: options.cwd,
		interactive: false,
		signal: new AbortController().signal
	});
	const lines = stdout
		.split('\n')
		.filter((line) => line.startsWith('{'))
		.map((line) => JSON.parse(line) as Record<string, unknown>);
	return { code, stdout, stderr, lines, result: lines.find((line) => line.type === 'result') };
}
