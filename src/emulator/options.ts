import { EmulatorError, EmulatorErrorCode } from './errors.js';

/**
 * The rules the emulator enforces. Every number Discord does not promise is here so tests can move it
 * (a shorter interaction window, a smaller attachment limit, a tighter bucket).
 */
export interface EmulatorLimits {
	/** Largest attachment, bytes (Discord: 10 MiB in unboosted guilds). Larger → 413/40005. */
	attachmentBytes: number;
	/** Largest sum of attachments in one request, bytes (Discord: 25 MiB). Larger → 413/40005. */
	requestBytes: number;
	/** Most attachments on one message (Discord: 10). More → 400/30015. */
	attachmentsPerMessage: number;
	/** Message create/edit/delete per channel (and per thread) per window (Discord: about 5 per 5 s). */
	channelMessagesPerWindow: number;
	/** The window of {@link EmulatorLimits.channelMessagesPerWindow}, milliseconds. */
	channelMessageWindowMs: number;
	/** Requests per route and major parameter per second for every other route. */
	routeRequestsPerSecond: number;
	/** Requests per second for the whole bot, interaction callbacks excepted (Discord: 50). */
	globalRequestsPerSecond: number;
	/** How long after creation an interaction accepts its first callback (Discord: 3 s). Late → 10062. */
	interactionResponseMs: number;
	/** How long an interaction token works for webhooks (Discord: 15 min). Later → 50027. */
	interactionTokenMs: number;
	/** Active (unarchived) threads per guild (Discord: about 1000). More → 160006. */
	activeThreads: number;
	/** How long a `nonce` with `enforce_nonce` returns the message it created (Discord: a few minutes). */
	nonceWindowMs: number;
	/** How long a CDN URL lives (Discord: about 24 h). */
	cdnUrlLifetimeMs: number;
	/** The heartbeat interval announced in HELLO, milliseconds. */
	heartbeatIntervalMs: number;
	/** How long a disconnected gateway session can still be resumed, milliseconds. */
	sessionResumeWindowMs: number;
}

export const DEFAULT_LIMITS: Readonly<EmulatorLimits> = Object.freeze({
	attachmentBytes: 10 * 1024 * 1024,
	requestBytes: 25 * 1024 * 1024,
	attachmentsPerMessage: 10,
	channelMessagesPerWindow: 5,
	channelMessageWindowMs: 5_000,
	routeRequestsPerSecond: 50,
	globalRequestsPerSecond: 50,
	interactionResponseMs: 3_000,
	interactionTokenMs: 15 * 60_000,
	activeThreads: 1000,
	nonceWindowMs: 5 * 60_000,
	cdnUrlLifetimeMs: 24 * 3_600_000,
	heartbeatIntervalMs: 41_250,
	sessionResumeWindowMs: 5 * 60_000
});

/** Options of {@link startEmulator}. */
export interface EmulatorOptions {
	/** TCP port on 127.0.0.1; 0 (the default) picks a free one. */
	port?: number;
	/** Host to bind; loopback by default. */
	host?: string;
	/**
	 * Directory that keeps the world (messages, threads, attachments, commands) across restarts.
	 * Without it, a temporary directory is used and removed by `close()`.
	 */
	dataDir?: string;
	/**
	 * The bot token REST and IDENTIFY must present. Without it any token is accepted (the bot still has to
	 * send one), which is what tests and newcomers want.
	 */
	token?: string;
	/** Shorthand for `limits.attachmentBytes`. */
	attachmentLimit?: number;
	/** Any of {@link EmulatorLimits}; the rest keep their defaults. */
	limits?: Partial<EmulatorLimits>;
	/** Name of the seeded guild. */
	guildName?: string;
}

/**
 * Merges limits over the defaults and checks each is a positive integer.
 * @throws EmulatorError `EMULATOR_INVALID_OPTION` naming every bad field.
 */
export function resolveLimits(base: Readonly<EmulatorLimits>, patch: Partial<EmulatorLimits> | undefined): EmulatorLimits {
	const merged: EmulatorLimits = { ...base };
	const problems: string[] = [];
	for (const [key, value] of Object.entries(patch ?? {})) {
		if (!(key in DEFAULT_LIMITS)) {
			problems.push(`unknown limit "${key}" (known: ${Object.keys(DEFAULT_LIMITS).join(', ')})`);
			continue;
		}
		// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- option values come from an untrusted request body
		if (value === undefined) continue;
		if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
			problems.push(`${key} must be a positive number, got ${JSON.stringify(value)}`);
			continue;
		}
		merged[key as keyof EmulatorLimits] = Math.floor(value);
	}
	if (problems.length > 0) {
		throw new EmulatorError(EmulatorErrorCode.InvalidOption, `Invalid emulator limits: ${problems.join('; ')}.`);
	}
	return merged;
}
