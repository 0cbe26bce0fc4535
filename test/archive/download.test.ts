import { readdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadArchive } from '../../src/archive/download.js';
import { MAX_RESTORE_FOLDERS } from '../../src/archive/download-folders.js';
import { ArchiveErrorCode, isArchiveError } from '../../src/archive/errors.js';
import { ArchiveService } from '../../src/archive/service.js';
import { chunksSpanned, CoreErrorCode, isCoreError } from '../../src/core/index.js';
import { postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, nestedTree, randomContent, startArchiveHarness } from './support/harness.js';
import { treeDigest } from '../support/tree.js';

const CDN = 'GET /attachments/:channel/:attachment/:filename';

function cdnDownloads(harness: ArchiveHarness): number {
	return harness.emulator.stats().byRoute[CDN] ?? 0;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
	try {
		await promise;
	} catch (error) {
		return error;
	}
	throw new Error('expected a failure');
}

describe('downloadArchive', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN a nested folder with empty dirs and non-ASCII names WHEN downloaded THEN the restore is byte-identical and the chunk folder is gone', async () => {
		const source = await harness.writeTree('round-trip', { ...nestedTree(), 'Ünïcødé naïve 名前.md': 'héllo wörld\n' });
		const { archive } = await postTestArchive(harness, 'round-trip', { label: 'photos 2024' });
		const run = harness.jobRun();
		const result = await downloadArchive(harness.context, { archive: archive.id }, run);
		expect(await treeDigest(result.restoredTo)).toEqual(await treeDigest(source));
		expect(path.dirname(result.restoredTo)).toBe(await realDir(harness.downloadRoot));
		expect(result.chunkDirRemoved).toBe(true);
		await expect(stat(result.chunkDir)).rejects.toThrow();
		expect(result.chunksFetched).toBe(result.chunksNeeded + 1);
		expect(run.events.some((event) => event.phase === 'downloading' && event.chunksDone === result.chunksNeeded)).toBe(true);
		expect(run.events.some((event) => event.phase === 'restoring')).toBe(true);

		const again = await downloadArchive(harness.context, { archive: String(archive.lot) }, harness.jobRun());
		expect(again.restoredTo).not.toBe(result.restoredTo);
		expect(await treeDigest(again.restoredTo)).toEqual(await treeDigest(source));
	});

	it('GIVEN the wrong key WHEN downloading THEN it fails at the manifest before any data chunk is fetched', async () => {
		await harness.writeTree('wrong-key', { 'a.bin': randomContent(200_000, 'wk') });
		const { archive } = await postTestArchive(harness, 'wrong-key');
		const before = cdnDownloads(harness);
		const context = { ...harness.context, settings: { ...harness.settings, passphrase: 'not the passphrase' } };
		const error = await failure(downloadArchive(context, { archive: archive.id }, harness.jobRun()));
		expect(isCoreError(error, CoreErrorCode.WrongKey)).toBe(true);
		expect(cdnDownloads(harness) - before).toBe(1);
	});

	it('GIVEN a selected path WHEN downloaded THEN only the chunks it spans are fetched and only it is restored', async () => {
		await harness.writeTree('selected', { 'big/one.bin': randomContent(300_000, 'one'), 'small/two.txt': 'two\n', 'small/three.txt': 'three\n' });
		const { archive, manifest } = await postTestArchive(harness, 'selected');
		expect(manifest.chunks.length).toBeGreaterThan(4);
		const before = cdnDownloads(harness);
		const result = await downloadArchive(harness.context, { archive: archive.id, paths: ['small/two.txt'] }, harness.jobRun());
		expect(cdnDownloads(harness) - before).toBe(1 + 1);
		expect(result.chunksNeeded).toBe(1);
		expect(await readFile(path.join(result.restoredTo, 'small', 'two.txt'), 'utf8')).toBe('two\n');
		expect(await readdir(result.restoredTo)).toEqual(['small']);
		expect(await readdir(path.join(result.restoredTo, 'small'))).toEqual(['two.txt']);
	});

	it('GIVEN a corrupted attachment WHEN downloading THEN the chunk is named (index and message) and no file is restored', async () => {
		await harness.writeTree('corrupt', { 'a.bin': randomContent(200_000, 'c1'), 'b.txt': 'bee\n' });
		const { archive } = await postTestArchive(harness, 'corrupt');
		const record = harness.index.chunks.get(archive.lot, { index: 1 })!;
		await harness.emulator.corruptAttachment(record.attachmentId!);
		const error = await failure(downloadArchive(harness.context, { archive: archive.id }, harness.jobRun()));
		expect(isCoreError(error, CoreErrorCode.TamperedChunk)).toBe(true);
		expect((error as { details: { chunks: number[] } }).details.chunks).toEqual([1]);
		// Index 1 (file .c000001.) is chunk 2 to a person.
		expect((error as Error).message).toContain('Chunk 2 (');
		expect((error as Error).message).toContain(record.messageId!);
		const restoreFolders = (await readdir(harness.downloadRoot)).filter((name) => name.startsWith(archive.id));
		expect(restoreFolders).toEqual([]);
	});

	it('GIVEN a corrupted attachment WHEN downloaded with salvage THEN every file clear of its chunk is restored, the others are lost and the chunk folder is kept', async () => {
		const files = { 'a.bin': randomContent(150_000, 's1'), 'b.bin': randomContent(150_000, 's2'), 'c.txt': 'sea\n' };
		const source = await harness.writeTree('salvage', files);
		const { archive, manifest } = await postTestArchive(harness, 'salvage');
		const bad = 1;
		const touching = manifest.entries
			.filter((entry) => entry.type === 'file' && chunksSpanned(manifest.chunkSize, entry.offset!, entry.size).includes(bad))
			.map((entry) => entry.path);
		const clear = Object.keys(files).filter((name) => !touching.includes(name));
		// The layout must put some files on the bad chunk and some clear of it, or the test proves nothing.
		expect(touching.length).toBeGreaterThan(0);
		expect(clear.length).toBeGreaterThan(0);
		await harness.emulator.corruptAttachment(harness.index.chunks.get(archive.lot, { index: bad })!.attachmentId!);

		const run = harness.jobRun();
		const result = await downloadArchive(harness.context, { archive: archive.id, salvage: true }, run);

		expect(result.complete).toBe(false);
		expect(result.badChunks).toEqual([bad]);
		expect(result.lost).toEqual(touching.map((name) => ({ path: name, chunks: [bad], code: CoreErrorCode.TamperedChunk })));
		expect(result.files).toBe(clear.length);
		expect((await readdir(result.restoredTo)).sort()).toEqual(clear.sort());
		for (const name of clear) expect(await readFile(path.join(result.restoredTo, name)), name).toEqual(await readFile(path.join(source, name)));
		expect(result.chunkDirRemoved).toBe(false);
		expect((await stat(result.chunkDir)).isDirectory()).toBe(true);
		expect(run.events.at(-1)?.note).toMatch(/^incomplete: /);
	});

	it('GIVEN a kept chunk folder with one damaged chunk WHEN downloading again THEN good chunks are reused and only the bad one is fetched', async () => {
		const source = await harness.writeTree('resumed', { 'a.bin': randomContent(250_000, 'r1'), 'b.txt': 'bee\n' });
		const { archive, manifest } = await postTestArchive(harness, 'resumed');
		const first = await downloadArchive(harness.context, { archive: archive.id, keepChunks: true }, harness.jobRun());
		expect(first.chunkDirRemoved).toBe(false);
		const damaged = path.join(first.chunkDir, harness.index.chunks.get(archive.lot, { index: 2 })!.filename!);
		const bytes = await readFile(damaged);
		bytes[100] = bytes[100]! ^ 0xff;
		await writeFile(damaged, bytes);
		const before = cdnDownloads(harness);
		const second = await downloadArchive(harness.context, { archive: archive.id }, harness.jobRun());
		expect(cdnDownloads(harness) - before).toBe(1 + 1);
		expect(second.chunksReused).toBe(manifest.chunks.length - 1);
		expect(second.chunksFetched).toBe(2);
		expect(await treeDigest(second.restoredTo)).toEqual(await treeDigest(source));
	});
});

