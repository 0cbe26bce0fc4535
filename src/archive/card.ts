import type { APIActionRowComponent, APIComponentInMessageActionRow, APIEmbed } from '../discord/index.js';
import type { CardBody } from '../discord/index.js';
import { type Archive, ArchiveFormat, ArchiveStatus } from '../db/index.js';
import { cardRecordOf, encodeCardRecordUrl } from './card-record.js';
import { formatBytes } from './format.js';

export { formatBytes, repositoryLine } from './format.js';

/**
 * Archive cards (docs/design.md §4–§5): the embed and buttons that show one archive in the archive channel, rendered as
 * Discord API JSON from the index row and the progress of its running job. Pure: the upload job and the bot render
 * the same card from the same inputs. Every card carries the machine-readable record (card-record.ts) in its title
 * link, out of a reader's way; the footer says the lot and the format in words.
 */

/** What a card shows: the archive's status, or what its running job is doing. */
export const CardStatus = {
	...ArchiveStatus,
	Slicing: 'slicing',
	Verifying: 'verifying',
	Downloading: 'downloading'
} as const;
export type CardStatus = (typeof CardStatus)[keyof typeof CardStatus];

/** The buttons of a card; custom ids are `archive:<action>:<uid>`. */
export const CardAction = {
	Download: 'download',
	Verify: 'verify',
	Resume: 'resume',
	Cancel: 'cancel',
	Delete: 'delete'
} as const;
export type CardAction = (typeof CardAction)[keyof typeof CardAction];

/** Progress of the card's running job, with rate and ETA as computed by a {@link ProgressMeter}. */
export interface CardProgress {
	readonly bytesDone: number;
	readonly bytesTotal: number;
	readonly chunksDone: number;
	readonly chunksTotal: number;
	/** Bytes per second; null until known. */
	readonly rate: number | null;
	/** Milliseconds left; null until known. */
	readonly etaMs: number | null;
}

/** Everything a card is rendered from. */
export interface CardSnapshot {
	readonly archive: Archive;
	/** What the card says; defaults to the archive's status. */
	readonly status?: CardStatus;
	readonly progress?: CardProgress;
	/** Who started it: a Discord user id (shown as a mention) or a plain name such as `dos CLI`. */
	readonly startedBy?: string | null;
	/** One line on what failed, shown on failed and interrupted cards (defaults to the archive's last error). */
	readonly failure?: string | null;
	/** How the last download or verify job ended (counts and codes only), shown as `Last activity`. */
	readonly lastActivity?: string | null;
}

/** Discord's embed bounds (DISCORD.md): the renderer keeps inside them. */
export const EmbedLimits = { title: 256, description: 4096, fieldName: 256, fieldValue: 1024, fields: 25, total: 6000, customId: 100 } as const;

const colours: Record<CardStatus, number> = {
	planned: 0x5865f2,
	slicing: 0x3498db,
	uploading: 0x3498db,
	verifying: 0x9b59b6,
	downloading: 0x1abc9c,
	complete: 0x2ecc71,
	failed: 0xe74c3c,
	interrupted: 0xe67e22,
	cancelled: 0x95a5a6,
	deleted: 0x4f545c
};

const titles: Record<CardStatus, string> = {
	planned: '🗂️ Preparing',
	slicing: '⚙️ Slicing',
	uploading: '⬆️ Uploading',
	verifying: '🔍 Verifying',
	downloading: '⬇️ Downloading',
	complete: '📦 Archive',
	failed: '❌ Failed',
	interrupted: '⏸️ Interrupted',
	cancelled: '⏹️ Cancelled',
	deleted: '🗑️ Deleted'
};

/** The custom id of a card button. */
export function cardCustomId(action: CardAction, uid: string): string {
	return `archive:${action}:${uid}`;
}

/** Parses a card button's custom id; null for any other id. */
export function parseCardCustomId(customId: string): { action: CardAction; uid: string } | null {
	const match = /^archive:(download|verify|resume|cancel|delete):([0-9a-f]{32})$/.exec(customId);
	return match ? { action: match[1] as CardAction, uid: match[2]! } : null;
}

/** What the card says for an archive with no running job. */
export function cardStatusOf(archive: Pick<Archive, 'status'>): CardStatus {
	return archive.status;
}

