import { container } from '@sapphire/framework';
import { type ButtonInteraction, type ChatInputCommandInteraction, MessageFlags } from 'discord.js';
import { formatBytes } from '../../archive/card.js';
import type { JobHandle } from '../../archive/runner.js';
import type { Archive } from '../../db/index.js';
import { ArchiveAction } from './access.js';
import { assertMayRun } from './asker.js';
import { cardLink } from './card-link.js';
import { describeBotFailure } from './failure.js';
import { replyEphemeral } from './replies.js';

/**
 * What `/archive` and the card buttons do, shared so a button and its subcommand behave the same: check access,
 * defer ephemerally inside Discord's 3 s, start the job through the archive service, answer the person who asked
 * with a link to the card, and — while the interaction token lives (15 min) — edit that answer with the outcome.
 * The lasting record is the card, which the job itself keeps up to date.
 */
export type AskingInteraction = ChatInputCommandInteraction | ButtonInteraction;

/** Defers ephemerally unless already answered: every job start may be slow (walking a folder, opening the index). */
export async function deferEphemeral(interaction: AskingInteraction): Promise<void> {
	if (!interaction.deferred && !interaction.replied) await interaction.deferReply({ flags: MessageFlags.Ephemeral });
}

/** `/archive upload source: [label:]`. */
export async function startUpload(interaction: AskingInteraction, folder: string, label: string | null): Promise<void> {
	assertMayRun(interaction, ArchiveAction.Upload);
	await deferEphemeral(interaction);
	const handle = await container.archive.upload({ folder, label, requestedBy: interaction.user.id });
	const archive = await archiveWithCard(handle.lot);
	await replyEphemeral(
		interaction,
		`⬆️ Uploading \`${folder}\` as **${archive.id}** (${plural(archive.fileCount, 'file')}, ${formatBytes(archive.originalBytes)}). Progress is on the card: ${link(interaction, archive)}`
	);
	followJob(
		interaction,
		handle,
		(result) =>
			`✅ **${result.archiveId}** is uploaded: ${plural(result.chunks, 'chunk')}, ${formatBytes(result.originalBytes)} stored as ${formatBytes(result.storedBytes)}. Card: ${link(interaction, archive)}`
	);
}

/** `/archive resume id:` and the Resume button. Two quick clicks start one job: the second is told the archive is busy. */
export async function startResume(interaction: AskingInteraction, reference: string): Promise<void> {
	assertMayRun(interaction, ArchiveAction.Resume);
	await deferEphemeral(interaction);
	const handle = container.archive.resume({ archive: reference, requestedBy: interaction.user.id });
	const archive = await archiveWithCard(handle.lot);
	await replyEphemeral(interaction, `▶️ Resuming **${archive.id}**. Progress is on the card: ${link(interaction, archive)}`);
	followJob(
		interaction,
		handle,
		(result) =>
			`✅ **${result.archiveId}** is complete (${plural(result.chunksPosted, 'chunk')} posted by this resume). Card: ${link(interaction, archive)}`
	);
}

/** The Cancel button: stops this process's job on the archive; the card then reads Cancelled with a Resume button. */
export async function cancelJob(interaction: AskingInteraction, reference: string): Promise<void> {
	assertMayRun(interaction, ArchiveAction.Cancel);
	await deferEphemeral(interaction);
	const archive = container.archive.archive(reference);
	const cancelled = container.archive.cancel(String(archive.lot));
	await replyEphemeral(
		interaction,
		cancelled
			? `⏹️ Cancelling the job on **${archive.id}**. The card will say when it has stopped; Resume picks it up later.`
			: `Nothing is running on **${archive.id}**, so there is nothing to cancel.`
	);
}

/**
 * Edits the ephemeral answer with the job's outcome when it ends, as long as the interaction token lives. Never
 * throws: an expired token (a job longer than 15 minutes) only means the card alone tells the end.
 */
export function followJob<R>(interaction: AskingInteraction, handle: JobHandle<R>, success: (result: R) => string): void {
	handle.result.then(
		(result) => answerLater(interaction, success(result)),
		(error: unknown) => {
			const failure = describeBotFailure(error);
			return answerLater(interaction, `❌ The ${handle.kind} job stopped: ${failure.message}`);
		}
	);
}

async function answerLater(interaction: AskingInteraction, content: string): Promise<void> {
	try {
		await replyEphemeral(interaction, content);
	} catch (error) {
		container.logger.debug(
			`Could not update the answer to ${interaction.user.id} (the token may have expired):`,
			error instanceof Error ? error.message : error
		);
	}
}

/**
 * The archive of a job just started, waiting briefly for its card to be posted so the answer can link to it (an
 * upload posts its card right after planning; a queued one later — then the answer names the channel).
 */
async function archiveWithCard(lot: number | null): Promise<Archive> {
	if (lot === null) throw new RangeError('An archive job without an archive.');
	const deadline = Date.now() + 4_000;
	let archive = container.archive.archive(String(lot));
	while (archive.cardMessageId === null && Date.now() < deadline) {
		await new Promise((resolve) => setTimeout(resolve, 100));
		archive = container.archive.archive(String(lot));
	}
	return archive;
}

export function link(interaction: AskingInteraction, archive: Archive): string {
	return cardLink(interaction.guildId, archive, container.dos.config.discord.archiveChannelId ?? interaction.channelId ?? '');
}

export function plural(count: number, word: string): string {
	return `${count.toLocaleString('en')} ${word}${count === 1 ? '' : 's'}`;
}
