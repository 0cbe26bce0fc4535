import { createHash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { Writable } from 'node:stream';
import { MessageFlags, Routes } from 'discord.js';
import type { APIMessage, RESTPostAPIChannelMessageJSONBody } from 'discord.js';
import {
	outgoingSize,
	type ArchiveTransport,
	type CallOptions,
	type OutgoingFile,
	type PostChunkInput,
	type PostMessageOptions,
	type PostedChunk,
	type UploadFileInput
} from './archive-transport.js';
import { noteBufferChurn } from '../core/memory.js';
import { TransportError, TransportErrorCode, type OperationContext } from './errors.js';
import type { AttachmentRecord, CardBody, LiveMessage, MessageRecord } from './messages.js';
import { assertNonce, randomNonce } from './nonce.js';
import { DiscordLimits, compareSnowflakes, type DiscordRequests } from './requests.js';

/** Messages searched, newest first, for a chunk post whose answer was lost (a few uploads run into one thread at most). */
const LANDED_POST_SEARCH = 50;

/** What posting reads back through the transport, to find a post whose answer was lost. */
export type LandedPostReader = Pick<ArchiveTransport, 'selfUserId' | 'recentMessages' | 'downloadAttachment'>;

/**
 * Posting to Discord: chunk messages, cards, lines and files, each sent with a nonce and `enforce_nonce` so that a
 * post retried (by the REST client or by the backoff of {@link DiscordRequests}) or repeated within Discord's dedup
 * window returns the message that already landed instead of posting twice; and card edits. What Discord would refuse
 * anyway (too long, too many or too large files) is refused before a request.
 */
export class DiscordPosting {
	readonly #requests: DiscordRequests;
	readonly #attachmentLimit: number | undefined;
	readonly #reader: LandedPostReader;

	public constructor(requests: DiscordRequests, attachmentLimit: number | undefined, reader: LandedPostReader) {
		this.#requests = requests;
		this.#attachmentLimit = attachmentLimit;
		this.#reader = reader;
	}

	/**
	 * See {@link ArchiveTransport.postChunk}. When every try lost its answer (the post may have landed), the thread's
	 * newest messages are searched for the oldest one posted by the bot itself with exactly these attachments (names,
	 * sizes and sha256 of the bytes) before DISCORD_UNAVAILABLE is thrown.
	 */
	public async postChunk(input: PostChunkInput): Promise<PostedChunk> {
		assertNonce(input.nonce);
		const names = input.files.map((file) => file.name).join(', ');
		const context: OperationContext = { action: `post chunk ${names} into thread ${input.threadId}`, channelId: input.threadId };
		let message: { readonly channel_id: string; readonly id: string; readonly attachments: readonly AttachmentRecord[] };
		try {
			message = await this.#createMessage(
				input.threadId,
				{ content: input.content, flags: MessageFlags.SuppressNotifications },
				input.files,
				input.nonce,
				context,
				input.signal
			);
		} catch (error) {
			// Every try lost its answer (or Discord stayed unreachable): the post may well have landed. Look before failing.
			if (!(error instanceof TransportError) || error.code !== TransportErrorCode.DiscordUnavailable) throw error;
			const landed = await this.#findLandedPost(input.threadId, input.files, input.signal).catch(() => null);
			if (landed === null) throw error;
			message = { channel_id: landed.channelId, id: landed.id, attachments: landed.attachments };
		}
		const bytes = input.files.reduce((sum, file) => sum + outgoingSize(file), 0);
		// The request's body (read from the files, or copied from their buffers) is garbage now.
		noteBufferChurn(bytes);
		input.onProgress?.(bytes);
		const attachments = message.attachments.map(attachmentRecord);
		const matchesSent =
			attachments.length === input.files.length &&
			// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- Discord's reply is untrusted: it may hold fewer attachments than were sent
			input.files.every((file, index) => attachments[index]?.filename === file.name && attachments[index]?.size === outgoingSize(file));
		return { channelId: message.channel_id, messageId: message.id, attachments, nonce: input.nonce, bytes, matchesSent };
	}

	/** See {@link ArchiveTransport.postCard}. */
	public async postCard(channelId: string, body: CardBody, options: PostMessageOptions = {}): Promise<MessageRecord> {
		const context = { action: `post a card in channel ${channelId}`, channelId };
		const message = await this.#createMessage(channelId, cardJson(body), [], options.nonce ?? randomNonce(), context, options.signal);
		return { channelId: message.channel_id, messageId: message.id, attachments: message.attachments.map(attachmentRecord) };
	}

	/** See {@link ArchiveTransport.editCard}: a card inside an archived thread (50083) gets it reopened and the edit retried once. */
	public async editCard(channelId: string, messageId: string, body: CardBody, options: CallOptions = {}): Promise<void> {
		const context = { action: `edit message ${messageId} in channel ${channelId}`, channelId, messageId };
		await this.#requests.callInThread(context, options.signal, (signal) =>
			this.#requests.rest.patch(Routes.channelMessage(channelId, messageId), { body: cardJson(body), signal })
		);
	}

	/** See {@link ArchiveTransport.postLine}. */
	public async postLine(channelId: string, content: string, options: PostMessageOptions = {}): Promise<MessageRecord> {
		const context = { action: `post a line in channel ${channelId}`, channelId };
		const message = await this.#createMessage(channelId, { content }, [], options.nonce ?? randomNonce(), context, options.signal);
		return { channelId: message.channel_id, messageId: message.id, attachments: [] };
	}

	/** See {@link ArchiveTransport.uploadFile}. */
	public async uploadFile(channelId: string, input: UploadFileInput): Promise<MessageRecord & { readonly bytes: number }> {
		const context = { action: `upload ${input.file.name} to channel ${channelId}`, channelId };
		const message = await this.#createMessage(
			channelId,
			{ content: input.content ?? '' },
			[input.file],
			input.nonce ?? randomNonce(),
			context,
			input.signal
		);
		input.onProgress?.(outgoingSize(input.file));
		return {
			channelId: message.channel_id,
			messageId: message.id,
			attachments: message.attachments.map(attachmentRecord),
			bytes: outgoingSize(input.file)
		};
	}

	/**
	 * A post whose answer never came: the thread's newest messages are searched for one posted by this bot itself
	 * (never merely "a bot": a webhook or another bot is one too) whose attachments are exactly `files` — names and
	 * sizes, then every attachment downloaded and its sha256 compared with the bytes sent. The OLDEST such message is
	 * the post (a later one is a duplicate). Null when none is: a look-alike is never adopted as the chunk, or a later
	 * resume would keep it and delete the good copy as a stray.
	 */
	async #findLandedPost(channelId: string, files: readonly OutgoingFile[], signal: AbortSignal | undefined): Promise<LiveMessage | null> {
		const options = signal ? { signal } : {};
		const selfId = await this.#reader.selfUserId(options);
		const recent = await this.#reader.recentMessages(channelId, { limit: LANDED_POST_SEARCH, ...options });
		const candidates = recent
			.filter(
				(message) =>
					message.authorId === selfId &&
					message.attachments.length === files.length &&
					files.every(
						(file, index) =>
							// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- Discord's reply is untrusted: it may hold fewer attachments than were sent
							message.attachments[index]?.filename === file.name && message.attachments[index]?.size === outgoingSize(file)
					)
			)
			.sort(compareSnowflakes);
		const hashes = files.map((file) => ('data' in file ? createHash('sha256').update(file.data).digest('hex') : file.sha256));
		for (const message of candidates) {
			if (await this.#holdsExactly(message, files, hashes, signal)) return message;
		}
		return null;
	}

	/** Whether every attachment of `message` has the bytes sent (sha256), downloaded and discarded. */
	async #holdsExactly(
		message: LiveMessage,
		files: readonly OutgoingFile[],
		hashes: readonly string[],
		signal: AbortSignal | undefined
	): Promise<boolean> {
		for (const [index, attachment] of message.attachments.entries()) {
			try {
				await this.#reader.downloadAttachment(
					{ channelId: message.channelId, messageId: message.id, attachmentId: attachment.id },
					{
						stream: new Writable({
							write: (_piece: Buffer, _encoding, callback) => {
								callback();
							}
						})
					},
					{ live: attachment, expectedSize: outgoingSize(files[index]!), expectedSha256: hashes[index]!, ...(signal ? { signal } : {}) }
				);
			} catch (error) {
				if (
					error instanceof TransportError &&
					(error.code === TransportErrorCode.HashMismatch || error.code === TransportErrorCode.SizeMismatch)
				) {
					return false;
				}
				throw error;
			}
		}
		return true;
	}

	/** POST a message (with files as multipart) with a nonce and enforce_nonce; 50083 reopens the thread once. */
	async #createMessage(
		channelId: string,
		json: RESTPostAPIChannelMessageJSONBody,
		files: readonly OutgoingFile[],
		nonce: string,
		context: OperationContext,
		signal: AbortSignal | undefined
	): Promise<APIMessage> {
		assertNonce(nonce);
		this.#checkOutgoing(json, files, context);
		const body: RESTPostAPIChannelMessageJSONBody = {
			...json,
			nonce,
			enforce_nonce: true,
			allowed_mentions: { parse: [] },
			...(files.length > 0 ? { attachments: files.map((file, index) => ({ id: index, filename: file.name })) } : {})
		};
		// The multipart body is built here rather than by the REST client, which copies every file into a new Blob:
		// a file on disk is attached as a Blob backed by the file, and streamed from it by each try of the request.
		const form = files.length > 0 ? await multipart(body, files) : undefined;
		return (await this.#requests.callInThread(context, signal, (requestSignal) =>
			this.#requests.rest.post(
				Routes.channelMessages(channelId),
				form === undefined ? { body, signal: requestSignal } : { body: form, passThroughBody: true, signal: requestSignal }
			)
		)) as APIMessage;
	}

	/** @throws RangeError / TransportError ATTACHMENT_TOO_LARGE for what Discord would refuse anyway. */
	#checkOutgoing(json: RESTPostAPIChannelMessageJSONBody, files: readonly OutgoingFile[], context: OperationContext): void {
		if ((json.content?.length ?? 0) > DiscordLimits.content) {
			throw new RangeError(`Message content is limited to ${DiscordLimits.content} characters (${context.action}).`);
		}
		if (files.length > DiscordLimits.attachmentsPerMessage) {
			throw new RangeError(`A message holds at most ${DiscordLimits.attachmentsPerMessage} attachments (${context.action}).`);
		}
		if (context.action.startsWith('post chunk') && files.length === 0) throw new RangeError('A chunk message needs at least one file.');
		const total = files.reduce((sum, file) => sum + outgoingSize(file), 0);
		const largest = files.reduce((max, file) => Math.max(max, outgoingSize(file)), 0);
		if ((this.#attachmentLimit !== undefined && largest > this.#attachmentLimit) || total > DiscordLimits.requestBytes) {
			throw new TransportError(
				TransportErrorCode.AttachmentTooLarge,
				`An attachment of ${largest} bytes (${total} in all) is over the limit of ${this.#attachmentLimit ?? DiscordLimits.requestBytes} bytes (${context.action}). Lower the chunk size or raise the attachment limit setting if this server allows more.`,
				{ channelId: context.channelId }
			);
		}
	}
}

