import type { REST } from '@discordjs/rest';
import type { APIChannel, APIMessage, APIThreadChannel } from 'discord-api-types/v10';
import { Routes } from 'discord-api-types/v10';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { emulatorFor, expectNoUnknownRoutes, patterned, rejection, restFor } from './support.js';

let emulator: Emulator;
let rest: REST;

beforeEach(async () => {
	emulator = await emulatorFor({
		limits: { channelMessagesPerWindow: 1000, channelMessageWindowMs: 1000, globalRequestsPerSecond: 10_000, routeRequestsPerSecond: 10_000 }
	});
	rest = restFor(emulator);
});

afterEach(async () => {
	expectNoUnknownRoutes(emulator);
	await emulator.close();
});

const post = (channelId: string, body: Record<string, unknown>, files?: { name: string; data: Buffer }[]) =>
	rest.post(Routes.channelMessages(channelId), { body, ...(files ? { files } : {}) }) as Promise<APIMessage>;

describe('emulator REST: gateway and identity', () => {
	it('GIVEN a fresh emulator WHEN discord.js asks for /gateway/bot THEN it gets the loopback gateway URL and a session limit', async () => {
		const info = (await rest.get(Routes.gatewayBot())) as { url: string; shards: number; session_start_limit: { remaining: number } };
		expect(info.url).toBe(emulator.gatewayUrl);
		expect(info.url.startsWith('ws://127.0.0.1:')).toBe(true);
		expect(info.shards).toBe(1);
		expect(info.session_start_limit.remaining).toBeGreaterThan(0);
	});

	it('GIVEN the seeded world WHEN the state is read THEN the ids are 17–19 digit snowflakes and the channels are archive, log and storage', async () => {
		const state = emulator.state();
		for (const id of [state.guildId, state.applicationId, state.botUserId, state.users.owner, state.users.member, state.users.outsider]) {
			expect(id).toMatch(/^\d{17,19}$/);
		}
		expect(state.channels.map((channel) => channel.name).sort()).toEqual(['archive', 'log', 'storage']);
		const me = (await rest.get(Routes.user('@me'))) as { id: string; bot: boolean };
		expect(me).toMatchObject({ id: state.botUserId, bot: true });
		const channel = (await rest.get(Routes.channel(emulator.ids.channels.archive))) as APIChannel;
		expect(channel).toMatchObject({ id: emulator.ids.channels.archive, name: 'archive', type: 0, guild_id: state.guildId });
	});

	it('GIVEN no token WHEN a request is made THEN it gets 401 like Discord', async () => {
		const response = await fetch(`${emulator.apiUrl}/v10/channels/${emulator.ids.channels.archive}`);
		expect(response.status).toBe(401);
		expect(response.headers.get('content-type')).toContain('application/json');
	});

	it('GIVEN a route Discord has but the emulator does not WHEN it is called THEN it answers 404 and records it', async () => {
		const response = await fetch(`${emulator.apiUrl}/v10/channels/${emulator.ids.channels.archive}/pins`, {
			headers: { Authorization: `Bot ${emulator.token}` }
		});
		expect(response.status).toBe(404);
		expect(emulator.stats().unknownRoutes).toEqual([`GET /api/v10/channels/${emulator.ids.channels.archive}/pins`]);
		emulator.resetStats();
	});
});

