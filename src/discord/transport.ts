import { open, rename, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import { MessageFlags, REST, Routes, makeURLSearchParams } from 'discord.js';
import type { APIChannel, APIMessage, RESTPostAPIChannelMessageJSONBody, RawFile } from 'discord.js';
import { withBackoff, type BackoffPolicy } from './backoff.js';
import { CdnStallError, CdnStatusError, fetchFromCdn } from './cdn.js';
import { fromFsError } from '../core/errors.js';
import { DiscordCode, TransportError, TransportErrorCode, abortedError, fromRestError, isNetworkError, type OperationContext } from './errors.js';
import {
	toLiveMessage,
	type AttachmentRecord,
	type CardBody,
	type ChunkMessageRecord,
	type LiveAttachment,
	type LiveMessage,
	type MessageRecord,
	type ThreadSummary
} from './messages.js';
import { assertNonce, randomNonce } from './nonce.js';

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

/** Auto-archive durations Discord accepts for threads, in minutes. */
export type ThreadAutoArchiveMinutes = 60 | 1440 | 4320 | 10080;

export interface DiscordTransportOptions {
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
	/** Backoff while the guild holds the maximum of active threads (160006). Default 5 tries, 15 s doubling, ≤ 2 min. */
	readonly threadCapRetry?: Partial<BackoffPolicy>;
	/** Backoff for CDN downloads (5xx, resets, stalls). Default 5 tries, 500 ms doubling, ≤ 15 s. */
	readonly downloadRetry?: Partial<BackoffPolicy>;
	/** A download attempt that receives no byte for this long is aborted and retried. Default 60 s. */
	readonly downloadIdleTimeoutMs?: number;
	/** CDN URLs that expire within this margin are refreshed before use. Default 60 s. */
	readonly urlExpiryMarginMs?: number;
	/**
	 * The per-attachment limit of the server, checked before sending (ATTACHMENT_TOO_LARGE without a request).
	 * Default: none — Discord's 413 decides.
	 */
	readonly attachmentLimit?: number;
}

/** A file to attach to a message. */
export interface OutgoingFile {
	/** The attachment's file name (opaque for chunks: `241126-07.c000042.3fa9c0d1e2b4.bin`). */
	readonly name: string;
	readonly data: Uint8Array;
}

/** Options every call takes. */
export interface CallOptions {
	readonly signal?: AbortSignal;
}

export interface PostChunkInput extends CallOptions {
	/** The archive's thread. */
	readonly threadId: string;
	/** The chunk attachment(s): usually one. */
	readonly files: readonly OutgoingFile[];
	/** A short, non-secret line such as `chunk 42/130 · #241126-07`. */
	readonly content: string;
	/** The deterministic nonce of this post (see `chunkNonce`); reused by every retry. */
	readonly nonce: string;
	/** Called with the bytes sent once Discord accepted the message. */
	readonly onProgress?: (bytesSent: number) => void;
}

export interface PostMessageOptions extends CallOptions {
	/** A nonce for this post; a random one is used when absent. Either way every retry reuses it. */
	readonly nonce?: string;
}

export interface UploadFileInput extends PostMessageOptions {
	readonly file: OutgoingFile;
	/** A line to go with the file. */
	readonly content?: string;
	/** Called with the bytes sent once Discord accepted the message. */
	readonly onProgress?: (bytesSent: number) => void;
}

export interface StartThreadInput extends CallOptions {
	/** The channel holding the starter message (the archive channel). */
	readonly channelId: string;
	/** The starter message (the card); the thread gets its id. */
	readonly messageId: string;
	/** 1–100 characters. */
	readonly name: string;
	/** Default 10080 (a week); the upload job archives the thread itself when done. */
	readonly autoArchiveMinutes?: ThreadAutoArchiveMinutes;
}

/** A thread as Discord reports it. */
export interface ThreadInfo extends ThreadSummary {
	readonly parentId: string | null;
	readonly locked: boolean;
	/** Messages in the thread as Discord counts them (approximate for old threads), when reported. */
	readonly messageCount: number | null;
}

export interface PageOptions extends CallOptions {
	/** Start after (oldest-first) or before (newest-first) this message id; default: the very beginning or end. */
	readonly from?: string;
}

/** Where an attachment lives, as the index records it. */
export interface AttachmentLocation {
	readonly channelId: string;
	readonly messageId: string;
	readonly attachmentId: string;
}

/** Where downloaded bytes go: a file path (written as `<path>.part`, renamed when verified) or a stream. */
export type DownloadTarget = { readonly file: string } | { readonly stream: Writable };

export interface DownloadOptions extends CallOptions {
	/** The size the index recorded; checked before and while downloading. */
	readonly expectedSize?: number;
	/** The sha256 (hex) the index recorded; checked at the end. */
	readonly expectedSha256?: string;
	/** An attachment just listed by paging the thread: its URL is tried first, saving one request. */
	readonly live?: LiveAttachment;
	/** Called with the bytes received so far, as they stream (restarts from 0 if an attempt is retried). */
	readonly onProgress?: (bytesSoFar: number) => void;
}

export interface DownloadResult {
	readonly bytes: number;
	/** sha256 of the bytes, lowercase hex. */
	readonly sha256: string;
}

const defaultRetry: BackoffPolicy = { attempts: 4, baseDelayMs: 1000, maxDelayMs: 30_000 };
const defaultThreadCapRetry: BackoffPolicy = { attempts: 5, baseDelayMs: 15_000, maxDelayMs: 120_000 };
const defaultDownloadRetry: BackoffPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 15_000 };
/** Messages searched, newest first, for a chunk post whose answer was lost (a few uploads run into one thread at most). */
const LANDED_POST_SEARCH = 50;
/** Fresh URLs asked for per download attempt when the CDN answers 403/404. */
const urlRefreshesPerAttempt = 2;

