import type { Events } from '@sapphire/framework';
import { Listener } from '@sapphire/framework';

/** An error of the discord.js client itself (gateway, cache). */
export class ClientErrorListener extends Listener<typeof Events.Error> {
	public override run(error: Error): void {
		this.container.logger.error('Client error:', error);
	}
}
