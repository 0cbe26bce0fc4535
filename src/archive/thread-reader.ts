import { Writable } from 'node:stream';
import { CoreError, CoreErrorCode } from '../core/index.js';
import { type Archive, ArchiveFormat, ArchiveStatus } from '../db/index.js';
import { type AttachmentLocation, isTransportError, type LiveAttachment, TransportErrorCode } from '../discord/index.js';
import type { ArchiveContext } from './context.js';

/**
 * Reading an archive's thread (docs/design.md §4): listing its attachments with live URLs, naming where each lives, and
 * fetching small ones into memory. Used by downloads, verification, resumes and rebuilds alike; URLs are never stored.
 */

/** One attachment of an archive thread, as just listed: its live URL must be used at once, never stored. */
export interface ThreadAttachment {
	readonly messageId: string;
	readonly attachment: LiveAttachment;
	/** Who posted the message. */
	readonly authorId: string;
	/** Whether the bot itself posted it (not merely a bot: a webhook or another bot is one too). */
	readonly byBot: boolean;
}

/** An archive's thread, as far as it is known (a rebuild knows only what the names in the thread say). */
export interface ThreadRef {
	/** `#DDMMYY-NN`. */
	readonly id: string;
	readonly threadId: string;
	/** The index lot, when the archive is in the index (its records are then preferred). */
	readonly lot?: number;
	/** The uid the manifest must carry, when known. */
	readonly uid?: string;
}

/**
 * Every attachment of a thread, oldest message first, with live URLs (use them at once), each with its author and
 * whether that author is the bot itself.
 *
 * @throws {CoreError} MISSING_CHUNK when the thread is gone; TransportError otherwise.
 */
export async function listThreadAttachments(
	ctx: ArchiveContext,
	archive: Pick<ThreadRef, 'id' | 'threadId'>,
	signal?: AbortSignal
): Promise<ThreadAttachment[]> {
	const { threadId } = archive;
	const found: ThreadAttachment[] = [];
	const selfId = await ctx.transport.selfUserId(signal ? { signal } : {});
	try {
		for await (const message of ctx.transport.pageMessages(threadId, signal ? { signal } : {})) {
			const byBot = message.authorId === selfId;
			for (const attachment of message.attachments) found.push({ messageId: message.id, attachment, authorId: message.authorId, byBot });
		}
	} catch (error) {
		if (isTransportError(error, TransportErrorCode.NotFound)) {
			throw new CoreError(
				CoreErrorCode.MissingChunk,
				`The thread of archive ${archive.id} (${threadId}) is gone from Discord: the archive was deleted there. Its files cannot be fetched.`,
				{},
				{ cause: error }
			);
		}
		throw error;
	}
	return found;
}

/** The thread of an indexed archive. @throws {CoreError} NOT_FOUND as {@link requireThread}. */
export function threadRefOf(archive: Archive): ThreadRef {
	// A legacy archive imported from the original's history log has no thread: its chunk messages are fetched by id from
	// the storage channel its row names (listArchiveAttachments lists exactly those, never the whole channel).
	const threadless = archive.threadId === null && archive.format !== ArchiveFormat.Dos1 && archive.status !== ArchiveStatus.Deleted;
	const threadId = threadless && archive.channelId !== null ? archive.channelId : requireThread(archive);
	return { id: archive.id, threadId, lot: archive.lot, uid: archive.uid };
}

/** The thread id of an archive, or NOT_FOUND when it has none (never posted, or deleted). */
export function requireThread(archive: Archive): string {
	if (archive.status === ArchiveStatus.Deleted) {
		throw new CoreError(CoreErrorCode.NotFound, `Archive ${archive.id} was deleted (its thread is gone); there is nothing to fetch.`);
	}
	if (archive.threadId === null) {
		throw new CoreError(CoreErrorCode.NotFound, `Archive ${archive.id} has no thread on record: its upload never started. Upload it again.`);
	}
	return archive.threadId;
}

/** Where an attachment of an archive's thread lives. */
export function location(archive: Pick<ThreadRef, 'threadId'>, item: ThreadAttachment): AttachmentLocation {
	return { channelId: archive.threadId, messageId: item.messageId, attachmentId: item.attachment.id };
}

/**
 * A chunk that arrived damaged or is gone, as a CoreError naming it (index, file name and message); undefined for
 * other failures (Discord unavailable, disk full, stopped), which end the job.
 */
export function chunkFailure(
	error: unknown,
	archive: Pick<ThreadRef, 'id'>,
	index: number,
	label: string,
	item: ThreadAttachment | undefined
): CoreError | undefined {
	const where = item === undefined ? '' : ` (${item.attachment.filename}, message ${item.messageId})`;
	const details = { chunks: [index] };
	if (error instanceof CoreError && error.code === CoreErrorCode.TamperedChunk) {
		return new CoreError(CoreErrorCode.TamperedChunk, `${label}${where} is damaged: it ${error.message}.`, details, { cause: error });
	}
	if (isTransportError(error, TransportErrorCode.HashMismatch) || isTransportError(error, TransportErrorCode.SizeMismatch)) {
		return new CoreError(
			CoreErrorCode.TamperedChunk,
			`${label}${where} of ${archive.id} is damaged on Discord: its bytes do not match the recorded size and sha256.`,
			details,
			{ cause: error }
		);
	}
	if (isTransportError(error, TransportErrorCode.NotFound)) {
		return new CoreError(CoreErrorCode.MissingChunk, `${label}${where} of ${archive.id} is gone from Discord.`, details, { cause: error });
	}
	return undefined;
}

