import { readFileSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import {
	CONTAINER_OVERHEAD,
	DEFAULT_ATTACHMENT_LIMIT,
	DEFAULT_CHUNK_SIZE,
	DEFAULT_GZIP_LEVEL,
	DEFAULT_PACK_SIZE,
	MAX_PACK_SIZE,
	MIN_PACK_SIZE
} from './core/index.js';

/**
 * The one place that reads the environment (docs/design.md §6). Values come from the process environment and, beneath
 * it, a `.env` file; everything is validated at once and every problem is listed.
 */

/** A secret value (bot token, USER_KEY). Printing it in any way shows `[redacted]`; `reveal()` gives the value. */
export class Secret {
	readonly #value: string;

	public constructor(value: string) {
		this.#value = value;
	}

	public reveal(): string {
		return this.#value;
	}

	public toString(): string {
		return '[redacted]';
	}

	public toJSON(): string {
		return '[redacted]';
	}

	public [inspect.custom](): string {
		return 'Secret([redacted])';
	}
}

/** The validated configuration. */
export interface AppConfig {
	readonly discord: {
		readonly token: Secret | undefined;
		readonly archiveChannelId: string | undefined;
		readonly logChannelId: string | undefined;
		/** A development guild: commands are registered there only, instantly. */
		readonly guildId: string | undefined;
		/** Base URL of the Discord REST API (an emulator in tests and the sandbox). */
		readonly apiUrl: string;
		/**
		 * User ids of the original tool's bot (`DOS_LEGACY_BOT_IDS`): its cards are imported by a rebuild besides this
		 * bot's own. Empty: only this bot's cards are.
		 */
		readonly legacyBotIds: readonly string[];
	};
	/** The passphrase of every archive; without it, encrypted work is refused. */
	readonly userKey: Secret | undefined;
	readonly paths: {
		readonly uploadRoot: string;
		readonly downloadRoot: string;
		readonly database: string;
	};
	readonly access: {
		readonly ownerIds: readonly string[];
		readonly allowedRoleIds: readonly string[];
	};
	/** What the original Python tool left behind, for moving over (its own variable names). */
	readonly legacy: {
		/** Its history log: `DISCORD_DRIVE_LOG_FILE`, else `~/discord-drive-history.json` (its default) when that exists. */
		readonly logFile: string;
		/** Whether `logFile` was named by `DISCORD_DRIVE_LOG_FILE` (so its absence is a mistake, not a default). */
		readonly logFileSet: boolean;
		/** Where its thread-less archives' chunk messages live: `DISCORD_DRIVE_STORAGE_CHANNEL_ID`, else `STORAGE_CHANNEL_ID`. */
		readonly storageChannelId: string | undefined;
	};
	readonly interactions: {
		/** Seconds the cleanup question's Delete and Keep buttons can be answered (`DOS_CLEANUP_CONFIRM_SECONDS`). */
		readonly cleanupConfirmSeconds: number;
	};
	readonly backups: {
		/** At most one automatic index backup per this many minutes, 0 for none (`DOS_INDEX_BACKUP_MINUTES`, default 10). */
		readonly intervalMinutes: number;
	};
	readonly engine: {
		readonly chunkSize: number;
		readonly gzipLevel: number;
		readonly workers: number;
		readonly uploadConcurrency: number;
		readonly attachmentLimit: number;
		/**
		 * Format 2 blob codec (`DOS_COMPRESSION`): `none`, `gzip-1`…`gzip-9`, `zstd-1`…`zstd-19`; default `gzip-N` from
		 * `DOS_GZIP_LEVEL` (level 0 is `none`), else `gzip-9` (the gzip of the original design; `zstd-3` is faster).
		 */
		readonly compression: string;
		/** Format 2 pack limit in bytes (`DOS_PACK_SIZE`, default 9.5 MiB, never above the attachment limit). */
		readonly packSize: number;
		/** Format 2 dedup scope (`DOS_DEDUP`): `repository` (default) or `archive`. */
		readonly dedup: 'repository' | 'archive';
		/** The format of new uploads (`DOS_FORMAT`): 2 (default), the channel's content-addressed repository, or 1. */
		readonly format: 1 | 2;
		/** Format 2 packs per message (`DOS_PACKS_PER_MESSAGE`, default 2; the message must fit one request). */
		readonly packsPerMessage: number;
	};
}

/** What a command needs beyond the engine settings, so that each asks only for its own. */
export type ConfigNeed = 'userKey' | 'discordToken' | 'archiveChannel' | 'owners' | 'logChannel';

/** The configuration is invalid or incomplete; `problems` lists every one, each saying what to set. */
export class ConfigError extends Error {
	public readonly problems: readonly string[];

	public constructor(problems: readonly string[]) {
		super(
			`The configuration has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`
		);
		this.name = 'ConfigError';
		this.problems = problems;
	}
}

/** The variables read, as documented in docs/design.md §6. */
export const CONFIG_VARIABLES = [
	'DISCORD_BOT_TOKEN',
	'DISCORD_DRIVE_ARCHIVE_CHANNEL_ID',
	'USER_KEY',
	'DISCORD_DRIVE_LOG_CHANNEL_ID',
	'DISCORD_DRIVE_UPLOAD_PATH',
	'DISCORD_DRIVE_DOWNLOAD_PATH',
	'DOS_DB_PATH',
	'OWNER_IDS',
	'ALLOWED_ROLE_IDS',
	'GUILD_ID',
	'DOS_CHUNK_SIZE',
	'DOS_GZIP_LEVEL',
	'DOS_COMPRESSION',
	'DOS_PACK_SIZE',
	'DOS_DEDUP',
	'DOS_FORMAT',
	'DOS_PACKS_PER_MESSAGE',
	'DOS_WORKERS',
	'DOS_UPLOAD_CONCURRENCY',
	'DOS_ATTACHMENT_LIMIT',
	'DOS_CLEANUP_CONFIRM_SECONDS',
	'DOS_INDEX_BACKUP_MINUTES',
	'DISCORD_API_URL',
	'DISCORD_DRIVE_LOG_FILE',
	'DISCORD_DRIVE_STORAGE_CHANNEL_ID',
	'STORAGE_CHANNEL_ID',
	'DOS_LEGACY_BOT_IDS'
] as const;

/** The shortest USER_KEY accepted, and below which a warning says it is weak (see {@link userKeyWarning}). */
export const USER_KEY_LENGTH = { min: 8, recommended: 12 } as const;

/** Whether a passphrase is shorter than USER_KEY accepts (counted in characters, not UTF-16 units). */
export function passphraseTooShort(passphrase: string): boolean {
	return Array.from(passphrase).length < USER_KEY_LENGTH.min;
}

/** The shortest real Discord bot token; shorter ones are accepted only by a local emulator. */
const BOT_TOKEN_MIN_LENGTH = 20;

/** Whether `url` names this machine (127.0.0.0/8, ::1, localhost): a local emulator, never Discord. */
export function isLoopbackUrl(url: string): boolean {
	let host: string;
	try {
		host = new URL(url).hostname.toLowerCase();
	} catch {
		return false;
	}
	return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/**
 * Discord's largest Create Message request without boosts (every attachment of a message together; a larger attachment
 * limit implies a larger request), and attachments per message.
 */
export const MESSAGE_REQUEST_BYTES = 25 * 1024 * 1024;
const MAX_ATTACHMENTS_PER_MESSAGE = 10;
/** Room kept in a message request for its JSON part and multipart framing. */
const REQUEST_OVERHEAD = 64 * 1024;

/** How long the cleanup question can be answered by default, and the bounds of `DOS_CLEANUP_CONFIRM_SECONDS`. */
export const CLEANUP_CONFIRM_SECONDS = { default: 60, min: 1, max: 900 } as const;

export type ConfigVariable = (typeof CONFIG_VARIABLES)[number];
export type ConfigEnv = Readonly<Partial<Record<string, string | undefined>>>;

const snowflake = z.string().regex(/^\d{17,20}$/, 'must be a Discord id (17–20 digits)');
const optional = <T extends z.ZodType>(schema: T) =>
	z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), schema.optional());
