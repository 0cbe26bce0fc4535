import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { treeDigest } from '../support/tree.js';
import { cardText } from '../../src/cli/commands/demo.js';
import type { InteractionRequest } from '../../src/emulator/index.js';
import { type BotProcess, archiveIdIn, buttonIds, builtCli, delay, useWorld, type World } from './support.js';

/**
 * Format 2 through the bot process and the emulator, as a person would use it: upload a folder, upload it again
 * (almost nothing new: its thread holds the manifest and no pack), change one file and upload again, clean up the
 * first archive (the others still download byte-identical and verify in full), delete SQLite and rebuild it from
 * Discord, and change the passphrase on the host (the old one refused, every archive still restoring with the new).
 */

const NEW_KEY = 'the new passphrase, typed on the host only';

describe('format 2 through the bot: dedup, cleanup, rebuild, passphrase change', () => {
	let world: World;
	let bot: BotProcess;
	const ids: Record<'first' | 'again' | 'changed', string> = { first: '', again: '', changed: '' };
	const botEnv = { DOS_FORMAT: '2', DOS_COMPRESSION: 'zstd-3' };

	useWorld({ botEnv }, async (ready) => {
		({ world, bot } = ready);
		const folder = path.join(world.uploadRoot, 'projects');
		await mkdir(path.join(folder, 'src'), { recursive: true });
		await writeFile(path.join(folder, 'data.bin'), randomBytes(600_000));
		await writeFile(path.join(folder, 'src/main.ts'), 'export const answer = 42;\n'.repeat(2_000));
		await writeFile(path.join(folder, 'README.md'), '# Projects\n');
	});

	/** Runs an interaction as the owner and waits until some answer of it satisfies `done`. */
	async function ask(request: InteractionRequest, done: (text: string) => boolean, what: string): Promise<string> {
		const { id } = world.emulator.interact(request);
		const deadline = Date.now() + 120_000;
		for (;;) {
			const view = await world.emulator.interaction(id, 1_000);
			const found = [view.reply?.content ?? '', ...view.followups.map((message) => message.content)].find(done);
			if (found !== undefined) return found;
			if (view.status === 'expired' || Date.now() > deadline) throw new Error(`No answer to ${what}.\n${bot.log().slice(-4_000)}`);
			await delay(200);
		}
	}

	const finished = (text: string) => /^(✅|⚠️|❌)/u.test(text);

	async function upload(): Promise<string> {
		const answer = await ask(
			{ kind: 'command', command: 'archive', subcommand: 'upload', options: { source: 'projects' } },
			(text) => /\*\*#\d{6}-\d+\*\*/.test(text),
			'the upload'
		);
		const archiveId = archiveIdIn(answer);
		await world.control.waitForCard(world.archiveChannelId, archiveId, (record) => record.status === 'complete', 120_000);
		return archiveId;
	}

	async function download(archiveId: string): Promise<string> {
		const answer = await ask(
			{ kind: 'command', command: 'archive', subcommand: 'download', options: { id: archiveId } },
			finished,
			'the download'
		);
		expect(answer).toMatch(/^✅ .* restored: 3 files/u);
		return path.join(world.downloadRoot, /into `([^`]+)`/.exec(answer)![1]!);
	}

	async function verifyFull(archiveId: string): Promise<string> {
		return ask({ kind: 'command', command: 'archive', subcommand: 'verify', options: { id: archiveId, level: 'full' } }, finished, 'the verify');
	}

	/** Pack attachments in an archive's thread. */
	async function packsIn(archiveId: string): Promise<number> {
		const card = (await world.control.card(world.archiveChannelId, archiveId))!;
		const thread = await world.control.messages(card.record.thread!);
		return thread.flatMap((message) => message.attachments).filter((file) => file.filename.endsWith('.pack')).length;
	}

	it('GIVEN a folder WHEN uploaded in format 2 THEN the card reaches Complete with format 2 sizes and it downloads byte-identical', async () => {
		ids.first = await upload();
		const card = (await world.control.card(world.archiveChannelId, ids.first))!;
		expect(card.record.format).toBe('dos-2');
		expect(cardText(card.message)).toMatch(/new, 0 B reused/);
		expect(await packsIn(ids.first)).toBeGreaterThanOrEqual(1);
		expect(await treeDigest(await download(ids.first))).toEqual(await treeDigest(path.join(world.uploadRoot, 'projects')));
	});

	it('GIVEN the same folder WHEN uploaded again THEN its card says 0 B new and its thread holds the manifest and no pack', async () => {
		ids.again = await upload();
		const card = (await world.control.card(world.archiveChannelId, ids.again))!;
		expect(cardText(card.message)).toMatch(/· 0 B new/);
		expect(await packsIn(ids.again)).toBe(0);
	});

	it('GIVEN one file changed WHEN uploaded again THEN only it is new and the archive downloads byte-identical', async () => {
		await writeFile(path.join(world.uploadRoot, 'projects/README.md'), '# Projects, changed\n'.repeat(50));
		ids.changed = await upload();
		const card = (await world.control.card(world.archiveChannelId, ids.changed))!;
		expect(cardText(card.message)).toMatch(/1\.\d+ KiB new|\d+ B new/);
		expect(await packsIn(ids.changed)).toBe(1);
		expect(await treeDigest(await download(ids.changed))).toEqual(await treeDigest(path.join(world.uploadRoot, 'projects')));
	});

	it('GIVEN three format 2 archives WHEN /archive list runs THEN its footer gives the repository they share', async () => {
		const list = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'list' });
		const embed = list.reply?.embeds[0] as { description?: string; footer?: { text: string } } | undefined;
		expect(embed?.description).toContain(ids.changed);
		expect(embed?.footer?.text).toMatch(/^Repository \(format 2\): 3 archives · \d+ packs?, [\d.]+ \S+ stored · \d+ blobs? holding /);
	});

	it('GIVEN the first archive WHEN cleaned up and confirmed THEN the question says what stays for the others, and they still download byte-identical and verify in full', async () => {
		const question = world.emulator.interact({ kind: 'command', command: 'archive', subcommand: 'cleanup', options: { id: ids.first } });
		let view = await world.emulator.interaction(question.id, 1_000);
		for (let attempt = 0; attempt < 100 && buttonIds(view.reply ?? { components: [] }).length === 0; attempt++) {
			await delay(100);
			view = await world.emulator.interaction(question.id);
		}
		expect(view.reply?.content).toContain(ids.again);
		const [confirm] = buttonIds(view.reply!);
		await world.control.interact({ kind: 'button', messageId: view.reply!.id, customId: confirm! });
		await world.control.waitForCard(world.archiveChannelId, ids.first, (record) => record.status === 'deleted', 60_000);
		// The pack the later archives need stays in the first archive's thread.
		expect(await packsIn(ids.first)).toBeGreaterThanOrEqual(1);
		const source = await treeDigest(path.join(world.uploadRoot, 'projects'));
		expect(await treeDigest(await download(ids.changed))).toEqual(source);
		expect(await verifyFull(ids.again)).toMatch(/^✅ .* is whole \(full\)/u);
		expect(await verifyFull(ids.changed)).toMatch(/^✅ .* is whole \(full\)/u);
	});

	it('GIVEN the cleanup done WHEN the owner checks the whole repository THEN every pack kept is read once and it is whole; with an id as well it is refused', async () => {
		world.emulator.resetStats();
		const answer = await ask(
			{ kind: 'command', command: 'archive', subcommand: 'verify', options: { level: 'repository' } },
			finished,
			'the repository check'
		);
		expect(answer).toMatch(/^✅ The repository is whole: \d+ packs? \([^)]+\) and \d+ blobs? checked/u);
		expect(world.emulator.stats().cdnBytes).toBeGreaterThan(0);
		const refused = await ask(
			{ kind: 'command', command: 'archive', subcommand: 'verify', options: { id: ids.again, level: 'repository' } },
			(text) => text.includes('leave id out'),
			'the refusal'
		);
		expect(refused).toContain('level:repository checks every archive of the channel');
	});

	it('GIVEN the SQLite file deleted WHEN the bot restarts and rebuilds from Discord THEN the format 2 archives come back and download byte-identical', async () => {
		await bot.stop();
		for (const suffix of ['', '-wal', '-shm']) await rm(`${world.database}${suffix}`, { force: true });
		bot = await world.startBot(botEnv);
		const rebuilt = await ask({ kind: 'command', command: 'archive', subcommand: 'rebuild' }, finished, 'the rebuild');
		expect(rebuilt).toMatch(/^✅/u);
		expect(rebuilt).toMatch(/pack/);
		const source = await treeDigest(path.join(world.uploadRoot, 'projects'));
		expect(await treeDigest(await download(ids.changed))).toEqual(source);
		expect(await verifyFull(ids.again)).toMatch(/^✅ .* is whole \(full\)/u);
	});

	it('GIVEN the passphrase changed on the host WHEN the bot keeps the old one THEN it refuses to upload; restarted with the new one, every archive still restores', async () => {
		const keyFile = path.join(world.dir, 'new-key.txt');
		await writeFile(keyFile, `${NEW_KEY}\n`, { mode: 0o600 });
		const passwd = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
			execFile(
				process.execPath,
				[builtCli, 'key', 'passwd', '--new-passphrase-file', keyFile, '--json'],
				{ cwd: world.dir, env: world.env },
				(error, stdout, stderr) => {
					resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
				}
			);
		});
		expect(passwd.code, passwd.stderr).toBe(0);
		expect(passwd.stdout + passwd.stderr).not.toContain(NEW_KEY);
		// The running bot's USER_KEY opens no slot any more: a new upload is refused, saying so.
		const refused = await ask(
			{ kind: 'command', command: 'archive', subcommand: 'upload', options: { source: 'projects' } },
			(text) => /WRONG_KEY|passphrase/i.test(text),
			'the refused upload'
		);
		expect(refused).toMatch(/WRONG_KEY/);
		await bot.stop();
		bot = await world.startBot({ ...botEnv, USER_KEY: NEW_KEY });
		const source = await treeDigest(path.join(world.uploadRoot, 'projects'));
		expect(await treeDigest(await download(ids.changed))).toEqual(source);
		expect(await verifyFull(ids.again)).toMatch(/^✅ .* is whole \(full\)/u);
		expect(bot.log()).not.toContain(NEW_KEY);
	});
});
