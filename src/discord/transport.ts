import { Routes, makeURLSearchParams } from 'discord.js';
import type { APIChannel, APIMessage, REST, RESTGetAPIChannelMessagesPinsResult } from 'discord.js';
import type {
	ArchiveTransport,
	AttachmentLocation,
	CallOptions,
	DownloadOptions,
	DownloadResult,
	DownloadTarget,
	PageOptions,
	PostChunkInput,
	PostMessageOptions,
	PostedChunk,
	StartThreadInput,
	ThreadInfo,
	ThreadState,
	UploadFileInput
} from './archive-transport.js';
import { withBackoff, type BackoffPolicy } from './backoff.js';
import { AttachmentDownloads, type DownloadSettings } from './downloads.js';
import { DiscordCode, TransportError, TransportErrorCode } from './errors.js';
import { toLiveMessage, type CardBody, type LiveAttachment, type LiveMessage, type MessageRecord } from './messages.js';
import { DiscordPosting } from './posting.js';
import { DiscordLimits, DiscordRequests, REOPENED, compareSnowflakes, type RequestOptions } from './requests.js';

export interface DiscordTransportOptions extends RequestOptions, DownloadSettings {
	/** Backoff while the guild holds the maximum of active threads (160006). Default 5 tries, 15 s doubling, ≤ 2 min. */
	readonly threadCapRetry?: Partial<BackoffPolicy>;
	/**
	 * The per-attachment limit of the server, checked before sending (ATTACHMENT_TOO_LARGE without a request).
	 * Default: none — Discord's 413 decides.
	 */
	readonly attachmentLimit?: number;
}

/** Pins per request (Discord's most), and requests enough for the 250 pins a channel holds at most. */
const PIN_PAGE_SIZE = 50;
const PIN_PAGES = 6;

const defaultThreadCapRetry: BackoffPolicy = { attempts: 5, baseDelayMs: 15_000, maxDelayMs: 120_000 };

/**
 * Discord as the {@link ArchiveTransport}, over discord.js's REST client (no gateway): chunk messages with attachments
 * in archive threads, paging, fresh attachment URLs and verified downloads, card messages, threads, and the log
 * channel. Rate limits (429) are waited out by the REST client, which also runs requests to one channel one at a time;
 * 5xx and network failures are retried with backoff on top, and every message post carries a nonce with
 * `enforce_nonce` so a retry never posts twice.
 *
 * This class reads messages and manages threads itself; posting is {@link DiscordPosting}'s, the CDN downloads are
 * {@link AttachmentDownloads}', and every request goes through {@link DiscordRequests}.
 *
 * Every method throws {@link TransportError} for failures a user can meet (see its codes); a `RangeError` means the
 * caller passed something Discord would refuse anyway.
 */
export class DiscordTransport implements ArchiveTransport {
	/** The REST client in use (shared or owned). */
	public readonly rest: REST;
	readonly #requests: DiscordRequests;
	readonly #posting: DiscordPosting;
	readonly #downloads: AttachmentDownloads;
	readonly #threadCapPolicy: BackoffPolicy;
	/** The bot's own user id once Discord told it (see {@link DiscordTransport.selfUserId}). */
	#selfId: string | undefined;

	/** @throws RangeError when neither `rest` nor `token` is given. */
	public constructor(options: DiscordTransportOptions) {
		this.#requests = new DiscordRequests(options);
		this.rest = this.#requests.rest;
		this.#posting = new DiscordPosting(this.#requests, options.attachmentLimit, this);
		this.#downloads = new AttachmentDownloads(options, (location, callOptions) => this.resolveAttachment(location, callOptions));
		this.#threadCapPolicy = { ...defaultThreadCapRetry, ...options.threadCapRetry };
	}

