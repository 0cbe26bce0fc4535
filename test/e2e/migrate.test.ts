import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHistoryLog } from '../../src/archive/legacy-log.js';
import { importHistoryLog } from '../../src/archive/legacy-log-import.js';
import { openIndex } from '../../src/db/index.js';
import { pythonJson, threadlessEntry } from '../archive/support/history-log.js';
import { type BotProcess, ensureBuilt, startWorld, type World } from './support.js';

/** `/archive migrate` as the owner and a member use it: the bot as its own process against the emulator. */
describe('/archive migrate end to end', () => {
	let world: World;
	let bot: BotProcess;

	beforeAll(async () => {
		await ensureBuilt();
		world = await startWorld();
		const storage = world.emulator.ids.channels.storage;
		const index = openIndex({ path: world.database });
		try {
			const log = pythonJson([threadlessEntry(4, { archiveId: '#201124-04', messageIds: ['1311111111111111112', '1311111111111111113'] })]);
			expect(
				importHistoryLog(index, parseHistoryLog(log), { storageChannelId: storage, archiveChannelId: world.archiveChannelId }).refused
			).toEqual([]);
		} finally {
			index.close();
		}
		// The original's DISCORD_DRIVE_LOG_FILE: the bot imports it when it starts.
		const logFile = path.join(world.dir, 'discord-drive-history.json');
		await writeFile(logFile, pythonJson([threadlessEntry(6, { archiveId: '#211124-06', messageIds: ['1311111111111111114'] })]));
		bot = await world.startBot({ DISCORD_DRIVE_LOG_FILE: logFile, DISCORD_DRIVE_STORAGE_CHANNEL_ID: storage });
	}, 300_000);

	afterAll(async () => {
		await world?.close();
	});

	it('GIVEN DISCORD_DRIVE_LOG_FILE WHEN the bot starts THEN the log is imported into its index', () => {
		expect(bot.log()).toContain('1 archive(s) imported, 0 already in the index, 0 refused');
		const index = openIndex({ path: world.database });
		try {
			expect(index.archives.require(6).id).toBe('#211124-06');
			expect(index.legacyMessages.get(6)?.messageIds).toEqual(['1311111111111111114']);
		} finally {
			index.close();
		}
	});

	it('GIVEN archives imported from the history log WHEN a member runs /archive migrate THEN it is refused; WHEN the owner does THEN its card is posted and the answer says so', async () => {
		const member = await world.control.run({ kind: 'command', user: 'member', command: 'archive', subcommand: 'migrate', options: {} });
		expect(member.reply?.content).toMatch(/^Only the bot's owners may migrate archives of the original tool\. \(code REFUSED\)$/);
		// The channel holds only the bot's welcome (pinned at start), no card.
		const cardsOf = () =>
			world.emulator.messages(world.archiveChannelId).filter((message) => !JSON.stringify(message.embeds).includes('dos-welcome/'));
		expect(cardsOf()).toEqual([]);
		const owner = await world.control.run(
			{ kind: 'command', command: 'archive', subcommand: 'migrate', options: {} },
			{ done: (view) => /^(✅|⚠️|❌)/u.test(view.reply?.content ?? '') }
		);
		expect(owner.reply?.content).toMatch(/^✅ Migrated 2 archives\./u);
		const cards = cardsOf();
		expect(cards).toHaveLength(2);
		expect(cards[0]?.content).toContain('"archive_id":"#201124-04"');
		expect(cards[0]?.content).toContain('"imported_from":"history-log"');
	});
});
