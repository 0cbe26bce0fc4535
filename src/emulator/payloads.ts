import type { CdnSigner } from './cdn.js';
import { ALL_PERMISSIONS, Permission } from './permissions.js';
import type { StoredChannel, StoredMessage, StoredUser, World } from './world.js';

/** A message as the control API shows it (`GET /_emu/channels/:id/messages`). */
export interface ControlMessage {
	id: string;
	channelId: string;
	author: { id: string; bot: boolean };
	content: string;
	embeds: unknown[];
	components: unknown[];
	attachments: { id: string; filename: string; size: number; url: string }[];
	thread: { id: string; name: string; archived: boolean } | null;
	editedAt: string | null;
	createdAt: string;
	type: number;
	flags: number;
	ephemeral: boolean;
	nonce: string | number | null;
	pinned: boolean;
}

/**
 * Turns the stored world into the JSON shapes Discord sends (users, members, channels, messages, the guild),
 * with fresh CDN URLs on every attachment.
 */
export class Payloads {
	readonly #world: World;
	readonly #cdn: CdnSigner;

	public constructor(world: World, cdn: CdnSigner) {
		this.#world = world;
		this.#cdn = cdn;
	}

	public user(user: StoredUser): Record<string, unknown> {
		return {
			id: user.id,
			username: user.username,
			global_name: user.globalName,
			discriminator: '0',
			avatar: null,
			bot: user.bot,
			system: false,
			public_flags: 0,
			flags: 0,
			banner: null,
			accent_color: null,
			avatar_decoration_data: null,
			collectibles: null,
			primary_guild: null
		};
	}