/**
 * Discord as a blob transport, over discord.js's REST client (no gateway): chunk messages with attachments in
 * archive threads, paging, fresh attachment URLs and verified downloads, card messages, threads, and the log
 * channel. Rate limits (429) are waited out by the REST client, which also runs requests to one channel one at
 * a time; 5xx and network failures are retried with backoff on top, and every message post carries a nonce with
 * `enforce_nonce` so a retry never posts twice. Every method takes an AbortSignal.
 *
 * Every method throws {@link TransportError} for failures a user can meet (see its codes); a `RangeError` means
 * the caller passed something Discord would refuse anyway.
 */
export class DiscordTransport {
	/** The REST client in use (shared or owned). */
	public readonly rest: REST;
	private readonly ownsRest: boolean;
	private readonly retryPolicy: BackoffPolicy;
	private readonly threadCapPolicy: BackoffPolicy;
	private readonly downloadPolicy: BackoffPolicy;
	private readonly downloadIdleTimeoutMs: number;
	private readonly urlExpiryMarginMs: number;
	private readonly attachmentLimit: number | undefined;
	/** The bot's own user id once Discord told it (see {@link DiscordTransport.selfUserId}). */
	private selfId: string | undefined;

	/** @throws RangeError when neither `rest` nor `token` is given. */
	public constructor(options: DiscordTransportOptions) {
		if (options.rest) {
			this.rest = options.rest;
			this.ownsRest = false;
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
			this.ownsRest = true;
		}
		this.retryPolicy = { ...defaultRetry, ...options.retry };
		this.threadCapPolicy = { ...defaultThreadCapRetry, ...options.threadCapRetry };
		this.downloadPolicy = { ...defaultDownloadRetry, ...options.downloadRetry };
		this.downloadIdleTimeoutMs = options.downloadIdleTimeoutMs ?? 60_000;
		this.urlExpiryMarginMs = options.urlExpiryMarginMs ?? 60_000;
		this.attachmentLimit = options.attachmentLimit;
	}

	/**
	 * The bot's own user id (`GET /users/@me`), asked once and cached: code reading threads keeps only the bot's own
	 * posts, never "any bot" (another bot or a webhook of the guild is a bot too). A lost answer is retried with
	 * backoff like any request; when every try fails this throws and the next call asks again — there is no fallback.
	 *
	 * @throws TransportError DISCORD_UNAVAILABLE (after backoff, or an answer without an id), MISSING_PERMISSIONS,
	 * RATE_LIMITED, ABORTED.
	 */
	public async selfUserId(options: CallOptions = {}): Promise<string> {
		if (this.selfId !== undefined) return this.selfId;
		const context = { action: 'read the bot user (/users/@me)' };
		const me = (await this.call(context, options.signal, (signal) => this.rest.get(Routes.user('@me'), { signal }))) as { id?: unknown };
		if (typeof me.id !== 'string' || !/^\d{1,20}$/.test(me.id)) {
			throw new TransportError(TransportErrorCode.DiscordUnavailable, 'Discord answered /users/@me without the bot user id. Try again later.', {
				retryable: true
			});
		}
		this.selfId = me.id;
		return me.id;
	}

	/** Stops the REST client's timers if this transport created it. Requests in flight still finish. */
	public close(): void {
		if (!this.ownsRest) return;
		this.rest.clearHashSweeper();
		this.rest.clearHandlerSweeper();
	}

