import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EmulatorError, EmulatorErrorCode } from './errors.js';
import { Permission } from './permissions.js';
import { SnowflakeSource } from './snowflake.js';

/** Channel types the emulator models (Discord's numbers). */
export const ChannelType = { GuildText: 0, GuildCategory: 4, PublicThread: 11, PrivateThread: 12 } as const;

export interface StoredUser {
	id: string;
	username: string;
	globalName: string | null;
	bot: boolean;
}

export interface StoredRole {
	id: string;
	name: string;
	permissions: string;
	position: number;
	managed: boolean;
}

export interface StoredMember {
	userId: string;
	roles: string[];
	joinedAt: string;
}

export interface PermissionOverwrite {
	id: string;
	/** 0 = role, 1 = member. */
	type: 0 | 1;
	allow: string;
	deny: string;
}

export interface ThreadMetadata {
	archived: boolean;
	autoArchiveDuration: number;
	archiveTimestamp: string;
	locked: boolean;
	createTimestamp: string;
}

export interface StoredChannel {
	id: string;
	type: number;
	name: string;
	parentId: string | null;
	position: number;
	topic: string | null;
	ownerId: string | null;
	permissionOverwrites: PermissionOverwrite[];
	thread: ThreadMetadata | null;
	lastMessageId: string | null;
	totalMessageSent: number;
}

export interface StoredAttachment {
	id: string;
	filename: string;
	size: number;
	contentType: string | null;
	description: string | null;
}

export interface StoredMessage {
	id: string;
	channelId: string;
	authorId: string;
	content: string;
	embeds: unknown[];
	components: unknown[];
	attachments: StoredAttachment[];
	flags: number;
	type: number;
	timestamp: string;
	editedTimestamp: string | null;
	nonce: string | number | null;
	/** The thread started from this message (its id equals this message's id). */
	threadId: string | null;
	/** Set on interaction responses and follow-ups: the application id, as Discord does. */
	webhookId: string | null;
	/** Interaction that produced this message. */
	/** `interactedMessageId`: for a component interaction, the message whose component was used. */
	interaction: { id: string; type: number; name: string; userId: string; interactedMessageId?: string | null } | null;
	/** Ephemeral responses are stored but never listed in the channel. */
	ephemeral: boolean;
	/** Pinned in its channel (PUT /channels/{id}/pins/{message_id}); absent in worlds saved before pins existed. */
	pinned?: boolean;
	/** When it was pinned (ISO 8601), while pinned; absent in worlds saved before the pin list existed. */
	pinnedAt?: string;
}

export interface StoredCommand {
	id: string;
	guildId: string | null;
	version: string;
	/** The command as registered, normalised (name, type, description, options, …). */
	data: Record<string, unknown>;
}

/** The seeded ids everybody scripts against. */
export interface WorldIds {
	guildId: string;
	applicationId: string;
	botUserId: string;
	users: { owner: string; member: string; outsider: string };
	roles: { everyone: string; owner: string; member: string; bot: string };
	/** `storage` is a plain text channel, like the one the original Python tool posted its older archives' chunks into. */
	channels: { archive: string; log: string; storage: string };
}

interface WorldFile {
	format: 1;
	secret: string;
	guildName: string;
	ids: WorldIds;
	users: StoredUser[];
	roles: StoredRole[];
	members: StoredMember[];
	channels: StoredChannel[];
	messages: StoredMessage[];
	commands: StoredCommand[];
}

/** What changed, for the gateway: a dispatch name, its payload and the intent bit that gates it (0 = always). */
export type DispatchListener = (event: string, data: unknown, intent: number) => void;

const WORLD_FILE = 'world.json';

/**
 * The emulated Discord: one guild, its users, roles, channels, threads, messages and attachments, and the
 * application's commands. Mutations go through here so persistence and gateway dispatches stay consistent.
 * Attachment bytes live on disk under `<dataDir>/attachments/<id>`; only their metadata is in memory.
 */
export class World {
	public readonly dataDir: string;
	public ids: WorldIds;
	public readonly snowflakes = new SnowflakeSource();
	/** HMAC key of CDN URL signatures; kept with the world so URLs survive a restart until they expire. */
	public readonly secret: Buffer;
	public readonly guildName: string;
	public readonly users = new Map<string, StoredUser>();
	public readonly roles = new Map<string, StoredRole>();
	public readonly members = new Map<string, StoredMember>();
	public readonly channels = new Map<string, StoredChannel>();
	public readonly messages = new Map<string, StoredMessage>();
	/** Message ids per channel, oldest first (ids only grow, so appending keeps the order). */
	readonly #channelMessages = new Map<string, string[]>();
	/** Attachment id → message id. */
	readonly #attachmentOwners = new Map<string, string>();
	public readonly commands = new Map<string, StoredCommand>();
	#listeners: DispatchListener[] = [];
	#saveTimer: NodeJS.Timeout | null = null;
	#saving: Promise<void> = Promise.resolve();
	#bytesStored = 0;
	#closed = false;