	/**
	 * The bot's own user id (`GET /users/@me`), asked once and cached. A lost answer is retried with backoff like any
	 * request; when every try fails this throws and the next call asks again.
	 *
	 * @throws TransportError DISCORD_UNAVAILABLE (after backoff, or an answer without an id), MISSING_PERMISSIONS,
	 * RATE_LIMITED, ABORTED.
	 */
	public async selfUserId(options: CallOptions = {}): Promise<string> {
		if (this.#selfId !== undefined) return this.#selfId;
		const context = { action: 'read the bot user (/users/@me)' };
		const me = (await this.#requests.call(context, options.signal, (signal) => this.rest.get(Routes.user('@me'), { signal }))) as {
			id?: unknown;
		};
		if (typeof me.id !== 'string' || !/^\d{1,20}$/.test(me.id)) {
			throw new TransportError(TransportErrorCode.DiscordUnavailable, 'Discord answered /users/@me without the bot user id. Try again later.', {
				retryable: true
			});
		}
		this.#selfId = me.id;
		return me.id;
	}

	/** Stops the REST client's timers if this transport created it. Requests in flight still finish. */
	public close(): void {
		this.#requests.close();
	}

	// ---- posting (DiscordPosting) ---------------------------------------------------------------------------

	/**
	 * {@inheritDoc ArchiveTransport.postChunk}
	 *
	 * The post carries `nonce` with `enforce_nonce`. A post whose every try lost its answer is looked for among the
	 * thread's newest messages by the bot itself with exactly these attachments (names, sizes, sha256).
	 */
	public postChunk(input: PostChunkInput): Promise<PostedChunk> {
		return this.#posting.postChunk(input);
	}

	/** {@inheritDoc ArchiveTransport.postCard} */
	public postCard(channelId: string, body: CardBody, options: PostMessageOptions = {}): Promise<MessageRecord> {
		return this.#posting.postCard(channelId, body, options);
	}

	/** {@inheritDoc ArchiveTransport.editCard} */
	public editCard(channelId: string, messageId: string, body: CardBody, options: CallOptions = {}): Promise<void> {
		return this.#posting.editCard(channelId, messageId, body, options);
	}

	/** {@inheritDoc ArchiveTransport.postLine} */
	public postLine(channelId: string, content: string, options: PostMessageOptions = {}): Promise<MessageRecord> {
		return this.#posting.postLine(channelId, content, options);
	}

	/** {@inheritDoc ArchiveTransport.uploadFile} */
	public uploadFile(channelId: string, input: UploadFileInput): Promise<MessageRecord & { readonly bytes: number }> {
		return this.#posting.uploadFile(channelId, input);
	}

	// ---- downloads (AttachmentDownloads) --------------------------------------------------------------------

	/**
	 * {@inheritDoc ArchiveTransport.downloadAttachment}
	 *
	 * On 403/404 from the CDN the message is fetched again for a fresh URL; 5xx, resets and stalls are retried with
	 * backoff (`downloadRetry`). No Authorization header goes to the CDN.
	 */
	public downloadAttachment(location: AttachmentLocation, target: DownloadTarget, options: DownloadOptions = {}): Promise<DownloadResult> {
		return this.#downloads.download(location, target, options);
	}

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

	// ---- reading channels and threads -----------------------------------------------------------------------

	/**
	 * Fetches one message, with fresh attachment URLs.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	public async fetchMessage(channelId: string, messageId: string, options: CallOptions = {}): Promise<LiveMessage> {
		const context = { action: `fetch message ${messageId} in channel ${channelId}`, channelId, messageId };
		const message = (await this.#requests.call(context, options.signal, (signal) =>
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
			const page = await this.#fetchPage(channelId, { after }, options.signal);
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
			const page = await this.#fetchPage(channelId, before === undefined ? {} : { before }, options.signal);
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

	/**
	 * {@inheritDoc ArchiveTransport.pinnedMessages}
	 *
	 * `GET /channels/{id}/messages/pins`, 50 per request, paged by `pinned_at`; at most 6 requests (250 pins).
	 */
	public async pinnedMessages(channelId: string, options: CallOptions = {}): Promise<LiveMessage[]> {
		const context = { action: `list the pinned messages of channel ${channelId}`, channelId };
		const messages: LiveMessage[] = [];
		const seen = new Set<string>();
		let before: string | undefined;
		for (let page = 0; page < PIN_PAGES; page++) {
			const query = makeURLSearchParams({ limit: PIN_PAGE_SIZE, ...(before === undefined ? {} : { before }) });
			const answer = (await this.#requests.call(context, options.signal, (signal) =>
				this.rest.get(Routes.channelMessagesPins(channelId), { query, signal })
			)) as RESTGetAPIChannelMessagesPinsResult;
			for (const item of answer.items) {
				if (seen.has(item.message.id)) continue;
				seen.add(item.message.id);
				messages.push(toLiveMessage(item.message));
			}
			const last = answer.items.at(-1);
			if (!answer.has_more || last === undefined) break;
			before = last.pinned_at;
		}
		return messages;
	}

