import { InteractionHandler, InteractionHandlerTypes } from '@sapphire/framework';
import type { AutocompleteInteraction } from 'discord.js';
import { type ArchiveAction, ArchiveAction as Action } from '../lib/access.js';
import { archiveChoice, type ArchiveChoice, type ArchiveOptionScope, archiveOptionStatuses, pathChoice } from '../lib/archive-choices.js';
import { interactionMayRun } from '../lib/asker.js';
import { AUTOCOMPLETE_MAX_CHOICES, AUTOCOMPLETE_TEXT_MAX } from '../lib/upload-folders.js';

/** Which subcommands have an archive option, and the action whose access check applies while typing into it. */
const archiveScopes: Readonly<Record<string, { scope: ArchiveOptionScope; action: ArchiveAction }>> = {
	download: { scope: 'download', action: Action.Download },
	verify: { scope: 'verify', action: Action.Verify },
	resume: { scope: 'resume', action: Action.Resume },
	cleanup: { scope: 'cleanup', action: Action.Cleanup }
};

/**
 * Autocomplete for `/archive`: `upload source:` offers folders under the upload root; every archive option (`id`,
 * `through`) offers archives matching the id, label or a file name, only those the subcommand can act on, at most
 * 25, answered from the index well inside Discord's 3 s; `download path:` offers the paths inside the archive typed
 * in `id`. Someone who may not run the subcommand gets no choices.
 */
export class ArchiveAutocompleteHandler extends InteractionHandler {
	public constructor(context: InteractionHandler.LoaderContext, options: InteractionHandler.Options) {
		super(context, { ...options, interactionHandlerType: InteractionHandlerTypes.Autocomplete });
	}

	public override async parse(interaction: AutocompleteInteraction) {
		if (interaction.commandName !== 'archive') return this.none();
		const subcommand = interaction.options.getSubcommand(false);
		const focused = interaction.options.getFocused(true);
		if (subcommand === 'upload' && focused.name === 'source') {
			if (!interactionMayRun(interaction, Action.Upload)) return this.some<ArchiveChoice[]>([]);
			const folders = await this.container.archive.suggestUploadFolders(focused.value, {
				limit: AUTOCOMPLETE_MAX_CHOICES,
				maxLength: AUTOCOMPLETE_TEXT_MAX
			});
			return this.some(folders.map((folder) => ({ name: folder, value: folder })));
		}
		if (subcommand === 'download' && focused.name === 'path') {
			if (!interactionMayRun(interaction, Action.Download)) return this.some<ArchiveChoice[]>([]);
			return this.some(this.#pathChoices(interaction.options.getString('id') ?? '', focused.value));
		}
		const target = subcommand === null ? undefined : archiveScopes[subcommand];
		if (target === undefined || (focused.name !== 'id' && focused.name !== 'through')) return this.none();
		if (!interactionMayRun(interaction, target.action)) return this.some<ArchiveChoice[]>([]);
		const suggestions = this.container.archive.suggest(focused.value, {
			statuses: archiveOptionStatuses[target.scope],
			limit: AUTOCOMPLETE_MAX_CHOICES
		});
		return this.some(suggestions.map(archiveChoice));
	}

	/** Paths inside the archive the `id` option names (an id, or a label or file name that fits one archive). */
	#pathChoices(reference: string, typed: string): ArchiveChoice[] {
		const { archives, entries } = this.container.archive.context.index;
		let archive;
		try {
			archive = reference.trim() === '' ? undefined : (archives.find(reference) ?? archives.resolveName(reference));
		} catch {
			return []; // several archives fit what is typed in `id`: nothing to offer until it names one
		}
		if (archive === undefined) return [];
		return entries
			.suggestPaths(archive.lot, typed, AUTOCOMPLETE_MAX_CHOICES)
			.map((entry) => pathChoice(entry))
			.filter((choice): choice is ArchiveChoice => choice !== undefined);
	}

	public async run(interaction: AutocompleteInteraction, choices: ArchiveChoice[]): Promise<void> {
		await interaction.respond(choices.slice(0, AUTOCOMPLETE_MAX_CHOICES));
	}
}
