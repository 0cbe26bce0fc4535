import { InteractionHandler, InteractionHandlerTypes } from '@sapphire/framework';
import type { ButtonInteraction } from 'discord.js';
import { type CardAction, parseCardCustomId } from '../../archive/card.js';
import { ArchiveAction } from '../lib/access.js';
import { askCleanup, cancelJob, startDownload, startResume, startVerify } from '../lib/archive-actions.js';
import { assertMayRun } from '../lib/asker.js';

/** The action (and so the access rule) behind each card button. */
const buttonAction: Readonly<Record<CardAction, ArchiveAction>> = {
	download: ArchiveAction.Download,
	verify: ArchiveAction.Verify,
	resume: ArchiveAction.Resume,
	cancel: ArchiveAction.Cancel,
	delete: ArchiveAction.Delete
};

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
		// The access check comes first, whatever the button: a refusal changes nothing.
		assertMayRun(interaction, buttonAction[action]);
		switch (action) {
			case 'download':
				return startDownload(interaction, uid, null, null);
			case 'verify':
				return startVerify(interaction, uid, 'quick', null);
			case 'resume':
				return startResume(interaction, uid);
			case 'cancel':
				return cancelJob(interaction, uid);
			case 'delete':
				return askCleanup(interaction, uid);
		}
	}
}
