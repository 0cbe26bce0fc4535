import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardUpdater } from '../../src/archive/card-updater.js';
import type { CardBody } from '../../src/discord/index.js';
import { type ArchiveHarness, startArchiveHarness } from './support/harness.js';

let harness: ArchiveHarness;
beforeAll(async () => {
	harness = await startArchiveHarness();
});
afterAll(async () => harness.close());

describe('card updater', () => {
	it('GIVEN many progress updates WHEN they come faster than the interval THEN at most one edit per interval is sent and the final state is always written', async () => {
		const card = await harness.transport.postCard(harness.archiveChannelId, { content: 'start' });
		const edits: CardBody[] = [];
		let firstEdit!: () => void;
		const firstEditDone = new Promise<void>((resolve) => (firstEdit = resolve));
		const updater = new CardUpdater({
			transport: harness.transport,
			channelId: card.channelId,
			messageId: card.messageId,
			log: harness.context.log,
			intervalMs: 60_000,
			onEdit: (body) => {
				edits.push(body);
				firstEdit();
			}
		});
		for (let step = 0; step < 50; step++) updater.update({ content: `step ${step}` });
		await firstEditDone;
		expect(edits.length).toBe(1);
		await updater.finish({ content: 'final' });
		updater.update({ content: 'after the end' });
		expect(edits.length).toBe(2);
		const message = harness.emulator.messages(harness.archiveChannelId).find((candidate) => candidate.id === card.messageId)!;
		expect(message.content).toBe('final');
	});

	it('GIVEN the final edit failing after every retry of the transport WHEN the updater finishes THEN it sends the final state again until it lands', async () => {
		const card = await harness.transport.postCard(harness.archiveChannelId, { content: 'start' });
		// A transport that gives up at once: one 5xx (with no REST retry) ends its attempt.
		const transport = harness.newTransport({ restRetries: 0, retry: { attempts: 1 } });
		let edits = 0;
		const updater = new CardUpdater({
			transport,
			channelId: card.channelId,
			messageId: card.messageId,
			log: harness.context.log,
			intervalMs: 0,
			finalRetryDelayMs: 10,
			onEdit: () => edits++
		});
		harness.emulator.faults.set({ serverErrorNext: 2, routes: ['PATCH /channels/:channel/messages/:message'] });
		try {
			await updater.finish({ content: 'final' });
		} finally {
			harness.emulator.faults.reset();
			transport.close();
		}
		expect(edits).toBe(1);
		const message = harness.emulator.messages(harness.archiveChannelId).find((candidate) => candidate.id === card.messageId)!;
		expect(message.content).toBe('final');
	});

	it('GIVEN a card that cannot be edited WHEN the updater writes THEN the failure is logged, not thrown', async () => {
		const updater = new CardUpdater({
			transport: harness.transport,
			channelId: harness.archiveChannelId,
			messageId: '1234567890123456789',
			log: harness.context.log,
			intervalMs: 0
		});
		await expect(updater.finish({ content: 'final' })).resolves.toBeUndefined();
		expect(harness.logLines.some((line) => line.level === 'warn' && line.message === 'card edit failed')).toBe(true);
	});
});