describe('emulator REST: messages', () => {
	it('GIVEN messages in a channel WHEN they are fetched, edited and deleted THEN discord.js sees Discord shapes and the control API agrees', async () => {
		const channelId = emulator.ids.channels.archive;
		const first = await post(channelId, { content: 'one', embeds: [{ title: 'card', fields: [{ name: 'a', value: 'b' }] }] });
		expect(first).toMatchObject({
			channel_id: channelId,
			content: 'one',
			author: { id: emulator.ids.botUserId, bot: true },
			edited_timestamp: null
		});
		expect(first.embeds[0]).toMatchObject({ title: 'card' });
		const fetched = (await rest.get(Routes.channelMessage(channelId, first.id))) as APIMessage;
		expect(fetched.id).toBe(first.id);
		const edited = (await rest.patch(Routes.channelMessage(channelId, first.id), { body: { content: 'edited' } })) as APIMessage;
		expect(edited.content).toBe('edited');
		expect(edited.edited_timestamp).not.toBeNull();
		expect(emulator.messages(channelId)[0]).toMatchObject({ id: first.id, content: 'edited', author: { id: emulator.ids.botUserId, bot: true } });
		await rest.delete(Routes.channelMessage(channelId, first.id));
		expect(emulator.messages(channelId)).toEqual([]);
		const missing = await rejection(rest.get(Routes.channelMessage(channelId, first.id)));
		expect(missing).toMatchObject({ status: 404, code: 10008 });
	});

	it('GIVEN 7 messages WHEN paged with limit/before/after/around THEN pages are newest first and walk like Discord', async () => {
		const channelId = emulator.ids.channels.log;
		const ids: string[] = [];
		for (let index = 0; index < 7; index++) ids.push((await post(channelId, { content: `m${index}` })).id);
		const list = async (query: string) =>
			((await rest.get(Routes.channelMessages(channelId), { query: new URLSearchParams(query) })) as APIMessage[]).map(
				(message) => message.content
			);
		expect(await list('limit=3')).toEqual(['m6', 'm5', 'm4']);
		expect(await list(`limit=3&before=${ids[4]}`)).toEqual(['m3', 'm2', 'm1']);
		expect(await list(`limit=3&after=${ids[1]}`)).toEqual(['m4', 'm3', 'm2']);
		expect(await list(`limit=3&around=${ids[3]}`)).toEqual(['m4', 'm3', 'm2']);
		expect(await list(`after=${ids[6]}`)).toEqual([]);
		const bad = await rejection(rest.get(Routes.channelMessages(channelId), { query: new URLSearchParams('limit=101') }));
		expect(bad).toMatchObject({ status: 400, code: 50035 });
	});

	it('GIVEN a nonce with enforce_nonce WHEN the same message is posted twice THEN the second returns the first and nothing is duplicated', async () => {
		const channelId = emulator.ids.channels.archive;
		const body = { content: 'chunk 1', nonce: 'lot-07-chunk-0001', enforce_nonce: true };
		const first = await post(channelId, body, [{ name: 'c1.bin', data: patterned(1000) }]);
		const second = await post(channelId, body, [{ name: 'c1.bin', data: patterned(1000) }]);
		expect(second.id).toBe(first.id);
		expect(emulator.messages(channelId)).toHaveLength(1);
		expect(emulator.stats().attachments).toBe(1);
		const withoutEnforce = await post(channelId, { content: 'chunk 1', nonce: 'lot-07-chunk-0001' });
		expect(withoutEnforce.id).not.toBe(first.id);
	});
});

