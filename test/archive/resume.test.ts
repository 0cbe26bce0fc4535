import { appendFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isArchiveError } from '../../src/archive/errors.js';
import { deleteThreadMessage } from '../../src/archive/reconcile.js';
import { resumeArchive } from '../../src/archive/resume.js';
import { ArchiveService } from '../../src/archive/service.js';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import { isCoreError } from '../../src/core/index.js';
import { ChunkKind, ChunkState, isIndexError } from '../../src/db/index.js';
import { isTransportError } from '../../src/discord/index.js';
import { type ArchiveHarness, chunkCensus, nestedTree, restoreFromThread, startArchiveHarness, touch, stoppingRun } from './support/harness.js';
import { treeDigest } from '../support/tree.js';
import { rejection as caught } from '../support/rejection.js';

let harness: ArchiveHarness | undefined;
afterEach(async () => {
	await harness?.close();
	harness = undefined;
});

const fastLimits = { emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { chunkSize: 16 * 1024 } } as const;

/** Uploads `nested` and stops after `after` chunks; returns the archive's lot, thread and source folder. */
async function partialUpload(h: ArchiveHarness, after: number): Promise<{ lot: number; threadId: string; source: string; id: string }> {
	const source = await h.writeTree('nested', nestedTree());
	const planned = await planUpload(h.context, { folder: 'nested' });
	await caught(uploadArchive(h.context, planned, stoppingRun(after)));
	const archive = h.index.archives.require(planned.archive.lot);
	expect(archive.status).toBe('cancelled');
	return { lot: archive.lot, threadId: archive.threadId!, source, id: archive.id };
}

function expectOnePerChunk(h: ArchiveHarness, lot: number, threadId: string): void {
	const archive = h.index.archives.require(lot);
	const census = chunkCensus(h.emulator, threadId);
	const parts = h.index.chunks.list(lot, { kind: ChunkKind.Manifest }).length;
	const expected = new Map<string, number>();
	for (let index = 0; index < archive.chunkCount; index++) expected.set(`c${index}`, 1);
	for (let part = 0; part < parts; part++) expected.set(`m${part}`, 1);
	expect(census).toEqual(expected);
}

