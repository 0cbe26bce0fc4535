import { open, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bodyWithoutFiles, readJsonBody, type ReceivedBody } from './body.js';
import type { Emulation } from './emulation.js';
import { DiscordApiError, DiscordRefusal, EmulatorError, EmulatorErrorCode } from './errors.js';
import type { FaultKind, FaultSettings } from './faults.js';
import type { GatewayDropMode } from './gateway.js';
import { GatewayIntent } from './gateway-intents.js';
import type { InteractionRequest, InteractionView } from './interactions.js';
import { postMessage } from './messaging.js';
import type { EmulatorLimits } from './options.js';
import { resolveLimits } from './options.js';
import type { ControlMessage } from './payloads.js';
import { Permission, REVOKED_BOT_PERMISSIONS } from './permissions.js';
import type { WorldIds } from './world.js';

/** `GET /_emu/state`. */
export interface EmulatorStateView {
	guildId: string;
	applicationId: string;
	botUserId: string;
	users: { owner: string; member: string; outsider: string };
	channels: { id: string; name: string; type: number; parentId: string | null; archived: boolean; locked: boolean; botAccess: BotAccess }[];
	roles: WorldIds['roles'];
	gateway: { url: string; connectedSessions: number; connections: number; identifies: number; resumes: number };
	apiUrl: string;
}

/** `GET /_emu/stats`. */
export interface EmulatorStats {
	requests: number;
	byRoute: Record<string, number>;
	status429: number;
	status5xx: number;
	/** Faults that actually hit a request, per kind (a rate may roll none in a short run: assert on these). */
	faultsInjected: Record<FaultKind, number>;
	/** The same per route key (interaction callbacks and webhooks included); only routes some fault hit. */
	faultsInjectedByRoute: Record<string, Record<FaultKind, number>>;
	messages: number;
	attachments: number;
	bytesStored: number;
	/** Body bytes the CDN set out to send: a range read counts its range, a whole download the attachment. */
	cdnBytes: number;
	unknownRoutes: string[];
	gatewayConnections: number;
	/** The emulator process's memory now and at its peak (it must not grow with the bytes stored). */
	memory: { rssBytes: number; peakRssBytes: number; heapUsedBytes: number };
}

/** A file another author posts through the control API: its name and its bytes in base64. */
export interface ForeignFile {
	readonly name: string;
	readonly data: string;
}

/** The bot's access to a channel: everything, reading only (writes get 50013), or none (50001). */
export type BotAccess = 'full' | 'read-only' | 'none';

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The control powers, shared by the HTTP control API under `/_emu` and the in-process TypeScript API:
 * read the world, act as a user, inject faults, change limits, revoke the bot's access, tamper with bytes.
 */
export class Control {
	readonly #emu: Emulation;

	public constructor(emu: Emulation) {
		this.#emu = emu;
	}

	public state(): EmulatorStateView {
		const { world, gateway } = this.#emu;
		return {
			guildId: world.ids.guildId,
			applicationId: world.ids.applicationId,
			botUserId: world.ids.botUserId,
			users: { ...world.ids.users },
			channels: [...world.channels.values()].map((channel) => ({
				id: channel.id,
				name: channel.name,
				type: channel.type,
				parentId: channel.parentId,
				archived: channel.thread?.archived ?? false,
				locked: channel.thread?.locked ?? false,
				botAccess: this.#access(channel.id)
			})),
			roles: { ...world.ids.roles },
			gateway: {
				url: gateway.url,
				connectedSessions: gateway.connectedSessions,
				connections: gateway.connections,
				identifies: gateway.identifies,
				resumes: gateway.resumes
			},
			apiUrl: `${this.#emu.baseUrl}/api`
		};
	}

	/** Every message of a channel or thread, oldest first (ephemeral ones excepted). @throws EmulatorError `EMULATOR_NOT_FOUND`. */
	public messages(channelId: string): ControlMessage[] {
		const { world, payloads } = this.#emu;
		if (!world.channels.has(channelId)) throw new EmulatorError(EmulatorErrorCode.NotFound, `No channel ${channelId}.`);
		return world
			.channelMessageIds(channelId)
			.map((id) => world.messages.get(id))
			.filter((message): message is NonNullable<typeof message> => message !== undefined && !message.ephemeral)
			.map((message) => payloads.controlMessage(message));
	}