/** Whether an archive in this state can be resumed (the Resume button and `dos resume`). */
export function isResumable(archive: Pick<Archive, 'status' | 'format' | 'threadId'>): boolean {
	return (
		(archive.format === ArchiveFormat.Dos1 || archive.format === ArchiveFormat.Dos2) &&
		(archive.status === ArchiveStatus.Failed ||
			archive.status === ArchiveStatus.Interrupted ||
			archive.status === ArchiveStatus.Cancelled ||
			archive.status === ArchiveStatus.Uploading ||
			archive.status === ArchiveStatus.Planned)
	);
}

/** The buttons a card in this state offers, in order. */
export function cardActions(status: CardStatus, archive: Pick<Archive, 'status' | 'format' | 'threadId'>): CardAction[] {
	switch (status) {
		case 'planned':
		case 'slicing':
		case 'uploading':
		case 'verifying':
		case 'downloading':
			return [CardAction.Cancel];
		case 'complete':
			return [CardAction.Download, CardAction.Verify, CardAction.Delete];
		case 'failed':
		case 'interrupted':
		case 'cancelled':
			return isResumable(archive) ? [CardAction.Resume, CardAction.Delete] : [CardAction.Delete];
		case 'deleted':
			return [];
	}
}

const buttonLabels: Record<CardAction, { label: string; style: number }> = {
	// Button styles: 1 primary, 2 secondary, 3 success, 4 danger.
	download: { label: 'Download', style: 1 },
	verify: { label: 'Verify', style: 2 },
	resume: { label: 'Resume', style: 3 },
	cancel: { label: 'Cancel', style: 4 },
	delete: { label: 'Delete', style: 4 }
};

/**
 * Renders a card: an embed (colour and title by status; id, label, files, sizes, chunks, progress with rate and ETA,
 * last verification, who started it, what failed) with the record in its title link, and one row of buttons.
 */
export function renderCard(snapshot: CardSnapshot): CardBody {
	const { archive } = snapshot;
	const status = snapshot.status ?? cardStatusOf(archive);
	const fields: { name: string; value: string; inline?: boolean }[] = [];
	const field = (name: string, value: string, inline = true) => fields.push({ name, value: clip(value || '—', EmbedLimits.fieldValue), inline });
	field('Id', `\`${archive.id}\``);
	field('Files', describeCounts(archive));
	if (archive.format === ArchiveFormat.Dos2) {
		field('Size', `${repositorySizes(archive)} → ${formatBytes(archive.storedBytes)} stored`);
		field('Format', `2 · packs of up to ${formatBytes(archive.chunkSize)}`);
	} else {
		field('Size', `${formatBytes(archive.originalBytes)} → ${formatBytes(archive.storedBytes)} stored`);
		field('Chunks', `${archive.storedChunkCount}/${archive.chunkCount} · ${formatBytes(archive.chunkSize)} each`);
	}
	if (
		snapshot.progress &&
		(status === 'slicing' || status === 'uploading' || status === 'verifying' || status === 'downloading' || status === 'planned')
	) {
		field('Progress', progressLine(snapshot.progress, archive.format === ArchiveFormat.Dos2 ? 'pack' : 'chunk'), false);
	}
	if (archive.verifiedAt !== null && archive.verifyLevel !== null) {
		const outcome = archive.verifyOk ? '✅' : '⚠️';
		// A verification of the archive before a resume or a cleanup changed it says nothing of what is there now.
		field(
			archive.verifyStale ? `Last verification (before the last ${status === 'deleted' ? 'deletion' : 'resume'})` : 'Last verification',
			`${outcome} ${archive.verifyLevel} · <t:${Math.floor(archive.verifiedAt.getTime() / 1000)}:R>${archive.verifySummary ? ` · ${archive.verifySummary}` : ''}`,
			false
		);
	}
	const failureCode =
		snapshot.failure === undefined || snapshot.failure === null
			? archive.errorCode === null && archive.errorMessage === null
				? null
				: (archive.errorCode ?? 'ERROR')
			: failureCodeOf(snapshot.failure);
	if (failureCode !== null && (status === 'failed' || status === 'interrupted' || status === 'cancelled')) {
		field(
			'What happened',
			`${publicFailureText(failureCode)}${isResumable(archive) ? '\nPress **Resume** (or run `dos resume ' + archive.id + '`) to continue where it stopped.' : ''}`,
			false
		);
	}
	if (snapshot.lastActivity) field('Last activity', snapshot.lastActivity, false);
	if (snapshot.startedBy) field('Started by', /^\d{17,20}$/.test(snapshot.startedBy) ? `<@${snapshot.startedBy}>` : snapshot.startedBy);
	const title = clip(`${titles[status]} ${archive.id}${archive.label ? ` · ${archive.label}` : ''}`, EmbedLimits.title);
	const embed: APIEmbed = {
		title,
		color: colours[status],
		fields,
		url: encodeCardRecordUrl({ ...cardRecordOf(archive), status: status === 'deleted' ? ArchiveStatus.Deleted : archive.status }),
		footer: { text: `Lot ${archive.lot} · ${formatName(archive.format)}` },
		timestamp: archive.createdAt.toISOString()
	};
	fitEmbed(embed);
	const actions = cardActions(status, archive);
	// eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- the discord layer re-exports the payload types but not the enum; 1 is an action row
	const components: APIActionRowComponent<APIComponentInMessageActionRow>[] =
		actions.length === 0
			? []
			: [
					{
						type: 1,
						components: actions.map((action) => ({
							type: 2,
							style: buttonLabels[action].style,
							label: buttonLabels[action].label,
							custom_id: cardCustomId(action, archive.uid)
						}))
					}
				];
	return { embeds: [embed], components };
}

