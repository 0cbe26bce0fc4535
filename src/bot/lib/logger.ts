import { formatWithOptions } from 'node:util';
import { Logger, LogLevel } from '@sapphire/framework';
import type { Redactor } from '../../core/redact.js';

const levelNames: Readonly<Partial<Record<LogLevel, string>>> = {
	[LogLevel.Trace]: 'TRACE',
	[LogLevel.Debug]: 'DEBUG',
	[LogLevel.Info]: 'INFO',
	[LogLevel.Warn]: 'WARN',
	[LogLevel.Error]: 'ERROR',
	[LogLevel.Fatal]: 'FATAL'
};

/**
 * The bot's logger: one line per event on stderr (stdout stays free for the sandbox's ready line and for
 * scripts), every line passed through the {@link Redactor} so no secret is ever written.
 */
export class BotLogger extends Logger {
	readonly #redactor: Redactor;
	readonly #write: (line: string) => void;

	public constructor(level: LogLevel, redactor: Redactor, write: (line: string) => void = (line) => process.stderr.write(line)) {
		super(level);
		this.#redactor = redactor;
		this.#write = write;
	}

	public override write(level: LogLevel, ...values: readonly unknown[]): void {
		if (!this.has(level)) return;
		const text = formatWithOptions({ colors: false, depth: 4, breakLength: Infinity }, ...values);
		this.#write(`${new Date().toISOString()} ${levelNames[level] ?? 'LOG'} ${this.#redactor.redact(text)}\n`);
	}
}
