import { Subcommand } from '@sapphire/plugin-subcommands';
import { type ChatInputCommandInteraction, InteractionContextType, MessageFlags, PermissionFlagsBits } from 'discord.js';
import { MAX_LABEL_LENGTH } from '../../archive/card-record.js';
import { type ArchiveAction, ArchiveAction as Action } from '../lib/access.js';
import {
	askCleanup,
	deferEphemeral,
	startDownload,
	startMigrate,
	startRebuild,
	startRepositoryCheck,
	startResume,
	startUpload,
	startVerify
} from '../lib/archive-actions.js';
import { findPage, listPage } from '../lib/archive-pages.js';
import { askerOf } from '../lib/asker.js';
import { BotError, BotErrorCode } from '../lib/errors.js';
import { helpEmbed } from '../lib/help.js';
import { editAnswer, replyFirst } from '../lib/replies.js';
import { statusEmbed } from '../lib/status-embed.js';

/** The precondition entry that guards one subcommand (see lib/access.ts for who may do what). */
const guard = (action: ArchiveAction) => [{ name: 'ArchiveAccess' as const, context: { action } }];

/**
 * `/archive`: upload, download, resume, verify, cleanup, status, list, find, rebuild, migrate, help. Thin: each subcommand checks
 * access (precondition), defers where it may be slow, and hands the work to the archive service.
 */
export class ArchiveCommand extends Subcommand {
	public constructor(context: Subcommand.LoaderContext, options: Subcommand.Options) {
		super(context, {
			...options,
			name: 'archive',
			description: 'Durable, encrypted folder archives in this channel',
			subcommands: [
				{ name: 'upload', chatInputRun: 'chatInputUpload', preconditions: guard(Action.Upload) },
				{ name: 'download', chatInputRun: 'chatInputDownload', preconditions: guard(Action.Download) },
				{ name: 'resume', chatInputRun: 'chatInputResume', preconditions: guard(Action.Resume) },
				{ name: 'verify', chatInputRun: 'chatInputVerify', preconditions: guard(Action.Verify) },
				{ name: 'cleanup', chatInputRun: 'chatInputCleanup', preconditions: guard(Action.Cleanup) },
				{ name: 'status', chatInputRun: 'chatInputStatus', preconditions: guard(Action.Status) },
				{ name: 'list', chatInputRun: 'chatInputList', preconditions: guard(Action.List) },
				{ name: 'find', chatInputRun: 'chatInputFind', preconditions: guard(Action.Find) },
				{ name: 'rebuild', chatInputRun: 'chatInputRebuild', preconditions: guard(Action.Rebuild) },
				{ name: 'migrate', chatInputRun: 'chatInputMigrate', preconditions: guard(Action.Migrate) },
				{ name: 'help', chatInputRun: 'chatInputHelp', preconditions: guard(Action.Help) }
			]
		});
	}

	public override registerApplicationCommands(registry: Subcommand.Registry): void {
		registry.registerChatInputCommand((builder) =>
			builder
				.setName(this.name)
				.setDescription(this.description)
				// Hidden from members without Manage Server until an admin grants it (Server Settings → Integrations);
				// the bot checks OWNER_IDS and ALLOWED_ROLE_IDS again at run time.
				.setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
				.setContexts(InteractionContextType.Guild)
				.addSubcommand((sub) =>
					sub
						.setName('upload')
						.setDescription('Archive a folder from the upload root')
						.addStringOption((option) =>
							option
								.setName('source')
								.setDescription('Folder under the upload root')
								.setRequired(true)
								.setAutocomplete(true)
								.setMaxLength(1_000)
						)
						.addStringOption((option) => option.setName('label').setDescription('A name to find it by').setMaxLength(MAX_LABEL_LENGTH))
				)
				.addSubcommand((sub) =>
					sub
						.setName('download')
						.setDescription('Bring an archive back into the download root')
						.addStringOption((option) => archiveOption(option, 'The archive (id, label or a file name in it)'))
						.addStringOption((option) =>
							option
								.setName('through')
								.setDescription('Download every archive from id through this one')
								.setAutocomplete(true)
								.setMaxLength(100)
						)
						.addStringOption((option) =>
							option
								.setName('path')
								.setDescription('Only this file or folder inside the archive')
								.setAutocomplete(true)
								.setMaxLength(1_000)
						)
				)
				.addSubcommand((sub) =>
					sub
						.setName('resume')
						.setDescription('Finish an interrupted or failed upload')
						.addStringOption((option) => archiveOption(option, 'The archive to resume'))
				)
				.addSubcommand((sub) =>
					sub
						.setName('verify')
						.setDescription('Check that an archive, or the whole repository, is whole on Discord')
						.addStringOption((option) => archiveOption(option, 'The archive to verify (not with level repository)').setRequired(false))
						.addStringOption((option) =>
							option
								.setName('level')
								.setDescription('quick (the default without sample): chunks present; full: every byte; repository: every pack once')
								.addChoices(
									{ name: 'quick', value: 'quick' },
									{ name: 'full', value: 'full' },
									{ name: 'repository', value: 'repository' }
								)
						)
						.addIntegerOption((option) =>
							option
								.setName('sample')
								.setDescription('Full check of this percentage of the chunks (a sample is always full: not with level quick)')
								.setMinValue(1)
								.setMaxValue(100)
						)
				)
				.addSubcommand((sub) =>
					sub
						.setName('cleanup')
						.setDescription('Delete an archive from Discord (asks to confirm)')
						.addStringOption((option) => archiveOption(option, 'The archive to delete'))
				)
				.addSubcommand((sub) => sub.setName('status').setDescription('Bot state, roots, free space and running jobs'))
				.addSubcommand((sub) =>
					sub
						.setName('list')
						.setDescription('Recent archives')
						.addStringOption((option) => option.setName('query').setDescription('Id, lot, label or folder').setMaxLength(100))
				)
				.addSubcommand((sub) =>
					sub
						.setName('find')
						.setDescription('Search file names across archives')
						.addStringOption((option) => option.setName('name').setDescription('Part of a file name').setRequired(true).setMaxLength(200))
				)
				.addSubcommand((sub) =>
					sub
						.setName('rebuild')
						.setDescription('Rebuild the index from the archive channel')
						.addBooleanOption((option) => option.setName('dry_run').setDescription('Only report what would be rebuilt'))
				)
				.addSubcommand((sub) =>
					sub
						.setName('migrate')
						.setDescription('Post a card for each archive imported from the original tool’s history log')
						.addBooleanOption((option) => option.setName('dry_run').setDescription('Only list what would get a card'))
				)
				.addSubcommand((sub) => sub.setName('help').setDescription('Every command and button, who may use each, and the settings'))
		);
	}