const integer = (min: number, max: number) => {
	const range = `must be a whole number from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}`;
	return z.coerce.number({ error: range }).int(range).min(min, range).max(max, range);
};
const idList = z
	.string()
	.transform((value) => value.split(/[\s,]+/).filter(Boolean))
	.pipe(z.array(snowflake));

const envSchema = z.object({
	// Length is checked below: a real token is long, the local emulator's (`emulator-bot-token`) is not.
	DISCORD_BOT_TOKEN: optional(z.string()),
	DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: optional(snowflake),
	// An empty USER_KEY (the `USER_KEY=` line of .env.example) counts as unset, refused by the commands that need
	// it; a short one is refused below.
	USER_KEY: optional(z.string()),
	DISCORD_DRIVE_LOG_CHANNEL_ID: optional(snowflake),
	DISCORD_DRIVE_UPLOAD_PATH: optional(z.string()),
	DISCORD_DRIVE_DOWNLOAD_PATH: optional(z.string()),
	DOS_DB_PATH: optional(z.string()),
	OWNER_IDS: optional(idList),
	ALLOWED_ROLE_IDS: optional(idList),
	GUILD_ID: optional(snowflake),
	DOS_CHUNK_SIZE: optional(integer(1, 0xffff_ffff)),
	DOS_GZIP_LEVEL: optional(integer(0, 9)),
	DOS_COMPRESSION: optional(
		z.string().regex(/^(none|gzip-[1-9]|zstd-([1-9]|1[0-9]))$/, 'must be none, gzip-1…gzip-9 or zstd-1…zstd-19 (default gzip-9)')
	),
	DOS_PACK_SIZE: optional(integer(MIN_PACK_SIZE, MAX_PACK_SIZE)),
	DOS_DEDUP: optional(z.enum(['repository', 'archive'], { error: 'must be repository or archive (default repository)' })),
	DOS_FORMAT: optional(z.enum(['1', '2'], { error: 'must be 1 or 2 (default 2)' })),
	DOS_PACKS_PER_MESSAGE: optional(integer(1, MAX_ATTACHMENTS_PER_MESSAGE)),
	DOS_WORKERS: optional(integer(1, 256)),
	DOS_UPLOAD_CONCURRENCY: optional(integer(1, 32)),
	DOS_INDEX_BACKUP_MINUTES: optional(integer(0, 1440)),
	DOS_ATTACHMENT_LIMIT: optional(integer(CONTAINER_OVERHEAD + 1, 1024 * 1024 * 1024)),
	// Bounded by the 15 minutes Discord keeps an interaction answerable; below a second nobody could click in time.
	DOS_CLEANUP_CONFIRM_SECONDS: optional(
		z.coerce
			.number({ error: 'must be a whole number of seconds' })
			.int('must be a whole number of seconds')
			.min(CLEANUP_CONFIRM_SECONDS.min, `must be at least ${CLEANUP_CONFIRM_SECONDS.min} second (default ${CLEANUP_CONFIRM_SECONDS.default})`)
			.max(
				CLEANUP_CONFIRM_SECONDS.max,
				`must be at most ${CLEANUP_CONFIRM_SECONDS.max} seconds, 15 minutes (default ${CLEANUP_CONFIRM_SECONDS.default})`
			)
	),
	DISCORD_API_URL: optional(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })),
	DISCORD_DRIVE_LOG_FILE: optional(z.string()),
	DISCORD_DRIVE_STORAGE_CHANNEL_ID: optional(snowflake),
	STORAGE_CHANNEL_ID: optional(snowflake),
	DOS_LEGACY_BOT_IDS: optional(idList)
});

