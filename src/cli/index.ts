#!/usr/bin/env node
import { runCli } from './program.js';

const controller = new AbortController();
let interrupted = false;
process.on('SIGINT', () => {
	// First Ctrl-C stops cleanly; a second one leaves at once.
	if (interrupted) process.exit(130);
	interrupted = true;
	controller.abort();
});

process.exitCode = await runCli(process.argv.slice(2), {
	stdout: process.stdout,
	stderr: process.stderr,
	env: process.env,
	cwd: process.cwd(),
	interactive: process.stderr.isTTY,
	signal: controller.signal
});
