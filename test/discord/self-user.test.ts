import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveContext } from '../../src/archive/context.js';
import { botUserId } from '../../src/archive/reconcile.js';
import { isTransportError } from '../../src/discord/index.js';
import { type EmulatorFixture, type EmulatorState, startFixture } from './emulator-fixture.js';

/**
 * The bot's own user id is the root of every "posted by the bot" check: it is asked once, a lost answer is retried,
 * and when Discord never answers the caller fails — it never falls back to trusting any bot (a webhook is a bot).
 */

const ME = 'GET /users/@me';
let emu: EmulatorFixture;

beforeEach(async () => {
	emu = await startFixture();
});

afterEach(async () => {
	await emu.close();
});

describe('the bot user id', () => {
	it('GIVEN the first answers to /users/@me lost WHEN the archive layer asks for the bot id THEN it is retried and the real id comes back, asked once for two calls', async () => {
		const state = (await emu.control('GET', '/state')) as EmulatorState;
		// No immediate REST retries: only the transport's own backoff stands between a lost answer and a null.
		const transport = emu.transport({ restRetries: 0, retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 20 } });
		const ctx = { transport } as unknown as ArchiveContext;
		await emu.faults({ serverErrorNext: 2, routes: [ME] });
		expect(await botUserId(ctx, new AbortController().signal)).toBe(state.botUserId);
		expect(await botUserId(ctx, new AbortController().signal)).toBe(state.botUserId);
		expect((await emu.stats()).byRoute[ME]).toBe(3);
	});

	it('GIVEN /users/@me never answers WHEN the archive layer asks THEN it fails with DISCORD_UNAVAILABLE instead of trusting any bot', async () => {
		const transport = emu.transport({ restRetries: 0, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 } });
		const ctx = { transport } as unknown as ArchiveContext;
		await emu.faults({ serverErrorRate: 1, routes: [ME] });
		const error = await botUserId(ctx, new AbortController().signal).then(
			(value) => value,
			(caught: unknown) => caught
		);
		expect(isTransportError(error, 'DISCORD_UNAVAILABLE')).toBe(true);
		await emu.faults({ serverErrorRate: 0, routes: null });
		expect(await botUserId(ctx, new AbortController().signal)).toMatch(/^\d+$/);
	});
});
