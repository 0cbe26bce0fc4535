import { container } from '@sapphire/framework';
import { type APIActionRowComponent, type APIButtonComponent, type APIEmbed, ButtonStyle, ComponentType } from 'discord.js';
import { formatBytes, repositoryLine } from '../../archive/card.js';
import type { Archive } from '../../db/index.js';
import { cardLink } from './card-link.js';
import { listPageId } from './custom-ids.js';

/** Archives per `list` page, and hits per `find` answer: both well inside an embed's 4096-character description. */
export const LIST_PAGE_SIZE = 10;
export const FIND_PAGE_SIZE = 15;

/** What a page answer carries (sent as a reply or as the update of a paging click). */
export interface PageBody {
	readonly content?: string;
	readonly embeds: APIEmbed[];
	readonly components: APIActionRowComponent<APIButtonComponent>[];
}

/**
 * One page of `/archive list`, newest first, below lot `before` (null: the first page), with ⏮ Newest and
 * Older ▶ buttons that carry the query in their custom id. Answered from the index.
 */
export function listPage(query: string, before: number | null): PageBody {
	const page = container.archive.list({ query: query === '' ? undefined : query, limit: LIST_PAGE_SIZE, ...(before === null ? {} : { before }) });
	const guildId = container.dos.config.discord.guildId ?? null;
	const lines = page.archives.map((archive) => archiveLine(archive, guildId));
	const repository = container.archive.repositoryTotals();
	const embed: APIEmbed = {
		title: query === '' ? 'Archives' : `Archives matching “${query.slice(0, 200)}”`,
		description: lines.length > 0 ? lines.join('\n') : emptyListText(query, before),
		color: 0x5865f2,
		// The format 2 repository as a whole (what its archives share through dedup), once there is one.
		...(repository.archives > 0 || repository.packs > 0 ? { footer: { text: `Repository (format 2): ${repositoryLine(repository)}` } } : {})
	};
	const buttons: APIButtonComponent[] = [
		{
			type: ComponentType.Button,
			style: ButtonStyle.Secondary,
			label: '⏮ Newest',
			custom_id: listPageId(null, query),
			disabled: before === null
		},
		{
			type: ComponentType.Button,
			style: ButtonStyle.Secondary,
			label: 'Older ▶',
			custom_id: listPageId(page.nextBefore ?? 0, query),
			disabled: page.nextBefore === null
		}
	];
	return { embeds: [embed], components: [{ type: ComponentType.ActionRow, components: buttons }] };
}

/** `/archive find name:`: files, folders and links whose name matches, newest archives first. */
export function findPage(name: string): PageBody {
	const { hits, nextBefore } = container.archive.find(name, { limit: FIND_PAGE_SIZE });
	const lines = hits.map(
		({ entry, archive }) =>
			`\`${truncate(entry.path, 120)}\` · ${entry.type === 'file' ? formatBytes(entry.size) : entry.type} · **${archive.id}** (${truncate(archiveName(archive), 60)}) · ${archive.status}`
	);
	const more = nextBefore === null ? '' : `\n…and more: refine the name to narrow the search.`;
	return {
		embeds: [
			{
				title: `Files matching “${truncate(name, 200)}”`,
				description: lines.length > 0 ? lines.join('\n') + more : 'Nothing matches in the index.',
				color: 0x5865f2
			}
		],
		components: []
	};
}

/** What an empty list page says: an empty index, a query that matches nothing, or the end of the pages. */
function emptyListText(query: string, before: number | null): string {
	if (before !== null) return 'No older archive.';
	return query === '' ? 'No archive yet.' : `No archive matches “${truncate(query, 200)}” (by id, lot, label or folder).`;
}

/**
 * An archive as the private answers of list and find name it: its label and source folder. The folder is shown
 * only here (the person asking may run archive commands), never on the public card unless it is the label.
 */
export function archiveName(archive: Pick<Archive, 'label' | 'source'>): string {
	const folder = `📁 ${archive.source}`;
	return archive.label ? `${archive.label} · ${folder}` : folder;
}

function archiveLine(archive: Archive, guildId: string | null): string {
	const when = `<t:${Math.floor(archive.createdAt.getTime() / 1000)}:d>`;
	const label = ` · ${truncate(archiveName(archive), 100)}`;
	const fallback = container.dos.config.discord.archiveChannelId ?? '';
	const card = archive.cardMessageId === null ? '' : ` · [card](${cardLink(guildId, archive, fallback)})`;
	return `**${archive.id}**${label} · ${formatBytes(archive.originalBytes)} · ${archive.status} · ${when}${card}`;
}

function truncate(text: string, max: number): string {
	return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
