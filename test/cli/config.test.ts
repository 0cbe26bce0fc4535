import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, isLoopbackUrl, loadConfig, parseConfig, userKeyWarning } from '../../src/config.js';

const SECRET = 'correct horse battery staple';
const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.abcdefghijklmnopqrstuvwxyz0123';

describe('configuration', () => {
	it('GIVEN an empty environment WHEN parsed THEN defaults live under ./data and the engine defaults apply', () => {
		const config = parseConfig({}, { cwd: '/srv/dos' });
		expect(config.paths).toEqual({
			uploadRoot: '/srv/dos/data/uploads',
			downloadRoot: '/srv/dos/data/downloads',
			database: '/srv/dos/data/dos.sqlite'
		});
		expect(config.engine).toMatchObject({ chunkSize: 9_961_472, gzipLevel: 9, attachmentLimit: 10_485_760 });
		expect(config.engine.workers).toBeGreaterThanOrEqual(1);
		expect(config.discord.apiUrl).toBe('https://discord.com/api');
		expect(config.userKey).toBeUndefined();
	});

	it('GIVEN several invalid variables WHEN parsed THEN every problem is listed at once', () => {
		const error = (() => {
			try {
				parseConfig(
					{
						DOS_CHUNK_SIZE: 'big',
						DOS_GZIP_LEVEL: '12',
						USER_KEY: '',
						OWNER_IDS: '123456789012345678, nope',
						DISCORD_API_URL: 'ftp://x',
						GUILD_ID: '42'
					},
					{ require: ['userKey'] }
				);
			} catch (e) {
				return e as ConfigError;
			}
			throw new Error('no error');
		})();
		expect(error).toBeInstanceOf(ConfigError);
		const text = error.problems.join('\n');
		for (const name of ['DOS_CHUNK_SIZE', 'DOS_GZIP_LEVEL', 'OWNER_IDS', 'DISCORD_API_URL', 'GUILD_ID', 'USER_KEY']) expect(text).toContain(name);
		expect(error.problems).toHaveLength(6);
		// A number out of range says the range, not only that it should be a number.
		expect(text).toMatch(/DOS_GZIP_LEVEL.*must be a whole number from 0 to 9/);
	});

	it('GIVEN DOS_LEGACY_BOT_IDS WHEN parsed THEN the ids are listed; unset, none; not an id, refused by name', () => {
		expect(parseConfig({}).discord.legacyBotIds).toEqual([]);
		expect(parseConfig({ DOS_LEGACY_BOT_IDS: '123456789012345678, 223456789012345678' }).discord.legacyBotIds).toEqual([
			'123456789012345678',
			'223456789012345678'
		]);
		expect(() => parseConfig({ DOS_LEGACY_BOT_IDS: 'the old bot' })).toThrow(/DOS_LEGACY_BOT_IDS/);
	});

	it('GIVEN a chunk size that cannot fit the attachment limit WHEN parsed THEN it is refused with the largest size that fits', () => {
		expect(() => parseConfig({ DOS_CHUNK_SIZE: '10485760' })).toThrow(/at most 10485664/);
	});

	it('GIVEN a command that needs the key WHEN USER_KEY is unset THEN the problem says how to set it; others are not required', () => {
		expect(() => parseConfig({}, { require: ['userKey'] })).toThrow(/export USER_KEY=/);
		expect(() => parseConfig({}, { require: ['userKey', 'discordToken', 'owners'] })).toThrow(
			expect.objectContaining({ problems: expect.arrayContaining([expect.stringContaining('OWNER_IDS')]) })
		);
		expect(parseConfig({ USER_KEY: SECRET }, { require: ['userKey'] }).userKey?.reveal()).toBe(SECRET);
	});

	it('GIVEN secrets WHEN the configuration is printed, serialized or rejected THEN they never appear', () => {
		const config = parseConfig({ USER_KEY: SECRET, DISCORD_BOT_TOKEN: TOKEN, OWNER_IDS: '123456789012345678' });
		for (const text of [inspect(config, { depth: 10 }), JSON.stringify(config), String(config.userKey), String(config.discord.token)]) {
			expect(text).not.toContain(SECRET);
			expect(text).not.toContain(TOKEN);
		}
		try {
			parseConfig({ USER_KEY: SECRET, DISCORD_BOT_TOKEN: 'short-secret-token', DOS_WORKERS: '0' });
		} catch (error) {
			expect((error as Error).message).not.toContain('short-secret-token');
			expect((error as ConfigError).problems).toHaveLength(2);
		}
	});

	it('GIVEN the format 2 settings WHEN parsed THEN codec, pack size and dedup scope are read, defaulted and bounded', () => {
		const defaults = parseConfig({}).engine;
		expect(defaults).toMatchObject({ compression: 'gzip-9', packSize: 9_961_472, dedup: 'repository' });
		expect(parseConfig({ DOS_GZIP_LEVEL: '4' }).engine.compression).toBe('gzip-4');
		expect(parseConfig({ DOS_GZIP_LEVEL: '0' }).engine.compression).toBe('none');
		expect(parseConfig({ DOS_GZIP_LEVEL: '4', DOS_COMPRESSION: 'zstd-3' }).engine.compression).toBe('zstd-3');
		expect(parseConfig({ DOS_DEDUP: 'archive', DOS_PACK_SIZE: '8000000' }).engine).toMatchObject({ dedup: 'archive', packSize: 8_000_000 });
		expect(() => parseConfig({ DOS_COMPRESSION: 'gzip-10' })).toThrow(/DOS_COMPRESSION/);
		expect(() => parseConfig({ DOS_COMPRESSION: 'zstd-20' })).toThrow(/DOS_COMPRESSION/);
		expect(() => parseConfig({ DOS_DEDUP: 'global' })).toThrow(/DOS_DEDUP/);
		expect(() => parseConfig({ DOS_PACK_SIZE: '20000000', DOS_ATTACHMENT_LIMIT: '10485760' })).toThrow(
			/DOS_PACK_SIZE .* exceeds DOS_ATTACHMENT_LIMIT/
		);
		expect(parseConfig({ DOS_ATTACHMENT_LIMIT: '8000000', DOS_CHUNK_SIZE: '7000000' }).engine.packSize).toBe(8_000_000);
	});

	it('GIVEN DOS_FORMAT and DOS_PACKS_PER_MESSAGE WHEN parsed THEN format 2 and 2 packs are the defaults, format 1 on request, and a message never outgrows one request', () => {
		expect(parseConfig({}).engine).toMatchObject({ format: 2, packsPerMessage: 2 });
		expect(parseConfig({ DOS_FORMAT: '1' }).engine).toMatchObject({ format: 1 });
		expect(parseConfig({ DOS_FORMAT: '2', DOS_PACKS_PER_MESSAGE: '1' }).engine).toMatchObject({ format: 2, packsPerMessage: 1 });
		expect(() => parseConfig({ DOS_FORMAT: '3' })).toThrow(/DOS_FORMAT must be 1 or 2/);
		expect(() => parseConfig({ DOS_PACKS_PER_MESSAGE: '0' })).toThrow(/DOS_PACKS_PER_MESSAGE/);
		expect(() => parseConfig({ DOS_PACKS_PER_MESSAGE: '11' })).toThrow(/DOS_PACKS_PER_MESSAGE/);
		// Three packs of 9.5 MiB are more than the 25 MiB one message request may carry.
		expect(() => parseConfig({ DOS_PACKS_PER_MESSAGE: '3' })).toThrow(/use at most 2 packs per message/);
		expect(parseConfig({ DOS_PACKS_PER_MESSAGE: '5', DOS_PACK_SIZE: '4194466' }).engine.packsPerMessage).toBe(5);
		// Unset, the default drops to what fits: one pack of 20 MiB.
		const large = { DOS_ATTACHMENT_LIMIT: String(20 * 1024 * 1024), DOS_PACK_SIZE: String(20 * 1024 * 1024) };
		expect(parseConfig(large).engine.packsPerMessage).toBe(1);
	});

	it('GIVEN a pack size a pack reader would refuse WHEN parsed THEN it is refused up front', () => {
		// A reader bounds a pack to 500 MiB before reading its tail; one raw 4 MiB blob and its header must fit.
		const big = { DOS_ATTACHMENT_LIMIT: String(1024 * 1024 * 1024) };
		expect(parseConfig({ ...big, DOS_PACK_SIZE: String(500 * 1024 * 1024) }).engine.packSize).toBe(500 * 1024 * 1024);
		expect(() => parseConfig({ ...big, DOS_PACK_SIZE: String(500 * 1024 * 1024 + 1) })).toThrow(/DOS_PACK_SIZE/);
		expect(parseConfig({ DOS_PACK_SIZE: '4194466' }).engine.packSize).toBe(4_194_466);
		expect(() => parseConfig({ DOS_PACK_SIZE: '4194465' })).toThrow(/DOS_PACK_SIZE/);
	});

	it('GIVEN a .env file WHEN loaded THEN it fills what the environment does not set, and never overrides it', async () => {
		const dir = await mkdtemp(path.join(tmpdir(), 'dos-config-'));
		try {
			await writeFile(path.join(dir, '.env'), `USER_KEY="${SECRET}"\nDOS_GZIP_LEVEL=3\nDOS_WORKERS=2\n`);
			const config = loadConfig({ cwd: dir, env: { DOS_GZIP_LEVEL: '5' } });
			expect(config.userKey?.reveal()).toBe(SECRET);
			expect(config.engine.gzipLevel).toBe(5);
			expect(config.engine.workers).toBe(2);
			expect(loadConfig({ cwd: path.join(dir, 'none'), env: {} }).userKey).toBeUndefined();
		} finally {
			await rm(dir, { recursive: true, force: true });
		}
	});

	it("GIVEN the emulator's short token WHEN the API is a loopback emulator THEN it is accepted; against Discord it is refused", () => {
		const emulatorToken = 'emulator-bot-token';
		const local = parseConfig({ DISCORD_BOT_TOKEN: emulatorToken, DISCORD_API_URL: 'http://127.0.0.1:40123/api' }, { require: ['discordToken'] });
		expect(local.discord.token?.reveal()).toBe(emulatorToken);
		expect(parseConfig({ DISCORD_BOT_TOKEN: emulatorToken, DISCORD_API_URL: 'http://localhost:9/api' }).discord.token?.reveal()).toBe(
			emulatorToken
		);
		for (const env of [
			{ DISCORD_BOT_TOKEN: emulatorToken },
			{ DISCORD_BOT_TOKEN: emulatorToken, DISCORD_API_URL: 'https://127.0.0.1.example.com/api' }
		]) {
			expect(() => parseConfig(env)).toThrow(/DISCORD_BOT_TOKEN does not look like a bot token/);
		}
		expect(parseConfig({ DISCORD_BOT_TOKEN: TOKEN }).discord.token?.reveal()).toBe(TOKEN);
		expect([
			isLoopbackUrl('http://[::1]:80/api'),
			isLoopbackUrl('http://127.5.0.1/'),
			isLoopbackUrl('http://10.0.0.1/'),
			isLoopbackUrl('nope')
		]).toEqual([true, true, false, false]);
	});

	it('GIVEN a USER_KEY under 8 characters WHEN parsed THEN it is refused without echoing it; under 12 it is accepted with a warning', () => {
		for (const key of ['a', 'ab', 'short12']) {
			let problems: readonly string[] = [];
			try {
				parseConfig({ USER_KEY: key });
			} catch (error) {
				problems = (error as ConfigError).problems;
			}
			expect(problems).toEqual([expect.stringMatching(/^USER_KEY is too short \(under 8 characters\)/)]);
			expect(problems.join('')).not.toContain(`"${key}"`);
		}
		const weak = parseConfig({ USER_KEY: 'eight-ch' });
		expect(weak.userKey?.reveal()).toBe('eight-ch');
		expect(userKeyWarning(weak)).toMatch(/shorter than 12 characters/);
		expect(userKeyWarning(weak)).not.toContain('eight-ch');
		expect(userKeyWarning(parseConfig({ USER_KEY: SECRET }))).toBeUndefined();
		// The key of the original tool's fixture (test/fixtures/legacy-v3.1/README.md) stays accepted without a warning.
		expect(userKeyWarning(parseConfig({ USER_KEY: 'correct horse battery staple' }))).toBeUndefined();
		// The empty `USER_KEY=` line of .env.example means unset, refused only by commands that need the key.
		expect(parseConfig({ USER_KEY: '' }).userKey).toBeUndefined();
		expect(() => parseConfig({ USER_KEY: '' }, { require: ['userKey'] })).toThrow(/USER_KEY is not set/);
	});
});
