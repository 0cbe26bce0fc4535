import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { treeDigest } from '../support/tree.js';
import { type BotProcess, archiveIdIn, buttonIds, delay, patterned, useWorld, type World } from './support.js';

/**
 * A resume under another USER_KEY (a typo in .env, another machine) must not seal the missing chunks and the manifest
 * under the new passphrase: the stored chunks are under the old one, and no key would restore the archive.
 */
describe('resume with another USER_KEY, end to end', () => {
	let world: World;
	let bot: BotProcess;

	useWorld({}, async (ready) => {
		({ world, bot } = ready);
		await mkdir(path.join(world.uploadRoot, 'rekeyed'), { recursive: true });
		for (let file = 0; file < 8; file++) await writeFile(path.join(world.uploadRoot, 'rekeyed', `part-${file}.bin`), patterned(65_536, file + 1));
	});

	async function threadAttachments(threadId: string): Promise<number> {
		return (await world.control.messages(threadId)).length;
	}

	it('GIVEN an interrupted upload WHEN the bot restarts under another USER_KEY and Resume is clicked THEN it answers WRONG_KEY, posts nothing and the card stays resumable; under the right key the resume completes and restores', async () => {
		const started = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'upload', options: { source: 'rekeyed' } });
		const archiveId = archiveIdIn(started.reply?.content);
		let threadId: string | null = null;
		for (let attempt = 0; attempt < 300; attempt++) {
			const card = await world.control.card(world.archiveChannelId, archiveId);
			threadId = card?.record.thread ?? null;
			if (threadId !== null && (await threadAttachments(threadId)) >= 2) break;
			await delay(100);
		}
		await bot.kill();
		bot = await world.startBot({ USER_KEY: 'a typo in the .env file' });
		const interrupted = await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'interrupted');
		const uid = interrupted.record.uid;
		const before = await threadAttachments(threadId!);
		expect(before).toBeLessThan(9);

		const refused = await world.control.run(
			{ kind: 'button', messageId: interrupted.message.id, customId: `archive:resume:${uid}` },
			{ timeoutMs: 60_000, done: (view) => (view.reply?.content ?? '').includes('(code ') }
		);
		expect(refused.reply?.content).toContain('(code WRONG_KEY)');
		expect(refused.reply?.content).not.toContain('✅');
		expect(await threadAttachments(threadId!)).toBe(before);
		const after = (await world.control.card(world.archiveChannelId, archiveId))!;
		expect(after.record.status).not.toBe('complete');
		expect(buttonIds(after.message)).toContain(`archive:resume:${uid}`);

		await bot.stop();
		bot = await world.startBot();
		const resumed = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'resume', options: { id: archiveId } });
		expect(resumed.reply?.content).toMatch(/^▶️ Resuming/u);
		await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'complete', 120_000);
		const download = await world.control.run(
			{ kind: 'command', command: 'archive', subcommand: 'download', options: { id: archiveId } },
			{ timeoutMs: 120_000, done: (view) => /^(✅|❌)/u.test(view.reply?.content ?? '') }
		);
		expect(download.reply?.content).toMatch(/^✅/u);
		const folder = /into `([^`]+)`/.exec(download.reply!.content)![1]!;
		expect(await treeDigest(path.join(world.downloadRoot, folder))).toEqual(await treeDigest(path.join(world.uploadRoot, 'rekeyed')));
	});
});
