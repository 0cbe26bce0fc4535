import { REST, Routes } from 'discord.js';
import type { APIChannel } from 'discord.js';
import type { ThreadState } from './archive-transport.js';
import { withBackoff, type BackoffPolicy } from './backoff.js';
import { DiscordCode, TransportError, TransportErrorCode, fromRestError, type OperationContext } from './errors.js';

/** Discord's documented limits the transport checks before sending. */
export const DiscordLimits = {
	/** Attachments per message (observed). */
	attachmentsPerMessage: 10,
	/** All attachments of one Create Message request together. */
	requestBytes: 25 * 1024 * 1024,
	/** Characters of message content. */
	content: 2000,
	/** Characters of a thread name. */
	threadName: 100,
	/** Messages per page when listing a channel. */
	pageSize: 100
} as const;

/** How the REST side of the transport is set up; see `DiscordTransportOptions`, which extends it. */
export interface RequestOptions {
	/** The bot token. Required unless `rest` is given. Never appears in an error message. */
	readonly token?: string;
	/**
	 * An existing REST client to share (e.g. the bot client's `client.rest`, so both see the same rate-limit
	 * buckets). When given, `token`, `apiUrl`, `requestTimeoutMs`, `globalRequestsPerSecond`, `restRetries` and
	 * `maxRateLimitWaitMs` are ignored: configure that client instead.
	 */
	readonly rest?: REST;
	/** The API base without version, e.g. `http://127.0.0.1:PORT/api` for the emulator (`DISCORD_API_URL`). Default: Discord. */
	readonly apiUrl?: string;
	/** Per-request timeout of the REST client. Default 120 s: a timed-out 9.5 MiB upload is re-sent in full. */
	readonly requestTimeoutMs?: number;
	/** The REST client's self-imposed global request rate. Default 50 (Discord's global limit). */
	readonly globalRequestsPerSecond?: number;
	/** Immediate retries the REST client makes on 5xx, resets and timeouts before this layer's backoff. Default 3. */
	readonly restRetries?: number;
	/** Rate limits longer than this fail with RATE_LIMITED instead of being waited out. Default 5 minutes. */
	readonly maxRateLimitWaitMs?: number;
	/** Backoff for 5xx and network failures once the REST client gave up. Default 4 tries, 1 s doubling, ≤ 30 s. */
	readonly retry?: Partial<BackoffPolicy>;
}

/** Sends one request with the signal it is given. */
export type Send = (signal: AbortSignal | undefined) => Promise<unknown>;

const defaultRetry: BackoffPolicy = { attempts: 4, baseDelayMs: 1000, maxDelayMs: 30_000 };

/** A thread reopened for the bot's own posts and edits: unarchived, and locked so members still cannot post. */
export const REOPENED: ThreadState = { archived: false, locked: true };

/**
 * The REST side of the transport: the discord.js REST client (shared or owned), every request mapped to a
 * {@link TransportError} and retried with backoff on 5xx and network failures, and the one repair every request
 * into a thread may need (reopening it when Discord says it is archived).
 */
export class DiscordRequests {
	/** The REST client in use (shared or owned). */
	public readonly rest: REST;
	readonly #ownsRest: boolean;
	readonly #retryPolicy: BackoffPolicy;

	/** @throws RangeError when neither `rest` nor `token` is given. */
	public constructor(options: RequestOptions) {
		if (options.rest) {
			this.rest = options.rest;
			this.#ownsRest = false;
		} else {
			if (!options.token) throw new RangeError('DiscordTransport needs a bot token (DISCORD_BOT_TOKEN) or a REST client.');
			const maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 300_000;
			this.rest = new REST({
				...(options.apiUrl === undefined ? {} : { api: options.apiUrl.replace(/\/+$/, '') }),
				timeout: options.requestTimeoutMs ?? 120_000,
				globalRequestsPerSecond: options.globalRequestsPerSecond ?? 50,
				retries: options.restRetries ?? 3,
				rejectOnRateLimit: (data) => data.retryAfter > maxRateLimitWaitMs
			}).setToken(options.token);
			this.#ownsRest = true;
		}
		this.#retryPolicy = { ...defaultRetry, ...options.retry };
	}

	/** Stops the REST client's timers if this transport created it. Requests in flight still finish. */
	public close(): void {
		if (!this.#ownsRest) return;
		this.rest.clearHashSweeper();
		this.rest.clearHandlerSweeper();
	}

	/**
	 * Runs one REST request, mapping errors to TransportError and retrying 5xx/network failures with backoff
	 * (the REST client already retried them a few times at once).
	 */
	public async call(context: OperationContext, signal: AbortSignal | undefined, send: Send): Promise<unknown> {
		return withBackoff(
			this.#retryPolicy,
			async () => {
				try {
					return await withRequestSignal(signal, send);
				} catch (error) {
					throw fromRestError(error, context, signal);
				}
			},
			(error) => ({ retry: error instanceof TransportError && error.code === TransportErrorCode.DiscordUnavailable }),
			signal
		);
	}

	/**
	 * Like {@link DiscordRequests.call}; on 50083 (archived thread) reopens `context.channelId` — unarchived, and
	 * kept locked: the bot posts into a locked thread, members do not — and tries once more.
	 */
	public async callInThread(context: OperationContext, signal: AbortSignal | undefined, send: Send): Promise<unknown> {
		try {
			return await this.call(context, signal, send);
		} catch (error) {
			if (
				!(error instanceof TransportError) ||
				error.discordCode !== DiscordCode.InvalidActionOnArchivedThread ||
				context.channelId === undefined
			) {
				throw error;
			}
			await this.patchThread(context.channelId, REOPENED, signal);
			return this.call(context, signal, send);
		}
	}

	/** Sets a thread's `archived` and/or `locked` in one PATCH; the channel as Discord returns it. */
	public async patchThread(threadId: string, state: ThreadState, signal: AbortSignal | undefined): Promise<APIChannel> {
		const changes = [
			...(state.archived === undefined ? [] : [state.archived ? 'archive' : 'unarchive']),
			...(state.locked === undefined ? [] : [state.locked ? 'lock' : 'unlock'])
		];
		const context = { action: `${changes.join(' and ') || 'update'} thread ${threadId}`, channelId: threadId };
		const body = {
			...(state.archived === undefined ? {} : { archived: state.archived }),
			...(state.locked === undefined ? {} : { locked: state.locked })
		};
		return (await this.call(context, signal, (requestSignal) =>
			this.rest.patch(Routes.channel(threadId), { body, signal: requestSignal })
		)) as APIChannel;
	}
}

/**
 * Runs one request with a signal of its own that follows `signal`. The REST client adds an abort listener to the
 * signal of every request and never removes it: given a job's signal, a long job (a rebuild reads a message per
 * card) piles them up until Node warns of a leak. The request's own signal takes that listener and is dropped with it;
 * the one listener put on the job's signal here is removed when the request settles.
 */
async function withRequestSignal<T>(signal: AbortSignal | undefined, send: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
	if (signal === undefined) return send(undefined);
	const controller = new AbortController();
	const forward = () => {
		controller.abort(signal.reason);
	};
	if (signal.aborted) forward();
	else signal.addEventListener('abort', forward, { once: true });
	try {
		return await send(controller.signal);
	} finally {
		signal.removeEventListener('abort', forward);
	}
}

/** Orders messages by id, which is their creation order (snowflakes). */
export function compareSnowflakes(a: { id: string }, b: { id: string }): number {
	const left = BigInt(a.id);
	const right = BigInt(b.id);
	return left < right ? -1 : left > right ? 1 : 0;
}
