import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EmulatorFixture, startFixture } from '../discord/emulator-fixture.js';

/** The control API posts files as someone else: a user, another bot of the guild, or a webhook. */

let emu: EmulatorFixture;

beforeEach(async () => {
	emu = await startFixture();
});

afterEach(async () => {
	await emu.close();
});

describe('control API: foreign posts with files', () => {
	it('GIVEN a webhook and another bot WHEN they post files THEN REST lists them as bot authors that are not the bot, with the bytes sent', async () => {
		const data = randomBytes(1234);
		const hook = (await emu.control('POST', `/channels/${emu.archiveChannelId}/messages`, {
			author: 'webhook',
			content: 'planted',
			files: [{ name: 'x.bin', data: data.toString('base64') }]
		})) as { id: string; author: { id: string; bot: boolean }; attachments: { size: number; url: string }[] };
		const other = (await emu.control('POST', `/channels/${emu.archiveChannelId}/messages`, { author: 'other-bot', content: 'hi' })) as {
			author: { id: string; bot: boolean };
		};
		const again = (await emu.control('POST', `/channels/${emu.archiveChannelId}/messages`, { author: 'webhook', content: 'again' })) as {
			author: { id: string };
		};
		const state = (await emu.control('GET', '/state')) as { botUserId: string };
		expect(hook.author.bot).toBe(true);
		expect(other.author.bot).toBe(true);
		expect(new Set([hook.author.id, other.author.id, state.botUserId]).size).toBe(3);
		expect(again.author.id).toBe(hook.author.id);
		expect(hook.attachments[0]!.size).toBe(1234);
		expect(Buffer.from(await (await fetch(hook.attachments[0]!.url)).arrayBuffer()).equals(data)).toBe(true);
		const listed = await emu.transport().fetchMessage(emu.archiveChannelId, hook.id);
		expect(listed).toMatchObject({ authorId: hook.author.id, authorIsBot: true });
	});

	it('GIVEN the old body { user, content } WHEN posted THEN a user posts as before', async () => {
		const posted = (await emu.control('POST', `/channels/${emu.archiveChannelId}/messages`, { user: 'owner', content: 'hello' })) as {
			author: { bot: boolean };
			content: string;
		};
		expect(posted).toMatchObject({ author: { bot: false }, content: 'hello' });
	});
});
