import { REST } from '@discordjs/rest';
import { once } from 'node:events';
import { expect } from 'vitest';
import WebSocket from 'ws';
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

export { rejection } from '../support/rejection.js';

/** Bytes with a recognisable pattern (small: big data belongs in the bench). */
export function patterned(size: number, seed = 1): Buffer {
	const bytes = Buffer.alloc(size);
	for (let index = 0; index < size; index++) bytes[index] = (index * 31 + seed) & 0xff;
	return bytes;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON as an outside client reads it: untyped on purpose.
type Json = any;

/** A bare gateway client (no discord.js): identifies with Guilds and GuildMessages, collects dispatches. */
export class RawGateway {
	public readonly events: { t: string; d: Json }[] = [];
	readonly #socket: WebSocket;
	#waiters: (() => void)[] = [];

	public constructor(url: string, token: string) {
		this.#socket = new WebSocket(`${url}?v=10&encoding=json`);
		this.#socket.on('message', (raw: Buffer) => {
			const payload = JSON.parse(raw.toString()) as { op: number; t: string; d: Json };
			if (payload.op === 10) this.#socket.send(JSON.stringify({ op: 2, d: { token, intents: (1 << 0) | (1 << 9), properties: {} } }));
			if (payload.op === 0) {
				this.events.push({ t: payload.t, d: payload.d });
				for (const waiter of this.#waiters.splice(0)) waiter();
			}
		});
	}

	public async next(type: string, from = 0): Promise<Json> {
		for (;;) {
			const found = this.events.slice(from).find((event) => event.t === type);
			if (found) return found.d;
			await new Promise<void>((resolve) => this.#waiters.push(resolve));
		}
	}

	public closed(): Promise<unknown> {
		return once(this.#socket, 'close');
	}

	public close(): void {
		this.#socket.close();
	}
}
