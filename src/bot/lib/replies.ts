import { setTimeout as sleep } from 'node:timers/promises';
import { container } from '@sapphire/framework';
import {
	DiscordAPIError,
	HTTPError,
	type Interaction,
	type InteractionEditReplyOptions,
	type InteractionReplyOptions,
	type InteractionUpdateOptions,
	type ButtonInteraction,
	MessageFlags,
	type RepliableInteraction
} from 'discord.js';
import { isNetworkError } from '../../discord/index.js';
import { describeBotFailure } from './failure.js';

/**
 * Answers to interactions that survive a flaky network. An interaction callback, a webhook edit or a follow-up whose
 * answer is lost (the connection dropped after Discord took it, a timeout, a 5xx once the REST client gave up) may
 * well have been done: a lost answer is "maybe done", never a failure that ends the person's job.
 *
 * - a callback (defer, reply, update) is sent again; Discord's 40060 "already acknowledged" to a repeat means the
 *   earlier one landed, and the interaction's state is set as if it had answered (discord.js only sets it on success);
 * - an edit of the answer is idempotent and is sent again; one that still fails falls back to a follow-up;
 * - a follow-up is posted once: a lost answer means it probably landed, and a second would show twice.
 */

/** Discord's codes met here. */
const Code = { UnknownInteraction: 10062, AlreadyAcknowledged: 40060, InvalidWebhookToken: 50027 } as const;

/** How often a request whose answer was lost is sent (an interaction's first answer must land within 3 s). */
const LOST_ANSWER_TRIES = 4;
const LOST_ANSWER_PAUSE_MS = 100;

/** Whether Discord may have done what was asked although no answer came: a dropped connection, a timeout, a 5xx. */
export function isLostAnswer(error: unknown): boolean {
	if (error instanceof HTTPError || error instanceof DiscordAPIError) return error.status >= 500;
	return isNetworkError(error);
}

function discordCode(error: unknown): number | string | undefined {
	return error instanceof DiscordAPIError ? error.code : undefined;
}

/** What a callback came to: sent by this call, or found already acknowledged (by an earlier try whose answer was lost). */
type Acknowledged = 'sent' | 'repeated' | 'taken';

/**
 * Sends an interaction callback, again while its answer is lost. `sent`: it landed; `repeated`: a repeat met 40060, so an
 * earlier try landed, or every try lost its answer (assumed landed: the next edit tells); `taken`: the very first try met
 * 40060, the interaction was acknowledged before and this callback's content was not shown.
 */
async function acknowledge(
	interaction: { readonly user: { readonly id: string } },
	what: string,
	send: () => Promise<unknown>
): Promise<Acknowledged> {
	for (let attempt = 1; ; attempt++) {
		try {
			await send();
			return 'sent';
		} catch (error) {
			if (discordCode(error) === Code.AlreadyAcknowledged) return attempt === 1 ? 'taken' : 'repeated';
			if (!isLostAnswer(error)) throw error;
			if (attempt >= LOST_ANSWER_TRIES) {
				container.logger.warn(`${what} for ${interaction.user.id}: no answer after ${attempt} tries; going on as if it landed.`);
				return 'repeated';
			}
			container.logger.debug(`${what} for ${interaction.user.id}: the answer was lost (${errorText(error)}); sending it again.`);
			await sleep(LOST_ANSWER_PAUSE_MS * attempt);
		}
	}
}

/** Defers ephemerally unless already answered. A lost answer is sent again; the interaction ends up deferred. */
export async function deferEphemeral(interaction: RepliableInteraction): Promise<void> {
	if (interaction.deferred || interaction.replied) return;
	const outcome = await acknowledge(interaction, 'defer', () => interaction.deferReply({ flags: MessageFlags.Ephemeral }));
	if (outcome !== 'sent') markDeferred(interaction);
}

/**
 * Replies (a first answer, ephemeral or not as `options.flags` say). If the interaction turns out to be acknowledged
 * already (a deferral whose answer was lost), the answer is written by an edit instead.
 */