	public async chatInputUpload(interaction: ChatInputCommandInteraction): Promise<void> {
		await startUpload(interaction, interaction.options.getString('source', true), interaction.options.getString('label'));
	}

	public async chatInputDownload(interaction: ChatInputCommandInteraction): Promise<void> {
		const { options } = interaction;
		await startDownload(interaction, options.getString('id', true), options.getString('through'), options.getString('path'));
	}

	public async chatInputVerify(interaction: ChatInputCommandInteraction): Promise<void> {
		const { options } = interaction;
		const level = options.getString('level');
		const id = options.getString('id');
		if (level === 'repository') {
			if (id !== null) throw new BotError(BotErrorCode.InvalidOption, 'level:repository checks every archive of the channel: leave id out.');
			await startRepositoryCheck(interaction, options.getInteger('sample'));
			return;
		}
		if (id === null)
			throw new BotError(BotErrorCode.InvalidOption, 'Name the archive to verify (id), or choose level:repository for the whole repository.');
		await startVerify(interaction, id, level === 'quick' || level === 'full' ? level : null, options.getInteger('sample'));
	}

	public async chatInputCleanup(interaction: ChatInputCommandInteraction): Promise<void> {
		await askCleanup(interaction, interaction.options.getString('id', true));
	}

	public async chatInputRebuild(interaction: ChatInputCommandInteraction): Promise<void> {
		await startRebuild(interaction, interaction.options.getBoolean('dry_run') ?? false);
	}

	public async chatInputMigrate(interaction: ChatInputCommandInteraction): Promise<void> {
		await startMigrate(interaction, interaction.options.getBoolean('dry_run') ?? false);
	}

	public async chatInputResume(interaction: ChatInputCommandInteraction): Promise<void> {
		await startResume(interaction, interaction.options.getString('id', true));
	}

	public async chatInputStatus(interaction: ChatInputCommandInteraction): Promise<void> {
		await deferEphemeral(interaction);
		await editAnswer(interaction, { embeds: [statusEmbed(await this.container.archive.status())] });
	}

	public async chatInputList(interaction: ChatInputCommandInteraction): Promise<void> {
		await replyFirst(interaction, { ...listPage(interaction.options.getString('query') ?? '', null), flags: MessageFlags.Ephemeral });
	}

	public async chatInputHelp(interaction: ChatInputCommandInteraction): Promise<void> {
		const { config, access } = this.container.dos;
		const settings = {
			chunkSize: config.engine.chunkSize,
			gzipLevel: config.engine.gzipLevel,
			encryption: config.userKey !== undefined,
			uploadRoot: config.paths.uploadRoot,
			downloadRoot: config.paths.downloadRoot,
			cleanupConfirmSeconds: config.interactions.cleanupConfirmSeconds
		};
		await replyFirst(interaction, { embeds: [helpEmbed(access, askerOf(interaction), settings)], flags: MessageFlags.Ephemeral });
	}

	public async chatInputFind(interaction: ChatInputCommandInteraction): Promise<void> {
		await replyFirst(interaction, { ...findPage(interaction.options.getString('name', true)), flags: MessageFlags.Ephemeral });
	}
}

function archiveOption<
	T extends {
		setName(name: string): T;
		setDescription(text: string): T;
		setRequired(required: boolean): T;
		setAutocomplete(on: boolean): T;
		setMaxLength(max: number): T;
	}
>(option: T, description: string): T {
	return option.setName('id').setDescription(description).setRequired(true).setAutocomplete(true).setMaxLength(100);
}
