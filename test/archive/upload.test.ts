import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findCardRecord } from '../../src/archive/card-record.js';
import { ArchiveService } from '../../src/archive/service.js';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import { isCoreError } from '../../src/core/index.js';
import { ChunkKind, ChunkState } from '../../src/db/index.js';
import { type ArchiveHarness, chunkCensus, nestedTree, restoreFromThread, startArchiveHarness, testPassphrase } from './support/harness.js';
import { treeDigest } from '../support/tree.js';
import { rejection as caught } from '../support/rejection.js';

let harness: ArchiveHarness | undefined;
afterEach(async () => {
	await harness?.close();
	harness = undefined;
});

describe('upload', () => {
	it('GIVEN a nested folder WHEN uploaded THEN the thread holds one message per chunk plus the manifest, the index matches the manifest, and the restore is byte-identical', async () => {
		harness = await startArchiveHarness({ withLogChannel: true });
		const source = await harness.writeTree('nested', nestedTree());
		const planned = await planUpload(harness.context, { folder: 'nested', label: 'photos-2024' });
		const run = harness.jobRun();
		const result = await uploadArchive(harness.context, planned, run);

		const archive = harness.index.archives.require(result.lot);
		expect(archive.status).toBe('complete');
		expect(archive.chunkCount).toBeGreaterThan(3);
		expect(archive.storedChunkCount).toBe(archive.chunkCount);

		const census = chunkCensus(harness.emulator, result.threadId);
		const expected = new Map<string, number>();
		for (let index = 0; index < archive.chunkCount; index++) expected.set(`c${index}`, 1);
		for (let part = 0; part < result.manifestParts; part++) expected.set(`m${part}`, 1);
		expect(census).toEqual(expected);

		// The card: posted in the archive channel, the thread started on it, archived and locked, the record in its title link.
		const cards = harness.emulator.messages(harness.archiveChannelId);
		expect(cards).toHaveLength(1);
		const record = findCardRecord(cards[0]!.embeds as never);
		expect(record).toMatchObject({ id: archive.id, uid: archive.uid, status: 'complete', chunks: archive.chunkCount, thread: result.threadId });
		expect(harness.emulator.state().channels.find((channel) => channel.id === result.threadId)).toMatchObject({ archived: true, locked: true });
		// Locked: a member can no longer slip a message into the archive's thread (posting would have reopened it).
		await expect(harness.emulator.postAsUser(result.threadId, 'member', 'not a chunk')).rejects.toMatchObject({ status: 400, code: 160005 });
		expect(() => {
			harness!.emulator.unarchiveThreadAs(result.threadId, 'member');
		}).toThrow(expect.objectContaining({ status: 403, code: 50013 }));

		const outDir = path.join(harness.downloadRoot, 'restored');
		const { manifest } = await restoreFromThread(harness, result.threadId, outDir);
		expect(await treeDigest(outDir)).toEqual(await treeDigest(source));
		// Every chunk of the manifest is what the index recorded.
		const rows = harness.index.chunks.list(result.lot, { kind: ChunkKind.Data });
		expect(rows.map((row) => ({ index: row.index, sha256: row.sha256, plainSha256: row.plainSha256, storedSize: row.storedSize }))).toEqual(
			manifest.chunks.map((chunk) => ({
				index: chunk.index,
				sha256: chunk.sha256,
				plainSha256: chunk.plainSha256,
				storedSize: chunk.storedSize
			}))
		);
		for (const entry of manifest.entries.filter((candidate) => candidate.type === 'file')) {
			expect(harness.index.entries.get(result.lot, entry.path)?.sha256).toBe(entry.sha256);
		}
		// Progress went through slicing/uploading to done, and one line reached the log channel.
		expect(run.events.at(-1)?.phase).toBe('done');
		expect(run.events.some((event) => event.phase === 'uploading')).toBe(true);
		expect(harness.emulator.messages(harness.logChannelId).some((message) => message.content.includes(archive.id))).toBe(true);
		expect(JSON.stringify(harness.logLines)).not.toContain(testPassphrase);
	});

	it('GIVEN a folder outside the upload root WHEN uploaded THEN UNSAFE_PATH and nothing is allocated', async () => {
		harness = await startArchiveHarness();
		await mkdir(path.join(harness.dir, 'outside'), { recursive: true });
		await symlink(path.join(harness.dir, 'outside'), path.join(harness.uploadRoot, 'escape'));
		for (const folder of ['../outside', path.join(harness.dir, 'outside'), 'escape']) {
			const error = await caught(planUpload(harness.context, { folder }));
			expect(isCoreError(error, 'UNSAFE_PATH'), folder).toBe(true);
		}
		expect(harness.index.archives.count()).toBe(0);
	});

	it('GIVEN several folders WHEN uploaded through the service in parallel THEN each lands complete in its own thread', async () => {
		harness = await startArchiveHarness({ settings: { uploadConcurrency: 2 }, emulator: { limits: { channelMessagesPerWindow: 50 } } });
		for (const name of ['one', 'two', 'three']) await harness.writeTree(name, nestedTree());
		const service = new ArchiveService(harness.context);
		const handles = await Promise.all(['one', 'two', 'three'].map((folder) => service.upload({ folder })));
		const results = await Promise.all(handles.map((handle) => handle.result));
		expect(new Set(results.map((result) => result.threadId)).size).toBe(3);
		for (const result of results) {
			const archive = harness.index.archives.require(result.lot);
			expect(archive.status).toBe('complete');
			expect([...chunkCensus(harness.emulator, result.threadId).values()].every((count) => count === 1)).toBe(true);
			expect(harness.index.jobs.forArchive(result.lot)[0]?.status).toBe('done');
		}
		expect(harness.index.chunks.list(results[0]!.lot, { states: [ChunkState.InFlight, ChunkState.Pending] })).toHaveLength(0);
		await service.shutdown();
	});

	it('GIVEN the service WHEN a folder is uploaded, verified in full and downloaded THEN the restore is byte-identical, the card shows the verification and the index is backed up to the log channel', async () => {
		harness = await startArchiveHarness({ withLogChannel: true, emulator: { limits: { channelMessagesPerWindow: 100 } } });
		const source = await harness.writeTree('nested', nestedTree());
		const service = new ArchiveService(harness.context, { indexBackupIntervalMs: 60_000 });
		const uploaded = await (await service.upload({ folder: 'nested', label: 'round trip' })).result;
		const verified = await service.verify({ archive: uploaded.archiveId, level: 'full' }).result;
		expect(verified.ok).toBe(true);
		const card = harness.emulator.messages(harness.archiveChannelId).find((message) => message.id === uploaded.cardMessageId)!;
		expect(JSON.stringify(card.embeds)).toContain('Last verification');
		const downloaded = await service.download({ archive: uploaded.archiveId }).result;
		expect(await treeDigest(downloaded.restoredTo)).toEqual(await treeDigest(source));
		await service.shutdown();
		const backups = harness.emulator
			.messages(harness.logChannelId)
			.flatMap((message) => message.attachments.map((attachment) => attachment.filename));
		expect(backups.some((name) => name.startsWith('dos-index.'))).toBe(true);
	});
});
