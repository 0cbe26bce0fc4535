import { bodyWithoutFiles, readJsonBody } from '../body.js';
import type { Emulation, RestRoute } from '../emulation.js';
import { reply } from '../emulation.js';
import { DiscordRefusal, invalidFormBody } from '../errors.js';
import { GatewayIntent } from '../gateway-intents.js';
import {
	MessageType,
	channelOr404,
	deleteMessage,
	editMessage,
	messageOr404,
	postMessage,
	readMessage,
	requireBotPermissions
} from '../messaging.js';
import { Permission } from '../permissions.js';
import { compareSnowflakes } from '../snowflake.js';
import type { StoredChannel, StoredMessage } from '../world.js';
import { ChannelType } from '../world.js';

const AUTO_ARCHIVE = new Set([60, 1440, 4320, 10080]);
const READ = Permission.ViewChannel | Permission.ReadMessageHistory;

const sendPermission = (channel: StoredChannel) => (channel.thread ? Permission.SendMessagesInThreads : Permission.SendMessages);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** REST routes for channels, messages and threads. */
export const channelRoutes: RestRoute[] = [
	route('GET', '/channels/:channel', ({ emu, params }) => {
		const channel = channelOr404(emu, params.channel);
		requireBotPermissions(emu, channel, Permission.ViewChannel);
		return reply.json(emu.payloads.channel(channel));
	}),
	route('PATCH', '/channels/:channel', async (context) => {
		const { emu, params } = context;
		const channel = channelOr404(emu, params.channel);
		const body = await readJsonBody(context.body, context.headers['content-type']);
		if (!isRecord(body)) throw invalidFormBody([{ path: [], code: 'DICT_TYPE_CONVERT', message: 'Only dictionaries may be used in a DictType' }]);
		if (channel.thread) {
			requireBotPermissions(emu, channel, Permission.ManageThreads);
			patchThread(emu, channel, body);
			emu.world.dispatch('THREAD_UPDATE', emu.payloads.channel(channel), GatewayIntent.Guilds);
		} else {
			requireBotPermissions(emu, channel, Permission.ManageChannels);
			if (typeof body.name === 'string') channel.name = body.name;
			if (body.topic === null || typeof body.topic === 'string') channel.topic = body.topic;
			emu.world.dispatch('CHANNEL_UPDATE', emu.payloads.channel(channel), GatewayIntent.Guilds);
		}
		emu.world.markChanged();
		return reply.json(emu.payloads.channel(channel), 200, true);
	}),
	route('DELETE', '/channels/:channel', async ({ emu, params }) => {
		const channel = channelOr404(emu, params.channel);
		requireBotPermissions(emu, channel, channel.thread ? Permission.ManageThreads : Permission.ManageChannels);
		const body = emu.payloads.channel(channel);
		await emu.world.deleteChannel(channel);
		if (channel.thread) {
			emu.world.dispatch(
				'THREAD_DELETE',
				{ id: channel.id, guild_id: emu.world.ids.guildId, parent_id: channel.parentId, type: channel.type },
				GatewayIntent.Guilds
			);
		} else {
			emu.world.dispatch('CHANNEL_DELETE', body, GatewayIntent.Guilds);
		}
		return reply.json(body, 200, true);
	}),
	route('GET', '/channels/:channel/messages', ({ emu, params, query }) => {
		const channel = channelOr404(emu, params.channel);
		requireBotPermissions(emu, channel, READ);
		return reply.json(listMessages(emu, channel, query).map((message) => emu.payloads.message(message)));
	}),
	// Before `/messages/:message`, which would take `pins` for a message id.
	route('GET', '/channels/:channel/messages/pins', ({ emu, params, query }) => {
		const channel = channelOr404(emu, params.channel);
		requireBotPermissions(emu, channel, READ);
		return reply.json(listPins(emu, channel, query));
	}),
	route('GET', '/channels/:channel/messages/:message', ({ emu, params }) => {
		const channel = channelOr404(emu, params.channel);
		requireBotPermissions(emu, channel, READ);
		return reply.json(emu.payloads.message(messageOr404(emu, channel, params.message)));
	}),
	route('POST', '/channels/:channel/messages', async (context) => {
		const { emu, params } = context;
		const channel = channelOr404(emu, params.channel);
		if (channel.type === ChannelType.GuildCategory) throw DiscordRefusal.wrongChannelType();
		requireBotPermissions(emu, channel, sendPermission(channel));
		const { fields, received } = await readMessage(context);
		try {
			if (received.files.length > 0) requireBotPermissions(emu, channel, Permission.AttachFiles);
			if ((fields.embeds?.length ?? 0) > 0) requireBotPermissions(emu, channel, Permission.EmbedLinks);
		} catch (error) {
			await received.discard();
			throw error;
		}
		const { message, created } = await postMessage(emu, { channel, authorId: emu.world.ids.botUserId, fields, received });
		return reply.json(emu.payloads.message(message), 200, created);
	}),
	route('PATCH', '/channels/:channel/messages/:message', async (context) => {
		const { emu, params } = context;
		const channel = channelOr404(emu, params.channel);
		requireBotPermissions(emu, channel, Permission.ViewChannel);
		const message = messageOr404(emu, channel, params.message);
		const { fields, received } = await readMessage(context);
		if (message.authorId !== emu.world.ids.botUserId) {
			await received.discard();
			throw DiscordRefusal.cannotEditOthers();
		}
		const edited = await editMessage(emu, message, fields, received);
		return reply.json(emu.payloads.message(edited), 200, true);
	}),
	route('DELETE', '/channels/:channel/messages/:message', async ({ emu, params }) => {
		const channel = channelOr404(emu, params.channel);
		const message = messageOr404(emu, channel, params.message);
		requireBotPermissions(emu, channel, message.authorId === emu.world.ids.botUserId ? Permission.ViewChannel : Permission.ManageMessages);
		await deleteMessage(emu, message);
		return reply.noContent(true);
	}),
	route('POST', '/channels/:channel/messages/:message/threads', async (context) => {
		const { emu, params } = context;
		const channel = channelOr404(emu, params.channel);
		if (channel.thread || channel.type !== ChannelType.GuildText) throw DiscordRefusal.wrongChannelType();
		requireBotPermissions(emu, channel, Permission.CreatePublicThreads);
		const message = messageOr404(emu, channel, params.message);
		const body = await readJsonBody(context.body, context.headers['content-type']);
		const options = threadOptions(body);
		if (message.threadId) throw DiscordRefusal.threadAlreadyCreated();
		if (emu.world.activeThreadCount() >= emu.limits.activeThreads) throw DiscordRefusal.maxActiveThreads();
		const thread = makeThread(emu, message.id, channel, ChannelType.PublicThread, options);
		message.threadId = thread.id;
		emu.world.addChannel(thread);
		emu.world.dispatch(
			'THREAD_CREATE',
			{ ...emu.payloads.channel(thread), newly_created: true, member: emu.payloads.threadMember(thread) },
			GatewayIntent.Guilds
		);
		emu.world.dispatch('MESSAGE_UPDATE', emu.payloads.message(message, { gateway: true }), GatewayIntent.GuildMessages);
		return reply.json({ ...emu.payloads.channel(thread), member: emu.payloads.threadMember(thread) }, 201, true);
	}),
	route('POST', '/channels/:channel/threads', async (context) => {
		const { emu, params } = context;
		const channel = channelOr404(emu, params.channel);
		if (channel.thread || channel.type !== ChannelType.GuildText) throw DiscordRefusal.wrongChannelType();
		const body = await readJsonBody(context.body, context.headers['content-type']);
		const options = threadOptions(body);
		const type = isRecord(body) && body.type === ChannelType.PublicThread ? ChannelType.PublicThread : ChannelType.PrivateThread;
		requireBotPermissions(emu, channel, type === ChannelType.PublicThread ? Permission.CreatePublicThreads : Permission.CreatePrivateThreads);
		if (emu.world.activeThreadCount() >= emu.limits.activeThreads) throw DiscordRefusal.maxActiveThreads();
		const thread = makeThread(emu, emu.world.snowflakes.next(), channel, type, options);
		emu.world.addChannel(thread);
		emu.world.dispatch(
			'THREAD_CREATE',
			{ ...emu.payloads.channel(thread), newly_created: true, member: emu.payloads.threadMember(thread) },
			GatewayIntent.Guilds
		);
		if (type === ChannelType.PublicThread) {
			// Discord announces a thread started without a message with a system message in the parent.
			await postMessage(emu, {
				channel,
				authorId: emu.world.ids.botUserId,
				fields: { content: thread.name },
				received: bodyWithoutFiles(),
				type: MessageType.ThreadCreated
			});
		}
		return reply.json({ ...emu.payloads.channel(thread), member: emu.payloads.threadMember(thread) }, 201, true);
	}),
	route('GET', '/channels/:channel/threads/archived/public', ({ emu, params, query }) => {
		const channel = channelOr404(emu, params.channel);
		requireBotPermissions(emu, channel, READ);
		const before = query.get('before');
		const limit = clampLimit(query.get('limit'), 50, 100);
		const cutoff = before ? Date.parse(before) : Number.POSITIVE_INFINITY;
		const archived = emu.world
			.threadsOf(channel.id)
			.filter(
				(thread) => thread.type === ChannelType.PublicThread && thread.thread?.archived && Date.parse(thread.thread.archiveTimestamp) < cutoff
			)
			.sort(
				(a, b) => Date.parse(b.thread?.archiveTimestamp ?? '') - Date.parse(a.thread?.archiveTimestamp ?? '') || compareSnowflakes(b.id, a.id)
			);
		const page = archived.slice(0, limit);
		return reply.json({
			threads: page.map((thread) => emu.payloads.channel(thread)),
			members: page.map((thread) => emu.payloads.threadMember(thread)),
			has_more: archived.length > limit
		});
	}),
	route('GET', '/guilds/:guild/threads/active', ({ emu, params }) => {
		if (params.guild !== emu.world.ids.guildId) throw DiscordRefusal.unknownGuild();
		const active = [...emu.world.channels.values()].filter((channel) => channel.thread && !channel.thread.archived);
		return reply.json({
			threads: active.map((thread) => emu.payloads.channel(thread)),
			members: active.map((thread) => emu.payloads.threadMember(thread)),
			has_more: false
		});
	}),
	route('PUT', '/channels/:channel/thread-members/@me', ({ emu, params }) => {
		const channel = channelOr404(emu, params.channel);
		if (!channel.thread) throw DiscordRefusal.wrongChannelType();
		return reply.noContent();
	}),
	route('DELETE', '/channels/:channel/thread-members/@me', ({ emu, params }) => {
		const channel = channelOr404(emu, params.channel);
		if (!channel.thread) throw DiscordRefusal.wrongChannelType();
		return reply.noContent();
	}),
	...pinRoutes('/channels/:channel/pins/:message'),
	...pinRoutes('/channels/:channel/messages/pins/:message'),
	route('POST', '/channels/:channel/typing', ({ emu, params }) => {
		channelOr404(emu, params.channel);
		return reply.noContent();
	})
];