	public stats(): EmulatorStats {
		const { stats, world, gateway } = this.#emu;
		let messages = 0;
		for (const message of world.messages.values()) if (!message.ephemeral) messages++;
		return {
			requests: stats.requests,
			byRoute: { ...stats.byRoute },
			status429: stats.status429,
			status5xx: stats.status5xx,
			faultsInjected: { ...this.#emu.faults.injected },
			faultsInjectedByRoute: Object.fromEntries(
				Object.entries(this.#emu.faults.injectedByRoute).map(([route, counts]) => [route, { ...counts }])
			),
			messages,
			attachments: world.attachmentCount,
			bytesStored: world.bytesStored,
			cdnBytes: stats.cdnBytes,
			unknownRoutes: [...stats.unknownRoutes],
			gatewayConnections: gateway.connections,
			memory: {
				rssBytes: process.memoryUsage.rss(),
				peakRssBytes: process.resourceUsage().maxRSS * 1024,
				heapUsedBytes: process.memoryUsage().heapUsed
			}
		};
	}

	public resetStats(): void {
		this.#emu.stats.reset();
		this.#emu.faults.resetCounts();
	}

	public faults(): FaultSettings {
		return { ...this.#emu.faults.settings };
	}

	/** @throws EmulatorError `EMULATOR_INVALID_OPTION`. */
	public setFaults(patch: Partial<FaultSettings>): FaultSettings {
		return this.#emu.faults.set(patch);
	}

	public resetFaults(): FaultSettings {
		return this.#emu.faults.reset();
	}

	public limits(): EmulatorLimits {
		return { ...this.#emu.limits };
	}

	/** @throws EmulatorError `EMULATOR_INVALID_OPTION`. */
	public setLimits(patch: Partial<EmulatorLimits>): EmulatorLimits {
		this.#emu.limits = resolveLimits(this.#emu.limits, patch);
		return this.limits();
	}

	/** @see Interactions.create */
	public interact(request: InteractionRequest): { id: string } {
		return this.#emu.interactions.create(request);
	}

	/** @see Interactions.wait */
	public interaction(id: string, waitMs = 0): Promise<InteractionView> {
		return this.#emu.interactions.wait(id, Math.max(0, Math.min(waitMs, 120_000)));
	}

	public dropGateway(mode: GatewayDropMode = 'terminate', code?: number): number {
		return this.#emu.gateway.drop(mode, code);
	}

	/**
	 * Sets the bot's access to a text channel (threads follow their parent) through a member permission
	 * overwrite, as a server admin would, and announces it with CHANNEL_UPDATE.
	 * @throws EmulatorError `EMULATOR_NOT_FOUND`, or `EMULATOR_BAD_CONTROL_REQUEST` for a thread.
	 */
	public setBotAccess(channelId: string, access: BotAccess): BotAccess {
		const { world, payloads } = this.#emu;
		const channel = world.channels.get(channelId);
		if (!channel) throw new EmulatorError(EmulatorErrorCode.NotFound, `No channel ${channelId}.`);
		if (channel.thread) {
			throw new EmulatorError(
				EmulatorErrorCode.BadControlRequest,
				`Channel ${channelId} is a thread: threads take their permissions from their parent, revoke there.`
			);
		}
		if (!['full', 'read-only', 'none'].includes(access))
			throw new EmulatorError(EmulatorErrorCode.BadControlRequest, 'access must be "full", "read-only" or "none".');
		channel.permissionOverwrites = channel.permissionOverwrites.filter(
			(overwrite) => !(overwrite.type === 1 && overwrite.id === world.ids.botUserId)
		);
		if (access !== 'full') {
			const deny =
				access === 'none' ? REVOKED_BOT_PERMISSIONS : REVOKED_BOT_PERMISSIONS & ~(Permission.ViewChannel | Permission.ReadMessageHistory);
			channel.permissionOverwrites.push({ id: world.ids.botUserId, type: 1, allow: '0', deny: deny.toString() });
		}
		world.markChanged();
		world.dispatch('CHANNEL_UPDATE', payloads.channel(channel), GatewayIntent.Guilds);
		return access;
	}

	/**
	 * Flips one byte of a stored attachment (for tamper tests): at `offset`, or in the middle by default.
	 * @throws EmulatorError `EMULATOR_NOT_FOUND` or `EMULATOR_BAD_CONTROL_REQUEST` (empty file, offset outside).
	 */
	public async corruptAttachment(attachmentId: string, offset?: number): Promise<{ id: string; offset: number }> {
		const { world } = this.#emu;
		const message = world.attachmentOwner(attachmentId);
		const attachment = message?.attachments.find((entry) => entry.id === attachmentId);
		if (!attachment) throw new EmulatorError(EmulatorErrorCode.NotFound, `No attachment ${attachmentId}.`);
		if (attachment.size === 0)
			throw new EmulatorError(EmulatorErrorCode.BadControlRequest, `Attachment ${attachmentId} is empty: there is no byte to flip.`);
		const at = offset ?? Math.floor(attachment.size / 2);
		if (!Number.isInteger(at) || at < 0 || at >= attachment.size) {
			throw new EmulatorError(EmulatorErrorCode.BadControlRequest, `offset must be an integer in [0, ${attachment.size - 1}].`);
		}
		const handle = await open(world.attachmentPath(attachmentId), 'r+');
		try {
			const byte = Buffer.alloc(1);
			await handle.read(byte, 0, 1, at);
			byte[0] = (byte[0] ?? 0) ^ 0xff;
			await handle.write(byte, 0, 1, at);
		} finally {
			await handle.close();
		}
		return { id: attachmentId, offset: at };
	}

	/**
	 * Posts a message as a user (not the bot), e.g. someone chatting in the archive channel.
	 * @throws EmulatorError `EMULATOR_NOT_FOUND`; DiscordApiError for an invalid message.
	 */
	public async postAsUser(channelId: string, user: string, content: string): Promise<ControlMessage> {
		const { world, payloads } = this.#emu;
		const channel = world.channels.get(channelId);
		if (!channel) throw new EmulatorError(EmulatorErrorCode.NotFound, `No channel ${channelId}.`);
		const userId = this.#userId(user);
		const { message } = await postMessage(this.#emu, {
			channel,
			authorId: userId,
			fields: { content },
			received: bodyWithoutFiles()
		});
		return payloads.controlMessage(message);
	}

	/**
	 * Posts a message as someone other than this bot, with files: a user (`owner`, `member`, `outsider` or a user id),
	 * `other-bot` (another bot of the guild, `author.bot: true`) or `webhook` (a webhook of the channel: `author.bot:
	 * true`, `webhook_id` set). The two foreign bot authors are created on first use and keep their ids.
	 * @throws EmulatorError `EMULATOR_NOT_FOUND`, `EMULATOR_BAD_CONTROL_REQUEST`; DiscordApiError for an invalid message.
	 */
	public async postAs(channelId: string, author: string, content: string, files: readonly ForeignFile[] = []): Promise<ControlMessage> {
		const { world, payloads } = this.#emu;
		const channel = world.channels.get(channelId);
		if (!channel) throw new EmulatorError(EmulatorErrorCode.NotFound, `No channel ${channelId}.`);
		const foreign = author === 'other-bot' || author === 'webhook';
		const authorId = foreign ? this.#foreignBot(author) : this.#userId(author);
		const paths: string[] = [];
		for (const file of files) {
			const path = world.incomingPath();
			await writeFile(path, Buffer.from(file.data, 'base64'));
			paths.push(path);
		}
		const received: ReceivedBody = {
			json: null,
			files: files.map((file, index) => ({
				field: `files[${index}]`,
				index,
				filename: file.name,
				contentType: 'application/octet-stream',
				size: Buffer.from(file.data, 'base64').byteLength,
				path: paths[index]!
			})),
			discard: async () => {
				for (const path of paths) await rm(path, { force: true });
			}
		};
		const { message } = await postMessage(this.#emu, {
			channel,
			authorId,
			fields: { content },
			received,
			...(author === 'webhook' ? { webhookId: authorId } : {})
		});
		return payloads.controlMessage(message);
	}

	/** The id of the seeded-on-first-use foreign bot author (`other-bot` or `webhook`). */
	#foreignBot(kind: 'other-bot' | 'webhook'): string {
		const { world } = this.#emu;
		const username = kind === 'webhook' ? 'Captain Hook' : 'Other Bot';
		for (const user of world.users.values()) if (user.bot && user.username === username) return user.id;
		const id = world.snowflakes.next();
		world.users.set(id, { id, username, globalName: null, bot: true });
		world.markChanged();
		return id;
	}

	/** Archives a thread as Discord's auto-archive would. @throws EmulatorError `EMULATOR_NOT_FOUND`. */
	public archiveThread(threadId: string): void {
		const { world, payloads } = this.#emu;
		const thread = world.channels.get(threadId);
		if (!thread?.thread) throw new EmulatorError(EmulatorErrorCode.NotFound, `No thread ${threadId}.`);
		thread.thread.archived = true;
		thread.thread.archiveTimestamp = new Date().toISOString();
		world.markChanged();
		world.dispatch('THREAD_UPDATE', payloads.channel(thread), GatewayIntent.Guilds);
	}

	/**
	 * A user reopens an archived thread, as a member clicking "unarchive" would. A locked thread may be reopened
	 * only by members with Manage Threads (others: 403/50013); the active-thread cap applies (160006).
	 * @throws EmulatorError `EMULATOR_NOT_FOUND`; DiscordApiError 50013, 160006.
	 */
	public unarchiveThreadAs(threadId: string, user: string): void {
		const { world, payloads } = this.#emu;
		const thread = world.channels.get(threadId);
		if (!thread?.thread) throw new EmulatorError(EmulatorErrorCode.NotFound, `No thread ${threadId}.`);
		const userId = this.#userId(user);
		if (!thread.thread.archived) return;
		if (thread.thread.locked && (payloads.channelPermissions(userId, thread) & Permission.ManageThreads) === 0n) {
			throw DiscordRefusal.missingPermissions();
		}
		if (world.activeThreadCount() >= this.#emu.limits.activeThreads) throw DiscordRefusal.maxActiveThreads();
		thread.thread.archived = false;
		thread.thread.archiveTimestamp = new Date().toISOString();
		world.markChanged();
		world.dispatch('THREAD_UPDATE', payloads.channel(thread), GatewayIntent.Guilds);
	}

	#userId(user: string): string {
		const { world } = this.#emu;
		const userId = user === 'owner' || user === 'member' || user === 'outsider' ? world.ids.users[user] : user;
		if (!world.users.has(userId)) throw new EmulatorError(EmulatorErrorCode.NotFound, `No user ${user}.`);
		return userId;
	}

	#access(channelId: string): BotAccess {
		const { world } = this.#emu;
		const channel = world.channels.get(channelId);
		const target = channel?.thread && channel.parentId ? world.channels.get(channel.parentId) : channel;
		const overwrite = target?.permissionOverwrites.find((entry) => entry.type === 1 && entry.id === world.ids.botUserId);
		if (!overwrite) return 'full';
		return (BigInt(overwrite.deny) & Permission.ViewChannel) !== 0n ? 'none' : 'read-only';
	}

