import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtCli, ensureBuilt } from '../support/build.js';
import { RawGateway } from './support.js';

/**
 * Drives the emulator as an outside script would: started as `dos emulator`, then only HTTP (control API and
 * REST through fetch) and a raw WebSocket for the gateway. No TypeScript API, no discord.js. The CLI is the built one
 * (`dist/`, built by the e2e project's global setup), which loads only the command it runs.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON as an outside script reads it: untyped on purpose.
type Json = any;

interface Ready {
	ready: true;
	api: string;
	control: string;
	gateway: string;
	token: string;
	guildId: string;
	applicationId: string;
	botUserId: string;
	users: { owner: string; member: string; outsider: string };
	channels: { archive: string; log: string };
}

function startCli(args: string[]): { child: ChildProcessWithoutNullStreams; ready: Promise<Ready> } {
	const child = spawn(process.execPath, [builtCli, 'emulator', ...args], { cwd: process.cwd() });
	const lines = createInterface({ input: child.stdout });
	const ready = new Promise<Ready>((resolve, reject) => {
		let stderr = '';
		child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
		lines.once('line', (line) => {
			resolve(JSON.parse(line) as Ready);
		});
		child.once('exit', (code) => {
			reject(new Error(`dos emulator exited with ${code}: ${stderr}`));
		});
	});
	return { child, ready };
}

async function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
	if (child.exitCode !== null) return child.exitCode;
	const exited = once(child, 'exit');
	child.kill('SIGTERM');
	const [code] = (await exited) as [number | null];
	return code;
}

let dataDir: string;
let cli: ChildProcessWithoutNullStreams;
let ready: Ready;

const control = async (method: string, path: string, body?: unknown) => {
	const response = await fetch(`${ready.control}${path}`, {
		method,
		...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
	});
	return { status: response.status, body: response.status === 204 ? null : ((await response.json()) as Record<string, Json>) };
};

const api = async (method: string, path: string, body?: unknown, auth = true) => {
	const response = await fetch(`${ready.api}/v10${path}`, {
		method,
		headers: { ...(auth ? { Authorization: `Bot ${ready.token}` } : {}), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
		...(body === undefined ? {} : { body: JSON.stringify(body) })
	});
	return { status: response.status, body: response.status === 204 ? null : ((await response.json()) as Json) };
};

beforeAll(async () => {
	await ensureBuilt();
	dataDir = await mkdtemp(join(tmpdir(), 'dos-emu-cli-'));
	const started = startCli(['--port', '0', '--data', dataDir]);
	cli = started.child;
	ready = await started.ready;
});

afterAll(async () => {
	await stop(cli);
	await rm(dataDir, { recursive: true, force: true });
});

describe('dos emulator and the HTTP control API', () => {
	it('GIVEN dos emulator WHEN it is ready THEN it prints one JSON line with the URLs and ids, and /_emu/state agrees', async () => {
		expect(ready).toMatchObject({ ready: true });
		expect(ready.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api$/);
		expect(ready.control).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/_emu$/);
		const { status, body } = await control('GET', '/state');
		expect(status).toBe(200);
		expect(body).toMatchObject({ guildId: ready.guildId, applicationId: ready.applicationId, botUserId: ready.botUserId, users: ready.users });
		const names = Object.fromEntries((body!.channels as { name: string; id: string }[]).map((channel) => [channel.name, channel]));
		expect(names.archive).toMatchObject({ id: ready.channels.archive, type: 0, parentId: null, archived: false });
		expect(names.log).toMatchObject({ id: ready.channels.log });
	});

	it('GIVEN a script WHEN it runs a command, autocompletes and clicks a button THEN a raw gateway bot answers and the control API shows it', async () => {
		const registered = await api('PUT', `/applications/${ready.applicationId}/guilds/${ready.guildId}/commands`, [
			{
				name: 'archive',
				description: 'Archive',
				options: [
					{
						type: 1,
						name: 'download',
						description: 'Download',
						options: [{ type: 3, name: 'id', description: 'archive id', autocomplete: true, required: true }]
					}
				]
			}
		]);
		expect(registered.status).toBe(200);
		const bot = new RawGateway(ready.gateway, ready.token);
		try {
			const readyEvent = await bot.next('READY');
			expect(readyEvent).toMatchObject({
				v: 10,
				user: { id: ready.botUserId },
				application: { id: ready.applicationId },
				guilds: [{ id: ready.guildId, unavailable: true }]
			});
			expect(readyEvent.resume_gateway_url).toBe(ready.gateway);
			const guild = await bot.next('GUILD_CREATE');
			expect(guild.channels.map((channel: { id: string }) => channel.id)).toContain(ready.channels.archive);
			expect(guild.members.map((member: { user: { id: string } }) => member.user.id)).toContain(ready.botUserId);

			let from = bot.events.length;
			const command = await control('POST', '/interactions', {
				kind: 'command',
				command: 'archive',
				subcommand: 'download',
				options: { id: '#241126-07' },
				user: 'owner'
			});
			expect(command.status).toBe(200);
			const commandEvent = await bot.next('INTERACTION_CREATE', from);
			expect(commandEvent).toMatchObject({
				id: command.body!.id,
				type: 2,
				entitlements: [],
				guild_id: ready.guildId,
				channel_id: ready.channels.archive
			});
			expect(commandEvent.data.options[0]).toMatchObject({
				type: 1,
				name: 'download',
				options: [{ name: 'id', type: 3, value: '#241126-07' }]
			});
			const pending = await control('GET', `/interactions/${command.body!.id}`);
			expect(pending.body).toMatchObject({ status: 'pending', reply: null, followups: [], choices: null });
			const answered = await api(
				'POST',
				`/interactions/${commandEvent.id}/${commandEvent.token}/callback`,
				{ type: 4, data: { content: 'downloading' } },
				false
			);
			expect(answered.status).toBe(204);
			const view = await control('GET', `/interactions/${command.body!.id}?wait=2000`);
			expect(view.body).toMatchObject({
				id: command.body!.id,
				kind: 'command',
				status: 'acknowledged',
				reply: { content: 'downloading' },
				followups: []
			});

			from = bot.events.length;
			const typing = await control('POST', '/interactions', {
				kind: 'autocomplete',
				command: 'archive',
				subcommand: 'download',
				focused: 'id',
				options: { id: '#24' }
			});
			const typingEvent = await bot.next('INTERACTION_CREATE', from);
			expect(typingEvent.type).toBe(4);
			expect(typingEvent.data.options[0].options[0]).toMatchObject({ name: 'id', value: '#24', focused: true });
			await api(
				'POST',
				`/interactions/${typingEvent.id}/${typingEvent.token}/callback`,
				{ type: 8, data: { choices: [{ name: '#241126-07 · photos', value: '#241126-07' }] } },
				false
			);
			expect((await control('GET', `/interactions/${typing.body!.id}?wait=2000`)).body).toMatchObject({
				kind: 'autocomplete',
				status: 'acknowledged',
				choices: [{ name: '#241126-07 · photos', value: '#241126-07' }]
			});

			const card = await api('POST', `/channels/${ready.channels.archive}/messages`, {
				content: 'card',
				components: [{ type: 1, components: [{ type: 2, style: 4, label: 'Delete', custom_id: 'archive:delete:uid' }] }]
			});
			from = bot.events.length;
			const click = await control('POST', '/interactions', {
				kind: 'button',
				messageId: card.body.id,
				customId: 'archive:delete:uid',
				user: 'outsider'
			});
			const clickEvent = await bot.next('INTERACTION_CREATE', from);
			expect(clickEvent).toMatchObject({
				type: 3,
				data: { custom_id: 'archive:delete:uid', component_type: 2 },
				message: { id: card.body.id },
				member: { user: { id: ready.users.outsider } }
			});
			await api(
				'POST',
				`/interactions/${clickEvent.id}/${clickEvent.token}/callback`,
				{ type: 4, data: { content: 'Only owners can delete.', flags: 64 } },
				false
			);
			expect((await control('GET', `/interactions/${click.body!.id}?wait=2000`)).body).toMatchObject({
				status: 'acknowledged',
				reply: { content: 'Only owners can delete.', ephemeral: true }
			});

			const messages = await control('GET', `/channels/${ready.channels.archive}/messages`);
			expect(messages.body).toEqual([
				expect.objectContaining({ content: 'downloading', author: { id: ready.botUserId, bot: true }, thread: null, editedAt: null }),
				expect.objectContaining({ id: card.body.id, content: 'card', attachments: [], embeds: [] })
			]);

			const closed = bot.closed();
			expect((await control('POST', '/gateway/drop', {})).body).toEqual({ dropped: 1 });
			await closed;
		} finally {
			bot.close();
		}
	});

	it('GIVEN faults, permissions and corruption WHEN set over HTTP THEN REST and stats reflect them', async () => {
		const faults = await control('PUT', '/faults', { serverErrorNext: 1, routes: ['GET /users/@me'] });
		expect(faults.body).toMatchObject({ serverErrorNext: 1, routes: ['GET /users/@me'], serverErrorRate: 0 });
		expect((await api('GET', '/users/@me')).status).toBe(500);
		expect((await api('GET', '/users/@me')).status).toBe(200);
		const invalid = await control('PUT', '/faults', { latencyMs: -1 });
		expect(invalid).toMatchObject({ status: 400, body: { error: 'EMULATOR_INVALID_OPTION' } });
		await control('DELETE', '/faults');

		expect((await control('POST', '/permissions', { channelId: ready.channels.log, revoke: true })).body).toMatchObject({ access: 'read-only' });
		expect(await api('POST', `/channels/${ready.channels.log}/messages`, { content: 'x' })).toMatchObject({ status: 403, body: { code: 50013 } });
		await control('POST', '/permissions', { channelId: ready.channels.log, revoke: false });
		expect((await api('POST', `/channels/${ready.channels.log}/messages`, { content: 'x' })).status).toBe(200);

		const form = new FormData();
		form.append('files[0]', new Blob([Buffer.from('hello, emulator')]), 'h.txt');
		form.append('payload_json', JSON.stringify({ content: '', attachments: [{ id: '0' }] }));
		const upload = await fetch(`${ready.api}/v10/channels/${ready.channels.log}/messages`, {
			method: 'POST',
			headers: { Authorization: `Bot ${ready.token}` },
			body: form
		});
		const uploaded = (await upload.json()) as { attachments: { id: string; url: string }[] };
		const corrupted = await control('POST', `/attachments/${uploaded.attachments[0]!.id}/corrupt`, { offset: 0 });
		expect(corrupted.body).toEqual({ id: uploaded.attachments[0]!.id, offset: 0 });
		const bytes = Buffer.from(await (await fetch(uploaded.attachments[0]!.url)).arrayBuffer());
		expect(bytes.subarray(1).toString()).toBe('ello, emulator');
		expect(bytes[0]).toBe('h'.charCodeAt(0) ^ 0xff);

		const stats = await control('GET', '/stats');
		// The contract's fields stay; fields may be added.
		expect(Object.keys(stats.body!)).toEqual(
			expect.arrayContaining([
				'requests',
				'byRoute',
				'status429',
				'status5xx',
				'messages',
				'attachments',
				'bytesStored',
				'cdnBytes',
				'unknownRoutes',
				'gatewayConnections',
				'memory'
			])
		);
		expect(stats.body).toMatchObject({
			status5xx: 1,
			faultsInjected: { serverError: 1 },
			attachments: 1,
			bytesStored: 'hello, emulator'.length,
			unknownRoutes: []
		});
		expect(stats.body!.byRoute['GET /users/@me']).toBe(2);
		expect((await control('GET', '/nowhere')).status).toBe(404);
	});

	it('GIVEN the world on disk WHEN dos emulator is stopped and started again THEN it exits cleanly and keeps the ids and messages', async () => {
		const before = await control('GET', `/channels/${ready.channels.log}/messages`);
		expect(await stop(cli)).toBe(0);
		expect(existsSync(join(dataDir, 'world.json'))).toBe(true);
		const restarted = startCli(['--port', '0', '--data', dataDir]);
		cli = restarted.child;
		const again = await restarted.ready;
		expect(again.guildId).toBe(ready.guildId);
		ready = again;
		const after = await control('GET', `/channels/${ready.channels.log}/messages`);
		expect((after.body as unknown as { id: string }[]).map((message) => message.id)).toEqual(
			(before.body as unknown as { id: string }[]).map((message) => message.id)
		);
	});
});
