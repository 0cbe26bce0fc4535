import { setTimeout as sleep } from 'node:timers/promises';
import { type CardBody, type ArchiveTransport, TransportError } from '../discord/index.js';
import type { ArchiveLog } from './context.js';

/** Default minimum time between two progress edits of one card: card edits share the channel's rate limit. */
export const DEFAULT_CARD_EDIT_INTERVAL_MS = 4_000;

export interface CardUpdaterOptions {
	readonly transport: ArchiveTransport;
	readonly channelId: string;
	readonly messageId: string;
	readonly log: ArchiveLog;
	/** Minimum milliseconds between two edits; default {@link DEFAULT_CARD_EDIT_INTERVAL_MS}. */
	readonly intervalMs?: number;
	/**
	 * The final state is sent this many more times, this far apart, when its edit fails in a way worth another try
	 * (Discord unreachable, an answer lost, a rate limit) after the transport's own retries. Default 3 and 5 s.
	 */
	readonly finalRetries?: number;
	readonly finalRetryDelayMs?: number;
	/** Told of every edit Discord confirmed, with the body it wrote (for tests and benchmarks). */
	readonly onEdit?: (body: CardBody) => void;
}

/**
 * Edits one card at most once per interval: {@link update} keeps only the newest body and writes it when the interval
 * allows; {@link finish} always writes the final body (after any edit in progress) even if intermediate ones were
 * skipped. A failed edit is logged, never thrown: progress on a card must not fail the job it reports on. An edit whose
 * answer was lost may well have landed; a later edit writes the whole card again, and the final one is sent again
 * (bounded) until Discord confirms it, so the card's last word is never a progress line.
 */
export class CardUpdater {
	readonly #options: CardUpdaterOptions;
	readonly #intervalMs: number;
	#pending: CardBody | null = null;
	#lastEditAt = Number.NEGATIVE_INFINITY;
	#timer: NodeJS.Timeout | null = null;
	#inFlight: Promise<void> = Promise.resolve();
	#finished = false;

	public constructor(options: CardUpdaterOptions) {
		this.#options = options;
		this.#intervalMs = Math.max(0, options.intervalMs ?? DEFAULT_CARD_EDIT_INTERVAL_MS);
	}

	/** Schedules `body` as the card's next state; earlier unsent states are dropped. */
	public update(body: CardBody): void {
		if (this.#finished) return;
		this.#pending = body;
		if (this.#timer !== null) return;
		const wait = Math.max(0, this.#lastEditAt + this.#intervalMs - Date.now());
		this.#timer = setTimeout(() => {
			this.#timer = null;
			this.#flush();
		}, wait);
		this.#timer.unref();
	}

	/** Writes `body` as the final state (waiting for an edit in progress) and stops further updates. */
	public async finish(body: CardBody): Promise<void> {
		this.#finished = true;
		if (this.#timer !== null) clearTimeout(this.#timer);
		this.#timer = null;
		this.#pending = body;
		this.#flush(true);
		await this.#inFlight;
	}

	#flush(final = false): void {
		const body = this.#pending;
		if (body === null) return;
		this.#pending = null;
		this.#inFlight = this.#inFlight.then(async () => {
			const retries = final ? Math.max(0, this.#options.finalRetries ?? 3) : 0;
			for (let attempt = 0; ; attempt++) {
				this.#lastEditAt = Date.now();
				try {
					await this.#options.transport.editCard(this.#options.channelId, this.#options.messageId, body);
					this.#options.onEdit?.(body);
					return;
				} catch (error) {
					const again = attempt < retries && error instanceof TransportError && error.retryable;
					this.#options.log('warn', again ? 'card edit failed; the final state is sent again' : 'card edit failed', {
						messageId: this.#options.messageId,
						code: (error as { code?: unknown }).code,
						error: error instanceof Error ? error.message : String(error)
					});
					if (!again) return;
					await sleep(this.#options.finalRetryDelayMs ?? 5_000);
				}
			}
		});
	}
}
