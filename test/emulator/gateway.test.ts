import type { ChatInputCommandInteraction, Interaction, Message, ThreadChannel } from 'discord.js';
import { Client, Events, GatewayIntentBits, MessageFlags, Routes } from 'discord.js';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { emulatorFor, expectNoUnknownRoutes, rejection } from './support.js';

let emulator: Emulator;
let client: Client;

async function login(): Promise<Client> {
	const bot = new Client({
		intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages],
		rest: { api: emulator.apiUrl, timeout: 30_000, globalRequestsPerSecond: 10_000 }
	});
	const ready = once(bot, Events.ClientReady);
	await bot.login(emulator.token);
	await ready;
	return bot;
}

/** Resolves with the next interaction the client sees, after running `handler` on it. */
function nextInteraction(handler: (interaction: Interaction) => Promise<unknown>): Promise<unknown> {
	return new Promise((resolve, reject) => {
		client.once(Events.InteractionCreate, (interaction) => {
			handler(interaction).then(resolve, reject);
		});
	});
}

const archiveCommand = {
	name: 'archive',
	description: 'Archive folders',
	options: [
		{
			type: 1,
			name: 'upload',
			description: 'Upload a folder',
			options: [
				{ type: 3, name: 'source', description: 'folder', required: true, autocomplete: true },
				{ type: 5, name: 'dry', description: 'dry run' }
			]
		},
		{ type: 1, name: 'status', description: 'Status' }
	]
};

beforeEach(async () => {
	emulator = await emulatorFor({ limits: { channelMessagesPerWindow: 1000, globalRequestsPerSecond: 10_000, routeRequestsPerSecond: 10_000 } });
	client = await login();
	await client.application!.commands.set([archiveCommand], emulator.ids.guildId);
});

afterEach(async () => {
	await client.destroy();
	expectNoUnknownRoutes(emulator);
	await emulator.close();
});

describe('emulator gateway', () => {
	it('GIVEN a discord.js Client WHEN it logs in THEN READY and GUILD_CREATE fill its caches with the seeded world', () => {
		const guild = client.guilds.cache.get(emulator.ids.guildId);
		expect(guild).toBeDefined();
		expect(client.user?.id).toBe(emulator.ids.botUserId);
		expect(client.application?.id).toBe(emulator.ids.applicationId);
		expect(guild!.channels.cache.get(emulator.ids.channels.archive)?.name).toBe('archive');
		expect(guild!.members.cache.get(emulator.ids.users.owner)?.permissions.has('ManageGuild')).toBe(true);
		expect(guild!.members.cache.get(emulator.ids.users.outsider)?.permissions.has('ManageGuild')).toBe(false);
		expect(guild!.members.me?.permissionsIn(emulator.ids.channels.archive).has(['SendMessages', 'AttachFiles', 'CreatePublicThreads'])).toBe(
			true
		);
	});

	it('GIVEN a connected client WHEN the bot posts, edits and deletes, and starts and deletes a thread THEN the dispatches arrive', async () => {
		const channel = client.channels.cache.get(emulator.ids.channels.archive);
		if (!channel?.isSendable() || !('threads' in channel)) throw new Error('archive channel is not a text channel');
		const created = once(client, Events.MessageCreate);
		const card = await channel.send({ content: 'card' });
		expect(((await created)[0] as Message).id).toBe(card.id);
		const updated = once(client, Events.MessageUpdate);
		await card.edit({ content: 'card v2' });
		expect(((await updated)[1] as Message).content).toBe('card v2');
		const threadCreated = once(client, Events.ThreadCreate);
		const thread = await card.startThread({ name: '#241126-07' });
		expect(thread.id).toBe(card.id);
		expect(((await threadCreated)[0] as ThreadChannel).id).toBe(card.id);
		const threadUpdated = once(client, Events.ThreadUpdate);
		await thread.setArchived(true);
		expect(((await threadUpdated)[1] as ThreadChannel).archived).toBe(true);
		const threadDeleted = once(client, Events.ThreadDelete);
		await thread.delete();
		expect(((await threadDeleted)[0] as ThreadChannel).id).toBe(card.id);
		const deleted = once(client, Events.MessageDelete);
		await card.delete();
		expect(((await deleted)[0] as Message).id).toBe(card.id);
	});

	it('GIVEN a forced drop WHEN events happen while the client is away THEN it resumes (no new IDENTIFY) and gets them replayed', async () => {
		const resumed = once(client, Events.ShardResume);
		expect(emulator.dropGateway()).toBe(1);
		const created = once(client, Events.MessageCreate);
		await client.rest.post(Routes.channelMessages(emulator.ids.channels.log), { body: { content: 'while away' } });
		await resumed;
		expect(((await created)[0] as Message).content).toBe('while away');
		expect(emulator.state().gateway).toMatchObject({ connections: 2, identifies: 1, resumes: 1, connectedSessions: 1 });
	});
});

