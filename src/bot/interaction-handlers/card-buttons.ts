import { InteractionHandler, InteractionHandlerTypes } from '@sapphire/framework';
import type { ButtonInteraction } from 'discord.js';
import { type CardAction, parseCardCustomId } from '../../archive/card.js';
import { cancelJob, startResume } from '../lib/archive-actions.js';
import { BotError, BotErrorCode } from '../lib/errors.js';

/**
 * The buttons of an archive card, `archive:<action>:<uid>`: Download, Verify, Resume, Cancel, Delete. Each applies
 * the same access check as its subcommand and answers ephemerally; the card itself is edited by the job.
 */
export class CardButtonsHandler extends InteractionHandler {
	public constructor(context: InteractionHandler.LoaderContext, options: InteractionHandler.Options) {
		super(context, { ...options, interactionHandlerType: InteractionHandlerTypes.Button });
	}

	public override parse(interaction: ButtonInteraction) {
		const id = parseCardCustomId(interaction.customId);
		return id === null ? this.none() : this.some(id);
	}

	public async run(interaction: ButtonInteraction, { action, uid }: { action: CardAction; uid: string }): Promise<void> {
		switch (action) {
			case 'resume':
				return startResume(interaction, uid);
			case 'cancel':
				return cancelJob(interaction, uid);
			case 'download':
			case 'verify':
			case 'delete':
				throw new BotError(
					BotErrorCode.NotAvailable,
					`The ${action} button needs the archive service's ${action} job, which this build does not have yet.`
				);
		}
	}
}