	/** The bot's own user as `GET /users/@me` returns it: the public user plus the fields only its owner sees. */
	public currentUser(): Record<string, unknown> {
		return { ...this.userById(this.#world.ids.botUserId), mfa_enabled: false, locale: 'en-US', verified: true, email: null };
	}

	public userById(id: string): Record<string, unknown> {
		const user = this.#world.users.get(id);
		return user
			? this.user(user)
			: {
					id,
					username: 'unknown',
					global_name: null,
					discriminator: '0',
					avatar: null,
					bot: false,
					public_flags: 0,
					flags: 0,
					primary_guild: null
				};
	}

	/** A guild member; with `withUser`, the nested user object too (gateway and REST do, message `member` does not). */
	public member(userId: string, withUser = true): Record<string, unknown> | null {
		const member = this.#world.members.get(userId);
		if (!member) return null;
		const body: Record<string, unknown> = {
			roles: member.roles,
			nick: null,
			avatar: null,
			banner: null,
			joined_at: member.joinedAt,
			premium_since: null,
			deaf: false,
			mute: false,
			flags: 0,
			pending: false,
			communication_disabled_until: null
		};
		if (withUser) body.user = this.userById(userId);
		return body;
	}

	public roles(): Record<string, unknown>[] {
		return [...this.#world.roles.values()].map((role) => ({
			id: role.id,
			name: role.name,
			color: 0,
			colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
			hoist: false,
			icon: null,
			unicode_emoji: null,
			position: role.position,
			permissions: role.permissions,
			managed: role.managed,
			mentionable: false,
			flags: 0,
			...(role.managed ? { tags: { bot_id: this.#world.ids.botUserId } } : {})
		}));
	}

	/** Guild-level permissions of a user: the owner holds all; otherwise the union of their roles. */
	public basePermissions(userId: string): bigint {
		if (userId === this.#world.ids.users.owner) return ALL_PERMISSIONS;
		const member = this.#world.members.get(userId);
		if (!member) return 0n;
		let permissions = BigInt(this.#world.roles.get(this.#world.ids.roles.everyone)?.permissions ?? '0');
		for (const roleId of member.roles) permissions |= BigInt(this.#world.roles.get(roleId)?.permissions ?? '0');
		return (permissions & Permission.Administrator) !== 0n ? ALL_PERMISSIONS : permissions;
	}

	/** Permissions of a user in a channel (a thread uses its parent's overwrites), as Discord computes them. */
	public channelPermissions(userId: string, channel: StoredChannel): bigint {
		let permissions = this.basePermissions(userId);
		if (permissions === ALL_PERMISSIONS) return permissions;
		const target = channel.thread && channel.parentId ? (this.#world.channels.get(channel.parentId) ?? channel) : channel;
		const member = this.#world.members.get(userId);
		const apply = (allow: string, deny: string) => {
			permissions &= ~BigInt(deny);
			permissions |= BigInt(allow);
		};
		const everyone = target.permissionOverwrites.find((overwrite) => overwrite.id === this.#world.ids.roles.everyone);
		if (everyone) apply(everyone.allow, everyone.deny);
		let allow = 0n;
		let deny = 0n;
		for (const overwrite of target.permissionOverwrites) {
			if (overwrite.type === 0 && overwrite.id !== this.#world.ids.roles.everyone && member?.roles.includes(overwrite.id)) {
				allow |= BigInt(overwrite.allow);
				deny |= BigInt(overwrite.deny);
			}
		}
		apply(allow.toString(), deny.toString());
		const own = target.permissionOverwrites.find((overwrite) => overwrite.type === 1 && overwrite.id === userId);
		if (own) apply(own.allow, own.deny);
		return permissions;
	}

	public channel(channel: StoredChannel): Record<string, unknown> {
		const body: Record<string, unknown> = {
			id: channel.id,
			type: channel.type,
			guild_id: this.#world.ids.guildId,
			name: channel.name,
			parent_id: channel.parentId,
			last_message_id: channel.lastMessageId,
			flags: 0,
			rate_limit_per_user: 0
		};
		if (channel.thread) {
			const messageCount = this.#world.channelMessageIds(channel.id).length;
			Object.assign(body, {
				owner_id: channel.ownerId,
				message_count: messageCount,
				total_message_sent: channel.totalMessageSent,
				member_count: 1,
				thread_metadata: {
					archived: channel.thread.archived,
					auto_archive_duration: channel.thread.autoArchiveDuration,
					archive_timestamp: channel.thread.archiveTimestamp,
					locked: channel.thread.locked,
					create_timestamp: channel.thread.createTimestamp,
					...(channel.type === 12 ? { invitable: false } : {})
				},
				applied_tags: []
			});
		} else {
			Object.assign(body, {
				position: channel.position,
				topic: channel.topic,
				nsfw: false,
				permission_overwrites: channel.permissionOverwrites.map((overwrite) => ({ ...overwrite })),
				default_auto_archive_duration: 1440,
				default_thread_rate_limit_per_user: 0
			});
		}
		return body;
	}

	/** The thread-member object of the bot in a thread (sent with thread payloads). */
	public threadMember(thread: StoredChannel): Record<string, unknown> {
		return {
			id: thread.id,
			user_id: this.#world.ids.botUserId,
			join_timestamp: thread.thread?.createTimestamp ?? new Date().toISOString(),
			flags: 0
		};
	}

	/** A message as REST and the gateway send it, with freshly signed attachment URLs. */
	public message(message: StoredMessage, options: { gateway?: boolean } = {}): Record<string, unknown> {
		const author = this.userById(message.authorId);
		const body: Record<string, unknown> = {
			id: message.id,
			type: message.type,
			channel_id: message.channelId,
			author,
			content: message.content,
			timestamp: message.timestamp,
			edited_timestamp: message.editedTimestamp,
			tts: false,
			mention_everyone: false,
			mentions: [],
			mention_roles: [],
			mention_channels: [],
			attachments: message.attachments.map((attachment) => {
				const url = this.#cdn.sign(message.channelId, attachment.id, attachment.filename);
				return {
					id: attachment.id,
					filename: attachment.filename,
					size: attachment.size,
					url,
					proxy_url: url,
					...(attachment.contentType ? { content_type: attachment.contentType } : {}),
					...(attachment.description ? { description: attachment.description } : {})
				};
			}),
			embeds: message.embeds,
			components: withComponentIds(message.components),
			pinned: message.pinned === true,
			flags: message.flags,
			reactions: undefined
		};
		delete body.reactions;
		if (message.nonce !== null) body.nonce = message.nonce;
		if (message.webhookId) {
			body.webhook_id = message.webhookId;
			body.application_id = this.#world.ids.applicationId;
		}
		if (message.interaction) {
			body.interaction_metadata = {
				id: message.interaction.id,
				type: message.interaction.type,
				user: this.userById(message.interaction.userId),
				authorizing_integration_owners: { '0': this.#world.ids.guildId },
				...(message.interaction.interactedMessageId ? { interacted_message_id: message.interaction.interactedMessageId } : {})
			};
			body.interaction = {
				id: message.interaction.id,
				type: message.interaction.type,
				name: message.interaction.name,
				user: this.userById(message.interaction.userId)
			};
		}
		if (message.threadId) {
			const thread = this.#world.channels.get(message.threadId);
			if (thread) body.thread = { ...this.channel(thread), member: this.threadMember(thread) };
		}
		const channel = this.#world.channels.get(message.channelId);
		if (channel?.thread && message.id === channel.id) body.position = 0;
		if (options.gateway) {
			body.guild_id = this.#world.ids.guildId;
			if (!message.webhookId || message.interaction) {
				const member = this.member(message.authorId, false);
				if (member) body.member = member;
			}
		}
		return body;
	}

	/** The control API's view of a message. */
	public controlMessage(message: StoredMessage): ControlMessage {
		const thread = message.threadId ? this.#world.channels.get(message.threadId) : undefined;
		return {
			id: message.id,
			channelId: message.channelId,
			author: { id: message.authorId, bot: this.#world.users.get(message.authorId)?.bot ?? false },
			content: message.content,
			embeds: message.embeds,
			components: message.components,
			attachments: message.attachments.map((attachment) => ({
				id: attachment.id,
				filename: attachment.filename,
				size: attachment.size,
				url: this.#cdn.sign(message.channelId, attachment.id, attachment.filename)
			})),
			thread: thread ? { id: thread.id, name: thread.name, archived: thread.thread?.archived ?? false } : null,
			editedAt: message.editedTimestamp,
			createdAt: message.timestamp,
			type: message.type,
			flags: message.flags,
			ephemeral: message.ephemeral,
			nonce: message.nonce,
			pinned: message.pinned === true
		};
	}

	/** The GUILD_CREATE payload: the whole guild with channels, active threads, roles and members. */
	public guildCreate(): Record<string, unknown> {
		const { ids } = this.#world;
		const channels = [...this.#world.channels.values()];
		return {
			...this.guild(),
			unavailable: false,
			joined_at: this.#world.members.get(ids.botUserId)?.joinedAt ?? new Date().toISOString(),
			large: false,
			member_count: this.#world.members.size,
			voice_states: [],
			members: [...this.#world.members.keys()].map((userId) => this.member(userId)),
			channels: channels.filter((channel) => !channel.thread).map((channel) => this.channel(channel)),
			threads: channels.filter((channel) => channel.thread && !channel.thread.archived).map((channel) => this.channel(channel)),
			presences: [],
			stage_instances: [],
			guild_scheduled_events: [],
			soundboard_sounds: []
		};
	}

	/** The guild object REST returns. */
	public guild(): Record<string, unknown> {
		const { ids } = this.#world;
		return {
			id: ids.guildId,
			name: this.#world.guildName,
			icon: null,
			splash: null,
			discovery_splash: null,
			owner_id: ids.users.owner,
			afk_channel_id: null,
			afk_timeout: 300,
			verification_level: 0,
			default_message_notifications: 0,
			explicit_content_filter: 0,
			roles: this.roles(),
			emojis: [],
			stickers: [],
			features: [],
			mfa_level: 0,
			application_id: null,
			system_channel_id: null,
			system_channel_flags: 0,
			rules_channel_id: null,
			max_members: 500_000,
			vanity_url_code: null,
			description: null,
			banner: null,
			premium_tier: 0,
			premium_subscription_count: 0,
			preferred_locale: 'en-US',
			public_updates_channel_id: null,
			nsfw_level: 0,
			premium_progress_bar_enabled: false,
			safety_alerts_channel_id: null,
			home_header: null,
			region: 'deprecated',
			widget_enabled: false,
			widget_channel_id: null,
			max_presences: null,
			max_stage_video_channel_users: 50,
			max_video_channel_users: 25,
			nsfw: false,
			incidents_data: null
		};
	}

	public application(): Record<string, unknown> {
		const { ids } = this.#world;
		return {
			id: ids.applicationId,
			name: 'Discord Object Store',
			icon: null,
			description: '',
			bot_public: false,
			bot_require_code_grant: false,
			type: null,
			verify_key: '0'.repeat(64),
			flags: 0,
			flags_new: '0',
			redirect_uris: [],
			interactions_endpoint_url: null,
			role_connections_verification_url: null,
			owner: this.userById(ids.users.owner),
			team: null,
			bot: this.userById(ids.botUserId),
			approximate_guild_count: 1,
			approximate_user_install_count: 0,
			approximate_user_authorization_count: 0,
			explicit_content_filter: 0,
			eligible_oauth2_scopes: ['applications.commands', 'bot']
		};
	}
}

/**
 * Components as Discord answers them: every component carries a numeric `id`, unique in the message. Discord
 * numbers the ones sent without an id in order (depth first, from 1), skipping the ids the sender chose.
 */
function withComponentIds(components: readonly unknown[]): unknown[] {
	const taken = new Set<number>();
	const collect = (list: readonly unknown[]) => {
		for (const component of list) {
			if (!isRecord(component)) continue;
			if (typeof component.id === 'number') taken.add(component.id);
			if (Array.isArray(component.components)) collect(component.components);
		}
	};
	collect(components);
	let next = 1;
	const number = (list: readonly unknown[]): unknown[] =>
		list.map((component) => {
			if (!isRecord(component)) return component;
			const copy: Record<string, unknown> = { ...component };
			if (typeof copy.id !== 'number') {
				while (taken.has(next)) next++;
				copy.id = next;
				taken.add(next);
			}
			if (Array.isArray(copy.components)) copy.components = number(copy.components);
			return copy;
		});
	return number(components);
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}
