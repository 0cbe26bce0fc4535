import type { ReceivedBody } from './body.js';
import { readMessageBody } from './body.js';
import type { Emulation, RestContext } from './emulation.js';
import { DiscordRefusal } from './errors.js';
import { GatewayIntent } from './gateway-intents.js';
import { Permission } from './permissions.js';
import type { MessageFields } from './rules.js';
import { checkMessageFields } from './rules.js';
import type { StoredAttachment, StoredChannel, StoredMessage } from './world.js';

/** Message types the emulator produces (Discord's numbers). */
export const MessageType = { Default: 0, ThreadCreated: 18, ChatInputCommand: 20, ThreadStarterMessage: 21 } as const;

/** Message flags the emulator interprets. */
export const MessageFlag = {
	Ephemeral: 1 << 6,
	Loading: 1 << 7,
	SuppressEmbeds: 1 << 2,
	SuppressNotifications: 1 << 12,
	ComponentsV2: 1 << 15
} as const;

/** Reads a message body (JSON or multipart) under the limits in force, and checks its fields. */
export async function readMessage(context: RestContext): Promise<{ fields: MessageFields; received: ReceivedBody }> {
	const { emu } = context;
	const received = await readMessageBody(context.body, context.headers['content-type'], {
		attachmentBytes: emu.limits.attachmentBytes,
		requestBytes: emu.limits.requestBytes,
		files: emu.limits.attachmentsPerMessage,
		incomingPath: () => emu.world.incomingPath()
	});
	try {
		return { fields: checkMessageFields(received.json), received };
	} catch (error) {
		await received.discard();
		throw error;
	}
}

/** Checks the bot may do `needed` in a channel: 50001 without View Channel, 50013 without the rest. */
export function requireBotPermissions(emu: Emulation, channel: StoredChannel, needed: bigint): void {
	const permissions = emu.payloads.channelPermissions(emu.world.ids.botUserId, channel);
	if ((permissions & Permission.ViewChannel) === 0n) throw DiscordRefusal.missingAccess();
	if ((permissions & needed) !== needed) throw DiscordRefusal.missingPermissions();
}

/** The channel with this id, or 10003. */
export function channelOr404(emu: Emulation, id: string | undefined): StoredChannel {
	const channel = id === undefined ? undefined : emu.world.channels.get(id);
	if (!channel) throw DiscordRefusal.unknownChannel();
	return channel;
}

/** The non-ephemeral message of a channel with this id, or 10008. */
export function messageOr404(emu: Emulation, channel: StoredChannel, id: string | undefined): StoredMessage {
	const message = id === undefined ? undefined : emu.world.messages.get(id);
	if (!message || message.channelId !== channel.id || message.ephemeral) throw DiscordRefusal.unknownMessage();
	return message;
}

/**
 * Lets a post into a thread through as Discord does, putting an archived thread back to active (posting does this).
 * A locked thread takes posts only from members with Manage Threads (others: 160005), and even they cannot
 * reopen it by posting while it is archived (50083: unarchive it first).
 * @throws DiscordApiError 160005 (locked, author without Manage Threads), 50083 (locked and archived), 160006 (active thread cap).
 */
export function unarchiveForPost(emu: Emulation, channel: StoredChannel, authorId: string): void {
	if (!channel.thread) return;
	if (channel.thread.locked && (emu.payloads.channelPermissions(authorId, channel) & Permission.ManageThreads) === 0n) {
		throw DiscordRefusal.threadLocked();
	}
	if (!channel.thread.archived) return;
	if (channel.thread.locked) throw DiscordRefusal.archivedThread();
	if (emu.world.activeThreadCount() >= emu.limits.activeThreads) throw DiscordRefusal.maxActiveThreads();
	channel.thread.archived = false;
	channel.thread.archiveTimestamp = new Date().toISOString();
	emu.world.dispatch('THREAD_UPDATE', emu.payloads.channel(channel), GatewayIntent.Guilds);
	emu.world.markChanged();
}

interface PostOptions {
	channel: StoredChannel;
	authorId: string;
	fields: MessageFields;
	received: ReceivedBody;
	type?: number;
	webhookId?: string | null;
	interaction?: StoredMessage['interaction'];
	/** Allow a message with nothing in it (a deferred response's placeholder). */
	allowEmpty?: boolean;
}

/**
 * Stores a new message (attachments moved into place), unarchiving its thread if needed, and dispatches
 * MESSAGE_CREATE. With `nonce` + `enforce_nonce`, a repeat inside the window returns the first message and
 * stores nothing.
 * @returns the message and whether it was created now (false for a nonce repeat).
 * @throws DiscordApiError 50006 (empty), 50083 (locked archived thread), 160005 (locked thread, author no moderator), 160006 (active thread cap).
 */