/** Discord keeps at most this many pinned messages per channel (30003 beyond). */
const MAX_PINS = 250;

/**
 * Pin and unpin, at Discord's current path (`/messages/pins/`, what discord.js calls) and the older one: 204 with
 * no body, idempotent, Pin Messages (or, while Discord phases it out, Manage Messages) in the channel. The
 * "pinned a message" system message and CHANNEL_PINS_UPDATE are not modelled.
 */
function pinRoutes(pattern: string): RestRoute[] {
	const pinning = (emu: Emulation, channelId: string | undefined, messageId: string | undefined): StoredMessage => {
		const channel = channelOr404(emu, channelId);
		requireBotPermissions(emu, channel, READ);
		const permissions = emu.payloads.channelPermissions(emu.world.ids.botUserId, channel);
		if ((permissions & (Permission.PinMessages | Permission.ManageMessages)) === 0n) throw DiscordRefusal.missingPermissions();
		return messageOr404(emu, channel, messageId);
	};
	return [
		route('PUT', pattern, ({ emu, params }) => {
			const message = pinning(emu, params.channel, params.message);
			if (message.pinned === true) return reply.noContent();
			const pinned = emu.world.channelMessageIds(message.channelId).filter((id) => emu.world.messages.get(id)?.pinned === true).length;
			if (pinned >= MAX_PINS) throw DiscordRefusal.maxPins(MAX_PINS);
			message.pinned = true;
			message.pinnedAt = new Date().toISOString();
			emu.world.markChanged();
			return reply.noContent(true);
		}),
		route('DELETE', pattern, ({ emu, params }) => {
			const message = pinning(emu, params.channel, params.message);
			if (message.pinned !== true) return reply.noContent();
			message.pinned = false;
			delete message.pinnedAt;
			emu.world.markChanged();
			return reply.noContent(true);
		})
	];
}