describe('downloadArchive with short-lived CDN URLs', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({
			emulator: { limits: { cdnUrlLifetimeMs: 2_000, channelMessagesPerWindow: 1000 } },
			transport: { urlExpiryMarginMs: 0 }
		});
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN URLs that expire while the download runs WHEN downloading THEN fresh ones are fetched and the restore is byte-identical', async () => {
		const source = await harness.writeTree('expiring', { 'a.bin': randomContent(400_000, 'exp') });
		const { archive } = await postTestArchive(harness, 'expiring');
		// Slow the CDN so the URLs listed at the start of the download are stale before the last chunks are fetched.
		harness.emulator.faults.set({ downloadBytesPerSec: 40_000 });
		const refreshesBefore = harness.emulator.stats().byRoute['GET /channels/:channel/messages/:message'] ?? 0;
		try {
			const result = await downloadArchive(harness.context, { archive: archive.id }, harness.jobRun());
			expect(await treeDigest(result.restoredTo)).toEqual(await treeDigest(source));
		} finally {
			harness.emulator.faults.reset();
		}
		expect((harness.emulator.stats().byRoute['GET /channels/:channel/messages/:message'] ?? 0) - refreshesBefore).toBeGreaterThan(0);
	});
});

describe('downloads that cannot work', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	async function underDownloadRoot(): Promise<string[]> {
		return readdir(harness.downloadRoot);
	}

	it('GIVEN a cancelled upload WHEN its download is asked THEN NOT_DOWNLOADABLE is refused before any job starts, nothing is fetched and no folder is made', async () => {
		await harness.writeTree('stopped', { 'a.bin': randomContent(200_000, 'st') });
		const { archive } = await postTestArchive(harness, 'stopped');
		harness.index.archives.setStatus(archive.lot, 'cancelled', { code: 'CANCELLED', message: 'The upload was cancelled.' });
		const before = cdnDownloads(harness);
		const service = new ArchiveService(harness.context);
		let refused: unknown;
		try {
			service.download({ archive: archive.id });
		} catch (error) {
			refused = error;
		}
		expect(isArchiveError(refused, ArchiveErrorCode.NotDownloadable)).toBe(true);
		expect((refused as Error).message).toContain('resume it first');
		expect(harness.index.jobs.forArchive(archive.lot)).toHaveLength(0);
		const direct = await failure(downloadArchive(harness.context, { archive: archive.id }, harness.jobRun()));
		expect(isArchiveError(direct, ArchiveErrorCode.NotDownloadable)).toBe(true);
		expect(cdnDownloads(harness)).toBe(before);
		expect(await underDownloadRoot()).toEqual([]);
		harness.index.archives.setStatus(archive.lot, 'complete');
		await service.shutdown();
	});

	it('GIVEN a path the archive does not hold WHEN its download is asked THEN NOT_FOUND names it before any chunk is fetched or folder made', async () => {
		await harness.writeTree('paths', { 'docs/here.txt': 'here\n', 'b.bin': randomContent(100_000, 'pa') });
		const { archive } = await postTestArchive(harness, 'paths');
		const before = cdnDownloads(harness);
		const service = new ArchiveService(harness.context);
		let refused: unknown;
		try {
			service.download({ archive: archive.id, paths: ['nope/missing.txt', './docs/here.txt'] });
		} catch (error) {
			refused = error;
		}
		expect(isCoreError(refused, CoreErrorCode.NotFound)).toBe(true);
		expect((refused as Error).message).toContain('nope/missing.txt');
		expect((refused as Error).message).not.toContain('docs/here.txt');
		const direct = await failure(downloadArchive(harness.context, { archive: archive.id, paths: ['nope/missing.txt'] }, harness.jobRun()));
		expect(isCoreError(direct, CoreErrorCode.NotFound)).toBe(true);
		expect(cdnDownloads(harness)).toBe(before);
		expect(await underDownloadRoot()).toEqual([]);
		const folder = await service.download({ archive: archive.id, paths: ['docs/'] }).result;
		expect(await readFile(path.join(folder.restoredTo, 'docs', 'here.txt'), 'utf8')).toBe('here\n');
		await service.shutdown();
	});

	it('GIVEN a complete archive whose thread is gone from Discord WHEN downloaded THEN it fails and leaves no empty folder behind', async () => {
		await harness.writeTree('gone', { 'a.txt': 'a\n' });
		const { archive } = await postTestArchive(harness, 'gone');
		const before = await underDownloadRoot();
		await harness.transport.deleteThread(harness.index.archives.require(archive.lot).threadId!);
		const error = await failure(downloadArchive(harness.context, { archive: archive.id }, harness.jobRun()));
		expect(isCoreError(error, CoreErrorCode.MissingChunk)).toBe(true);
		expect(await underDownloadRoot()).toEqual(before);
	});
});

