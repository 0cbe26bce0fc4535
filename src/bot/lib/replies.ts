import { container } from '@sapphire/framework';
import { type Interaction, MessageFlags, type RepliableInteraction } from 'discord.js';
import { describeBotFailure } from './failure.js';

/**
 * Answers the person who asked, ephemerally, whatever state the interaction is in: an ephemeral deferral is
 * edited, as is an ephemeral message a button already updated; a deferred update of a public message or an earlier
 * reply gets an ephemeral follow-up; a fresh interaction a reply.
 */
export async function replyEphemeral(interaction: RepliableInteraction, content: string): Promise<void> {
	if (interaction.deferred && interaction.ephemeral === true) {
		await interaction.editReply({ content, embeds: [], components: [] });
	} else if (
		interaction.isMessageComponent() &&
		interaction.replied &&
		!interaction.deferred &&
		interaction.message.flags.has(MessageFlags.Ephemeral)
	) {
		// A button on an ephemeral message (the cleanup question, a list page) that updated it: the answer replaces it.
		await interaction.editReply({ content, embeds: [], components: [] });
	} else if (interaction.deferred || interaction.replied) {
		await interaction.followUp({ content, flags: MessageFlags.Ephemeral });
	} else {
		await interaction.reply({ content, flags: MessageFlags.Ephemeral });
	}
}

/**
 * The one error handler of the bot, used by every error listener (commands, subcommands, interaction handlers):
 * flattens the error to a code and one sentence, logs the detail (redacted by the logger), and answers the
 * person ephemerally. An autocomplete gets an empty list. Failing to answer (the token expired) is logged, never thrown.
 */
export async function answerFailure(error: unknown, interaction: Interaction, where: string): Promise<void> {
	const failure = describeBotFailure(error);
	const who = `${where} by ${interaction.user.id}`;
	if (failure.expected) container.logger.info(`${who}: ${failure.code}`);
	else container.logger.error(`${who} failed (${failure.code}${failure.reference === undefined ? '' : `, ref ${failure.reference}`}):`, error);
	try {
		if (interaction.isAutocomplete()) {
			if (!interaction.responded) await interaction.respond([]);
		} else if (interaction.isRepliable()) {
			await replyEphemeral(interaction, failure.message);
		}
	} catch (replyError) {
		container.logger.warn(`${who}: could not send the error reply:`, replyError instanceof Error ? replyError.message : replyError);
	}
}