	// ---- chunk messages -------------------------------------------------------------------------------------

	/**
	 * Posts one chunk message into an archive thread: the attachment(s), a short content line, and `nonce` with
	 * `enforce_nonce`, so that a post retried (by the REST client or by this layer's backoff) or repeated within
	 * Discord's dedup window returns the message that already landed. Posting into an archived thread reopens it.
	 *
	 * The record's attachments are what Discord holds: if Discord returned an earlier message for this nonce whose
	 * attachments differ from `files` (a chunk sealed again after a crash), `matchesSent` is false. When every try lost
	 * its answer (the post may have landed), the thread's newest messages are searched for the oldest one posted by the
	 * bot itself with exactly these attachments (names, sizes and sha256 of the bytes) before DISCORD_UNAVAILABLE is thrown: a post that landed is returned, never failed.
	 *
	 * @throws TransportError ATTACHMENT_TOO_LARGE (413/40005 or over `attachmentLimit`; not retried),
	 * MISSING_PERMISSIONS, NOT_FOUND (thread gone), DISCORD_UNAVAILABLE (after backoff), RATE_LIMITED, ABORTED.
	 * @throws RangeError for an invalid nonce, no files, too many files or too long content.
	 */
	public async postChunk(input: PostChunkInput): Promise<ChunkMessageRecord & { readonly matchesSent: boolean }> {
		assertNonce(input.nonce);
		const names = input.files.map((file) => file.name).join(', ');
		const context: OperationContext = { action: `post chunk ${names} into thread ${input.threadId}`, channelId: input.threadId };
		let message: { readonly channel_id: string; readonly id: string; readonly attachments: readonly AttachmentRecord[] };
		try {
			message = await this.createMessage(
				input.threadId,
				{ content: input.content, flags: MessageFlags.SuppressNotifications },
				input.files,
				input.nonce,
				context,
				input.signal
			);
		} catch (error) {
			// Every try lost its answer (or Discord stayed unreachable): the post may well have landed. Look before failing.
			if (!(error instanceof TransportError) || error.code !== TransportErrorCode.DiscordUnavailable) throw error;
			const landed = await this.findLandedPost(input.threadId, input.files, input.signal).catch(() => null);
			if (landed === null) throw error;
			message = { channel_id: landed.channelId, id: landed.id, attachments: landed.attachments };
		}
		const bytes = input.files.reduce((sum, file) => sum + file.data.byteLength, 0);
		input.onProgress?.(bytes);
		const attachments = message.attachments.map(attachmentRecord);
		const matchesSent =
			attachments.length === input.files.length &&
			input.files.every((file, index) => attachments[index]?.filename === file.name && attachments[index]?.size === file.data.byteLength);
		return { channelId: message.channel_id, messageId: message.id, attachments, nonce: input.nonce, bytes, matchesSent };
	}

	// ---- reading channels and threads -----------------------------------------------------------------------

	/**
	 * Fetches one message, with fresh attachment URLs.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	public async fetchMessage(channelId: string, messageId: string, options: CallOptions = {}): Promise<LiveMessage> {
		const context = { action: `fetch message ${messageId} in channel ${channelId}`, channelId, messageId };
		const message = (await this.call(context, options.signal, (signal) =>
			this.rest.get(Routes.channelMessage(channelId, messageId), { signal })
		)) as APIMessage;
		return toLiveMessage(message);
	}

	/**
	 * Every message of a channel or thread, oldest first, fetched 100 at a time (`after`), each with live
	 * attachment URLs (use them at once), embeds and the thread started from it. Stops early if the consumer
	 * stops iterating.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	public async *pageMessages(channelId: string, options: PageOptions = {}): AsyncGenerator<LiveMessage, void, undefined> {
		// The oldest possible message of a channel is younger than the channel: start just below its id (a
		// strict `after`, and a valid snowflake where `0` is refused by strict implementations).
		let after = options.from ?? (BigInt(channelId) - 1n).toString();
		for (;;) {
			const page = await this.fetchPage(channelId, { after }, options.signal);
			page.sort(compareSnowflakes);
			for (const message of page) yield toLiveMessage(message);
			const last = page.at(-1);
			if (last === undefined || page.length < DiscordLimits.pageSize) return;
			after = last.id;
		}
	}

	/**
	 * Messages of a channel or thread, newest first (`before`), 100 per request: for finding the newest index
	 * backup in the log channel or the latest cards. Stops early if the consumer stops iterating.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	public async *pageMessagesNewestFirst(channelId: string, options: PageOptions = {}): AsyncGenerator<LiveMessage, void, undefined> {
		let before = options.from;
		for (;;) {
			const page = await this.fetchPage(channelId, before === undefined ? {} : { before }, options.signal);
			page.sort((a, b) => compareSnowflakes(b, a));
			for (const message of page) yield toLiveMessage(message);
			const last = page.at(-1);
			if (last === undefined || page.length < DiscordLimits.pageSize) return;
			before = last.id;
		}
	}

	/**
	 * The most recent messages of a channel, newest first, at most `limit` (default 100).
	 *
	 * @throws TransportError as {@link DiscordTransport.pageMessagesNewestFirst}.
	 */
	public async recentMessages(channelId: string, options: PageOptions & { readonly limit?: number } = {}): Promise<LiveMessage[]> {
		const limit = options.limit ?? DiscordLimits.pageSize;
		const messages: LiveMessage[] = [];
		if (limit <= 0) return messages;
		for await (const message of this.pageMessagesNewestFirst(channelId, options)) {
			messages.push(message);
			if (messages.length >= limit) break;
		}
		return messages;
	}

