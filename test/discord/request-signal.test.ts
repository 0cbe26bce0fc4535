import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmulatorFixture, startFixture } from './emulator-fixture.js';

let fixture: EmulatorFixture;
beforeAll(async () => {
	fixture = await startFixture();
});
afterAll(async () => {
	await fixture?.close();
});

describe('the abort signal of a long job', () => {
	it('GIVEN one signal WHEN many requests use it THEN none leaves a listener behind (dos index rebuild warned MaxListenersExceeded)', async () => {
		const transport = fixture.transport();
		const controller = new AbortController();
		const { signal } = controller;
		const posted = await transport.postLine(fixture.archiveChannelId, 'a card', { signal });
		for (let n = 0; n < 15; n++) await transport.fetchMessage(fixture.archiveChannelId, posted.messageId, { signal });
		for await (const message of transport.pageMessages(fixture.archiveChannelId, { signal })) expect(message.id).toBeDefined();
		expect(getEventListeners(signal, 'abort')).toHaveLength(0);
	});

	it('GIVEN a request in flight WHEN the job signal aborts THEN the request is still aborted', async () => {
		const transport = fixture.transport();
		const controller = new AbortController();
		controller.abort();
		await expect(transport.fetchMessage(fixture.archiveChannelId, '1', { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
	});
});