/**
 * What a card (a public message) says about a failure: the stable code and a fixed sentence for it, never the error's
 * own text, which can name files of the source and absolute paths of the host. The detail goes to the person who
 * asked (ephemerally), the CLI and the local log.
 */
export function publicFailureText(code: string): string {
	const sentence = publicFailureSentences[code] ?? 'The job stopped on this error.';
	const detail =
		code === 'CANCELLED' || code === 'SHUTDOWN' ? '' : ' Who started it was told the detail; the log of the bot or the CLI has it too.';
	return `${code}: ${sentence}${detail}`;
}

/** The code at the head of a failure line such as `SOURCE_CHANGED: …`; `ERROR` when it has none. */
function failureCodeOf(failure: string): string {
	return /^([A-Z][A-Z0-9_]{0,39})(?=:|\s|$)/.exec(failure)?.[1] ?? 'ERROR';
}

/** Sentences for the codes a failed job commonly ends with; none may carry a name, a path or a number from the error. */
const publicFailureSentences: Readonly<Record<string, string>> = {
	SOURCE_CHANGED: 'A file of the source folder changed while it was being archived.',
	CANCELLED: 'The upload was cancelled.',
	SHUTDOWN: 'The upload stopped because the bot or the CLI shut down.',
	ENOENT: 'A file or folder of the source could not be found.',
	EACCES: 'A file or folder of the source could not be read (permission denied).',
	EPERM: 'A file or folder of the source could not be read (operation not permitted).',
	EISDIR: 'A file of the source turned out to be a folder.',
	ENOTDIR: 'A folder of the source turned out to be a file.',
	EIO: 'Reading the source failed with an input/output error.',
	DISK_FULL: 'The disk filled up.',
	NOT_FOUND: 'Something the job needed could not be found.',
	UNSAFE_PATH: 'A path of the source was refused as unsafe.',
	NO_KEY: 'No encryption key is set.',
	WRONG_KEY: 'The encryption key does not open this archive.',
	DISCORD_UNAVAILABLE: 'Discord could not be reached for too long.',
	RATE_LIMITED: 'Discord asked to wait longer than the bot waits.',
	MISSING_PERMISSIONS: 'The bot lacks a permission in the archive channel or its thread.',
	ATTACHMENT_TOO_LARGE: 'A chunk was over the attachment limit of this server.',
	ABORTED: 'The job was stopped.'
};

/** Characters an embed counts against Discord's 6000 total: title, description, field names and values, footer, author. */
export function embedLength(embed: APIEmbed): number {
	return (
		(embed.title?.length ?? 0) +
		(embed.description?.length ?? 0) +
		(embed.footer?.text.length ?? 0) +
		(embed.author?.name.length ?? 0) +
		(embed.fields ?? []).reduce((sum, field) => sum + field.name.length + field.value.length, 0)
	);
}

/** Shortens the longest fields (never the title link that carries the record) until the embed fits the 6000-character total. */
function fitEmbed(embed: APIEmbed): void {
	const fields = embed.fields ?? [];
	while (embedLength(embed) > EmbedLimits.total && fields.length > 0) {
		const longest = fields.reduce((best, candidate) => (candidate.value.length > best.value.length ? candidate : best));
		longest.value = clip(longest.value, Math.max(1, longest.value.length - (embedLength(embed) - EmbedLimits.total)));
	}
}