	/** {@inheritDoc ArchiveTransport.pinMessage} */
	public async pinMessage(channelId: string, messageId: string, options: CallOptions = {}): Promise<void> {
		const context = { action: `pin message ${messageId} in channel ${channelId}`, channelId, messageId };
		await this.#requests.call(context, options.signal, (signal) => this.rest.put(Routes.channelMessagesPin(channelId, messageId), { signal }));
	}

	/** {@inheritDoc ArchiveTransport.unpinMessage} */
	public async unpinMessage(channelId: string, messageId: string, options: CallOptions = {}): Promise<void> {
		const context = { action: `unpin message ${messageId} in channel ${channelId}`, channelId, messageId };
		try {
			await this.#requests.call(context, options.signal, (signal) =>
				this.rest.delete(Routes.channelMessagesPin(channelId, messageId), { signal })
			);
		} catch (error) {
			if (error instanceof TransportError && error.code === TransportErrorCode.NotFound) return;
			throw error;
		}
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
				this.#threadCapPolicy,
				async () =>
					(await this.#requests.call(context, input.signal, (signal) =>
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
		return threadInfo(
			(await this.#requests.call(context, options.signal, (signal) => this.rest.get(Routes.channel(threadId), { signal }))) as APIChannel
		);
	}

	/**
	 * Sets a thread's `archived` and/or `locked` in one PATCH. A locked thread takes posts only from members with
	 * Manage Threads (the bot has it), and only they may unarchive it: an archive's thread is left archived and
	 * locked when its upload ends, so nobody else can slip messages into it.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	public async setThreadState(threadId: string, state: ThreadState, options: CallOptions = {}): Promise<ThreadInfo> {
		return threadInfo(await this.#requests.patchThread(threadId, state, options.signal));
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
		return this.setThreadState(threadId, REOPENED, options);
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
			await this.#requests.call(context, options.signal, (signal) => this.rest.delete(Routes.channel(threadId), { signal }));
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
			await this.#requests.callInThread(context, options.signal, (signal) =>
				this.rest.delete(Routes.channelMessage(channelId, messageId), { signal })
			);
			return true;
		} catch (error) {
			if (error instanceof TransportError && error.code === TransportErrorCode.NotFound) return false;
			throw error;
		}
	}

	// ---- internals ------------------------------------------------------------------------------------------

	async #fetchPage(channelId: string, cursor: { after?: string; before?: string }, signal: AbortSignal | undefined): Promise<APIMessage[]> {
		const context = { action: `list messages of channel ${channelId}`, channelId };
		const query = makeURLSearchParams({ limit: DiscordLimits.pageSize, ...cursor });
		return (await this.#requests.call(context, signal, (requestSignal) =>
			this.rest.get(Routes.channelMessages(channelId), { query, signal: requestSignal })
		)) as APIMessage[];
	}
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