/** What {@link fetchAttachmentToMemory} fetches, and how a failure names it. */
export interface AttachmentToMemory {
	readonly location: AttachmentLocation;
	/** The size on record: the transport checks it before and while downloading, and no byte beyond it is kept. */
	readonly expectedSize: number;
	/** The sha256 on record, checked at the end. */
	readonly expectedSha256?: string | undefined;
	/** The attachment as just listed: its URL is tried first. */
	readonly live?: LiveAttachment;
	readonly signal?: AbortSignal | undefined;
	/** How a damaged or missing attachment is named (see {@link chunkFailure}). */
	readonly failure: {
		readonly archive: Pick<ThreadRef, 'id'>;
		readonly index: number;
		readonly label: string;
		readonly item: ThreadAttachment | undefined;
	};
}

/**
 * Downloads one small attachment (a manifest part, a sample chunk) into memory, checked against the recorded size and
 * sha256. More bytes than `expectedSize` are refused as they arrive, before they are kept: an attachment that grew on
 * Discord cannot make the process hold more than the record says.
 *
 * @throws {CoreError} TAMPERED_CHUNK / MISSING_CHUNK naming the attachment (see {@link chunkFailure}); TransportError
 * otherwise (Discord unavailable, stopped).
 */
export async function fetchAttachmentToMemory(ctx: ArchiveContext, fetch: AttachmentToMemory): Promise<Buffer> {
	// The transport cannot retry a stream it already wrote into: a connection cut mid-body is retried here, from a new
	// buffer, as the transport retries file downloads.
	for (let attempt = 1; ; attempt++) {
		try {
			return await fetchOnceToMemory(ctx, fetch);
		} catch (error) {
			const retryable = isTransportError(error, TransportErrorCode.DownloadFailed) && error.retryable;
			if (!retryable || attempt >= MEMORY_FETCH_ATTEMPTS || fetch.signal?.aborted === true) throw error;
		}
	}
}

/** Tries per small attachment fetched into memory (the transport's own retries come on top, before the first byte). */
const MEMORY_FETCH_ATTEMPTS = 3;

async function fetchOnceToMemory(ctx: ArchiveContext, fetch: AttachmentToMemory): Promise<Buffer> {
	const { expectedSize, failure } = fetch;
	const parts: Buffer[] = [];
	let received = 0;
	let overflow: CoreError | undefined;
	const sink = new Writable({
		write(piece: Buffer, _encoding, callback) {
			received += piece.length;
			if (received > expectedSize) {
				overflow ??= new CoreError(CoreErrorCode.TamperedChunk, `sent more than the ${expectedSize} bytes on record`);
				callback(overflow);
				return;
			}
			parts.push(piece);
			callback();
		}
	});
	// The refusal surfaces through the download below; the stream's own error event has nobody else to tell.
	sink.on('error', () => undefined);
	try {
		await ctx.transport.downloadAttachment(
			fetch.location,
			{ stream: sink },
			{
				expectedSize,
				...(fetch.live === undefined ? {} : { live: fetch.live }),
				...(fetch.expectedSha256 === undefined ? {} : { expectedSha256: fetch.expectedSha256 }),
				...(fetch.signal === undefined ? {} : { signal: fetch.signal })
			}
		);
		if (overflow !== undefined) throw overflow;
	} catch (error) {
		throw chunkFailure(overflow ?? error, failure.archive, failure.index, failure.label, failure.item) ?? error;
	}
	return Buffer.concat(parts);
}

/** Downloads a small attachment of an archive's thread (a manifest part, a sample chunk) into memory. */
export async function fetchToMemory(
	ctx: ArchiveContext,
	archive: Pick<ThreadRef, 'id' | 'threadId'>,
	item: ThreadAttachment,
	what: { readonly index: number; readonly kind: 'data' | 'manifest'; readonly expectedSha256: string | undefined; readonly expectedSize?: number },
	signal?: AbortSignal
): Promise<Buffer> {
	return fetchAttachmentToMemory(ctx, {
		location: location(archive, item),
		live: item.attachment,
		expectedSize: what.expectedSize ?? item.attachment.size,
		expectedSha256: what.expectedSha256,
		signal,
		// People count chunks from 1; the index (and the file name) stay as they are.
		failure: { archive, index: what.index, label: what.kind === 'data' ? `Chunk ${what.index + 1}` : `Manifest part ${what.index + 1}`, item }
	});
}