describe('emulator REST: uploads and the CDN', () => {
	it('GIVEN a multipart upload with payload_json WHEN it is downloaded from the signed URL THEN the bytes, name and size match', async () => {
		const data = patterned(300_000, 7);
		const message = await post(emulator.ids.channels.archive, { content: '', attachments: [{ id: '0', description: 'chunk' }] }, [
			{ name: 'a1b2.bin', data }
		]);
		const [attachment] = message.attachments;
		expect(attachment).toMatchObject({ filename: 'a1b2.bin', size: data.length, description: 'chunk' });
		const url = new URL(attachment!.url);
		expect(url.searchParams.get('ex')).toMatch(/^[0-9a-f]+$/);
		expect(url.searchParams.get('is')).toMatch(/^[0-9a-f]+$/);
		expect(url.searchParams.get('hm')).toMatch(/^[0-9a-f]{64}$/);
		const response = await fetch(attachment!.url);
		expect(response.status).toBe(200);
		expect(Buffer.from(await response.arrayBuffer()).equals(data)).toBe(true);
		const ranged = await fetch(attachment!.url, { headers: { Range: 'bytes=10-19' } });
		expect(ranged.status).toBe(206);
		expect(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(10, 20))).toBe(true);
	});

	it('GIVEN a signed URL WHEN its signature or expiry is forged THEN the CDN answers 404', async () => {
		const message = await post(emulator.ids.channels.archive, { content: 'x' }, [{ name: 'f.bin', data: patterned(100) }]);
		const url = new URL(message.attachments[0]!.url);
		const forged = new URL(url);
		forged.searchParams.set('hm', 'f'.repeat(64));
		expect((await fetch(forged)).status).toBe(404);
		const extended = new URL(url);
		extended.searchParams.set('ex', (Number.parseInt(url.searchParams.get('ex')!, 16) + 3600).toString(16));
		expect((await fetch(extended)).status).toBe(404);
		const unsigned = `${url.origin}${url.pathname}`;
		expect((await fetch(unsigned)).status).toBe(404);
	});

	it('GIVEN a URL past its lifetime WHEN it is used THEN 404, and the message fetched again carries a fresh working URL', async () => {
		emulator.setLimits({ cdnUrlLifetimeMs: 1 });
		const message = await post(emulator.ids.channels.archive, { content: 'x' }, [{ name: 'f.bin', data: patterned(100) }]);
		expect((await fetch(message.attachments[0]!.url)).status).toBe(404);
		emulator.setLimits({ cdnUrlLifetimeMs: 86_400_000 });
		const again = (await rest.get(Routes.channelMessage(emulator.ids.channels.archive, message.id))) as APIMessage;
		expect(again.attachments[0]!.url).not.toBe(message.attachments[0]!.url);
		expect((await fetch(again.attachments[0]!.url)).status).toBe(200);
	});

	it('GIVEN an attachment WHEN the control API corrupts it THEN exactly one byte differs on download', async () => {
		const data = patterned(4096, 3);
		const message = await post(emulator.ids.channels.archive, { content: 'x' }, [{ name: 'f.bin', data }]);
		const { offset } = await emulator.corruptAttachment(message.attachments[0]!.id);
		const downloaded = Buffer.from(await (await fetch(message.attachments[0]!.url)).arrayBuffer());
		expect(downloaded.length).toBe(data.length);
		const differing = [...downloaded].map((byte, index) => (byte === data[index] ? -1 : index)).filter((index) => index >= 0);
		expect(differing).toEqual([offset]);
	});
});

