import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiscordTransport } from '../../src/discord/index.js';
import { type BotProcess, archiveIdIn, BOT_TOKEN, buttonIds, patterned, useWorld, type World } from './support.js';

/**
 * Downloads as people meet them: watched and cancelled from the card, refused at once when they cannot work, and
 * every failure traceable from the answer's `ref` to the bot's log.
 */
describe('downloads through the bot, end to end', () => {
	let world: World;
	let bot: BotProcess;
	let archiveId: string;

	useWorld({ limits: { channelMessagesPerWindow: 1000 } }, async (ready) => {
		({ world, bot } = ready);
		await mkdir(path.join(world.uploadRoot, 'docs', 'inner'), { recursive: true });
		for (let file = 0; file < 8; file++)
			await writeFile(path.join(world.uploadRoot, 'docs', 'inner', `part-${file}.bin`), patterned(65_536, file + 3));
		await writeFile(path.join(world.uploadRoot, 'docs', 'readme.txt'), 'read me\n');
		const started = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'upload', options: { source: 'docs' } });
		archiveId = archiveIdIn(started.reply?.content);
		await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'complete', 120_000);
	});

	function embedOf(message: { embeds: unknown[] }): string {
		return JSON.stringify(message.embeds);
	}

	it('GIVEN a running download WHEN the card is read THEN it shows Downloading with progress and Cancel; WHEN the owner clicks Cancel THEN it stops, the card says so in Last activity and the log channel has one line', async () => {
		// Every request slowed (the CDN's too), so the download outlasts the card's first edits and the click.
		world.emulator.faults.set({ latencyMs: 1_500 });
		try {
			const asked = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'download', options: { id: archiveId } });
			expect(asked.reply?.content).toMatch(/^⬇️ Downloading/u);
			const running = await world.control.waitForCard(
				world.archiveChannelId,
				archiveId,
				(_record, message) => embedOf(message).includes('Downloading') && embedOf(message).includes('Progress'),
				30_000
			);
			expect(buttonIds(running.message)).toEqual([`archive:cancel:${running.record.uid}`]);
			const cancel = await world.control.run({
				kind: 'button',
				messageId: running.message.id,
				customId: `archive:cancel:${running.record.uid}`
			});
			expect(cancel.reply?.content).toMatch(/^⏹️ Cancelling the job on/u);
		} finally {
			world.emulator.faults.reset();
		}
		const ended = await world.control.waitForCard(world.archiveChannelId, archiveId, (_record, message) =>
			embedOf(message).includes('Download cancelled')
		);
		expect(embedOf(ended.message)).toContain('Last activity');
		expect(buttonIds(ended.message)).toContain(`archive:download:${ended.record.uid}`);
		let lines: string[] = [];
		for (let attempt = 0; attempt < 100; attempt++) {
			lines = (await world.control.messages(world.logChannelId)).map((message) => message.content);
			if (lines.some((line) => line.startsWith(`⏹️ download of ${archiveId} stopped (CANCELLED)`))) break;
			await new Promise((resolve) => setTimeout(resolve, 100));
		}
		expect(lines.filter((line) => line.startsWith(`⏹️ download of ${archiveId} stopped (CANCELLED)`))).toHaveLength(1);
		expect(lines.join('\n')).not.toContain(world.downloadRoot);
	}, 120_000);

	it('GIVEN a path the archive does not hold WHEN downloaded THEN it is refused at once with NOT_FOUND and nothing is made under the download root', async () => {
		const before = await readdir(world.downloadRoot);
		const refused = await world.control.run({
			kind: 'command',
			command: 'archive',
			subcommand: 'download',
			options: { id: archiveId, path: 'nope/missing.txt' }
		});
		expect(refused.reply?.content).toContain('nope/missing.txt');
		expect(refused.reply?.content).toMatch(/\(code NOT_FOUND\)$/);
		expect(refused.reply?.content).not.toContain('Downloading');
		expect(await readdir(world.downloadRoot)).toEqual(before);
	});

	it('GIVEN /archive verify as registered WHEN its options are read THEN they say a sample is a full check (sample implies full, and not with quick)', async () => {
		const { applicationId, guildId } = world.emulator.ids;
		const response = await fetch(`${world.emulator.apiUrl}/v10/applications/${applicationId}/guilds/${guildId}/commands`, {
			headers: { Authorization: `Bot ${BOT_TOKEN}` }
		});
		const commands = (await response.json()) as {
			name: string;
			options?: { name: string; options?: { name: string; description: string }[] }[];
		}[];
		const verify = commands.find((command) => command.name === 'archive')?.options?.find((option) => option.name === 'verify');
		const description = (name: string) => verify?.options?.find((option) => option.name === name)?.description ?? '';
		expect(description('sample')).toContain('a sample is always full');
		expect(description('level')).toContain('the default without sample');
	});

	it('GIVEN a complete archive whose thread was deleted on Discord WHEN downloaded THEN the answer carries a ref that is in the bot log, and no empty folder is left', async () => {
		const card = (await world.control.card(world.archiveChannelId, archiveId))!;
		const transport = new DiscordTransport({ token: BOT_TOKEN, apiUrl: world.emulator.apiUrl });
		try {
			await transport.deleteThread(card.record.thread!);
		} finally {
			transport.close();
		}
		const before = await readdir(world.downloadRoot);
		const failed = await world.control.run(
			{ kind: 'command', command: 'archive', subcommand: 'download', options: { id: archiveId } },
			{ timeoutMs: 60_000, done: (view) => /^❌/u.test(view.reply?.content ?? '') }
		);
		const ref = /ref ([0-9a-f]{6})\)/.exec(failed.reply!.content)?.[1];
		expect(ref, failed.reply?.content).toBeDefined();
		expect(bot.log()).toContain(`ref ${ref}`);
		expect(await readdir(world.downloadRoot)).toEqual(before);
	});
});
