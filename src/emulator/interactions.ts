import { randomBytes } from 'node:crypto';
import type { Emulation } from './emulation.js';
import { EmulatorError, EmulatorErrorCode } from './errors.js';
import { GatewayIntent } from './gateway-intents.js';
import type { ControlMessage } from './payloads.js';
import type { StoredChannel, StoredCommand, StoredMessage } from './world.js';

/** Interaction types (Discord's numbers). */
export const InteractionType = { ApplicationCommand: 2, MessageComponent: 3, Autocomplete: 4 } as const;

/** Callback types the emulator accepts. */
export const CallbackType = {
	ChannelMessageWithSource: 4,
	DeferredChannelMessageWithSource: 5,
	DeferredUpdateMessage: 6,
	UpdateMessage: 7,
	AutocompleteResult: 8,
	Modal: 9
} as const;

export type InteractionKind = 'command' | 'autocomplete' | 'button';
export type InteractionStatus = 'pending' | 'acknowledged' | 'expired';

/** What `POST /_emu/interactions` takes: a user acting in the client. */
export interface InteractionRequest {
	kind: InteractionKind;
	/** Command name (command, autocomplete). */
	command?: string;
	subcommand?: string;
	/** Subcommand group, when the command has groups. */
	group?: string;
	/** Option values by name (strings, numbers, booleans; users/channels/roles by id). */
	options?: Record<string, unknown>;
	/** The option being typed into (autocomplete). */
	focused?: string;
	/** The message carrying the button, and its custom id (button). */
	messageId?: string;
	customId?: string;
	/** `owner`, `member`, `outsider` or a user id; default `owner`. */
	user?: string;
	/** Channel the command is run in; default the archive channel. */
	channelId?: string;
}

export interface AutocompleteChoice {
	name: string;
	value: string | number;
}

/** An interaction as the control API shows it. */
export interface InteractionView {
	id: string;
	kind: InteractionKind;
	status: InteractionStatus;
	/** The original response message as it stands now (after edits), or null. */
	reply: ControlMessage | null;
	followups: ControlMessage[];
	/** The autocomplete answer, or null. */
	choices: AutocompleteChoice[] | null;
	/** The callback type the bot answered with, or null. */
	responseType: number | null;
	/** The modal shown (callback 9), or null. */
	modal: unknown;
	userId: string;
	channelId: string;
}

export interface InteractionRecord {
	readonly id: string;
	readonly token: string;
	readonly kind: InteractionKind;
	readonly type: number;
	readonly channelId: string;
	readonly userId: string;
	readonly commandName: string;
	readonly createdAt: number;
	/** For a button: the message clicked. */
	readonly componentMessageId: string | null;
	status: InteractionStatus;
	responseType: number | null;
	originalMessageId: string | null;
	followupIds: string[];
	choices: AutocompleteChoice[] | null;
	modal: unknown;
	timer: NodeJS.Timeout | null;
	waiters: Set<() => void>;
}

const OPTION_TYPE = {
	Subcommand: 1,
	SubcommandGroup: 2,
	String: 3,
	Integer: 4,
	Boolean: 5,
	User: 6,
	Channel: 7,
	Role: 8,
	Mentionable: 9,
	Number: 10
} as const;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Interactions a test (or script) makes as a user: builds INTERACTION_CREATE exactly as Discord sends it,
 * enforces the 3 s first-response window and the 15-minute token, and records what the bot answered.
 */
export class Interactions {
	readonly #emu: () => Emulation;
	readonly #records = new Map<string, InteractionRecord>();
	readonly #byToken = new Map<string, InteractionRecord>();

	public constructor(emu: () => Emulation) {
		this.#emu = emu;
	}