describe('emulator REST: the rules Discord enforces', () => {
	it('GIVEN a file over the attachment limit WHEN posted THEN 413/40005 and nothing is stored', async () => {
		await emulator.close();
		emulator = await emulatorFor({ attachmentLimit: 64 * 1024 });
		rest = restFor(emulator);
		const error = await rejection(post(emulator.ids.channels.archive, { content: 'x' }, [{ name: 'big.bin', data: patterned(64 * 1024 + 1) }]));
		expect(error).toMatchObject({ status: 413, code: 40005 });
		expect(emulator.stats()).toMatchObject({ messages: 0, attachments: 0, bytesStored: 0 });
		expect(readdirSync(join(emulator.dataDir, 'incoming'))).toEqual([]);
		const fits = await post(emulator.ids.channels.archive, { content: 'x' }, [{ name: 'ok.bin', data: patterned(64 * 1024) }]);
		expect(fits.attachments[0]!.size).toBe(64 * 1024);
	});

	it('GIVEN files whose sum is over the request limit WHEN posted THEN 413/40005', async () => {
		emulator.setLimits({ requestBytes: 100_000 });
		const files = [0, 1, 2].map((index) => ({ name: `f${index}.bin`, data: patterned(40_000, index) }));
		expect(await rejection(post(emulator.ids.channels.archive, { content: 'x' }, files))).toMatchObject({ status: 413, code: 40005 });
	});

	it('GIVEN 11 files WHEN posted THEN 400/30015', async () => {
		const files = Array.from({ length: 11 }, (_, index) => ({ name: `f${index}.bin`, data: patterned(10, index) }));
		expect(await rejection(post(emulator.ids.channels.archive, { content: 'x' }, files))).toMatchObject({ status: 400, code: 30015 });
		const ten = await post(emulator.ids.channels.archive, { content: 'x' }, files.slice(0, 10));
		expect(ten.attachments.map((attachment) => attachment.filename)).toEqual(files.slice(0, 10).map((file) => file.name));
	});

	it('GIVEN content, embed and component limits WHEN each is exceeded THEN 400/50035 names the field', async () => {
		const channelId = emulator.ids.channels.archive;
		const refused = async (body: Record<string, unknown>) => {
			const error = await rejection(post(channelId, body));
			expect(error).toMatchObject({ status: 400, code: 50035 });
			return error.message;
		};
		expect(await refused({ content: 'x'.repeat(2001) })).toContain('content');
		expect(await refused({ embeds: [{ title: 't'.repeat(257) }] })).toContain('embeds[0].title');
		expect(await refused({ embeds: [{ description: 'd'.repeat(4097) }] })).toContain('embeds[0].description');
		expect(await refused({ embeds: [{ fields: Array.from({ length: 26 }, () => ({ name: 'n', value: 'v' })) }] })).toContain('embeds[0].fields');
		expect(await refused({ embeds: [{ fields: [{ name: 'n', value: 'v'.repeat(1025) }] }] })).toContain('embeds[0].fields[0].value');
		expect(await refused({ embeds: [{ footer: { text: 'f'.repeat(2049) } }] })).toContain('embeds[0].footer.text');
		expect(await refused({ embeds: [{ title: 't', url: `https://example.com/#${'u'.repeat(2049)}` }] })).toContain('embeds[0].url');
		expect(await refused({ embeds: [{ title: 't', url: 'javascript:alert(1)' }] })).toContain('URL_TYPE_INVALID_SCHEME');
		expect(await refused({ embeds: [{ title: 't', url: 'not a url' }] })).toContain('URL_TYPE_INVALID_URL');
		expect(await post(channelId, { embeds: [{ title: 't', url: `https://dos.invalid/dos-card/1#${'u'.repeat(2000)}` }] })).toMatchObject({
			embeds: [{ url: `https://dos.invalid/dos-card/1#${'u'.repeat(2000)}` }]
		});
		expect(await refused({ embeds: [{ description: 'd'.repeat(4000) }, { description: 'd'.repeat(2001) }] })).toContain(
			'MAX_EMBED_SIZE_EXCEEDED'
		);
		const row = (prefix: string) => ({ type: 1, components: [{ type: 2, style: 1, label: 'go', custom_id: prefix }] });
		expect(await refused({ components: Array.from({ length: 6 }, (_, index) => row(`b${index}`)) })).toContain('components');
		expect(await refused({ components: [row('x'.repeat(101))] })).toContain('components[0].components[0].custom_id');
		const sixButtons = {
			type: 1,
			components: Array.from({ length: 6 }, (_, index) => ({ type: 2, style: 1, label: 'b', custom_id: `b${index}` }))
		};
		expect(await refused({ components: [sixButtons] })).toContain('components[0].components');
		const ok = await post(channelId, {
			content: 'c'.repeat(2000),
			components: Array.from({ length: 5 }, (_, index) => row(`archive:download:${'u'.repeat(80)}${index}`))
		});
		expect(ok.components).toHaveLength(5);
	});

	it('GIVEN an empty message WHEN posted THEN 400/50006', async () => {
		expect(await rejection(post(emulator.ids.channels.archive, { content: '' }))).toMatchObject({ status: 400, code: 50006 });
	});
});

