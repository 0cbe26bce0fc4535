import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import type { FaultSettings } from '../../src/emulator/index.js';
import { type ArchiveHarness, chunkCensus, nestedTree, restoreFromThread, startArchiveHarness } from './support/harness.js';
import { treeDigest } from '../support/tree.js';

let harness: ArchiveHarness | undefined;
afterEach(async () => {
	await harness?.close();
	harness = undefined;
});

/** Uploads the nested tree under `faults` and checks: complete, exactly one message per chunk, byte-identical restore. */
async function uploadUnder(h: ArchiveHarness, faults: Partial<FaultSettings>): Promise<void> {
	const source = await h.writeTree('nested', nestedTree());
	const planned = await planUpload(h.context, { folder: 'nested' });
	h.emulator.faults.set(faults);
	const result = await uploadArchive(h.context, planned, h.jobRun());
	h.emulator.faults.reset();
	const archive = h.index.archives.require(result.lot);
	expect(archive.status).toBe('complete');
	const census = chunkCensus(h.emulator, result.threadId);
	const expected = new Map<string, number>();
	for (let index = 0; index < archive.chunkCount; index++) expected.set(`c${index}`, 1);
	for (let part = 0; part < result.manifestParts; part++) expected.set(`m${part}`, 1);
	expect(census).toEqual(expected);
	const outDir = path.join(h.downloadRoot, 'restored');
	await restoreFromThread(h, result.threadId, outDir);
	expect(await treeDigest(outDir)).toEqual(await treeDigest(source));
}

const options = { emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { chunkSize: 16 * 1024 } } as const;

describe('upload under faults', () => {
	it('GIVEN 10 % of requests answered 5xx WHEN uploading THEN it completes with exactly one message per chunk', async () => {
		harness = await startArchiveHarness(options);
		// The rate alone may roll no fault in a short run; two certain ones make the test mean something every time.
		await uploadUnder(harness, { serverErrorRate: 0.1, serverErrorNext: 2 });
		expect(harness.emulator.stats().faultsInjected.serverError).toBeGreaterThanOrEqual(2);
		expect(harness.emulator.stats().status5xx).toBeGreaterThanOrEqual(2);
	});

	it('GIVEN a 429 storm WHEN uploading THEN it completes with exactly one message per chunk', async () => {
		harness = await startArchiveHarness(options);
		await uploadUnder(harness, { rateLimitRate: 0.3, rateLimitNext: 2, rateLimitRetryAfterMs: 20 });
		expect(harness.emulator.stats().faultsInjected.rateLimit).toBeGreaterThanOrEqual(2);
		expect(harness.emulator.stats().status429).toBeGreaterThanOrEqual(2);
	});

	it('GIVEN responses dropped after the message was stored WHEN uploading THEN the nonce retries return the landed message and nothing is duplicated', async () => {
		harness = await startArchiveHarness(options);
		await uploadUnder(harness, { dropAfterCommitRate: 0.2, dropAfterCommitNext: 2, routes: ['POST /channels/:channel/messages'] });
		expect(harness.emulator.stats().faultsInjected.dropAfterCommit).toBeGreaterThanOrEqual(2);
	});

	it('GIVEN connections reset mid-body WHEN uploading THEN it completes with exactly one message per chunk', async () => {
		harness = await startArchiveHarness(options);
		await uploadUnder(harness, { resetMidBodyRate: 0.2, resetMidBodyNext: 2, routes: ['POST /channels/:channel/messages'] });
		expect(harness.emulator.stats().faultsInjected.resetMidBody).toBeGreaterThanOrEqual(2);
	});

	it('GIVEN Discord-like rate limits (5 messages / 5 s per channel) WHEN a whole upload runs THEN it causes few or no 429s', async () => {
		harness = await startArchiveHarness({ settings: { chunkSize: 48 * 1024, cardEditIntervalMs: 2_000 } });
		harness.emulator.resetStats();
		await uploadUnder(harness, {});
		const stats = harness.emulator.stats();
		expect(stats.messages).toBeGreaterThan(5);
		expect(stats.status429).toBeLessThanOrEqual(1);
	});
});
