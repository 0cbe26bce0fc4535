import { DiscordAPIError, HTTPError, RateLimitError } from 'discord.js';
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

/** Discord JSON error codes this layer acts on. */
export const DiscordCode = {
	UnknownChannel: 10003,
	UnknownMessage: 10008,
	RequestEntityTooLarge: 40005,
	MissingAccess: 50001,
	MissingPermissions: 50013,
	InvalidActionOnArchivedThread: 50083,
	ThreadAlreadyCreatedForMessage: 160004,
	MaximumActiveThreads: 160006
} as const;

/** Node and undici error codes that mean "the connection failed", worth another try. */
const networkErrorCodes = new Set([
	'ECONNRESET',
	'ECONNREFUSED',
	'ECONNABORTED',
	'EPIPE',
	'ETIMEDOUT',
	'EAI_AGAIN',
	'ENETUNREACH',
	'EHOSTUNREACH',
	'UND_ERR_SOCKET',
	'UND_ERR_CLOSED',
	'UND_ERR_CONNECT_TIMEOUT',
	'UND_ERR_HEADERS_TIMEOUT',
	'UND_ERR_BODY_TIMEOUT',
	'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
	'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'
]);

/**
 * Whether an error (or its cause chain) is a network failure: a reset, a refused or closed connection, a
 * timeout, a body cut short. `AbortError`s count only when the caller's own signal is not aborted (then they
 * are the REST client's request timeout).
 */
export function isNetworkError(error: unknown, signal?: AbortSignal): boolean {
	for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
		const code = (current as NodeJS.ErrnoException).code;
		if (code !== undefined && networkErrorCodes.has(code)) return true;
		if (current.name === 'AbortError' || current.name === 'TimeoutError') return !signal?.aborted;
		if (current.message === 'terminated' || current.message === 'fetch failed' || current.message.includes('ECONNRESET')) return true;
	}
	return false;
}

/** The error to throw when the caller's signal stopped the work. */
export function abortedError(cause?: unknown): TransportError {
	return new TransportError(TransportErrorCode.Aborted, 'Stopped on request.', {}, cause === undefined ? undefined : { cause });
}

/** What the transport was doing, to name it in error messages. */
export interface OperationContext {
	/** A short description in the form "post chunk chunk-0001.bin into thread 123". */
	readonly action: string;
	readonly channelId?: string;
	readonly messageId?: string;
}

/**
 * Turns an error thrown by `@discordjs/rest` (or the network under it) into a {@link TransportError} with a
 * stable code and a message that says what to do. An error that already is a TransportError is returned as is;
 * programming errors (anything that is neither an HTTP answer nor a network failure) are returned unchanged.
 */
export function fromRestError(error: unknown, context: OperationContext, signal?: AbortSignal): unknown {
	if (error instanceof TransportError) return error;
	const where = { channelId: context.channelId, messageId: context.messageId };
	if (signal?.aborted) return abortedError(error);
	if (error instanceof DiscordAPIError) {
		const discordCode = typeof error.code === 'number' ? error.code : undefined;
		const details = { ...where, status: error.status, discordCode };
		const quoted = discordMessage(error);
		if (error.status === 413 || discordCode === DiscordCode.RequestEntityTooLarge) {
			return new TransportError(
				TransportErrorCode.AttachmentTooLarge,
				`Discord refused the attachment as too large (${context.action}). Lower the chunk size or the attachment limit setting to what this server allows (10 MiB without boosts).`,
				details,
				{ cause: error }
			);
		}
		if (discordCode === DiscordCode.MissingPermissions || discordCode === DiscordCode.MissingAccess || error.status === 403) {
			return new TransportError(
				TransportErrorCode.MissingPermissions,
				`The bot lacks permissions in channel ${context.channelId ?? '(unknown)'} (${context.action}): ${quoted}. Give it View Channel, Send Messages, Send Messages in Threads, Attach Files, Read Message History, Create Public Threads and Manage Threads there.`,
				details,
				{ cause: error }
			);
		}
		if (error.status === 401) {
			return new TransportError(
				TransportErrorCode.InvalidToken,
				'Discord refused the bot token. Check DISCORD_BOT_TOKEN (copy it again from the Developer Portal).',
				details,
				{ cause: error }
			);
		}
		if (error.status === 404 || discordCode === DiscordCode.UnknownChannel || discordCode === DiscordCode.UnknownMessage) {
			return new TransportError(
				TransportErrorCode.NotFound,
				`Discord does not know the ${discordCode === DiscordCode.UnknownMessage ? 'message' : 'channel or message'} (${context.action}): ${quoted}. It may have been deleted; run a quick verify or rebuild the index.`,
				details,
				{ cause: error }
			);
		}
		if (discordCode === DiscordCode.InvalidActionOnArchivedThread) {
			return new TransportError(
				TransportErrorCode.ThreadArchived,
				`The thread ${context.channelId ?? ''} is archived and could not be reopened (${context.action}). Unarchive it in Discord (or unlock it) and try again.`,
				details,
				{ cause: error }
			);
		}
		if (discordCode === DiscordCode.MaximumActiveThreads) {
			return new TransportError(
				TransportErrorCode.TooManyActiveThreads,
				`The server holds the maximum number of active threads (${context.action}). Archive some threads and try again.`,
				{ ...details, retryable: true },
				{ cause: error }
			);
		}
		if (error.status === 429) {
			return new TransportError(
				TransportErrorCode.RateLimited,
				`Discord rate-limited the bot (${context.action}). Wait a minute and try again.`,
				{
					...details,
					retryable: true
				}
			);
		}
		return new TransportError(
			TransportErrorCode.RequestRejected,
			`Discord rejected the request (${context.action}): ${quoted} (HTTP ${error.status}${discordCode === undefined ? '' : `, code ${discordCode}`}).`,
			details,
			{ cause: error }
		);
	}
	if (error instanceof HTTPError) {
		return new TransportError(
			TransportErrorCode.DiscordUnavailable,
			`Discord answered HTTP ${error.status} (${context.action}) even after retries. Discord may be having trouble: try again in a few minutes; finished work is kept.`,
			{ ...where, status: error.status, retryable: true },
			{ cause: error }
		);
	}
	if (error instanceof RateLimitError) {
		return new TransportError(
			TransportErrorCode.RateLimited,
			`Discord asks to wait ${Math.ceil(error.retryAfter / 1000)} s before the next request (${context.action}), longer than the transport waits. Try again later.`,
			{ ...where, status: 429, retryable: true },
			{ cause: error }
		);
	}
	if (isNetworkError(error, signal)) {
		return new TransportError(
			TransportErrorCode.DiscordUnavailable,
			`The connection to Discord failed (${context.action}): ${networkReason(error)}. Check the network and try again; finished work is kept.`,
			{ ...where, retryable: true },
			{ cause: error }
		);
	}
	return error;
}

/** Discord's own message for an API error, without the request URL. */
function discordMessage(error: DiscordAPIError): string {
	const raw = error.rawError as { message?: unknown };
	return typeof raw.message === 'string' ? raw.message : error.message;
}

/** A short, URL-free reason for a network failure. */
function networkReason(error: unknown): string {
	for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
		const code = (current as NodeJS.ErrnoException).code;
		if (code !== undefined) return code;
		if (current.name === 'AbortError' || current.name === 'TimeoutError') return 'request timed out';
	}
	return error instanceof Error ? error.name : 'unknown error';
}
