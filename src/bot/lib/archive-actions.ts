import path from 'node:path';
import { container } from '@sapphire/framework';
import {
	type APIActionRowComponent,
	type APIButtonComponent,
	type ButtonInteraction,
	ButtonStyle,
	type ChatInputCommandInteraction,
	ComponentType,
	MessageFlags
} from 'discord.js';
import { formatBytes } from '../../archive/card.js';
import { describeRepositoryCleanup } from '../../archive/cleanup-repository.js';
import type { DownloadResult } from '../../archive/download.js';
import { describeSkippedLots, resolveArchiveRange, type SkippedInRange } from '../../archive/lot-range.js';
import type { JobHandle } from '../../archive/runner.js';
import { ArchiveErrorCode, isArchiveError } from '../../archive/errors.js';
import type { RepositoryCheckResult } from '../../archive/check-repository.js';
import type { VerifyResult } from '../../archive/verify.js';
import { type Archive, ArchiveFormat, ArchiveStatus, type VerificationLevel } from '../../db/index.js';
import { cardLink } from './card-link.js';
import { cleanupConfirmationId } from './custom-ids.js';
import { BotError, BotErrorCode } from './errors.js';
import { describeBotFailure } from './failure.js';
import { deferEphemeral as deferAnswer, followUpOnce, replyEphemeral, replyFirst, updateMessage } from './replies.js';

/**
 * What `/archive` and the card buttons do, shared so a button and its subcommand behave the same: defer ephemerally inside Discord's 3 s, start the job through the archive service, answer the person who asked
 * with a link to the card, and — while the interaction token lives (15 min) — edit that answer with the outcome.
 * The lasting record is the card, which the job itself keeps up to date.
 *
 * Access is checked once per interaction, at the bot's one gate, before anything here runs: the `ArchiveAccess`
 * precondition for a subcommand, the first line of the button handler (card buttons, the cleanup confirmation) for
 * a click. These functions trust their caller and check nothing again. The gate is the bot's and not the archive
 * service's because who may act is a Discord notion (owners, roles); the CLI is run by whoever holds the host and its
 * token, and has no such rule to check.
 */
export type AskingInteraction = ChatInputCommandInteraction | ButtonInteraction;

/**
 * Defers ephemerally unless already answered: every job start may be slow (walking a folder, opening the index). A
 * deferral whose answer was lost is taken as done (see replies.ts): the job still starts.
 */
export async function deferEphemeral(interaction: AskingInteraction): Promise<void> {
	await deferAnswer(interaction);
}

/** `/archive upload source: [label:]`. */
export async function startUpload(interaction: AskingInteraction, folder: string, label: string | null): Promise<void> {
	await deferEphemeral(interaction);
	const handle = await container.archive.upload({ folder, label, requestedBy: interaction.user.id });
	const archive = await archiveWithCard(handle.lot);
	// A format 2 upload walks its folder when the job runs: its counts are not known yet.
	const what =
		archive.format === ArchiveFormat.Dos2
			? `\`${folder}\` as **${archive.id}** (format 2: only what the channel does not hold yet is posted)`
			: `\`${folder}\` as **${archive.id}** (${plural(archive.fileCount, 'file')}, ${formatBytes(archive.originalBytes)})`;
	await replyEphemeral(
		interaction,
		isQueued(handle.jobId)
			? `⏳ Queued ${what}: it starts when one of the uploads running now ends. The card will show its progress: ${link(interaction, archive)}`
			: `⬆️ Uploading ${what}. Progress is on the card: ${link(interaction, archive)}`
	);
	followJob(interaction, handle, (result) =>
		result.format === 2
			? `✅ **${result.archiveId}** is uploaded: ${formatBytes(result.originalBytes)}, ${formatBytes(result.newBytes ?? 0)} new and ${formatBytes(result.reusedBytes ?? 0)} already stored, ${plural(result.packsPosted ?? 0, 'pack')} posted. Card: ${link(interaction, archive)}`
			: `✅ **${result.archiveId}** is uploaded: ${plural(result.chunks, 'chunk')}, ${formatBytes(result.originalBytes)} stored as ${formatBytes(result.storedBytes)}. Card: ${link(interaction, archive)}`
	);
}

/** `/archive resume id:` and the Resume button. Two quick clicks start one job: the second is told the archive is busy. */
export async function startResume(interaction: AskingInteraction, reference: string): Promise<void> {
	await deferEphemeral(interaction);
	const handle = container.archive.resume({ archive: reference, requestedBy: interaction.user.id });
	const archive = await archiveWithCard(handle.lot);
	await replyEphemeral(interaction, `▶️ Resuming **${archive.id}**. Progress is on the card: ${link(interaction, archive)}`);
	followJob(
		interaction,
		handle,
		(result) =>
			`✅ **${result.archiveId}** is complete (${result.format === 2 ? plural(result.packsPosted ?? 0, 'pack') : plural(result.chunksPosted, 'chunk')} posted by this resume). Card: ${link(interaction, archive)}`
	);
}

