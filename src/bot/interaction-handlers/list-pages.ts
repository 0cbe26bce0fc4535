import { InteractionHandler, InteractionHandlerTypes } from '@sapphire/framework';
import type { ButtonInteraction } from 'discord.js';
import { ArchiveAction } from '../lib/access.js';
import { listPage } from '../lib/archive-pages.js';
import { assertMayRun } from '../lib/asker.js';
import { type ListPageId, parseListPageId } from '../lib/custom-ids.js';
import { updateMessage } from '../lib/replies.js';

/** ⏮ Newest and Older ▶ under `/archive list`: the ephemeral page is replaced by the next one. */
export class ListPagesHandler extends InteractionHandler {
	public constructor(context: InteractionHandler.LoaderContext, options: InteractionHandler.Options) {
		super(context, { ...options, interactionHandlerType: InteractionHandlerTypes.Button });
	}

	public override parse(interaction: ButtonInteraction) {
		const id = parseListPageId(interaction.customId);
		return id === null ? this.none() : this.some(id);
	}

	public async run(interaction: ButtonInteraction, page: ListPageId): Promise<void> {
		assertMayRun(interaction, ArchiveAction.List);
		await updateMessage(interaction, listPage(page.query, page.before));
	}
}
