import { SingleBar } from 'cli-progress';
import type { ProgressEvent } from '../core/index.js';
import { formatBytes } from '../archive/format.js';
import { Redactor } from '../core/redact.js';
import { describeFailure, type Failure } from './failure.js';
import type { CliIo } from './io.js';

/**
 * Output of one command: progress (a bar on a terminal's stderr, or JSON lines on stdout with `--json`), warnings,
 * and a final result (human lines, or one JSON line).
 */
export class Reporter {
	private readonly io: CliIo;
	private readonly json: boolean;
	private bar: SingleBar | undefined;
	private barPhase: string | undefined;
	private redactor = new Redactor([]);

	public constructor(io: CliIo, json: boolean) {
		this.io = io;
		this.json = json;
	}

	/** Receives progress events (bind it as an `onProgress` listener). */
	public readonly progress = (
		event: ProgressEvent | { phase: string; bytesDone: number; bytesTotal: number; chunksDone: number; chunksTotal: number }
	): void => {
		if (this.json) {
			this.line({
				type: 'progress',
				phase: event.phase,
				bytesDone: event.bytesDone,
				bytesTotal: event.bytesTotal,
				chunksDone: event.chunksDone,
				chunksTotal: event.chunksTotal
			});
			return;
		}
		if (!this.io.interactive) return;
		const byBytes = event.bytesTotal > 0;
		const total = byBytes ? event.bytesTotal : event.chunksTotal;
		const value = byBytes ? event.bytesDone : event.chunksDone;
		if (this.bar === undefined || this.barPhase !== event.phase) {
			this.bar?.stop();
			this.bar = new SingleBar({
				stream: this.io.stderr,
				format: `${event.phase.padEnd(8)} [{bar}] {percentage}% | {shown} | {chunks} chunks | ETA {eta_formatted}`,
				hideCursor: true,
				clearOnComplete: false,
				etaBuffer: 20
			});
			this.barPhase = event.phase;
			this.bar.start(Math.max(total, 1), value, { shown: '', chunks: '' });
		}
		this.bar.setTotal(Math.max(total, 1));
		this.bar.update(value, {
			shown: byBytes ? `${formatBytes(event.bytesDone)} / ${formatBytes(event.bytesTotal)}` : '',
			chunks: `${event.chunksDone}/${event.chunksTotal}`
		});
	};

	/**
	 * The secrets of the configuration (bot token, USER_KEY): no warning or error this reporter prints shows them, even
	 * when a library echoes one in its message.
	 */
	public keepSecret(secrets: readonly (string | undefined)[]): void {
		this.redactor = new Redactor(secrets);
	}

	/** `text` with every secret given to {@link keepSecret} replaced by `[redacted]`. */
	public redact(text: string): string {
		return this.redactor.redact(text);
	}

	/** A warning: stderr in human mode, a JSON line in JSON mode. */
	public warn(text: string, data: Record<string, unknown> = {}): void {
		this.stopBar();
		const message = this.redactor.redact(text);
		if (this.json) this.line({ type: 'warning', message, ...data });
		else this.io.stderr.write(`warning: ${message}\n`);
	}

	/** One warning per source entry the walk passed over (sockets, unsafe names, …). */
	public warnSkipped(skipped: readonly { readonly path: string; readonly reason: string; readonly detail?: string }[]): void {
		for (const entry of skipped)
			this.warn(`skipped ${entry.path}: ${entry.reason}${entry.detail ? ` (${entry.detail})` : ''}`, {
				path: entry.path,
				reason: entry.reason
			});
	}

	/** The final result of a successful command. */
	public result(data: Record<string, unknown>, lines: readonly string[]): void {
		this.stopBar();
		if (this.json) this.line({ type: 'result', ok: true, ...data });
		else for (const text of lines) this.io.stdout.write(`${text}\n`);
	}

	/** A result that is a failure of the work (verify found problems): printed like a result, exit code 1. */
	public problems(data: Record<string, unknown>, lines: readonly string[]): void {
		this.stopBar();
		if (this.json) this.line({ type: 'result', ok: false, ...data });
		else for (const text of lines) this.io.stderr.write(`${text}\n`);
	}

	/** Reports an error; returns the failure so the caller can exit with its code. */
	public error(error: unknown): Failure {
		this.stopBar();
		const described = describeFailure(error);
		const failure = { ...described, message: this.redactor.redact(described.message) };
		if (this.json) this.line({ type: 'error', code: failure.code, message: failure.message, exitCode: failure.exitCode });
		this.io.stderr.write(
			`dos: ${failure.message}${failure.code === 'CONFIG' || failure.code === 'USAGE' || failure.code === 'UNEXPECTED' ? '' : ` [${failure.code}]`}\n`
		);
		return failure;
	}

	public close(): void {
		this.stopBar();
	}

	private stopBar(): void {
		this.bar?.stop();
		this.bar = undefined;
		this.barPhase = undefined;
	}

	private line(value: Record<string, unknown>): void {
		this.io.stdout.write(`${JSON.stringify(value)}\n`);
	}
}

/** `1 file`, `2 files`: a count and its noun, singular for exactly one. `plural` is the irregular form, if any. */
export function plural(count: number, noun: string, pluralNoun = `${noun}s`): string {
	return `${count} ${count === 1 ? noun : pluralNoun}`;
}

/** `The 1 chunk` / `All 3 chunks`: the subject of a sentence about every one of `count` things. */
export function allOf(count: number, noun: string): string {
	return count === 1 ? `The 1 ${noun}` : `All ${count} ${noun}s`;
}

/** An archive as the CLI names it: its label, if any, and its source folder. */
export function archiveName(archive: { readonly label: string | null; readonly source: string }): string {
	return archive.label ? `${archive.label} · 📁 ${archive.source}` : `📁 ${archive.source}`;
}
