import type { RestRoute } from '../emulation.js';
import { reply } from '../emulation.js';
import { DiscordRefusal } from '../errors.js';

const guildOr404 = (id: string | undefined, guildId: string) => {
	if (id !== guildId) throw DiscordRefusal.unknownGuild();
};

/** The gateway URL, the bot's own user and application, and read-only guild routes discord.js calls. */
export const miscRoutes: RestRoute[] = [
	route('GET', '/gateway/bot', ({ emu }) =>
		reply.json({
			url: emu.gateway.url,
			shards: 1,
			session_start_limit: { total: 1000, remaining: 1000, reset_after: 86_400_000, max_concurrency: 1 }
		})
	),
	{ method: 'GET', pattern: '/gateway', auth: false, rateLimited: true, handler: ({ emu }) => reply.json({ url: emu.gateway.url }) },
	route('GET', '/users/@me', ({ emu }) => reply.json(emu.payloads.currentUser())),
	route('GET', '/users/:user', ({ emu, params }) => {
		if (params.user === undefined || !emu.world.users.has(params.user)) throw DiscordRefusal.unknownUser();
		return reply.json(emu.payloads.userById(params.user));
	}),
	route('GET', '/users/@me/guilds', ({ emu }) =>
		reply.json([
			{
				id: emu.world.ids.guildId,
				name: emu.world.guildName,
				icon: null,
				owner: false,
				permissions: emu.payloads.basePermissions(emu.world.ids.botUserId).toString(),
				features: []
			}
		])
	),
	route('GET', '/applications/@me', ({ emu }) => reply.json(emu.payloads.application())),
	route('GET', '/oauth2/applications/@me', ({ emu }) => reply.json(emu.payloads.application())),
	route('GET', '/guilds/:guild', ({ emu, params, query }) => {
		guildOr404(params.guild, emu.world.ids.guildId);
		const counts = query.get('with_counts') === 'true' ? { approximate_member_count: emu.world.members.size, approximate_presence_count: 0 } : {};
		return reply.json({ ...emu.payloads.guild(), ...counts });
	}),
	route('GET', '/guilds/:guild/channels', ({ emu, params }) => {
		guildOr404(params.guild, emu.world.ids.guildId);
		return reply.json([...emu.world.channels.values()].filter((channel) => !channel.thread).map((channel) => emu.payloads.channel(channel)));
	}),
	route('GET', '/guilds/:guild/roles', ({ emu, params }) => {
		guildOr404(params.guild, emu.world.ids.guildId);
		return reply.json(emu.payloads.roles());
	}),
	route('GET', '/guilds/:guild/members', ({ emu, params }) => {
		guildOr404(params.guild, emu.world.ids.guildId);
		return reply.json([...emu.world.members.keys()].map((userId) => emu.payloads.member(userId)));
	}),
	route('GET', '/guilds/:guild/members/:user', ({ emu, params }) => {
		guildOr404(params.guild, emu.world.ids.guildId);
		const member = params.user === undefined ? null : emu.payloads.member(params.user);
		if (!member) throw DiscordRefusal.unknownMember();
		return reply.json(member);
	})
];

function route(method: string, pattern: string, handler: RestRoute['handler']): RestRoute {
	return { method, pattern, auth: true, rateLimited: true, handler };
}
