import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resumeArchive } from '../../src/archive/resume.js';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import { ChunkKind, type ChunkRecord, ChunkState } from '../../src/db/index.js';
import { type ArchiveHarness, chunkCensus, nestedTree, restoreFromThread, startArchiveHarness, stoppingRun } from './support/harness.js';
import { treeDigest } from '../support/tree.js';

let harness: ArchiveHarness | undefined;
afterEach(async () => {
	await harness?.close();
	harness = undefined;
});

const fastLimits = { emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { chunkSize: 16 * 1024 } } as const;

async function partialUpload(h: ArchiveHarness, after: number): Promise<{ lot: number; threadId: string; source: string; id: string }> {
	const source = await h.writeTree('nested', nestedTree());
	const planned = await planUpload(h.context, { folder: 'nested' });
	await uploadArchive(h.context, planned, stoppingRun(after)).catch(() => undefined);
	const archive = h.index.archives.require(planned.archive.lot);
	expect(archive.status).toBe('cancelled');
	return { lot: archive.lot, threadId: archive.threadId!, source, id: archive.id };
}

/** Posts, as the bot, a second message carrying exactly the stored bytes of `row` (a repeated post). */
async function repost(h: ArchiveHarness, threadId: string, row: ChunkRecord, nonce: string): Promise<string> {
	const original = h.emulator.messages(threadId).find((message) => message.id === row.messageId)!;
	const attachment = original.attachments.find((item) => item.id === row.attachmentId)!;
	const data = new Uint8Array(await (await fetch(attachment.url)).arrayBuffer());
	const copy = await h.transport.postChunk({ threadId, files: [{ name: row.filename!, data }], content: 'copy', nonce });
	return copy.messageId;
}

function messageIds(h: ArchiveHarness, threadId: string): Set<string> {
	return new Set(h.emulator.messages(threadId).map((message) => message.id));
}

describe('resume keeps what it can', () => {
	it('GIVEN a stopped upload with a duplicate copy in its thread and a changed source WHEN resumed THEN SOURCE_CHANGED and no message is deleted', async () => {
		harness = await startArchiveHarness(fastLimits);
		const h = harness;
		const { lot, threadId, source, id } = await partialUpload(h, 3);
		const stored = h.index.chunks.list(lot, { kind: ChunkKind.Data, states: [ChunkState.Stored] });
		await repost(h, threadId, stored[0]!, 'rdupe00000000000000000000');
		const before = messageIds(h, threadId);
		await appendFile(path.join(source, 'docs/notes/today.md'), 'more');

		await expect(resumeArchive(h.context, { archive: id }, h.jobRun())).rejects.toMatchObject({ code: 'SOURCE_CHANGED' });
		expect(messageIds(h, threadId)).toEqual(before);
	});

	it('GIVEN a chunk marked bad and a vanished chunk, each with another bot-posted copy of the recorded bytes WHEN resumed THEN the copies are adopted (not deleted and posted again) and the restore is byte-identical', async () => {
		harness = await startArchiveHarness(fastLimits);
		const h = harness;
		const { lot, threadId, source, id } = await partialUpload(h, 4);
		const stored = h.index.chunks.list(lot, { kind: ChunkKind.Data, states: [ChunkState.Stored] });
		expect(stored.length).toBeGreaterThanOrEqual(3);
		const [bad, vanishing] = [stored[1]!, stored[2]!];
		const badCopy = await repost(h, threadId, bad, 'rbadcopy00000000000000000');
		const vanishingCopy = await repost(h, threadId, vanishing, 'rvancopy00000000000000000');
		await h.emulator.corruptAttachment(bad.attachmentId!);
		h.index.chunks.markState(lot, [{ index: bad.index }], ChunkState.Bad);
		await h.transport.deleteMessage(threadId, vanishing.messageId!);

		const result = await resumeArchive(h.context, { archive: id }, h.jobRun());
		expect([...result.reconciled.adopted].sort()).toEqual([`c${bad.index}`, `c${vanishing.index}`].sort());
		expect(result.reconciled.vanished).toEqual([]);
		expect(result.reconciled.deletedMessages).toEqual([bad.messageId]);
		expect(h.index.chunks.get(lot, { index: bad.index })).toMatchObject({ state: 'stored', messageId: badCopy });
		expect(h.index.chunks.get(lot, { index: vanishing.index })).toMatchObject({ state: 'stored', messageId: vanishingCopy });
		const ids = messageIds(h, threadId);
		expect(ids.has(badCopy) && ids.has(vanishingCopy)).toBe(true);
		expect(ids.has(bad.messageId!)).toBe(false);

		const archive = h.index.archives.require(lot);
		expect(archive.status).toBe('complete');
		const census = chunkCensus(h.emulator, threadId);
		for (let index = 0; index < archive.chunkCount; index++) expect(census.get(`c${index}`)).toBe(1);
		const outDir = path.join(h.downloadRoot, 'restored');
		await restoreFromThread(h, threadId, outDir);
		expect(await treeDigest(outDir)).toEqual(await treeDigest(source));
	});
});
