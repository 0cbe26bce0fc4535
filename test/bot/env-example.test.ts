import { readFileSync } from 'node:fs';
import { parse } from 'dotenv';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, parseConfig } from '../../src/config.js';

const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');

describe('.env.example', () => {
	it('GIVEN every variable the configuration reads WHEN looking in .env.example THEN each is documented there', () => {
		for (const name of CONFIG_VARIABLES) expect(text, name).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
	});

	it('GIVEN .env.example copied as it is WHEN the bot loads it THEN only the token, the channel and the owners are asked for', () => {
		let problems: readonly string[] = [];
		try {
			parseConfig(parse(text), { require: ['discordToken', 'archiveChannel', 'owners'] });
		} catch (error) {
			if (!(error instanceof ConfigError)) throw error;
			problems = error.problems;
		}
		expect(problems.map((problem) => problem.split(' ')[0])).toEqual(['DISCORD_BOT_TOKEN', 'DISCORD_DRIVE_ARCHIVE_CHANNEL_ID', 'OWNER_IDS']);
	});
});
