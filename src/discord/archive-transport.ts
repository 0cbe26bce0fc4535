import type { Writable } from 'node:stream';
import type { CardBody, ChunkMessageRecord, LiveAttachment, LiveMessage, MessageRecord, ThreadSummary } from './messages.js';

/**
 * What the archive layer asks of the place its archives live, and all it may depend on: cards in the archive channel,
 * one thread per archive holding the chunk messages, lines and index backups in the log channel, and verified
 * downloads of attachments. {@link DiscordTransport} is the implementation over Discord; the composition roots
 * construct it and hand it on as this interface. Every implementation passes the same contract suite
 * (test/discord/contract.ts).
 *
 * Failures a user can meet are {@link TransportError}s with the codes named per method; a `RangeError` means the
 * caller passed something the store refuses anyway. Every method takes an AbortSignal and fails ABORTED when it fires.
 */
export interface ArchiveTransport {
	/**
	 * The id of the author this transport posts as, asked once and kept. Code reading threads keeps only messages by
	 * this author, never "any bot". When asking fails this throws, and the next call asks again: there is no fallback.
	 *
	 * @throws TransportError DISCORD_UNAVAILABLE, MISSING_PERMISSIONS, RATE_LIMITED, ABORTED.
	 */
	selfUserId(options?: CallOptions): Promise<string>;

	/**
	 * Posts one chunk message into an archive thread: the attachment(s), a short content line, and the chunk's
	 * deterministic `nonce`. Posting again with a nonce that already landed returns the message that landed, never a
	 * second one; its attachments are what the store holds, and `matchesSent` says whether they are the `files` given
	 * (false for a chunk sealed again under the same nonce). A post whose answer was lost is looked for before it is
	 * failed: a post that landed is returned. Posting into an archived thread reopens it (kept locked).
	 *
	 * @throws TransportError ATTACHMENT_TOO_LARGE (not retried), MISSING_PERMISSIONS, NOT_FOUND (thread gone),
	 * DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 * @throws RangeError for an invalid nonce, no files, too many files or too long content.
	 */
	postChunk(input: PostChunkInput): Promise<PostedChunk>;

	/**
	 * One message, with fresh attachment URLs.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	fetchMessage(channelId: string, messageId: string, options?: CallOptions): Promise<LiveMessage>;

	/**
	 * Every message of a channel or thread, oldest first, each with live attachment URLs (use them at once), embeds
	 * and the thread started from it. Stops early if the consumer stops iterating.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	pageMessages(channelId: string, options?: PageOptions): AsyncGenerator<LiveMessage, void, undefined>;

	/**
	 * Messages of a channel or thread, newest first: for the newest index backup in the log channel or the latest
	 * cards. Stops early if the consumer stops iterating.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	pageMessagesNewestFirst(channelId: string, options?: PageOptions): AsyncGenerator<LiveMessage, void, undefined>;

	/**
	 * The most recent messages of a channel, newest first, at most `limit` (default 100).
	 *
	 * @throws TransportError as {@link ArchiveTransport.pageMessagesNewestFirst}.
	 */
	recentMessages(channelId: string, options?: PageOptions & { readonly limit?: number }): Promise<LiveMessage[]>;

	/**
	 * The pinned messages of a channel, the most recently pinned first, each with live attachment URLs (use them at
	 * once). Discord keeps at most 250 pins per channel; that is all this returns.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	pinnedMessages(channelId: string, options?: CallOptions): Promise<LiveMessage[]>;

	/**
	 * Pins a message in its channel. Idempotent: a message already pinned stays pinned.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS (Pin Messages), REQUEST_REJECTED (the channel holds the most
	 * pins Discord keeps), DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	pinMessage(channelId: string, messageId: string, options?: CallOptions): Promise<void>;

	/**
	 * Unpins a message. Idempotent: a message not pinned, or gone, is left as it is.
	 *
	 * @throws TransportError MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	unpinMessage(channelId: string, messageId: string, options?: CallOptions): Promise<void>;

	/**
	 * Downloads one attachment, streaming it to a file or a Writable while hashing (sha256) and counting bytes. The
	 * URL of `options.live` is used while it is fresh, else a fresh one is asked for; a URL the CDN refuses or that
	 * expired is replaced, and transient failures are retried.
	 *
	 * A file target is written as `<file>.part` and renamed to `<file>` only once size and hash match; on failure
	 * nothing is left behind. A stream target is not ended on failure, and an attempt that already wrote bytes into it
	 * is not retried (they cannot be taken back): DOWNLOAD_FAILED then. It is ended on success (not waited for:
	 * consume it concurrently, as a pipeline does).
	 *
	 * @throws TransportError SIZE_MISMATCH, HASH_MISMATCH (not retried), DOWNLOAD_FAILED (retries used up),
	 * NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED; CoreError DISK_FULL when the disk
	 * is full; other file-system errors as they are; errors of a stream target as they are.
	 */
	downloadAttachment(location: AttachmentLocation, target: DownloadTarget, options?: DownloadOptions): Promise<DownloadResult>;

	/**
	 * Posts a card (embeds + components as Discord API JSON) in a channel; every retry reuses one nonce, so a card is
	 * never posted twice by one call.
	 *
	 * @throws TransportError MISSING_PERMISSIONS, NOT_FOUND, REQUEST_REJECTED (the body was refused),
	 * DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	postCard(channelId: string, body: CardBody, options?: PostMessageOptions): Promise<MessageRecord>;

	/**
	 * Replaces a card's content, embeds and components (fields left out of `body` are left as they are). A card inside
	 * an archived thread gets the thread reopened (kept locked) for the edit.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, THREAD_ARCHIVED, REQUEST_REJECTED, DISCORD_UNAVAILABLE,
	 * RATE_LIMITED, ABORTED.
	 */
	editCard(channelId: string, messageId: string, body: CardBody, options?: CallOptions): Promise<void>;