	private constructor(dataDir: string, file: WorldFile) {
		this.dataDir = dataDir;
		this.ids = file.ids;
		this.secret = Buffer.from(file.secret, 'hex');
		this.guildName = file.guildName;
		for (const user of file.users) this.users.set(user.id, user);
		for (const role of file.roles) this.roles.set(role.id, role);
		for (const member of file.members) this.members.set(member.userId, member);
		for (const channel of file.channels) {
			this.channels.set(channel.id, channel);
			this.#channelMessages.set(channel.id, []);
			this.snowflakes.observe(channel.id);
		}
		for (const message of file.messages) this.#index(message);
		for (const command of file.commands) {
			this.commands.set(command.id, command);
			this.snowflakes.observe(command.id);
		}
		for (const id of [...this.users.keys(), ...this.roles.keys()]) this.snowflakes.observe(id);
		// A world saved before the storage channel was seeded gets one now.
		if ((file.ids.channels as Partial<WorldIds['channels']>).storage === undefined) {
			const template = this.channels.get(file.ids.channels.log)!;
			const storage: StoredChannel = {
				...template,
				id: this.snowflakes.next(),
				name: 'storage',
				position: 2,
				lastMessageId: null,
				totalMessageSent: 0
			};
			this.ids = { ...file.ids, channels: { ...file.ids.channels, storage: storage.id } };
			this.addChannel(storage);
		}
	}

