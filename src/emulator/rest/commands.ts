import { readJsonBody } from '../body.js';
import type { Emulation, RestContext, RestRoute } from '../emulation.js';
import { reply } from '../emulation.js';
import { DiscordRefusal, invalidFormBody } from '../errors.js';
import { checkCommand } from '../rules.js';
import type { StoredCommand } from '../world.js';

/** Application commands, global and per guild: list, create (upsert by name), get, edit, delete, bulk overwrite. */
export const commandRoutes: RestRoute[] = [];

for (const scope of ['global', 'guild'] as const) {
	const base = scope === 'global' ? '/applications/:application/commands' : '/applications/:application/guilds/:guild/commands';
	commandRoutes.push(
		route('GET', base, (context) => {
			const guildId = scopeOf(context);
			return reply.json(commandsIn(context.emu, guildId).map((command) => commandBody(context.emu, command)));
		}),
		route('POST', base, async (context) => {
			const guildId = scopeOf(context);
			const data = checkCommand(await readJsonBody(context.body, context.headers['content-type']));
			const existing = commandsIn(context.emu, guildId).find((command) => sameCommand(command.data, data));
			if (existing) {
				existing.data = data;
				existing.version = context.emu.world.snowflakes.next();
				context.emu.world.markChanged();
				return reply.json(commandBody(context.emu, existing), 200, true);
			}
			if (commandsIn(context.emu, guildId).filter((command) => command.data.type === data.type).length >= 100) {
				throw invalidFormBody([{ path: [], code: 'MAX_COMMANDS', message: 'Maximum number of application commands reached (100)' }]);
			}
			const command: StoredCommand = { id: context.emu.world.snowflakes.next(), guildId, version: context.emu.world.snowflakes.next(), data };
			context.emu.world.commands.set(command.id, command);
			context.emu.world.markChanged();
			return reply.json(commandBody(context.emu, command), 201, true);
		}),
		route('PUT', base, async (context) => {
			const guildId = scopeOf(context);
			const body = await readJsonBody(context.body, context.headers['content-type']);
			if (!Array.isArray(body))
				throw invalidFormBody([{ path: [], code: 'LIST_TYPE_CONVERT', message: 'Only iterables may be used in a ListType' }]);
			const definitions = body.map((entry: unknown, index) => checkCommand(entry, [index]));
			const previous = commandsIn(context.emu, guildId);
			const next: StoredCommand[] = definitions.map((data) => {
				const kept = previous.find((command) => sameCommand(command.data, data));
				return { id: kept?.id ?? context.emu.world.snowflakes.next(), guildId, version: context.emu.world.snowflakes.next(), data };
			});
			for (const command of previous) context.emu.world.commands.delete(command.id);
			for (const command of next) context.emu.world.commands.set(command.id, command);
			context.emu.world.markChanged();
			return reply.json(
				next.map((command) => commandBody(context.emu, command)),
				200,
				true
			);
		}),
		route('GET', `${base}/:command`, (context) => reply.json(commandBody(context.emu, commandOf(context)))),
		route('PATCH', `${base}/:command`, async (context) => {
			const command = commandOf(context);
			const body = await readJsonBody(context.body, context.headers['content-type']);
			if (typeof body !== 'object' || body === null)
				throw invalidFormBody([{ path: [], code: 'DICT_TYPE_CONVERT', message: 'Only dictionaries may be used in a DictType' }]);
			command.data = checkCommand({ ...command.data, ...body });
			command.version = context.emu.world.snowflakes.next();
			context.emu.world.markChanged();
			return reply.json(commandBody(context.emu, command), 200, true);
		}),
		route('DELETE', `${base}/:command`, (context) => {
			const command = commandOf(context);
			context.emu.world.commands.delete(command.id);
			context.emu.world.markChanged();
			return reply.noContent(true);
		})
	);
}

function route(method: string, pattern: string, handler: RestRoute['handler']): RestRoute {
	return { method, pattern, auth: true, rateLimited: true, handler };
}

function scopeOf(context: RestContext): string | null {
	const { emu, params } = context;
	if (params.application !== emu.world.ids.applicationId) throw DiscordRefusal.missingAccess();
	if (params.guild === undefined) return null;
	if (params.guild !== emu.world.ids.guildId) throw DiscordRefusal.unknownGuild();
	return params.guild;
}

function commandsIn(emu: Emulation, guildId: string | null): StoredCommand[] {
	return [...emu.world.commands.values()].filter((command) => command.guildId === guildId);
}

function commandOf(context: RestContext): StoredCommand {
	const guildId = scopeOf(context);
	const command = context.params.command === undefined ? undefined : context.emu.world.commands.get(context.params.command);
	if (!command || command.guildId !== guildId) throw DiscordRefusal.unknownCommand();
	return command;
}

function sameCommand(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
	return a.name === b.name && (a.type ?? 1) === (b.type ?? 1);
}

function commandBody(emu: Emulation, command: StoredCommand): Record<string, unknown> {
	return {
		...command.data,
		id: command.id,
		application_id: emu.world.ids.applicationId,
		version: command.version,
		...(command.guildId ? { guild_id: command.guildId } : {})
	};
}
