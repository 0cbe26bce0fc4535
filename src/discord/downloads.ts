import { open, rename, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import { fromFsError } from '../core/errors.js';
import type { AttachmentLocation, CallOptions, DownloadOptions, DownloadResult, DownloadTarget } from './archive-transport.js';
import { withBackoff, type BackoffPolicy } from './backoff.js';
import { CdnRangeError, CdnStallError, CdnStatusError, fetchFromCdn } from './cdn.js';
import { TransportError, TransportErrorCode, abortedError, isNetworkError } from './errors.js';
import type { LiveAttachment } from './messages.js';

/** How downloads retry and when they give up on a URL; see `DiscordTransportOptions`, which extends it. */
export interface DownloadSettings {
	/** Backoff for CDN downloads (5xx, resets, stalls). Default 5 tries, 500 ms doubling, ≤ 15 s. */
	readonly downloadRetry?: Partial<BackoffPolicy>;
	/** A download attempt that receives no byte for this long is aborted and retried. Default 60 s. */
	readonly downloadIdleTimeoutMs?: number;
	/** CDN URLs that expire within this margin are refreshed before use. Default 60 s. */
	readonly urlExpiryMarginMs?: number;
}

/** Fetches the attachment's message right now for a fresh URL (NOT_FOUND when the attachment is gone). */
export type ResolveAttachment = (location: AttachmentLocation, options: CallOptions) => Promise<LiveAttachment>;

const defaultDownloadRetry: BackoffPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 15_000 };
/** Fresh URLs asked for per download attempt when the CDN answers 403/404. */
const urlRefreshesPerAttempt = 2;

/**
 * The CDN half of the transport: verified downloads of attachments through their signed URLs. A URL about to
 * expire, or one the CDN refuses (403/404), is replaced by a fresh one from the attachment's message; 5xx, resets
 * and stalls are retried with backoff; every byte is hashed and counted on its way (see {@link fetchFromCdn}).
 */
export class AttachmentDownloads {
	readonly #policy: BackoffPolicy;
	readonly #idleTimeoutMs: number;
	readonly #urlExpiryMarginMs: number;
	readonly #resolve: ResolveAttachment;

	public constructor(settings: DownloadSettings, resolve: ResolveAttachment) {
		this.#policy = { ...defaultDownloadRetry, ...settings.downloadRetry };
		this.#idleTimeoutMs = settings.downloadIdleTimeoutMs ?? 60_000;
		this.#urlExpiryMarginMs = settings.urlExpiryMarginMs ?? 60_000;
		this.#resolve = resolve;
	}

	/** See {@link ArchiveTransport.downloadAttachment}. No Authorization header goes to the CDN. */
	public async download(location: AttachmentLocation, target: DownloadTarget, options: DownloadOptions = {}): Promise<DownloadResult> {
		const { signal, range } = options;
		if (range !== undefined) assertRange(range, options.expectedSize);
		let live: LiveAttachment | null = options.live ?? null;
		let streamTouched = false;
		const partFile = 'file' in target ? `${target.file}.part` : null;
		const where = { ...location };
		try {
			const result = await withBackoff(
				this.#policy,
				async () => {
					for (let refresh = 0; ; refresh++) {
						if (live === null || this.#isExpiring(live)) live = await this.#resolve(location, { signal });
						if (options.expectedSize !== undefined && live.size !== options.expectedSize) {
							throw new TransportError(
								TransportErrorCode.SizeMismatch,
								`Discord lists attachment ${location.attachmentId} (message ${location.messageId}) with ${live.size} bytes, the index recorded ${options.expectedSize}. It was replaced or the index is wrong: run a quick verify of this archive.`,
								where
							);
						}
						const sink = partFile === null ? (target as { stream: Writable }).stream : await openPartFile(partFile);
						try {
							const fetched = await fetchFromCdn(live.url, sink, {
								signal,
								expectedSize: range === undefined ? options.expectedSize : range.length,
								...(range === undefined ? {} : { range }),
								idleTimeoutMs: this.#idleTimeoutMs,
								onBytes: options.onProgress,
								onFirstWrite: () => {
									streamTouched = true;
								},
								where
							});
							if (partFile !== null) {
								sink.end();
								await finished(sink);
							}
							return fetched;
						} catch (error) {
							if (partFile !== null) sink.destroy();
							if (
								error instanceof CdnStatusError &&
								(error.status === 403 || error.status === 404) &&
								refresh < urlRefreshesPerAttempt
							) {
								live = null;
								continue;
							}
							throw error;
						}
					}
				},
				(error) => ({
					retry:
						!(error instanceof TransportError) && !streamTouchedBlocksRetry(target, streamTouched) && isRetryableCdnError(error, signal)
				}),
				signal
			);
			checkDownload(result, location, options);
			if (partFile !== null && 'file' in target) await rename(partFile, target.file);
			// The caller reads its own stream (and sees its errors): waiting for its finish could deadlock them.
			else if ('stream' in target) target.stream.end();
			return result;
		} catch (error) {
			if (partFile !== null) await rm(partFile, { force: true });
			throw downloadError(error, location, signal, 'file' in target ? target.file : undefined);
		}
	}

	#isExpiring(attachment: LiveAttachment): boolean {
		return attachment.expiresAt !== null && attachment.expiresAt.getTime() - this.#urlExpiryMarginMs <= Date.now();
	}
}