/**
 * `GET /channels/{id}/messages/pins`: `{ items: [{ pinned_at, message }], has_more }`, the most recently pinned first,
 * `limit` 1–50 (default 50) pinned strictly `before` an ISO 8601 time.
 */
function listPins(emu: Emulation, channel: StoredChannel, query: URLSearchParams): { items: unknown[]; has_more: boolean } {
	const limit = clampLimit(query.get('limit'), 50, 50);
	const beforeRaw = query.get('before');
	const before = beforeRaw === null ? Number.POSITIVE_INFINITY : Date.parse(beforeRaw);
	if (Number.isNaN(before)) throw invalidFormBody([{ path: ['before'], code: 'DATE_TIME_TYPE_PARSE', message: 'Could not parse date-time.' }]);
	const pinned = emu.world
		.channelMessageIds(channel.id)
		.map((id) => emu.world.messages.get(id))
		.filter((message): message is StoredMessage => message?.pinned === true)
		.map((message) => ({ message, at: Date.parse(message.pinnedAt ?? message.timestamp) }))
		.filter((entry) => entry.at < before)
		.sort((a, b) => b.at - a.at || compareSnowflakes(b.message.id, a.message.id));
	return {
		items: pinned.slice(0, limit).map((entry) => ({ pinned_at: new Date(entry.at).toISOString(), message: emu.payloads.message(entry.message) })),
		has_more: pinned.length > limit
	};
}