	/** Serves one `/_emu/...` request. */
	public async handle(request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
		try {
			const result = await this.#route(request, url);
			send(response, result === undefined ? 204 : 200, result);
		} catch (error) {
			if (error instanceof EmulatorError) {
				send(response, error.code === EmulatorErrorCode.NotFound ? 404 : 400, { error: error.code, message: error.message });
			} else if (error instanceof DiscordApiError) {
				send(response, error.status, { error: 'DISCORD_API_ERROR', ...error.toBody() });
			} else {
				send(response, 500, { error: 'EMULATOR_INTERNAL', message: String(error) });
			}
		}
	}

	async #route(request: IncomingMessage, url: URL): Promise<unknown> {
		const method = request.method ?? 'GET';
		const path = url.pathname.replace(/^\/_emu/, '').replace(/\/$/, '') || '/';
		const body = async (): Promise<Record<string, unknown>> => {
			const parsed = await readJsonBody(request, 'application/json');
			if (parsed === null) return {};
			if (!isRecord(parsed)) throw new EmulatorError(EmulatorErrorCode.BadControlRequest, 'The body must be a JSON object.');
			return parsed;
		};
		let match: RegExpExecArray | null;
		if (method === 'GET' && path === '/state') return this.state();
		if (method === 'GET' && path === '/stats') return this.stats();
		if (method === 'DELETE' && path === '/stats') {
			this.resetStats();
			return;
		}
		if (method === 'GET' && path === '/faults') return this.faults();
		if (method === 'PUT' && path === '/faults') return this.setFaults(await body());
		if (method === 'DELETE' && path === '/faults') return this.resetFaults();
		if (method === 'GET' && path === '/limits') return this.limits();
		if (method === 'PUT' && path === '/limits') return this.setLimits(await body());
		if (method === 'POST' && path === '/gateway/drop') {
			const options = await body();
			const mode = (options.mode ?? 'terminate') as GatewayDropMode;
			if (!['terminate', 'close', 'reconnect', 'invalidate'].includes(mode)) {
				throw new EmulatorError(EmulatorErrorCode.BadControlRequest, 'mode must be "terminate", "close", "reconnect" or "invalidate".');
			}
			return { dropped: this.dropGateway(mode, typeof options.code === 'number' ? options.code : undefined) };
		}
		if (method === 'POST' && path === '/permissions') {
			const options = await body();
			if (typeof options.channelId !== 'string') throw new EmulatorError(EmulatorErrorCode.BadControlRequest, 'permissions needs "channelId".');
			let access: BotAccess;
			if (typeof options.access === 'string') access = options.access as BotAccess;
			else if (typeof options.revoke === 'boolean') access = options.revoke ? (options.scope === 'all' ? 'none' : 'read-only') : 'full';
			else
				throw new EmulatorError(
					EmulatorErrorCode.BadControlRequest,
					'permissions needs "revoke": true|false (optionally "scope": "write"|"all"), or "access": "full"|"read-only"|"none".'
				);
			return { channelId: options.channelId, access: this.setBotAccess(options.channelId, access) };
		}
		if (method === 'POST' && (match = /^\/attachments\/(\d+)\/corrupt$/.exec(path))) {
			const options = await body();
			return this.corruptAttachment(match[1]!, typeof options.offset === 'number' ? options.offset : undefined);
		}
		if (method === 'POST' && path === '/interactions') return this.interact((await body()) as unknown as InteractionRequest);
		if (method === 'GET' && (match = /^\/interactions\/(\d+)$/.exec(path))) {
			const wait = Number(url.searchParams.get('wait') ?? '0');
			return this.interaction(match[1]!, Number.isFinite(wait) ? wait : 0);
		}
		if (method === 'GET' && (match = /^\/channels\/(\d+)\/messages$/.exec(path))) return this.messages(match[1]!);
		if (method === 'POST' && (match = /^\/channels\/(\d+)\/messages$/.exec(path))) {
			const options = await body();
			const content = typeof options.content === 'string' ? options.content : '';
			if (options.author === undefined && options.files === undefined) {
				return this.postAsUser(match[1]!, typeof options.user === 'string' ? options.user : 'member', content);
			}
			const author = typeof options.author === 'string' ? options.author : typeof options.user === 'string' ? options.user : 'member';
			const files = options.files ?? [];
			if (
				!Array.isArray(files) ||
				!files.every((file) => isRecord(file) && typeof file.name === 'string' && file.name.length > 0 && typeof file.data === 'string')
			) {
				throw new EmulatorError(EmulatorErrorCode.BadControlRequest, '"files" must be a list of { name, data } with data in base64.');
			}
			return this.postAs(match[1]!, author, content, files as ForeignFile[]);
		}
		if (method === 'POST' && (match = /^\/threads\/(\d+)\/archive$/.exec(path))) {
			this.archiveThread(match[1]!);
			return;
		}
		if (method === 'POST' && (match = /^\/threads\/(\d+)\/unarchive$/.exec(path))) {
			const options = await body();
			this.unarchiveThreadAs(match[1]!, typeof options.user === 'string' ? options.user : 'member');
			return;
		}
		throw new EmulatorError(
			EmulatorErrorCode.NotFound,
			`No control route ${method} /_emu${path}. See the emulator's README section for the routes.`
		);
	}
}

function send(response: ServerResponse, status: number, body: unknown): void {
	if (status === 204) {
		response.writeHead(204).end();
		return;
	}
	const text = JSON.stringify(body);
	response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}
