import { once } from 'node:events';
import { container } from '@sapphire/framework';
import { type ChatInputCommandInteraction, Client, Events, GatewayIntentBits, MessageFlags } from 'discord.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deferEphemeral, editAnswer, replyEphemeral, replyFirst } from '../../src/bot/lib/replies.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';

/**
 * Answers to interactions when Discord took a request but its answer never came back (the connection dropped after
 * the commit): the bot's helpers treat that as "maybe done" and end with the person answered once, never an error.
 * Real discord.js against the emulator; the emulator drops the answer of the next callback or webhook edit.
 */

const CALLBACK = 'POST /interactions/:interaction/:token/callback';
const EDIT = 'PATCH /webhooks/:application/:token/messages/:message';
const command = { name: 'archive', description: 'Archive folders', options: [{ type: 1, name: 'status', description: 'Status' }] };

let emulator: Emulator;
let client: Client;
const logged: string[] = [];

beforeEach(async () => {
	emulator = await startEmulator({
		port: 0,
		limits: { channelMessagesPerWindow: 1000, globalRequestsPerSecond: 10_000, routeRequestsPerSecond: 10_000 }
	});
	client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: emulator.apiUrl, timeout: 30_000, globalRequestsPerSecond: 10_000 } });
	const ready = once(client, Events.ClientReady);
	await client.login(emulator.token);
	await ready;
	await client.application!.commands.set([command], emulator.ids.guildId);
	const log = (...values: unknown[]) => void logged.push(values.map(String).join(' '));
	container.logger = { debug: log, info: log, warn: log, error: log, trace: log, fatal: log, write: log, has: () => true };
});

afterEach(async () => {
	await client.destroy();
	await emulator.close();
	logged.length = 0;
});

/** Runs `/archive status` as the owner, handles it with `handler` and returns the interaction's view once handled. */
async function run(handler: (interaction: ChatInputCommandInteraction) => Promise<void>) {
	const handled = new Promise<void>((resolve, reject) => {
		client.once(Events.InteractionCreate, (interaction) => {
			if (!interaction.isChatInputCommand()) {
				reject(new Error('expected a slash command'));
				return;
			}
			handler(interaction).then(resolve, reject);
		});
	});
	const { id } = emulator.interact({ kind: 'command', command: 'archive', subcommand: 'status' });
	await handled;
	return emulator.interaction(id, 1_000);
}

describe('answers whose answer was lost', () => {
	it('GIVEN a deferral whose answer is lost WHEN the bot defers and then answers THEN it goes on deferred and the answer shows once', async () => {
		let deferred = false;
		const view = await run(async (interaction) => {
			emulator.faults.set({ dropAfterCommitNext: 1, routes: [CALLBACK] });
			await deferEphemeral(interaction);
			deferred = interaction.deferred;
			await replyEphemeral(interaction, 'Uploading…');
		});
		expect(emulator.stats().faultsInjectedByRoute[CALLBACK]?.dropAfterCommit).toBe(1);
		expect(deferred).toBe(true);
		expect(view).toMatchObject({ status: 'acknowledged', reply: { content: 'Uploading…', ephemeral: true } });
		expect(view.followups).toEqual([]);
	});

	it('GIVEN a deferral that landed while discord.js saw it fail WHEN the error answer is sent THEN the acknowledged deferral is edited instead of failing with 40060', async () => {
		const view = await run(async (interaction) => {
			emulator.faults.set({ dropAfterCommitNext: 1, routes: [CALLBACK] });
			await expect(interaction.deferReply({ flags: MessageFlags.Ephemeral })).rejects.toThrow();
			emulator.faults.reset();
			await replyEphemeral(interaction, 'Something went wrong (code X).');
		});
		expect(view.reply).toMatchObject({ content: 'Something went wrong (code X).', ephemeral: true });
	});

	it('GIVEN a reply whose answer is lost WHEN the bot replies THEN it is shown once and the interaction counts as replied', async () => {
		let replied = false;
		const view = await run(async (interaction) => {
			emulator.faults.set({ dropAfterCommitNext: 1, routes: [CALLBACK] });
			await replyFirst(interaction, { content: 'page 1', flags: MessageFlags.Ephemeral });
			replied = interaction.replied;
		});
		expect(replied).toBe(true);
		expect(view.reply).toMatchObject({ content: 'page 1' });
		expect(view.followups).toEqual([]);
	});

	it('GIVEN an edit of the answer whose answer is lost, then one refused for good WHEN the bot edits THEN the first is sent again and the second becomes a follow-up', async () => {
		const view = await run(async (interaction) => {
			await deferEphemeral(interaction);
			emulator.faults.set({ dropAfterCommitNext: 1, routes: [EDIT] });
			await editAnswer(interaction, { content: 'first' });
			emulator.faults.set({ serverErrorRate: 1, routes: [EDIT] });
			await editAnswer(interaction, { content: 'second' });
			emulator.faults.reset();
		});
		expect(view.reply).toMatchObject({ content: 'first' });
		expect(view.followups.map((message) => message.content)).toEqual(['second']);
	});
});