	// ---- downloads ------------------------------------------------------------------------------------------

	/**
	 * The attachment with a fresh URL: fetches its message right now.
	 *
	 * @throws TransportError NOT_FOUND (message gone, or no attachment with that id), MISSING_PERMISSIONS,
	 * DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	public async resolveAttachment(location: AttachmentLocation, options: CallOptions = {}): Promise<LiveAttachment> {
		const message = await this.fetchMessage(location.channelId, location.messageId, options);
		const attachment = message.attachments.find((candidate) => candidate.id === location.attachmentId);
		if (attachment === undefined) {
			throw new TransportError(
				TransportErrorCode.NotFound,
				`Message ${location.messageId} in channel ${location.channelId} no longer holds attachment ${location.attachmentId}. Run a quick verify of this archive.`,
				{ ...location }
			);
		}
		return attachment;
	}

	/**
	 * Downloads one attachment, streaming it to a file or a Writable while hashing (sha256) and counting bytes.
	 * The URL comes from `options.live` when it is not about to expire, else from fetching the message right now;
	 * on 403/404 from the CDN the message is fetched again for a fresh URL; 5xx, resets and stalls are retried
	 * with backoff. No Authorization header goes to the CDN.
	 *
	 * A file target is written as `<file>.part` and renamed to `<file>` only once size and hash match; on failure
	 * nothing is left behind. A stream target is not ended on failure, and an attempt that already wrote bytes into
	 * it is not retried (the bytes cannot be taken back): DOWNLOAD_FAILED then. It is ended on success (not waited for:
	 * consume it concurrently, as a pipeline does).
	 *
	 * @throws TransportError SIZE_MISMATCH, HASH_MISMATCH (not retried), DOWNLOAD_FAILED (retries used up),
	 * NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED; CoreError DISK_FULL when the disk
	 * is full; other file-system errors as they are; errors of a stream target as they are.
	 */
	public async downloadAttachment(location: AttachmentLocation, target: DownloadTarget, options: DownloadOptions = {}): Promise<DownloadResult> {
		const { signal } = options;
		let live: LiveAttachment | null = options.live ?? null;
		let streamTouched = false;
		const partFile = 'file' in target ? `${target.file}.part` : null;
		const where = { ...location };
		try {
			const result = await withBackoff(
				this.downloadPolicy,
				async () => {
					for (let refresh = 0; ; refresh++) {
						if (live === null || this.isExpiring(live)) live = await this.resolveAttachment(location, { signal });
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
								expectedSize: options.expectedSize,
								idleTimeoutMs: this.downloadIdleTimeoutMs,
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
			this.checkDownload(result, location, options);
			if (partFile !== null && 'file' in target) await rename(partFile, target.file);
			// The caller reads its own stream (and sees its errors): waiting for its finish could deadlock them.
			else if ('stream' in target) target.stream.end();
			return result;
		} catch (error) {
			if (partFile !== null) await rm(partFile, { force: true });
			throw this.downloadError(error, location, signal, 'file' in target ? target.file : undefined);
		}
	}

	// ---- cards and log lines --------------------------------------------------------------------------------

	/**
	 * Posts a card (embeds + components as Discord API JSON) in a channel, with a nonce so a retry does not post
	 * it twice.
	 *
	 * @throws TransportError MISSING_PERMISSIONS, NOT_FOUND, REQUEST_REJECTED (Discord refused the body),
	 * DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	public async postCard(channelId: string, body: CardBody, options: PostMessageOptions = {}): Promise<MessageRecord> {
		const context = { action: `post a card in channel ${channelId}`, channelId };
		const message = await this.createMessage(channelId, cardJson(body), [], options.nonce ?? randomNonce(), context, options.signal);
		return { channelId: message.channel_id, messageId: message.id, attachments: message.attachments.map(attachmentRecord) };
	}

	/**
	 * Replaces a card's content, embeds and components (fields left out of `body` are left as they are). A card
	 * inside an archived thread (50083) gets the thread reopened and the edit retried once.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, THREAD_ARCHIVED, REQUEST_REJECTED, DISCORD_UNAVAILABLE,
	 * RATE_LIMITED, ABORTED.
	 */
	public async editCard(channelId: string, messageId: string, body: CardBody, options: CallOptions = {}): Promise<void> {
		const context = { action: `edit message ${messageId} in channel ${channelId}`, channelId, messageId };
		await this.callInThread(context, options.signal, (signal) =>
			this.rest.patch(Routes.channelMessage(channelId, messageId), { body: cardJson(body), signal })
		);
	}

	/**
	 * Posts a plain line (no mentions) in a channel, e.g. the log channel.
	 *
	 * @throws TransportError as {@link DiscordTransport.postCard}.
	 */
	public async postLine(channelId: string, content: string, options: PostMessageOptions = {}): Promise<MessageRecord> {
		const context = { action: `post a line in channel ${channelId}`, channelId };
		const message = await this.createMessage(channelId, { content }, [], options.nonce ?? randomNonce(), context, options.signal);
		return { channelId: message.channel_id, messageId: message.id, attachments: [] };
	}

	/**
	 * Uploads one file (an index backup) to a channel, with an optional line.
	 *
	 * @throws TransportError ATTACHMENT_TOO_LARGE and as {@link DiscordTransport.postCard}.
	 */
	public async uploadFile(channelId: string, input: UploadFileInput): Promise<MessageRecord & { readonly bytes: number }> {
		const context = { action: `upload ${input.file.name} to channel ${channelId}`, channelId };
		const message = await this.createMessage(
			channelId,
			{ content: input.content ?? '' },
			[input.file],
			input.nonce ?? randomNonce(),
			context,
			input.signal
		);
		input.onProgress?.(input.file.data.byteLength);
		return {
			channelId: message.channel_id,
			messageId: message.id,
			attachments: message.attachments.map(attachmentRecord),
			bytes: input.file.data.byteLength
		};
	}

	// ---- threads --------------------------------------------------------------------------------------------

	/**
	 * Starts a public thread from a message (the card); the thread's id is the message's id. If the guild holds
	 * the maximum of active threads (160006) it waits and tries again with backoff, bounded. Starting a thread
	 * that already exists for this message (a retried request) returns that thread.
	 *
	 * @throws TransportError TOO_MANY_ACTIVE_THREADS (after waiting), MISSING_PERMISSIONS, NOT_FOUND,
	 * DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 * @throws RangeError when the name is empty or longer than 100 characters.
	 */
	public async startThread(input: StartThreadInput): Promise<ThreadInfo> {
		if (input.name.length === 0 || input.name.length > DiscordLimits.threadName) {
			throw new RangeError(`A thread name must have 1 to ${DiscordLimits.threadName} characters, got ${input.name.length}.`);
		}
		const context = { action: `start a thread on message ${input.messageId} in channel ${input.channelId}`, channelId: input.channelId };
		const body = { name: input.name, auto_archive_duration: input.autoArchiveMinutes ?? 10080 };
		try {
			const thread = await withBackoff(
				this.threadCapPolicy,
				async () =>
					(await this.call(context, input.signal, (signal) =>
						this.rest.post(Routes.threads(input.channelId, input.messageId), { body, signal })
					)) as APIChannel,
				(error) => ({ retry: error instanceof TransportError && error.code === TransportErrorCode.TooManyActiveThreads }),
				input.signal
			);
			return threadInfo(thread);
		} catch (error) {
			if (error instanceof TransportError && error.discordCode === DiscordCode.ThreadAlreadyCreatedForMessage) {
				return this.fetchThread(input.messageId, { signal: input.signal });
			}
			throw error;
		}
	}

	/**
	 * A thread's state (name, archived, locked, parent).
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	public async fetchThread(threadId: string, options: CallOptions = {}): Promise<ThreadInfo> {
		const context = { action: `fetch thread ${threadId}`, channelId: threadId };
		return threadInfo((await this.call(context, options.signal, (signal) => this.rest.get(Routes.channel(threadId), { signal }))) as APIChannel);
	}

	/**
	 * Sets a thread's `archived` and/or `locked` in one PATCH. A locked thread takes posts only from members with
	 * Manage Threads (the bot has it), and only they may unarchive it: an archive's thread is left archived and
	 * locked when its upload ends, so nobody else can slip messages into it.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	public async setThreadState(
		threadId: string,
		state: { readonly archived?: boolean; readonly locked?: boolean },
		options: CallOptions = {}
	): Promise<ThreadInfo> {
		const changes = [
			...(state.archived === undefined ? [] : [state.archived ? 'archive' : 'unarchive']),
			...(state.locked === undefined ? [] : [state.locked ? 'lock' : 'unlock'])
		];
		const context = { action: `${changes.join(' and ') || 'update'} thread ${threadId}`, channelId: threadId };
		const body = {
			...(state.archived === undefined ? {} : { archived: state.archived }),
			...(state.locked === undefined ? {} : { locked: state.locked })
		};
		return threadInfo(
			(await this.call(context, options.signal, (signal) => this.rest.patch(Routes.channel(threadId), { body, signal }))) as APIChannel
		);
	}

	/**
	 * Archives (or with `archived: false` reopens) a thread, leaving its lock as it is.
	 *
	 * @throws TransportError as {@link DiscordTransport.setThreadState}.
	 */
	public async setThreadArchived(threadId: string, archived: boolean, options: CallOptions = {}): Promise<ThreadInfo> {
		return this.setThreadState(threadId, { archived }, options);
	}

	/**
	 * Closes a thread when its upload ends: archived (a guild holds about 1000 active threads) and locked (only
	 * moderators may post into it or reopen it). @throws TransportError as {@link DiscordTransport.setThreadState}.
	 */
	public async archiveThread(threadId: string, options: CallOptions = {}): Promise<ThreadInfo> {
		return this.setThreadState(threadId, { archived: true, locked: true }, options);
	}

	/**
	 * Reopens a thread for the bot's own posts and edits (resume, cleanup of strays): unarchived and locked, in one
	 * PATCH. The bot posts into a locked thread through Manage Threads; other members never can, so reopening never
	 * opens the thread to them (a thread left unlocked by an older version is locked here).
	 * @throws TransportError as {@link DiscordTransport.setThreadState}.
	 */
	public async unarchiveThread(threadId: string, options: CallOptions = {}): Promise<ThreadInfo> {
		return this.setThreadState(threadId, { archived: false, locked: true }, options);
	}

	/** Locks a thread (only moderators post). @throws TransportError as {@link DiscordTransport.setThreadState}. */
	public async lockThread(threadId: string, options: CallOptions = {}): Promise<ThreadInfo> {
		return this.setThreadState(threadId, { locked: true }, options);
	}

	/** Unlocks a thread. @throws TransportError as {@link DiscordTransport.setThreadState}. */
	public async unlockThread(threadId: string, options: CallOptions = {}): Promise<ThreadInfo> {
		return this.setThreadState(threadId, { locked: false }, options);
	}

	/**
	 * Deletes a thread and every message in it, in one request. Idempotent: a thread already gone gives `false`.
	 *
	 * @returns true if this call deleted it, false if it did not exist.
	 * @throws TransportError MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	public async deleteThread(threadId: string, options: CallOptions = {}): Promise<boolean> {
		const context = { action: `delete thread ${threadId}`, channelId: threadId };
		try {
			await this.call(context, options.signal, (signal) => this.rest.delete(Routes.channel(threadId), { signal }));
			return true;
		} catch (error) {
			if (error instanceof TransportError && error.code === TransportErrorCode.NotFound) return false;
			throw error;
		}
	}

	/**
	 * Deletes one message (a stray duplicate chunk, say). Idempotent: a message already gone gives `false`.
	 * Inside an archived thread (50083) the thread is reopened and the delete tried once more.
	 *
	 * @returns true if this call deleted it, false if it did not exist.
	 * @throws TransportError MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	public async deleteMessage(channelId: string, messageId: string, options: CallOptions = {}): Promise<boolean> {
		const context = { action: `delete message ${messageId} in channel ${channelId}`, channelId, messageId };
		try {
			await this.callInThread(context, options.signal, (signal) => this.rest.delete(Routes.channelMessage(channelId, messageId), { signal }));
			return true;
		} catch (error) {
			if (error instanceof TransportError && error.code === TransportErrorCode.NotFound) return false;
			throw error;
		}
	}

	// ---- internals ------------------------------------------------------------------------------------------

	/**
	 * A post whose answer never came: the thread's newest messages are searched for one posted by this bot itself
	 * (never merely "a bot": a webhook or another bot is one too) whose attachments are exactly `files` — names and
	 * sizes, then every attachment downloaded and its sha256 compared with the bytes sent. The OLDEST such message is
	 * the post (a later one is a duplicate). Null when none is: a look-alike is never adopted as the chunk, or a later
	 * resume would keep it and delete the good copy as a stray.
	 */
	private async findLandedPost(channelId: string, files: readonly OutgoingFile[], signal: AbortSignal | undefined): Promise<LiveMessage | null> {
		const options = signal ? { signal } : {};
		const selfId = await this.selfUserId(options);
		const recent = await this.recentMessages(channelId, { limit: LANDED_POST_SEARCH, ...options });
		const candidates = recent
			.filter(
				(message) =>
					message.authorId === selfId &&
					message.attachments.length === files.length &&
					files.every(
						(file, index) =>
							message.attachments[index]?.filename === file.name && message.attachments[index]?.size === file.data.byteLength
					)
			)
			.sort(compareSnowflakes);
		const hashes = files.map((file) => createHash('sha256').update(file.data).digest('hex'));
		for (const message of candidates) {
			if (await this.holdsExactly(message, files, hashes, signal)) return message;
		}
		return null;
	}

	/** Whether every attachment of `message` has the bytes sent (sha256), downloaded and discarded. */
	private async holdsExactly(
		message: LiveMessage,
		files: readonly OutgoingFile[],
		hashes: readonly string[],
		signal: AbortSignal | undefined
	): Promise<boolean> {
		for (const [index, attachment] of message.attachments.entries()) {
			try {
				await this.downloadAttachment(
					{ channelId: message.channelId, messageId: message.id, attachmentId: attachment.id },
					{ stream: new Writable({ write: (_piece: Buffer, _encoding, callback) => callback() }) },
					{ live: attachment, expectedSize: files[index]!.data.byteLength, expectedSha256: hashes[index]!, ...(signal ? { signal } : {}) }
				);
			} catch (error) {
				if (
					error instanceof TransportError &&
					(error.code === TransportErrorCode.HashMismatch || error.code === TransportErrorCode.SizeMismatch)
				) {
					return false;
				}
				throw error;
			}
		}
		return true;
	}

	/** POST a message (with files as multipart) with a nonce and enforce_nonce; 50083 reopens the thread once. */
	private async createMessage(
		channelId: string,
		json: RESTPostAPIChannelMessageJSONBody,
		files: readonly OutgoingFile[],
		nonce: string,
		context: OperationContext,
		signal: AbortSignal | undefined
	): Promise<APIMessage> {
		assertNonce(nonce);
		this.checkOutgoing(json, files, context);
		const body: RESTPostAPIChannelMessageJSONBody = {
			...json,
			nonce,
			enforce_nonce: true,
			allowed_mentions: { parse: [] },
			...(files.length > 0 ? { attachments: files.map((file, index) => ({ id: index, filename: file.name })) } : {})
		};
		const rawFiles: RawFile[] = files.map((file, index) => ({
			key: `files[${index}]`,
			name: file.name,
			data: file.data,
			contentType: 'application/octet-stream'
		}));
		return (await this.callInThread(context, signal, (requestSignal) =>
			this.rest.post(Routes.channelMessages(channelId), { body, ...(rawFiles.length > 0 ? { files: rawFiles } : {}), signal: requestSignal })
		)) as APIMessage;
	}

	/** @throws RangeError / TransportError ATTACHMENT_TOO_LARGE for what Discord would refuse anyway. */
	private checkOutgoing(json: RESTPostAPIChannelMessageJSONBody, files: readonly OutgoingFile[], context: OperationContext): void {
		if ((json.content?.length ?? 0) > DiscordLimits.content) {
			throw new RangeError(`Message content is limited to ${DiscordLimits.content} characters (${context.action}).`);
		}
		if (files.length > DiscordLimits.attachmentsPerMessage) {
			throw new RangeError(`A message holds at most ${DiscordLimits.attachmentsPerMessage} attachments (${context.action}).`);
		}
		if (context.action.startsWith('post chunk') && files.length === 0) throw new RangeError('A chunk message needs at least one file.');
		const total = files.reduce((sum, file) => sum + file.data.byteLength, 0);
		const largest = files.reduce((max, file) => Math.max(max, file.data.byteLength), 0);
		if ((this.attachmentLimit !== undefined && largest > this.attachmentLimit) || total > DiscordLimits.requestBytes) {
			throw new TransportError(
				TransportErrorCode.AttachmentTooLarge,
				`An attachment of ${largest} bytes (${total} in all) is over the limit of ${this.attachmentLimit ?? DiscordLimits.requestBytes} bytes (${context.action}). Lower the chunk size or raise the attachment limit setting if this server allows more.`,
				{ channelId: context.channelId }
			);
		}
	}

	/**
	 * Runs one REST request, mapping errors to TransportError and retrying 5xx/network failures with backoff
	 * (the REST client already retried them a few times at once).
	 */
	private async call(context: OperationContext, signal: AbortSignal | undefined, send: (signal: AbortSignal | undefined) => Promise<unknown>) {
		return withBackoff(
			this.retryPolicy,
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
	 * Like {@link DiscordTransport.call}; on 50083 (archived thread) reopens `context.channelId` — unarchived, and
	 * kept locked: the bot posts into a locked thread, members do not — and tries once more.
	 */
	private async callInThread(
		context: OperationContext,
		signal: AbortSignal | undefined,
		send: (signal: AbortSignal | undefined) => Promise<unknown>
	) {
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
			await this.unarchiveThread(context.channelId, { signal });
			return this.call(context, signal, send);
		}
	}

	private isExpiring(attachment: LiveAttachment): boolean {
		return attachment.expiresAt !== null && attachment.expiresAt.getTime() - this.urlExpiryMarginMs <= Date.now();
	}

	/** @throws TransportError SIZE_MISMATCH or HASH_MISMATCH. */
	private checkDownload(result: DownloadResult, location: AttachmentLocation, options: DownloadOptions): void {
		if (options.expectedSize !== undefined && result.bytes !== options.expectedSize) {
			throw new TransportError(
				TransportErrorCode.SizeMismatch,
				`Attachment ${location.attachmentId} (message ${location.messageId}) arrived with ${result.bytes} bytes, the index recorded ${options.expectedSize}. Run a full verify of this archive.`,
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
	private downloadError(error: unknown, location: AttachmentLocation, signal: AbortSignal | undefined, file: string | undefined): unknown {
		if (error instanceof TransportError) return error;
		if (signal?.aborted) return abortedError(error);
		if (isFsError(error)) return fromFsError(error, file ?? '(download target)');
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

	private async fetchPage(channelId: string, cursor: { after?: string; before?: string }, signal: AbortSignal | undefined): Promise<APIMessage[]> {
		const context = { action: `list messages of channel ${channelId}`, channelId };
		const query = makeURLSearchParams({ limit: DiscordLimits.pageSize, ...cursor });
		return (await this.call(context, signal, (requestSignal) =>
			this.rest.get(Routes.channelMessages(channelId), { query, signal: requestSignal })
		)) as APIMessage[];
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
	const forward = () => controller.abort(signal.reason);
	if (signal.aborted) forward();
	else signal.addEventListener('abort', forward, { once: true });
	try {
		return await send(controller.signal);
	} finally {
		signal.removeEventListener('abort', forward);
	}
}

function attachmentRecord(attachment: { id: string; filename: string; size: number }): AttachmentRecord {
	return { id: attachment.id, filename: attachment.filename, size: attachment.size };
}

function cardJson(body: CardBody): RESTPostAPIChannelMessageJSONBody {
	return {
		...(body.content === undefined ? {} : { content: body.content }),
		...(body.embeds === undefined ? {} : { embeds: [...body.embeds] }),
		...(body.components === undefined ? {} : { components: [...body.components] }),
		allowed_mentions: { parse: [] }
	};
}

function threadInfo(channel: APIChannel): ThreadInfo {
	const metadata = 'thread_metadata' in channel ? channel.thread_metadata : undefined;
	return {
		id: channel.id,
		name: channel.name ?? '',
		parentId: 'parent_id' in channel ? (channel.parent_id ?? null) : null,
		archived: metadata?.archived === true,
		locked: metadata?.locked === true,
		messageCount: 'message_count' in channel && typeof channel.message_count === 'number' ? channel.message_count : null
	};
}

function compareSnowflakes(a: { id: string }, b: { id: string }): number {
	const left = BigInt(a.id);
	const right = BigInt(b.id);
	return left < right ? -1 : left > right ? 1 : 0;
}

function isRetryableCdnError(error: unknown, signal: AbortSignal | undefined): boolean {
	if (error instanceof CdnStatusError) return error.status >= 500 || error.status === 429 || error.status === 408;
	return isNetworkError(error, signal) || error instanceof CdnStallError;
}

function streamTouchedBlocksRetry(target: DownloadTarget, touched: boolean): boolean {
	return 'stream' in target && touched;
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