function route(method: string, pattern: string, handler: RestRoute['handler']): RestRoute {
	return { method, pattern, auth: true, rateLimited: true, handler };
}

function clampLimit(raw: string | null, fallback: number, max: number): number {
	if (raw === null) return fallback;
	const value = Number(raw);
	if (!Number.isInteger(value) || value < 1 || value > max) {
		throw invalidFormBody([{ path: ['limit'], code: 'NUMBER_TYPE_MAX', message: `int value should be between 1 and ${max}.` }]);
	}
	return value;
}

/**
 * A page of messages as Discord returns it: newest first, at most `limit` (1–100, default 50); with `after`,
 * the oldest `limit` messages after it; with `before`, the newest before it; with `around`, centred on it.
 */
function listMessages(emu: Emulation, channel: StoredChannel, query: URLSearchParams) {
	const limit = clampLimit(query.get('limit'), 50, 100);
	const ids = emu.world.channelMessageIds(channel.id).filter((id) => !emu.world.messages.get(id)?.ephemeral);
	const before = query.get('before');
	const after = query.get('after');
	const around = query.get('around');
	for (const [name, value] of [
		['before', before],
		['after', after],
		['around', around]
	] as const) {
		if (value !== null && !/^\d{1,20}$/.test(value))
			throw invalidFormBody([{ path: [name], code: 'NUMBER_TYPE_COERCE', message: `Value "${value}" is not snowflake.` }]);
	}
	let page: string[];
	if (around) {
		let at = ids.findIndex((id) => compareSnowflakes(id, around) >= 0);
		if (at < 0) at = ids.length;
		const start = Math.max(0, Math.min(at - Math.floor(limit / 2), ids.length - limit));
		page = ids.slice(start, start + limit);
	} else if (after) {
		page = ids.filter((id) => compareSnowflakes(id, after) > 0).slice(0, limit);
	} else {
		const candidates = before ? ids.filter((id) => compareSnowflakes(id, before) < 0) : ids;
		page = candidates.slice(Math.max(0, candidates.length - limit));
	}
	return page
		.reverse()
		.map((id) => emu.world.messages.get(id))
		.filter((message) => message !== undefined);
}