describe('emulator REST: threads', () => {
	it('GIVEN a card WHEN a thread is started from it THEN the thread id is the message id and the message carries it', async () => {
		const card = await post(emulator.ids.channels.archive, { content: 'card' });
		const thread = (await rest.post(Routes.threads(emulator.ids.channels.archive, card.id), {
			body: { name: '#241126-07', auto_archive_duration: 1440 }
		})) as APIThreadChannel;
		expect(thread).toMatchObject({ id: card.id, type: 11, parent_id: emulator.ids.channels.archive, name: '#241126-07' });
		expect(thread.thread_metadata).toMatchObject({ archived: false, auto_archive_duration: 1440, locked: false });
		const again = (await rest.get(Routes.channelMessage(emulator.ids.channels.archive, card.id))) as APIMessage;
		expect(again.thread?.id).toBe(card.id);
		expect(emulator.messages(emulator.ids.channels.archive)[0]!.thread).toEqual({ id: card.id, name: '#241126-07', archived: false });
		const twice = await rejection(rest.post(Routes.threads(emulator.ids.channels.archive, card.id), { body: { name: 'again' } }));
		expect(twice).toMatchObject({ status: 400, code: 160004 });
	});

	it('GIVEN no starter message WHEN a public thread is started THEN it gets its own id and the parent gets a thread-created message', async () => {
		const thread = (await rest.post(Routes.threads(emulator.ids.channels.log), {
			body: { name: 'backups', type: 11, auto_archive_duration: 60 }
		})) as APIThreadChannel;
		expect(thread).toMatchObject({ type: 11, parent_id: emulator.ids.channels.log });
		expect(emulator.messages(emulator.ids.channels.log).map((message) => message.type)).toEqual([18]);
		const state = emulator.state();
		expect(state.channels.find((channel) => channel.id === thread.id)).toMatchObject({ parentId: emulator.ids.channels.log, archived: false });
	});

	it('GIVEN an archived thread WHEN a message in it is edited THEN 50083; WHEN one is posted THEN the thread unarchives', async () => {
		const card = await post(emulator.ids.channels.archive, { content: 'card' });
		await rest.post(Routes.threads(emulator.ids.channels.archive, card.id), { body: { name: 't' } });
		const chunk = await post(card.id, { content: 'chunk' });
		const archived = (await rest.patch(Routes.channel(card.id), { body: { archived: true } })) as APIThreadChannel;
		expect(archived.thread_metadata?.archived).toBe(true);
		expect(await rejection(rest.patch(Routes.channelMessage(card.id, chunk.id), { body: { content: 'x' } }))).toMatchObject({
			status: 400,
			code: 50083
		});
		expect(await rejection(rest.delete(Routes.channelMessage(card.id, chunk.id)))).toMatchObject({ status: 400, code: 50083 });
		const listed = (await rest.get(Routes.channelMessages(card.id))) as APIMessage[];
		expect(listed.map((message) => message.id)).toEqual([chunk.id]);
		await post(card.id, { content: 'more' });
		expect(((await rest.get(Routes.channel(card.id))) as APIThreadChannel).thread_metadata?.archived).toBe(false);
		await rest.patch(Routes.channel(card.id), { body: { archived: true, locked: true } });
		expect(await rejection(post(card.id, { content: 'locked' }))).toMatchObject({ status: 400, code: 50083 });
		const card2 = await post(emulator.ids.channels.archive, { content: 'card stays editable' });
		expect(
			((await rest.patch(Routes.channelMessage(emulator.ids.channels.archive, card2.id), { body: { content: 'ok' } })) as APIMessage).content
		).toBe('ok');
	});

	it('GIVEN a locked thread WHEN a member or the outsider posts or reopens it THEN 160005 / 50013; the owner and the bot (Manage Threads) may reopen it and post', async () => {
		const card = await post(emulator.ids.channels.archive, { content: 'card' });
		await rest.post(Routes.threads(emulator.ids.channels.archive, card.id), { body: { name: 't' } });
		await post(card.id, { content: 'chunk' });
		await emulator.postAsUser(card.id, 'member', 'an unlocked archive thread takes anyone’s post');
		const closed = (await rest.patch(Routes.channel(card.id), { body: { archived: true, locked: true } })) as APIThreadChannel;
		expect(closed.thread_metadata).toMatchObject({ archived: true, locked: true });
		for (const user of ['member', 'outsider'] as const) {
			expect(await rejection(emulator.postAsUser(card.id, user, 'sneaking in'))).toMatchObject({ status: 400, code: 160005 });
		}
		// Even a moderator cannot reopen a locked thread by posting: it unarchives it first.
		expect(await rejection(emulator.postAsUser(card.id, 'owner', 'reopen by posting'))).toMatchObject({ status: 400, code: 50083 });
		expect(emulator.state().channels.find((channel) => channel.id === card.id)).toMatchObject({ archived: true, locked: true });
		// Nor can a member reopen it; a moderator can.
		for (const user of ['member', 'outsider'] as const) {
			expect(
				await rejection(
					Promise.resolve().then(() => {
						emulator.unarchiveThreadAs(card.id, user);
					})
				)
			).toMatchObject({
				status: 403,
				code: 50013
			});
		}
		expect(emulator.state().channels.find((channel) => channel.id === card.id)).toMatchObject({ archived: true, locked: true });
		emulator.unarchiveThreadAs(card.id, 'owner');
		expect(emulator.state().channels.find((channel) => channel.id === card.id)).toMatchObject({ archived: false, locked: true });
		expect(await rejection(emulator.postAsUser(card.id, 'member', 'open but locked'))).toMatchObject({ status: 400, code: 160005 });
		await emulator.postAsUser(card.id, 'owner', 'a moderator may post into a locked thread');
		await post(card.id, { content: 'so may the bot' });
		const authors = emulator.messages(card.id).map((message) => message.author.id);
		expect(authors).not.toContain(emulator.ids.users.outsider);
		expect(authors.filter((id) => id === emulator.ids.users.member)).toHaveLength(1);
	});

	it('GIVEN a thread with attachments WHEN it is deleted THEN its messages and bytes are gone and its URLs answer 404', async () => {
		const card = await post(emulator.ids.channels.archive, { content: 'card' });
		await rest.post(Routes.threads(emulator.ids.channels.archive, card.id), { body: { name: 't' } });
		const chunk = await post(card.id, { content: '' }, [{ name: 'c.bin', data: patterned(5000) }]);
		expect(emulator.stats().bytesStored).toBe(5000);
		await rest.delete(Routes.channel(card.id));
		expect(emulator.stats()).toMatchObject({ bytesStored: 0, attachments: 0, messages: 1 });
		expect((await fetch(chunk.attachments[0]!.url)).status).toBe(404);
		expect(await rejection(rest.get(Routes.channelMessages(card.id)))).toMatchObject({ status: 404, code: 10003 });
		expect(emulator.messages(emulator.ids.channels.archive)[0]!.thread).toBeNull();
	});

	it('GIVEN the active thread cap WHEN one more thread starts THEN 160006, and archiving one makes room', async () => {
		emulator.setLimits({ activeThreads: 2 });
		const start = async () => {
			const card = await post(emulator.ids.channels.archive, { content: 'card' });
			return rest.post(Routes.threads(emulator.ids.channels.archive, card.id), { body: { name: 't' } }) as Promise<APIThreadChannel>;
		};
		const first = await start();
		await start();
		expect(await rejection(start())).toMatchObject({ status: 400, code: 160006 });
		await rest.patch(Routes.channel(first.id), { body: { archived: true } });
		await start();
		const active = (await rest.get(Routes.guildActiveThreads(emulator.ids.guildId))) as { threads: APIThreadChannel[] };
		expect(active.threads).toHaveLength(2);
		const archived = (await rest.get(Routes.channelThreads(emulator.ids.channels.archive, 'public'))) as {
			threads: APIThreadChannel[];
			has_more: boolean;
		};
		expect(archived.threads.map((thread) => thread.id)).toEqual([first.id]);
	});
});

