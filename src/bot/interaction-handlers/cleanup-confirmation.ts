import { InteractionHandler, InteractionHandlerTypes } from '@sapphire/framework';
import type { ButtonInteraction } from 'discord.js';
import { ArchiveAction } from '../lib/access.js';
import { confirmCleanup } from '../lib/archive-actions.js';
import { assertMayRun } from '../lib/asker.js';
import { type CleanupConfirmationId, parseCleanupConfirmationId } from '../lib/custom-ids.js';
import { BotError, BotErrorCode } from '../lib/errors.js';
import { updateMessage } from '../lib/replies.js';

/** The answer to "Delete #…?": Delete runs the cleanup, Keep closes the question; both refuse once it expired. */
export class CleanupConfirmationHandler extends InteractionHandler {
	public constructor(context: InteractionHandler.LoaderContext, options: InteractionHandler.Options) {
		super(context, { ...options, interactionHandlerType: InteractionHandlerTypes.Button });
	}

	public override parse(interaction: ButtonInteraction) {
		const id = parseCleanupConfirmationId(interaction.customId);
		return id === null ? this.none() : this.some(id);
	}

	public async run(interaction: ButtonInteraction, { answer, uid, expiresAt }: CleanupConfirmationId): Promise<void> {
		assertMayRun(interaction, ArchiveAction.Cleanup);
		if (Date.now() > expiresAt) {
			throw new BotError(
				BotErrorCode.ConfirmationExpired,
				'This question has expired and nothing was deleted: run /archive cleanup again to delete the archive.'
			);
		}
		if (answer === 'keep') {
			await updateMessage(interaction, { content: 'Kept: nothing was deleted.', components: [] });
			return;
		}
		await confirmCleanup(interaction, uid);
	}
}
