import type { ServerResponse } from 'node:http';
import { Transform, Writable } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmulatorError, EmulatorErrorCode } from './errors.js';

/**
 * Faults injected on request. Rates are shares in [0, 1] rolled per matching request; the `…Next` counters
 * make the next N matching requests fail for sure (and count down), which is what tests want.
 * `routes` limits every fault kind to route keys such as `POST /channels/:channel/messages` (the CDN's key is
 * `GET /attachments/:channel/:attachment/:filename`); null = all routes.
 */
export interface FaultSettings {
	/** Share of requests answered 500 before they are handled. */
	serverErrorRate: number;
	serverErrorNext: number;
	/** Share of requests answered 429 (a storm: shared scope, `retry_after` = rateLimitRetryAfterMs). */
	rateLimitRate: number;
	rateLimitNext: number;
	rateLimitRetryAfterMs: number;
	/** Milliseconds added before every REST and CDN request is handled. */
	latencyMs: number;
	/** Upload (request body) bandwidth cap, bytes per second; 0 = none. */
	uploadBytesPerSec: number;
	/** CDN download bandwidth cap, bytes per second; 0 = none. */
	downloadBytesPerSec: number;
	/** Share of committing requests (a message stored) whose connection is dropped instead of answered. */
	dropAfterCommitRate: number;
	dropAfterCommitNext: number;
	/** Share of requests with a body whose connection is reset half way through the body. */
	resetMidBodyRate: number;
	resetMidBodyNext: number;
	/**
	 * Share of CDN downloads (GET with at least 2 body bytes) whose connection is closed after half the body
	 * (of the range, for a `Range` request): the client gets `Content-Length` announced and fewer bytes.
	 */
	cdnResetMidBodyRate: number;
	cdnResetMidBodyNext: number;
	routes: string[] | null;
	/**
	 * Seeds the dice of every `…Rate` (a small deterministic generator, restarted each time a seed is set), so a
	 * run can be repeated with the same rolls in the same order of requests; 0 = unseeded (`Math.random`).
	 */
	seed: number;
}

export type FaultKind = 'serverError' | 'rateLimit' | 'dropAfterCommit' | 'resetMidBody' | 'cdnResetMidBody';

export const NO_FAULTS: Readonly<FaultSettings> = Object.freeze({
	serverErrorRate: 0,
	serverErrorNext: 0,
	rateLimitRate: 0,
	rateLimitNext: 0,
	rateLimitRetryAfterMs: 1000,
	latencyMs: 0,
	uploadBytesPerSec: 0,
	downloadBytesPerSec: 0,
	dropAfterCommitRate: 0,
	dropAfterCommitNext: 0,
	resetMidBodyRate: 0,
	resetMidBodyNext: 0,
	cdnResetMidBodyRate: 0,
	cdnResetMidBodyNext: 0,
	routes: null,
	seed: 0
});

const RATES = new Set(['serverErrorRate', 'rateLimitRate', 'dropAfterCommitRate', 'resetMidBodyRate', 'cdnResetMidBodyRate']);

/** The fault switchboard of one emulator. */
export class Faults {
	#settings: FaultSettings = { ...NO_FAULTS };
	readonly #unseeded: () => number;
	#random: () => number;
	/** How many faults of each kind actually hit a request (since start or the last stats reset). */
	public injected: Record<FaultKind, number> = Faults.#zero();
	/** The same, per route key (`POST /interactions/:interaction/:token/callback`…): only routes some fault hit. */
	public injectedByRoute: Record<string, Record<FaultKind, number>> = {};

