import type { REST } from '@discordjs/rest';
import { createHash } from 'node:crypto';
import type { APIMessage } from 'discord-api-types/v10';
import { Routes } from 'discord-api-types/v10';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { EmulatorError } from '../../src/emulator/index.js';
import { Faults } from '../../src/emulator/faults.js';
import { emulatorFor, expectNoUnknownRoutes, patterned, rejection, restFor } from './support.js';

let emulator: Emulator;
let rest: REST;
const CREATE = 'POST /channels/:channel/messages';
/** The CDN's route key, as the README documents it. */
const CDN = 'GET /attachments/:channel/:attachment/:filename';

beforeEach(async () => {
	emulator = await emulatorFor({ limits: { channelMessagesPerWindow: 1000, globalRequestsPerSecond: 10_000, routeRequestsPerSecond: 10_000 } });
	rest = restFor(emulator);
});

afterEach(async () => {
	expectNoUnknownRoutes(emulator);
	await emulator.close();
});

/** One GET of a CDN URL: the status and the bytes that arrived before the body ended or the connection was cut. */
async function download(
	url: string,
	headers: Record<string, string> = {}
): Promise<{ status: number; announced: number; bytes: Buffer; cut: boolean }> {
	const response = await fetch(url, { headers });
	const pieces: Uint8Array[] = [];
	let cut = false;
	try {
		for await (const piece of response.body ?? []) pieces.push(piece);
	} catch {
		cut = true;
	}
	return { status: response.status, announced: Number(response.headers.get('content-length')), bytes: Buffer.concat(pieces), cut };
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

const post = (body: Record<string, unknown>, files?: { name: string; data: Buffer }[]) =>
	rest.post(Routes.channelMessages(emulator.ids.channels.archive), { body, ...(files ? { files } : {}) }) as Promise<APIMessage>;

describe('emulator faults', () => {
	it('GIVEN one 5xx on message create WHEN discord.js posts THEN it retries and the message lands once', async () => {
		emulator.faults.set({ serverErrorNext: 1, routes: [CREATE] });
		await post({ content: 'x' });
		expect(emulator.stats()).toMatchObject({ status5xx: 1, messages: 1 });
		expect(emulator.stats().byRoute[CREATE]).toBe(2);
	});

	it('GIVEN every create failing with 5xx WHEN discord.js posts THEN it gives up after its retries with a 500', async () => {
		emulator.faults.set({ serverErrorRate: 1, routes: [CREATE] });
		expect(await rejection(post({ content: 'x' }))).toMatchObject({ status: 500 });
		expect(emulator.stats()).toMatchObject({ status5xx: 4, messages: 0 });
		await rest.get(Routes.channel(emulator.ids.channels.archive));
	});

	it('GIVEN a 429 storm WHEN discord.js posts THEN it waits out retry_after and succeeds', async () => {
		emulator.faults.set({ rateLimitNext: 2, rateLimitRetryAfterMs: 20 });
		await post({ content: 'x' });
		expect(emulator.stats()).toMatchObject({ status429: 2, messages: 1 });
		expect(emulator.stats().faultsInjected).toEqual({ serverError: 0, rateLimit: 2, dropAfterCommit: 0, resetMidBody: 0, cdnResetMidBody: 0 });
		emulator.resetStats();
		expect(emulator.stats().faultsInjected.rateLimit).toBe(0);
	});

	it('GIVEN a dropped response after commit WHEN discord.js posts THEN it fails although the message landed, and a nonce repeat returns it', async () => {
		emulator.faults.set({ dropAfterCommitNext: 1, routes: [CREATE] });
		const body = { content: 'chunk', nonce: 'chunk-0001', enforce_nonce: true };
		await rejection(post(body, [{ name: 'c.bin', data: patterned(10_000) }]));
		const landed = emulator.messages(emulator.ids.channels.archive);
		expect(landed).toHaveLength(1);
		const again = await post(body, [{ name: 'c.bin', data: patterned(10_000) }]);
		expect(again.id).toBe(landed[0]!.id);
		expect(emulator.stats()).toMatchObject({ messages: 1, attachments: 1 });
	});

	it('GIVEN a reset mid-body WHEN an upload is sent THEN it fails, nothing is stored and no partial file is left', async () => {
		emulator.faults.set({ resetMidBodyRate: 1, routes: [CREATE] });
		await rejection(post({ content: 'x' }, [{ name: 'c.bin', data: patterned(512 * 1024) }]));
		emulator.faults.reset();
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(emulator.stats()).toMatchObject({ messages: 0, attachments: 0, bytesStored: 0 });
		expect(readdirSync(join(emulator.dataDir, 'incoming'))).toEqual([]);
		await post({ content: 'after' });
	});

	it('GIVEN latency and bandwidth caps WHEN uploading and downloading THEN the bytes still arrive intact', async () => {
		emulator.faults.set({ latencyMs: 5, uploadBytesPerSec: 4 * 1024 * 1024, downloadBytesPerSec: 4 * 1024 * 1024 });
		const data = patterned(256 * 1024, 5);
		const message = await post({ content: '' }, [{ name: 'c.bin', data }]);
		const downloaded = Buffer.from(await (await fetch(message.attachments[0]!.url)).arrayBuffer());
		expect(downloaded.equals(data)).toBe(true);
		expect(emulator.faults.get()).toMatchObject({ latencyMs: 5, uploadBytesPerSec: 4 * 1024 * 1024 });
	});

	it('GIVEN faults on interaction callbacks and webhooks WHEN they hit THEN stats count them per route, and a seed repeats the same rolls', () => {
		const CALLBACK = 'POST /interactions/:interaction/:token/callback';
		const EDIT = 'PATCH /webhooks/:application/:token/messages/:message';
		const faults = new Faults();
		const rolls = (seed: number) => {
			faults.set({ seed, dropAfterCommitRate: 0.5 });
			return Array.from({ length: 40 }, (_, index) => faults.roll('dropAfterCommit', index % 2 === 0 ? CALLBACK : EDIT));
		};
		const first = rolls(7);
		expect(rolls(7)).toEqual(first);
		expect(rolls(8)).not.toEqual(first);
		expect(first.some(Boolean)).toBe(true);
		const byRoute = faults.injectedByRoute;
		expect((byRoute[CALLBACK]?.dropAfterCommit ?? 0) + (byRoute[EDIT]?.dropAfterCommit ?? 0)).toBe(faults.injected.dropAfterCommit);
		expect(byRoute[CALLBACK]?.dropAfterCommit).toBeGreaterThan(0);
		faults.resetCounts();
		expect(faults.injectedByRoute).toEqual({});

		emulator.faults.set({ serverErrorNext: 1, routes: [CREATE] });
		return post({ content: 'x' }).then(() => {
			expect(emulator.stats().faultsInjectedByRoute).toEqual({
				[CREATE]: { serverError: 1, rateLimit: 0, dropAfterCommit: 0, resetMidBody: 0, cdnResetMidBody: 0 }
			});
			expect(emulator.faults.get().seed).toBe(0);
		});
	});

	it('GIVEN a route filter WHEN faults are on THEN other routes are untouched', async () => {
		emulator.faults.set({ serverErrorRate: 1, routes: ['GET /channels/:channel/messages'] });
		await post({ content: 'x' });
		expect(await rejection(rest.get(Routes.channelMessages(emulator.ids.channels.archive)))).toMatchObject({ status: 500 });
	});

	it('GIVEN nonsense fault settings WHEN set THEN they are refused with a stable code and nothing changes', () => {
		let error: unknown;
		try {
			emulator.faults.set({ serverErrorRate: 2 });
		} catch (caught) {
			error = caught;
		}
		expect(error).toBeInstanceOf(EmulatorError);
		expect((error as EmulatorError).code).toBe('EMULATOR_INVALID_OPTION');
		expect(emulator.faults.get().serverErrorRate).toBe(0);
	});
});

describe('emulator CDN faults', () => {
	const stored = async (data: Buffer) => (await post({ content: '' }, [{ name: 'c.bin', data }])).attachments[0]!.url;

	it('GIVEN a CDN download cut half way WHEN fetched THEN exactly the first half arrives before the connection closes, and the next fetch is whole', async () => {
		const data = patterned(300_001, 3);
		const url = await stored(data);
		emulator.faults.set({ cdnResetMidBodyNext: 1 });

		const cut = await download(url);
		expect(cut).toMatchObject({ status: 200, announced: data.byteLength, cut: true });
		expect(cut.bytes.equals(data.subarray(0, 150_000))).toBe(true);
		expect(emulator.stats().faultsInjected.cdnResetMidBody).toBe(1);
		expect(emulator.faults.get().cdnResetMidBodyNext).toBe(0);

		const whole = await download(url);
		expect(whole.cut).toBe(false);
		expect(whole.bytes.equals(data)).toBe(true);
		expect(emulator.stats().byRoute[CDN]).toBe(2);
	});

	it('GIVEN cut downloads under a bandwidth cap WHEN each is resumed with a Range from the bytes received THEN the parts join into the attachment', async () => {
		const data = patterned(200_000, 4);
		const url = await stored(data);
		emulator.faults.set({ cdnResetMidBodyNext: 2, downloadBytesPerSec: 8 * 1024 * 1024 });

		const first = await download(url);
		expect(first).toMatchObject({ cut: true });
		expect(first.bytes.byteLength).toBe(100_000);
		const second = await download(url, { range: `bytes=${first.bytes.byteLength}-` });
		// A cut range answer stops half way through the range, not half way through the attachment.
		expect(second).toMatchObject({ status: 206, announced: 100_000, cut: true });
		expect(second.bytes.byteLength).toBe(50_000);
		const third = await download(url, { range: `bytes=${first.bytes.byteLength + second.bytes.byteLength}-` });
		expect(third).toMatchObject({ status: 206, cut: false });

		expect(sha256(Buffer.concat([first.bytes, second.bytes, third.bytes]))).toBe(sha256(data));
		expect(emulator.stats().faultsInjected.cdnResetMidBody).toBe(2);
	});

	it('GIVEN a body of one byte or a HEAD WHEN a cut is due THEN it is served whole and the cut stays due', async () => {
		const url = await stored(patterned(1, 9));
		emulator.faults.set({ cdnResetMidBodyNext: 1 });
		expect(await download(url)).toMatchObject({ status: 200, cut: false, bytes: patterned(1, 9) });
		expect((await fetch(url, { method: 'HEAD' })).status).toBe(200);
		expect(emulator.faults.get().cdnResetMidBodyNext).toBe(1);
		expect(emulator.stats().faultsInjected.cdnResetMidBody).toBe(0);
	});

	it('GIVEN fault routes naming only REST routes WHEN an attachment is fetched THEN the CDN is untouched; naming the CDN route cuts it', async () => {
		const data = patterned(10_000, 6);
		const url = await stored(data);
		emulator.faults.set({ cdnResetMidBodyRate: 1, serverErrorRate: 1, routes: ['GET /channels/:channel/messages'] });
		expect((await download(url)).bytes.equals(data)).toBe(true);
		expect(emulator.stats().faultsInjected).toMatchObject({ serverError: 0, cdnResetMidBody: 0 });

		emulator.faults.set({ serverErrorRate: 0, routes: [CDN] });
		expect(await download(url)).toMatchObject({ status: 200, cut: true });
		expect(emulator.stats().faultsInjected.cdnResetMidBody).toBe(1);
	});

	it('GIVEN a 5xx due on the CDN route WHEN REST and then the CDN are called THEN REST is served and the CDN answers 502 once', async () => {
		const data = patterned(10_000, 7);
		const url = await stored(data);
		emulator.faults.set({ serverErrorNext: 1, routes: [CDN] });
		await rest.get(Routes.channel(emulator.ids.channels.archive));
		expect((await download(url)).status).toBe(502);
		expect((await download(url)).bytes.equals(data)).toBe(true);
		expect(emulator.stats()).toMatchObject({ status5xx: 1, faultsInjected: { serverError: 1 } });
	});

	it('GIVEN the control API WHEN CDN cut settings are put THEN they are kept, and a share over 1 is refused with a stable code', async () => {
		const put = async (body: unknown) =>
			fetch(`${emulator.controlUrl}/faults`, { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
		const accepted = await put({ cdnResetMidBodyRate: 0.25, cdnResetMidBodyNext: 3 });
		expect(accepted.status).toBe(200);
		expect(await accepted.json()).toMatchObject({ cdnResetMidBodyRate: 0.25, cdnResetMidBodyNext: 3 });
		const refused = await put({ cdnResetMidBodyRate: 1.5 });
		expect(refused.status).toBe(400);
		expect(await refused.json()).toMatchObject({ error: 'EMULATOR_INVALID_OPTION' });
		expect(emulator.faults.get()).toMatchObject({ cdnResetMidBodyRate: 0.25, cdnResetMidBodyNext: 3 });
		const cleared = await fetch(`${emulator.controlUrl}/faults`, { method: 'DELETE' });
		expect(await cleared.json()).toMatchObject({ cdnResetMidBodyRate: 0, cdnResetMidBodyNext: 0 });
	});
});
