import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator, InteractionRequest } from '../../src/emulator/index.js';
import { OpenApiSpec } from '../support/openapi.js';
import { RawGateway, emulatorFor, expectNoUnknownRoutes } from './support.js';

/**
 * Every JSON answer the emulator gives on the routes the bot and the transport use — successes, 4xx and 429 —
 * checked against Discord's official OpenAPI description (test/fixtures/discord-openapi.json), raw over HTTP so
 * nothing between the emulator and the check reshapes it.
 */

/**
 * Where the spec and Discord's own documentation disagree, the emulator answers as the documentation says
 * (src/emulator/README.md lists these). Each disagreement checks that the answer differs in
 * exactly the documented way, then brings it to the spec's shape so everything else is still checked.
 */
const DOCUMENTED_DISAGREEMENTS: readonly {
	readonly why: string;
	readonly applies: (status: number, body: Json) => boolean;
	readonly adjust: (body: Json) => Json;
}[] = [
	{
		why: 'field errors (errors.…._errors[]) carry string codes such as BASE_TYPE_MAX_LENGTH; the spec types every error code as an integer',
		applies: (status, body) => status === 400 && typeof body?.errors === 'object',
		adjust: (body) => ({ ...body, errors: integerFieldCodes(body.errors) })
	},
	{
		why: 'the documented 429 body is { message, retry_after, global } without code; the spec requires code',
		applies: (status, body) => status === 429 && body !== undefined && !('code' in body),
		adjust: (body) => ({ ...body, code: 0 })
	}
];

