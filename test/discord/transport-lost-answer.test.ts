import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chunkNonce, type DiscordTransport, isTransportError } from '../../src/discord/index.js';
import { type EmulatorFixture, startFixture } from './emulator-fixture.js';

/**
 * A chunk post whose every try lost its answer (the connection dropped after Discord stored the message) is "maybe
 * posted": before failing, the transport looks in the thread, and a message holding exactly these attachments is
 * the post. The upload goes on instead of failing on a chunk that is there.
 */

const CREATE = 'POST /channels/:channel/messages';
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const chunkName = (index: number, data: Uint8Array) => `241126-08.c${String(index).padStart(6, '0')}.${sha256(data).slice(0, 12)}.bin`;

let emu: EmulatorFixture;
let transport: DiscordTransport;

beforeEach(async () => {
	emu = await startFixture({ limits: { channelMessagesPerWindow: 1000, globalRequestsPerSecond: 10_000, routeRequestsPerSecond: 10_000 } });
	// One try, no immediate REST retries: a lost answer uses up every try the transport makes.
	transport = emu.transport({ restRetries: 0, retry: { attempts: 1 } });
});

afterEach(async () => {
	await emu.close();
});

async function newThread(): Promise<string> {
	const card = await transport.postCard(emu.archiveChannelId, { content: 'card' });
	return (await transport.startThread({ channelId: emu.archiveChannelId, messageId: card.messageId, name: '#241126-08' })).id;
}

describe('a chunk post whose answer is lost', () => {
	it('GIVEN every answer to the post lost after Discord stored it WHEN a chunk is posted THEN the landed message is found and returned, and the thread holds it once', async () => {
		const threadId = await newThread();
		const data = randomBytes(20_000);
		await emu.faults({ dropAfterCommitRate: 1, routes: [CREATE] });
		const record = await transport.postChunk({
			threadId,
			files: [{ name: chunkName(3, data), data }],
			content: 'chunk 4/9',
			nonce: chunkNonce({ archiveUid: 'lost', kind: 'data', index: 3, generation: 0 })
		});
		await emu.faults({ dropAfterCommitRate: 0, routes: null });
		const messages = (await emu.messages(threadId)).filter((message) => message.attachments.length > 0);
		expect(messages).toHaveLength(1);
		expect(record).toMatchObject({ messageId: messages[0]!.id, matchesSent: true, bytes: data.byteLength });
		expect(record.attachments[0]).toMatchObject({ id: messages[0]!.attachments[0]!.id, filename: chunkName(3, data), size: data.byteLength });
	});

	it('GIVEN a post that never reached Discord WHEN every try fails THEN it fails with DISCORD_UNAVAILABLE and nothing is adopted', async () => {
		const threadId = await newThread();
		const data = randomBytes(20_000);
		await emu.faults({ serverErrorRate: 1, routes: [CREATE] });
		const error = await transport
			.postChunk({
				threadId,
				files: [{ name: chunkName(5, data), data }],
				content: 'chunk 6/9',
				nonce: chunkNonce({ archiveUid: 'lost', kind: 'data', index: 5, generation: 0 })
			})
			.then(
				() => null,
				(caught: unknown) => caught
			);
		expect(isTransportError(error, 'DISCORD_UNAVAILABLE')).toBe(true);
	});

	const lostPost = async (threadId: string, data: Uint8Array, index: number) => {
		await emu.faults({ serverErrorRate: 1, routes: [CREATE] });
		try {
			return await transport
				.postChunk({
					threadId,
					files: [{ name: chunkName(index, data), data }],
					content: `chunk ${index + 1}/9`,
					nonce: chunkNonce({ archiveUid: 'lost', kind: 'data', index, generation: 0 })
				})
				.then(
					(record) => record,
					(caught: unknown) => caught
				);
		} finally {
			await emu.faults({ serverErrorRate: 0, routes: null });
		}
	};

	it('GIVEN a webhook planted a file with the same name and size WHEN the post itself never landed THEN the look-alike is not adopted', async () => {
		const threadId = await newThread();
		const data = randomBytes(20_000);
		const forged = Buffer.from(data);
		forged[0] = forged[0]! ^ 0xff;
		await emu.control('POST', `/channels/${threadId}/messages`, {
			author: 'webhook',
			content: 'chunk 8/9',
			files: [{ name: chunkName(7, data), data: forged.toString('base64') }]
		});
		const outcome = await lostPost(threadId, data, 7);
		expect(isTransportError(outcome, 'DISCORD_UNAVAILABLE')).toBe(true);
	});

	it('GIVEN a message of the bot with the same name and size but other bytes WHEN the post never landed THEN it is not adopted (bytes are compared)', async () => {
		const threadId = await newThread();
		const data = randomBytes(20_000);
		const other = randomBytes(20_000);
		await transport.uploadFile(threadId, { file: { name: chunkName(2, data), data: other } });
		const outcome = await lostPost(threadId, data, 2);
		expect(isTransportError(outcome, 'DISCORD_UNAVAILABLE')).toBe(true);
	});

	it('GIVEN the chunk landed twice WHEN a later post never landed THEN the OLDEST copy is adopted', async () => {
		const threadId = await newThread();
		const data = randomBytes(20_000);
		const first = await transport.uploadFile(threadId, { file: { name: chunkName(4, data), data } });
		await transport.uploadFile(threadId, { file: { name: chunkName(4, data), data } });
		const outcome = await lostPost(threadId, data, 4);
		expect(outcome).toMatchObject({ messageId: first.messageId, matchesSent: true });
	});
});
