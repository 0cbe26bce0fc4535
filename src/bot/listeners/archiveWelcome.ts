import { Events, Listener } from '@sapphire/framework';
import type { Client } from 'discord.js';
import { ensureWelcome } from '../lib/welcome.js';

/** Once connected: the first word in an empty archive channel, posted and pinned once (see lib/welcome.ts). */
export class ArchiveWelcomeListener extends Listener<typeof Events.ClientReady> {
	public constructor(context: Listener.LoaderContext, options: Listener.Options) {
		super(context, { ...options, once: true, event: Events.ClientReady });
	}

	public override async run(client: Client<true>): Promise<void> {
		const { logger } = this.container;
		const channelId = this.container.dos.config.discord.archiveChannelId;
		if (channelId === undefined) return;
		try {
			const outcome = await ensureWelcome(client, channelId, this.container.archive.context.index, (reason) => {
				logger.warn(
					`The welcome message in the archive channel could not be pinned (${reason}): grant the bot Pin Messages there, then pin it by hand.`
				);
			});
			logger.info(`Archive channel welcome: ${outcomeText[outcome]}.`);
		} catch (error) {
			logger.warn(
				`Archive channel welcome: not posted (${error instanceof Error ? error.message : String(error)}); the next start tries again. Check that the bot can read and post in the archive channel.`
			);
		}
	}
}

const outcomeText = {
	remembered: 'already done (remembered in the index)',
	found: 'found the earlier one in the channel',
	'in-use': 'the channel already holds the bot’s messages, none posted',
	posted: 'posted the welcome message',
	'no-channel': 'the archive channel is not a text channel the bot can see'
} as const;