/**
 * The multipart body of a message with files, as Discord takes it: `files[n]` parts and `payload_json`.
 * @throws TransportError SIZE_MISMATCH when a file on disk no longer has the size it was recorded with.
 */
async function multipart(body: RESTPostAPIChannelMessageJSONBody, files: readonly OutgoingFile[]): Promise<FormData> {
	const form = new FormData();
	for (const [index, file] of files.entries()) {
		let part: Blob;
		if ('data' in file) part = new Blob([file.data], { type: 'application/octet-stream' });
		else {
			part = await openAsBlob(file.path, { type: 'application/octet-stream' });
			if (part.size !== file.size) {
				throw new TransportError(
					TransportErrorCode.SizeMismatch,
					`The staged file ${file.path} holds ${part.size} bytes, not the ${file.size} recorded for ${file.name}: it changed after it was written, so it is not posted.`
				);
			}
		}
		form.append(`files[${index}]`, part, file.name);
	}
	form.append('payload_json', JSON.stringify(body));
	return form;
}

function attachmentRecord(attachment: { id: string; filename: string; size: number }): AttachmentRecord {
	return { id: attachment.id, filename: attachment.filename, size: attachment.size };
}

function cardJson(body: CardBody): RESTPostAPIChannelMessageJSONBody {
	return {
		...(body.content === undefined ? {} : { content: body.content }),
		...(body.embeds === undefined ? {} : { embeds: [...body.embeds] }),
		...(body.components === undefined ? {} : { components: [...body.components] }),
		allowed_mentions: { parse: [] }
	};
}
