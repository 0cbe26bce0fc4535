import path from 'node:path';
import type { APIEmbed } from 'discord.js';
import { EmbedLimits, formatBytes } from '../../archive/card.js';
import {
	type AccessLevel,
	AccessLevel as Level,
	type AccessPolicy,
	type ArchiveAction,
	type Asker,
	levelOf,
	mayRun,
	requiredLevel
} from './access.js';

/**
 * The one source of what `/archive help` says about every subcommand and button. docs/bot.md's tables are checked
 * against it (test/bot/help.test.ts), and an e2e test fails when `/archive` gains a subcommand this table lacks.
 */

/** What people come to do, in the order the help shows it. */
export const HelpGroup = {
	Store: 'Put a folder away',
	Restore: 'Get it back',
	Check: 'Check it',
	Tidy: 'Tidy up'
} as const;
export type HelpGroup = (typeof HelpGroup)[keyof typeof HelpGroup];

/** One subcommand or button as the help and docs/bot.md describe it. */
export interface HelpEntry {
	/** How it is typed (`/archive upload source:<folder> [label]`) or which button it is (`**Download** (card)`). */
	readonly usage: string;
	readonly group: HelpGroup;
	/** The access rule that guards it (lib/access.ts): who may use it comes from there, never from this table. */
	readonly action: ArchiveAction;
	readonly what: string;
}

/** Every subcommand of `/archive`, by name. */
export const SUBCOMMAND_HELP = {
	upload: {
		usage: '/archive upload source:<folder> [label]',
		group: HelpGroup.Store,
		action: 'upload',
		what: 'archive a folder under the upload root (folders autocompleted)'
	},
	resume: {
		usage: '/archive resume id',
		group: HelpGroup.Store,
		action: 'resume',
		what: 'finish an interrupted, failed or cancelled upload (reconciles with the thread first; nothing is posted twice)'
	},
	download: {
		usage: '/archive download id [through] [path]',
		group: HelpGroup.Restore,
		action: 'download',
		what: 'restore an archive (or every complete archive from `id` through `through`, or one `path` in it) into a new folder under the download root'
	},
	list: {
		usage: '/archive list [query]',
		group: HelpGroup.Restore,
		action: 'list',
		what: 'recent archives, ten per page, with paging buttons; each with its label and source folder (📁); the footer gives the format 2 repository (archives, packs stored, blobs)'
	},
	find: {
		usage: '/archive find name',
		group: HelpGroup.Restore,
		action: 'find',
		what: "files whose name matches, across archives, each with its archive's label and source folder"
	},
	verify: {
		usage: '/archive verify [id] [level] [sample]',
		group: HelpGroup.Check,
		action: 'verify',
		what: '`quick`: every chunk present; `full`: download and check every byte; a `sample` percentage is a full check of that share; shown on the card. `level:repository` (no id): every pack of the format 2 repository once, every blob, every reference'
	},
	status: {
		usage: '/archive status',
		group: HelpGroup.Check,
		action: 'status',
		what: 'archives by status, roots and free space, encryption, repository keys, the format 2 repository (archives, packs and stored bytes, blobs), running jobs, last backup'
	},
	help: {
		usage: '/archive help',
		group: HelpGroup.Check,
		action: 'help',
		what: 'every command and button, who may use each, and the settings of this archive'
	},
	cleanup: {
		usage: '/archive cleanup id',
		group: HelpGroup.Tidy,
		action: 'cleanup',
		what: "delete the archive's thread after a confirmation (its own buttons, valid one minute, `DOS_CLEANUP_CONFIRM_SECONDS`); the card turns grey; format 2: only what no live archive reuses"
	},
	rebuild: {
		usage: '/archive rebuild [dry_run]',
		group: HelpGroup.Tidy,
		action: 'rebuild',
		what: 'rebuild the index from the archive channel (cards, threads, manifests); names forged, duplicate and unreadable cards, deletes nothing'
	},
	migrate: {
		usage: '/archive migrate [dry_run]',
		group: HelpGroup.Tidy,
		action: 'migrate',
		what: "post a card for each archive imported from the original tool's history log (`dos index import-legacy`), so a rebuild finds it; its chunks stay where they are"
	}
} as const satisfies Readonly<Record<string, HelpEntry>>;

/** Every button a person can press, on the cards and on the bot's answers. */
export const BUTTON_HELP: readonly HelpEntry[] = [
	{ usage: 'Resume (card)', group: HelpGroup.Store, action: 'resume', what: 'the same as `/archive resume` for this archive' },
	{
		usage: 'Cancel (card)',
		group: HelpGroup.Store,
		action: 'cancel',
		what: 'stop the upload or verification running on this card; an upload can be resumed later'
	},
	{
		usage: 'Download (card)',
		group: HelpGroup.Restore,
		action: 'download',
		what: 'restore this archive into a new folder under the download root'
	},
	{ usage: 'Newest / Older (list pages)', group: HelpGroup.Restore, action: 'list', what: 'page through `/archive list`' },
	{ usage: 'Verify (card)', group: HelpGroup.Check, action: 'verify', what: 'a quick verification, shown on the card' },
	{ usage: 'Delete (card)', group: HelpGroup.Tidy, action: 'delete', what: 'the same as `/archive cleanup` for this archive: asks first' },
	{ usage: 'Delete / Keep it (cleanup question)', group: HelpGroup.Tidy, action: 'cleanup', what: 'answer the cleanup question before it expires' }
];

