import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EmbedLimits, embedLength } from '../../src/archive/card.js';
import { ArchiveAction } from '../../src/bot/lib/access.js';
import { BUTTON_HELP, HelpGroup, SUBCOMMAND_HELP, helpEmbed, rootName, whoMay } from '../../src/bot/lib/help.js';

const docs = readFileSync(new URL('../../docs/bot.md', import.meta.url), 'utf8');

/** The rows of the markdown table whose header starts with `| <first> `, as trimmed cells. */
function tableRows(first: string): string[][] {
	const lines = docs.split('\n');
	const start = lines.findIndex((line) => new RegExp(`^\\|\\s*${first}\\s*\\|`).test(line));
	expect(start, `docs/bot.md has a "${first}" table`).toBeGreaterThanOrEqual(0);
	const rows: string[][] = [];
	for (const line of lines.slice(start + 2)) {
		if (!line.startsWith('|')) break;
		rows.push(
			line
				.slice(1, -1)
				.split('|')
				.map((cell) => cell.trim())
		);
	}
	return rows;
}

const policy = { ownerIds: ['100000000000000001'], allowedRoleIds: ['200000000000000002'] };
const owner = { userId: '100000000000000001', roleIds: [] };
const member = { userId: '300000000000000003', roleIds: ['200000000000000002'] };
const settings = {
	chunkSize: 8 * 1024 * 1024,
	gzipLevel: 6,
	encryption: true,
	uploadRoot: '/srv/secret-host-layout/uploads',
	downloadRoot: '/srv/secret-host-layout/restored',
	cleanupConfirmSeconds: 60
};

describe('/archive help and docs/bot.md', () => {
	it('GIVEN the help table WHEN docs/bot.md lists the commands THEN both say the same, row for row (usage, who, what)', () => {
		expect(tableRows('command')).toEqual(Object.values(SUBCOMMAND_HELP).map((entry) => [`\`${entry.usage}\``, whoMay(entry.action), entry.what]));
	});

	it('GIVEN the help table WHEN docs/bot.md lists the buttons THEN both say the same, row for row', () => {
		expect(tableRows('button')).toEqual(BUTTON_HELP.map((entry) => [entry.usage, whoMay(entry.action), entry.what]));
	});

	it('GIVEN every subcommand WHEN its help names its access rule THEN the rule is the one of the same name, and every button rule exists', () => {
		for (const [name, entry] of Object.entries(SUBCOMMAND_HELP)) {
			expect(entry.action, name).toBe(name);
			expect(entry.usage.startsWith(`/archive ${name}`), name).toBe(true);
		}
		for (const entry of BUTTON_HELP) expect(Object.values(ArchiveAction)).toContain(entry.action);
	});
});

describe('helpEmbed', () => {
	it('GIVEN an owner WHEN the help is built THEN every line is marked usable, grouped by what people do, roots by folder name only', () => {
		const embed = helpEmbed(policy, owner, settings);
		const text = JSON.stringify(embed);
		expect(embed.fields?.map((field) => field.name)).toEqual([...Object.values(HelpGroup), 'Who may do what', 'This archive']);
		expect(JSON.stringify(embed.fields)).not.toContain('🔒');
		for (const entry of Object.values(SUBCOMMAND_HELP)) expect(text).toContain(entry.usage);
		expect(text).toContain('`uploads`');
		expect(text).toContain('`restored`');
		expect(text).not.toContain('/srv');
		expect(text).toContain('8.00 MiB');
		expect(text).toContain('gzip level 6');
	});

	it('GIVEN a member of an allowed role WHEN the help is built THEN owner-only lines are locked and the harmless ones open', () => {
		const fields = helpEmbed(policy, member, settings).fields!;
		const store = fields.find((field) => field.name === HelpGroup.Store)!.value;
		const restore = fields.find((field) => field.name === HelpGroup.Restore)!.value;
		expect(store).toMatch(/^🔒 `\/archive upload/m);
		expect(restore).toMatch(/^✅ `\/archive download/m);
		expect(restore).not.toContain('🔒');
		expect(store).toMatch(/^🔒 🔘 \*\*Cancel \(card\)\*\*/m);
		expect(restore).toMatch(/^✅ 🔘 \*\*Download \(card\)\*\*/m);
	});

	it('GIVEN fifty owners, fifty roles and long root names WHEN the help is built THEN it stays within one embed of Discord', () => {
		const many = (prefix: string) => Array.from({ length: 50 }, (_, index) => `${prefix}${String(index).padStart(17, '0')}`);
		const embed = helpEmbed({ ownerIds: many('1'), allowedRoleIds: many('2') }, owner, {
			...settings,
			uploadRoot: `/x/${'u'.repeat(255)}`,
			downloadRoot: `/x/${'d'.repeat(255)}`
		});
		expect(embedLength(embed)).toBeLessThanOrEqual(EmbedLimits.total);
		expect(embed.fields!.length).toBeLessThanOrEqual(EmbedLimits.fields);
		for (const field of embed.fields!) expect(field.value.length).toBeLessThanOrEqual(EmbedLimits.fieldValue);
		expect(embed.fields!.find((field) => field.name === 'Who may do what')!.value).toContain('and 40 more');
	});

	it('GIVEN a root with a backtick or the filesystem root WHEN it is named THEN the name cannot break out of code formatting', () => {
		expect(rootName('/data/we`ird')).toBe('weʼird');
		expect(rootName('/')).toBe('the root folder');
	});
});
