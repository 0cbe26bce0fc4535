import type { Events } from '@sapphire/framework';
import { Listener, type ChatInputCommandDeniedPayload, type UserError } from '@sapphire/framework';
import { answerFailure } from '../lib/replies.js';

/** A command-level precondition refused: one ephemeral sentence. */
export class ChatInputCommandDeniedListener extends Listener<typeof Events.ChatInputCommandDenied> {
	public override async run(error: UserError, payload: ChatInputCommandDeniedPayload): Promise<void> {
		await answerFailure(error, payload.interaction, `/${payload.command.name}`);
	}
}
