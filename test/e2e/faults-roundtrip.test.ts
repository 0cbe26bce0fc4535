import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { treeDigest } from '../support/tree.js';
import type { InteractionRequest } from '../../src/emulator/index.js';
import { type BotProcess, archiveIdIn, delay, patterned, useWorld, type World } from './support.js';

/**
 * A new user's first round trip on a flaky Discord: on every REST route — interaction callbacks and webhooks
 * included — 10 % of requests fail with a 5xx, 15 % of the requests that store something lose their answer (the
 * connection drops after Discord took them) and 5 % meet a 429. Upload → full verify → download must still end with
 * the card Complete and verified and a byte-identical restore: a lost answer means "maybe done", never a failed job.
 */

const CALLBACK = 'POST /interactions/:interaction/:token/callback';
const SEEDS = [11, 22, 33] as const;

describe('a round trip through the bot under a flaky Discord', () => {
	let world: World;
	let bot: BotProcess;

	useWorld({}, async (ready) => {
		({ world, bot } = ready);
		for (const seed of SEEDS) {
			const folder = path.join(world.uploadRoot, `flaky-${seed}`);
			await mkdir(path.join(folder, 'inner'), { recursive: true });
			await writeFile(path.join(folder, 'inner/data.bin'), patterned(150_000, seed));
			await writeFile(path.join(folder, 'readme.txt'), `folder ${seed}\n`);
		}
		world.emulator.resetStats();
	});

	afterAll(() => {
		world?.emulator.faults.reset();
	});

	/** Waits until some answer of an interaction (the reply or a follow-up) satisfies `done`. */
	async function waitForAnswer(id: string, done: (text: string) => boolean, what: string, timeoutMs = 120_000): Promise<string> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const view = await world.emulator.interaction(id, 1_000);
			const texts = [view.reply?.content ?? '', ...view.followups.map((message) => message.content)];
			const found = texts.find(done);
			if (found !== undefined) return found;
			if (view.status === 'expired') throw new Error(`The bot never answered ${what}.\n${bot.log().slice(-4_000)}`);
			if (Date.now() > deadline) throw new Error(`No answer to ${what} in time; last: ${JSON.stringify(texts)}.\n${bot.log().slice(-4_000)}`);
			await delay(200);
		}
	}

	/** Starts an interaction as the owner and waits until some answer of it satisfies `done`. */
	async function ask(request: InteractionRequest, done: (text: string) => boolean): Promise<string> {
		return waitForAnswer(world.emulator.interact(request).id, done, JSON.stringify(request));
	}

	for (const seed of SEEDS) {
		it(`GIVEN 10 % 5xx, 15 % lost answers and 5 % 429 on every route (seed ${seed}) WHEN a folder is uploaded, verified in full and downloaded through the bot THEN the card ends Complete and verified and the restore is byte-identical`, async () => {
			world.emulator.faults.set({
				seed,
				serverErrorRate: 0.1,
				dropAfterCommitRate: 0.15,
				rateLimitRate: 0.05,
				rateLimitRetryAfterMs: 200,
				routes: null
			});
			try {
				const folder = `flaky-${seed}`;
				const upload = world.emulator.interact({ kind: 'command', command: 'archive', subcommand: 'upload', options: { source: folder } });
				const archiveId = archiveIdIn(await waitForAnswer(upload.id, (text) => /\*\*#\d{6}-\d+\*\*/.test(text), 'the upload'));
				// The answer is edited with the outcome once the job has ended (the card reads Complete a moment before).
				expect(await waitForAnswer(upload.id, (text) => /^(✅|❌)/u.test(text), 'the upload')).toMatch(/^✅ .* is uploaded/u);
				const complete = await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'complete', 60_000);
				expect(complete.record).toMatchObject({ files: 2, stored: complete.record.chunks });

				const verified = await ask(
					{ kind: 'command', command: 'archive', subcommand: 'verify', options: { id: archiveId, level: 'full' } },
					(text) => /^(✅|⚠️|❌)/u.test(text)
				);
				expect(verified).toMatch(/^✅ .* is whole \(full\)/u);
				const card = await world.control.waitForCard(
					world.archiveChannelId,
					archiveId,
					(record, message) => record.status === 'complete' && /✅ full/u.test(JSON.stringify(message.embeds)),
					60_000
				);
				expect(card.record.status).toBe('complete');

				// A status in between: one more callback and webhook edit under the same faults; its answer is an embed.
				const status = world.emulator.interact({ kind: 'command', command: 'archive', subcommand: 'status' });
				for (let view = await world.emulator.interaction(status.id, 1_000); (view.reply?.embeds.length ?? 0) === 0;) {
					if (view.status === 'expired') throw new Error(`The bot never answered /archive status.\n${bot.log().slice(-4_000)}`);
					await delay(200);
					view = await world.emulator.interaction(status.id);
				}

				const downloaded = await ask({ kind: 'command', command: 'archive', subcommand: 'download', options: { id: archiveId } }, (text) =>
					/^(✅|⚠️|❌)/u.test(text)
				);
				expect(downloaded).toMatch(/^✅ .* restored: 2 files/u);
				const into = /into `([^`]+)`/.exec(downloaded)![1]!;
				expect(await treeDigest(path.join(world.downloadRoot, into))).toEqual(await treeDigest(path.join(world.uploadRoot, folder)));
			} finally {
				world.emulator.faults.reset();
			}
		}, 400_000);
	}

	it('GIVEN the runs above WHEN the emulator counts its faults THEN they hit interaction callbacks and webhooks too, and the bot never died on one', () => {
		const stats = world.emulator.stats();
		const total = (route: string) => Object.values(stats.faultsInjectedByRoute[route] ?? {}).reduce((sum, count) => sum + count, 0);
		expect(stats.faultsInjected.dropAfterCommit).toBeGreaterThan(0);
		expect(total(CALLBACK)).toBeGreaterThan(0);
		const webhooks = Object.keys(stats.faultsInjectedByRoute).filter((route) => route.includes('/webhooks/'));
		expect(webhooks.reduce((sum, route) => sum + total(route), 0)).toBeGreaterThan(0);
		expect(bot.log()).not.toMatch(/UNEXPECTED|already been acknowledged/);
	});
});
