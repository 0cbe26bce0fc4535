import type { REST } from '@discordjs/rest';
import type { APIMessage } from 'discord-api-types/v10';
import { Routes } from 'discord-api-types/v10';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { EmulatorError } from '../../src/emulator/index.js';
import { emulatorFor, expectNoUnknownRoutes, patterned, rejection, restFor } from './support.js';

let emulator: Emulator;
let rest: REST;
const CREATE = 'POST /channels/:channel/messages';

beforeEach(async () => {
	emulator = await emulatorFor({ limits: { channelMessagesPerWindow: 1000, globalRequestsPerSecond: 10_000, routeRequestsPerSecond: 10_000 } });
	rest = restFor(emulator);
});

afterEach(async () => {
	expectNoUnknownRoutes(emulator);
	await emulator.close();
});

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
		expect(emulator.stats().faultsInjected).toEqual({ serverError: 0, rateLimit: 2, dropAfterCommit: 0, resetMidBody: 0 });
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
