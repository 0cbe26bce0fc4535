import type { Events } from '@sapphire/framework';
import { Listener, type ListenerErrorPayload } from '@sapphire/framework';

/** A listener that threw: nobody to answer, so the log gets it. */
export class ListenerErrorListener extends Listener<typeof Events.ListenerError> {
	public override run(error: unknown, payload: ListenerErrorPayload): void {
		this.container.logger.error(`Listener ${payload.piece.name} failed:`, error);
	}
}