describe('emulator interactions', () => {
	it('GIVEN a registered command WHEN a user runs it and the bot replies THEN the control API sees the reply', async () => {
		const handled = nextInteraction(async (interaction) => {
			if (!interaction.isChatInputCommand()) throw new Error('expected a slash command');
			expect(interaction.options.getSubcommand()).toBe('upload');
			expect(interaction.options.getString('source')).toBe('photos');
			expect(interaction.options.getBoolean('dry')).toBe(true);
			expect(interaction.user.id).toBe(emulator.ids.users.member);
			expect(interaction.memberPermissions?.has('ManageGuild')).toBe(false);
			await interaction.reply({ content: 'queued', flags: MessageFlags.Ephemeral });
		});
		const { id } = emulator.interact({
			kind: 'command',
			command: 'archive',
			subcommand: 'upload',
			options: { source: 'photos', dry: true },
			user: 'member'
		});
		await handled;
		const view = await emulator.interaction(id, 5_000);
		expect(view).toMatchObject({ status: 'acknowledged', kind: 'command', responseType: 4, reply: { content: 'queued', ephemeral: true } });
		expect(emulator.messages(emulator.ids.channels.archive)).toEqual([]);
	});

	it('GIVEN a deferred reply WHEN the bot edits it and follows up THEN reply and follow-ups are tracked, and a second callback is refused', async () => {
		let second: unknown;
		const handled = nextInteraction(async (interaction) => {
			const command = interaction as ChatInputCommandInteraction;
			await command.deferReply();
			await command.editReply({ content: 'done', embeds: [{ title: 'card' }] });
			await command.followUp({ content: 'more' });
			const fetched = await command.fetchReply();
			expect(fetched.content).toBe('done');
			second = await rejection(
				command.client.rest.post(Routes.interactionCallback(command.id, command.token), {
					body: { type: 4, data: { content: 'again' } },
					auth: false
				})
			);
		});
		const { id } = emulator.interact({ kind: 'command', command: 'archive', subcommand: 'status' });
		expect((await emulator.interaction(id, 5_000)).status).toBe('acknowledged');
		await handled;
		const view = await emulator.interaction(id);
		expect(view.reply).toMatchObject({ content: 'done', embeds: [{ title: 'card' }] });
		expect(view.followups.map((message) => message.content)).toEqual(['more']);
		expect(second).toMatchObject({ status: 400, code: 40060 });
		expect(emulator.messages(emulator.ids.channels.archive).map((message) => message.content)).toEqual(['done', 'more']);
	});

	it('GIVEN autocomplete WHEN the user types THEN the bot answers choices, and more than 25 are refused', async () => {
		const handled = nextInteraction(async (interaction) => {
			if (!interaction.isAutocomplete()) throw new Error('expected autocomplete');
			expect(interaction.options.getFocused(true)).toMatchObject({ name: 'source', value: 'pho' });
			const tooMany = await rejection(
				interaction.respond(Array.from({ length: 26 }, (_, index) => ({ name: `c${index}`, value: `c${index}` })))
			);
			expect(tooMany).toMatchObject({ status: 400, code: 50035 });
			await interaction.respond([{ name: 'photos · 3.2 GiB', value: 'photos' }]);
		});
		const { id } = emulator.interact({
			kind: 'autocomplete',
			command: 'archive',
			subcommand: 'upload',
			focused: 'source',
			options: { source: 'pho' }
		});
		await handled;
		expect(await emulator.interaction(id, 5_000)).toMatchObject({
			status: 'acknowledged',
			kind: 'autocomplete',
			choices: [{ name: 'photos · 3.2 GiB', value: 'photos' }]
		});
	});

	it('GIVEN a card with a button WHEN a user clicks it THEN the bot gets the whole message and can update it', async () => {
		const card = (await client.rest.post(Routes.channelMessages(emulator.ids.channels.archive), {
			body: {
				content: 'card',
				components: [{ type: 1, components: [{ type: 2, style: 1, label: 'Verify', custom_id: 'archive:verify:abc' }] }]
			}
		})) as { id: string };
		const handled = nextInteraction(async (interaction) => {
			if (!interaction.isButton()) throw new Error('expected a button');
			expect(interaction.customId).toBe('archive:verify:abc');
			expect(interaction.message.id).toBe(card.id);
			await interaction.update({ content: 'verifying', components: [] });
		});
		const { id } = emulator.interact({ kind: 'button', messageId: card.id, customId: 'archive:verify:abc', user: 'owner' });
		await handled;
		expect(await emulator.interaction(id, 5_000)).toMatchObject({
			status: 'acknowledged',
			responseType: 7,
			reply: { id: card.id, content: 'verifying' }
		});
		expect(() => emulator.interact({ kind: 'button', messageId: card.id, customId: 'archive:verify:abc' })).toThrow(/no button/);
	});

	it('GIVEN a short response window WHEN the bot answers late THEN 10062 and the interaction is expired', async () => {
		emulator.setLimits({ interactionResponseMs: 50 });
		const handled = nextInteraction(async (interaction) => {
			await new Promise((resolve) => setTimeout(resolve, 150));
			return rejection((interaction as ChatInputCommandInteraction).reply({ content: 'late' }));
		});
		const { id } = emulator.interact({ kind: 'command', command: 'archive', subcommand: 'status' });
		expect(await handled).toMatchObject({ status: 404, code: 10062 });
		expect((await emulator.interaction(id)).status).toBe('expired');
	});

	it('GIVEN a short token lifetime WHEN the bot edits its reply after it THEN 50027', async () => {
		emulator.setLimits({ interactionTokenMs: 100 });
		const handled = nextInteraction(async (interaction) => {
			const command = interaction as ChatInputCommandInteraction;
			await command.deferReply();
			await new Promise((resolve) => setTimeout(resolve, 200));
			return rejection(command.editReply({ content: 'too late' }));
		});
		emulator.interact({ kind: 'command', command: 'archive', subcommand: 'status' });
		expect(await handled).toMatchObject({ status: 401, code: 50027 });
	});

	it('GIVEN requests a user could not make WHEN sent to the control API THEN they are refused with a clear message', () => {
		expect(() => emulator.interact({ kind: 'command', command: 'nope' })).toThrow(/No slash command "nope"/);
		expect(() => emulator.interact({ kind: 'command', command: 'archive', subcommand: 'upload', options: {} })).toThrow(
			/Missing required option/
		);
		expect(() => emulator.interact({ kind: 'command', command: 'archive', subcommand: 'upload', options: { source: 'x', bogus: 1 } })).toThrow(
			/no option "bogus"/
		);
		expect(() => emulator.interact({ kind: 'command', command: 'archive', subcommand: 'status', user: 'nobody' })).toThrow(/No user/);
	});
});