const needs: Record<ConfigNeed, { variable: ConfigVariable; missing: string }> = {
	userKey: {
		variable: 'USER_KEY',
		missing: 'USER_KEY is not set: put your archive passphrase in it (`export USER_KEY=…` or a `USER_KEY=…` line in .env).'
	},
	discordToken: {
		variable: 'DISCORD_BOT_TOKEN',
		missing: 'DISCORD_BOT_TOKEN is not set: copy the bot token from the Discord developer portal into it.'
	},
	archiveChannel: {
		variable: 'DISCORD_DRIVE_ARCHIVE_CHANNEL_ID',
		missing: 'DISCORD_DRIVE_ARCHIVE_CHANNEL_ID is not set: put the id of the channel that holds the archive cards in it.'
	},
	owners: { variable: 'OWNER_IDS', missing: 'OWNER_IDS is not set: list the Discord user ids allowed to run archive commands (comma-separated).' },
	logChannel: {
		variable: 'DISCORD_DRIVE_LOG_CHANNEL_ID',
		missing: 'DISCORD_DRIVE_LOG_CHANNEL_ID is not set: put the id of the channel for index backups in it.'
	}
};

/** Options of {@link parseConfig} and {@link loadConfig}. */
export interface ConfigOptions {
	/** Fail unless these are set (each command asks only for what it uses). */
	readonly require?: readonly ConfigNeed[];
	/** Relative paths are resolved from here; default the working directory. */
	readonly cwd?: string;
}

/**
 * Validates configuration from an environment object (testable: pass any object).
 *
 * @throws {ConfigError} listing every invalid or missing variable at once; secrets never appear in it.
 */