/**
 * The Cancel button: stops the job on the archive — an upload, resume, download or verify. One of this process stops
 * at once; one another process holds (a `dos` command) is asked through the job table and stops at its next
 * heartbeat. The card then says how it ended.
 */
export async function cancelJob(interaction: AskingInteraction, reference: string): Promise<void> {
	await deferEphemeral(interaction);
	const archive = container.archive.archive(reference);
	let outcome;
	try {
		outcome = container.archive.cancelJob({ archive: String(archive.lot) });
	} catch (error) {
		if (!isArchiveError(error, ArchiveErrorCode.NoSuchJob)) throw error;
		await replyEphemeral(interaction, `Nothing is running on **${archive.id}**, so there is nothing to cancel.`);
		return;
	}
	await replyEphemeral(
		interaction,
		outcome.here
			? `⏹️ Cancelling the job on **${archive.id}** (the ${outcome.kind}, job ${outcome.jobId}). The card will say when it has stopped${outcome.kind === 'upload' || outcome.kind === 'resume' ? '; Resume picks it up later' : ''}.`
			: `⏹️ Asked the process running the ${outcome.kind} job on **${archive.id}** (job ${outcome.jobId}, not this bot) to stop: it stops within a few seconds. The card will say when it has stopped.`
	);
}

/**
 * `/archive download id: [through:] [path:]` and the Download button: the archive (or every complete archive from
 * `id` through `through`, one after the other) into the download root, restored into a new folder. A range names
 * every lot it skips and why (cleaned up, unfinished, not in the index); one that holds nothing to download is
 * refused before anything is written.
 */
export async function startDownload(
	interaction: AskingInteraction,
	reference: string,
	through: string | null,
	selected: string | null
): Promise<void> {
	await deferEphemeral(interaction);
	const service = container.archive;
	const paths = selected === null ? undefined : [selected];
	const only = selected === null ? '' : ` (only \`${selected}\`)`;
	if (through === null) {
		const archive = service.archive(reference);
		const handle = service.download({ archive: String(archive.lot), ...(paths ? { paths } : {}), requestedBy: interaction.user.id });
		await replyEphemeral(
			interaction,
			`⬇️ Downloading **${archive.id}**${only} into the download root. Progress (and Cancel) are on the card: ${link(interaction, archive)}; I will update this message when it is restored.`
		);
		followJob(interaction, handle, (result) => downloadLine(result));
		return;
	}
	const range = resolveArchiveRange(service.context, reference, through);
	const [first, ...rest] = range.archives;
	// The first job starts before the answer, so a busy archive is refused with nothing started.
	const handle = service.download({ archive: String(first.lot), ...(paths ? { paths } : {}), requestedBy: interaction.user.id });
	const span = `**${range.first.id}** through **${range.last.id}**`;
	await replyEphemeral(
		interaction,
		`⬇️ Downloading ${plural(range.archives.length, 'archive')} from ${span}${only} into the download root, one after the other: ${range.archives
			.map((archive) => archive.id)
			.join(', ')
			.slice(
				0,
				600
			)}.${range.skipped.length > 0 ? ` Not downloaded: ${describeSkippedLots(range.skipped, '**')}.` : ''} I will update this message as each is restored.`.slice(
			0,
			1_900
		)
	);
	void downloadInTurn(interaction, span, handle, [first, ...rest], range.skipped, paths);
}

/**
 * Waits for the first download of a range, then starts and waits for each next one; the answer is edited after
 * each with a summary line, the skipped lots and one line per archive. A failure (or a busy archive) is one line and
 * the range goes on.
 */
