import type { Events } from '@sapphire/framework';
import { Listener } from '@sapphire/framework';
import type { Client } from 'discord.js';

/** Says who the bot is once connected (never the token). */
export class ReadyListener extends Listener<typeof Events.ClientReady> {
	public constructor(context: Listener.LoaderContext, options: Listener.Options) {
		super(context, { ...options, once: true });
	}

	public override run(client: Client<true>): void {
		const { config } = this.container.dos;
		this.container.logger.info(
			`Connected as ${client.user.tag} (${client.user.id}); archive channel ${config.discord.archiveChannelId ?? '(none)'}; commands ${config.discord.guildId === undefined ? 'global' : `in guild ${config.discord.guildId}`}; encryption ${config.userKey === undefined ? 'OFF (USER_KEY unset)' : 'on'}.`
		);
	}
}
