import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBCOMMAND_HELP } from '../../src/bot/lib/help.js';
import { WELCOME_MARKER } from '../../src/bot/lib/welcome.js';
import { BOT_TOKEN, type BotProcess, USER_KEY, delay, startWorld, type World, useWorld, ensureBuilt } from './support.js';

/**
 * `/archive help` and the welcome message, with the bot as its own process against the emulator.
 */
describe('/archive help and the welcome message end to end', () => {
	let world: World;
	let bot: BotProcess;

	useWorld({}, (ready) => {
		({ world, bot } = ready);
	});

	/** The log line of the start-up welcome check, once it has run. */
	async function welcomeOutcome(process: BotProcess): Promise<string> {
		for (let attempt = 0; attempt < 300; attempt++) {
			const line = /Archive channel welcome: [^\n]*/.exec(process.log())?.[0];
			if (line !== undefined) return line;
			await delay(100);
		}
		throw new Error(`The bot never reported its welcome check:\n${process.log()}`);
	}

	async function welcomes() {
		const messages = await world.control.messages(world.archiveChannelId);
		return messages.filter((message) => JSON.stringify(message.embeds).includes(WELCOME_MARKER));
	}

	it('GIVEN an empty archive channel WHEN the bot starts THEN it posts one pinned welcome naming /archive upload and /archive help', async () => {
		expect(await welcomeOutcome(bot)).toContain('posted');
		const [welcome, ...others] = await welcomes();
		expect(others).toEqual([]);
		expect(welcome!.author.bot).toBe(true);
		expect(welcome!.pinned).toBe(true);
		const text = JSON.stringify(welcome!.embeds);
		expect(text).toContain('/archive upload');
		expect(text).toContain('/archive help');
	});

	it('GIVEN the welcome was posted WHEN the bot restarts, then restarts on a fresh index THEN no second welcome is posted', async () => {
		await bot.stop();
		bot = await world.startBot();
		expect(await welcomeOutcome(bot)).toContain('remembered in the index');
		expect(await welcomes()).toHaveLength(1);
		await bot.stop();
		for (const suffix of ['', '-wal', '-shm']) await rm(`${world.database}${suffix}`, { force: true });
		bot = await world.startBot();
		expect(await welcomeOutcome(bot)).toContain('found the earlier one');
		const [welcome, ...others] = await welcomes();
		expect(others).toEqual([]);
		expect(welcome!.pinned).toBe(true);
	});

	it('GIVEN /archive as registered WHEN every subcommand is compared with the help THEN each has help text and appears in the owner’s help', async () => {
		const response = await fetch(
			`${world.emulator.apiUrl}/v10/applications/${world.emulator.ids.applicationId}/guilds/${world.emulator.ids.guildId}/commands`,
			{
				headers: { Authorization: `Bot ${BOT_TOKEN}` }
			}
		);
		const commands = (await response.json()) as { name: string; options?: { type: number; name: string }[] }[];
		const archive = commands.find((command) => command.name === 'archive');
		const registered = (archive?.options ?? []).filter((option) => option.type === 1).map((option) => option.name);
		expect(registered.length).toBeGreaterThan(5);
		expect(
			registered.filter((name) => !(name in SUBCOMMAND_HELP)),
			'subcommands without help text'
		).toEqual([]);
		expect(
			Object.keys(SUBCOMMAND_HELP).filter((name) => !registered.includes(name)),
			'help for subcommands that do not exist'
		).toEqual([]);
		const view = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'help' });
		const text = JSON.stringify(view.reply?.embeds);
		for (const name of registered) expect(text, name).toContain(`/archive ${name}`);
	});

	it('GIVEN the owner WHEN they run /archive help THEN one private embed lists everything as theirs, with the settings and no host path or secret', async () => {
		const view = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'help' });
		expect(view.reply?.flags).toBe(64);
		const embeds = view.reply?.embeds as { fields: { name: string; value: string }[] }[];
		expect(embeds).toHaveLength(1);
		const fields = embeds[0]!.fields;
		expect(fields.map((field) => field.name)).toEqual([
			'Put a folder away',
			'Get it back',
			'Check it',
			'Tidy up',
			'Who may do what',
			'This archive'
		]);
		expect(JSON.stringify(fields.slice(0, 4))).not.toContain('🔒');
		const settings = fields.find((field) => field.name === 'This archive')!.value;
		expect(settings).toContain('64.0 KiB');
		expect(settings).toContain('`uploads`');
		expect(settings).toContain('`downloads`');
		expect(settings).toContain('Encryption: on');
		const text = JSON.stringify(view.reply);
		for (const secret of [world.dir, world.uploadRoot, BOT_TOKEN, USER_KEY]) expect(text).not.toContain(secret);
		expect(fields.find((field) => field.name === 'Who may do what')!.value).toContain(`<@${world.emulator.ids.users.owner}>`);
	});

	it('GIVEN a member of the allowed role WHEN they run /archive help THEN they see what they may do and what is for owners only', async () => {
		const view = await world.control.run({ kind: 'command', user: 'member', command: 'archive', subcommand: 'help' });
		expect(view.reply?.flags).toBe(64);
		const fields = (view.reply?.embeds as { fields: { name: string; value: string }[] }[])[0]!.fields;
		const group = (name: string) => fields.find((field) => field.name === name)!.value;
		expect(group('Put a folder away')).toMatch(/^🔒 `\/archive upload/m);
		expect(group('Get it back')).toMatch(/^✅ `\/archive download/m);
		expect(group('Get it back')).not.toContain('🔒');
		expect(group('Tidy up')).toMatch(/^🔒 `\/archive cleanup/m);
		expect(group('Who may do what')).toContain('You: allowed role.');
	});

	it('GIVEN the outsider WHEN they run /archive help THEN they are refused in one ephemeral sentence, as elsewhere', async () => {
		const view = await world.control.run({ kind: 'command', user: 'outsider', command: 'archive', subcommand: 'help' });
		expect(view.reply?.flags).toBe(64);
		expect(view.reply?.embeds ?? []).toEqual([]);
		expect(view.reply?.content).toBe("Only the bot's owners and members of its allowed roles may see the archive help. (code REFUSED)");
	});
});

describe('the welcome message in a channel already in use', () => {
	let world: World;

	beforeAll(async () => {
		await ensureBuilt();
		world = await startWorld();
	}, 300_000);

	afterAll(async () => {
		await world?.close();
	});

	it('GIVEN an archive channel that already holds a message of the bot WHEN the bot starts on a fresh index THEN it posts no welcome, and says why', async () => {
		const response = await fetch(`${world.emulator.apiUrl}/v10/channels/${world.archiveChannelId}/messages`, {
			method: 'POST',
			headers: { Authorization: `Bot ${BOT_TOKEN}`, 'Content-Type': 'application/json' },
			body: JSON.stringify({ content: 'an earlier card' })
		});
		expect(response.status).toBe(200);
		const bot = await world.startBot();
		for (let attempt = 0; attempt < 300 && !bot.log().includes('Archive channel welcome:'); attempt++) await delay(100);
		expect(bot.log()).toContain('Archive channel welcome: the channel already holds the bot’s messages, none posted.');
		const messages = await world.control.messages(world.archiveChannelId);
		expect(messages.map((message) => message.content)).toEqual(['an earlier card']);
	});
});
