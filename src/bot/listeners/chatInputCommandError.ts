import type { Events } from '@sapphire/framework';
import { Listener, type ChatInputCommandErrorPayload } from '@sapphire/framework';
import { answerFailure } from '../lib/replies.js';

/** A slash command that threw (not a subcommand: those arrive as chatInputSubcommandError). */
export class ChatInputCommandErrorListener extends Listener<typeof Events.ChatInputCommandError> {
	public override async run(error: unknown, payload: ChatInputCommandErrorPayload): Promise<void> {
		await answerFailure(error, payload.interaction, `/${payload.command.name}`);
	}
}