	/**
	 * Opens the world kept in `dataDir`, or seeds a new one there.
	 * @throws EmulatorError `EMULATOR_DATA_DIR` when the directory cannot be used or its world file is unreadable.
	 */
	public static open(dataDir: string, guildName = 'Discord Object Store (emulated)'): World {
		try {
			mkdirSync(join(dataDir, 'attachments'), { recursive: true });
			mkdirSync(join(dataDir, 'incoming'), { recursive: true });
		} catch (error) {
			throw new EmulatorError(
				EmulatorErrorCode.DataDir,
				`Cannot create the emulator data directory ${dataDir}: ${String(error)}. Pick a writable directory.`,
				{
					cause: error
				}
			);
		}
		let text: string | null = null;
		try {
			text = readFileSync(join(dataDir, WORLD_FILE), 'utf8');
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
				throw new EmulatorError(EmulatorErrorCode.DataDir, `Cannot read ${join(dataDir, WORLD_FILE)}: ${String(error)}.`, { cause: error });
			}
		}
		if (text === null) {
			const world = new World(dataDir, seedWorld(guildName));
			world.saveNow();
			return world;
		}
		let file: WorldFile;
		try {
			file = JSON.parse(text) as WorldFile;
		} catch (error) {
			throw new EmulatorError(
				EmulatorErrorCode.DataDir,
				`${join(dataDir, WORLD_FILE)} is not valid JSON (${String(error)}). Move it away to start with a fresh world.`,
				{ cause: error }
			);
		}
		// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the saved world is read from disk and may be damaged or hand-edited; close() may run during the await
		if (file.format !== 1 || !file.ids || !Array.isArray(file.messages)) {
			throw new EmulatorError(
				EmulatorErrorCode.DataDir,
				`${join(dataDir, WORLD_FILE)} is not an emulator world of format 1. Move it away to start fresh.`
			);
		}
		return new World(dataDir, file);
	}

	public onDispatch(listener: DispatchListener): () => void {
		this.#listeners.push(listener);
		return () => {
			this.#listeners = this.#listeners.filter((entry) => entry !== listener);
		};
	}

	/** Announces a change to gateway sessions. */
	public dispatch(event: string, data: unknown, intent: number): void {
		for (const listener of this.#listeners) listener(event, data, intent);
	}

	public get bytesStored(): number {
		return this.#bytesStored;
	}

	public get attachmentCount(): number {
		return this.#attachmentOwners.size;
	}

	public attachmentPath(id: string): string {
		return join(this.dataDir, 'attachments', id);
	}

	/** A fresh path for bytes still being received; moved into place by {@link World.addMessage}. */
	public incomingPath(): string {
		return join(this.dataDir, 'incoming', randomBytes(12).toString('hex'));
	}

	public attachmentOwner(attachmentId: string): StoredMessage | undefined {
		const messageId = this.#attachmentOwners.get(attachmentId);
		return messageId === undefined ? undefined : this.messages.get(messageId);
	}

	/** Message ids of a channel, oldest first (a live array: copy before mutating). */
	public channelMessageIds(channelId: string): readonly string[] {
		return this.#channelMessages.get(channelId) ?? [];
	}

	public activeThreadCount(): number {
		let count = 0;
		for (const channel of this.channels.values()) if (channel.thread && !channel.thread.archived) count++;
		return count;
	}

	public threadsOf(parentId: string): StoredChannel[] {
		return [...this.channels.values()].filter((channel) => channel.parentId === parentId && channel.thread !== null);
	}

	public addChannel(channel: StoredChannel): void {
		this.channels.set(channel.id, channel);
		this.#channelMessages.set(channel.id, []);
		this.scheduleSave();
	}

	/**
	 * Stores a message whose attachment bytes are still at `incoming` paths, moving them into place first so
	 * a message never points at missing bytes.
	 */
	public async addMessage(message: StoredMessage, incoming: ReadonlyMap<string, string> = new Map()): Promise<void> {
		for (const [attachmentId, path] of incoming) await rename(path, this.attachmentPath(attachmentId));
		this.#index(message);
		const channel = this.channels.get(message.channelId);
		if (channel) {
			channel.lastMessageId = message.id;
			channel.totalMessageSent++;
		}
		this.scheduleSave();
	}

	/** Replaces a message's attachments: moves new bytes into place and deletes the bytes of dropped ones. */
	public async replaceAttachments(
		message: StoredMessage,
		keep: StoredAttachment[],
		added: StoredAttachment[],
		incoming: ReadonlyMap<string, string>
	): Promise<void> {
		for (const [attachmentId, path] of incoming) await rename(path, this.attachmentPath(attachmentId));
		const kept = new Set(keep.map((attachment) => attachment.id));
		for (const attachment of message.attachments) {
			if (!kept.has(attachment.id)) await this.#dropAttachment(attachment);
		}
		message.attachments = [...keep, ...added];
		for (const attachment of added) {
			this.#attachmentOwners.set(attachment.id, message.id);
			this.#bytesStored += attachment.size;
		}
		this.scheduleSave();
	}

	/** Deletes a message and its attachment bytes. */
	public async deleteMessage(message: StoredMessage): Promise<void> {
		this.messages.delete(message.id);
		const list = this.#channelMessages.get(message.channelId);
		if (list) {
			const at = list.indexOf(message.id);
			if (at >= 0) list.splice(at, 1);
		}
		for (const attachment of message.attachments) await this.#dropAttachment(attachment);
		this.scheduleSave();
	}

	/** Deletes a channel or thread, with every message it holds (and, for a channel, its threads). */
	public async deleteChannel(channel: StoredChannel): Promise<void> {
		for (const thread of this.threadsOf(channel.id)) await this.deleteChannel(thread);
		for (const id of [...this.channelMessageIds(channel.id)]) {
			const message = this.messages.get(id);
			if (message) await this.deleteMessage(message);
		}
		this.channels.delete(channel.id);
		this.#channelMessages.delete(channel.id);
		if (channel.thread && channel.parentId) {
			const starter = this.messages.get(channel.id);
			if (starter && starter.threadId === channel.id) starter.threadId = null;
		}
		this.scheduleSave();
	}

	public markChanged(): void {
		this.scheduleSave();
	}

	/** Writes the world soon (debounced), atomically (temp file + rename). */
	public scheduleSave(): void {
		if (this.#closed || this.#saveTimer) return;
		this.#saveTimer = setTimeout(() => {
			this.#saveTimer = null;
			this.#saving = this.#saving.then(() => this.#writeAsync()).catch(() => undefined);
		}, 25);
	}

	/** Writes the world now, synchronously. */
	public saveNow(): void {
		const target = join(this.dataDir, WORLD_FILE);
		const temp = `${target}.${process.pid}.tmp`;
		writeFileSync(temp, JSON.stringify(this.#toFile()));
		renameSync(temp, target);
	}

	/** Flushes pending writes and stops saving. With `removeDir`, deletes the whole data directory. */
	public async close(removeDir: boolean): Promise<void> {
		if (this.#saveTimer) {
			clearTimeout(this.#saveTimer);
			this.#saveTimer = null;
		}
		await this.#saving;
		this.#closed = true;
		if (removeDir) {
			await rm(this.dataDir, { recursive: true, force: true });
			return;
		}
		this.saveNow();
		rmSync(join(this.dataDir, 'incoming'), { recursive: true, force: true });
	}

	async #writeAsync(): Promise<void> {
		if (this.#closed) return;
		const target = join(this.dataDir, WORLD_FILE);
		const temp = `${target}.${process.pid}.tmp`;
		await writeFile(temp, JSON.stringify(this.#toFile()));
		// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- the saved world is read from disk and may be damaged or hand-edited; close() may run during the await
		if (this.#closed) return;
		await rename(temp, target);
	}

	#index(message: StoredMessage): void {
		this.messages.set(message.id, message);
		this.snowflakes.observe(message.id);
		let list = this.#channelMessages.get(message.channelId);
		if (!list) {
			list = [];
			this.#channelMessages.set(message.channelId, list);
		}
		list.push(message.id);
		for (const attachment of message.attachments) {
			this.#attachmentOwners.set(attachment.id, message.id);
			this.#bytesStored += attachment.size;
			this.snowflakes.observe(attachment.id);
		}
	}

	async #dropAttachment(attachment: StoredAttachment): Promise<void> {
		if (this.#attachmentOwners.delete(attachment.id)) this.#bytesStored -= attachment.size;
		await rm(this.attachmentPath(attachment.id), { force: true });
	}

	#toFile(): WorldFile {
		return {
			format: 1,
			secret: this.secret.toString('hex'),
			guildName: this.guildName,
			ids: this.ids,
			users: [...this.users.values()],
			roles: [...this.roles.values()],
			members: [...this.members.values()],
			channels: [...this.channels.values()],
			messages: [...this.messages.values()],
			commands: [...this.commands.values()]
		};
	}
}

function seedWorld(guildName: string): WorldFile {
	const ids = new SnowflakeSource();
	const now = new Date().toISOString();
	const guildId = ids.next();
	const applicationId = ids.next();
	const botUserId = applicationId;
	const owner = ids.next();
	const member = ids.next();
	const outsider = ids.next();
	const roles = { everyone: guildId, owner: ids.next(), member: ids.next(), bot: ids.next() };
	const archive = ids.next();
	const log = ids.next();
	const storage = ids.next();
	const everyonePermissions =
		Permission.ViewChannel |
		Permission.SendMessages |
		Permission.ReadMessageHistory |
		Permission.UseApplicationCommands |
		Permission.AddReactions |
		Permission.EmbedLinks |
		Permission.AttachFiles |
		Permission.SendMessagesInThreads |
		Permission.CreatePublicThreads;
	const botPermissions =
		everyonePermissions | Permission.ManageMessages | Permission.ManageThreads | Permission.CreatePrivateThreads | Permission.ManageChannels;
	const textChannel = (id: string, name: string, position: number): StoredChannel => ({
		id,
		type: ChannelType.GuildText,
		name,
		parentId: null,
		position,
		topic: null,
		ownerId: null,
		permissionOverwrites: [],
		thread: null,
		lastMessageId: null,
		totalMessageSent: 0
	});
	return {
		format: 1,
		secret: randomBytes(32).toString('hex'),
		guildName,
		ids: { guildId, applicationId, botUserId, users: { owner, member, outsider }, roles, channels: { archive, log, storage } },
		users: [
			{ id: botUserId, username: 'Discord Object Store', globalName: null, bot: true },
			{ id: owner, username: 'owner', globalName: 'Owner', bot: false },
			{ id: member, username: 'member', globalName: 'Member', bot: false },
			{ id: outsider, username: 'outsider', globalName: 'Outsider', bot: false }
		],
		roles: [
			{ id: roles.everyone, name: '@everyone', permissions: everyonePermissions.toString(), position: 0, managed: false },
			{ id: roles.member, name: 'Member', permissions: '0', position: 1, managed: false },
			{ id: roles.owner, name: 'Owner', permissions: Permission.ManageGuild.toString(), position: 2, managed: false },
			{ id: roles.bot, name: 'Discord Object Store', permissions: botPermissions.toString(), position: 3, managed: true }
		],
		members: [
			{ userId: botUserId, roles: [roles.bot], joinedAt: now },
			{ userId: owner, roles: [roles.owner], joinedAt: now },
			{ userId: member, roles: [roles.member], joinedAt: now },
			{ userId: outsider, roles: [], joinedAt: now }
		],
		channels: [textChannel(archive, 'archive', 0), textChannel(log, 'log', 1), textChannel(storage, 'storage', 2)],
		messages: [],
		commands: []
	};
}