async function realDir(dir: string): Promise<string> {
	return realpath(dir);
}

describe('restore folders of repeated downloads', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN an archive downloaded again and again WHEN the cap of restore folders is reached THEN the next download is refused with FILE_EXISTS before anything is fetched; overwrite still restores into the first', async () => {
		await harness.writeTree('often', { 'a.txt': 'a\n' });
		const { archive } = await postTestArchive(harness, 'often');
		const folders = new Set<string>();
		for (let attempt = 0; attempt < MAX_RESTORE_FOLDERS; attempt++) {
			folders.add((await downloadArchive(harness.context, { archive: archive.id }, harness.jobRun())).restoredTo);
		}
		expect(folders.size).toBe(MAX_RESTORE_FOLDERS);
		const before = cdnDownloads(harness);
		const listing = await readdir(harness.downloadRoot);
		const error = await failure(downloadArchive(harness.context, { archive: archive.id }, harness.jobRun()));
		expect(isCoreError(error, CoreErrorCode.FileExists)).toBe(true);
		expect((error as Error).message).toContain(`${MAX_RESTORE_FOLDERS} restores of ${archive.id}`);
		expect(cdnDownloads(harness)).toBe(before);
		expect(await readdir(harness.downloadRoot)).toEqual(listing);
		const over = await downloadArchive(harness.context, { archive: archive.id, overwrite: true }, harness.jobRun());
		expect(folders.has(over.restoredTo)).toBe(true);
	});
});
