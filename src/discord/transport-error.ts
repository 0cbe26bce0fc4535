import { CodedError } from '../core/errors.js';

/**
 * The one error class of the Discord transport. Every failure carries a stable `code` (the CLI and the bot
 * map codes to words in one place each), the HTTP status and Discord JSON error code when there is one, and a
 * message that says what to do. Messages never contain the bot token or an attachment URL.
 */
export const TransportErrorCode = {
	/** Discord refused an attachment as too large (HTTP 413, JSON code 40005), or it exceeds the configured limit. */
	AttachmentTooLarge: 'ATTACHMENT_TOO_LARGE',
	/** The bot may not see or act in a channel (JSON codes 50001 Missing Access, 50013 Missing Permissions). */
	MissingPermissions: 'MISSING_PERMISSIONS',
	/** A channel, thread, message or attachment does not exist (any more). */
	NotFound: 'NOT_FOUND',
	/** Discord asked to wait longer than the transport is willing to wait. */
	RateLimited: 'RATE_LIMITED',
	/** Discord answered 5xx, or the network failed, and retries with backoff did not help. */
	DiscordUnavailable: 'DISCORD_UNAVAILABLE',
	/** The bot token was refused (HTTP 401). */
	InvalidToken: 'INVALID_TOKEN',
	/** The thread is archived and could not be unarchived to act in it (JSON code 50083). */
	ThreadArchived: 'THREAD_ARCHIVED',
	/** The guild holds the maximum number of active threads (JSON code 160006) and waiting did not free one. */
	TooManyActiveThreads: 'TOO_MANY_ACTIVE_THREADS',
	/** Discord rejected the request for another reason (a 4xx with a JSON error code); the message quotes Discord. */
	RequestRejected: 'REQUEST_REJECTED',
	/** An attachment download from the CDN failed and retries (with fresh URLs) did not help. */
	DownloadFailed: 'DOWNLOAD_FAILED',
	/** A downloaded attachment has the expected size but not the expected sha256. */
	HashMismatch: 'HASH_MISMATCH',
	/** A downloaded attachment, or the attachment Discord lists, does not have the expected size. */
	SizeMismatch: 'SIZE_MISMATCH',
	/** The work was stopped through its AbortSignal. */
	Aborted: 'ABORTED'
} as const;

export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

export interface TransportErrorDetails {
	/** The HTTP status Discord or its CDN answered, when there was an answer. */
	readonly status?: number;
	/** Discord's JSON error code (e.g. 40005, 50013), when Discord sent one. */
	readonly discordCode?: number;
	/** The channel or thread concerned. */
	readonly channelId?: string;
	/** The message concerned. */
	readonly messageId?: string;
	/** The attachment concerned. */
	readonly attachmentId?: string;
	/** Whether trying the same operation again later may succeed (5xx, network, rate limits). */
	readonly retryable?: boolean;
}

/**
 * The transport's error: a {@link CodedError} with the codes of {@link TransportErrorCode}. The details are also
 * fields of their own (`status`, `discordCode`, ids, `retryable`), as code acting on a failure reads them.
 */
export class TransportError extends CodedError<TransportErrorCode, TransportErrorDetails> {
	public readonly status: number | undefined;
	public readonly discordCode: number | undefined;
	public readonly channelId: string | undefined;
	public readonly messageId: string | undefined;
	public readonly attachmentId: string | undefined;
	public readonly retryable: boolean;

	public constructor(code: TransportErrorCode, message: string, details: TransportErrorDetails = {}, options?: ErrorOptions) {
		super(code, message, details, options);
		this.status = details.status;
		this.discordCode = details.discordCode;
		this.channelId = details.channelId;
		this.messageId = details.messageId;
		this.attachmentId = details.attachmentId;
		this.retryable = details.retryable ?? false;
	}
}

/** Whether `error` is a {@link TransportError}, optionally with the given code. */
export function isTransportError(error: unknown, code?: TransportErrorCode): error is TransportError {
	return error instanceof TransportError && (code === undefined || error.code === code);
}

/** The error to throw when the caller's signal stopped the work. */
export function abortedError(cause?: unknown): TransportError {
	return new TransportError(TransportErrorCode.Aborted, 'Stopped on request.', {}, cause === undefined ? undefined : { cause });
}
