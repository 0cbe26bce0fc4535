import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobProgressEvent, JobRun } from '../../src/archive/context.js';
import { resumeArchive } from '../../src/archive/resume.js';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import { type ArchiveHarness, nestedTree, restoreFromThread, startArchiveHarness } from './support/harness.js';
import { treeDigest } from '../support/tree.js';

let harness: ArchiveHarness | undefined;
afterEach(async () => {
	await harness?.close();
	harness = undefined;
});

const fastLimits = { emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { chunkSize: 16 * 1024 } } as const;

type Outcome = { ok: true } | { ok: false; error: unknown };

function settle(promise: Promise<unknown>): Promise<Outcome> {
	return promise.then(
		() => ({ ok: true }) as const,
		(error: unknown) => ({ ok: false, error }) as const
	);
}

function threadState(h: ArchiveHarness, threadId: string) {
	return h.emulator.state().channels.find((channel) => channel.id === threadId);
}

describe('archive thread lock', () => {
	it('GIVEN an upload under way WHEN a member posts into its thread THEN refused; AND after the upload fails THEN still refused; WHEN resumed THEN it completes and the thread ends archived and locked', async () => {
		harness = await startArchiveHarness(fastLimits);
		const h = harness;
		const source = await h.writeTree('nested', nestedTree());
		const planned = await planUpload(h.context, { folder: 'nested' });
		const lot = planned.archive.lot;

		// Once the first chunk is stored: a member tries to post into the thread, and every later chunk post fails.
		let midUpload: Promise<Outcome> | null = null;
		const events: JobProgressEvent[] = [];
		const run: JobRun = {
			jobId: 'locked',
			signal: new AbortController().signal,
			progress: (event) => {
				events.push({ ...event, jobId: 'locked', at: Date.now() });
				if (midUpload !== null || event.phase !== 'uploading' || event.chunksDone < 1) return;
				const threadId = h.index.archives.require(lot).threadId!;
				midUpload = settle(h.emulator.postAsUser(threadId, 'member', 'slipped in mid-upload'));
				h.emulator.faults.set({ serverErrorRate: 1, routes: ['POST /channels/:channel/messages'] });
			}
		};
		await expect(uploadArchive(h.context, planned, run)).rejects.toMatchObject({ code: 'DISCORD_UNAVAILABLE' });
		h.emulator.faults.reset();
		expect(midUpload).not.toBeNull();
		const during = await midUpload!;
		expect(during.ok).toBe(false);
		expect((during as { error: unknown }).error).toMatchObject({ status: 400, code: 160005 });

		const failed = h.index.archives.require(lot);
		expect(failed.status).toBe('failed');
		const threadId = failed.threadId!;
		expect(threadState(h, threadId)).toMatchObject({ locked: true });
		await expect(h.emulator.postAsUser(threadId, 'member', 'slipped in after the failure')).rejects.toMatchObject({ status: 400, code: 160005 });
		expect(h.emulator.messages(threadId).some((message) => message.content.startsWith('slipped'))).toBe(false);

		await resumeArchive(h.context, { archive: failed.id }, h.jobRun());
		expect(h.index.archives.require(lot).status).toBe('complete');
		expect(threadState(h, threadId)).toMatchObject({ archived: true, locked: true });
		await expect(h.emulator.postAsUser(threadId, 'member', 'not a chunk')).rejects.toMatchObject({ status: 400, code: 160005 });
		const outDir = path.join(h.downloadRoot, 'restored');
		await restoreFromThread(h, threadId, outDir);
		expect(await treeDigest(outDir)).toEqual(await treeDigest(source));
	});

	it('GIVEN a completed archive whose thread the bot posts into again WHEN the thread is reopened THEN it stays locked against members', async () => {
		harness = await startArchiveHarness(fastLimits);
		const h = harness;
		await h.writeTree('small', { 'a.txt': 'hello' });
		const planned = await planUpload(h.context, { folder: 'small' });
		const result = await uploadArchive(h.context, planned, h.jobRun());
		expect(threadState(h, result.threadId)).toMatchObject({ archived: true, locked: true });

		// The bot's post into the archived thread goes through the 50083 reopen path.
		await h.transport.postChunk({
			threadId: result.threadId,
			files: [{ name: 'x.bin', data: new Uint8Array(8) }],
			content: 'bot',
			nonce: 'relock-1'
		});
		expect(threadState(h, result.threadId)).toMatchObject({ archived: false, locked: true });
		await expect(h.emulator.postAsUser(result.threadId, 'member', 'not a chunk')).rejects.toMatchObject({ status: 400, code: 160005 });
	});
});