describe('emulator REST: rate limits', () => {
	it('GIVEN a 2-per-window channel bucket WHEN discord.js posts 5 messages THEN it paces itself from the headers and never gets a 429', async () => {
		emulator.setLimits({ channelMessagesPerWindow: 2, channelMessageWindowMs: 300 });
		let waits = 0;
		rest.on('rateLimited', () => waits++);
		for (let index = 0; index < 5; index++) await post(emulator.ids.channels.archive, { content: `m${index}` });
		expect(waits).toBeGreaterThan(0);
		expect(emulator.stats().status429).toBe(0);
		expect(emulator.messages(emulator.ids.channels.archive)).toHaveLength(5);
	});

	it('GIVEN a full bucket WHEN a raw request comes THEN 429 with retry_after and the X-RateLimit headers', async () => {
		emulator.setLimits({ channelMessagesPerWindow: 1, channelMessageWindowMs: 60_000 });
		const send = () =>
			fetch(`${emulator.apiUrl}/v10/channels/${emulator.ids.channels.log}/messages`, {
				method: 'POST',
				headers: { Authorization: `Bot ${emulator.token}`, 'Content-Type': 'application/json' },
				body: JSON.stringify({ content: 'x' })
			});
		const ok = await send();
		expect(ok.status).toBe(200);
		expect(ok.headers.get('x-ratelimit-limit')).toBe('1');
		expect(ok.headers.get('x-ratelimit-remaining')).toBe('0');
		expect(Number(ok.headers.get('x-ratelimit-reset-after'))).toBeGreaterThan(0);
		expect(ok.headers.get('x-ratelimit-bucket')).toMatch(/^[0-9a-f]{16}$/);
		const limited = await send();
		expect(limited.status).toBe(429);
		expect(limited.headers.get('x-ratelimit-scope')).toBe('user');
		const body = (await limited.json()) as { retry_after: number; global: boolean };
		expect(body.global).toBe(false);
		expect(body.retry_after).toBeGreaterThan(0);
		expect(emulator.stats().status429).toBe(1);
		const otherChannel = await fetch(`${emulator.apiUrl}/v10/channels/${emulator.ids.channels.archive}/messages`, {
			method: 'POST',
			headers: { Authorization: `Bot ${emulator.token}`, 'Content-Type': 'application/json' },
			body: JSON.stringify({ content: 'x' })
		});
		expect(otherChannel.status).toBe(200);
	});

	it('GIVEN the global limit WHEN exceeded THEN 429 with X-RateLimit-Global', async () => {
		emulator.setLimits({ globalRequestsPerSecond: 2 });
		const statuses: number[] = [];
		let global: string | null = null;
		for (let index = 0; index < 3; index++) {
			const response = await fetch(`${emulator.apiUrl}/v10/users/@me`, { headers: { Authorization: `Bot ${emulator.token}` } });
			statuses.push(response.status);
			if (response.status === 429) global = response.headers.get('x-ratelimit-global');
		}
		expect(statuses).toEqual([200, 200, 429]);
		expect(global).toBe('true');
	});
});

