import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { treeDigest } from '../support/tree.js';
import type { InteractionView } from '../../src/emulator/index.js';
import { archiveIdIn, buttonIds, exists, patterned, useWorld, type World } from './support.js';

/** The folders archived, each a few 64 KiB chunks: nested folders, an empty file, text and binary. */
const folders = {
	alpha: { 'notes.txt': 'alpha\n', 'raw/one.bin': patterned(150_000, 11) },
	bravo: { 'only.bin': patterned(90_000, 12), 'empty.txt': '' },
	charlie: { 'deep/er/still/file.bin': patterned(70_000, 13), 'deep/readme.md': '# charlie\n' }
} as const;

/**
 * `/archive download id: through:` end to end: the bot as its own process against the emulator, three archives
 * uploaded through it, then ranges over them — whole, backwards, and holding an archive that was cleaned up.
 */
describe('/archive download of a lot range, end to end', () => {
	let world: World;
	const ids: Record<keyof typeof folders, string> = { alpha: '', bravo: '', charlie: '' };

	useWorld({}, async (ready) => {
		({ world } = ready);
		for (const [folder, files] of Object.entries(folders)) {
			for (const [name, content] of Object.entries(files)) {
				const file = path.join(world.uploadRoot, folder, name);
				await mkdir(path.dirname(file), { recursive: true });
				await writeFile(file, content);
			}
		}
		// One after the other, so their lots follow the order of the folders.
		for (const folder of Object.keys(folders) as (keyof typeof folders)[]) {
			const view = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'upload', options: { source: folder } });
			ids[folder] = archiveIdIn(view.reply?.content);
			await world.control.waitForCard(world.archiveChannelId, ids[folder], (record) => record.status === 'complete');
		}
	});

	/** Runs `/archive download` and waits for its final answer (a range edits it as each archive ends). */
	async function download(options: Record<string, string>): Promise<InteractionView> {
		return world.control.run(
			{ kind: 'command', user: 'member', command: 'archive', subcommand: 'download', options },
			{ timeoutMs: 120_000, done: (view) => /^(✅|⚠️|❌|[A-Z])/u.test(view.reply?.content ?? '') }
		);
	}

	/** The restore folder each `✅ **#id** restored … into `folder`` line names, by archive id. */
	function restoredFolders(content: string): Map<string, string> {
		const found = new Map<string, string>();
		for (const match of content.matchAll(/^✅ \*\*(#\d{6}-\d+)\*\* restored: .* into `([^`]+)` under the download root/gmu))
			found.set(match[1]!, match[2]!);
		return found;
	}

	async function downloadRootEntries(): Promise<string[]> {
		return (await readdir(world.downloadRoot)).sort();
	}

	it('GIVEN three complete archives WHEN the member downloads the first through the last THEN each is restored byte for byte, the chunk folders are gone and the answer names all three', async () => {
		const view = await download({ id: ids.alpha, through: ids.charlie });
		const content = view.reply!.content;
		expect(view.reply?.flags).toBe(64);
		expect(content.split('\n')[0]).toBe(`✅ **${ids.alpha}** through **${ids.charlie}**: 3 of 3 archives restored.`);
		expect(content).not.toMatch(/Not downloaded/);
		const restored = restoredFolders(content);
		expect([...restored.keys()]).toEqual([ids.alpha, ids.bravo, ids.charlie]);
		for (const folder of Object.keys(folders) as (keyof typeof folders)[]) {
			const into = restored.get(ids[folder])!;
			expect(into.startsWith(`${ids[folder]} `), into).toBe(true);
			expect(await treeDigest(path.join(world.downloadRoot, into))).toEqual(await treeDigest(path.join(world.uploadRoot, folder)));
			expect(await exists(path.join(world.downloadRoot, `[Archive] ${ids[folder]}`))).toBe(false);
		}
		expect(await downloadRootEntries()).toEqual([...restored.values()].sort());
	});

	it('GIVEN the range named backwards WHEN the member asks for it THEN one ephemeral sentence says so and how to name it, and nothing is written', async () => {
		const before = await downloadRootEntries();
		const view = await download({ id: ids.charlie, through: ids.alpha });
		expect(view.reply?.flags).toBe(64);
		expect(view.reply?.content).toBe(
			`The range ${ids.charlie} … ${ids.alpha} runs backwards (lot ${Number(ids.charlie.split('-')[1])} to lot ${Number(ids.alpha.split('-')[1])}): name the older archive first, as id:${ids.alpha} through:${ids.charlie}. Nothing was downloaded. (code INVALID_OPTION)`
		);
		expect(await downloadRootEntries()).toEqual(before);
	});

	it('GIVEN the middle archive cleaned up WHEN the member downloads the range THEN the other two are restored again into new folders, the answer names the cleaned-up one and why, and nothing else changes', async () => {
		const ask = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'cleanup', options: { id: ids.bravo } });
		await world.control.interact({ kind: 'button', messageId: ask.reply!.id, customId: buttonIds(ask.reply!)[0]! });
		await world.control.waitForCard(world.archiveChannelId, ids.bravo, (record) => record.status === 'deleted');
		const before = await downloadRootEntries();
		const earlier = new Map(
			await Promise.all(before.map(async (entry) => [entry, await treeDigest(path.join(world.downloadRoot, entry))] as const))
		);

		const view = await download({ id: ids.alpha, through: ids.charlie });
		const lines = view.reply!.content.split('\n');
		expect(lines[0]).toBe(`✅ **${ids.alpha}** through **${ids.charlie}**: 2 of 2 archives restored, 1 not downloaded.`);
		expect(lines[1]).toBe(`⏭️ Not downloaded: **${ids.bravo}** was cleaned up (its thread is gone from Discord).`);
		const restored = restoredFolders(view.reply!.content);
		expect([...restored.keys()]).toEqual([ids.alpha, ids.charlie]);
		for (const folder of ['alpha', 'charlie'] as const) {
			const into = restored.get(ids[folder])!;
			expect(before).not.toContain(into);
			expect(await treeDigest(path.join(world.downloadRoot, into))).toEqual(await treeDigest(path.join(world.uploadRoot, folder)));
		}
		// The earlier restores are untouched, and nothing at all was made for the cleaned-up archive.
		for (const [entry, digest] of earlier) expect(await treeDigest(path.join(world.downloadRoot, entry))).toEqual(digest);
		expect(await downloadRootEntries()).toEqual([...before, ...restored.values()].sort());
		expect((await downloadRootEntries()).filter((entry) => entry.includes(ids.bravo))).toEqual([`${ids.bravo} bravo`]);
		expect((await world.control.card(world.archiveChannelId, ids.alpha))!.record.status).toBe('complete');
	});

	it('GIVEN a range holding only the cleaned-up archive, or that archive alone WHEN the member asks for it THEN the answer says it was cleaned up, and no folder is made for it', async () => {
		const before = await downloadRootEntries();
		const range = await download({ id: ids.bravo, through: ids.bravo });
		expect(range.reply?.flags).toBe(64);
		expect(range.reply?.content).toBe(
			`Nothing from ${ids.bravo} through ${ids.bravo} can be downloaded, so nothing was: ${ids.bravo} was cleaned up (its thread is gone from Discord). (code INVALID_OPTION)`
		);
		const alone = await download({ id: ids.bravo });
		// Refused at once, before any job starts: not "Downloading…" followed by a failed job.
		expect(alone.reply?.content).toBe(`Archive ${ids.bravo} was deleted (its thread is gone); there is nothing to fetch. (code NOT_FOUND)`);
		expect(await downloadRootEntries()).toEqual(before);
	});
});