/** @throws TransportError SIZE_MISMATCH or HASH_MISMATCH. */
function checkDownload(result: DownloadResult, location: AttachmentLocation, options: DownloadOptions): void {
	const expected = options.range === undefined ? options.expectedSize : options.range.length;
	if (expected !== undefined && result.bytes !== expected) {
		throw new TransportError(
			TransportErrorCode.SizeMismatch,
			`Attachment ${location.attachmentId} (message ${location.messageId}) arrived with ${result.bytes} bytes, ${options.range === undefined ? 'the index recorded' : 'the range asked for'} ${expected}. Run a full verify of this archive.`,
			{ ...location }
		);
	}
	if (options.expectedSha256 !== undefined && result.sha256 !== options.expectedSha256.toLowerCase()) {
		throw new TransportError(
			TransportErrorCode.HashMismatch,
			`Attachment ${location.attachmentId} (message ${location.messageId}) does not have the recorded sha256: it was damaged on Discord's side or the index is wrong. Run a full verify of this archive; other chunks are unaffected.`,
			{ ...location }
		);
	}
}

/** Network and CDN failures become DOWNLOAD_FAILED; disk errors a CoreError (DISK_FULL) or themselves; the rest passes. */
function downloadError(error: unknown, location: AttachmentLocation, signal: AbortSignal | undefined, file: string | undefined): unknown {
	if (error instanceof TransportError) return error;
	if (signal?.aborted) return abortedError(error);
	if (isFsError(error)) return fromFsError(error, file ?? '(download target)');
	if (error instanceof CdnRangeError)
		return new TransportError(
			TransportErrorCode.DownloadFailed,
			`Reading part of attachment ${location.attachmentId} (message ${location.messageId}) failed: ${error.message} Download it whole instead.`,
			{ ...location, retryable: false },
			{ cause: error }
		);
	const status = error instanceof CdnStatusError ? error.status : undefined;
	if (status !== undefined || error instanceof CdnStallError || isNetworkError(error, signal)) {
		const reason = status === undefined ? describeNetworkFailure(error) : `HTTP ${status}`;
		return new TransportError(
			TransportErrorCode.DownloadFailed,
			`Downloading attachment ${location.attachmentId} (message ${location.messageId}) failed: ${reason}. Try again later; chunks already downloaded are kept.`,
			{ ...location, ...(status === undefined ? {} : { status }), retryable: true },
			{ cause: error }
		);
	}
	return error;
}

function isRetryableCdnError(error: unknown, signal: AbortSignal | undefined): boolean {
	if (error instanceof CdnStatusError) return error.status >= 500 || error.status === 429 || error.status === 408;
	return isNetworkError(error, signal) || error instanceof CdnStallError;
}

function streamTouchedBlocksRetry(target: DownloadTarget, touched: boolean): boolean {
	return 'stream' in target && touched;
}

/** @throws RangeError for a range that is empty, negative, or beyond the attachment's recorded size. */
function assertRange(range: { readonly offset: number; readonly length: number }, size: number | undefined): void {
	if (!Number.isSafeInteger(range.offset) || !Number.isSafeInteger(range.length) || range.offset < 0 || range.length < 1)
		throw new RangeError(`A range read needs a non-negative offset and a positive length, not ${range.offset}+${range.length}.`);
	if (size !== undefined && range.offset + range.length > size)
		throw new RangeError(`The range ${range.offset}+${range.length} runs past the attachment's ${size} bytes.`);
}

/** Opens `<file>.part` for writing; errors of the stream surface through `errored` and `finished`, never unhandled. */
async function openPartFile(path: string): Promise<Writable> {
	const handle = await open(path, 'w');
	const stream = handle.createWriteStream();
	stream.on('error', () => undefined);
	return stream;
}

/** An error from the file system (it names a syscall), as opposed to one from the network. */
function isFsError(error: unknown): error is NodeJS.ErrnoException {
	return error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string' && !isNetworkError(error);
}

/** Plain words for the network error codes a download meets (undici's and the system's); others are shown as they are. */
const NETWORK_FAILURES: Readonly<Record<string, string>> = {
	ETIMEDOUT: 'no data for too long',
	UND_ERR_SOCKET: 'the connection was cut off mid-download',
	ECONNRESET: 'the connection was reset',
	ECONNREFUSED: 'the connection was refused',
	UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
	EAI_AGAIN: 'the name could not be resolved (DNS)',
	ENOTFOUND: 'the host was not found (DNS)'
};

function describeNetworkFailure(error: unknown): string {
	for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
		const code = (current as NodeJS.ErrnoException).code;
		if (code !== undefined) return NETWORK_FAILURES[code] ?? code;
	}
	// A message may quote the signed URL: keep URLs out of error text.
	return error instanceof Error ? error.message.replace(/https?:\/\/\S+/g, '<url>') : 'unknown error';
}
