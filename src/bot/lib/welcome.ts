import type { APIEmbed, Client, Message } from 'discord.js';

/**
 * The first word of the bot in an empty archive channel: one short pinned message saying what the channel is for and
 * how to start. Posted once: the index remembers it (meta {@link WELCOME_META_KEY}), and a fresh index finds it in
 * the channel by its footer before posting a second one.
 */

/** The index's meta key: `posted:<message id>`, `found:<message id>` or `in-use` (the channel held the bot's messages already). */
export const WELCOME_META_KEY = 'bot.welcome';

/** The footer that marks the welcome message as ours (only messages the bot itself posted count). */
export const WELCOME_MARKER = 'Discord Object Store · dos-welcome/1';

/** The welcome message. */
export function welcomeEmbed(): APIEmbed {
	return {
		title: '📦 This channel holds encrypted folder archives',
		description: [
			'Every card the bot posts here is one archive of a folder; its encrypted chunks live in the thread under the card. Leave the cards and threads as they are: they are the archive.',
			'',
			'**Start:** `/archive upload` puts a folder away. **Find out more:** `/archive help` shows every command and button, who may use each, and this archive’s settings.'
		].join('\n'),
		color: 0x5865f2,
		footer: { text: WELCOME_MARKER }
	};
}

/** Where the decision is remembered: the index's own key/value table. */
export interface WelcomeMemory {
	readMeta(key: string): string | undefined;
	writeMeta(key: string, value: string): void;
}

/** What the start-up check did. */
export type WelcomeOutcome = 'remembered' | 'found' | 'in-use' | 'posted' | 'no-channel';

/** How many of the channel's oldest messages are read to tell an empty channel from one in use. */
const OLDEST_PAGE = 100;

/**
 * Posts and pins the welcome message when the archive channel holds nothing of the bot's yet (no card, no welcome),
 * once. A welcome found in the channel (a fresh or restored index) is remembered, and pinned if it is not.
 * A pin the bot may not make (no Pin Messages) leaves the message unpinned, with `pinWarning` told why.
 *
 * @throws discord.js errors when the channel cannot be read or written (the caller logs them; nothing is remembered).
 */
export async function ensureWelcome(
	client: Client<true>,
	channelId: string,
	memory: WelcomeMemory,
	pinWarning: (reason: string) => void
): Promise<WelcomeOutcome> {
	if (memory.readMeta(WELCOME_META_KEY) !== undefined) return 'remembered';
	const channel = await client.channels.fetch(channelId);
	if (channel === null || !channel.isTextBased() || channel.isDMBased() || channel.isThread()) return 'no-channel';
	// The oldest messages: a welcome is posted into an empty channel, so it is among the first, as is the first card.
	const oldest = [...(await channel.messages.fetch({ after: '0', limit: OLDEST_PAGE })).values()].sort((a, b) =>
		BigInt(a.id) < BigInt(b.id) ? -1 : 1
	);
	for (const message of oldest) {
		if (isWelcome(message, client.user.id)) {
			await pin(message, pinWarning);
			memory.writeMeta(WELCOME_META_KEY, `found:${message.id}`);
			return 'found';
		}
		// A card (ours or the original tool's) or anything else a bot posted: the channel is in use, no welcome now.
		if (message.author.bot) {
			memory.writeMeta(WELCOME_META_KEY, 'in-use');
			return 'in-use';
		}
	}
	const welcome = await channel.send({ embeds: [welcomeEmbed()], allowedMentions: { parse: [] } });
	memory.writeMeta(WELCOME_META_KEY, `posted:${welcome.id}`);
	await pin(welcome, pinWarning);
	return 'posted';
}

function isWelcome(message: Message, botUserId: string): boolean {
	return message.author.id === botUserId && message.embeds.some((embed) => embed.footer?.text === WELCOME_MARKER);
}

async function pin(message: Message, pinWarning: (reason: string) => void): Promise<void> {
	if (message.pinned) return;
	try {
		await message.pin();
	} catch (error) {
		pinWarning(error instanceof Error ? error.message : String(error));
	}
}
