import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Archive, openIndex } from '../../src/db/index.js';
import type { InteractionView } from '../../src/emulator/index.js';
import { archiveIdIn, builtBot, buttonIds, delay, patterned, useWorld, type World } from './support.js';

/** The window the bot is started with: short, so the test waits past it instead of a minute. */
const WINDOW_SECONDS = 1;

const expired = 'This question has expired and nothing was deleted: run /archive cleanup again to delete the archive. (code CONFIRMATION_EXPIRED)';

/**
 * The cleanup question's expiry end to end: the bot as its own process with `DOS_CLEANUP_CONFIRM_SECONDS` set short,
 * the question asked through `/archive cleanup` and through the card's Delete button, and its buttons clicked once it
 * has expired.
 */
describe('an expired cleanup question, end to end', () => {
	let world: World;
	let archiveId: string;
	let uid: string;

	useWorld({ botEnv: { DOS_CLEANUP_CONFIRM_SECONDS: String(WINDOW_SECONDS) } }, async (ready) => {
		({ world } = ready);
		await mkdir(path.join(world.uploadRoot, 'keep-me/inner'), { recursive: true });
		await writeFile(path.join(world.uploadRoot, 'keep-me/inner/data.bin'), patterned(100_000, 5));
		const view = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'upload', options: { source: 'keep-me' } });
		archiveId = archiveIdIn(view.reply?.content);
		uid = (await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'complete')).record.uid;
	});

	function indexed(): Archive {
		const index = openIndex({ path: world.database });
		try {
			return index.archives.require(archiveId);
		} finally {
			index.close();
		}
	}

	/** When the question's buttons stop being valid, read from their custom ids (`…:<expiry, base 36 ms>`). */
	function expiryOf(question: InteractionView): number {
		const ids = buttonIds(question.reply!);
		expect(ids).toEqual([expect.stringMatching(`^archive-cleanup:confirm:${uid}:`), expect.stringMatching(`^archive-cleanup:keep:${uid}:`)]);
		const expiries = ids.map((id) => parseInt(id.split(':')[3]!, 36));
		expect(expiries[1]).toBe(expiries[0]);
		return expiries[0]!;
	}

	it('GIVEN DOS_CLEANUP_CONFIRM_SECONDS=1 WHEN the owner asks to clean up, by command and by the card, and clicks Delete after the window THEN each click is answered that the question expired, and the archive, its thread and its card are untouched', async () => {
		const card = (await world.control.card(world.archiveChannelId, archiveId))!;
		const thread = card.record.thread!;
		const threadMessages = (await world.control.messages(thread)).length;
		const before = indexed();

		const asked = Date.now();
		const byCommand = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'cleanup', options: { id: archiveId } });
		const byCard = await world.control.run({ kind: 'button', messageId: card.message.id, customId: `archive:delete:${uid}` });
		const answered = Date.now();
		const questions = [byCommand, byCard];
		let latest = 0;
		for (const question of questions) {
			expect(question.reply?.flags).toBe(64);
			expect(question.reply?.content).toMatch(/^🗑️ Delete \*\*#\d{6}-\d+\*\*/u);
			const expiresAt = expiryOf(question);
			// The window is the setting's, not the default minute: the expiry is the moment of asking plus one second.
			expect(expiresAt).toBeGreaterThanOrEqual(asked + WINDOW_SECONDS * 1_000);
			expect(expiresAt).toBeLessThanOrEqual(answered + WINDOW_SECONDS * 1_000);
			expect(question.reply?.content).toContain(`expires <t:${Math.ceil(expiresAt / 1_000)}:R>`);
			latest = Math.max(latest, expiresAt);
		}
		while (Date.now() <= latest + 100) await delay(100);

		for (const question of questions) {
			const [confirm, keep] = buttonIds(question.reply!);
			for (const customId of [confirm!, keep!]) {
				const click = await world.control.run({ kind: 'button', messageId: question.reply!.id, customId });
				expect(click.reply?.flags, customId).toBe(64);
				expect(click.reply?.content, customId).toBe(expired);
				expect(click.followups).toEqual([]);
			}
			// The question itself is left as it was: nothing answered it.
			expect((await world.control.interaction(question.id)).reply?.editedAt).toBe(question.reply!.editedAt);
		}

		// A cleanup would have deleted the thread and greyed the card within this pause.
		await delay(500);
		const state = (await (await fetch(`${world.emulator.controlUrl}/state`)).json()) as { channels: { id: string }[] };
		expect(state.channels.some((channel) => channel.id === thread)).toBe(true);
		expect((await world.control.messages(thread)).length).toBe(threadMessages);
		const after = (await world.control.card(world.archiveChannelId, archiveId))!;
		expect(after.record).toEqual(card.record);
		expect(after.message.editedAt).toBe(card.message.editedAt);
		expect(after.message.embeds).toEqual(card.message.embeds);
		expect(buttonIds(after.message)).toEqual(buttonIds(card.message));
		expect(indexed()).toEqual(before);
	});

	it('GIVEN DOS_CLEANUP_CONFIRM_SECONDS outside 1–900 or not a number WHEN the bot starts THEN it exits with code 2 naming the setting and its bounds', () => {
		for (const [value, problem] of [
			['0', 'must be at least 1 second (default 60)'],
			['901', 'must be at most 900 seconds, 15 minutes (default 60)'],
			['soon', 'must be a whole number of seconds']
		] as const) {
			const result = spawnSync(process.execPath, [builtBot], {
				cwd: world.dir,
				env: { ...world.env, DOS_CLEANUP_CONFIRM_SECONDS: value },
				encoding: 'utf8',
				timeout: 30_000
			});
			expect(result.status, value).toBe(2);
			expect(result.stderr, value).toContain(`DOS_CLEANUP_CONFIRM_SECONDS ${problem} (got "${value}").`);
		}
	});
});
