import { DiscordAPIError, HTTPError, RateLimitError } from 'discord.js';
import { abortedError, TransportError, TransportErrorCode } from './transport-error.js';

// The error class itself imports nothing heavy (the CLI maps failures without loading discord.js); re-exported here.
export { abortedError, isTransportError, TransportError, TransportErrorCode, type TransportErrorDetails } from './transport-error.js';

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
