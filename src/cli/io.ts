import type { Writable } from 'node:stream';

/** Where a CLI run reads its environment and writes its output (the process's, or a test's). */
export interface CliIo {
	readonly stdout: Writable;
	readonly stderr: Writable;
	readonly env: Readonly<Record<string, string | undefined>>;
	readonly cwd: string;
	/** Whether stderr is a terminal (progress bars are drawn only there). */
	readonly interactive: boolean;
	/** Fires on Ctrl-C: long work stops cleanly. */
	readonly signal: AbortSignal;
}

/** Output options every command accepts. */
export interface OutputOptions {
	readonly json?: boolean;
}