export function parseConfig(env: ConfigEnv, options: ConfigOptions = {}): AppConfig {
	const cwd = options.cwd ?? process.cwd();
	const picked = Object.fromEntries(CONFIG_VARIABLES.map((name) => [name, env[name]]));
	const parsed = envSchema.safeParse(picked);
	const problems: string[] = [];
	if (!parsed.success) {
		for (const issue of parsed.error.issues) {
			const name = String(issue.path[0] ?? '(environment)');
			const secret = name === 'USER_KEY' || name === 'DISCORD_BOT_TOKEN';
			problems.push(`${name} ${issue.message}${secret ? '' : ` (got ${JSON.stringify(picked[name] ?? '')})`}.`);
		}
	}
	const token = picked.DISCORD_BOT_TOKEN?.trim() ?? '';
	if (token !== '' && token.length < BOT_TOKEN_MIN_LENGTH && !isLoopbackUrl(picked.DISCORD_API_URL ?? '')) {
		problems.push(
			'DISCORD_BOT_TOKEN does not look like a bot token (too short): copy it again from the Discord developer portal (Bot → Reset Token). Short tokens are accepted only with DISCORD_API_URL pointing at a local emulator (127.0.0.1).'
		);
	}
	const userKey = picked.USER_KEY;
	if (userKey !== undefined && userKey.trim() !== '' && passphraseTooShort(userKey)) {
		problems.push(
			`USER_KEY is too short (under ${USER_KEY_LENGTH.min} characters): an archive sealed with it could be opened by guessing. Use a passphrase of at least ${USER_KEY_LENGTH.recommended} characters, e.g. four random words.`
		);
	}
	for (const need of options.require ?? []) {
		const { variable, missing } = needs[need];
		if ((picked[variable] ?? '').trim() === '') problems.push(missing);
	}
	const values = parsed.success ? parsed.data : undefined;
	const chunkSize = values?.DOS_CHUNK_SIZE ?? DEFAULT_CHUNK_SIZE;
	const attachmentLimit = values?.DOS_ATTACHMENT_LIMIT ?? DEFAULT_ATTACHMENT_LIMIT;
	if (chunkSize + CONTAINER_OVERHEAD > attachmentLimit) {
		problems.push(
			`DOS_CHUNK_SIZE (${chunkSize}) plus ${CONTAINER_OVERHEAD} bytes of chunk overhead exceeds DOS_ATTACHMENT_LIMIT (${attachmentLimit}): use a chunk size of at most ${attachmentLimit - CONTAINER_OVERHEAD}.`
		);
	}
	// Unset, the pack limit follows a smaller attachment limit; set, it is refused above it.
	const packSize = values?.DOS_PACK_SIZE ?? Math.min(DEFAULT_PACK_SIZE, attachmentLimit);
	if (packSize > attachmentLimit) {
		problems.push(
			`DOS_PACK_SIZE (${packSize}) exceeds DOS_ATTACHMENT_LIMIT (${attachmentLimit}): a pack is one attachment; use at most ${attachmentLimit}.`
		);
	}
	// One message carries its packs in one request: an explicit count that cannot fit is refused; the default of 2
	// drops to what fits (one pack of a server's largest attachments).
	const requestBytes = Math.max(MESSAGE_REQUEST_BYTES, attachmentLimit);
	const packsThatFit = Math.max(1, Math.floor((requestBytes - REQUEST_OVERHEAD) / packSize));
	const packsPerMessage = values?.DOS_PACKS_PER_MESSAGE ?? Math.min(2, packsThatFit);
	if (packsPerMessage > packsThatFit) {
		problems.push(
			`DOS_PACKS_PER_MESSAGE (${packsPerMessage}) packs of DOS_PACK_SIZE (${packSize}) bytes do not fit one message request of ${requestBytes} bytes: use at most ${packsThatFit} packs per message, or smaller packs.`
		);
	}
	if (values === undefined || problems.length > 0) throw new ConfigError(problems);
	const gzipLevel = values.DOS_GZIP_LEVEL ?? DEFAULT_GZIP_LEVEL;
	const resolve = (value: string | undefined, fallback: string) => path.resolve(cwd, value ?? fallback);
	return {
		discord: {
			token: values.DISCORD_BOT_TOKEN === undefined ? undefined : new Secret(values.DISCORD_BOT_TOKEN),
			archiveChannelId: values.DISCORD_DRIVE_ARCHIVE_CHANNEL_ID,
			logChannelId: values.DISCORD_DRIVE_LOG_CHANNEL_ID,
			guildId: values.GUILD_ID,
			apiUrl: (values.DISCORD_API_URL ?? 'https://discord.com/api').replace(/\/+$/, ''),
			legacyBotIds: values.DOS_LEGACY_BOT_IDS ?? []
		},
		userKey: values.USER_KEY === undefined ? undefined : new Secret(values.USER_KEY),
		paths: {
			uploadRoot: resolve(values.DISCORD_DRIVE_UPLOAD_PATH, 'data/uploads'),
			downloadRoot: resolve(values.DISCORD_DRIVE_DOWNLOAD_PATH, 'data/downloads'),
			database: resolve(values.DOS_DB_PATH, 'data/dos.sqlite')
		},
		access: { ownerIds: values.OWNER_IDS ?? [], allowedRoleIds: values.ALLOWED_ROLE_IDS ?? [] },
		legacy: {
			logFile:
				values.DISCORD_DRIVE_LOG_FILE === undefined
					? path.join(homedir(), 'discord-drive-history.json')
					: path.resolve(cwd, values.DISCORD_DRIVE_LOG_FILE.replace(/^~(?=$|[\\/])/, homedir())),
			logFileSet: values.DISCORD_DRIVE_LOG_FILE !== undefined,
			storageChannelId: values.DISCORD_DRIVE_STORAGE_CHANNEL_ID ?? values.STORAGE_CHANNEL_ID
		},
		interactions: { cleanupConfirmSeconds: values.DOS_CLEANUP_CONFIRM_SECONDS ?? CLEANUP_CONFIRM_SECONDS.default },
		backups: { intervalMinutes: values.DOS_INDEX_BACKUP_MINUTES ?? 10 },
		engine: {
			chunkSize,
			gzipLevel,
			workers: values.DOS_WORKERS ?? Math.max(1, availableParallelism()),
			uploadConcurrency: values.DOS_UPLOAD_CONCURRENCY ?? 3,
			attachmentLimit,
			compression: values.DOS_COMPRESSION ?? (gzipLevel === 0 ? 'none' : `gzip-${gzipLevel}`),
			packSize,
			dedup: values.DOS_DEDUP ?? 'repository',
			format: values.DOS_FORMAT === '1' ? 1 : 2,
			packsPerMessage
		}
	};
}

