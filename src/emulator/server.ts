import { createReadStream } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Transform, pipeline } from 'node:stream';
import type { Readable, TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CDN_ROUTE_KEY, CdnSigner } from './cdn.js';
import type { BotAccess, EmulatorStateView, EmulatorStats, ForeignFile } from './control.js';
import { Control } from './control.js';
import type { Emulation, Reply, RestContext, RestRoute } from './emulation.js';
import { NonceRegistry, Stats } from './emulation.js';
import { DiscordApiError, DiscordRefusal, EmulatorError, EmulatorErrorCode } from './errors.js';
import type { FaultSettings } from './faults.js';
import { BandwidthCap, CutResponse, Faults } from './faults.js';
import { Gateway } from './gateway.js';
import type { GatewayDropMode } from './gateway.js';
import type { InteractionRequest, InteractionView } from './interactions.js';
import { Interactions } from './interactions.js';
import type { EmulatorLimits, EmulatorOptions } from './options.js';
import { DEFAULT_LIMITS, resolveLimits } from './options.js';
import type { ControlMessage } from './payloads.js';
import { Payloads } from './payloads.js';
import { RateLimits, rateLimitBody } from './rate-limits.js';
import { channelRoutes } from './rest/channels.js';
import { commandRoutes } from './rest/commands.js';
import { interactionRoutes } from './rest/interactions.js';
import { miscRoutes } from './rest/misc.js';
import type { WorldIds } from './world.js';
import { World } from './world.js';

/** A running emulator: its URLs, its seeded ids, and the control powers as methods. */
export interface Emulator {
	readonly port: number;
	/** `http://127.0.0.1:<port>` */
	readonly baseUrl: string;
	/** `http://127.0.0.1:<port>/api`: give it to discord.js as `rest.api` (it appends `/v10`). */
	readonly apiUrl: string;
	/** `http://127.0.0.1:<port>/_emu` */
	readonly controlUrl: string;
	/** `ws://127.0.0.1:<port>/gateway` (what `GET /gateway/bot` returns). */
	readonly gatewayUrl: string;
	/** Where the world is kept (a temporary directory unless `dataDir` was given). */
	readonly dataDir: string;
	/** A token the emulator accepts (the configured one, or any token when none was configured). */
	readonly token: string;
	readonly ids: WorldIds;
	state(): EmulatorStateView;
	/** Every message of a channel or thread, oldest first. @throws EmulatorError `EMULATOR_NOT_FOUND`. */
	messages(channelId: string): ControlMessage[];
	stats(): EmulatorStats;
	resetStats(): void;
	readonly faults: {
		get(): FaultSettings;
		/** @throws EmulatorError `EMULATOR_INVALID_OPTION`. */
		set(patch: Partial<FaultSettings>): FaultSettings;
		reset(): FaultSettings;
	};
	limits(): EmulatorLimits;
	/** @throws EmulatorError `EMULATOR_INVALID_OPTION`. */
	setLimits(patch: Partial<EmulatorLimits>): EmulatorLimits;
	/** Acts as a user: runs a slash command, types into autocomplete or clicks a button. @throws EmulatorError. */
	interact(request: InteractionRequest): { id: string };
	/** The interaction, once acknowledged/answered or expired, or after `waitMs`. @throws EmulatorError `EMULATOR_NOT_FOUND`. */
	interaction(id: string, waitMs?: number): Promise<InteractionView>;
	/** Cuts the bot's gateway connections; returns how many. */
	dropGateway(mode?: GatewayDropMode, code?: number): number;
	/** Revokes (`read-only`: writes get 50013; `none`: everything gets 50001) or restores (`full`) the bot's access. */
	setBotAccess(channelId: string, access: BotAccess): BotAccess;
	/** Flips one byte of a stored attachment. @throws EmulatorError. */
	corruptAttachment(attachmentId: string, offset?: number): Promise<{ id: string; offset: number }>;
	/** Posts a plain message as a user. @throws EmulatorError. */
	postAsUser(channelId: string, user: string, content: string): Promise<ControlMessage>;
	/**
	 * Posts a message with files as a user, `other-bot` or `webhook` (both `author.bot: true`).
	 * @throws EmulatorError, DiscordApiError.
	 */
	postAs(channelId: string, author: string, content: string, files?: readonly ForeignFile[]): Promise<ControlMessage>;
	/** Archives a thread as Discord's auto-archive would. @throws EmulatorError. */
	archiveThread(threadId: string): void;
	/** A user reopens an archived thread (locked: only with Manage Threads, else 403/50013). @throws EmulatorError, DiscordApiError. */
	unarchiveThreadAs(threadId: string, user: string): void;
	/** Stops serving, closes connections, saves the world (or removes the temporary directory). */
	close(): Promise<void>;
}