	/**
	 * Creates an interaction and dispatches INTERACTION_CREATE to the bot.
	 * @throws EmulatorError `EMULATOR_BAD_CONTROL_REQUEST` (malformed request, option unknown to the command,
	 * button not on the message) or `EMULATOR_NOT_FOUND` (user, channel, message or command missing).
	 */
	public create(request: InteractionRequest): { id: string } {
		const emu = this.#emu();
		const { world } = emu;
		if (!isRecord(request) || !['command', 'autocomplete', 'button'].includes(request.kind)) {
			throw bad('kind must be "command", "autocomplete" or "button".');
		}
		const userId = this.#resolveUser(request.user);
		let channel: StoredChannel;
		let data: Record<string, unknown>;
		let type: number;
		let commandName = '';
		let message: StoredMessage | null = null;
		if (request.kind === 'button') {
			if (typeof request.messageId !== 'string' || typeof request.customId !== 'string')
				throw bad('a button interaction needs "messageId" and "customId".');
			message = world.messages.get(request.messageId) ?? null;
			// An ephemeral message exists only for the user it was shown to: nobody else can see, let alone click, it.
			if (!message || (message.ephemeral && message.interaction?.userId !== userId)) throw notFound(`No message ${request.messageId}.`);
			const button = findButton(message.components, request.customId);
			if (!button) throw bad(`Message ${message.id} has no button with custom id "${request.customId}".`);
			if (button.disabled === true) throw bad(`The button "${request.customId}" on message ${message.id} is disabled: a user cannot click it.`);
			channel = this.#channel(message.channelId);
			type = InteractionType.MessageComponent;
			data = { custom_id: request.customId, component_type: 2 };
		} else {
			if (typeof request.command !== 'string') throw bad('a command or autocomplete interaction needs "command".');
			channel = this.#channel(request.channelId ?? world.ids.channels.archive);
			const command = this.#command(request.command);
			commandName = request.command;
			type = request.kind === 'command' ? InteractionType.ApplicationCommand : InteractionType.Autocomplete;
			data = buildCommandData(emu, command, request);
		}
		const id = world.snowflakes.next();
		const token = `aW50ZXJhY3Rpb246${id}:${randomBytes(24).toString('base64url')}`;
		const record: InteractionRecord = {
			id,
			token,
			kind: request.kind,
			type,
			channelId: channel.id,
			userId,
			commandName,
			createdAt: Date.now(),
			componentMessageId: message?.id ?? null,
			status: 'pending',
			responseType: null,
			originalMessageId: null,
			followupIds: [],
			choices: null,
			modal: null,
			timer: null,
			waiters: new Set()
		};
		record.timer = setTimeout(() => {
			record.timer = null;
			if (record.status === 'pending') {
				record.status = 'expired';
				this.#notify(record);
			}
		}, emu.limits.interactionResponseMs);
		record.timer.unref();
		this.#records.set(id, record);
		this.#byToken.set(token, record);
		const userPermissions = emu.payloads.channelPermissions(userId, channel).toString();
		const payload: Record<string, unknown> = {
			id,
			application_id: world.ids.applicationId,
			type,
			data,
			guild_id: world.ids.guildId,
			guild: { id: world.ids.guildId, locale: 'en-US', features: [] },
			channel: { ...emu.payloads.channel(channel), permissions: userPermissions },
			channel_id: channel.id,
			member: { ...emu.payloads.member(userId), permissions: userPermissions },
			token,
			version: 1,
			app_permissions: emu.payloads.channelPermissions(world.ids.botUserId, channel).toString(),
			locale: 'en-US',
			guild_locale: 'en-US',
			entitlements: [],
			authorizing_integration_owners: { '0': world.ids.guildId },
			context: 0,
			attachment_size_limit: emu.limits.attachmentBytes
		};
		if (message) payload.message = emu.payloads.message(message);
		world.dispatch('INTERACTION_CREATE', payload, GatewayIntent.Always);
		return { id };
	}

	public get(id: string): InteractionRecord | undefined {
		return this.#records.get(id);
	}

	public byToken(token: string): InteractionRecord | undefined {
		return this.#byToken.get(token);
	}