/**
 * A warning for a USER_KEY that is accepted but weak (under {@link USER_KEY_LENGTH}.recommended characters), or
 * undefined. The bot logs it at start; the CLI prints it before encrypted work.
 */
export function userKeyWarning(config: Pick<AppConfig, 'userKey'>): string | undefined {
	const key = config.userKey?.reveal();
	if (key === undefined || Array.from(key).length >= USER_KEY_LENGTH.recommended) return undefined;
	return `USER_KEY is shorter than ${USER_KEY_LENGTH.recommended} characters: archives sealed with it are easier to open by guessing. A longer passphrase (four random words) is safer; an archive keeps the key it was made with.`;
}

/**
 * Loads the configuration: the process environment (or `env`) over the `.env` file in `cwd` (or `envFile`), which
 * never overrides a variable that is already set.
 *
 * @throws {ConfigError} as {@link parseConfig}, and when `envFile` is named but cannot be read.
 */
export function loadConfig(options: ConfigOptions & { env?: ConfigEnv; envFile?: string } = {}): AppConfig {
	const cwd = options.cwd ?? process.cwd();
	return parseConfig(readEnvironment({ ...options, cwd }), { ...options, cwd });
}

/**
 * The variables the configuration is read from: the process environment (or `env`) over the `.env` file in `cwd`
 * (or `envFile`), which never overrides a variable that is already set. A missing default `.env` is no error.
 *
 * @throws {ConfigError} when `envFile` is named but cannot be read, or `.env` exists but cannot be read.
 */
export function readEnvironment(options: { env?: ConfigEnv; envFile?: string; cwd?: string } = {}): Record<string, string> {
	const envFile = options.envFile ?? path.join(options.cwd ?? process.cwd(), '.env');
	let fromFile: Record<string, string> = {};
	try {
		fromFile = parseDotenv(readFileSync(envFile));
	} catch (error) {
		if (options.envFile !== undefined || (error as NodeJS.ErrnoException).code !== 'ENOENT') {
			throw new ConfigError([`${envFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}).`]);
		}
	}
	const fromEnv = Object.entries(options.env ?? process.env).filter((entry): entry is [string, string] => entry[1] !== undefined);
	return { ...fromFile, ...Object.fromEntries(fromEnv) };
}
