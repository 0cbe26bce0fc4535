import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';
import type { EmulatorLimits } from './options.js';
import type { Payloads } from './payloads.js';
import type { World } from './world.js';

/** Gateway opcodes (Discord's numbers). */
export const GatewayOp = {
	Dispatch: 0,
	Heartbeat: 1,
	Identify: 2,
	PresenceUpdate: 3,
	VoiceStateUpdate: 4,
	Resume: 6,
	Reconnect: 7,
	RequestGuildMembers: 8,
	InvalidSession: 9,
	Hello: 10,
	HeartbeatAck: 11
} as const;

/** Close codes the emulator uses (Discord's numbers). */
export const GatewayClose = {
	UnknownError: 4000,
	UnknownOpcode: 4001,
	DecodeError: 4002,
	NotAuthenticated: 4003,
	AuthenticationFailed: 4004,
	AlreadyAuthenticated: 4005
} as const;

/** How `drop()` cuts the bot off: a dead TCP connection, a close frame, op 7 Reconnect, or op 9 Invalid Session. */
export type GatewayDropMode = 'terminate' | 'close' | 'reconnect' | 'invalidate';

interface Session {
	readonly id: string;
	readonly intents: number;
	seq: number;
	/** Dispatches sent in this session, for RESUME replay (bounded). */
	readonly history: { s: number; t: string; d: unknown }[];
	/** The highest sequence no longer in `history`: a RESUME from before it cannot be replayed. */
	forgotten: number;
	socket: WebSocket | null;
	disconnectedAt: number;
}

const HISTORY = 5_000;

/**
 * The gateway at `/gateway` (`encoding=json`, no compression): HELLO, IDENTIFY → READY → GUILD_CREATE,
 * heartbeats, RESUME with replay of what was missed, dispatches from the world, and drops on request.
 */
export class Gateway {
	public readonly url: string;
	readonly #world: World;
	readonly #payloads: Payloads;
	readonly #limits: () => EmulatorLimits;
	readonly #token: string | undefined;
	readonly #server = new WebSocketServer({ noServer: true, maxPayload: 4096 * 1024 });
	readonly #sessions = new Map<string, Session>();
	readonly #unsubscribe: () => void;
	#connections = 0;
	#identifies = 0;
	#resumes = 0;

