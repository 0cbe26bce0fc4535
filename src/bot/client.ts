import { fileURLToPath } from 'node:url';
import { ApplicationCommandRegistries, container, LogLevel, SapphireClient } from '@sapphire/framework';
import { GatewayIntentBits } from 'discord.js';
import { importHistoryLogFile } from '../archive/legacy-log-import.js';
import { ArchiveService } from '../archive/service.js';
import type { AppConfig } from '../config.js';
import type { AccessPolicy } from './lib/access.js';
import { openBotArchiveContext, type OwnedArchiveContext } from './lib/archive-context.js';
import { logFinishedJobs } from './lib/job-log.js';
import { BotLogger } from './lib/logger.js';
import { Redactor } from '../core/redact.js';

/** What the pieces reach through `container.dos`. */
export interface BotRuntime {
	readonly config: AppConfig;
	readonly access: AccessPolicy;
	readonly redactor: Redactor;
}

declare module '@sapphire/pieces' {
	interface Container {
		dos: BotRuntime;
		/** The archive service; set between `login()` and `destroy()`. */
		archive: ArchiveService;
	}
}

/** Options of {@link DosClient}. */
export interface DosClientOptions {
	readonly config: AppConfig;
	/** Default Info. */
	readonly logLevel?: LogLevel;
	/** Where log lines go; default stderr. */
	readonly writeLog?: (line: string) => void;
}

/**
 * The bot: a slash-only Sapphire client with the `Guilds` intent alone. It owns the archive service's
 * lifecycle — the index, the worker pool and the job runner start before `login` and are closed in `destroy()`
 * — and registers `/archive` in `GUILD_ID` when set (instant, for development) or globally otherwise.
 * Its pieces (commands, listeners, preconditions, interaction handlers) are found by Sapphire's own scanning of
 * this folder, from `src/bot` under a TypeScript loader or from `dist/bot` once built.
 */
export class DosClient extends SapphireClient {
	readonly #config: AppConfig;
	#archive: OwnedArchiveContext | undefined;
	#service: ArchiveService | undefined;
	#stopping: Promise<void> | undefined;

	public constructor(options: DosClientOptions) {
		const { config } = options;
		const redactor = new Redactor([config.discord.token?.reveal(), config.userKey?.reveal()]);
		super({
			intents: [GatewayIntentBits.Guilds],
			baseUserDirectory: fileURLToPath(new URL('.', import.meta.url)),
			rest: { api: config.discord.apiUrl, timeout: 120_000 },
			allowedMentions: { parse: [] },
			logger: { instance: new BotLogger(options.logLevel ?? LogLevel.Info, redactor, options.writeLog) },
			loadDefaultErrorListeners: false,
			loadSubcommandErrorListeners: false,
			loadMessageCommandListeners: false
		});
		this.#config = config;
		ApplicationCommandRegistries.setDefaultGuildIds(config.discord.guildId === undefined ? null : [config.discord.guildId]);
		container.dos = { config, access: config.access, redactor };
	}

	/**
	 * Opens the index and the worker pool, starts the job runner (its start-up sweep marks jobs a crash left
	 * "running" as interrupted), then loads the pieces and connects.
	 *
	 * @throws {IndexError} when the index cannot be opened; discord.js errors when the token is refused.
	 */
	public override async login(token?: string): Promise<string> {
		const secret = token ?? this.#config.discord.token?.reveal();
		if (secret === undefined) throw new RangeError('The bot needs DISCORD_BOT_TOKEN.');
		// The archive service shares this REST client: give it the token before any job can run.
		this.rest.setToken(secret);
		this.#archive = await openBotArchiveContext(this.#config, this.rest, (level, message, fields) => {
			container.logger[level](fields === undefined ? message : `${message} ${JSON.stringify(fields)}`);
		});
		// Sapphire decides between import() and require() from the package.json in the working directory; the bot is
		// ESM wherever it is started from (a service manager, another folder, the sandbox).
		for (const store of this.stores.values()) {
			const strategy = store.strategy as { clientUsesESModules?: boolean };
			if ('clientUsesESModules' in strategy) strategy.clientUsesESModules = true;
		}
		try {
			this.#service = new ArchiveService(this.#archive.context, { indexBackupIntervalMs: this.#config.backups.intervalMinutes * 60_000 });
			container.archive = this.#service;
			logFinishedJobs(this.#service);
			await this.#service.start();
			await this.#service.checkKeys();
			await this.#importHistoryLog();
			return await super.login(secret);
		} catch (error) {
			await this.#closeArchive();
			throw error;
		}
	}

	/** Stops the job runner (running jobs are marked interrupted, so Resume picks them up), closes the pool and the index, then disconnects. Idempotent. */
	public override async destroy(): Promise<void> {
		this.#stopping ??= (async () => {
			try {
				await this.#closeArchive();
			} finally {
				await super.destroy();
			}
		})();
		return this.#stopping;
	}

	/** The original tool's history log, when DISCORD_DRIVE_LOG_FILE names it: imported at every start (idempotent), never fatal. */
	async #importHistoryLog(): Promise<void> {
		const { legacy, discord } = this.#config;
		if (!legacy.logFileSet || this.#archive === undefined) return;
		try {
			const result = await importHistoryLogFile(this.#archive.context.index, legacy.logFile, {
				storageChannelId: legacy.storageChannelId,
				archiveChannelId: discord.archiveChannelId
			});
			container.logger.info(
				`History log ${legacy.logFile}: ${result.imported.length} archive(s) imported, ${result.alreadyIndexed.length} already in the index, ${result.refused.length} refused.`
			);
			for (const refusal of result.refused) {
				container.logger.warn(
					`History log entry ${refusal.position + 1}${refusal.archiveId === null ? '' : ` (${refusal.archiveId})`} refused: ${refusal.code} ${refusal.reason}`
				);
			}
		} catch (error) {
			container.logger.warn(`The history log ${legacy.logFile} was not imported: ${error instanceof Error ? error.message : String(error)}`);
		}
	}

	async #closeArchive(): Promise<void> {
		const service = this.#service;
		const archive = this.#archive;
		this.#service = undefined;
		this.#archive = undefined;
		try {
			if (service) await service.shutdown();
		} finally {
			if (archive) await archive.close();
		}
	}
}