export async function postMessage(emu: Emulation, options: PostOptions): Promise<{ message: StoredMessage; created: boolean }> {
	const { channel, authorId, fields, received } = options;
	try {
		if (fields.nonce !== undefined && fields.enforceNonce) {
			const existingId = emu.nonces.find(channel.id, authorId, fields.nonce);
			const existing = existingId === undefined ? undefined : emu.world.messages.get(existingId);
			if (existing) {
				await received.discard();
				return { message: existing, created: false };
			}
		}
		const { added, incoming } = attachmentsFromFiles(emu, fields, received);
		const hasContent =
			(fields.content ?? '').length > 0 || (fields.embeds?.length ?? 0) > 0 || (fields.components?.length ?? 0) > 0 || added.length > 0;
		if (!hasContent && !options.allowEmpty) throw DiscordRefusal.emptyMessage();
		unarchiveForPost(emu, channel, authorId);
		const flags = fields.flags ?? 0;
		const message: StoredMessage = {
			id: emu.world.snowflakes.next(),
			channelId: channel.id,
			authorId,
			content: fields.content ?? '',
			embeds: fields.embeds ?? [],
			components: fields.components ?? [],
			attachments: added,
			flags,
			type: options.type ?? MessageType.Default,
			timestamp: new Date().toISOString(),
			editedTimestamp: null,
			nonce: fields.nonce ?? null,
			threadId: null,
			webhookId: options.webhookId ?? null,
			interaction: options.interaction ?? null,
			ephemeral: (flags & MessageFlag.Ephemeral) !== 0
		};
		await emu.world.addMessage(message, incoming);
		if (fields.nonce !== undefined && fields.enforceNonce)
			emu.nonces.remember(channel.id, authorId, fields.nonce, message.id, emu.limits.nonceWindowMs);
		if (!message.ephemeral) emu.world.dispatch('MESSAGE_CREATE', emu.payloads.message(message, { gateway: true }), GatewayIntent.GuildMessages);
		return { message, created: true };
	} catch (error) {
		await received.discard();
		throw error;
	}
}

/**
 * Edits a message: content, embeds, components, flags, and attachments (`attachments` lists those to keep;
 * new files are added). Editing inside an archived thread fails as on Discord.
 * @throws DiscordApiError 50083 (archived thread), 30015 (too many attachments).
 */
export async function editMessage(emu: Emulation, message: StoredMessage, fields: MessageFields, received: ReceivedBody): Promise<StoredMessage> {
	try {
		const channel = emu.world.channels.get(message.channelId);
		if (channel?.thread?.archived) throw DiscordRefusal.archivedThread();
		const { added, incoming } = attachmentsFromFiles(emu, fields, received);
		let keep: StoredAttachment[] = message.attachments;
		if (fields.attachments !== undefined) {
			const listed = new Set(fields.attachments.map((entry) => String(entry.id)));
			keep = message.attachments.filter((attachment) => listed.has(attachment.id));
		}
		if (keep.length + added.length > emu.limits.attachmentsPerMessage) throw DiscordRefusal.maxAttachments(emu.limits.attachmentsPerMessage);
		if (fields.content !== undefined) message.content = fields.content;
		if (fields.embeds !== undefined) message.embeds = fields.embeds;
		if (fields.components !== undefined) message.components = fields.components;
		if (fields.flags !== undefined) message.flags = (message.flags & ~MessageFlag.SuppressEmbeds) | (fields.flags & MessageFlag.SuppressEmbeds);
		message.flags &= ~MessageFlag.Loading;
		if (fields.attachments !== undefined || added.length > 0) await emu.world.replaceAttachments(message, keep, added, incoming);
		message.editedTimestamp = new Date().toISOString();
		emu.world.markChanged();
		if (!message.ephemeral) emu.world.dispatch('MESSAGE_UPDATE', emu.payloads.message(message, { gateway: true }), GatewayIntent.GuildMessages);
		return message;
	} catch (error) {
		await received.discard();
		throw error;
	}
}

/** Deletes a message (and its attachment bytes) and dispatches MESSAGE_DELETE. @throws DiscordApiError 50083 in an archived thread. */
export async function deleteMessage(emu: Emulation, message: StoredMessage): Promise<void> {
	const channel = emu.world.channels.get(message.channelId);
	if (channel?.thread?.archived) throw DiscordRefusal.archivedThread();
	await emu.world.deleteMessage(message);
	if (!message.ephemeral) {
		emu.world.dispatch(
			'MESSAGE_DELETE',
			{ id: message.id, channel_id: message.channelId, guild_id: emu.world.ids.guildId },
			GatewayIntent.GuildMessages
		);
	}
}

function attachmentsFromFiles(
	emu: Emulation,
	fields: MessageFields,
	received: ReceivedBody
): { added: StoredAttachment[]; incoming: Map<string, string> } {
	const described = new Map<string, Record<string, unknown>>();
	for (const entry of fields.attachments ?? []) described.set(String(entry.id), entry);
	const added: StoredAttachment[] = [];
	const incoming = new Map<string, string>();
	for (const file of received.files) {
		const entry = described.get(String(file.index));
		const id = emu.world.snowflakes.next();
		added.push({
			id,
			filename: typeof entry?.filename === 'string' && entry.filename.length > 0 ? entry.filename : file.filename,
			size: file.size,
			contentType: file.contentType,
			description: typeof entry?.description === 'string' ? entry.description : null
		});
		incoming.set(id, file.path);
	}
	return { added, incoming };
}