	/**
	 * Posts a plain line (no mentions) in a channel, e.g. the log channel.
	 *
	 * @throws TransportError as {@link ArchiveTransport.postCard}.
	 */
	postLine(channelId: string, content: string, options?: PostMessageOptions): Promise<MessageRecord>;

	/**
	 * Uploads one file (an index backup) to a channel, with an optional line.
	 *
	 * @throws TransportError ATTACHMENT_TOO_LARGE and as {@link ArchiveTransport.postCard}.
	 */
	uploadFile(channelId: string, input: UploadFileInput): Promise<MessageRecord & { readonly bytes: number }>;

	/**
	 * Starts a public thread from a message (the card); the thread's id is the message's id. Starting a thread that
	 * already exists for this message (a retried request) returns that thread. While the guild holds the maximum of
	 * active threads it waits, bounded.
	 *
	 * @throws TransportError TOO_MANY_ACTIVE_THREADS (after waiting), MISSING_PERMISSIONS, NOT_FOUND,
	 * DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 * @throws RangeError when the name is empty or longer than 100 characters.
	 */
	startThread(input: StartThreadInput): Promise<ThreadInfo>;

	/**
	 * A thread's state (name, archived, locked, parent).
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	fetchThread(threadId: string, options?: CallOptions): Promise<ThreadInfo>;

	/**
	 * Sets a thread's `archived` and/or `locked` at once. A locked thread takes posts only from moderators (the bot is
	 * one), and only they may unarchive it.
	 *
	 * @throws TransportError NOT_FOUND, MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	setThreadState(threadId: string, state: ThreadState, options?: CallOptions): Promise<ThreadInfo>;

	/**
	 * Closes a thread when its upload ends: archived and locked.
	 *
	 * @throws TransportError as {@link ArchiveTransport.setThreadState}.
	 */
	archiveThread(threadId: string, options?: CallOptions): Promise<ThreadInfo>;

	/**
	 * Deletes a thread and every message in it. Idempotent.
	 *
	 * @returns true if this call deleted it, false if it did not exist.
	 * @throws TransportError MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	deleteThread(threadId: string, options?: CallOptions): Promise<boolean>;

	/**
	 * Deletes one message (a stray duplicate chunk, say), reopening an archived thread to do so. Idempotent.
	 *
	 * @returns true if this call deleted it, false if it did not exist.
	 * @throws TransportError MISSING_PERMISSIONS, DISCORD_UNAVAILABLE, RATE_LIMITED, ABORTED.
	 */
	deleteMessage(channelId: string, messageId: string, options?: CallOptions): Promise<boolean>;
}

/** Auto-archive durations Discord accepts for threads, in minutes. */
export type ThreadAutoArchiveMinutes = 60 | 1440 | 4320 | 10080;

/** A file to attach to a message: its bytes in memory, or a file on disk streamed when the request is sent. */
export type OutgoingFile = OutgoingBytes | OutgoingFileOnDisk;

/** A file to attach, held in memory. */
export interface OutgoingBytes {
	/** The attachment's file name (opaque for chunks: `241126-07.c000042.3fa9c0d1e2b4.bin`). */
	readonly name: string;
	readonly data: Uint8Array;
}

/**
 * A file to attach that stays on disk (a staged pack): the request streams it from the file, so posting a message
 * of 25 MiB holds no copy of it in memory. The file must not change until the post is answered; its size is
 * checked when the request is built, and `sha256` is what a post whose answer was lost is matched by.
 */
export interface OutgoingFileOnDisk {
	readonly name: string;
	readonly path: string;
	readonly size: number;
	/** SHA-256 of the file's bytes, hex. */
	readonly sha256: string;
}

/** Bytes of an outgoing file. */
export function outgoingSize(file: OutgoingFile): number {
	return 'data' in file ? file.data.byteLength : file.size;
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
	/** Called with the bytes sent once the post was accepted. */
	readonly onProgress?: (bytesSent: number) => void;
}

/** A chunk message as {@link ArchiveTransport.postChunk} returns it. */
export type PostedChunk = ChunkMessageRecord & {
	/** Whether the attachments the store holds are the files sent (names and sizes); false for an earlier post of the nonce. */
	readonly matchesSent: boolean;
};

export interface PostMessageOptions extends CallOptions {
	/** A nonce for this post; a random one is used when absent. Either way every retry reuses it. */
	readonly nonce?: string;
}

export interface UploadFileInput extends PostMessageOptions {
	readonly file: OutgoingFile;
	/** A line to go with the file. */
	readonly content?: string;
	/** Called with the bytes sent once the post was accepted. */
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

/** The state {@link ArchiveTransport.setThreadState} sets; a field left out is left as it is. */
export interface ThreadState {
	readonly archived?: boolean;
	readonly locked?: boolean;
}

/** A thread as the store reports it. */
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
	/**
	 * Only these bytes of the attachment (an HTTP range read). `expectedSize` stays the whole attachment's (checked
	 * against Discord's listing); the bytes received must be the range's length, and `expectedSha256`, if given, is
	 * theirs. A CDN that does not serve the range fails the download (DOWNLOAD_FAILED, not retried).
	 */
	readonly range?: { readonly offset: number; readonly length: number };
}

export interface DownloadResult {
	readonly bytes: number;
	/** sha256 of the bytes, lowercase hex. */
	readonly sha256: string;
}
