import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { CdnSigner } from './cdn.js';
import type { Faults } from './faults.js';
import type { Gateway } from './gateway.js';
import type { Interactions } from './interactions.js';
import type { EmulatorLimits } from './options.js';
import type { Payloads } from './payloads.js';
import type { World } from './world.js';

/** Counters behind `GET /_emu/stats`. */
export class Stats {
	public requests = 0;
	public byRoute: Record<string, number> = {};
	public status429 = 0;
	public status5xx = 0;
	/** Body bytes the CDN was asked to send (whole attachments and ranges). */
	public cdnBytes = 0;
	public unknownRoutes: string[] = [];

	public count(routeKey: string): void {
		this.byRoute[routeKey] = (this.byRoute[routeKey] ?? 0) + 1;
	}

	public reset(): void {
		this.requests = 0;
		this.byRoute = {};
		this.status429 = 0;
		this.status5xx = 0;
		this.cdnBytes = 0;
		this.unknownRoutes = [];
	}
}

/** Remembers `nonce`s sent with `enforce_nonce` so a repeat within the window returns the first message. */
export class NonceRegistry {
	readonly #entries = new Map<string, { messageId: string; expiresAt: number }>();

	public find(channelId: string, authorId: string, nonce: string | number, now = Date.now()): string | undefined {
		const entry = this.#entries.get(`${channelId}:${authorId}:${nonce}`);
		if (!entry || entry.expiresAt <= now) return undefined;
		return entry.messageId;
	}

	public remember(channelId: string, authorId: string, nonce: string | number, messageId: string, windowMs: number, now = Date.now()): void {
		if (this.#entries.size > 10_000) for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
		this.#entries.set(`${channelId}:${authorId}:${nonce}`, { messageId, expiresAt: now + windowMs });
	}
}

/** Everything a route handler can reach: the world and the services around it. */
export interface Emulation {
	readonly world: World;
	readonly payloads: Payloads;
	readonly cdn: CdnSigner;
	readonly faults: Faults;
	readonly stats: Stats;
	readonly nonces: NonceRegistry;
	readonly interactions: Interactions;
	readonly gateway: Gateway;
	/** The limits in force (mutable through the control API). */
	limits: EmulatorLimits;
	/** `http://127.0.0.1:<port>` */
	readonly baseUrl: string;
}

/** One REST request as a route handler sees it. */
export interface RestContext {
	readonly emu: Emulation;
	readonly method: string;
	readonly routeKey: string;
	readonly params: Readonly<Record<string, string>>;
	readonly query: URLSearchParams;
	readonly headers: IncomingHttpHeaders;
	/** The request body (already wrapped by upload faults). Read it at most once. */
	readonly body: Readable;
}

/** What a route answers. `committed` marks a request that stored something (drop-after-commit applies to it). */
export interface Reply {
	readonly status: number;
	readonly body?: unknown;
	readonly committed?: boolean;
}

export type RouteHandler = (context: RestContext) => Reply | Promise<Reply>;

export interface RestRoute {
	readonly method: string;
	/** Path under `/api/v10`, with `:name` segments, e.g. `/channels/:channel/messages/:message`. */
	readonly pattern: string;
	/** Whether the bot token is required (interaction callbacks and webhooks use the token in the path). */
	readonly auth: boolean;
	/** Whether the route has rate-limit buckets (interaction callbacks do not). */
	readonly rateLimited: boolean;
	readonly handler: RouteHandler;
}

export const reply = {
	json: (body: unknown, status = 200, committed = false): Reply => ({ status, body, committed }),
	noContent: (committed = false): Reply => ({ status: 204, committed })
};
