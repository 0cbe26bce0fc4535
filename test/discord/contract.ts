import { createHash, randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ArchiveTransport, TransportErrorCode, chunkNonce, isTransportError, type TransportError } from '../../src/discord/index.js';

/**
 * The contract every {@link ArchiveTransport} passes, whatever it keeps archives in: one suite, run against each
 * implementation by a test file of its own (as restic's backend tests and tus-node-server's store tests are), so a
 * second implementation is held to exactly what the archive layer relies on. Only the interface is used here; what
 * the suite needs to see or do around the transport comes from the {@link ContractStore} the implementation's test
 * file builds. Failures injected into one medium (HTTP 5xx, 429, CDN resets) belong in that implementation's own tests.
 */

/** A message as the store holds it, read around the transport under test. */
export interface StoredMessage {
	readonly id: string;
	readonly content: string;
	readonly attachments: readonly { readonly id: string; readonly filename: string; readonly size: number }[];
}

/** One implementation set up for the suite: the transport under test and what the suite needs around it. */
export interface ContractStore {
	/** The transport under test. */
	readonly transport: ArchiveTransport;
	/** A channel to hold cards and their threads; it accepts attachments of at least 256 KiB. */
	readonly archiveChannelId: string;
	/** A second channel, for lines and index backups. */
	readonly logChannelId: string;
	/** The messages of a channel or thread as the store holds them, oldest first, read without the transport. */
	messages(channelId: string): Promise<readonly StoredMessage[]>;
	/** Damages the stored bytes of an attachment, keeping its size (as bit rot or tampering would). */
	corruptAttachment(attachmentId: string): Promise<void>;
	/** Checks of the store itself once the suite has run (e.g. that no request missed a known route). */
	selfCheck?(): Promise<void>;
	close(): Promise<void>;
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const chunkName = (index: number, data: Uint8Array) => `241126-07.c${String(index).padStart(6, '0')}.${sha256(data).slice(0, 12)}.bin`;

async function rejection(promise: Promise<unknown>): Promise<TransportError> {
	const error = await promise.then(
		() => {
			throw new Error('expected a rejection');
		},
		(caught: unknown) => caught
	);
	if (!isTransportError(error)) throw error;
	return error;
}

/** Runs the contract against the implementation `openStore` sets up (once for the whole suite). */
export function transportContract(implementation: string, openStore: () => Promise<ContractStore>): void {
	describe(`ArchiveTransport contract: ${implementation}`, () => {
		let store: ContractStore;
		let transport: ArchiveTransport;
		let workDir: string;
		let uid = 0;
		/** A fresh card + thread for one test, so tests do not see each other's messages. */
		const newThread = async (name = `#241126-${String(++uid).padStart(2, '0')}`) => {
			const card = await transport.postCard(store.archiveChannelId, { embeds: [{ title: name, description: 'uploading' }] });
			const thread = await transport.startThread({ channelId: store.archiveChannelId, messageId: card.messageId, name });
			return { card, threadId: thread.id };
		};
		const chunkMessages = async (threadId: string) => (await store.messages(threadId)).filter((message) => message.attachments.length > 0);

		beforeAll(async () => {
			store = await openStore();
			transport = store.transport;
			workDir = await mkdtemp(join(tmpdir(), 'dos-transport-contract-'));
		});

		afterAll(async () => {
			await store?.close();
			if (workDir) await rm(workDir, { recursive: true, force: true });
		});

		it('GIVEN chunks posted into a thread WHEN the thread is paged and each attachment downloaded THEN the bytes and hashes match, oldest first', async () => {
			const { threadId } = await newThread();
			const chunks = [randomBytes(100_000), randomBytes(1), randomBytes(200_000)];
			const posted = [];
			for (const [index, data] of chunks.entries()) {
				let reported = 0;
				posted.push(
					await transport.postChunk({
						threadId,
						files: [{ name: chunkName(index, data), data }],
						content: `chunk ${index + 1}/${chunks.length} · #241126-07`,
						nonce: chunkNonce({ archiveUid: 'round-trip', kind: 'data', index, generation: 0 }),
						onProgress: (bytes) => {
							reported = bytes;
						}
					})
				);
				expect(reported).toBe(data.byteLength);
			}
			for (const [index, record] of posted.entries()) {
				expect(record.channelId).toBe(threadId);
				expect(record.matchesSent).toBe(true);
				expect(record.attachments).toEqual([
					{ id: expect.any(String), filename: chunkName(index, chunks[index]!), size: chunks[index]!.byteLength }
				]);
				expect(JSON.stringify(record)).not.toContain('http');
			}

			const paged = [];
			for await (const message of transport.pageMessages(threadId)) if (message.attachments.length > 0) paged.push(message);
			expect(paged.map((message) => message.id)).toEqual(posted.map((record) => record.messageId));
			expect(paged[0]?.content).toBe('chunk 1/3 · #241126-07');

			for (const [index, message] of paged.entries()) {
				const attachment = message.attachments[0]!;
				const file = join(workDir, attachment.filename);
				const progress: number[] = [];
				const result = await transport.downloadAttachment(
					{ channelId: threadId, messageId: message.id, attachmentId: attachment.id },
					{ file },
					{
						live: attachment,
						expectedSize: chunks[index]!.byteLength,
						expectedSha256: sha256(chunks[index]!),
						onProgress: (bytes) => progress.push(bytes)
					}
				);
				expect(result).toEqual({ bytes: chunks[index]!.byteLength, sha256: sha256(chunks[index]!) });
				expect(Buffer.compare(await readFile(file), chunks[index]!)).toBe(0);
				expect(progress.at(-1)).toBe(chunks[index]!.byteLength);
			}
			expect((await readdir(workDir)).filter((name) => name.endsWith('.part'))).toEqual([]);
		});

		it('GIVEN a recorded attachment WHEN downloaded into a stream without a live URL THEN the message is fetched and the stream gets the bytes', async () => {
			const { threadId } = await newThread();
			const data = randomBytes(50_000);
			const record = await transport.postChunk({
				threadId,
				files: [{ name: chunkName(0, data), data }],
				content: 'chunk 1/1',
				nonce: chunkNonce({ archiveUid: 'stream', kind: 'data', index: 0, generation: 0 })
			});
			const sink = new PassThrough();
			const received: Buffer[] = [];
			sink.on('data', (piece: Buffer) => received.push(piece));
			await transport.downloadAttachment(
				{ channelId: threadId, messageId: record.messageId, attachmentId: record.attachments[0]!.id },
				{ stream: sink },
				{ expectedSize: data.byteLength, expectedSha256: sha256(data) }
			);
			expect(Buffer.compare(Buffer.concat(received), data)).toBe(0);
			expect(sink.writableEnded).toBe(true);
		});

		it('GIVEN the same nonce posted twice WHEN both posts return THEN the thread holds exactly one message', async () => {
			const { threadId } = await newThread();
			const data = randomBytes(10_000);
			const nonce = chunkNonce({ archiveUid: 'dedup', kind: 'data', index: 7, generation: 0 });
			const post = (payload: Buffer) =>
				transport.postChunk({ threadId, files: [{ name: chunkName(7, payload), data: payload }], content: 'chunk 8/9', nonce });
			const first = await post(data);
			const second = await post(data);
			expect(second.messageId).toBe(first.messageId);
			expect(second.matchesSent).toBe(true);
			// A chunk sealed again (other ciphertext, other name) under the same nonce gets the message that landed.
			const resealed = await post(randomBytes(10_000));
			expect(resealed.messageId).toBe(first.messageId);
			expect(resealed.matchesSent).toBe(false);
			expect(resealed.attachments).toEqual(first.attachments);
			expect(await chunkMessages(threadId)).toHaveLength(1);
		});

		it('GIVEN a corrupted attachment WHEN downloaded with its recorded hash THEN it fails HASH_MISMATCH and leaves no file', async () => {
			const { threadId } = await newThread();
			const data = randomBytes(30_000);
			const record = await transport.postChunk({
				threadId,
				files: [{ name: chunkName(0, data), data }],
				content: 'chunk 1/1',
				nonce: chunkNonce({ archiveUid: 'corrupt', kind: 'data', index: 0, generation: 0 })
			});
			const attachmentId = record.attachments[0]!.id;
			await store.corruptAttachment(attachmentId);
			const file = join(workDir, 'corrupt.bin');
			const error = await rejection(
				transport.downloadAttachment(
					{ channelId: threadId, messageId: record.messageId, attachmentId },
					{ file },
					{ expectedSize: data.byteLength, expectedSha256: sha256(data) }
				)
			);
			expect(error.code).toBe(TransportErrorCode.HashMismatch);
			expect(error.attachmentId).toBe(attachmentId);
			expect(existsSync(file)).toBe(false);
			expect(existsSync(`${file}.part`)).toBe(false);
		});

		it('GIVEN a recorded size that differs from what Discord lists WHEN downloaded THEN it fails SIZE_MISMATCH', async () => {
			const { threadId } = await newThread();
			const data = randomBytes(1000);
			const record = await transport.postChunk({
				threadId,
				files: [{ name: chunkName(0, data), data }],
				content: 'chunk 1/1',
				nonce: chunkNonce({ archiveUid: 'size', kind: 'data', index: 0, generation: 0 })
			});
			const error = await rejection(
				transport.downloadAttachment(
					{ channelId: threadId, messageId: record.messageId, attachmentId: record.attachments[0]!.id },
					{ stream: new PassThrough() },
					{ expectedSize: 999 }
				)
			);
			expect(error.code).toBe(TransportErrorCode.SizeMismatch);
		});

		it('GIVEN a card WHEN posted, edited and fetched THEN embeds and components travel as given and the thread shows on the card', async () => {
			const components = [{ type: 1, components: [{ type: 2, style: 1, label: 'Download', custom_id: 'archive:download:abc' }] }];
			const card = await transport.postCard(store.archiveChannelId, {
				embeds: [{ title: '#241126-99', description: 'uploading' }],
				components
			});
			await transport.editCard(store.archiveChannelId, card.messageId, { embeds: [{ title: '#241126-99', description: 'complete' }] });
			const fetched = await transport.fetchMessage(store.archiveChannelId, card.messageId);
			expect(fetched.embeds[0]).toMatchObject({ title: '#241126-99', description: 'complete' });
			expect(fetched.components).toMatchObject(components);
			expect(fetched.editedAt).not.toBeNull();

			const thread = await transport.startThread({ channelId: store.archiveChannelId, messageId: card.messageId, name: '#241126-99' });
			expect(thread.id).toBe(card.messageId);
			const cards = [];
			for await (const message of transport.pageMessages(store.archiveChannelId)) if (message.id === card.messageId) cards.push(message);
			expect(cards).toHaveLength(1);
			expect(cards[0]?.thread).toMatchObject({ id: card.messageId, archived: false });
		});

		it('GIVEN a thread WHEN started twice, archived, posted into, deleted twice THEN each step reports the thread state', async () => {
			const { card, threadId } = await newThread('#241126-50');
			expect(threadId).toBe(card.messageId);
			const again = await transport.startThread({ channelId: store.archiveChannelId, messageId: card.messageId, name: '#241126-50' });
			expect(again.id).toBe(threadId);

			expect((await transport.archiveThread(threadId)).archived).toBe(true);
			expect(await transport.fetchThread(threadId)).toMatchObject({ archived: true, locked: true });
			const data = randomBytes(100);
			await transport.postChunk({ threadId, files: [{ name: chunkName(0, data), data }], content: 'chunk 1/1', nonce: 'reopen-1' });
			// Reopened for the bot's post, and kept locked against members.
			expect(await transport.fetchThread(threadId)).toMatchObject({ archived: false, locked: true });

			expect(await transport.deleteThread(threadId)).toBe(true);
			expect(await transport.deleteThread(threadId)).toBe(false);
			expect((await rejection(transport.fetchThread(threadId))).code).toBe(TransportErrorCode.NotFound);
		});

		it('GIVEN a chunk message in an archived thread WHEN it is deleted twice THEN the first call deletes it and the second finds it gone', async () => {
			const { threadId } = await newThread();
			const data = randomBytes(100);
			const posted = await transport.postChunk({
				threadId,
				files: [{ name: chunkName(0, data), data }],
				content: 'chunk 1/1',
				nonce: 'delete-1'
			});
			await transport.archiveThread(threadId);
			expect(await transport.deleteMessage(threadId, posted.messageId)).toBe(true);
			expect(await transport.deleteMessage(threadId, posted.messageId)).toBe(false);
			expect((await store.messages(threadId)).map((message) => message.id)).not.toContain(posted.messageId);
		});

		it('GIVEN a message in an archived thread WHEN it is edited THEN the thread is reopened (50083) and the edit lands', async () => {
			const { threadId } = await newThread();
			const line = await transport.postLine(threadId, 'status: uploading');
			await transport.archiveThread(threadId);
			await transport.editCard(threadId, line.messageId, { content: 'status: complete' });
			const messages = await store.messages(threadId);
			expect(messages.find((message) => message.id === line.messageId)?.content).toBe('status: complete');
			expect((await transport.fetchThread(threadId)).archived).toBe(false);
		});

		it('GIVEN index backups in the log channel WHEN the recent messages are listed THEN the newest comes first with its attachment', async () => {
			const older = await transport.uploadFile(store.logChannelId, {
				file: { name: 'index-1.bin', data: randomBytes(500) },
				content: 'index backup 1'
			});
			await transport.postLine(store.logChannelId, 'a line between');
			const newer = await transport.uploadFile(store.logChannelId, {
				file: { name: 'index-2.bin', data: randomBytes(600) },
				content: 'index backup 2'
			});
			expect(newer.bytes).toBe(600);
			const recent = await transport.recentMessages(store.logChannelId, { limit: 3 });
			expect(recent.map((message) => message.id)).toEqual([newer.messageId, expect.any(String), older.messageId]);
			expect(recent[0]?.attachments[0]).toMatchObject({ filename: 'index-2.bin', size: 600 });
		});

		it('GIVEN files pinned and unpinned in a channel WHEN the pins are listed THEN the most recently pinned comes first, with its attachment, and both calls are idempotent', async () => {
			const first = await transport.uploadFile(store.logChannelId, { file: { name: 'pinned-1.bin', data: randomBytes(100) } });
			const second = await transport.uploadFile(store.logChannelId, { file: { name: 'pinned-2.bin', data: randomBytes(200) } });
			await transport.pinMessage(store.logChannelId, first.messageId);
			await new Promise((resolve) => setTimeout(resolve, 5));
			await transport.pinMessage(store.logChannelId, second.messageId);
			await transport.pinMessage(store.logChannelId, second.messageId);
			const pinned = await transport.pinnedMessages(store.logChannelId);
			expect(pinned.map((message) => message.id)).toEqual([second.messageId, first.messageId]);
			expect(pinned[0]?.attachments[0]).toMatchObject({ filename: 'pinned-2.bin', size: 200 });
			await transport.unpinMessage(store.logChannelId, second.messageId);
			await transport.unpinMessage(store.logChannelId, second.messageId);
			await transport.unpinMessage(store.logChannelId, first.messageId);
			expect(await transport.pinnedMessages(store.logChannelId)).toEqual([]);
			await transport.deleteMessage(store.logChannelId, first.messageId);
			await transport.deleteMessage(store.logChannelId, second.messageId);
		});

		it('GIVEN a download target in a folder that does not exist WHEN downloaded THEN the file-system error comes through, not DOWNLOAD_FAILED', async () => {
			const { threadId } = await newThread();
			const data = randomBytes(100);
			const record = await transport.postChunk({
				threadId,
				files: [{ name: chunkName(0, data), data }],
				content: 'chunk 1/1',
				nonce: chunkNonce({ archiveUid: 'no-folder', kind: 'data', index: 0, generation: 0 })
			});
			const error = await transport
				.downloadAttachment(
					{ channelId: threadId, messageId: record.messageId, attachmentId: record.attachments[0]!.id },
					{ file: join(workDir, 'missing-folder', 'a.bin') }
				)
				.catch((caught: unknown) => caught);
			expect(isTransportError(error)).toBe(false);
			expect((error as NodeJS.ErrnoException).code).toBe('ENOENT');
		});

		it('GIVEN an aborted signal WHEN a post or a download starts THEN it fails ABORTED', async () => {
			const controller = new AbortController();
			controller.abort();
			const data = randomBytes(100);
			const post = await rejection(
				transport.postChunk({
					threadId: store.archiveChannelId,
					files: [{ name: 'a.bin', data }],
					content: 'x',
					nonce: 'aborted-1',
					signal: controller.signal
				})
			);
			expect(post.code).toBe(TransportErrorCode.Aborted);
			const download = await rejection(
				transport.downloadAttachment(
					{ channelId: store.archiveChannelId, messageId: '1', attachmentId: '1' },
					{ stream: new PassThrough() },
					{ signal: controller.signal }
				)
			);
			expect(download.code).toBe(TransportErrorCode.Aborted);
		});

		it('GIVEN one signal WHEN many requests use it THEN none leaves a listener behind (dos index rebuild warned MaxListenersExceeded)', async () => {
			const controller = new AbortController();
			const { signal } = controller;
			const posted = await transport.postLine(store.archiveChannelId, 'a card', { signal });
			for (let n = 0; n < 15; n++) await transport.fetchMessage(store.archiveChannelId, posted.messageId, { signal });
			for await (const message of transport.pageMessages(store.archiveChannelId, { signal })) expect(message.id).toBeDefined();
			expect(getEventListeners(signal, 'abort')).toHaveLength(0);
		});

		it('GIVEN a request in flight WHEN the job signal aborts THEN the request is still aborted', async () => {
			const controller = new AbortController();
			controller.abort();
			await expect(transport.fetchMessage(store.archiveChannelId, '1', { signal: controller.signal })).rejects.toMatchObject({
				code: 'ABORTED'
			});
		});

		it('GIVEN a thread of 201 messages WHEN paged both ways THEN every message comes once, in order', async () => {
			const card = await transport.postCard(store.archiveChannelId, { content: 'paging' });
			const { id: threadId } = await transport.startThread({ channelId: store.archiveChannelId, messageId: card.messageId, name: 'paging' });
			const posted: string[] = [];
			for (let index = 0; index < 201; index++) posted.push((await transport.postLine(threadId, `line ${index}`)).messageId);
			const forward: string[] = [];
			for await (const message of transport.pageMessages(threadId)) if (message.content.startsWith('line ')) forward.push(message.id);
			expect(forward).toEqual(posted);
			const backward: string[] = [];
			for await (const message of transport.pageMessagesNewestFirst(threadId))
				if (message.content.startsWith('line ')) backward.push(message.id);
			expect(backward).toEqual([...posted].reverse());
			expect((await transport.recentMessages(threadId, { limit: 150 })).length).toBe(150);
		});

		it('GIVEN everything above WHEN the store checks itself THEN it finds nothing amiss', async () => {
			await store.selfCheck?.();
		});
	});
}
