import type { Events } from '@sapphire/framework';
import { Listener, type Command } from '@sapphire/framework';

/** Registering a command with Discord failed (permissions, a malformed option): the log says which. */
export class CommandApplicationCommandRegistryErrorListener extends Listener<typeof Events.CommandApplicationCommandRegistryError> {
	public override run(error: unknown, command: Command): void {
		this.container.logger.error(`Registering /${command.name} failed:`, error);
	}
}