interface ThreadOptions {
	name: string;
	autoArchiveDuration: number;
}

function threadOptions(body: unknown): ThreadOptions {
	const record = isRecord(body) ? body : {};
	const name = typeof record.name === 'string' ? record.name : '';
	const problems = [];
	if (name.length < 1 || name.length > 100)
		problems.push({ path: ['name'], code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 100 in length.' });
	const duration = record.auto_archive_duration ?? 4320;
	if (typeof duration !== 'number' || !AUTO_ARCHIVE.has(duration)) {
		problems.push({ path: ['auto_archive_duration'], code: 'BASE_TYPE_CHOICES', message: 'Value must be one of {60, 1440, 4320, 10080}.' });
	}
	if (problems.length > 0) throw invalidFormBody(problems);
	return { name, autoArchiveDuration: duration as number };
}

function makeThread(emu: Emulation, id: string, parent: StoredChannel, type: number, options: ThreadOptions): StoredChannel {
	const now = new Date().toISOString();
	return {
		id,
		type,
		name: options.name,
		parentId: parent.id,
		position: 0,
		topic: null,
		ownerId: emu.world.ids.botUserId,
		permissionOverwrites: [],
		thread: { archived: false, autoArchiveDuration: options.autoArchiveDuration, archiveTimestamp: now, locked: false, createTimestamp: now },
		lastMessageId: null,
		totalMessageSent: 0
	};
}

/** Applies a thread PATCH: archive/unarchive, lock, rename, auto-archive duration — with Discord's rules. */
function patchThread(emu: Emulation, thread: StoredChannel, body: Record<string, unknown>): void {
	const meta = thread.thread;
	if (!meta) return;
	const unarchiving = body.archived === false;
	const otherChanges = ['name', 'auto_archive_duration', 'locked', 'rate_limit_per_user', 'flags', 'applied_tags'].some((key) => key in body);
	if (meta.archived && !unarchiving && otherChanges && body.archived !== true) throw DiscordRefusal.archivedThread();
	if (unarchiving && meta.archived && emu.world.activeThreadCount() >= emu.limits.activeThreads) throw DiscordRefusal.maxActiveThreads();
	if (typeof body.name === 'string') {
		if (body.name.length < 1 || body.name.length > 100) {
			throw invalidFormBody([{ path: ['name'], code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 100 in length.' }]);
		}
		thread.name = body.name;
	}
	if (body.auto_archive_duration !== undefined) {
		if (typeof body.auto_archive_duration !== 'number' || !AUTO_ARCHIVE.has(body.auto_archive_duration)) {
			throw invalidFormBody([
				{ path: ['auto_archive_duration'], code: 'BASE_TYPE_CHOICES', message: 'Value must be one of {60, 1440, 4320, 10080}.' }
			]);
		}
		meta.autoArchiveDuration = body.auto_archive_duration;
	}
	if (typeof body.locked === 'boolean') meta.locked = body.locked;
	if (typeof body.archived === 'boolean' && body.archived !== meta.archived) {
		meta.archived = body.archived;
		meta.archiveTimestamp = new Date().toISOString();
	}
}