async function downloadInTurn(
	interaction: AskingInteraction,
	span: string,
	first: JobHandle<DownloadResult>,
	archives: readonly Archive[],
	skipped: readonly SkippedInRange[],
	paths: string[] | undefined
): Promise<void> {
	const lines: string[] = [];
	let restored = 0;
	for (const [position, archive] of archives.entries()) {
		try {
			const handle =
				position === 0
					? first
					: container.archive.download({ archive: String(archive.lot), ...(paths ? { paths } : {}), requestedBy: interaction.user.id });
			lines.push(downloadLine(await handle.result));
			restored++;
		} catch (error) {
			const { message } = describeJobFailure(interaction, 'download', error);
			const line = `❌ ${message.includes(archive.id) ? '' : `**${archive.id}**: `}${message}`;
			lines.push(line.length > RANGE_LINE_MAX ? `${line.slice(0, RANGE_LINE_MAX - 1)}…` : line);
		}
		const done = position + 1;
		const failed = done - restored;
		const summary =
			done < archives.length
				? `⬇️ ${span}: ${done} of ${archives.length} done, the next is downloading…`
				: `${failed === 0 ? '✅' : '⚠️'} ${span}: ${restored} of ${plural(archives.length, 'archive')} restored${failed > 0 ? `, ${failed} failed` : ''}${skipped.length > 0 ? `, ${skipped.length} not downloaded` : ''}.`;
		await answerLater(interaction, rangeAnswer(summary, skipped, lines));
	}
}

/** A failed archive's line in a range answer is cut here, so one long failure cannot crowd out the others. */
const RANGE_LINE_MAX = 400;

/** The answer to a range: the summary, the lots not downloaded, then as many result lines as fit in one message. */
function rangeAnswer(summary: string, skipped: readonly SkippedInRange[], lines: readonly string[]): string {
	const head = [summary, ...(skipped.length > 0 ? [`⏭️ Not downloaded: ${describeSkippedLots(skipped, '**')}.`] : [])];
	const budget = 1_900 - head.join('\n').length;
	const shown: string[] = [];
	let used = 0;
	for (const [index, line] of lines.entries()) {
		const more = `…and ${lines.length - index} more.`;
		if (used + line.length + 1 > budget - (index < lines.length - 1 ? more.length + 1 : 0)) {
			shown.push(more);
			break;
		}
		shown.push(line);
		used += line.length + 1;
	}
	return [...head, ...shown].join('\n');
}

/** The skipped lots of a range in words: `#B was cleaned up (…); lot 5 is not in the index (…)`, the first ten. */
function downloadLine(result: DownloadResult): string {
	const where = path.relative(container.archive.context.settings.downloadRoot, result.restoredTo) || '.';
	// The bot never asks for a salvage restore, but a result that lost files must never read as a clean restore.
	if (!result.complete) {
		return `⚠️ **${result.archiveId}** partly restored: ${plural(result.files, 'file')} into \`${where}\`, ${plural(result.lost.length, 'file')} lost to damaged chunks (the chunk folder is kept). Run a full verify of this archive.`;
	}
	const restored = `✅ **${result.archiveId}** restored: ${plural(result.files, 'file')}, ${formatBytes(result.bytes)} into \`${where}\` under the download root${result.format === ArchiveFormat.Dos2 ? '' : ` (${plural(result.chunksFetched, 'chunk')} fetched${result.chunksReused > 0 ? `, ${result.chunksReused} reused` : ''})`}.`;
	// An original-tool archive: its file list is not authenticated, and other manifests in its thread are named.
	return [restored, ...(result.notes ?? []).map((note) => `ℹ️ ${note}`)].join('\n');
}

/**
 * `/archive verify level:repository`: the archive channel's format 2 repository as a whole (every stored pack once,
 * every blob, every reference); the answer says what is damaged and which archives it touches.
 */
export async function startRepositoryCheck(interaction: AskingInteraction, sample: number | null): Promise<void> {
	if (sample !== null) throw new BotError(BotErrorCode.InvalidOption, 'level:repository reads every pack of the repository: leave sample out.');
	await deferEphemeral(interaction);
	const handle = container.archive.checkRepository({ requestedBy: interaction.user.id });
	await replyEphemeral(
		interaction,
		'🔍 Checking the whole repository: every stored pack once, every blob in it… I will update this message with the outcome.'
	);
	followJob(interaction, handle, (result: RepositoryCheckResult) => {
		const checked = `${plural(result.packs, 'pack')} (${formatBytes(result.packBytes)}) and ${plural(result.blobs, 'blob')} checked`;
		if (result.ok) return `✅ The repository is whole: ${checked}; every blob a live archive references is held.`;
		const damaged = [
			result.packProblemCount > 0 ? plural(result.packProblemCount, 'damaged pack') : '',
			result.badBlobCount > 0 ? plural(result.badBlobCount, 'bad blob') : '',
			result.unheld.length > 0 ? plural(result.unheld.length, 'blob') + ' held by no pack' : ''
		].filter((part) => part !== '');
		const archives = result.damagedArchives.slice(0, 10).map((id) => `**${id}**`);
		return `⚠️ The repository has problems: ${damaged.join(', ')} (${checked}). ${
			archives.length > 0
				? `Archives touched: ${archives.join(', ')}${result.damagedArchives.length > 10 ? ` and ${result.damagedArchives.length - 10} more` : ''} — verify them with level:full to see which files.`
				: ''
		}${result.packProblems[0] ? ` First: ${result.packProblems[0].message}` : ''}`;
	});
}

