import { createHash } from 'node:crypto';
import type { EmulatorLimits } from './options.js';

/** What a rate-limit check decided: headers to send either way, and the 429 body when refused. */
export interface RateDecision {
	readonly headers: Record<string, string>;
	readonly refused: { retryAfterMs: number; global: boolean; scope: 'user' | 'global' | 'shared' } | null;
}

interface Bucket {
	remaining: number;
	resetAt: number;
}

/** Routes that share the per-channel message bucket (create and edit, as DISCORD.md records). */
const MESSAGE_ROUTES = new Set(['POST /channels/:channel/messages', 'PATCH /channels/:channel/messages/:message']);

/**
 * Discord's rate limits: a bucket per route and major parameter (channel, guild, webhook), the per-channel
 * message bucket (default 5 per 5 s — a thread is a channel, so each thread has its own), and the global
 * per-second limit. Answers carry the real `X-RateLimit-*` headers so discord.js paces itself.
 */
export class RateLimits {
	readonly #limits: () => EmulatorLimits;
	readonly #buckets = new Map<string, Bucket>();
	#global: Bucket = { remaining: 0, resetAt: 0 };

	public constructor(limits: () => EmulatorLimits) {
		this.#limits = limits;
	}

	/**
	 * Counts one request against its buckets.
	 * @param routeKey e.g. `POST /channels/:channel/messages`
	 * @param major the major parameter (channel, guild or webhook id), or `global`
	 */
	public take(routeKey: string, major: string, now = Date.now()): RateDecision {
		const limits = this.#limits();
		if (this.#global.resetAt <= now) this.#global = { remaining: limits.globalRequestsPerSecond, resetAt: now + 1000 };
		if (this.#global.remaining <= 0) {
			const retryAfterMs = this.#global.resetAt - now;
			return {
				headers: { 'Retry-After': seconds(retryAfterMs), 'X-RateLimit-Global': 'true', 'X-RateLimit-Scope': 'global' },
				refused: { retryAfterMs, global: true, scope: 'global' }
			};
		}
		const shared = MESSAGE_ROUTES.has(routeKey);
		const limit = shared ? limits.channelMessagesPerWindow : limits.routeRequestsPerSecond;
		const windowMs = shared ? limits.channelMessageWindowMs : 1000;
		const name = shared ? 'channel-messages' : routeKey;
		const hash = createHash('sha1').update(name).digest('hex').slice(0, 16);
		const key = `${hash}:${major}`;
		let bucket = this.#buckets.get(key);
		if (!bucket || bucket.resetAt <= now) {
			bucket = { remaining: limit, resetAt: now + windowMs };
			this.#buckets.set(key, bucket);
		}
		const resetAfterMs = bucket.resetAt - now;
		const headers: Record<string, string> = {
			'X-RateLimit-Limit': String(limit),
			'X-RateLimit-Reset': (bucket.resetAt / 1000).toFixed(3),
			'X-RateLimit-Reset-After': seconds(resetAfterMs),
			'X-RateLimit-Bucket': hash
		};
		if (bucket.remaining <= 0) {
			headers['X-RateLimit-Remaining'] = '0';
			headers['Retry-After'] = seconds(resetAfterMs);
			headers['X-RateLimit-Scope'] = 'user';
			return { headers, refused: { retryAfterMs: resetAfterMs, global: false, scope: 'user' } };
		}
		bucket.remaining--;
		this.#global.remaining--;
		headers['X-RateLimit-Remaining'] = String(bucket.remaining);
		this.#sweep(now);
		return { headers, refused: null };
	}

	#sweep(now: number): void {
		if (this.#buckets.size < 1000) return;
		for (const [key, bucket] of this.#buckets) if (bucket.resetAt <= now) this.#buckets.delete(key);
	}
}

function seconds(ms: number): string {
	return (Math.max(0, ms) / 1000).toFixed(3);
}

/** The body of a 429, as Discord words it. */
export function rateLimitBody(retryAfterMs: number, global: boolean): Record<string, unknown> {
	return { message: 'You are being rate limited.', retry_after: Math.max(0, retryAfterMs) / 1000, global };
}
