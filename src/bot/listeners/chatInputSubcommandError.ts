import { Listener } from '@sapphire/framework';
import type { SubcommandPluginEvents } from '@sapphire/plugin-subcommands';
import { type ChatInputSubcommandErrorPayload } from '@sapphire/plugin-subcommands';
import { answerFailure } from '../lib/replies.js';

/** A subcommand that threw: the plugin reports it under its own event, not chatInputCommandError. */
export class ChatInputSubcommandErrorListener extends Listener<typeof SubcommandPluginEvents.ChatInputSubcommandError> {
	public override async run(error: unknown, payload: ChatInputSubcommandErrorPayload): Promise<void> {
		await answerFailure(error, payload.interaction, `/${payload.command.name} ${payload.matchedSubcommandMapping.name}`);
	}
}
