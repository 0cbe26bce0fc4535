import type { Events } from '@sapphire/framework';
import { Listener } from '@sapphire/framework';

/** The line scripts and tests wait for: `/archive` is registered and can be used. */
export class CommandsRegisteredListener extends Listener<typeof Events.ApplicationCommandRegistriesRegistered> {
	public override run(_registries: unknown, timeTaken: number): void {
		this.container.logger.info(`Commands registered in ${Math.round(timeTaken)} ms: the bot is ready.`);
	}
}
