import type { Events } from '@sapphire/framework';
import { Listener, type InteractionHandlerError } from '@sapphire/framework';
import { answerFailure } from '../lib/replies.js';

/** A button or autocomplete handler that threw while running. */
export class InteractionHandlerErrorListener extends Listener<typeof Events.InteractionHandlerError> {
	public override async run(error: unknown, payload: InteractionHandlerError): Promise<void> {
		await answerFailure(error, payload.interaction, `handler ${payload.handler.name}`);
	}
}