	/** The control view of an interaction. @throws EmulatorError `EMULATOR_NOT_FOUND`. */
	public view(id: string): InteractionView {
		const record = this.#records.get(id);
		if (!record) throw notFound(`No interaction ${id}.`);
		const { world, payloads } = this.#emu();
		const message = (messageId: string | null) => {
			const found = messageId === null ? undefined : world.messages.get(messageId);
			return found ? payloads.controlMessage(found) : null;
		};
		return {
			id: record.id,
			kind: record.kind,
			status: record.status,
			reply: message(record.originalMessageId),
			followups: record.followupIds.map((messageId) => message(messageId)).filter((entry) => entry !== null),
			choices: record.choices,
			responseType: record.responseType,
			modal: record.modal,
			userId: record.userId,
			channelId: record.channelId
		};
	}

	/**
	 * Resolves with the view as soon as the interaction is acknowledged (autocomplete: answered) or expired,
	 * or after `waitMs` with it as it stands.
	 * @throws EmulatorError `EMULATOR_NOT_FOUND`.
	 */
	public async wait(id: string, waitMs: number): Promise<InteractionView> {
		const record = this.#records.get(id);
		if (!record) throw notFound(`No interaction ${id}.`);
		if (record.status === 'pending' && waitMs > 0) {
			await new Promise<void>((resolve) => {
				const done = () => {
					clearTimeout(timer);
					record.waiters.delete(done);
					resolve();
				};
				const timer = setTimeout(done, waitMs);
				record.waiters.add(done);
			});
		}
		return this.view(id);
	}

	/** Marks the first callback (the caller checked the window and double answers). */
	public acknowledge(record: InteractionRecord, responseType: number): void {
		record.status = 'acknowledged';
		record.responseType = responseType;
		if (record.timer) {
			clearTimeout(record.timer);
			record.timer = null;
		}
		this.#notify(record);
	}

	/** Stops every timer and wakes every waiter (on close). */
	public close(): void {
		for (const record of this.#records.values()) {
			if (record.timer) clearTimeout(record.timer);
			this.#notify(record);
		}
	}

	#notify(record: InteractionRecord): void {
		for (const waiter of [...record.waiters]) waiter();
	}

	#resolveUser(user: unknown): string {
		const { ids, users } = this.#emu().world;
		if (user === undefined || user === 'owner') return ids.users.owner;
		if (user === 'member') return ids.users.member;
		if (user === 'outsider') return ids.users.outsider;
		if (typeof user === 'string' && users.has(user)) return user;
		throw notFound(`No user ${JSON.stringify(user)}: use "owner", "member", "outsider" or a user id.`);
	}

	#channel(id: unknown): StoredChannel {
		const channel = typeof id === 'string' ? this.#emu().world.channels.get(id) : undefined;
		if (!channel) throw notFound(`No channel ${JSON.stringify(id)}.`);
		return channel;
	}

	#command(name: string): StoredCommand {
		const commands = [...this.#emu().world.commands.values()].filter((command) => command.data.name === name && (command.data.type ?? 1) === 1);
		const command = commands.find((entry) => entry.guildId !== null) ?? commands[0];
		if (!command) throw notFound(`No slash command "${name}" is registered: wait until the bot has registered its commands.`);
		return command;
	}
}

function bad(message: string): EmulatorError {
	return new EmulatorError(EmulatorErrorCode.BadControlRequest, message);
}

function notFound(message: string): EmulatorError {
	return new EmulatorError(EmulatorErrorCode.NotFound, message);
}

function findButton(components: unknown, customId: string): Record<string, unknown> | null {
	if (!Array.isArray(components)) return null;
	for (const component of components) {
		if (!isRecord(component)) continue;
		if (component.type === 2 && component.custom_id === customId) return component;
		const nested =
			findButton(component.components, customId) ?? (isRecord(component.accessory) ? findButton([component.accessory], customId) : null);
		if (nested) return nested;
	}
	return null;
}

function optionDefinitions(value: unknown): Record<string, unknown>[] {
	return Array.isArray(value) ? value.filter(isRecord) : [];
}

