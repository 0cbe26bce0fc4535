import type { Events } from '@sapphire/framework';
import { Listener, type InteractionHandlerParseError } from '@sapphire/framework';
import { answerFailure } from '../lib/replies.js';

/** A button or autocomplete handler that threw while deciding whether the interaction is its own. */
export class InteractionHandlerParseErrorListener extends Listener<typeof Events.InteractionHandlerParseError> {
	public override async run(error: unknown, payload: InteractionHandlerParseError): Promise<void> {
		await answerFailure(error, payload.interaction, `handler ${payload.handler.name} (parse)`);
	}
}
