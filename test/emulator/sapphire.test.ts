import { Command, SapphireClient, container } from '@sapphire/framework';
import { GatewayIntentBits } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Emulator } from '../../src/emulator/index.js';
import { emulatorFor, expectNoUnknownRoutes } from './support.js';

let emulator: Emulator;
let client: SapphireClient;

beforeAll(async () => {
	emulator = await emulatorFor();
	const guildId = emulator.ids.guildId;
	class Ping extends Command {
		public override registerApplicationCommands(registry: Command.Registry) {
			registry.registerChatInputCommand(
				(builder) =>
					builder
						.setName('ping')
						.setDescription('Ping')
						.addStringOption((option) => option.setName('target').setDescription('what to ping').setAutocomplete(true)),
				{ guildIds: [guildId] }
			);
		}

		public override async chatInputRun(interaction: Command.ChatInputCommandInteraction) {
			await interaction.reply({ content: `pong ${interaction.options.getString('target') ?? ''}`.trim() });
		}

		public override async autocompleteRun(interaction: Command.AutocompleteInteraction) {
			await interaction.respond([{ name: `${interaction.options.getFocused()}-server`, value: 'server' }]);
		}
	}
	client = new SapphireClient({
		intents: [GatewayIntentBits.Guilds],
		baseUserDirectory: null,
		loadMessageCommandListeners: false,
		rest: { api: emulator.apiUrl, globalRequestsPerSecond: 10_000 }
	});
	await container.stores.get('commands').loadPiece({ name: 'ping', piece: Ping });
	const registered = new Promise((resolve) => client.once('applicationCommandRegistriesRegistered', resolve));
	await client.login(emulator.token);
	await registered;
});

afterAll(async () => {
	await client.destroy();
	expectNoUnknownRoutes(emulator);
	await emulator.close();
});

describe('emulator with Sapphire', () => {
	it('GIVEN a Sapphire client WHEN it starts THEN it registers its guild command through the emulator', async () => {
		const commands = (await client.rest.get(`/applications/${emulator.ids.applicationId}/guilds/${emulator.ids.guildId}/commands`)) as {
			name: string;
		}[];
		expect(commands.map((command) => command.name)).toEqual(['ping']);
	});

	it('GIVEN the registered command WHEN a user runs it and autocompletes THEN Sapphire routes both and the answers are visible', async () => {
		const run = emulator.interact({ kind: 'command', command: 'ping', options: { target: 'db' } });
		expect(await emulator.interaction(run.id, 5_000)).toMatchObject({ status: 'acknowledged', reply: { content: 'pong db' } });
		const typing = emulator.interact({ kind: 'autocomplete', command: 'ping', focused: 'target', options: { target: 'my' } });
		expect(await emulator.interaction(typing.id, 5_000)).toMatchObject({
			status: 'acknowledged',
			choices: [{ name: 'my-server', value: 'server' }]
		});
	});
});