/** Builds `data` of an application command or autocomplete interaction from the registered definition. */
function buildCommandData(emu: Emulation, command: StoredCommand, request: InteractionRequest): Record<string, unknown> {
	let definitions = optionDefinitions(command.data.options);
	const wrap: ((options: unknown[]) => unknown[])[] = [];
	if (request.group !== undefined) {
		const group = definitions.find((option) => option.type === OPTION_TYPE.SubcommandGroup && option.name === request.group);
		if (!group) throw bad(`Command "${String(command.data.name)}" has no subcommand group "${request.group}".`);
		definitions = optionDefinitions(group.options);
		wrap.push((options) => [{ type: OPTION_TYPE.SubcommandGroup, name: request.group, options }]);
	}
	if (request.subcommand !== undefined) {
		const sub = definitions.find((option) => option.type === OPTION_TYPE.Subcommand && option.name === request.subcommand);
		if (!sub) throw bad(`Command "${String(command.data.name)}" has no subcommand "${request.subcommand}".`);
		definitions = optionDefinitions(sub.options);
		wrap.unshift((options) => [{ type: OPTION_TYPE.Subcommand, name: request.subcommand, options }]);
	} else if (definitions.some((option) => option.type === OPTION_TYPE.Subcommand || option.type === OPTION_TYPE.SubcommandGroup)) {
		throw bad(`Command "${String(command.data.name)}" needs a "subcommand".`);
	}
	const given = isRecord(request.options) ? { ...request.options } : {};
	if (request.kind === 'autocomplete') {
		if (typeof request.focused !== 'string') throw bad('an autocomplete interaction needs "focused": the option being typed into.');
		if (!(request.focused in given)) given[request.focused] = '';
	}
	const resolved: Record<string, Record<string, unknown>> = {};
	const options: unknown[] = [];
	for (const [name, value] of Object.entries(given)) {
		const definition = definitions.find((option) => option.name === name);
		if (!definition)
			throw bad(
				`Command "${String(command.data.name)}" has no option "${name}" here (known: ${definitions.map((option) => String(option.name)).join(', ') || 'none'}).`
			);
		const type = typeof definition.type === 'number' ? definition.type : OPTION_TYPE.String;
		const option: Record<string, unknown> = { name, type, value };
		if (request.kind === 'autocomplete' && name === request.focused) option.focused = true;
		if (typeof value === 'string') {
			if (type === OPTION_TYPE.User || (type === OPTION_TYPE.Mentionable && emu.world.users.has(value))) {
				// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the resolved maps start empty and are filled on first use
				(resolved.users ??= {})[value] = emu.payloads.userById(value);
				const member = emu.payloads.member(value, false);
				// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the resolved maps start empty and are filled on first use
				if (member) (resolved.members ??= {})[value] = { ...member, permissions: emu.payloads.basePermissions(value).toString() };
			} else if (type === OPTION_TYPE.Channel) {
				const channel = emu.world.channels.get(value);
				if (channel)
					// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the resolved maps start empty and are filled on first use
					(resolved.channels ??= {})[value] = {
						...emu.payloads.channel(channel),
						permissions: emu.payloads.channelPermissions(emu.world.ids.botUserId, channel).toString()
					};
			} else if (type === OPTION_TYPE.Role) {
				const role = emu.payloads.roles().find((entry) => entry.id === value);
				// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the resolved maps start empty and are filled on first use
				if (role) (resolved.roles ??= {})[value] = role;
			}
		}
		options.push(option);
	}
	if (request.kind === 'command') {
		const missing = definitions
			.filter((option) => option.required === true && !(String(option.name) in given))
			.map((option) => String(option.name));
		if (missing.length > 0) throw bad(`Missing required option(s) ${missing.join(', ')}: Discord's client would not send this command.`);
	}
	let wrapped: unknown[] = options;
	for (const step of wrap) wrapped = step(wrapped);
	const data: Record<string, unknown> = { id: command.id, name: command.data.name, type: 1, options: wrapped };
	if (command.guildId) data.guild_id = command.guildId;
	if (Object.keys(resolved).length > 0) data.resolved = resolved;
	return data;
}