interface CompiledRoute extends RestRoute {
	readonly segments: string[];
	readonly routeKey: string;
}

const ROUTES: CompiledRoute[] = [...miscRoutes, ...channelRoutes, ...commandRoutes, ...interactionRoutes].map((route) => ({
	...route,
	segments: route.pattern.split('/').slice(1),
	routeKey: `${route.method} ${route.pattern}`
}));

const API_PREFIX = '/api/v10';

/**
 * Starts a local Discord on 127.0.0.1: REST v10 under `/api/v10`, the gateway at `/gateway`, the CDN under
 * `/attachments`, and the control API under `/_emu`. Without `dataDir` the world lives in a temporary
 * directory removed by `close()`.
 * @throws EmulatorError `EMULATOR_INVALID_OPTION` (bad limits/port), `EMULATOR_DATA_DIR`, `EMULATOR_LISTEN`.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
	const port = options.port ?? 0;
	if (!Number.isInteger(port) || port < 0 || port > 65_535) {
		throw new EmulatorError(EmulatorErrorCode.InvalidOption, `port must be an integer in 0–65535, got ${String(options.port)}.`);
	}
	let limits = resolveLimits(DEFAULT_LIMITS, options.limits);
	if (options.attachmentLimit !== undefined) limits = resolveLimits(limits, { attachmentBytes: options.attachmentLimit });
	const host = options.host ?? '127.0.0.1';
	const temporary = options.dataDir === undefined;
	const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'dos-emulator-')));
	const world = World.open(dataDir, options.guildName);

	const server: Server = createServer({ requestTimeout: 0, keepAliveTimeout: 30_000 });
	try {
		await new Promise<void>((resolve, reject) => {
			server.once('error', reject);
			server.listen(port, host, () => {
				server.off('error', reject);
				resolve();
			});
		});
	} catch (error) {
		await world.close(temporary);
		throw new EmulatorError(
			EmulatorErrorCode.Listen,
			`Cannot listen on ${host}:${port}: ${String(error)}. Pick another port (0 picks a free one).`,
			{ cause: error }
		);
	}
	const actualPort = (server.address() as AddressInfo).port;
	const baseUrl = `http://${host}:${actualPort}`;

	// The services are built before the emulation that holds them; the limits they read are looked up when used,
	// so a limit changed through the control API applies at once.
	const cdn = new CdnSigner(world.secret, baseUrl, () => emu.limits.cdnUrlLifetimeMs);
	const payloads = new Payloads(world, cdn);
	const gateway = new Gateway(world, payloads, () => emu.limits, `ws://${host}:${actualPort}/gateway`, options.token);
	const emu: Emulation = {
		world,
		limits,
		baseUrl,
		cdn,
		faults: new Faults(),
		stats: new Stats(),
		nonces: new NonceRegistry(),
		interactions: new Interactions(() => emu),
		payloads,
		gateway
	};
	const rateLimits = new RateLimits(() => emu.limits);
	const control = new Control(emu);

	server.on('request', (request: IncomingMessage, response: ServerResponse) => {
		const url = new URL(request.url ?? '/', baseUrl);
		let work: Promise<void>;
		if (url.pathname.startsWith('/_emu/') || url.pathname === '/_emu') work = control.handle(request, response, url);
		else if (url.pathname.startsWith('/attachments/')) work = serveAttachment(emu, request, response, url);
		else work = serveRest(emu, rateLimits, options.token, request, response, url);
		work.catch((error: unknown) => {
			if (!response.headersSent) {
				const text = JSON.stringify({ message: `500: Internal Server Error (${String(error)})`, code: 0 });
				response.writeHead(500, { 'Content-Type': 'application/json' }).end(text);
			} else response.destroy();
		});
	});
	server.on('upgrade', (request: IncomingMessage, socket, head: Buffer) => {
		const url = new URL(request.url ?? '/', baseUrl);
		if (url.pathname === '/gateway' || url.pathname === '/gateway/') emu.gateway.handleUpgrade(request, socket, head);
		else socket.destroy();
	});

	let closed: Promise<void> | null = null;
	return {
		port: actualPort,
		baseUrl,
		apiUrl: `${baseUrl}/api`,
		controlUrl: `${baseUrl}/_emu`,
		gatewayUrl: emu.gateway.url,
		dataDir,
		token: options.token ?? 'emulator-bot-token',
		ids: world.ids,
		state: () => control.state(),
		messages: (channelId) => control.messages(channelId),
		stats: () => control.stats(),
		resetStats: () => {
			control.resetStats();
		},
		faults: { get: () => control.faults(), set: (patch) => control.setFaults(patch), reset: () => control.resetFaults() },
		limits: () => control.limits(),
		setLimits: (patch) => control.setLimits(patch),
		interact: (request) => control.interact(request),
		interaction: (id, waitMs) => control.interaction(id, waitMs),
		dropGateway: (mode, code) => control.dropGateway(mode, code),
		setBotAccess: (channelId, access) => control.setBotAccess(channelId, access),
		corruptAttachment: (attachmentId, offset) => control.corruptAttachment(attachmentId, offset),
		postAsUser: (channelId, user, content) => control.postAsUser(channelId, user, content),
		postAs: (channelId, author, content, files) => control.postAs(channelId, author, content, files),
		archiveThread: (threadId) => {
			control.archiveThread(threadId);
		},
		unarchiveThreadAs: (threadId, user) => {
			control.unarchiveThreadAs(threadId, user);
		},
		close: () =>
			(closed ??= (async () => {
				emu.interactions.close();
				emu.gateway.close();
				server.closeAllConnections();
				await new Promise<void>((resolve) =>
					server.close(() => {
						resolve();
					})
				);
				await world.close(temporary);
			})())
	};
}

function matchRoute(method: string, path: string): { route: CompiledRoute; params: Record<string, string> } | 'method' | null {
	let segments: string[];
	try {
		segments = path.split('/').slice(1).map(decodeURIComponent);
	} catch {
		return null;
	}
	if (segments.at(-1) === '') segments.pop();
	let pathMatched = false;
	for (const route of ROUTES) {
		if (route.segments.length !== segments.length) continue;
		const params: Record<string, string> = {};
		let ok = true;
		for (let index = 0; index < segments.length; index++) {
			const expected = route.segments[index]!;
			const actual = segments[index]!;
			if (expected.startsWith(':')) {
				if (actual.length === 0) ok = false;
				else params[expected.slice(1)] = actual;
			} else if (expected !== actual) ok = false;
			if (!ok) break;
		}
		if (!ok) continue;
		if (route.method !== method) {
			pathMatched = true;
			continue;
		}
		return { route, params };
	}
	return pathMatched ? 'method' : null;
}

/** The major parameter of a route, as Discord (and discord.js) bucket it: channel, guild or webhook. */
function majorOf(route: CompiledRoute, params: Record<string, string>): string {
	if (route.pattern.startsWith('/channels/')) return params.channel ?? 'global';
	if (route.pattern.startsWith('/guilds/')) return params.guild ?? 'global';
	if (route.pattern.startsWith('/webhooks/')) return `${params.application}/${params.token}`;
	return 'global';
}