export async function replyFirst(interaction: RepliableInteraction, options: InteractionReplyOptions): Promise<void> {
	const ephemeral = (Number(options.flags ?? 0) & MessageFlags.Ephemeral) !== 0;
	const outcome = await acknowledge(interaction, 'reply', () => interaction.reply(options));
	if (outcome === 'sent') return;
	if (outcome === 'repeated') {
		interaction.replied = true;
		interaction.ephemeral = ephemeral;
		return;
	}
	markDeferred(interaction);
	const { flags: _flags, ...edit } = options;
	await editAnswer(interaction, edit);
}

/** Updates the message a button is on (a first answer). A lost answer is sent again. */
export async function updateMessage(interaction: ButtonInteraction, options: InteractionUpdateOptions): Promise<void> {
	const outcome = await acknowledge(interaction, 'update', () => interaction.update(options));
	if (outcome === 'sent') return;
	interaction.replied = true;
	if (outcome === 'taken') await editAnswer(interaction, options);
}

/**
 * Edits the answer (the deferral, the reply, the message a button updated), again while the answer is lost; if it
 * still fails — unless the token expired — the content goes out as an ephemeral follow-up.
 */
export async function editAnswer(interaction: RepliableInteraction, options: InteractionEditReplyOptions): Promise<void> {
	for (let attempt = 1; ; attempt++) {
		try {
			await interaction.editReply(options);
			return;
		} catch (error) {
			if (isLostAnswer(error) && attempt < LOST_ANSWER_TRIES) {
				container.logger.debug(`edit of the answer to ${interaction.user.id}: the answer was lost (${errorText(error)}); sending it again.`);
				await sleep(LOST_ANSWER_PAUSE_MS * attempt);
				continue;
			}
			if (discordCode(error) === Code.InvalidWebhookToken || discordCode(error) === Code.UnknownInteraction) throw error;
			container.logger.debug(`edit of the answer to ${interaction.user.id} failed (${errorText(error)}); following up instead.`);
			await followUpOnce(interaction, options);
			return;
		}
	}
}

/** An ephemeral follow-up, posted once: a lost answer means it probably landed (a webhook post carries no nonce). */
export async function followUpOnce(interaction: RepliableInteraction, options: InteractionEditReplyOptions): Promise<void> {
	const { content, embeds, components } = options;
	try {
		await interaction.followUp({
			...(content === undefined || content === null ? {} : { content }),
			...(embeds === undefined ? {} : { embeds }),
			...(components === undefined ? {} : { components }),
			flags: MessageFlags.Ephemeral
		});
	} catch (error) {
		if (!isLostAnswer(error)) throw error;
		container.logger.debug(`follow-up to ${interaction.user.id}: the answer was lost (${errorText(error)}); it probably landed.`);
	}
}

function markDeferred(interaction: RepliableInteraction): void {
	interaction.deferred = true;
	interaction.ephemeral = true;
}

function errorText(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}

/**
 * Answers the person who asked, ephemerally, whatever state the interaction is in: an ephemeral deferral is
 * edited, as is an ephemeral message a button already updated; a deferred update of a public message or an earlier
 * reply gets an ephemeral follow-up; a fresh interaction a reply. Lost answers are handled as above.
 */
export async function replyEphemeral(interaction: RepliableInteraction, content: string): Promise<void> {
	if (interaction.deferred && interaction.ephemeral === true) {
		await editAnswer(interaction, { content, embeds: [], components: [] });
	} else if (
		interaction.isMessageComponent() &&
		interaction.replied &&
		!interaction.deferred &&
		interaction.message.flags.has(MessageFlags.Ephemeral)
	) {
		// A button on an ephemeral message (the cleanup question, a list page) that updated it: the answer replaces it.
		await editAnswer(interaction, { content, embeds: [], components: [] });
	} else if (interaction.deferred || interaction.replied) {
		await followUpOnce(interaction, { content });
	} else {
		await replyFirst(interaction, { content, flags: MessageFlags.Ephemeral });
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
