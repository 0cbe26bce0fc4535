import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, startWorld, type World } from './support.js';

/** Without GUILD_ID the bot registers /archive globally, as it would for a bot in several servers. */
describe('command registration without GUILD_ID', () => {
	let world: World;

	beforeAll(async () => {
		await ensureBuilt();
		world = await startWorld({ env: { GUILD_ID: '' } });
	}, 300_000);

	afterAll(async () => {
		await world?.close();
	});

	it('GIVEN no GUILD_ID WHEN the bot starts THEN /archive is registered globally and answers in the server', async () => {
		const bot = await world.startBot();
		expect(bot.log()).toContain('commands global');
		expect(bot.log()).toMatch(/overwrote global application commands\. The application now has 1 global commands/);
		const status = await world.control.run(
			{ kind: 'command', command: 'archive', subcommand: 'status' },
			{ done: (view) => view.reply?.embeds.length === 1 }
		);
		expect(JSON.stringify(status.reply?.embeds)).toContain('Upload root');
	});
});