/** Who may use an action, as docs/bot.md's tables say it. */
export function whoMay(action: ArchiveAction): string {
	return requiredLevel[action] === Level.Owner ? 'owners' : 'owners, allowed roles';
}

/** The settings that shape an archive, as the help shows them: nothing secret, roots by their folder name only. */
export interface HelpSettings {
	readonly chunkSize: number;
	readonly gzipLevel: number;
	readonly encryption: boolean;
	readonly uploadRoot: string;
	readonly downloadRoot: string;
	readonly cleanupConfirmSeconds: number;
}

/**
 * The `/archive help` screen for one person: every subcommand and button grouped by what people do, each marked
 * with whether this person may use it under the access rules in force, then who holds which level and the
 * settings. One embed within Discord's limits (checked by test/bot/help.test.ts).
 */
export function helpEmbed(policy: AccessPolicy, asker: Asker, settings: HelpSettings): APIEmbed {
	const level = levelOf(policy, asker);
	const mark = (action: ArchiveAction) => (mayRun(policy, asker, action) ? '✅' : '🔒');
	const line = (entry: HelpEntry, button: boolean) =>
		`${mark(entry.action)} ${button ? `🔘 **${entry.usage}**` : `\`${entry.usage}\``} — _${whoMay(entry.action)}_: ${entry.what}`;
	const fields: { name: string; value: string }[] = Object.values(HelpGroup).map((group) => ({
		name: group,
		value: clip(
			[
				...Object.values(SUBCOMMAND_HELP)
					.filter((entry) => entry.group === group)
					.map((entry) => line(entry, false)),
				...BUTTON_HELP.filter((entry) => entry.group === group).map((entry) => line(entry, true))
			].join('\n'),
			EmbedLimits.fieldValue
		)
	}));
	fields.push({ name: 'Who may do what', value: clip(accessText(policy, level), EmbedLimits.fieldValue) });
	fields.push({ name: 'This archive', value: clip(settingsText(settings), EmbedLimits.fieldValue) });
	const embed: APIEmbed = {
		title: 'Discord Object Store — /archive help',
		description: `${youAre(level)} Every archive is a card in this channel; its encrypted chunks live in the card's thread. ✅ you may use it, 🔒 you may not. Answers are private to you.`,
		color: 0x5865f2,
		fields
	};
	return embed;
}

function youAre(level: AccessLevel | null): string {
	if (level === Level.Owner) return 'You are one of the bot’s owners: you may use everything.';
	if (level === Level.Allowed) return 'You hold an allowed role: you may read, download and verify; the rest is for owners.';
	return 'You hold no access to the archive: ask one of the owners.';
}

function accessText(policy: AccessPolicy, level: AccessLevel | null): string {
	const owners = mentions(policy.ownerIds, (id) => `<@${id}>`);
	const roles = mentions(policy.allowedRoleIds, (id) => `<@&${id}>`);
	return [
		`Owners (\`OWNER_IDS\`): ${owners} — everything.`,
		`Allowed roles (\`ALLOWED_ROLE_IDS\`): ${roles} — what loses nothing: download, verify, status, list, find, help.`,
		`You: ${level === Level.Owner ? 'owner' : level === Level.Allowed ? 'allowed role' : 'no access'}.`
	].join('\n');
}

function settingsText(settings: HelpSettings): string {
	return [
		`Chunk size: ${formatBytes(settings.chunkSize)} (\`DOS_CHUNK_SIZE\`)`,
		`Compression: ${settings.gzipLevel === 0 ? 'off' : `gzip level ${settings.gzipLevel}`} (\`DOS_GZIP_LEVEL\`)`,
		`Encryption: ${settings.encryption ? 'on' : 'OFF — `USER_KEY` is not set'}`,
		`Upload root: \`${rootName(settings.uploadRoot)}\` — \`/archive upload\` offers the folders under it`,
		`Download root: \`${rootName(settings.downloadRoot)}\` — restores go into new folders under it`,
		`Cleanup question answerable for ${settings.cleanupConfirmSeconds} s (\`DOS_CLEANUP_CONFIRM_SECONDS\`)`
	].join('\n');
}

/** A root by its own folder name: where it lives on the host is nobody's business in a channel. */
export function rootName(root: string): string {
	const name = path.basename(path.resolve(root));
	return (name === '' ? 'the root folder' : name).replaceAll('`', 'ʼ');
}

/** At most ten mentions (they do not ping inside an embed), then how many more. */
function mentions(ids: readonly string[], mention: (id: string) => string): string {
	if (ids.length === 0) return 'none set';
	const shown = ids.slice(0, 10).map(mention).join(', ');
	return ids.length > 10 ? `${shown} and ${ids.length - 10} more` : shown;
}

function clip(text: string, max: number): string {
	return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