	static #zero(): Record<FaultKind, number> {
		return { serverError: 0, rateLimit: 0, dropAfterCommit: 0, resetMidBody: 0, cdnResetMidBody: 0 };
	}

	public resetCounts(): void {
		this.injected = Faults.#zero();
		this.injectedByRoute = {};
	}

	public constructor(random: () => number = Math.random) {
		this.#unseeded = random;
		this.#random = random;
	}

	public get settings(): Readonly<FaultSettings> {
		return this.#settings;
	}

	/**
	 * Changes some settings, keeps the others, and returns what is now in force.
	 * @throws EmulatorError `EMULATOR_INVALID_OPTION` naming every bad field (nothing is changed then).
	 */
	public set(patch: Record<string, unknown>): FaultSettings {
		const next: FaultSettings = { ...this.#settings };
		const problems: string[] = [];
		for (const [key, value] of Object.entries(patch)) {
			if (!(key in NO_FAULTS)) {
				problems.push(`unknown fault "${key}" (known: ${Object.keys(NO_FAULTS).join(', ')})`);
				continue;
			}
			if (key === 'routes') {
				if (value === null || (Array.isArray(value) && value.every((entry) => typeof entry === 'string'))) next.routes = value;
				else problems.push('routes must be null or an array of route keys such as "POST /channels/:channel/messages"');
				continue;
			}
			if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (RATES.has(key) && value > 1)) {
				problems.push(`${key} must be ${RATES.has(key) ? 'a share between 0 and 1' : 'a number ≥ 0'}, got ${JSON.stringify(value)}`);
				continue;
			}
			(next as unknown as Record<string, number>)[key] = RATES.has(key) ? value : Math.floor(value);
		}
		if (problems.length > 0) throw new EmulatorError(EmulatorErrorCode.InvalidOption, `Invalid faults: ${problems.join('; ')}.`);
		this.#settings = next;
		if ('seed' in patch) this.#random = next.seed === 0 ? this.#unseeded : seededRandom(next.seed);
		return { ...next };
	}

	public reset(): FaultSettings {
		this.#settings = { ...NO_FAULTS };
		this.#random = this.#unseeded;
		return { ...this.#settings };
	}

	/** Whether a fault of this kind hits this request now (consuming one `…Next` if it does). */
	public roll(kind: FaultKind, routeKey: string): boolean {
		const settings = this.#settings;
		if (settings.routes !== null && !settings.routes.includes(routeKey)) return false;
		const nextKey = `${kind}Next` as const;
		if (settings[nextKey] > 0) {
			settings[nextKey]--;
			this.#count(kind, routeKey);
			return true;
		}
		const rate = settings[`${kind}Rate`];
		const hit = rate > 0 && this.#random() < rate;
		if (hit) this.#count(kind, routeKey);
		return hit;
	}

	#count(kind: FaultKind, routeKey: string): void {
		this.injected[kind]++;
		(this.injectedByRoute[routeKey] ??= Faults.#zero())[kind]++;
	}
}

/** mulberry32: a small, fast, well-spread generator of numbers in [0, 1) from a 32-bit seed. */
function seededRandom(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let value = state;
		value = Math.imul(value ^ (value >>> 15), value | 1);
		value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
		return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
	};
}

/**
 * A pass-through that holds bytes back to a rate (bytes per second). Memory stays at one chunk: the
 * source is paused by back-pressure while the stage waits.
 */
export class BandwidthCap extends Transform {
	readonly #bytesPerSec: number;
	#startedAt = 0;
	#sent = 0;

	public constructor(bytesPerSec: number) {
		super();
		this.#bytesPerSec = bytesPerSec;
	}

	public override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
		if (this.#startedAt === 0) this.#startedAt = Date.now();
		this.#sent += chunk.length;
		const due = this.#startedAt + (this.#sent / this.#bytesPerSec) * 1000;
		const wait = due - Date.now();
		if (wait <= 0) {
			callback(null, chunk);
			return;
		}
		sleep(wait).then(
			() => {
				callback(null, chunk);
			},
			(error: unknown) => {
				callback(error as Error);
			}
		);
	}
}

/**
 * The last stage of a CDN response that is to be cut: writes what it is given into the response and, once that
 * source has ended (it holds only the bytes before the cut) and those bytes went out to the socket, closes the
 * connection without finishing the response. The client sees the announced `Content-Length` and fewer bytes.
 * Memory stays at one chunk: each write waits until the response took it.
 */
export class CutResponse extends Writable {
	readonly #response: ServerResponse;

	public constructor(response: ServerResponse) {
		super();
		this.#response = response;
	}

	public override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
		const response = this.#response;
		if (response.destroyed) {
			callback(new Error('The client closed the connection.'));
			return;
		}
		let settled = false;
		const settle = (error?: Error | null) => {
			if (settled) return;
			settled = true;
			response.off('close', onClose);
			callback(error ?? null);
		};
		const onClose = () => {
			settle(new Error('The client closed the connection.'));
		};
		response.once('close', onClose);
		response.write(chunk, settle);
	}

	public override _final(callback: (error?: Error | null) => void): void {
		this.#response.destroy();
		callback();
	}
}
