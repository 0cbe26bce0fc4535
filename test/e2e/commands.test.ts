import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArchiveStatus, openIndex } from '../../src/db/index.js';
import { treeDigest } from '../support/tree.js';
import { type BotProcess, BOT_TOKEN, USER_KEY, archiveIdIn, buttonIds, patterned, useWorld, type World } from './support.js';

/**
 * `/archive` as people use it: the bot as its own process against the emulator, driven only through the control API.
 */
describe('/archive end to end', () => {
	let world: World;
	let bot: BotProcess;
	let archiveId: string;
	let uid: string;

	useWorld({}, async (ready) => {
		({ world, bot } = ready);
		await mkdir(path.join(world.uploadRoot, 'photos/2024/summer'), { recursive: true });
		await mkdir(path.join(world.uploadRoot, 'papers'), { recursive: true });
		await writeFile(path.join(world.uploadRoot, 'photos/2024/summer/beach.raw'), patterned(200_000, 3));
		await writeFile(path.join(world.uploadRoot, 'photos/2024/notes-ünïcode.txt'), 'hello\n');
	});

	/** Clicks a button on an ephemeral message; false when the emulator refuses such clicks (it models none yet). */
	/** Clicks a button of an ephemeral reply; only the user it was shown to can. */
	async function clickEphemeral(messageId: string, customId: string, user = 'owner'): Promise<void> {
		await world.control.interact({ kind: 'button', user, messageId, customId });
	}

	/** The reply of an interaction once it was edited after `since`. */
	async function waitForEdit(interactionId: string, since: string | null) {
		for (let attempt = 0; attempt < 100; attempt++) {
			const reply = (await world.control.interaction(interactionId)).reply;
			if (reply && reply.editedAt !== since) return reply;
			await new Promise((resolve) => setTimeout(resolve, 100));
		}
		throw new Error('The message was not edited.');
	}

	it('GIVEN a folder under the upload root WHEN the owner runs /archive upload THEN the ephemeral answer links the card, and the card reaches Complete with Download, Verify and Delete', async () => {
		const view = await world.control.run({
			kind: 'command',
			command: 'archive',
			subcommand: 'upload',
			options: { source: 'photos', label: 'Photos 2024' }
		});
		expect(view.reply?.flags ?? 0).toBe(64);
		archiveId = archiveIdIn(view.reply?.content);
		expect(view.reply?.content).toMatch(/https:\/\/discord\.com\/channels\/\d+\/\d+\/\d+/);
		const card = await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'complete');
		uid = card.record.uid;
		expect(card.record).toMatchObject({ label: 'Photos 2024', files: 2, chunks: 4, stored: 4 });
		expect(buttonIds(card.message)).toEqual([`archive:download:${uid}`, `archive:verify:${uid}`, `archive:delete:${uid}`]);
		const thread = await world.control.messages(card.record.thread!);
		expect(thread.filter((message) => message.attachments.length > 0).length).toBeGreaterThanOrEqual(5);
		// The answer is edited with the outcome while the token lives.
		const done = await world.control.run(
			{ kind: 'command', command: 'archive', subcommand: 'status' },
			{ done: (status) => status.reply?.embeds.length === 1 }
		);
		expect(JSON.stringify(done.reply?.embeds)).toContain('complete 1');
		const log = await world.control.messages(world.logChannelId);
		expect(log.some((message) => message.content.includes(archiveId))).toBe(true);
	});

	it('GIVEN typing into upload source WHEN autocomplete asks THEN folders under the upload root come back, nested paths too', async () => {
		const top = await world.control.run({
			kind: 'autocomplete',
			command: 'archive',
			subcommand: 'upload',
			focused: 'source',
			options: { source: 'p' }
		});
		expect(top.choices).toEqual([
			{ name: 'papers', value: 'papers' },
			{ name: 'photos', value: 'photos' }
		]);
		const nested = await world.control.run({
			kind: 'autocomplete',
			command: 'archive',
			subcommand: 'upload',
			focused: 'source',
			options: { source: 'photos/2024/' }
		});
		expect(nested.choices).toEqual([{ name: 'photos/2024/summer', value: 'photos/2024/summer' }]);
		const escape = await world.control.run({
			kind: 'autocomplete',
			command: 'archive',
			subcommand: 'upload',
			focused: 'source',
			options: { source: '../' }
		});
		expect(escape.choices).toEqual([]);
	});

	it('GIVEN 30 more archives in the index WHEN typing into an archive id THEN at most 25 choices come, only archives the subcommand can act on, matched by id, label or file name', async () => {
		const index = openIndex({ path: world.database });
		try {
			for (let n = 0; n < 30; n++) {
				index.archives.allocate({
					uid: randomBytes(16).toString('hex'),
					source: `seed-${n}`,
					label: `seed ${n}`,
					chunkSize: 65_536,
					status: n % 2 === 0 ? ArchiveStatus.Complete : ArchiveStatus.Interrupted
				});
			}
		} finally {
			index.close();
		}
		const all = await world.control.run({ kind: 'autocomplete', command: 'archive', subcommand: 'download', focused: 'id', options: { id: '' } });
		expect(all.choices!.length).toBeLessThanOrEqual(25);
		expect(all.choices!.length).toBeGreaterThan(10);
		for (const choice of all.choices!) {
			expect(choice.name.length).toBeLessThanOrEqual(100);
			expect(choice.name).toMatch(/complete/);
		}
		const resumable = await world.control.run({
			kind: 'autocomplete',
			command: 'archive',
			subcommand: 'resume',
			focused: 'id',
			options: { id: 'seed' }
		});
		expect(resumable.choices!.length).toBe(15);
		expect(resumable.choices!.every((choice) => choice.name.includes('interrupted'))).toBe(true);
		const byFile = await world.control.run({
			kind: 'autocomplete',
			command: 'archive',
			subcommand: 'verify',
			focused: 'id',
			options: { id: 'beach' }
		});
		expect(byFile.choices).toEqual([{ name: expect.stringContaining('beach.raw') as string, value: archiveId }]);
		const byLabel = await world.control.run({
			kind: 'autocomplete',
			command: 'archive',
			subcommand: 'cleanup',
			focused: 'id',
			options: { id: 'Photos' }
		});
		expect(byLabel.choices?.[0]?.value).toBe(archiveId);
		const outsider = await world.control.run({
			kind: 'autocomplete',
			user: 'outsider',
			command: 'archive',
			subcommand: 'download',
			focused: 'id',
			options: { id: '' }
		});
		expect(outsider.choices).toEqual([]);
		const member = await world.control.run({
			kind: 'autocomplete',
			user: 'member',
			command: 'archive',
			subcommand: 'resume',
			focused: 'id',
			options: { id: '' }
		});
		expect(member.choices).toEqual([]);
	});

	it('GIVEN many archives WHEN /archive list runs THEN the first ten come with Older and Newest buttons, and Older pages on', async () => {
		const first = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'list', user: 'member' });
		const lines = (embeds: unknown[] | undefined) => ((embeds?.[0] as { description?: string } | undefined)?.description ?? '').split('\n');
		expect(lines(first.reply?.embeds)).toHaveLength(10);
		const ids = buttonIds(first.reply!);
		expect(ids[0]).toBe('archive-list:-:');
		const older = ids[1]!;
		expect(older).toMatch(/^archive-list:\d+:$/);
		await clickEphemeral(first.reply!.id, older, 'member');
		const page = await waitForEdit(first.id, first.reply!.editedAt);
		expect(lines(page.embeds)[0]).not.toBe(lines(first.reply?.embeds)[0]);
		expect(buttonIds(page)[0]).toBe('archive-list:-:');
	});

	it('GIVEN an archived file WHEN the member runs /archive find THEN the file, its size and its archive are listed', async () => {
		const find = await world.control.run({ kind: 'command', user: 'member', command: 'archive', subcommand: 'find', options: { name: 'beach' } });
		expect(find.reply?.flags).toBe(64);
		expect((find.reply?.embeds[0] as { description: string }).description).toBe(
			`\`2024/summer/beach.raw\` · 195.3 KiB · **${archiveId}** (Photos 2024 · 📁 photos) · complete`
		);
	});

	it('GIVEN the complete archive WHEN the member clicks Verify and the owner runs a full verify THEN both pass and the card shows the last verification', async () => {
		const card = await world.control.card(world.archiveChannelId, archiveId);
		const quick = await world.control.run(
			{ kind: 'button', user: 'member', messageId: card!.message.id, customId: `archive:verify:${uid}` },
			{ done: (view) => /^(✅|⚠️)/u.test(view.followups.at(-1)?.content ?? view.reply?.content ?? '') }
		);
		expect(quick.reply?.content ?? quick.followups.at(-1)?.content).toMatch(/^✅ \*\*#\d{6}-\d+\*\* is whole \(quick\)/u);
		const full = await world.control.run(
			{ kind: 'command', command: 'archive', subcommand: 'verify', options: { id: archiveId, level: 'full' } },
			{ done: (view) => /^(✅|⚠️|❌)/u.test(view.reply?.content ?? '') }
		);
		expect(full.reply?.content).toMatch(/^✅ .* is whole \(full\)/u);
		const after = await world.control.waitForCard(world.archiveChannelId, archiveId, (_record, message) =>
			JSON.stringify(message.embeds).includes('Last verification')
		);
		expect(JSON.stringify(after.message.embeds)).toMatch(/✅ full/u);
		// What a person reads: the manifest counted apart from the chunks, and a footer in words; the record rides in the title link.
		expect(JSON.stringify(after.message.embeds)).toMatch(/full verify passed: (\d+) of \1 chunks, the manifest and \d+ files checked\./u);
		const embed = after.message.embeds[0] as { url?: string; footer?: { text: string } };
		expect(embed.footer?.text).toMatch(/^Lot \d+ · format 1$/u);
		expect(embed.url).toMatch(/^https:\/\/dos\.invalid\/dos-card\/1#[\w-]+$/u);
		expect(after.record.status).toBe('complete');
		const log = await world.control.messages(world.logChannelId);
		expect(log.filter((message) => message.content.startsWith(`✅ verify of ${archiveId} done`))).toHaveLength(2);
	});

	it('GIVEN the complete archive WHEN the member runs /archive download THEN the folder is restored byte for byte under the download root', async () => {
		const view = await world.control.run(
			{ kind: 'command', user: 'member', command: 'archive', subcommand: 'download', options: { id: archiveId } },
			{ done: (answer) => /^(✅|❌)/u.test(answer.reply?.content ?? '') }
		);
		expect(view.reply?.content).toMatch(/^✅ .* restored: 2 files/u);
		const folder = /into `([^`]+)`/.exec(view.reply!.content)![1]!;
		const restored = await treeDigest(path.join(world.downloadRoot, folder));
		expect(restored).toEqual(await treeDigest(path.join(world.uploadRoot, 'photos')));

		const card = await world.control.card(world.archiveChannelId, archiveId);
		const button = await world.control.run(
			{ kind: 'button', user: 'member', messageId: card!.message.id, customId: `archive:download:${uid}` },
			{ done: (answer) => /^(✅|❌)/u.test(answer.reply?.content ?? '') }
		);
		const second = /into `([^`]+)`/.exec(button.reply!.content)![1]!;
		expect(second).not.toBe(folder);
		expect(await treeDigest(path.join(world.downloadRoot, second))).toEqual(restored);
	});

	it('GIVEN the archive channel WHEN the owner runs a dry-run rebuild THEN the answer says what it found and nothing changes', async () => {
		const view = await world.control.run(
			{ kind: 'command', command: 'archive', subcommand: 'rebuild', options: { dry_run: true } },
			{ done: (answer) => /^(🔎|✅|❌)/u.test(answer.reply?.content ?? '') }
		);
		expect(view.reply?.content).toMatch(/^🔎 Dry run: found 1 archive \(1 in full/u);
	});

	it('GIVEN requests that cannot be done WHEN the owner makes them THEN one ephemeral sentence names the problem with a stable code', async () => {
		const unknown = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'download', options: { id: '#010101-99' } });
		expect(unknown.reply?.flags).toBe(64);
		expect(unknown.reply?.content).toMatch(/^No archive #010101-99 in the index\..*\(code ARCHIVE_NOT_FOUND\)$/);
		const escape = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'upload', options: { source: '../..' } });
		expect(escape.reply?.content).toMatch(/\(code (UNSAFE_PATH|INVALID_REQUEST|NOT_FOUND)\)$/);
		const sampleQuick = await world.control.run({
			kind: 'command',
			command: 'archive',
			subcommand: 'verify',
			options: { id: archiveId, level: 'quick', sample: 10 }
		});
		expect(sampleQuick.reply?.content).toMatch(/\(code INVALID_OPTION\)$/);
	});

	it('GIVEN the outsider WHEN they run any subcommand THEN each is refused in one ephemeral sentence and nothing happens', async () => {
		const requests: Record<string, Record<string, unknown>> = {
			upload: { source: 'photos' },
			download: { id: archiveId },
			resume: { id: archiveId },
			verify: { id: archiveId },
			cleanup: { id: archiveId },
			status: {},
			list: {},
			find: { name: 'beach' },
			rebuild: {}
		};
		for (const [subcommand, options] of Object.entries(requests)) {
			const view = await world.control.run({ kind: 'command', user: 'outsider', command: 'archive', subcommand, options });
			expect(view.reply?.flags).toBe(64);
			expect(view.reply?.content, subcommand).toMatch(/^Only the bot's owners.*\(code REFUSED\)$/);
		}
	});

	it('GIVEN a member of the allowed role WHEN they run a destructive subcommand THEN it is refused, while list and status work', async () => {
		for (const [subcommand, options] of Object.entries({
			upload: { source: 'papers' },
			resume: { id: archiveId },
			cleanup: { id: archiveId },
			rebuild: {}
		})) {
			const view = await world.control.run({ kind: 'command', user: 'member', command: 'archive', subcommand, options });
			expect(view.reply?.content, subcommand).toMatch(/^Only the bot's owners may .*\(code REFUSED\)$/);
		}
		const status = await world.control.run(
			{ kind: 'command', user: 'member', command: 'archive', subcommand: 'status' },
			{ done: (view) => view.reply?.embeds.length === 1 }
		);
		expect(JSON.stringify(status.reply?.embeds)).toContain('Upload root');
	});

	it('GIVEN the card WHEN the member or the outsider clicks Delete, or the outsider clicks anything THEN it is refused and the card and the archive are unchanged', async () => {
		const before = await world.control.card(world.archiveChannelId, archiveId);
		for (const user of ['member', 'outsider']) {
			const refused = await world.control.run({ kind: 'button', user, messageId: before!.message.id, customId: `archive:delete:${uid}` });
			expect(refused.followups[0]?.content ?? refused.reply?.content).toMatch(/^Only the bot's owners may delete archives\. \(code REFUSED\)$/);
		}
		for (const action of ['download', 'verify']) {
			const refused = await world.control.run({
				kind: 'button',
				user: 'outsider',
				messageId: before!.message.id,
				customId: `archive:${action}:${uid}`
			});
			expect(refused.followups[0]?.content ?? refused.reply?.content).toMatch(/\(code REFUSED\)$/);
		}
		const after = await world.control.card(world.archiveChannelId, archiveId);
		expect(after!.record).toEqual(before!.record);
		expect(after!.message.editedAt).toBe(before!.message.editedAt);
	});

	it('GIVEN the owner WHEN they run /archive cleanup and confirm THEN the thread is deleted and the card greyed to Deleted, and a second cleanup is refused as done', async () => {
		const ask = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'cleanup', options: { id: archiveId } });
		expect(ask.reply?.flags).toBe(64);
		expect(ask.reply?.content).toMatch(/^🗑️ Delete \*\*#\d{6}-\d+\*\* \(Photos 2024\) from Discord\?/u);
		const [confirm, keep] = buttonIds(ask.reply!);
		expect(confirm).toMatch(new RegExp(`^archive-cleanup:confirm:${uid}:[0-9a-z]+$`));
		expect(keep).toMatch(new RegExp(`^archive-cleanup:keep:${uid}:[0-9a-z]+$`));
		const current = (await world.control.card(world.archiveChannelId, archiveId))!;
		const thread = current.record.thread!;
		const viaButton = await world.control.run({ kind: 'button', messageId: current.message.id, customId: `archive:delete:${uid}` });
		expect(viaButton.reply?.flags).toBe(64);
		expect(viaButton.reply?.content).toMatch(/^🗑️ Delete \*\*#\d{6}-\d+\*\*/u);
		expect(buttonIds(viaButton.reply!)[0]).toMatch(new RegExp(`^archive-cleanup:confirm:${uid}:`));
		await clickEphemeral(ask.reply!.id, keep!);
		const kept = await waitForEdit(ask.id, ask.reply!.editedAt);
		expect(kept.content).toBe('Kept: nothing was deleted.');
		expect(buttonIds(kept)).toEqual([]);
		expect((await world.control.card(world.archiveChannelId, archiveId))!.record.status).toBe('complete');

		const askAgain = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'cleanup', options: { id: archiveId } });
		const [confirmAgain] = buttonIds(askAgain.reply!);
		const member = await world.control.interact({ kind: 'button', user: 'member', messageId: askAgain.reply!.id, customId: confirmAgain! }).then(
			() => 'clicked',
			() => 'not theirs'
		);
		expect(member).toBe('not theirs');
		await world.control.interact({ kind: 'button', messageId: askAgain.reply!.id, customId: confirmAgain! });
		const answered = await waitForEdit(askAgain.id, askAgain.reply!.editedAt);
		expect(answered.content).toMatch(/^🗑️ (Deleting|\*\*#\d{6}-\d+\*\* is deleted)/u);
		const card = await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'deleted');
		expect(buttonIds(card.message)).toEqual([]);
		const state = (await (await fetch(`${world.emulator.controlUrl}/state`)).json()) as { channels: { id: string }[] };
		expect(state.channels.some((channel) => channel.id === thread)).toBe(false);
		const again = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'cleanup', options: { id: archiveId } });
		expect(again.reply?.content).toBe(`**${archiveId}** is already deleted.`);
	});

	it('GIVEN everything the bot logged WHEN read THEN neither the token nor the key appears', () => {
		expect(bot.log()).not.toContain(BOT_TOKEN);
		expect(bot.log()).not.toContain(USER_KEY);
		expect(world.emulator.stats().unknownRoutes).toEqual([]);
	});
});