/** The `errors` tree with each field error's string code (checked to be one) in the spec's integer place. */
function integerFieldCodes(tree: Json): Json {
	if (Array.isArray(tree)) {
		return tree.map((error) => {
			expect(error.code, 'a field error code, as Discord documents it').toMatch(/^[A-Z][A-Z0-9_]*$/);
			return { ...error, code: 0 };
		});
	}
	if (typeof tree !== 'object' || tree === null) return tree;
	return Object.fromEntries(Object.entries(tree).map(([key, value]) => [key, integerFieldCodes(value)]));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON as it comes off the wire.
type Json = any;

interface Answer {
	readonly status: number;
	readonly body: Json;
}

const spec = new OpenApiSpec();
let emulator: Emulator;
let gateway: RawGateway;
/** Every `method spec-path status` checked, so the last test can prove the coverage. */
const checked = new Set<string>();

beforeAll(async () => {
	emulator = await emulatorFor({
		limits: { attachmentBytes: 4096, channelMessagesPerWindow: 1000, globalRequestsPerSecond: 10_000, routeRequestsPerSecond: 10_000 }
	});
	gateway = new RawGateway(emulator.gatewayUrl, emulator.token);
	await gateway.next('GUILD_CREATE');
});

afterAll(async () => {
	gateway?.close();
	if (emulator) {
		expectNoUnknownRoutes(emulator);
		await emulator.close();
	}
});

/**
 * Sends one raw request and checks its answer against the spec's response for `specPath`.
 * @returns the status and the parsed body.
 */
async function call(
	method: string,
	specPath: string,
	path: string,
	options: { body?: unknown; form?: FormData; auth?: boolean; expect?: number } = {}
): Promise<Answer> {
	const headers: Record<string, string> = options.auth === false ? {} : { Authorization: `Bot ${emulator.token}` };
	let body: string | FormData | undefined;
	if (options.form) body = options.form;
	else if (options.body !== undefined) {
		headers['Content-Type'] = 'application/json';
		body = JSON.stringify(options.body);
	}
	const response = await fetch(`${emulator.apiUrl}/v10${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
	const text = await response.text();
	if (text.length > 0) expect(response.headers.get('content-type')).toMatch(/^application\/json/);
	const parsed: Json = text.length > 0 ? JSON.parse(text) : undefined;
	if (options.expect !== undefined) expect({ status: response.status, body: parsed }).toMatchObject({ status: options.expect });
	let checkedBody: Json = parsed;
	for (const known of DOCUMENTED_DISAGREEMENTS) if (known.applies(response.status, checkedBody)) checkedBody = known.adjust(checkedBody);
	const problems = spec.problems({ method, path: specPath, status: response.status, body: checkedBody });
	expect(problems.join('\n'), `${method} ${path} → ${response.status} ${text.slice(0, 300)}`).toBe('');
	checked.add(`${method} ${specPath} ${response.status}`);
	return { status: response.status, body: parsed };
}

const post = (channelId: string, body: unknown) =>
	call('POST', '/channels/{channel_id}/messages', `/channels/${channelId}/messages`, { body, expect: 200 });

/** Starts an interaction as the owner and returns its id and token as the bot's gateway saw them. */
async function interaction(
	request: InteractionRequest = { kind: 'command', command: 'archive', subcommand: 'status' }
): Promise<{ id: string; token: string }> {
	const from = gateway.events.length;
	const { id } = emulator.interact({ user: 'owner', ...request });
	const event = await gateway.next('INTERACTION_CREATE', from);
	expect(event.id).toBe(id);
	return { id: event.id as string, token: event.token as string };
}

describe('emulator answers conform to Discord’s OpenAPI description', () => {
	it('GIVEN the start-up routes WHEN called THEN gateway/bot, gateway, users/@me, users/:id and applications/@me conform', async () => {
		await call('GET', '/gateway/bot', '/gateway/bot', { expect: 200 });
		await call('GET', '/gateway', '/gateway', { expect: 200 });
		await call('GET', '/users/@me', '/users/@me', { expect: 200 });
		await call('GET', '/users/{user_id}', `/users/${emulator.ids.users.member}`, { expect: 200 });
		await call('GET', '/applications/@me', '/applications/@me', { expect: 200 });
	});

	it('GIVEN application commands WHEN bulk-put, listed, created, edited and deleted THEN each answer conforms', async () => {
		const app = emulator.ids.applicationId;
		const guild = emulator.ids.guildId;
		const command = {
			name: 'archive',
			description: 'Archive folders',
			options: [
				{
					type: 1,
					name: 'status',
					description: 'Status',
					options: [{ type: 3, name: 'id', description: 'archive id', autocomplete: true, required: false }]
				},
				{ type: 1, name: 'upload', description: 'Upload', options: [{ type: 5, name: 'dry', description: 'dry run' }] }
			]
		};
		const guildPath = '/applications/{application_id}/guilds/{guild_id}/commands';
		const put = await call('PUT', guildPath, `/applications/${app}/guilds/${guild}/commands`, { body: [command], expect: 200 });
		await call('GET', guildPath, `/applications/${app}/guilds/${guild}/commands`, { expect: 200 });
		const created = await call('POST', guildPath, `/applications/${app}/guilds/${guild}/commands`, {
			body: { name: 'ping', description: 'Ping', type: 1 }
		});
		await call('PATCH', `${guildPath}/{command_id}`, `/applications/${app}/guilds/${guild}/commands/${created.body.id}`, {
			body: { description: 'Ping again' },
			expect: 200
		});
		await call('DELETE', `${guildPath}/{command_id}`, `/applications/${app}/guilds/${guild}/commands/${created.body.id}`, { expect: 204 });
		expect(put.body).toHaveLength(1);

		const globalPath = '/applications/{application_id}/commands';
		await call('PUT', globalPath, `/applications/${app}/commands`, { body: [], expect: 200 });
		const global = await call('POST', globalPath, `/applications/${app}/commands`, { body: { name: 'hello', description: 'Hello' } });
		await call('GET', globalPath, `/applications/${app}/commands`, { expect: 200 });
		await call('PATCH', `${globalPath}/{command_id}`, `/applications/${app}/commands/${global.body.id}`, { body: { name: 'hi' }, expect: 200 });
		await call('DELETE', `${globalPath}/{command_id}`, `/applications/${app}/commands/${global.body.id}`, { expect: 204 });
	});

	it('GIVEN an interaction WHEN deferred, its original edited and read, and followed up THEN each answer conforms', async () => {
		const app = emulator.ids.applicationId;
		const deferred = await interaction();
		const callbackPath = '/interactions/{interaction_id}/{interaction_token}/callback';
		await call('POST', callbackPath, `/interactions/${deferred.id}/${deferred.token}/callback`, { body: { type: 5 }, auth: false, expect: 204 });
		const original = '/webhooks/{webhook_id}/{webhook_token}/messages/@original';
		await call('PATCH', original, `/webhooks/${app}/${deferred.token}/messages/@original`, {
			body: {
				content: 'done',
				embeds: [{ title: '#241126-07', description: 'complete', fields: [{ name: 'size', value: '1 KiB', inline: true }] }],
				components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Download', custom_id: 'archive:download:1' }] }]
			},
			auth: false,
			expect: 200
		});
		await call('GET', original, `/webhooks/${app}/${deferred.token}/messages/@original`, { auth: false, expect: 200 });
		const followup = await call('POST', '/webhooks/{webhook_id}/{webhook_token}', `/webhooks/${app}/${deferred.token}?wait=true`, {
			body: { content: 'a follow-up', flags: 64 },
			auth: false,
			expect: 200
		});
		const byId = '/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}';
		await call('GET', byId, `/webhooks/${app}/${deferred.token}/messages/${followup.body.id}`, { auth: false, expect: 200 });
		await call('PATCH', byId, `/webhooks/${app}/${deferred.token}/messages/${followup.body.id}`, {
			body: { content: 'edited' },
			auth: false,
			expect: 200
		});

		const answered = await interaction();
		const withResponse = await call('POST', callbackPath, `/interactions/${answered.id}/${answered.token}/callback?with_response=true`, {
			body: { type: 4, data: { content: 'at once', flags: 64 } },
			auth: false,
			expect: 200
		});
		expect(withResponse.body.interaction.id).toBe(answered.id);
		const again = await call('POST', callbackPath, `/interactions/${answered.id}/${answered.token}/callback`, {
			body: { type: 4, data: { content: 'twice' } },
			auth: false,
			expect: 400
		});
		expect(again.body.code).toBe(40060);
	});

	it('GIVEN a button and autocomplete WHEN answered with an update, choices, then deleted, and a bad token is used THEN each answer conforms', async () => {
		const app = emulator.ids.applicationId;
		const callbackPath = '/interactions/{interaction_id}/{interaction_token}/callback';
		const card = await post(emulator.ids.channels.archive, {
			content: 'card',
			components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Verify', custom_id: 'archive:verify:10' }] }]
		});
		const click = await interaction({ kind: 'button', messageId: card.body.id, customId: 'archive:verify:10' });
		const updated = await call('POST', callbackPath, `/interactions/${click.id}/${click.token}/callback?with_response=true`, {
			body: { type: 7, data: { content: 'verifying', components: [] } },
			auth: false,
			expect: 200
		});
		expect(updated.body.resource.type).toBe(7);
		const followup = await call('POST', '/webhooks/{webhook_id}/{webhook_token}', `/webhooks/${app}/${click.token}?wait=true`, {
			body: { content: 'verified' },
			auth: false,
			expect: 200
		});
		await call(
			'DELETE',
			'/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}',
			`/webhooks/${app}/${click.token}/messages/${followup.body.id}`,
			{
				auth: false,
				expect: 204
			}
		);

		const typing = await interaction({ kind: 'autocomplete', command: 'archive', subcommand: 'status', options: { id: '#24' }, focused: 'id' });
		await call('POST', callbackPath, `/interactions/${typing.id}/${typing.token}/callback`, {
			body: { type: 8, data: { choices: [{ name: '#241126-07', value: '#241126-07' }] } },
			auth: false,
			expect: 204
		});

		const asked = await interaction();
		await call('POST', callbackPath, `/interactions/${asked.id}/${asked.token}/callback`, {
			body: { type: 4, data: { content: 'x' } },
			auth: false,
			expect: 204
		});
		await call('DELETE', '/webhooks/{webhook_id}/{webhook_token}/messages/@original', `/webhooks/${app}/${asked.token}/messages/@original`, {
			auth: false,
			expect: 204
		});
		const forged = await call(
			'GET',
			'/webhooks/{webhook_id}/{webhook_token}/messages/@original',
			`/webhooks/${app}/not-a-token/messages/@original`,
			{
				auth: false,
				expect: 404
			}
		);
		expect(forged.body.code).toBe(10015);
		const unknown = await call('POST', callbackPath, `/interactions/1100000000000000999/not-a-token/callback`, {
			body: { type: 5 },
			auth: false,
			expect: 404
		});
		expect(unknown.body.code).toBe(10062);
	});

	it('GIVEN channels and messages WHEN read, posted (JSON and multipart), edited and deleted THEN each answer conforms', async () => {
		const archive = emulator.ids.channels.archive;
		await call('GET', '/channels/{channel_id}', `/channels/${archive}`, { expect: 200 });
		const card = await post(archive, {
			embeds: [{ title: '#241126-08', description: 'uploading', footer: { text: 'dos:v1' }, timestamp: new Date().toISOString() }],
			components: [{ type: 1, components: [{ type: 2, style: 2, label: 'Cancel', custom_id: 'archive:cancel:8' }] }],
			nonce: 'card-8',
			enforce_nonce: true
		});
		const form = new FormData();
		form.append(
			'payload_json',
			JSON.stringify({ content: 'chunk 1/1', nonce: 'chunk-8', enforce_nonce: true, attachments: [{ id: 0, filename: 'c.bin' }] })
		);
		form.append('files[0]', new Blob([new Uint8Array(100)]), 'c.bin');
		const chunk = await call('POST', '/channels/{channel_id}/messages', `/channels/${archive}/messages`, { form, expect: 200 });
		expect(chunk.body.attachments).toHaveLength(1);
		const message = '/channels/{channel_id}/messages/{message_id}';
		await call('GET', message, `/channels/${archive}/messages/${card.body.id}`, { expect: 200 });
		await call('PATCH', message, `/channels/${archive}/messages/${card.body.id}`, {
			body: { embeds: [{ title: 'done' }], components: [] },
			expect: 200
		});
		await call('GET', '/channels/{channel_id}/messages', `/channels/${archive}/messages?limit=100`, { expect: 200 });
		await call('DELETE', message, `/channels/${archive}/messages/${chunk.body.id}`, { expect: 204 });
	});

	it('GIVEN threads WHEN started from a message and without one, archived and locked, listed THEN each answer conforms', async () => {
		const archive = emulator.ids.channels.archive;
		const guild = emulator.ids.guildId;
		const card = await post(archive, { content: 'card' });
		const thread = await call(
			'POST',
			'/channels/{channel_id}/messages/{message_id}/threads',
			`/channels/${archive}/messages/${card.body.id}/threads`,
			{
				body: { name: '#241126-09', auto_archive_duration: 10080 },
				expect: 201
			}
		);
		const inside = await post(thread.body.id, { content: 'inside' });
		await call('GET', '/channels/{channel_id}', `/channels/${thread.body.id}`, { expect: 200 });
		await call('GET', '/guilds/{guild_id}/threads/active', `/guilds/${guild}/threads/active`, { expect: 200 });
		await call('GET', '/channels/{channel_id}/messages/{message_id}', `/channels/${archive}/messages/${card.body.id}`, { expect: 200 });
		await call('PATCH', '/channels/{channel_id}', `/channels/${thread.body.id}`, { body: { archived: true, locked: true }, expect: 200 });
		await call('GET', '/channels/{channel_id}/threads/archived/public', `/channels/${archive}/threads/archived/public`, { expect: 200 });
		const edit = await call('PATCH', '/channels/{channel_id}/messages/{message_id}', `/channels/${thread.body.id}/messages/${inside.body.id}`, {
			body: { content: 'archived' },
			expect: 400
		});
		expect(edit.body.code).toBe(50083);
		await call('PATCH', '/channels/{channel_id}', `/channels/${thread.body.id}`, { body: { archived: false, locked: false }, expect: 200 });
		const loose = await call('POST', '/channels/{channel_id}/threads', `/channels/${emulator.ids.channels.log}/threads`, {
			body: { name: 'loose', type: 11, auto_archive_duration: 60 },
			expect: 201
		});
		await call('DELETE', '/channels/{channel_id}', `/channels/${loose.body.id}`, { expect: 200 });
	});

	it('GIVEN the guild WHEN it, its channels, roles and members are read THEN each answer conforms', async () => {
		const guild = emulator.ids.guildId;
		await call('GET', '/guilds/{guild_id}', `/guilds/${guild}`, { expect: 200 });
		await call('GET', '/guilds/{guild_id}', `/guilds/${guild}?with_counts=true`, { expect: 200 });
		await call('GET', '/guilds/{guild_id}/channels', `/guilds/${guild}/channels`, { expect: 200 });
		await call('GET', '/guilds/{guild_id}/roles', `/guilds/${guild}/roles`, { expect: 200 });
		await call('GET', '/guilds/{guild_id}/members', `/guilds/${guild}/members?limit=100`, { expect: 200 });
		await call('GET', '/guilds/{guild_id}/members/{user_id}', `/guilds/${guild}/members/${emulator.ids.botUserId}`, { expect: 200 });
	});

	it('GIVEN refusals WHEN 400, 401, 403, 404, 413 and 429 are provoked THEN each error body conforms', async () => {
		const archive = emulator.ids.channels.archive;
		const messages = '/channels/{channel_id}/messages';
		const tooLong = await call('POST', messages, `/channels/${archive}/messages`, { body: { content: 'x'.repeat(2001) }, expect: 400 });
		expect(tooLong.body.errors.content._errors[0].code).toBe('BASE_TYPE_MAX_LENGTH');
		await call('POST', messages, `/channels/${archive}/messages`, { body: { content: '' }, expect: 400 });
		await call('GET', '/users/@me', '/users/@me', { auth: false, expect: 401 });
		await call('GET', '/channels/{channel_id}', '/channels/1100000000000000999', { expect: 404 });
		await call('GET', '/guilds/{guild_id}/members/{user_id}', `/guilds/${emulator.ids.guildId}/members/1100000000000000999`, { expect: 404 });
		const form = new FormData();
		form.append('payload_json', JSON.stringify({ attachments: [{ id: 0, filename: 'big.bin' }] }));
		form.append('files[0]', new Blob([new Uint8Array(5000)]), 'big.bin');
		const tooLarge = await call('POST', messages, `/channels/${archive}/messages`, { form, expect: 413 });
		expect(tooLarge.body.code).toBe(40005);

		const tooMany = new FormData();
		tooMany.append(
			'payload_json',
			JSON.stringify({ attachments: Array.from({ length: 11 }, (_, index) => ({ id: index, filename: `f${index}.bin` })) })
		);
		for (let index = 0; index < 11; index++) tooMany.append(`files[${index}]`, new Blob([new Uint8Array(1)]), `f${index}.bin`);
		expect((await call('POST', messages, `/channels/${archive}/messages`, { form: tooMany, expect: 400 })).body.code).toBe(30015);
		const nested = await call('POST', messages, `/channels/${archive}/messages`, {
			body: { embeds: [{ title: 't'.repeat(257), fields: [{ name: '', value: 'v' }] }] },
			expect: 400
		});
		expect(nested.body.code).toBe(50035);
		const card = await post(archive, { content: 'card' });
		const threads = '/channels/{channel_id}/messages/{message_id}/threads';
		await call('POST', threads, `/channels/${archive}/messages/${card.body.id}/threads`, { body: { name: 'once' }, expect: 201 });
		const twice = await call('POST', threads, `/channels/${archive}/messages/${card.body.id}/threads`, { body: { name: 'twice' }, expect: 400 });
		expect(twice.body.code).toBe(160004);
		emulator.setLimits({ activeThreads: emulator.state().channels.filter((channel) => channel.parentId !== null && !channel.archived).length });
		const another = await post(archive, { content: 'another card' });
		const capped = await call('POST', threads, `/channels/${archive}/messages/${another.body.id}/threads`, {
			body: { name: 'capped' },
			expect: 400
		});
		expect(capped.body.code).toBe(160006);
		emulator.setLimits({ activeThreads: 1000 });

		emulator.setBotAccess(emulator.ids.channels.log, 'read-only');
		const forbidden = await call('POST', messages, `/channels/${emulator.ids.channels.log}/messages`, { body: { content: 'x' }, expect: 403 });
		expect(forbidden.body.code).toBe(50013);
		emulator.setBotAccess(emulator.ids.channels.log, 'none');
		await call('GET', '/channels/{channel_id}', `/channels/${emulator.ids.channels.log}`, { expect: 403 });
		emulator.setBotAccess(emulator.ids.channels.log, 'full');

		emulator.faults.set({ rateLimitNext: 1, rateLimitRetryAfterMs: 10 });
		const limited = await call('GET', '/channels/{channel_id}', `/channels/${archive}`, { expect: 429 });
		expect(limited.body).toMatchObject({ retry_after: 0.01, global: false });
		emulator.faults.reset();
		emulator.setLimits({ channelMessagesPerWindow: 1, channelMessageWindowMs: 60_000 });
		// A new thread is a new channel bucket, so the tighter limit holds from its first message.
		const thread = await call('POST', '/channels/{channel_id}/threads', `/channels/${archive}/threads`, {
			body: { name: 'bucket', type: 11 },
			expect: 201
		});
		await post(thread.body.id, { content: 'fills the bucket' });
		const bucket = await call('POST', messages, `/channels/${thread.body.id}/messages`, { body: { content: 'one too many' }, expect: 429 });
		expect(bucket.body.retry_after).toBeGreaterThan(0);
		emulator.setLimits({ channelMessagesPerWindow: 1000, channelMessageWindowMs: 5000 });
	});

	it('GIVEN a pinned message WHEN pinned, listed and unpinned THEN each answer conforms', async () => {
		const channelId = emulator.ids.channels.archive;
		const message = await post(channelId, { content: 'keys' });
		await call('PUT', '/channels/{channel_id}/messages/pins/{message_id}', `/channels/${channelId}/messages/pins/${message.body.id}`, {
			expect: 204
		});
		const listed = await call('GET', '/channels/{channel_id}/messages/pins', `/channels/${channelId}/messages/pins?limit=10`, { expect: 200 });
		expect(listed.body.items.map((item: Json) => item.message.id)).toContain(message.body.id);
		await call('DELETE', '/channels/{channel_id}/messages/pins/{message_id}', `/channels/${channelId}/messages/pins/${message.body.id}`, {
			expect: 204
		});
	});

	it('GIVEN everything above WHEN the checked answers are listed THEN every route the bot and the transport use, and every refusal, was checked', () => {
		const routes = [
			'GET /gateway/bot 200',
			'GET /gateway 200',
			'GET /users/@me 200',
			'GET /users/{user_id} 200',
			'GET /applications/@me 200',
			'PUT /applications/{application_id}/guilds/{guild_id}/commands 200',
			'GET /applications/{application_id}/guilds/{guild_id}/commands 200',
			'POST /applications/{application_id}/guilds/{guild_id}/commands 201',
			'PATCH /applications/{application_id}/guilds/{guild_id}/commands/{command_id} 200',
			'DELETE /applications/{application_id}/guilds/{guild_id}/commands/{command_id} 204',
			'PUT /applications/{application_id}/commands 200',
			'GET /applications/{application_id}/commands 200',
			'POST /applications/{application_id}/commands 201',
			'PATCH /applications/{application_id}/commands/{command_id} 200',
			'DELETE /applications/{application_id}/commands/{command_id} 204',
			'POST /interactions/{interaction_id}/{interaction_token}/callback 204',
			'POST /interactions/{interaction_id}/{interaction_token}/callback 200',
			'POST /interactions/{interaction_id}/{interaction_token}/callback 400',
			'GET /webhooks/{webhook_id}/{webhook_token}/messages/@original 200',
			'PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original 200',
			'POST /webhooks/{webhook_id}/{webhook_token} 200',
			'GET /webhooks/{webhook_id}/{webhook_token}/messages/{message_id} 200',
			'PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id} 200',
			'GET /channels/{channel_id} 200',
			'PATCH /channels/{channel_id} 200',
			'DELETE /channels/{channel_id} 200',
			'GET /channels/{channel_id}/messages 200',
			'POST /channels/{channel_id}/messages 200',
			'GET /channels/{channel_id}/messages/{message_id} 200',
			'PATCH /channels/{channel_id}/messages/{message_id} 200',
			'DELETE /channels/{channel_id}/messages/{message_id} 204',
			'POST /channels/{channel_id}/messages/{message_id}/threads 201',
			'POST /channels/{channel_id}/threads 201',
			'GET /guilds/{guild_id}/threads/active 200',
			'PUT /channels/{channel_id}/messages/pins/{message_id} 204',
			'GET /channels/{channel_id}/messages/pins 200',
			'DELETE /channels/{channel_id}/messages/pins/{message_id} 204',
			'GET /channels/{channel_id}/threads/archived/public 200',
			'GET /guilds/{guild_id} 200',
			'GET /guilds/{guild_id}/channels 200',
			'GET /guilds/{guild_id}/roles 200',
			'GET /guilds/{guild_id}/members 200',
			'GET /guilds/{guild_id}/members/{user_id} 200',
			'POST /channels/{channel_id}/messages 400',
			'PATCH /channels/{channel_id}/messages/{message_id} 400',
			'GET /users/@me 401',
			'POST /channels/{channel_id}/messages 403',
			'GET /channels/{channel_id} 403',
			'GET /channels/{channel_id} 404',
			'POST /channels/{channel_id}/messages 413',
			'POST /channels/{channel_id}/messages/{message_id}/threads 400',
			'DELETE /webhooks/{webhook_id}/{webhook_token}/messages/@original 204',
			'DELETE /webhooks/{webhook_id}/{webhook_token}/messages/{message_id} 204',
			'GET /webhooks/{webhook_id}/{webhook_token}/messages/@original 404',
			'POST /interactions/{interaction_id}/{interaction_token}/callback 404',
			'GET /channels/{channel_id} 429',
			'POST /channels/{channel_id}/messages 429'
		];
		expect(routes.filter((route) => !checked.has(route))).toEqual([]);
	});
});
