import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobProgressEvent, JobRun } from '../../src/archive/context.js';
import { isArchiveError } from '../../src/archive/errors.js';
import { deleteThreadMessage } from '../../src/archive/reconcile.js';
import { resumeArchive } from '../../src/archive/resume.js';
import { ArchiveService } from '../../src/archive/service.js';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import { isCoreError } from '../../src/core/index.js';
import { ChunkKind, ChunkState, isIndexError } from '../../src/db/index.js';
import { isTransportError } from '../../src/discord/index.js';
import { type ArchiveHarness, chunkCensus, nestedTree, restoreFromThread, startArchiveHarness, treeDigest } from './support/harness.js';

let harness: ArchiveHarness | undefined;
afterEach(async () => {
	await harness?.close();
	harness = undefined;
});

const fastLimits = { emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { chunkSize: 16 * 1024 } } as const;

async function caught(promise: Promise<unknown>): Promise<unknown> {
	try {
		await promise;
	} catch (error) {
		return error;
	}
	throw new Error('expected a failure');
}

/** A run that aborts once `after` data chunks are stored, as a crash or Cancel would. */
function stoppingRun(after: number): JobRun & { events: JobProgressEvent[] } {
	const controller = new AbortController();
	const events: JobProgressEvent[] = [];
	return {
		jobId: 'stopping',
		signal: controller.signal,
		events,
		progress: (event) => {
			events.push({ ...event, jobId: 'stopping', at: Date.now() });
			if (event.phase === 'uploading' && event.chunksDone >= after) controller.abort();
		}
	};
}

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
});
