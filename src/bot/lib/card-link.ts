import type { Archive } from '../../db/index.js';

/** A link to an archive's card, or a mention of its channel while the card is not posted yet. */
export function cardLink(guildId: string | null, archive: Pick<Archive, 'channelId' | 'cardMessageId'>, fallbackChannelId: string): string {
	const channelId = archive.channelId ?? fallbackChannelId;
	if (guildId === null || archive.cardMessageId === null) return `<#${channelId}>`;
	return `https://discord.com/channels/${guildId}/${channelId}/${archive.cardMessageId}`;
}
