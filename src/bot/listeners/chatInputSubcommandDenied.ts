import type { UserError } from '@sapphire/framework';
import { Listener } from '@sapphire/framework';
import type { SubcommandPluginEvents } from '@sapphire/plugin-subcommands';
import { type ChatInputSubcommandDeniedPayload } from '@sapphire/plugin-subcommands';
import { answerFailure } from '../lib/replies.js';

/** A subcommand precondition (owner or allowed role) refused: one ephemeral sentence. */
export class ChatInputSubcommandDeniedListener extends Listener<typeof SubcommandPluginEvents.ChatInputSubcommandDenied> {
	public override async run(error: UserError, payload: ChatInputSubcommandDeniedPayload): Promise<void> {
		await answerFailure(error, payload.interaction, `/${payload.command.name} ${payload.matchedSubcommandMapping.name}`);
	}
}
