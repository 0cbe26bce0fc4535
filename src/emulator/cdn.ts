import { createHmac, timingSafeEqual } from 'node:crypto';

/** The route key of CDN downloads, as `stats.byRoute` counts them and fault `routes` name them. */
export const CDN_ROUTE_KEY = 'GET /attachments/:channel/:attachment/:filename';

/**
 * Signs and checks CDN attachment URLs the way Discord does: `?ex=<hex expiry>&is=<hex issued>&hm=<hex HMAC>`,
 * both times in Unix seconds. The signature covers the path and both times, so a URL cannot be extended or
 * pointed at another attachment; an expired or forged URL answers 404.
 */
export class CdnSigner {
	readonly #secret: Buffer;
	readonly #baseUrl: string;
	readonly #lifetimeMs: () => number;

	public constructor(secret: Buffer, baseUrl: string, lifetimeMs: () => number) {
		this.#secret = secret;
		this.#baseUrl = baseUrl;
		this.#lifetimeMs = lifetimeMs;
	}

	/** The path an attachment is served at: `/attachments/<channel>/<attachment>/<filename>`. */
	public static path(channelId: string, attachmentId: string, filename: string): string {
		return `/attachments/${channelId}/${attachmentId}/${encodeURIComponent(filename)}`;
	}

	/** A fresh signed URL for an attachment, valid for the configured lifetime from now. */
	public sign(channelId: string, attachmentId: string, filename: string, now = Date.now()): string {
		const path = CdnSigner.path(channelId, attachmentId, filename);
		const issued = Math.floor(now / 1000);
		const expires = Math.floor((now + this.#lifetimeMs()) / 1000);
		const ex = expires.toString(16);
		const is = issued.toString(16);
		return `${this.#baseUrl}${path}?ex=${ex}&is=${is}&hm=${this.#mac(path, ex, is)}&`;
	}

	/** Whether a request for `path` with this query carries a valid, unexpired signature. */
	public verify(path: string, query: URLSearchParams, now = Date.now()): boolean {
		const ex = query.get('ex');
		const is = query.get('is');
		const hm = query.get('hm');
		if (!ex || !is || !hm || !/^[0-9a-f]+$/.test(ex) || !/^[0-9a-f]+$/.test(is) || !/^[0-9a-f]{64}$/.test(hm)) return false;
		const expected = Buffer.from(this.#mac(path, ex, is), 'hex');
		if (!timingSafeEqual(expected, Buffer.from(hm, 'hex'))) return false;
		return Number.parseInt(ex, 16) * 1000 > now;
	}

	#mac(path: string, ex: string, is: string): string {
		return createHmac('sha256', this.#secret).update(`${path}\n${ex}\n${is}`).digest('hex');
	}
}
