import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadArchive } from '../../src/archive/download.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { CoreErrorCode } from '../../src/core/index.js';
import { postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, nestedTree, randomContent, startArchiveHarness } from './support/harness.js';
import { treeDigest } from '../support/tree.js';

const CDN = 'GET /attachments/:channel/:attachment/:filename';

describe('verifyArchive', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN an intact archive WHEN verified quick, full and on a sample THEN all pass, the outcome is stored, and a download still restores it byte for byte', async () => {
		const source = await harness.writeTree('intact', nestedTree());
		const { archive, manifest } = await postTestArchive(harness, 'intact');
		const quick = await verifyArchive(harness.context, { archive: archive.id, level: 'quick' }, harness.jobRun());
		expect(quick).toMatchObject({ ok: true, chunks: [], files: [] });
		// The manifest is counted apart from the data chunks the card's Chunks field counts.
		expect(quick).toMatchObject({ chunksChecked: manifest.chunks.length, chunksTotal: manifest.chunks.length, manifestChecked: true });
		expect(quick.summary).toBe(`quick verify passed: ${manifest.chunks.length} of ${manifest.chunks.length} chunks and the manifest checked.`);

		const before = harness.emulator.stats().byRoute[CDN] ?? 0;
		const run = harness.jobRun();
		const full = await verifyArchive(harness.context, { archive: archive.id, level: 'full' }, run);
		expect(full).toMatchObject({ ok: true, chunksChecked: manifest.chunks.length, filesChecked: manifest.totals.files });
		expect(full.summary).toBe(
			`full verify passed: ${manifest.chunks.length} of ${manifest.chunks.length} chunks, the manifest and ${manifest.totals.files} files checked.`
		);
		expect((harness.emulator.stats().byRoute[CDN] ?? 0) - before).toBe(manifest.chunks.length + 1);
		expect(run.events.some((event) => event.phase === 'verifying')).toBe(true);
		expect(harness.index.archives.get(archive.lot)).toMatchObject({ verifyLevel: 'full', verifyOk: true });

		const sample = await verifyArchive(harness.context, { archive: archive.id, level: 'full', samplePercent: 25 }, harness.jobRun());
		expect(sample.ok).toBe(true);
		expect(sample.chunksChecked).toBe(Math.ceil(manifest.chunks.length / 4));

		const downloaded = await downloadArchive(harness.context, { archive: archive.id }, harness.jobRun());
		expect(await treeDigest(downloaded.restoredTo)).toEqual(await treeDigest(source));
	});

	it('GIVEN a corrupted attachment and a deleted chunk message WHEN verified THEN full names the damaged chunk, quick the missing one, and both are marked in the index', async () => {
		await harness.writeTree('damaged', { 'a.bin': randomContent(300_000, 'dmg'), 'b.txt': 'bee\n' });
		const { archive, threadId } = await postTestArchive(harness, 'damaged');
		const damaged = harness.index.chunks.get(archive.lot, { index: 1 })!;
		await harness.emulator.corruptAttachment(damaged.attachmentId!);
		const full = await verifyArchive(harness.context, { archive: archive.id, level: 'full' }, harness.jobRun());
		expect(full.ok).toBe(false);
		expect(full.chunks).toEqual([
			expect.objectContaining({ kind: 'data', index: 1, code: CoreErrorCode.TamperedChunk, messageId: damaged.messageId })
		]);
		expect(full.files.map((file) => file.path)).toEqual(['a.bin']);
		// Chunk index 1 is the second chunk: people count from 1, in the summary and in each message.
		expect(full.summary).toContain('1 bad chunk(s) (2)');
		expect(full.chunks[0]!.message).toMatch(/^Chunk 2 /);
		expect(harness.index.chunks.get(archive.lot, { index: 1 })!.state).toBe('bad');
		expect(harness.index.archives.get(archive.lot)).toMatchObject({ verifyLevel: 'full', verifyOk: false });

		const gone = harness.index.chunks.get(archive.lot, { index: 3 })!;
		await harness.transport.unarchiveThread(threadId);
		await harness.transport.rest.delete(`/channels/${threadId}/messages/${gone.messageId}`);
		const quick = await verifyArchive(harness.context, { archive: archive.id, level: 'quick' }, harness.jobRun());
		expect(quick.ok).toBe(false);
		expect(quick.chunks).toEqual([
			expect.objectContaining({ kind: 'data', index: 3, code: CoreErrorCode.MissingChunk, messageId: gone.messageId })
		]);
		expect(quick.chunks[0]!.message).toMatch(/^Chunk 4 \(message \d+\) is gone/);
		expect(quick.summary).toBe('quick verify found 1 missing chunk(s) (4).');
		expect(harness.index.chunks.get(archive.lot, { index: 3 })!.state).toBe('missing');
	});
});
