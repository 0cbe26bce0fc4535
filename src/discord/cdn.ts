import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { noteBufferChurn } from '../core/memory.js';
import { TransportError, TransportErrorCode, abortedError } from './errors.js';

/** The CDN answered with an HTTP error status (no body is kept). */
export class CdnStatusError extends Error {
	public readonly status: number;

	public constructor(status: number) {
		super(`The CDN answered HTTP ${status}.`);
		this.name = 'CdnStatusError';
		this.status = status;
	}
}

/** The CDN did not answer a range request with that range (it sent the whole file, or other bytes). */
export class CdnRangeError extends Error {
	public constructor(status: number, contentRange: string | null) {
		super(`The CDN answered a range request with HTTP ${status}${contentRange === null ? '' : ` (${contentRange})`}, not the range asked for.`);
		this.name = 'CdnRangeError';
	}
}

/** No byte arrived for too long while downloading from the CDN. */
export class CdnStallError extends Error {
	public readonly code = 'ETIMEDOUT';

	public constructor(idleMs: number) {
		super(`No data from the CDN for ${idleMs} ms.`);
		this.name = 'CdnStallError';
	}
}

export interface CdnFetchOptions {
	readonly signal?: AbortSignal;
	/** Stop (SIZE_MISMATCH) as soon as more bytes than this arrive, or the announced length differs. */
	readonly expectedSize?: number;
	/** Abort the attempt when no byte arrives for this long. */
	readonly idleTimeoutMs: number;
	/** Called with the bytes received so far in this attempt, as they stream. */
	readonly onBytes?: (bytesSoFar: number) => void;
	/** Called once, right before the first byte is written to the sink. */
	readonly onFirstWrite?: () => void;
	/**
	 * Only these bytes of the attachment (`Range: bytes=offset-…`): the CDN must answer 206 with exactly this range,
	 * and `expectedSize` is then the range's length.
	 */
	readonly range?: { readonly offset: number; readonly length: number };
	/** Ids to name in errors. */
	readonly where: { readonly channelId: string; readonly messageId: string; readonly attachmentId: string };
}

export interface CdnFetchResult {
	readonly bytes: number;
	/** sha256 of the bytes received, lowercase hex. */
	readonly sha256: string;
}

/**
 * One GET of a signed CDN URL, streamed into `sink` while hashing and counting: memory stays at one network
 * chunk plus the sink's buffer. Sends no Authorization header. Does not end or destroy `sink`.
 *
 * @throws CdnStatusError on an HTTP error status; CdnStallError when the body stalls; TransportError
 * SIZE_MISMATCH when the length differs from `expectedSize`; TransportError ABORTED when `signal` aborts;
 * network errors from fetch as they come (the caller decides about retrying).
 */
export async function fetchFromCdn(url: string, sink: Writable, options: CdnFetchOptions): Promise<CdnFetchResult> {
	const controller = new AbortController();
	const onAbort = () => {
		controller.abort(options.signal?.reason);
	};
	if (options.signal?.aborted) throw abortedError(options.signal.reason);
	options.signal?.addEventListener('abort', onAbort, { once: true });
	let stalled = false;
	let releaseBody: (() => Promise<unknown>) | undefined;
	let idleTimer: NodeJS.Timeout | undefined;
	const armIdleTimer = () => {
		clearTimeout(idleTimer);
		idleTimer = setTimeout(() => {
			stalled = true;
			controller.abort();
		}, options.idleTimeoutMs);
	};
	try {
		armIdleTimer();
		const { range } = options;
		const response = await fetch(url, {
			signal: controller.signal,
			redirect: 'follow',
			headers: { Accept: '*/*', ...(range === undefined ? {} : { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` }) }
		});
		if (!response.ok || response.body === null) {
			await response.body?.cancel().catch(() => undefined);
			throw new CdnStatusError(response.status);
		}
		if (range !== undefined) {
			// A CDN that ignores the range sends the whole file (200), one that moves it another range: neither is taken.
			const served = /^bytes (\d+)-(\d+)\/(?:\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
			if (
				response.status !== 206 ||
				served === null ||
				Number(served[1]) !== range.offset ||
				Number(served[2]) !== range.offset + range.length - 1
			) {
				await response.body.cancel().catch(() => undefined);
				throw new CdnRangeError(response.status, response.headers.get('content-range'));
			}
		}
		const announced = response.headers.get('content-length');
		if (options.expectedSize !== undefined && announced !== null && Number(announced) !== options.expectedSize) {
			await response.body.cancel().catch(() => undefined);
			throw sizeMismatch(options, Number(announced), 'announces');
		}
		const hash = createHash('sha256');
		let bytes = 0;
		let firstWrite = true;
		// Node 20's fetch can leave a pending read unanswered when it is aborted after the whole body arrived
		// but before it was read: race every read against the abort so an abort always ends the loop.
		const reader = (response.body as ReadableStream<Uint8Array>).getReader();
		const aborted = new Promise<never>((_resolve, reject) => {
			if (controller.signal.aborted) reject(new DOMException('The download was aborted.', 'AbortError'));
			controller.signal.addEventListener(
				'abort',
				() => {
					reject(new DOMException('The download was aborted.', 'AbortError'));
				},
				{ once: true }
			);
		});
		aborted.catch(() => undefined);
		releaseBody = () => reader.cancel().catch(() => undefined);
		for (;;) {
			const { done, value: piece } = await Promise.race([reader.read(), aborted]);
			if (done) break;
			armIdleTimer();
			bytes += piece.byteLength;
			if (options.expectedSize !== undefined && bytes > options.expectedSize) {
				controller.abort();
				throw sizeMismatch(options, bytes, 'sent at least');
			}
			hash.update(piece);
			noteBufferChurn(piece.byteLength);
			if (firstWrite) {
				firstWrite = false;
				options.onFirstWrite?.();
			}
			if (sink.destroyed || sink.errored) throw sink.errored ?? new Error('The download target was closed.');
			if (!sink.write(piece)) await once(sink, 'drain', { signal: controller.signal });
			options.onBytes?.(bytes);
		}
		// An abort that came with the last bytes still means the caller asked to stop.
		if (options.signal?.aborted) throw abortedError(options.signal.reason);
		return { bytes, sha256: hash.digest('hex') };
	} catch (error) {
		void releaseBody?.();
		if (options.signal?.aborted) throw abortedError(error);
		// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the signal may abort while the fetch awaits; narrowing does not see that
		if (stalled) throw new CdnStallError(options.idleTimeoutMs);
		throw error;
	} finally {
		clearTimeout(idleTimer);
		options.signal?.removeEventListener('abort', onAbort);
	}
}

function sizeMismatch(options: CdnFetchOptions, actual: number, verb: string): TransportError {
	return new TransportError(
		TransportErrorCode.SizeMismatch,
		`Attachment ${options.where.attachmentId} (message ${options.where.messageId}) should hold ${options.expectedSize} bytes but the CDN ${verb} ${actual}. It was changed or damaged on Discord's side: run a full verify of this archive.`,
		{ ...options.where }
	);
}