	public constructor(world: World, payloads: Payloads, limits: () => EmulatorLimits, url: string, token: string | undefined) {
		this.#world = world;
		this.#payloads = payloads;
		this.#limits = limits;
		this.url = url;
		this.#token = token;
		this.#unsubscribe = world.onDispatch((event, data, intent) => {
			this.#broadcast(event, data, intent);
		});
	}

	/** Connections opened since start (each IDENTIFY or RESUME needs one). */
	public get connections(): number {
		return this.#connections;
	}

	/** IDENTIFYs accepted since start (a resumed session does not identify again). */
	public get identifies(): number {
		return this.#identifies;
	}

	/** RESUMEs accepted since start. */
	public get resumes(): number {
		return this.#resumes;
	}

	/** Sessions with an open connection. */
	public get connectedSessions(): number {
		let count = 0;
		for (const session of this.#sessions.values()) if (session.socket) count++;
		return count;
	}

	/** Hands an HTTP upgrade on `/gateway` to the WebSocket server. */
	public handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
		this.#server.handleUpgrade(request, socket, head, (ws) => {
			this.#accept(ws);
		});
	}

	/**
	 * Cuts every connected session off. `terminate` (default) kills the TCP connection, as a network failure
	 * would; the client then resumes and gets what it missed. Returns how many connections were cut.
	 */
	public drop(mode: GatewayDropMode = 'terminate', code: number = GatewayClose.UnknownError): number {
		let count = 0;
		for (const session of this.#sessions.values()) {
			const socket = session.socket;
			if (!socket) continue;
			count++;
			if (mode === 'terminate') socket.terminate();
			else if (mode === 'close') socket.close(code, 'Dropped on request');
			else if (mode === 'reconnect') socket.send(JSON.stringify({ op: GatewayOp.Reconnect, d: null }));
			else socket.send(JSON.stringify({ op: GatewayOp.InvalidSession, d: false }));
		}
		return count;
	}

	public close(): void {
		this.#unsubscribe();
		for (const client of this.#server.clients) client.terminate();
		this.#server.close();
		this.#sessions.clear();
	}

	#accept(ws: WebSocket): void {
		this.#connections++;
		let session: Session | null = null;
		const send = (payload: unknown) => {
			if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(payload));
		};
		send({
			op: GatewayOp.Hello,
			d: { heartbeat_interval: this.#limits().heartbeatIntervalMs, _trace: ['["emulator-gateway",{"micros":0}]'] },
			s: null,
			t: null
		});
		ws.on('message', (raw: RawData, isBinary: boolean) => {
			if (isBinary) {
				ws.close(GatewayClose.DecodeError, 'Binary frames are not supported: use encoding=json');
				return;
			}
			let payload: { op?: unknown; d?: unknown };
			try {
				payload = JSON.parse(rawText(raw)) as { op?: unknown; d?: unknown };
			} catch {
				ws.close(GatewayClose.DecodeError, 'Error while decoding payload.');
				return;
			}
			const d = (payload.d ?? {}) as Record<string, unknown>;
			switch (payload.op) {
				case GatewayOp.Heartbeat:
					send({ op: GatewayOp.HeartbeatAck, d: null, s: null, t: null });
					return;
				case GatewayOp.Identify:
				case GatewayOp.Resume: {
					// Both open a session: refused on an authenticated socket, or with a bad token.
					if (session) {
						ws.close(GatewayClose.AlreadyAuthenticated, 'Already authenticated.');
						return;
					}
					if (!this.#tokenOk(d.token)) {
						ws.close(GatewayClose.AuthenticationFailed, 'Authentication failed.');
						return;
					}
					session =
						payload.op === GatewayOp.Identify
							? this.#identify(ws, typeof d.intents === 'number' ? d.intents : 0)
							: this.#resume(ws, d.session_id, d.seq);
					return;
				}
				case GatewayOp.PresenceUpdate:
				case GatewayOp.VoiceStateUpdate:
				case GatewayOp.RequestGuildMembers:
					if (!session) ws.close(GatewayClose.NotAuthenticated, 'Not authenticated.');
					else if (payload.op === GatewayOp.RequestGuildMembers) this.#membersChunk(session, d);
					return;
				default:
					ws.close(GatewayClose.UnknownOpcode, 'Unknown opcode.');
			}
		});
		ws.on('close', () => {
			if (session && session.socket === ws) {
				session.socket = null;
				session.disconnectedAt = Date.now();
			}
			this.#sweep();
		});
		ws.on('error', () => undefined);
	}

	#tokenOk(token: unknown): boolean {
		if (typeof token !== 'string' || token.length === 0) return false;
		const bare = token.replace(/^Bot\s+/i, '');
		return this.#token === undefined || bare === this.#token;
	}

	#identify(ws: WebSocket, intents: number): Session {
		this.#identifies++;
		const session: Session = { id: randomBytes(16).toString('hex'), intents, seq: 0, history: [], forgotten: 0, socket: ws, disconnectedAt: 0 };
		this.#sessions.set(session.id, session);
		const { ids } = this.#world;
		this.#send(session, 'READY', {
			v: 10,
			user: { ...this.#payloads.userById(ids.botUserId), verified: true, mfa_enabled: false, email: null },
			guilds: [{ id: ids.guildId, unavailable: true }],
			session_id: session.id,
			session_type: 'normal',
			resume_gateway_url: this.url,
			shard: [0, 1],
			application: { id: ids.applicationId, flags: 0 },
			private_channels: [],
			presences: [],
			relationships: [],
			guild_join_requests: [],
			geo_ordered_rtc_regions: [],
			user_settings: {},
			auth: {},
			_trace: ['["emulator-gateway",{"micros":0}]']
		});
		this.#send(session, 'GUILD_CREATE', this.#payloads.guildCreate());
		return session;
	}

	#resume(ws: WebSocket, sessionId: unknown, seq: unknown): Session | null {
		const session = typeof sessionId === 'string' ? this.#sessions.get(sessionId) : undefined;
		const window = this.#limits().sessionResumeWindowMs;
		const replayable = session !== undefined && typeof seq === 'number' && seq >= session.forgotten && seq <= session.seq;
		if (!session || !replayable || (session.socket === null && Date.now() - session.disconnectedAt > window)) {
			if (session) this.#sessions.delete(session.id);
			ws.send(JSON.stringify({ op: GatewayOp.InvalidSession, d: false, s: null, t: null }));
			return null;
		}
		if (session.socket && session.socket !== ws) session.socket.terminate();
		session.socket = ws;
		this.#resumes++;
		for (const entry of session.history) {
			if (entry.s > seq) ws.send(JSON.stringify({ op: GatewayOp.Dispatch, t: entry.t, s: entry.s, d: entry.d }));
		}
		this.#send(session, 'RESUMED', { _trace: ['["emulator-gateway",{"micros":0}]'] }, false);
		return session;
	}

	#membersChunk(session: Session, d: Record<string, unknown>): void {
		const members = [...this.#world.members.keys()].map((userId) => this.#payloads.member(userId));
		this.#send(session, 'GUILD_MEMBERS_CHUNK', {
			guild_id: this.#world.ids.guildId,
			members,
			chunk_index: 0,
			chunk_count: 1,
			not_found: [],
			...(typeof d.nonce === 'string' ? { nonce: d.nonce } : {})
		});
	}

	#broadcast(event: string, data: unknown, intent: number): void {
		for (const session of this.#sessions.values()) {
			if (intent !== 0 && (session.intents & intent) === 0) continue;
			this.#send(session, event, data);
		}
	}

	#send(session: Session, event: string, data: unknown, record = true): void {
		session.seq++;
		if (record) {
			session.history.push({ s: session.seq, t: event, d: data });
			if (session.history.length > HISTORY) session.forgotten = session.history.shift()?.s ?? session.forgotten;
		}
		const socket = session.socket;
		if (socket && socket.readyState === WebSocket.OPEN)
			socket.send(JSON.stringify({ op: GatewayOp.Dispatch, t: event, s: session.seq, d: data }));
	}

	#sweep(): void {
		const window = this.#limits().sessionResumeWindowMs;
		const now = Date.now();
		for (const [id, session] of this.#sessions) if (!session.socket && now - session.disconnectedAt > window) this.#sessions.delete(id);
	}
}

function rawText(raw: RawData): string {
	if (Buffer.isBuffer(raw)) return raw.toString('utf8');
	if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
	return Buffer.from(raw).toString('utf8');
}
