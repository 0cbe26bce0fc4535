import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REST, Routes } from 'discord.js';
import {
	DiscordTransport,
	TransportErrorCode,
	chunkNonce,
	isTransportError,
	type LiveMessage,
	type ThreadInfo,
	type TransportError
} from '../../src/discord/index.js';
import { transportContract } from './contract.js';
import { startFixture, type EmulatorFixture } from './emulator-fixture.js';

const attachmentLimit = 256 * 1024;
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

transportContract('DiscordTransport over the emulator', async () => {
	const emu = await startFixture({ limits: { attachmentBytes: attachmentLimit, channelMessagesPerWindow: 1000, channelMessageWindowMs: 1000 } });
	return {
		transport: emu.transport(),
		archiveChannelId: emu.archiveChannelId,
		logChannelId: emu.logChannelId,
		messages: (channelId) => emu.messages(channelId),
		corruptAttachment: async (attachmentId) => {
			await emu.control('POST', `/attachments/${attachmentId}/corrupt`);
		},
		selfCheck: async () => {
			expect((await emu.stats()).unknownRoutes).toEqual([]);
		},
		close: () => emu.close()
	};
});

/** What only Discord does (rate limits, 5xx, CDN URLs, thread caps, lost answers, shared REST clients), over the emulator. */
describe('DiscordTransport against the emulator', () => {
	let emu: EmulatorFixture;
	let transport: DiscordTransport;
	let workDir: string;
	let uid = 0;
	/** A fresh card + thread for one test, so tests do not see each other's messages. */
	const newThread = async (name = `#241126-${String(++uid).padStart(2, '0')}`) => {
		const card = await transport.postCard(emu.archiveChannelId, { embeds: [{ title: name, description: 'uploading' }] });
		const thread = await transport.startThread({ channelId: emu.archiveChannelId, messageId: card.messageId, name });
		return { card, threadId: thread.id };
	};
	const chunkMessages = async (threadId: string) => (await emu.messages(threadId)).filter((message) => message.attachments.length > 0);

	beforeAll(async () => {
		emu = await startFixture({ limits: { attachmentBytes: attachmentLimit, channelMessagesPerWindow: 5, channelMessageWindowMs: 1000 } });
		transport = emu.transport();
		workDir = await mkdtemp(join(tmpdir(), 'dos-transport-'));
	});

	afterAll(async () => {
		await emu?.close();
		if (workDir) await rm(workDir, { recursive: true, force: true });
	});

	it('GIVEN the answer to a chunk post is lost after Discord stored it WHEN the post is retried THEN the nonce makes it one message', async () => {
		const { threadId } = await newThread();
		const data = randomBytes(20_000);
		await emu.faults({ dropAfterCommitNext: 1, routes: ['POST /channels/:channel/messages'] });
		try {
			const record = await transport.postChunk({
				threadId,
				files: [{ name: chunkName(0, data), data }],
				content: 'chunk 1/1',
				nonce: chunkNonce({ archiveUid: 'dropped', kind: 'data', index: 0, generation: 0 })
			});
			expect(await emu.faults({})).toMatchObject({ dropAfterCommitNext: 0 });
			const messages = await chunkMessages(threadId);
			expect(messages).toHaveLength(1);
			expect(messages[0]?.id).toBe(record.messageId);
		} finally {
			await emu.faults({ dropAfterCommitNext: 0, routes: null });
		}
	});

	it('GIVEN an attachment over the emulator limit WHEN posted THEN it fails ATTACHMENT_TOO_LARGE after one request', async () => {
		const { threadId } = await newThread();
		const data = randomBytes(attachmentLimit + 1);
		const before = (await emu.stats()).byRoute['POST /channels/:channel/messages'] ?? 0;
		const error = await rejection(
			transport.postChunk({
				threadId,
				files: [{ name: chunkName(0, data), data }],
				content: 'chunk 1/1',
				nonce: chunkNonce({ archiveUid: 'too-large', kind: 'data', index: 0, generation: 0 })
			})
		);
		expect(error.code).toBe(TransportErrorCode.AttachmentTooLarge);
		expect(error.status).toBe(413);
		expect(error.discordCode).toBe(40005);
		expect(error.retryable).toBe(false);
		expect((await emu.stats()).byRoute['POST /channels/:channel/messages']).toBe(before + 1);
		expect(await chunkMessages(threadId)).toHaveLength(0);
	});

	it('GIVEN a configured attachment limit WHEN a larger chunk is posted THEN it fails ATTACHMENT_TOO_LARGE without a request', async () => {
		const limited = emu.transport({ attachmentLimit: 1000 });
		const before = (await emu.stats()).requests;
		const error = await rejection(
			limited.postChunk({
				threadId: emu.archiveChannelId,
				files: [{ name: 'a.bin', data: randomBytes(1001) }],
				content: 'x',
				nonce: 'n1'
			})
		);
		expect(error.code).toBe(TransportErrorCode.AttachmentTooLarge);
		expect((await emu.stats()).requests).toBe(before);
	});

	it('GIVEN a CDN URL the CDN refuses (403/404) WHEN downloaded THEN the message is fetched again and the download succeeds', async () => {
		const { threadId } = await newThread();
		const data = randomBytes(5000);
		const record = await transport.postChunk({
			threadId,
			files: [{ name: chunkName(0, data), data }],
			content: 'chunk 1/1',
			nonce: chunkNonce({ archiveUid: 'forged', kind: 'data', index: 0, generation: 0 })
		});
		const live = (await transport.fetchMessage(threadId, record.messageId)).attachments[0]!;
		// Same expiry, broken signature: the CDN answers 404 as for a stale URL.
		const stale = { ...live, url: live.url.replace(/hm=[0-9a-f]+/, `hm=${'0'.repeat(64)}`) };
		const fetchesBefore = (await emu.stats()).byRoute['GET /channels/:channel/messages/:message'] ?? 0;
		const result = await transport.downloadAttachment(
			{ channelId: threadId, messageId: record.messageId, attachmentId: live.id },
			{ stream: new PassThrough().resume() },
			{ live: stale, expectedSize: data.byteLength, expectedSha256: sha256(data) }
		);
		expect(result.sha256).toBe(sha256(data));
		expect((await emu.stats()).byRoute['GET /channels/:channel/messages/:message']).toBe(fetchesBefore + 1);
	});

	it('GIVEN 5xx answers and connection resets WHEN chunks are posted and downloaded THEN all land exactly once and download intact', async () => {
		const { threadId } = await newThread();
		const chunks = [randomBytes(40_000), randomBytes(40_000), randomBytes(40_000)];
		// More 500s in a row than the REST client retries at once, so this layer's backoff has to carry on.
		await emu.faults({ serverErrorNext: 5, resetMidBodyNext: 2, routes: ['POST /channels/:channel/messages'] });
		const records = [];
		try {
			for (const [index, data] of chunks.entries()) {
				records.push(
					await transport.postChunk({
						threadId,
						files: [{ name: chunkName(index, data), data }],
						content: `chunk ${index + 1}/3`,
						nonce: chunkNonce({ archiveUid: 'faults', kind: 'data', index, generation: 0 })
					})
				);
			}
			expect(await emu.faults({})).toMatchObject({ serverErrorNext: 0, resetMidBodyNext: 0 });
		} finally {
			await emu.faults({ serverErrorNext: 0, resetMidBodyNext: 0, routes: null });
		}
		expect(await chunkMessages(threadId)).toHaveLength(3);
		expect((await emu.stats()).status5xx).toBeGreaterThanOrEqual(5);

		await emu.faults({ serverErrorNext: 3, routes: ['GET /attachments/:channel/:attachment/:filename'] });
		try {
			for (const [index, record] of records.entries()) {
				const result = await transport.downloadAttachment(
					{ channelId: threadId, messageId: record.messageId, attachmentId: record.attachments[0]!.id },
					{ stream: new PassThrough().resume() },
					{ expectedSize: chunks[index]!.byteLength, expectedSha256: sha256(chunks[index]!) }
				);
				expect(result.bytes).toBe(chunks[index]!.byteLength);
			}
			expect(await emu.faults({})).toMatchObject({ serverErrorNext: 0 });
		} finally {
			await emu.faults({ serverErrorNext: 0, routes: null });
		}
	});

	it('GIVEN files on disk WHEN posted through 5xx answers and connection resets THEN each try streams them whole, they land once and download intact; a file that changed size is refused before a request', async () => {
		const { threadId } = await newThread();
		const parts = [randomBytes(70_000), randomBytes(50_000)];
		const files = await Promise.all(
			parts.map(async (data, index) => {
				const file = join(workDir, `on-disk-${index}.pack`);
				await writeFile(file, data);
				return { name: chunkName(index, data), path: file, size: data.byteLength, sha256: sha256(data) };
			})
		);
		await emu.faults({ serverErrorNext: 2, resetMidBodyNext: 1, routes: ['POST /channels/:channel/messages'] });
		let record;
		try {
			record = await transport.postChunk({
				threadId,
				files,
				content: 'two packs',
				nonce: chunkNonce({ archiveUid: 'on-disk', kind: 'data', index: 0, generation: 0 })
			});
			expect(await emu.faults({})).toMatchObject({ serverErrorNext: 0, resetMidBodyNext: 0 });
		} finally {
			await emu.faults({ serverErrorNext: 0, resetMidBodyNext: 0, routes: null });
		}
		expect(record.matchesSent).toBe(true);
		expect(record.bytes).toBe(120_000);
		expect(await chunkMessages(threadId)).toHaveLength(1);
		for (const [index, data] of parts.entries()) {
			const result = await transport.downloadAttachment(
				{ channelId: threadId, messageId: record.messageId, attachmentId: record.attachments[index]!.id },
				{ stream: new PassThrough().resume() },
				{ expectedSize: data.byteLength, expectedSha256: sha256(data) }
			);
			expect(result.bytes).toBe(data.byteLength);
		}

		const requestsBefore = (await emu.stats()).byRoute['POST /channels/:channel/messages'];
		await writeFile(files[0]!.path, randomBytes(69_999));
		const changed = await rejection(
			transport.postChunk({
				threadId,
				files,
				content: 'changed',
				nonce: chunkNonce({ archiveUid: 'on-disk', kind: 'data', index: 1, generation: 0 })
			})
		);
		expect(changed.code).toBe(TransportErrorCode.SizeMismatch);
		expect(changed.message).toContain('not posted');
		expect((await emu.stats()).byRoute['POST /channels/:channel/messages']).toBe(requestsBefore);
	});

	it('GIVEN Discord keeps answering 500 WHEN a chunk is posted THEN it fails DISCORD_UNAVAILABLE after bounded retries', async () => {
		const { threadId } = await newThread();
		const impatient = emu.transport({ restRetries: 1, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
		await emu.faults({ serverErrorRate: 1, routes: ['POST /channels/:channel/messages'] });
		try {
			const data = randomBytes(100);
			const error = await rejection(
				impatient.postChunk({ threadId, files: [{ name: chunkName(0, data), data }], content: 'chunk 1/1', nonce: 'unavailable-1' })
			);
			expect(error.code).toBe(TransportErrorCode.DiscordUnavailable);
			expect(error.retryable).toBe(true);
		} finally {
			await emu.faults({ serverErrorRate: 0, routes: null });
		}
	});

	it('GIVEN a burst of chunk posts into one thread WHEN sent at once THEN they all land with few or no 429s', async () => {
		const { threadId } = await newThread();
		const before = (await emu.stats()).status429;
		const count = 12;
		const records = await Promise.all(
			Array.from({ length: count }, (_, index) => {
				const data = randomBytes(2000);
				return transport.postChunk({
					threadId,
					files: [{ name: chunkName(index, data), data }],
					content: `chunk ${index + 1}/${count}`,
					nonce: chunkNonce({ archiveUid: 'burst', kind: 'data', index, generation: 0 })
				});
			})
		);
		expect(new Set(records.map((record) => record.messageId)).size).toBe(count);
		expect(await chunkMessages(threadId)).toHaveLength(count);
		expect((await emu.stats()).status429 - before).toBeLessThanOrEqual(2);
	});

	it('GIVEN a short 429 storm WHEN a chunk is posted THEN the REST client waits it out and the chunk lands once', async () => {
		const { threadId } = await newThread();
		await emu.faults({ rateLimitNext: 2, rateLimitRetryAfterMs: 50, routes: ['POST /channels/:channel/messages'] });
		try {
			const data = randomBytes(1000);
			const before = (await emu.stats()).status429;
			await transport.postChunk({ threadId, files: [{ name: chunkName(0, data), data }], content: 'chunk 1/1', nonce: 'storm-1' });
			expect((await emu.stats()).status429 - before).toBe(2);
			expect(await chunkMessages(threadId)).toHaveLength(1);
		} finally {
			await emu.faults({ rateLimitNext: 0, rateLimitRetryAfterMs: 1000, routes: null });
		}
	});

	it('GIVEN a 429 asking to wait longer than the transport waits WHEN a chunk is posted THEN it fails RATE_LIMITED', async () => {
		const { threadId } = await newThread();
		const hurried = emu.transport({ maxRateLimitWaitMs: 1000 });
		await emu.faults({ rateLimitNext: 1, rateLimitRetryAfterMs: 60_000, routes: ['POST /channels/:channel/messages'] });
		try {
			const data = randomBytes(1000);
			const error = await rejection(
				hurried.postChunk({ threadId, files: [{ name: chunkName(0, data), data }], content: 'chunk 1/1', nonce: 'storm-2' })
			);
			expect(error.code).toBe(TransportErrorCode.RateLimited);
			expect(error.retryable).toBe(true);
		} finally {
			await emu.faults({ rateLimitNext: 0, rateLimitRetryAfterMs: 1000, routes: null });
		}
	});

	it('GIVEN an archived thread WHEN unarchived, locked and unlocked THEN each step reports the thread state', async () => {
		const { threadId } = await newThread('#241126-51');
		await transport.archiveThread(threadId);
		expect((await transport.unarchiveThread(threadId)).archived).toBe(false);
		expect(await transport.lockThread(threadId)).toMatchObject({ archived: false, locked: true });
		expect(await transport.unlockThread(threadId)).toMatchObject({ archived: false, locked: false });
	});

	it('GIVEN the bot lost its permissions in a channel WHEN it posts there THEN it fails MISSING_PERMISSIONS naming the channel', async () => {
		await emu.control('POST', '/permissions', { channelId: emu.logChannelId, revoke: true });
		try {
			const error = await rejection(transport.postLine(emu.logChannelId, 'index backup'));
			expect(error.code).toBe(TransportErrorCode.MissingPermissions);
			expect(error.channelId).toBe(emu.logChannelId);
			expect(error.message).toContain(emu.logChannelId);
			expect(error.message).not.toContain('emulator-test-token');
		} finally {
			await emu.control('POST', '/permissions', { channelId: emu.logChannelId, revoke: false });
		}
	});

	it('GIVEN a slow download WHEN its signal aborts once bytes flow THEN it fails ABORTED and leaves no file behind', async () => {
		const { threadId } = await newThread();
		const data = randomBytes(64 * 1024);
		const record = await transport.postChunk({
			threadId,
			files: [{ name: chunkName(0, data), data }],
			content: 'chunk 1/1',
			nonce: chunkNonce({ archiveUid: 'abort', kind: 'data', index: 0, generation: 0 })
		});
		await emu.faults({ downloadBytesPerSec: 256 * 1024 });
		try {
			const controller = new AbortController();
			const file = join(workDir, 'aborted.bin');
			let seen = 0;
			const error = await rejection(
				transport.downloadAttachment(
					{ channelId: threadId, messageId: record.messageId, attachmentId: record.attachments[0]!.id },
					{ file },
					{
						signal: controller.signal,
						expectedSize: data.byteLength,
						onProgress: (bytes) => {
							seen = bytes;
							if (bytes > 0) controller.abort();
						}
					}
				)
			);
			expect(error.code).toBe(TransportErrorCode.Aborted);
			expect(seen).toBeGreaterThan(0);
			expect(existsSync(file)).toBe(false);
			expect(existsSync(`${file}.part`)).toBe(false);
		} finally {
			await emu.faults({ downloadBytesPerSec: 0 });
		}
	});

	it('GIVEN a REST client shared with the bot WHEN the transport uses it and closes THEN requests work and the client stays usable', async () => {
		const rest = new REST({ api: emu.apiUrl, globalRequestsPerSecond: 1000 }).setToken('emulator-test-token');
		try {
			const shared = new DiscordTransport({ rest });
			const line = await shared.postLine(emu.logChannelId, 'through a shared client');
			shared.close();
			const fetched = (await rest.get(Routes.channelMessage(emu.logChannelId, line.messageId))) as { content: string };
			expect(fetched.content).toBe('through a shared client');
		} finally {
			rest.clearHashSweeper();
			rest.clearHandlerSweeper();
		}
	});

	it('GIVEN everything above WHEN the emulator lists unknown routes THEN the transport hit none', async () => {
		expect((await emu.stats()).unknownRoutes).toEqual([]);
	});
});

describe('DiscordTransport with short-lived CDN URLs, a small thread cap and many messages', () => {
	let emu: EmulatorFixture;
	let transport: DiscordTransport;

	beforeAll(async () => {
		emu = await startFixture({
			limits: { cdnUrlLifetimeMs: 1500, activeThreads: 2, channelMessagesPerWindow: 1000, channelMessageWindowMs: 1000 }
		});
		transport = emu.transport({ urlExpiryMarginMs: 0 });
	});

	afterAll(async () => {
		await emu?.close();
	});

	it('GIVEN a URL listed while paging WHEN it has expired before the download THEN a fresh one is fetched and the download succeeds', async () => {
		const card = await transport.postCard(emu.archiveChannelId, { content: 'expiry' });
		const { id: threadId } = await transport.startThread({ channelId: emu.archiveChannelId, messageId: card.messageId, name: 'expiry' });
		const data = randomBytes(3000);
		await transport.postChunk({ threadId, files: [{ name: 'expiry.bin', data }], content: 'chunk 1/1', nonce: 'expiry-1' });
		let listed: LiveMessage | undefined;
		for await (const message of transport.pageMessages(threadId)) if (message.attachments.length > 0) listed = message;
		const live = listed!.attachments[0]!;
		expect(live.expiresAt).not.toBeNull();
		await new Promise((resolve) => setTimeout(resolve, Math.max(0, live.expiresAt!.getTime() - Date.now()) + 100));
		const fetchesBefore = (await emu.stats()).byRoute['GET /channels/:channel/messages/:message'] ?? 0;
		const result = await transport.downloadAttachment(
			{ channelId: threadId, messageId: listed!.id, attachmentId: live.id },
			{ stream: new PassThrough().resume() },
			{ live, expectedSize: data.byteLength, expectedSha256: sha256(data) }
		);
		expect(result.sha256).toBe(sha256(data));
		expect((await emu.stats()).byRoute['GET /channels/:channel/messages/:message']).toBe(fetchesBefore + 1);
	});

	it('GIVEN the guild at its active-thread cap WHEN a thread is started THEN it waits for a thread to be archived, and gives up bounded', async () => {
		const state = (await emu.control('GET', '/state')) as { channels: { id: string; parentId: string | null; archived: boolean }[] };
		for (const channel of state.channels)
			if (channel.parentId === emu.archiveChannelId && !channel.archived) await transport.archiveThread(channel.id);
		const threads: ThreadInfo[] = [];
		for (const name of ['cap-a', 'cap-b']) {
			const card = await transport.postCard(emu.archiveChannelId, { content: name });
			threads.push(await transport.startThread({ channelId: emu.archiveChannelId, messageId: card.messageId, name }));
		}
		const waiting = await transport.postCard(emu.archiveChannelId, { content: 'cap-c' });
		const patient = emu.transport({ threadCapRetry: { attempts: 8, baseDelayMs: 100, maxDelayMs: 400 } });
		const started = patient.startThread({ channelId: emu.archiveChannelId, messageId: waiting.messageId, name: 'cap-c' });
		setTimeout(() => void transport.archiveThread(threads[0]!.id), 150);
		expect((await started).id).toBe(waiting.messageId);

		const hopeless = await transport.postCard(emu.archiveChannelId, { content: 'cap-d' });
		const error = await rejection(
			emu
				.transport({ threadCapRetry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } })
				.startThread({ channelId: emu.archiveChannelId, messageId: hopeless.messageId, name: 'cap-d' })
		);
		expect(error.code).toBe(TransportErrorCode.TooManyActiveThreads);
		expect(error.discordCode).toBe(160006);
	});
});