/** `/archive verify id: [level:] [sample:]` and the Verify button (a quick check). */
export async function startVerify(
	interaction: AskingInteraction,
	reference: string,
	level: VerificationLevel | null,
	sample: number | null
): Promise<void> {
	if (level === 'quick' && sample !== null)
		throw new BotError(
			BotErrorCode.InvalidOption,
			'A sample is a full check of that share of the chunks, so it does not go with level:quick: leave level out (sample implies full) or leave sample out.'
		);
	const chosen: VerificationLevel = level ?? (sample === null ? 'quick' : 'full');
	await deferEphemeral(interaction);
	const handle = container.archive.verify({
		archive: reference,
		level: chosen,
		...(sample === null ? {} : { samplePercent: sample }),
		requestedBy: interaction.user.id
	});
	const archive = container.archive.archive(reference);
	await replyEphemeral(
		interaction,
		`🔍 Verifying **${archive.id}** (${chosen}${sample === null ? '' : `, ${sample} % sample`}). The card shows the outcome: ${link(interaction, archive)}`
	);
	followJob(
		interaction,
		handle,
		(result: VerifyResult) =>
			`${result.ok ? '✅' : '⚠️'} **${result.archiveId}** ${result.ok ? 'is whole' : 'has problems'} (${result.level}): ${result.summary}`
	);
}

/** `/archive cleanup id:` and the Delete button: asks first, with its own ephemeral, expiring buttons. */
export async function askCleanup(interaction: AskingInteraction, reference: string): Promise<void> {
	const archive = container.archive.archive(reference);
	if (archive.status === ArchiveStatus.Deleted) {
		await replyEphemeral(interaction, `**${archive.id}** is already deleted.`);
		return;
	}
	// How long the question lasts is a setting (DOS_CLEANUP_CONFIRM_SECONDS); the expiry travels in the buttons' custom ids.
	const expiresAt = Date.now() + container.dos.config.interactions.cleanupConfirmSeconds * 1_000;
	const buttons: APIButtonComponent[] = [
		{
			type: ComponentType.Button,
			style: ButtonStyle.Danger,
			label: `Delete ${archive.id}`,
			custom_id: cleanupConfirmationId('confirm', archive.uid, expiresAt)
		},
		{
			type: ComponentType.Button,
			style: ButtonStyle.Secondary,
			label: 'Keep it',
			custom_id: cleanupConfirmationId('keep', archive.uid, expiresAt)
		}
	];
	const row: APIActionRowComponent<APIButtonComponent> = { type: ComponentType.ActionRow, components: buttons };
	// Format 2: packs other archives reuse stay (docs/design.md §4.5); the question says what goes and what stays.
	const repository = container.archive.cleanupPreview(String(archive.lot));
	const what =
		repository === null
			? `Its thread and all ${plural(archive.chunkCount, 'chunk')} are deleted`
			: `${describeRepositoryCleanup(repository)} Its manifest goes`;
	const content = `🗑️ Delete **${archive.id}**${archive.label ? ` (${archive.label})` : ''} from Discord? ${what}; the card stays, greyed. Files on disk are not touched. This question expires <t:${Math.ceil(expiresAt / 1000)}:R>.`;
	if (interaction.deferred || interaction.replied) await followUpOnce(interaction, { content, components: [row] });
	else await replyFirst(interaction, { content, components: [row], flags: MessageFlags.Ephemeral });
}

/** The confirmation's Delete button: runs the cleanup, replacing the question with the answer. */
export async function confirmCleanup(interaction: ButtonInteraction, uid: string): Promise<void> {
	const archive = container.archive.archive(uid);
	const handle = container.archive.cleanup({ archive: String(archive.lot), requestedBy: interaction.user.id });
	await updateMessage(interaction, { content: `🗑️ Deleting **${archive.id}**…`, components: [] });
	followJob(interaction, handle, (result) =>
		result.alreadyDeleted
			? `**${result.archiveId}** was already deleted.`
			: `🗑️ **${result.archiveId}** is deleted${result.repository === undefined ? '' : ` (${describeRepositoryCleanup(result.repository)})`}; its card says so: ${link(interaction, archive)}`
	);
}