describe('emulator REST: permissions', () => {
	it('GIVEN the bot lost write access WHEN it posts THEN 50013; WHEN all access THEN reads get 50001; WHEN restored THEN it works', async () => {
		const channelId = emulator.ids.channels.archive;
		emulator.setBotAccess(channelId, 'read-only');
		expect(await rejection(post(channelId, { content: 'x' }))).toMatchObject({ status: 403, code: 50013 });
		await rest.get(Routes.channelMessages(channelId));
		emulator.setBotAccess(channelId, 'none');
		expect(await rejection(rest.get(Routes.channelMessages(channelId)))).toMatchObject({ status: 403, code: 50001 });
		emulator.setBotAccess(channelId, 'full');
		await post(channelId, { content: 'x' });
	});
});

describe('emulator REST: pins', () => {
	it('GIVEN a message WHEN the bot pins it at either path THEN 204 and the message reads pinned; again is a no-op; unpin clears it; without the permission 50013', async () => {
		const channelId = emulator.ids.channels.archive;
		const message = await post(channelId, { content: 'welcome' });
		expect(message.pinned).toBe(false);
		const response = await fetch(`${emulator.apiUrl}/v10/channels/${channelId}/pins/${message.id}`, {
			method: 'PUT',
			headers: { Authorization: `Bot ${emulator.token}` }
		});
		expect(response.status).toBe(204);
		expect(await response.text()).toBe('');
		expect(((await rest.get(Routes.channelMessage(channelId, message.id))) as APIMessage).pinned).toBe(true);
		await rest.put(Routes.channelMessagesPin(channelId, message.id));
		expect(((await rest.get(Routes.channelMessage(channelId, message.id))) as APIMessage).pinned).toBe(true);
		await rest.delete(Routes.channelMessagesPin(channelId, message.id));
		expect(((await rest.get(Routes.channelMessage(channelId, message.id))) as APIMessage).pinned).toBe(false);
		expect(await rejection(rest.put(Routes.channelMessagesPin(channelId, '1234567890123456789')))).toMatchObject({ status: 404, code: 10008 });
		emulator.setBotAccess(channelId, 'read-only');
		expect(await rejection(rest.put(Routes.channelMessagesPin(channelId, message.id)))).toMatchObject({ status: 403, code: 50013 });
		expect(((await rest.get(Routes.channelMessage(channelId, message.id))) as APIMessage).pinned).toBe(false);
		emulator.setBotAccess(channelId, 'full');
	});
});

