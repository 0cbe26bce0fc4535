import type { APIMessage } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { cdnUrlExpiry, toLiveMessage, toMessageRecord } from '../../src/discord/messages.js';

const expiry = Math.floor(Date.UTC(2030, 0, 1) / 1000);
const url = `http://127.0.0.1:9/attachments/1/2/a.bin?ex=${expiry.toString(16)}&is=${(expiry - 86_400).toString(16)}&hm=${'ab'.repeat(32)}&`;

const message = {
	id: '1100000000000000002',
	channel_id: '1100000000000000001',
	content: 'chunk 1/1 · #241126-07',
	author: { id: '1100000000000000009', bot: true, username: 'bot', discriminator: '0', global_name: null, avatar: null },
	attachments: [{ id: '1100000000000000003', filename: 'a.bin', size: 42, url, proxy_url: url }],
	embeds: [{ title: 'card' }],
	components: [],
	timestamp: '2024-11-26T02:13:28.000Z',
	edited_timestamp: null,
	thread: { id: '1100000000000000002', name: '#241126-07', type: 11, thread_metadata: { archived: true } }
} as unknown as APIMessage;

describe('cdnUrlExpiry', () => {
	it('GIVEN a signed URL WHEN its expiry is read THEN it is the hex Unix seconds of ex', () => {
		expect(cdnUrlExpiry(url)?.getTime()).toBe(expiry * 1000);
	});

	it('GIVEN a URL without ex, a garbled ex, or no URL WHEN read THEN it is null', () => {
		expect(cdnUrlExpiry('http://127.0.0.1:9/a.bin')).toBeNull();
		expect(cdnUrlExpiry('http://127.0.0.1:9/a.bin?ex=zz')).toBeNull();
		expect(cdnUrlExpiry('not a url')).toBeNull();
	});
});

describe('toLiveMessage and toMessageRecord', () => {
	it('GIVEN a Discord message WHEN turned live THEN it carries ids, author, URL with expiry, embeds and its thread', () => {
		const live = toLiveMessage(message);
		expect(live).toMatchObject({ id: message.id, channelId: message.channel_id, authorId: '1100000000000000009', authorIsBot: true });
		expect(live.attachments[0]).toMatchObject({ id: '1100000000000000003', filename: 'a.bin', size: 42, url });
		expect(live.attachments[0]?.expiresAt?.getTime()).toBe(expiry * 1000);
		expect(live.thread).toEqual({ id: '1100000000000000002', name: '#241126-07', archived: true });
		expect(live.embeds).toEqual([{ title: 'card' }]);
	});

	it('GIVEN a live message WHEN turned into a record THEN no URL is left anywhere in it', () => {
		const record = toMessageRecord(toLiveMessage(message));
		expect(record).toEqual({
			channelId: message.channel_id,
			messageId: message.id,
			attachments: [{ id: '1100000000000000003', filename: 'a.bin', size: 42 }]
		});
		expect(JSON.stringify(record)).not.toContain('http');
	});
});