/** `format 1` / `format 2` for our archives, `legacy format v3.1` for the original tool's. */
function formatName(format: ArchiveFormat): string {
	if (format === ArchiveFormat.Dos1) return 'format 1';
	if (format === ArchiveFormat.Dos2) return 'format 2';
	return `legacy format ${format.replace(/^legacy-/, '')}`;
}

function describeCounts(archive: Archive): string {
	const parts = [`${archive.fileCount} file${archive.fileCount === 1 ? '' : 's'}`];
	if (archive.directoryCount > 0) parts.push(`${archive.directoryCount} folder${archive.directoryCount === 1 ? '' : 's'}`);
	if (archive.symlinkCount > 0) parts.push(`${archive.symlinkCount} link${archive.symlinkCount === 1 ? '' : 's'}`);
	return parts.join(', ');
}

/**
 * `▰▰▰▰▱▱▱▱▱▱ 42% · 12/30 chunks · 3.1 MiB/s · ETA 2m 10s`; a format 2 upload (`pack`), whose packs are known only as
 * the slice closes them: `▰▰▰▰▱▱▱▱▱▱ 42% · 4 packs posted · …`.
 */
export function progressLine(progress: CardProgress, unit: 'chunk' | 'pack' = 'chunk'): string {
	const share =
		progress.bytesTotal > 0
			? progress.bytesDone / progress.bytesTotal
			: progress.chunksTotal > 0
				? progress.chunksDone / progress.chunksTotal
				: 0;
	const clamped = Math.min(1, Math.max(0, share));
	const filled = Math.round(clamped * 12);
	const parts = [
		`${'▰'.repeat(filled)}${'▱'.repeat(12 - filled)} ${Math.floor(clamped * 100)}%`,
		unit === 'pack' ? `${countOf(progress.chunksDone, 'pack')} posted` : `${progress.chunksDone}/${countOf(progress.chunksTotal, 'chunk')}`
	];
	parts.push(`${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)}`);
	if (progress.rate !== null && progress.rate > 0) parts.push(`${formatBytes(progress.rate)}/s`);
	if (progress.etaMs !== null) parts.push(`ETA ${formatDuration(progress.etaMs)}`);
	return parts.join(' · ');
}

/**
 * The sizes of a format 2 archive: original bytes, and once known the bytes it stored anew and those it found stored
 * already ("4.2 GiB · 31 MiB new, 4.17 GiB reused").
 */
export function repositorySizes(archive: Pick<Archive, 'originalBytes' | 'newBytes' | 'reusedBytes'>): string {
	if (archive.newBytes === null) return formatBytes(archive.originalBytes);
	return `${formatBytes(archive.originalBytes)} · ${formatBytes(archive.newBytes)} new, ${formatBytes(archive.reusedBytes ?? 0)} reused`;
}

/** `1 file`, `2 files`: a count and its noun, singular for exactly one (texts of the bot, the CLI and the log). */
export function countOf(count: number, noun: string): string {
	return `${count} ${count === 1 ? noun : `${noun}s`}`;
}

/** `45s`, `2m 10s`, `3h 05m`. */
export function formatDuration(ms: number): string {
	const seconds = Math.max(0, Math.round(ms / 1000));
	if (seconds < 60) return `${seconds}s`;
	const minutes = Math.floor(seconds / 60);
	if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
	return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

function clip(text: string, max: number): string {
	return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/**
 * Turns successive progress counts into a rate (bytes per second, smoothed over a sliding window) and an ETA. Pure
 * apart from the clock it is given.
 */
export class ProgressMeter {
	readonly #windowMs: number;
	readonly #samples: { at: number; bytes: number }[] = [];

	public constructor(windowMs = 20_000) {
		this.#windowMs = windowMs;
	}

	/** Records `bytesDone` at `at` (ms) and returns the progress with rate and ETA. */
	public sample(at: number, counts: Omit<CardProgress, 'rate' | 'etaMs'>): CardProgress {
		this.#samples.push({ at, bytes: counts.bytesDone });
		while (this.#samples.length > 2 && this.#samples[0]!.at < at - this.#windowMs) this.#samples.shift();
		const first = this.#samples[0]!;
		const elapsed = at - first.at;
		const rate = elapsed >= 500 ? ((counts.bytesDone - first.bytes) * 1000) / elapsed : null;
		const left = Math.max(0, counts.bytesTotal - counts.bytesDone);
		const etaMs = rate !== null && rate > 0 ? (left / rate) * 1000 : null;
		return { ...counts, rate, etaMs };
	}
}