describe('emulator REST: application commands', () => {
	const archive = {
		name: 'archive',
		description: 'Archive folders',
		options: [
			{ type: 1, name: 'upload', description: 'Upload a folder', options: [{ type: 3, name: 'source', description: 'folder', required: true }] }
		]
	};

	it('GIVEN global and guild scopes WHEN commands are created, listed, edited, overwritten and deleted THEN each scope keeps its own', async () => {
		const { applicationId, guildId } = emulator.ids;
		const created = (await rest.post(Routes.applicationCommands(applicationId), { body: archive })) as { id: string; version: string };
		expect(created.id).toMatch(/^\d{17,19}$/);
		const upserted = (await rest.post(Routes.applicationCommands(applicationId), { body: { ...archive, description: 'Archive' } })) as {
			id: string;
		};
		expect(upserted.id).toBe(created.id);
		const edited = (await rest.patch(Routes.applicationCommand(applicationId, created.id), { body: { description: 'Edited' } })) as {
			description: string;
		};
		expect(edited.description).toBe('Edited');
		expect(((await rest.get(Routes.applicationCommand(applicationId, created.id))) as { name: string }).name).toBe('archive');
		const guildSet = (await rest.put(Routes.applicationGuildCommands(applicationId, guildId), {
			body: [archive, { name: 'ping', description: 'Ping' }]
		})) as {
			id: string;
			guild_id: string;
		}[];
		expect(guildSet.map((command) => command.guild_id)).toEqual([guildId, guildId]);
		const overwritten = (await rest.put(Routes.applicationGuildCommands(applicationId, guildId), { body: [archive] })) as { id: string }[];
		expect(overwritten[0]!.id).toBe(guildSet[0]!.id);
		expect((await rest.get(Routes.applicationGuildCommands(applicationId, guildId))) as unknown[]).toHaveLength(1);
		expect((await rest.get(Routes.applicationCommands(applicationId))) as unknown[]).toHaveLength(1);
		await rest.delete(Routes.applicationCommand(applicationId, created.id));
		expect((await rest.get(Routes.applicationCommands(applicationId))) as unknown[]).toHaveLength(0);
		expect(await rejection(rest.get(Routes.applicationCommand(applicationId, created.id)))).toMatchObject({ status: 404, code: 10063 });
		expect(await rejection(rest.post(Routes.applicationCommands(applicationId), { body: { name: 'Bad Name', description: 'x' } }))).toMatchObject(
			{
				status: 400,
				code: 50035
			}
		);
	});
});

describe('emulator persistence', () => {
	it('GIVEN a data directory WHEN the emulator restarts THEN messages, threads, attachments and commands are still there', async () => {
		const dataDir = await mkdtemp(join(tmpdir(), 'dos-emu-test-'));
		try {
			const first = await emulatorFor({ dataDir });
			const firstRest = restFor(first);
			const card = (await firstRest.post(Routes.channelMessages(first.ids.channels.archive), { body: { content: 'card' } })) as APIMessage;
			await firstRest.post(Routes.threads(first.ids.channels.archive, card.id), { body: { name: 't' } });
			const data = patterned(2048, 9);
			const chunk = (await firstRest.post(Routes.channelMessages(card.id), {
				body: { content: '' },
				files: [{ name: 'c.bin', data }]
			})) as APIMessage;
			await firstRest.post(Routes.applicationCommands(first.ids.applicationId), { body: { name: 'archive', description: 'Archive' } });
			const ids = first.ids;
			await first.close();
			expect(existsSync(dataDir)).toBe(true);

			const second = await emulatorFor({ dataDir });
			try {
				expect(second.ids).toEqual(ids);
				const secondRest = restFor(second);
				const fetched = (await secondRest.get(Routes.channelMessage(card.id, chunk.id))) as APIMessage;
				expect(Buffer.from(await (await fetch(fetched.attachments[0]!.url)).arrayBuffer()).equals(data)).toBe(true);
				expect(second.messages(ids.channels.archive)[0]!.thread?.id).toBe(card.id);
				expect((await secondRest.get(Routes.applicationCommands(ids.applicationId))) as unknown[]).toHaveLength(1);
				const later = (await secondRest.post(Routes.channelMessages(card.id), { body: { content: 'later' } })) as APIMessage;
				expect(BigInt(later.id) > BigInt(chunk.id)).toBe(true);
			} finally {
				await second.close();
			}
		} finally {
			await rm(dataDir, { recursive: true, force: true });
		}
	});

	it('GIVEN no data directory WHEN the emulator closes THEN its temporary world is removed', async () => {
		const temporary = await emulatorFor();
		const dir = temporary.dataDir;
		expect(existsSync(dir)).toBe(true);
		await temporary.close();
		expect(existsSync(dir)).toBe(false);
	});
});
