import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { archiveIdIn, useWorld, type World } from '../e2e/support.js';

/**
 * `/archive` options that name an archive by what a person remembers (its label, a file in it), and the paths inside
 * it offered while typing: the bot as its own process against the emulator, driven through the control API.
 */
describe('archives found by name in /archive', () => {
	let world: World;
	let reports: string;
	let minutes: string;

	useWorld({}, async (ready) => {
		({ world } = ready);
		await mkdir(path.join(world.uploadRoot, 'reports/2025/q3'), { recursive: true });
		await mkdir(path.join(world.uploadRoot, 'minutes'), { recursive: true });
		await writeFile(path.join(world.uploadRoot, 'reports/2025/q3/summary.txt'), 'numbers\n');
		await writeFile(path.join(world.uploadRoot, 'reports/readme.md'), 'hello\n');
		await writeFile(path.join(world.uploadRoot, 'minutes/monday.txt'), 'talk\n');
		const upload = async (source: string, label?: string) => {
			const view = await world.control.run({
				kind: 'command',
				command: 'archive',
				subcommand: 'upload',
				options: { source, ...(label ? { label } : {}) }
			});
			const id = archiveIdIn(view.reply?.content);
			await world.control.waitForCard(world.archiveChannelId, id, (record) => record.status === 'complete');
			return id;
		};
		reports = await upload('reports', 'Team reports');
		minutes = await upload('minutes');
	});

	it('GIVEN a label or a file name typed into id and Enter pressed WHEN it fits one archive THEN that archive is downloaded', async () => {
		const byLabel = await world.control.run(
			{ kind: 'command', command: 'archive', subcommand: 'download', options: { id: 'Team reports' } },
			{ done: (answer) => /^(✅|❌|⚠️)/u.test(answer.reply?.content ?? '') || /code [A-Z_]+/.test(answer.reply?.content ?? '') }
		);
		expect(byLabel.reply?.content).toMatch(new RegExp(`^✅ \\*\\*${reports}\\*\\* restored`, 'u'));
		const byFile = await world.control.run(
			{ kind: 'command', command: 'archive', subcommand: 'verify', options: { id: 'monday.txt' } },
			{ done: (answer) => (answer.reply?.content ?? '').includes(minutes) || /code [A-Z_]+/.test(answer.reply?.content ?? '') }
		);
		expect(byFile.reply?.content).toContain(minutes);
	});

	it('GIVEN a name that fits several archives WHEN Enter is pressed THEN the answer lists them with AMBIGUOUS_ARCHIVE', async () => {
		const view = await world.control.run(
			{ kind: 'command', command: 'archive', subcommand: 'verify', options: { id: '.txt' } },
			{ done: (answer) => /code [A-Z_]+/.test(answer.reply?.content ?? '') }
		);
		expect(view.reply?.content).toContain('AMBIGUOUS_ARCHIVE');
		expect(view.reply?.content).toContain(reports);
		expect(view.reply?.content).toContain(minutes);
		expect(view.reply?.content).not.toMatch(/\bdos (list|index)/);
	});

	it('GIVEN an archive in id WHEN typing into download path THEN the paths inside it are offered, folders first', async () => {
		const all = await world.control.run({
			kind: 'autocomplete',
			command: 'archive',
			subcommand: 'download',
			focused: 'path',
			options: { id: reports, path: '' }
		});
		expect(all.choices!.map((choice) => choice.value)).toEqual(['2025', '2025/q3', 'readme.md', '2025/q3/summary.txt']);
		const typed = await world.control.run({
			kind: 'autocomplete',
			command: 'archive',
			subcommand: 'download',
			focused: 'path',
			options: { id: 'Team reports', path: 'summ' }
		});
		expect(typed.choices).toEqual([{ name: '📄 2025/q3/summary.txt · 8 B', value: '2025/q3/summary.txt' }]);
		const outsider = await world.control.run({
			kind: 'autocomplete',
			user: 'outsider',
			command: 'archive',
			subcommand: 'download',
			focused: 'path',
			options: { id: reports, path: '' }
		});
		expect(outsider.choices).toEqual([]);
	});

	it('GIVEN list and find WHEN answered privately THEN unlabelled archives show their folder, and a query matching nothing says so', async () => {
		const list = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'list' });
		const text = JSON.stringify(list.reply?.embeds);
		expect(text).toContain('📁 minutes');
		expect(text).toContain('Team reports · 📁 reports');
		const none = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'list', options: { query: 'zebra' } });
		expect(JSON.stringify(none.reply?.embeds)).toContain('No archive matches “zebra”');
		const find = await world.control.run({ kind: 'command', command: 'archive', subcommand: 'find', options: { name: 'monday' } });
		expect(JSON.stringify(find.reply?.embeds)).toContain('📁 minutes');
		// The public card never shows the folder of an unlabelled archive.
		const card = await world.control.card(world.archiveChannelId, minutes);
		expect(JSON.stringify(card!.message.embeds)).not.toContain('minutes');
	});
});