async function drain(stream: Readable): Promise<void> {
	if (stream.readableEnded || stream.destroyed) return;
	await new Promise<void>((resolve) => {
		stream
			.once('end', resolve)
			.once('error', () => {
				resolve();
			})
			.once('close', resolve);
		stream.resume();
	});
}

function hasBody(request: IncomingMessage): boolean {
	const length = Number(request.headers['content-length'] ?? '0');
	return length > 0 || request.headers['transfer-encoding'] !== undefined;
}

/** A stage that kills the connection once half the declared body (or 64 KiB) has passed. */
class ResetMidBody extends Transform {
	readonly #request: IncomingMessage;
	readonly #threshold: number;
	#seen = 0;

	public constructor(request: IncomingMessage) {
		super();
		this.#request = request;
		const length = Number(request.headers['content-length'] ?? '0');
		this.#threshold = length > 0 ? Math.floor(length / 2) : 64 * 1024;
	}

	public override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
		this.#seen += chunk.length;
		if (this.#seen >= this.#threshold) {
			this.#request.socket.destroy();
			callback(new Error('Connection reset mid-body on request (fault injection).'));
			return;
		}
		callback(null, chunk);
	}
}

function bodyOf(emu: Emulation, request: IncomingMessage, resetMidBody: boolean): Readable {
	const stages: NodeJS.ReadWriteStream[] = [];
	const cap = emu.faults.settings.uploadBytesPerSec;
	if (cap > 0) stages.push(new BandwidthCap(cap));
	if (resetMidBody) stages.push(new ResetMidBody(request));
	if (stages.length === 0) return request;
	const out = new PassThrough();
	const streams: (NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream)[] = [request, ...stages, out];
	pipeline(streams, () => undefined);
	return out;
}

function writeJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
	if (status === 204 || body === undefined) {
		response.writeHead(status, headers).end();
		return;
	}
	const text = JSON.stringify(body);
	response.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) }).end(text);
}

async function serveRest(
	emu: Emulation,
	rateLimits: RateLimits,
	token: string | undefined,
	request: IncomingMessage,
	response: ServerResponse,
	url: URL
): Promise<void> {
	const method = request.method ?? 'GET';
	emu.stats.requests++;
	const refuse = async (error: DiscordApiError, headers: Record<string, string> = {}) => {
		await drain(request);
		if (error.status >= 500) emu.stats.status5xx++;
		writeJson(response, error.status, error.toBody(), headers);
	};
	if (!url.pathname.startsWith(`${API_PREFIX}/`)) {
		emu.stats.unknownRoutes.push(`${method} ${url.pathname}`);
		await refuse(DiscordRefusal.notFound());
		return;
	}
	const matched = matchRoute(method, url.pathname.slice(API_PREFIX.length));
	if (matched === null || matched === 'method') {
		emu.stats.unknownRoutes.push(`${method} ${url.pathname}`);
		await refuse(matched === 'method' ? DiscordRefusal.methodNotAllowed() : DiscordRefusal.notFound());
		return;
	}
	const { route, params } = matched;
	emu.stats.count(route.routeKey);
	const { faults } = emu;
	if (faults.settings.latencyMs > 0) await sleep(faults.settings.latencyMs);
	if (route.auth) {
		const header = request.headers.authorization ?? '';
		const match = /^Bot (.+)$/.exec(header);
		if (!match || (token !== undefined && match[1] !== token)) {
			await refuse(DiscordRefusal.unauthorized());
			return;
		}
	}
	if (faults.roll('serverError', route.routeKey)) {
		await refuse(new DiscordApiError(500, 0, '500: Internal Server Error'));
		return;
	}
	if (faults.roll('rateLimit', route.routeKey)) {
		const retryAfterMs = faults.settings.rateLimitRetryAfterMs;
		emu.stats.status429++;
		await drain(request);
		writeJson(response, 429, rateLimitBody(retryAfterMs, false), {
			'Retry-After': (retryAfterMs / 1000).toFixed(3),
			'X-RateLimit-Scope': 'shared'
		});
		return;
	}
	let headers: Record<string, string> = {};
	if (route.rateLimited) {
		const decision = rateLimits.take(route.routeKey, majorOf(route, params));
		headers = decision.headers;
		if (decision.refused) {
			emu.stats.status429++;
			await drain(request);
			writeJson(response, 429, rateLimitBody(decision.refused.retryAfterMs, decision.refused.global), headers);
			return;
		}
	}
	const resetMidBody = hasBody(request) && faults.roll('resetMidBody', route.routeKey);
	const body = bodyOf(emu, request, resetMidBody);
	const context: RestContext = { emu, method, routeKey: route.routeKey, params, query: url.searchParams, headers: request.headers, body };
	let result: Reply;
	try {
		result = await route.handler(context);
	} catch (error) {
		if (request.socket.destroyed) return;
		if (error instanceof DiscordApiError) {
			await drain(body);
			writeJson(response, error.status, error.toBody(), headers);
			return;
		}
		throw error;
	}
	await drain(body);
	if (result.committed && faults.roll('dropAfterCommit', route.routeKey)) {
		request.socket.destroy();
		return;
	}
	writeJson(response, result.status, result.body, headers);
}

