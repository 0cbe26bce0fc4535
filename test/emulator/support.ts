import { REST } from '@discordjs/rest';
import { expect } from 'vitest';
import type { Emulator, EmulatorOptions } from '../../src/emulator/index.js';
import { startEmulator } from '../../src/emulator/index.js';

/** A discord.js REST client pointed at the emulator, as the archive service will build it. */
export function restFor(emulator: Emulator): REST {
	return new REST({ api: emulator.apiUrl, timeout: 30_000, globalRequestsPerSecond: 10_000, retries: 3 }).setToken(emulator.token);
}

/** Starts an emulator with a temporary world; pass to `afterEach` the returned closer. */
export async function emulatorFor(options: EmulatorOptions = {}): Promise<Emulator> {
	return startEmulator({ port: 0, ...options });
}

/** Fails when discord.js called a route the emulator does not know. */
export function expectNoUnknownRoutes(emulator: Emulator): void {
	expect(emulator.stats().unknownRoutes).toEqual([]);
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<{ status?: number; code?: number | string; message: string }> {
	try {
		await promise;
	} catch (error) {
		return error as { status?: number; code?: number | string; message: string };
	}
	throw new Error('Expected the call to fail, and it succeeded.');
}

/** Bytes with a recognisable pattern (small: big data belongs in the bench). */
export function patterned(size: number, seed = 1): Buffer {
	const bytes = Buffer.alloc(size);
	for (let index = 0; index < size; index++) bytes[index] = (index * 31 + seed) & 0xff;
	return bytes;
}
