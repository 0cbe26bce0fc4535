import type {
	APIActionRowComponent,
	APIAttachment,
	APIComponentInMessageActionRow,
	APIEmbed,
	APIMessage,
	APIMessageTopLevelComponent
} from 'discord.js';

/**
 * The two families of types this layer returns:
 * - **records** (`…Record`) hold what may be stored — ids, names, sizes — and never a URL;
 * - **live** values (`Live…`) carry signed CDN URLs that expire within hours: use them at once, never store
 *   them (tools that stored URLs lost their users' files).
 * {@link toAttachmentRecord} and {@link toMessageRecord} turn a live value into its record.
 */

/** An attachment as it may be stored. */
export interface AttachmentRecord {
	readonly id: string;
	readonly filename: string;
	readonly size: number;
}

/** A message as it may be stored: where it is and what it carries, no URL. */
export interface MessageRecord {
	/** The channel or thread the message is in. */
	readonly channelId: string;
	readonly messageId: string;
	readonly attachments: readonly AttachmentRecord[];
}

/** A chunk message just posted, as the upload job records it. */
export interface ChunkMessageRecord extends MessageRecord {
	/** The nonce the message was posted with (the same one on every retry). */
	readonly nonce: string;
	/** Bytes of attachment data sent (for progress). */
	readonly bytes: number;
}

/**
 * An attachment with its signed CDN URL. **Never persist this**: the URL expires (see `expiresAt`) and a
 * stale one gets 403/404; keep the {@link AttachmentRecord} and fetch the message again when needed.
 */
export interface LiveAttachment extends AttachmentRecord {
	/** The signed CDN URL, valid until `expiresAt`. In memory only. */
	readonly url: string;
	/** When the URL stops working (from its `ex` parameter), or null if it carries none. */
	readonly expiresAt: Date | null;
}

/** The thread started from a message, as Discord shows it on the message. */
export interface ThreadSummary {
	readonly id: string;
	readonly name: string;
	readonly archived: boolean;
}

/** A message as just fetched, with live attachment URLs. **Never persist this**; see {@link toMessageRecord}. */
export interface LiveMessage {
	readonly channelId: string;
	readonly id: string;
	readonly content: string;
	readonly authorId: string;
	readonly authorIsBot: boolean;
	readonly attachments: readonly LiveAttachment[];
	readonly embeds: readonly APIEmbed[];
	readonly components: readonly APIMessageTopLevelComponent[];
	/** The thread started from this message (a card's thread), if any. */
	readonly thread: ThreadSummary | null;
	/** When the message was created (from its snowflake timestamp as Discord reports it). */
	readonly createdAt: Date;
	readonly editedAt: Date | null;
}

/** The body of a card message: embeds and components as Discord API JSON (the bot renders them). */
export interface CardBody {
	readonly content?: string;
	readonly embeds?: readonly APIEmbed[];
	readonly components?: readonly APIActionRowComponent<APIComponentInMessageActionRow>[];
}

/** Drops the URL of a live attachment. */
export function toAttachmentRecord(attachment: AttachmentRecord): AttachmentRecord {
	return { id: attachment.id, filename: attachment.filename, size: attachment.size };
}

/** Drops the URLs and the content of a live message, keeping where it is and what it carries. */
export function toMessageRecord(message: Pick<LiveMessage, 'channelId' | 'id' | 'attachments'>): MessageRecord {
	return { channelId: message.channelId, messageId: message.id, attachments: message.attachments.map(toAttachmentRecord) };
}

/**
 * When a signed CDN URL expires: its `ex` query parameter holds the expiry as hex Unix seconds. Null when the
 * URL has no (readable) `ex`.
 */
export function cdnUrlExpiry(url: string): Date | null {
	let ex: string | null;
	try {
		ex = new URL(url).searchParams.get('ex');
	} catch {
		return null;
	}
	if (ex === null || !/^[0-9a-f]{1,12}$/i.test(ex)) return null;
	return new Date(Number.parseInt(ex, 16) * 1000);
}

/** The live view of one attachment Discord returned. */
export function toLiveAttachment(attachment: APIAttachment): LiveAttachment {
	return { id: attachment.id, filename: attachment.filename, size: attachment.size, url: attachment.url, expiresAt: cdnUrlExpiry(attachment.url) };
}

/** The live view of one message Discord returned. */
export function toLiveMessage(message: APIMessage): LiveMessage {
	const thread = message.thread;
	return {
		channelId: message.channel_id,
		id: message.id,
		content: message.content,
		authorId: message.author.id,
		authorIsBot: message.author.bot === true,
		attachments: message.attachments.map(toLiveAttachment),
		embeds: message.embeds,
		components: message.components ?? [],
		thread:
			thread === undefined
				? null
				: {
						id: thread.id,
						name: thread.name ?? '',
						archived: 'thread_metadata' in thread ? thread.thread_metadata?.archived === true : false
					},
		createdAt: new Date(message.timestamp),
		editedAt: message.edited_timestamp === null ? null : new Date(message.edited_timestamp)
	};
}