const CDN_PATH = /^\/attachments\/(\d+)\/(\d+)\/([^/]+)$/;

/**
 * The CDN: signed, expiring attachment URLs served from disk (with Range support, the download cap, 5xx and
 * connections cut mid-body on request).
 */
async function serveAttachment(emu: Emulation, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
	const routeKey = CDN_ROUTE_KEY;
	emu.stats.count(routeKey);
	const notAvailable = () => {
		response.writeHead(404, { 'Content-Type': 'text/plain' }).end('This content is no longer available.');
	};
	if (request.method !== 'GET' && request.method !== 'HEAD') {
		response.writeHead(405).end();
		return;
	}
	if (emu.faults.settings.latencyMs > 0) await sleep(emu.faults.settings.latencyMs);
	const match = CDN_PATH.exec(url.pathname);
	if (!match || !emu.cdn.verify(url.pathname, url.searchParams)) {
		notAvailable();
		return;
	}
	if (emu.faults.roll('serverError', routeKey)) {
		emu.stats.status5xx++;
		response.writeHead(502, { 'Content-Type': 'text/plain' }).end('Bad Gateway');
		return;
	}
	const [, channelId, attachmentId, encodedName] = match;
	const message = emu.world.attachmentOwner(attachmentId!);
	const attachment = message?.attachments.find((entry) => entry.id === attachmentId);
	if (!message || !attachment || message.channelId !== channelId || encodeURIComponent(attachment.filename) !== encodedName) {
		notAvailable();
		return;
	}
	let start = 0;
	let end = attachment.size - 1;
	let status = 200;
	const range = request.headers.range;
	const headers: Record<string, string> = {
		'Content-Type': attachment.contentType ?? 'application/octet-stream',
		'Accept-Ranges': 'bytes',
		'Cache-Control': 'public, max-age=31536000'
	};
	if (range) {
		const parsed = /^bytes=(\d*)-(\d*)$/.exec(range);
		const from = parsed?.[1] ? Number(parsed[1]) : null;
		const to = parsed?.[2] ? Number(parsed[2]) : null;
		if (!parsed || (from === null && to === null) || (from !== null && from >= attachment.size)) {
			response.writeHead(416, { 'Content-Range': `bytes */${attachment.size}` }).end();
			return;
		}
		if (from === null) start = Math.max(0, attachment.size - to!);
		else {
			start = from;
			if (to !== null) end = Math.min(to, attachment.size - 1);
		}
		status = 206;
		headers['Content-Range'] = `bytes ${start}-${end}/${attachment.size}`;
	}
	const length = Math.max(0, end - start + 1);
	headers['Content-Length'] = String(length);
	response.writeHead(status, headers);
	if (request.method === 'HEAD' || length === 0) {
		response.end();
		return;
	}
	emu.stats.cdnBytes += length;
	// A cut response reads only the bytes before the cut from disk; a body under 2 bytes has no middle to cut at.
	const cut = length >= 2 && emu.faults.roll('cdnResetMidBody', routeKey);
	const last = cut ? start + Math.floor(length / 2) - 1 : end;
	const file = createReadStream(emu.world.attachmentPath(attachment.id), { start, end: last, highWaterMark: 256 * 1024 });
	const cap = emu.faults.settings.downloadBytesPerSec;
	const stages: (NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream)[] = [file];
	if (cap > 0) stages.push(new BandwidthCap(cap));
	stages.push(cut ? new CutResponse(response) : response);
	await new Promise<void>((resolve) => {
		pipeline(stages, () => {
			resolve();
		});
	});
}