describe('resume', () => {
	it('GIVEN a stopped upload with a chunk that landed unrecorded, a stray duplicate and a vanished chunk WHEN resumed THEN it adopts, deletes and re-posts so the thread holds exactly one message per chunk and restores byte-identical', async () => {
		harness = await startArchiveHarness(fastLimits);
		const { lot, threadId, source, id } = await partialUpload(harness, 5);
		const stored = harness.index.chunks.list(lot, { kind: ChunkKind.Data, states: [ChunkState.Stored] });
		expect(stored.length).toBeGreaterThanOrEqual(5);
		const [landed, vanishing, duplicated] = [stored[1]!, stored[2]!, stored[3]!];

		// A crash between the post and its record: the row is in flight again, its message is in the thread.
		harness.index.chunks.markState(lot, [{ index: landed.index }], ChunkState.Pending);
		harness.index.chunks.markInFlight(lot, {
			index: landed.index,
			nonce: landed.postNonce!,
			filename: landed.filename!,
			storedSize: landed.storedSize!,
			sha256: landed.sha256!
		});
		// A message that vanished from the thread.
		await deleteThreadMessage(harness.context, threadId, vanishing.messageId!, new AbortController().signal);
		// A stray second copy of a stored chunk (another sealing, same index).
		await harness.transport.postChunk({
			threadId,
			files: [{ name: `${id.slice(1)}.c${String(duplicated.index).padStart(6, '0')}.0123456789ab.bin`, data: new Uint8Array(200) }],
			content: 'stray',
			nonce: 'rstray0000000000000000000'
		});

		const run = harness.jobRun();
		const result = await resumeArchive(harness.context, { archive: id }, run);
		expect(result.reconciled.adopted).toEqual([`c${landed.index}`]);
		expect(result.reconciled.vanished).toEqual([`c${vanishing.index}`]);
		expect(result.reconciled.deletedMessages).toHaveLength(1);
		expect(run.events[0]?.phase).toBe('reconciling');
		expect(harness.index.archives.require(lot).status).toBe('complete');
		expectOnePerChunk(harness, lot, threadId);
		const outDir = path.join(harness.downloadRoot, 'restored');
		await restoreFromThread(harness, threadId, outDir);
		expect(await treeDigest(outDir)).toEqual(await treeDigest(source));
	});

	it('GIVEN a stopped upload whose thread is archived and locked WHEN a member posts THEN refused; WHEN resumed THEN the bot reopens it, completes, and leaves it archived and locked', async () => {
		harness = await startArchiveHarness(fastLimits);
		const { lot, threadId, source } = await partialUpload(harness, 3);
		expect(await harness.transport.archiveThread(threadId)).toMatchObject({ archived: true, locked: true });
		await expect(harness.emulator.postAsUser(threadId, 'member', 'not a chunk')).rejects.toMatchObject({ status: 400, code: 160005 });

		await resumeArchive(harness.context, { archive: harness.index.archives.require(lot).id }, harness.jobRun());
		expect(harness.index.archives.require(lot).status).toBe('complete');
		expectOnePerChunk(harness, lot, threadId);
		expect(harness.emulator.state().channels.find((channel) => channel.id === threadId)).toMatchObject({ archived: true, locked: true });
		await expect(harness.emulator.postAsUser(threadId, 'member', 'still not a chunk')).rejects.toMatchObject({ status: 400, code: 160005 });
		const outDir = path.join(harness.downloadRoot, 'restored');
		await restoreFromThread(harness, threadId, outDir);
		expect(await treeDigest(outDir)).toEqual(await treeDigest(source));
	});

	it('GIVEN a stopped upload whose source file changed WHEN resumed THEN SOURCE_CHANGED names the file and the card says so', async () => {
		harness = await startArchiveHarness(fastLimits);
		const { lot, source, id } = await partialUpload(harness, 2);
		await appendFile(path.join(source, 'docs/notes/today.md'), 'more');
		const error = await caught(resumeArchive(harness.context, { archive: id }, harness.jobRun()));
		expect(isCoreError(error, 'SOURCE_CHANGED')).toBe(true);
		expect((error as Error).message).toContain('docs/notes/today.md');
		const archive = harness.index.archives.require(lot);
		expect(archive.status).toBe('failed');
		expect(archive.errorCode).toBe('SOURCE_CHANGED');
		const card = harness.emulator.messages(harness.archiveChannelId)[0]!;
		expect(JSON.stringify(card.embeds)).toContain('SOURCE_CHANGED');
	});

	it('GIVEN a stopped upload WHEN resumed under another USER_KEY THEN WRONG_KEY is refused before anything is posted, and the right key still completes a restorable archive', async () => {
		harness = await startArchiveHarness(fastLimits);
		const { lot, threadId, source, id } = await partialUpload(harness, 2);
		const before = harness.emulator.messages(threadId).length;
		const storedBefore = harness.index.archives.require(lot).storedChunkCount;
		const otherKey = { ...harness.context, settings: { ...harness.settings, passphrase: 'a typo in .env' } };
		const error = await caught(resumeArchive(otherKey, { archive: id }, harness.jobRun()));
		expect(isCoreError(error, 'WRONG_KEY')).toBe(true);
		expect((error as Error).message).toContain('Nothing was posted');
		expect(harness.emulator.messages(threadId)).toHaveLength(before);
		const archive = harness.index.archives.require(lot);
		expect(archive.storedChunkCount).toBe(storedBefore);
		expect(harness.index.chunks.list(lot, { kind: ChunkKind.Manifest })).toHaveLength(0);
		expect(archive.status).not.toBe('complete');

		await resumeArchive(harness.context, { archive: id }, harness.jobRun());
		expect(harness.index.archives.require(lot).status).toBe('complete');
		const outDir = path.join(harness.downloadRoot, 'restored');
		await restoreFromThread(harness, threadId, outDir);
		expect(await treeDigest(outDir)).toEqual(await treeDigest(source));
	});

	it('GIVEN a stopped upload whose first stored chunk was damaged on Discord WHEN resumed THEN the key is proved on the next one: another key is still refused, and the right one re-posts the damaged chunk and restores', async () => {
		harness = await startArchiveHarness(fastLimits);
		const { lot, threadId, source, id } = await partialUpload(harness, 3);
		const [damaged] = harness.index.chunks.list(lot, { kind: ChunkKind.Data, states: [ChunkState.Stored] });
		await harness.emulator.corruptAttachment(damaged!.attachmentId!);
		const before = harness.emulator.messages(threadId).length;
		const otherKey = { ...harness.context, settings: { ...harness.settings, passphrase: 'a typo in .env' } };
		const error = await caught(resumeArchive(otherKey, { archive: id }, harness.jobRun()));
		expect(isCoreError(error, 'WRONG_KEY')).toBe(true);
		expect(harness.emulator.messages(threadId)).toHaveLength(before);

		const result = await resumeArchive(harness.context, { archive: id }, harness.jobRun());
		expect(result.reconciled.deletedMessages).toContain(damaged!.messageId);
		expect(harness.index.archives.require(lot).status).toBe('complete');
		expectOnePerChunk(harness, lot, threadId);
		const outDir = path.join(harness.downloadRoot, 'restored');
		await restoreFromThread(harness, threadId, outDir);
		expect(await treeDigest(outDir)).toEqual(await treeDigest(source));
	});

	it('GIVEN a stopped upload WHEN two resumes are asked at once (two clicks, or two processes) THEN one job runs and the other is refused as busy', async () => {
		harness = await startArchiveHarness(fastLimits);
		const { lot, threadId, id } = await partialUpload(harness, 2);
		const service = new ArchiveService(harness.context);
		const other = new ArchiveService(harness.secondContext());
		const first = service.resume({ archive: id });
		let second: unknown;
		try {
			service.resume({ archive: id });
		} catch (error) {
			second = error;
		}
		expect(isIndexError(second, 'ARCHIVE_BUSY')).toBe(true);
		let third: unknown;
		try {
			other.resume({ archive: id });
		} catch (error) {
			third = error;
		}
		expect(isIndexError(third, 'ARCHIVE_BUSY')).toBe(true);
		await first.result;
		expect(harness.index.jobs.forArchive(lot).filter((job) => job.kind === 'resume')).toHaveLength(1);
		expectOnePerChunk(harness, lot, threadId);
		let again: unknown;
		try {
			service.resume({ archive: id });
		} catch (error) {
			again = error;
		}
		expect(isArchiveError(again, 'NOT_RESUMABLE')).toBe(true);
		await service.shutdown();
		await other.shutdown();
	});

	it('GIVEN the bot lost its permission in the archive channel WHEN uploading THEN it fails clearly, the archive is resumable, and resume completes once access is back', async () => {
		harness = await startArchiveHarness(fastLimits);
		const source = await harness.writeTree('nested', nestedTree());
		harness.emulator.setBotAccess(harness.archiveChannelId, 'read-only');
		const service = new ArchiveService(harness.context);
		const handle = await service.upload({ folder: 'nested' });
		const error = await caught(handle.result);
		expect(isTransportError(error, 'MISSING_PERMISSIONS')).toBe(true);
		const archive = harness.index.archives.require(handle.lot!);
		expect(archive.status).toBe('failed');
		expect(archive.errorCode).toBe('MISSING_PERMISSIONS');
		expect(harness.index.jobs.forArchive(archive.lot)[0]).toMatchObject({ status: 'failed', errorCode: 'MISSING_PERMISSIONS' });

		harness.emulator.setBotAccess(harness.archiveChannelId, 'full');
		const resumed = await service.resume({ archive: archive.id }).result;
		expect(harness.index.archives.require(archive.lot).status).toBe('complete');
		expectOnePerChunk(harness, archive.lot, resumed.threadId);
		const outDir = path.join(harness.downloadRoot, 'restored');
		await restoreFromThread(harness, resumed.threadId, outDir);
		expect(await treeDigest(outDir)).toEqual(await treeDigest(source));
		await service.shutdown();
	});

	describe('reading only what it must', () => {
		/** Whole seconds, so an mtime set again after a rewrite is exactly the planned one. */
		const plannedMtime = new Date(2024, 0, 1, 12, 0, 0);

		/** Changes bytes of a file in place, keeping its size and its planned mtime: only reading it can tell. */
		async function rewriteInPlace(file: string, at: number, length = 1): Promise<void> {
			const bytes = await readFile(file);
			for (let i = at; i < at + length; i++) bytes[i] = bytes[i]! ^ 0xff;
			await writeFile(file, bytes);
			await touch(file, plannedMtime);
		}

		/**
		 * Uploads `nested` (13 chunks of 16 KiB: docs/notes/today.md lies wholly in chunk 0, photos/2024/a.jpg spans chunks
		 * 0–10, photos/2024/b.jpg chunks 10–12) with every file's mtime set to `plannedMtime`, and stops it after `after`
		 * chunks.
		 */
		async function stoppedWithPlannedMtimes(h: ArchiveHarness, after = 5) {
			const source = await h.writeTree('nested', nestedTree());
			const files = Object.entries(nestedTree()).filter(([, node]) => typeof node === 'string' || node instanceof Uint8Array);
			for (const [name] of files) await touch(path.join(source, name), plannedMtime);
			const digest = await treeDigest(source);
			const upload = await planUpload(h.context, { folder: 'nested' });
			await caught(uploadArchive(h.context, upload, stoppingRun(after)));
			const archive = h.index.archives.require(upload.archive.lot);
			expect(archive.status).toBe('cancelled');
			return { archive, source, digest };
		}

		it('GIVEN an upload stopped after some chunks WHEN its index is read THEN the hashes of the files completed in stored chunks are recorded, and no other', async () => {
			harness = await startArchiveHarness(fastLimits);
			const { archive, digest } = await stoppedWithPlannedMtimes(harness);
			const storedChunks = new Set(
				harness.index.chunks.list(archive.lot, { kind: ChunkKind.Data, states: [ChunkState.Stored] }).map((c) => c.index)
			);
			expect(storedChunks.has(10)).toBe(false);
			const files = harness.index.entries.list(archive.lot).filter((entry) => entry.type === 'file');
			expect(harness.index.entries.get(archive.lot, 'docs/notes/today.md')?.sha256).toBe(digest['docs/notes/today.md']);
			expect(harness.index.entries.get(archive.lot, 'photos/2024/a.jpg')?.sha256).toBeNull();
			for (const entry of files) {
				const span =
					entry.firstChunk === null ? [] : Array.from({ length: entry.lastChunk! - entry.firstChunk + 1 }, (_, i) => entry.firstChunk! + i);
				const allStored = span.every((index) => storedChunks.has(index));
				// A hash is recorded exactly for the files whose bytes are all posted (empty files ride on a chunk too).
				if (entry.size > 0) expect({ path: entry.path, recorded: entry.sha256 !== null }).toEqual({ path: entry.path, recorded: allStored });
				if (entry.sha256 !== null) expect(entry.sha256).toBe(digest[entry.path]);
			}
		});

		it('GIVEN a file wholly in stored chunks rewritten (same size and mtime) WHEN resumed THEN it is not read: the resume completes, says what it re-reads, and restores the source as it was', async () => {
			harness = await startArchiveHarness(fastLimits);
			// Stopped after 12 chunks: only chunk 12 is missing, so b.jpg and the files after it are re-read, with chunks 10–11
			// (which hold a.jpg's end) read whole for their check. Chunk 0 (today.md, a.jpg's start) is not read at all:
			// were it read, its check would fail.
			const { archive, source, digest } = await stoppedWithPlannedMtimes(harness, 12);
			const unread = harness.index.entries.list(archive.lot).filter((entry) => entry.type === 'file' && entry.sha256 === null);
			await rewriteInPlace(path.join(source, 'docs/notes/today.md'), 100, 50);
			expect((await treeDigest(source))['docs/notes/today.md']).not.toBe(digest['docs/notes/today.md']);

			const run = harness.jobRun();
			const result = await resumeArchive(harness.context, { archive: archive.id }, run);
			expect(harness.index.archives.require(archive.lot).status).toBe('complete');
			expect(result.chunksPosted).toBeGreaterThan(0);
			const note = run.events.find((event) => event.phase === 'slicing')?.note ?? '';
			expect(note).toContain(`(${unread.length} files re-hashed)`);
			expect(note).toContain('re-checking 2 stored chunks');
			expect(note).toContain(`to rebuild ${result.chunksPosted} missing chunk`);
			expectOnePerChunk(harness, archive.lot, archive.threadId!);
			const outDir = path.join(harness.downloadRoot, 'restored');
			await restoreFromThread(harness, archive.threadId!, outDir);
			expect(await treeDigest(outDir)).toEqual(digest);
		});

		it('GIVEN a file the resume must re-read changed in a stored chunk (same size and mtime) WHEN resumed THEN SOURCE_CHANGED names it', async () => {
			harness = await startArchiveHarness(fastLimits);
			const { archive, source } = await stoppedWithPlannedMtimes(harness);
			// a.jpg starts at stream byte 16,000: its byte 20,000 is in chunk 2, stored and all a.jpg.
			await rewriteInPlace(path.join(source, 'photos/2024/a.jpg'), 20_000);
			const error = await caught(resumeArchive(harness.context, { archive: archive.id }, harness.jobRun()));
			expect(isCoreError(error, 'SOURCE_CHANGED')).toBe(true);
			expect((error as Error).message).toContain('photos/2024/a.jpg');
			expect(harness.index.archives.require(archive.lot)).toMatchObject({ status: 'failed', errorCode: 'SOURCE_CHANGED' });
		});
	});
});
