import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { treeDigest } from '../support/tree.js';
import { openIndex } from '../../src/db/index.js';
import { type BotProcess, archiveIdIn, buttonIds, delay, useWorld, type World } from './support.js';

/** Incompressible bytes (so each 64 KiB chunk really is one), deterministic per seed. */
function noise(size: number, seed: number): Buffer {
	const bytes = Buffer.alloc(size);
	let state = seed || 1;
	for (let index = 0; index < size; index++) {
		state = (state * 1_103_515_245 + 12_345) >>> 0;
		bytes[index] = state >>> 24;
	}
	return bytes;
}

/**
 * Long jobs as people live them: crashes and restarts, impatient double clicks, jobs that outlive the interaction
 * token, Discord's rate limits. Discord-like limits throughout (5 messages per 5 s per channel).
 */
describe('archive jobs through the bot, end to end', () => {
	let world: World;
	let bot: BotProcess;

	useWorld({}, async (ready) => {
		({ world, bot } = ready);
		for (const [name, chunks, seed] of [
			['crash', 10, 1],
			['graceful', 24, 2],
			['slow', 8, 3]
		] as const) {
			await mkdir(path.join(world.uploadRoot, name, 'inner'), { recursive: true });
			await writeFile(path.join(world.uploadRoot, name, 'inner/data.bin'), noise(chunks * 65_536 - 1_000, seed));
			await writeFile(path.join(world.uploadRoot, name, 'readme.txt'), `folder ${name}\n`);
		}
	});

	async function upload(folder: string): Promise<string> {
		const view = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'upload', options: { source: folder } });
		return archiveIdIn(view.reply?.content);
	}

	async function chunkMessages(archiveId: string): Promise<{ filename: string }[]> {
		const card = await world.control.card(world.archiveChannelId, archiveId);
		if (card?.record.thread == null) return [];
		return (await world.control.messages(card.record.thread)).flatMap((message) => message.attachments);
	}

	async function waitForChunks(archiveId: string, count: number): Promise<void> {
		for (let attempt = 0; attempt < 300; attempt++) {
			if ((await chunkMessages(archiveId)).length >= count) return;
			await delay(100);
		}
		throw new Error(`${archiveId} never reached ${count} chunk messages.`);
	}

	it('GIVEN an upload under Discord-like rate limits WHEN it runs to the end THEN it causes no 429 storm and the card shows its progress', async () => {
		await fetch(`${world.emulator.controlUrl}/stats`, { method: 'DELETE' });
		const archiveId = await upload('slow');
		const seen = new Set<string>();
		const card = await world.control.waitForCard(world.archiveChannelId, archiveId, (record, message) => {
			const progress = (message.embeds[0] as { fields?: { name: string; value: string }[] } | undefined)?.fields?.find(
				(field) => field.name === 'Progress'
			);
			if (progress) seen.add(progress.value);
			return record.status === 'complete';
		});
		expect(card.record.stored).toBe(8);
		expect(seen.size).toBeGreaterThan(0);
		const stats = await world.control.stats();
		expect(stats.status429).toBeLessThanOrEqual(2);
	});

	it('GIVEN a running upload WHEN the bot is killed and started again THEN the card reads Interrupted with Resume; two quick Resume clicks start one job; the restore is byte-identical with one message per chunk', async () => {
		const archiveId = await upload('crash');
		await waitForChunks(archiveId, 3);
		await bot.kill();
		bot = await world.startBot();
		const interrupted = await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'interrupted');
		const uid = interrupted.record.uid;
		expect(buttonIds(interrupted.message)).toContain(`archive:resume:${uid}`);
		expect(interrupted.record.stored).toBeLessThan(10);

		const click = () => world.control.interact({ kind: 'button', messageId: interrupted.message.id, customId: `archive:resume:${uid}` });
		const [first, second] = await Promise.all([click(), click()]);
		const answers: string[] = [];
		for (const id of [first, second]) {
			for (let attempt = 0; attempt < 100; attempt++) {
				const view = await world.control.interaction(id, 1_000);
				const text = view.reply?.content ?? '';
				if (text !== '') {
					answers.push(text);
					break;
				}
				await delay(100);
			}
		}
		expect(answers).toHaveLength(2);
		expect(answers.filter((text) => text.startsWith('▶️ Resuming'))).toHaveLength(1);
		expect(answers.filter((text) => text.includes('(code ARCHIVE_BUSY)'))).toHaveLength(1);

		const complete = await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'complete', 120_000);
		expect(complete.record.stored).toBe(10);
		const index = openIndex({ path: world.database });
		try {
			const jobs = index.jobs.forArchive(complete.record.lot, 50);
			expect(jobs.filter((job) => job.kind === 'resume')).toHaveLength(1);
		} finally {
			index.close();
		}
		const names = (await chunkMessages(archiveId)).map((attachment) => attachment.filename);
		expect(new Set(names).size).toBe(names.length);

		const download = await world.control.run(
			{ kind: 'command', command: 'archive', subcommand: 'download', options: { id: archiveId } },
			{ timeoutMs: 120_000, done: (view) => /^(✅|❌)/u.test(view.reply?.content ?? '') }
		);
		expect(download.reply?.content).toMatch(/^✅/u);
		const folder = /into `([^`]+)`/.exec(download.reply!.content)![1]!;
		expect(await treeDigest(path.join(world.downloadRoot, folder))).toEqual(await treeDigest(path.join(world.uploadRoot, 'crash')));
	});

	it('GIVEN a running upload WHEN the member clicks Cancel THEN it is refused; WHEN the owner does THEN the card reads Cancelled with Resume; a resumed job stopped by SIGTERM reads Interrupted, and completes after a restart', async () => {
		const archiveId = await upload('graceful');
		await waitForChunks(archiveId, 2);
		const running = (await world.control.card(world.archiveChannelId, archiveId))!;
		const uid = running.record.uid;
		expect(buttonIds(running.message)).toEqual([`archive:cancel:${uid}`]);
		const refused = await world.control.run({ kind: 'button', user: 'member', messageId: running.message.id, customId: `archive:cancel:${uid}` });
		expect(refused.reply?.content).toBe("Only the bot's owners may cancel archive jobs. (code REFUSED)");
		const cancel = await world.control.run({ kind: 'button', messageId: running.message.id, customId: `archive:cancel:${uid}` });
		expect(cancel.reply?.content).toMatch(/^⏹️ Cancelling the job on/u);
		const cancelled = await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'cancelled');
		expect(buttonIds(cancelled.message)).toContain(`archive:resume:${uid}`);
		const memberResume = await world.control.run({
			kind: 'button',
			user: 'member',
			messageId: cancelled.message.id,
			customId: `archive:resume:${uid}`
		});
		expect(memberResume.reply?.content).toBe("Only the bot's owners may resume archives. (code REFUSED)");
		expect((await world.control.card(world.archiveChannelId, archiveId))!.record.status).toBe('cancelled');

		const resumed = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'resume', options: { id: archiveId } });
		expect(resumed.reply?.content).toMatch(/^▶️ Resuming/u);
		const before = (await chunkMessages(archiveId)).length;
		await waitForChunks(archiveId, before + 1);
		expect(await bot.stop()).toBe(0);
		const card = await world.control.card(world.archiveChannelId, archiveId);
		expect(card?.record.status).toBe('interrupted');
		expect(buttonIds(card!.message)).toContain(`archive:resume:${uid}`);

		bot = await world.startBot();
		const again = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'resume', options: { id: archiveId } });
		expect(again.reply?.content).toMatch(/^▶️ Resuming/u);
		await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'complete', 120_000);
		const notResumable = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'resume', options: { id: archiveId } });
		expect(notResumable.reply?.content).toMatch(/\(code NOT_RESUMABLE\)$/);
	});

	it('GIVEN an interaction token that lives 1.5 s WHEN an upload takes longer THEN the card still shows its progress and result, and the bot keeps answering', async () => {
		await world.control.setLimits({ interactionTokenMs: 1_500 });
		try {
			await writeFile(path.join(world.uploadRoot, 'slow', 'more.bin'), noise(4 * 65_536, 9));
			const archiveId = await upload('slow');
			let progressShown = false;
			const card = await world.control.waitForCard(
				world.archiveChannelId,
				archiveId,
				(record, message) => {
					progressShown ||= JSON.stringify(message.embeds).includes('"Progress"');
					return record.status === 'complete';
				},
				120_000
			);
			expect(progressShown).toBe(true);
			expect(card.record.stored).toBeGreaterThanOrEqual(12);
			const status = await world.control.run(
				{ kind: 'command', command: 'archive', subcommand: 'status' },
				{ done: (view) => view.reply?.embeds.length === 1 }
			);
			expect(JSON.stringify(status.reply?.embeds)).toContain('none running');
		} finally {
			await world.control.setLimits({ interactionTokenMs: 15 * 60_000 });
		}
		expect(bot.child.exitCode).toBeNull();
	});
});
