import Database from 'better-sqlite3';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRepository } from '../../src/archive/check-repository.js';
import { planUpload, uploadArchive, type UploadResult } from '../../src/archive/upload.js';
import { MIN_PACK_SIZE } from '../../src/core/index.js';
import { type ArchiveHarness, randomContent, startArchiveHarness } from './support/harness.js';

/**
 * The repository-wide check of a channel's format 2 repository against the emulator: every stored pack downloaded
 * once, every blob authenticated; a pack damaged on Discord, a blob that does not open although its pack arrives as
 * recorded, and a reference no stored pack holds are each named, with the archives they touch.
 */

let h: ArchiveHarness;
let tempRoot: string;
let first: UploadResult;
let second: UploadResult;

async function upload(folder: string): Promise<UploadResult> {
	return uploadArchive(h.context, await planUpload(h.context, { folder }), h.jobRun());
}

/** Runs a statement on the index file through a second connection (as damage from outside would come). */
function sql(statement: string, ...parameters: unknown[]): void {
	const db = new Database(h.indexPath, { fileMustExist: true });
	try {
		db.prepare(statement).run(...parameters);
	} finally {
		db.close();
	}
}

beforeAll(async () => {
	tempRoot = await mkdtemp(path.join(tmpdir(), 'dos-check-'));
	h = await startArchiveHarness({
		emulator: { limits: { channelMessagesPerWindow: 1000 } },
		settings: { format: 2, packSize: MIN_PACK_SIZE, packsPerMessage: 2, compression: 'gzip-1', tempRoot }
	});
	const source = await h.writeTree('data', {
		'a.bin': randomContent(3 * 1024 * 1024, 'a'),
		'b.bin': randomContent(2 * 1024 * 1024, 'b'),
		'notes.txt': 'a repository check\n'.repeat(500)
	});
	first = await upload('data');
	// The second archive reuses every blob of the first but those of the changed file.
	await writeFile(path.join(source, 'notes.txt'), 'changed\n'.repeat(300));
	second = await upload('data');
});

afterAll(async () => {
	await h.close();
	await rm(tempRoot, { recursive: true, force: true });
});

describe('repository check of format 2', () => {
	it('GIVEN a whole repository WHEN checked THEN every stored pack is downloaded once, every blob checked, nothing reported, nothing left staged', async () => {
		const packs = [...h.index.packs.list(first.lot), ...h.index.packs.list(second.lot)];
		expect(packs.length).toBeGreaterThanOrEqual(2);
		h.emulator.resetStats();
		const run = h.jobRun();
		const result = await checkRepository(h.context, run);
		expect(result).toMatchObject({ ok: true, packs: packs.length, packProblemCount: 0, badBlobCount: 0, unheld: [], damagedArchives: [] });
		expect(result.packBytes).toBe(packs.reduce((sum, pack) => sum + pack.size, 0));
		// Each pack once: the CDN served the packs' bytes and no more (manifests are not read).
		expect(h.emulator.stats().cdnBytes).toBe(result.packBytes);
		expect(result.blobs).toBeGreaterThanOrEqual(3);
		expect(run.events.at(-1)).toMatchObject({ phase: 'done', chunksDone: packs.length, chunksTotal: packs.length });
		expect(await readdir(tempRoot)).toEqual([]);
	});

	it('GIVEN a byte of a shared pack changed on Discord WHEN checked THEN that pack is named and both archives that use it', async () => {
		const pack = h.index.packs.list(first.lot)[0]!;
		await h.emulator.corruptAttachment(pack.attachmentId!, 100);
		try {
			const result = await checkRepository(h.context, h.jobRun());
			expect(result.ok).toBe(false);
			expect(result.packProblems).toEqual([expect.objectContaining({ name: pack.name, archiveId: first.archiveId, code: 'TAMPERED_CHUNK' })]);
			expect(result.damagedArchives).toEqual([first.archiveId, second.archiveId]);
		} finally {
			await h.emulator.corruptAttachment(pack.attachmentId!, 100);
		}
	});

	it('GIVEN a pack whose recorded sha256 matches damaged bytes WHEN checked THEN the blob that does not open is named, with its archives', async () => {
		const pack = h.index.packs.list(first.lot)[0]!;
		const blob = h.index.packs.blobsIn(pack.id)[0]!;
		await h.emulator.corruptAttachment(pack.attachmentId!, blob.offset + 40);
		const staged = path.join(tempRoot, 'as-it-is');
		const fetched = await h.transport.downloadAttachment(
			{ channelId: pack.threadId, messageId: pack.messageId!, attachmentId: pack.attachmentId! },
			{ file: staged },
			{ expectedSize: pack.size }
		);
		await rm(staged, { force: true });
		sql('UPDATE packs SET sha256 = ? WHERE id = ?', fetched.sha256, pack.id);
		try {
			const result = await checkRepository(h.context, h.jobRun());
			expect(result.ok).toBe(false);
			expect(result.badBlobs).toEqual([expect.objectContaining({ id: blob.id, pack: pack.name, code: 'TAMPERED_CHUNK' })]);
			expect(result.packProblems[0]).toMatchObject({ name: pack.name, code: 'TAMPERED_CHUNK' });
			expect(result.damagedArchives).toContain(first.archiveId);
		} finally {
			await h.emulator.corruptAttachment(pack.attachmentId!, blob.offset + 40);
			sql('UPDATE packs SET sha256 = ? WHERE id = ?', pack.sha256, pack.id);
		}
		expect((await checkRepository(h.context, h.jobRun())).ok).toBe(true);
	});

	it('GIVEN a referenced pack the index no longer counts as stored WHEN checked THEN its blobs are named as held by no pack, with the archives that reference them', async () => {
		const pack = h.index.packs.list(second.lot)[0]!;
		const blobs = h.index.packs.blobsIn(pack.id).map((blob) => blob.id);
		sql("UPDATE packs SET state = 'deleting' WHERE id = ?", pack.id);
		try {
			const result = await checkRepository(h.context, h.jobRun());
			expect(result.ok).toBe(false);
			expect(result.unheld.map((entry) => entry.id).sort()).toEqual([...blobs].sort());
			expect(result.unheld[0]!.archives).toEqual([second.archiveId]);
			expect(result.damagedArchives).toEqual([second.archiveId]);
		} finally {
			sql("UPDATE packs SET state = 'stored' WHERE id = ?", pack.id);
		}
	});
});
