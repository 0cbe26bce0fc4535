import { startEmulator } from '../../src/emulator/index.js';
import { DiscordTransport, type DiscordTransportOptions } from '../../src/discord/index.js';

/** What the control API's `GET /_emu/state` answers (the fields these tests use). */
export interface EmulatorState {
	guildId: string;
	botUserId: string;
	channels: { id: string; name: string; type: number; parentId: string | null; archived: boolean }[];
}

/** One message as the control API lists it. */
export interface ControlMessage {
	id: string;
	author: { id: string; bot: boolean };
	content: string;
	embeds: unknown[];
	components: unknown[];
	attachments: { id: string; filename: string; size: number; url: string }[];
	thread: { id: string; name: string; archived: boolean } | null;
	editedAt: string | null;
}

export interface EmulatorStats {
	requests: number;
	byRoute: Record<string, number>;
	status429: number;
	status5xx: number;
	unknownRoutes: string[];
}

/** A running emulator, its seeded channels, its control API, and transports pointed at it. */
export interface EmulatorFixture {
	readonly apiUrl: string;
	readonly controlUrl: string;
	readonly archiveChannelId: string;
	readonly logChannelId: string;
	/** A transport with fast backoff, for tests; `options` override. */
	transport(options?: Partial<DiscordTransportOptions>): DiscordTransport;
	messages(channelId: string): Promise<ControlMessage[]>;
	stats(): Promise<EmulatorStats>;
	faults(settings: Record<string, unknown>): Promise<unknown>;
	control(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<unknown>;
	close(): Promise<void>;
}

export const fastRetry = { attempts: 6, baseDelayMs: 20, maxDelayMs: 200 } as const;

export async function startFixture(options: Parameters<typeof startEmulator>[0] = {}): Promise<EmulatorFixture> {
	const emulator = await startEmulator({ port: 0, ...options });
	const transports: DiscordTransport[] = [];
	const control = async (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<unknown> => {
		const response = await fetch(`${emulator.controlUrl}${path}`, {
			method,
			...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
		});
		const text = await response.text();
		if (!response.ok) throw new Error(`control ${method} ${path} answered ${response.status}: ${text}`);
		return text.length > 0 ? JSON.parse(text) : null;
	};
	const state = (await control('GET', '/state')) as EmulatorState;
	const channelNamed = (name: string) => {
		const channel = state.channels.find((candidate) => candidate.name === name);
		if (!channel) throw new Error(`the emulator has no #${name} channel`);
		return channel.id;
	};
	return {
		apiUrl: emulator.apiUrl,
		controlUrl: emulator.controlUrl,
		archiveChannelId: channelNamed('archive'),
		logChannelId: channelNamed('log'),
		transport(overrides = {}) {
			const transport = new DiscordTransport({
				token: 'emulator-test-token',
				apiUrl: emulator.apiUrl,
				globalRequestsPerSecond: 1000,
				retry: fastRetry,
				downloadRetry: fastRetry,
				threadCapRetry: fastRetry,
				...overrides
			});
			transports.push(transport);
			return transport;
		},
		messages: async (channelId) => (await control('GET', `/channels/${channelId}/messages`)) as ControlMessage[],
		stats: async () => (await control('GET', '/stats')) as EmulatorStats,
		faults: async (settings) => control('PUT', '/faults', settings),
		control,
		async close() {
			for (const transport of transports) transport.close();
			await emulator.close();
		}
	};
}