/** `/archive rebuild [dry_run:]`: the index from the archive channel. */
export async function startRebuild(interaction: AskingInteraction, dryRun: boolean): Promise<void> {
	await deferEphemeral(interaction);
	const handle = container.archive.rebuild({ dryRun });
	await replyEphemeral(
		interaction,
		`🔁 ${dryRun ? 'Scanning (dry run: nothing is written)' : 'Rebuilding the index from'} the archive channel… I will update this message with what was found.`
	);
	followJob(interaction, handle, (result) => {
		const full = result.archives.filter((archive) => archive.depth === 'full').length;
		const head = `${result.dryRun ? '🔎 Dry run: found' : '✅ Rebuilt'} ${plural(result.archives.length, 'archive')} (${full} in full, ${result.archives.length - full} as skeletons) from ${plural(result.messagesScanned, 'message')}${result.repository.packs > 0 ? ` (format 2: ${plural(result.repository.packs, 'pack')}, ${plural(result.repository.blobs, 'blob')})` : ''}`;
		const skipped =
			result.skipped.length === 0
				? '.'
				: `; ${result.skipped.length} skipped: ${result.skipped
						.slice(0, 5)
						.map((skip) => `${skip.archiveId ?? skip.messageId} (${skip.code})`)
						.join(', ')}.`;
		const oddities =
			result.findings.length === 0
				? ''
				: ` ${plural(result.findings.length, 'warning')}: ${result.findings
						.slice(0, 5)
						.map((finding) => `${finding.archiveId ?? finding.messageId} (${finding.code})`)
						.join(', ')}.`;
		return head + skipped + oddities;
	});
}

/** `/archive migrate [dry_run:]`: a card for every archive imported from the original tool's history log without one. */
export async function startMigrate(interaction: AskingInteraction, dryRun: boolean): Promise<void> {
	await deferEphemeral(interaction);
	const handle = container.archive.migrateLegacy({ dryRun });
	await replyEphemeral(
		interaction,
		`📨 ${dryRun ? 'Listing (dry run: nothing is posted)' : 'Posting cards for'} the archives imported from the original tool's history log…`
	);
	followJob(interaction, handle, (result) => {
		const head = `${result.dryRun ? '🔎 Dry run: would migrate' : '✅ Migrated'} ${plural(result.migrated.length, 'archive')}`;
		const skipped =
			result.skipped.length === 0
				? ''
				: `; ${result.skipped.length} skipped: ${result.skipped
						.slice(0, 5)
						.map((skip) => `${skip.archiveId} (${skip.reason})`)
						.join(', ')}`;
		return `${head}${skipped}. Their chunks stay where they are; a rebuild now finds them from Discord alone.`;
	});
}

/**
 * Edits the ephemeral answer with the job's outcome when it ends, as long as the interaction token lives. Never
 * throws: an expired token (a job longer than 15 minutes) only means the card alone tells the end.
 */
export function followJob<R>(interaction: AskingInteraction, handle: JobHandle<R>, success: (result: R) => string): void {
	handle.result.then(
		(result) => answerLater(interaction, success(result)),
		(error: unknown) => {
			const failure = describeJobFailure(interaction, handle.kind, error);
			return answerLater(interaction, `❌ The ${handle.kind} job stopped: ${failure.message}`);
		}
	);
}

/**
 * A job's failure as the person reads it, logged first: an unexpected one with its `ref` (the one in the answer) and
 * the detail, so the one can be found from the other; an expected one (a refusal, a cancel) as one info line.
 */
function describeJobFailure(interaction: AskingInteraction, kind: string, error: unknown): ReturnType<typeof describeBotFailure> {
	const failure = describeBotFailure(error);
	const who = `${kind} job asked by ${interaction.user.id}`;
	if (failure.expected) container.logger.info(`${who}: ${failure.code}`);
	else container.logger.error(`${who} failed (${failure.code}${failure.reference === undefined ? '' : `, ref ${failure.reference}`}):`, error);
	return failure;
}

export async function answerLater(interaction: AskingInteraction, content: string): Promise<void> {
	try {
		await replyEphemeral(interaction, content);
	} catch (error) {
		container.logger.debug(
			`Could not update the answer to ${interaction.user.id} (the token may have expired):`,
			error instanceof Error ? error.message : error
		);
	}
}

/** Whether the job waits for an upload slot (`DOS_UPLOAD_CONCURRENCY` uploads run at once). */
function isQueued(jobId: number): boolean {
	return container.archive.runner.jobs().some((job) => job.jobId === jobId && !job.started);
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
	// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a Discord interaction payload may lack the channel id its type promises
	return cardLink(interaction.guildId, archive, container.dos.config.discord.archiveChannelId ?? interaction.channelId ?? '');
}

export function plural(count: number, word: string): string {
	return `${count.toLocaleString('en')} ${word}${count === 1 ? '' : 's'}`;
}
