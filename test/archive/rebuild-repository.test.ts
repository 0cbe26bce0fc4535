import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchiveContext } from '../../src/archive/context.js';
import { downloadArchive } from '../../src/archive/download.js';
import { rebuildIndex } from '../../src/archive/rebuild.js';
import { planUpload, uploadArchive, type UploadResult } from '../../src/archive/upload.js';
import { MIN_PACK_SIZE } from '../../src/core/index.js';
import type { HistoryIndex } from '../../src/db/index.js';
import { type ArchiveHarness, randomContent, startArchiveHarness, stoppingRun, threadFiles } from './support/harness.js';
import { treeDigest } from '../support/tree.js';

/**
 * Rebuilding the index of a channel that holds format 2 archives (and a format 1 one) from Discord alone: the SQLite
 * file is deleted, and the rebuild gives back the same rows — archives, entries, manifest parts, packs, blobs, the
 * blobs each archive references and the channel's repository keys — from the cards, the threads, the pack headers
 * and the manifests; the archives then download byte-identical. A dry run writes nothing; a pack posted by someone
 * else is ignored, a pack changed on Discord is named and not recorded.
 */

/**
 * Columns no rebuild can know, left out of the comparison: when a row was written (`updated_at`, `recorded_at`),
 * when an upload completed (`completed_at`: no card or manifest carries it), and row ids the index hands out itself
 * (entries' `id`, packs' `id` and so blobs' `pack_id`: packs are compared by archive and name instead). The format 1
 * rebuild does not give back its chunks' post nonces (a resealed chunk's generation is not on Discord); format 2's
 * pack and manifest nonces are compared.
 */
const UNKNOWABLE = ['updated_at', 'recorded_at', 'completed_at', 'id (entries, packs)', 'pack_id (blobs)', 'post_nonce (format 1 chunks)'] as const;

/** The index tables in a comparable form, read straight from the SQLite file. */
function snapshot(file: string) {
	const db = new Database(file, { readonly: true, fileMustExist: true });
	try {
		const all = (sql: string) => db.prepare(sql).all();
		return {
			archives: all(
				`select lot, id, uid, label, source, status, format, original_bytes, stored_bytes, file_count, directory_count,
				 symlink_count, new_bytes, reused_bytes, chunk_count, stored_chunk_count, chunk_size, gzip_level, kdf_id,
				 kdf_iterations, archive_salt, channel_id, thread_id, card_message_id, created_by, created_at, verified_at,
				 verify_level, verify_ok, verify_summary, verify_stale, error_code, error_message from archives order by lot`
			),
			entries: all(
				`select archive_lot, path, name, type, size, mode, mtime_ms, sha256, stream_offset, first_chunk, last_chunk, target
				 from entries order by archive_lot, path`
			),
			chunks: all(
				`select c.archive_lot, kind, chunk_index, state, case when a.format = 'dos-2' then post_nonce end as post_nonce, message_id,
				 attachment_id, filename, stored_size, c.sha256, plain_size, plain_sha256, compressed
				 from chunks c join archives a on a.lot = c.archive_lot order by c.archive_lot, kind, chunk_index`
			),
			packs: all(
				`select archive_lot, name, state, thread_id, message_index, attachment_index, post_nonce, message_id, attachment_id,
				 size, sha256 from packs order by archive_lot, name`
			),
			blobs: all(
				`select p.archive_lot, p.name as pack, b.id, b.pack_offset, b.stored_length, b.raw_length, b.codec
				 from blobs b join packs p on p.id = b.pack_id order by p.archive_lot, p.name, b.pack_offset`
			),
			archiveBlobs: all('select archive_lot, blob_id from archive_blobs order by archive_lot, blob_id'),
			repositoryKeys: all('select channel_id, repository_id, hex(keys_file) as keys_file, message_id, attachment_id from repository_keys')
		};
	} finally {
		db.close();
	}
}

let h: ArchiveHarness;
let tempRoot: string;
let index: HistoryIndex;
let context: ArchiveContext;
const uploads: Record<'a' | 'b' | 'c' | 'one', UploadResult> = {} as never;
let digestB: Record<string, string>;
let digestC: Record<string, string>;
let before: ReturnType<typeof snapshot>;

async function upload(folder: string, ctx: ArchiveContext): Promise<UploadResult> {
	return uploadArchive(ctx, await planUpload(ctx, { folder }), h.jobRun());
}

/** Deletes the SQLite file and opens an empty index in its place. */
async function freshIndex(): Promise<void> {
	index.close();
	for (const suffix of ['', '-wal', '-shm']) await rm(`${h.indexPath}${suffix}`, { force: true });
	index = h.reopenIndex();
	context = { ...h.context, index };
}

beforeAll(async () => {
	tempRoot = await mkdtemp(path.join(tmpdir(), 'dos-f2-rebuild-'));
	h = await startArchiveHarness({
		emulator: { limits: { channelMessagesPerWindow: 1000 } },
		settings: { format: 2, packSize: MIN_PACK_SIZE, packsPerMessage: 2, compression: 'gzip-1', tempRoot }
	});
	index = h.index;
	context = h.context;
	const source = await h.writeTree('photos', {
		'big/a.bin': randomContent(3 * 1024 * 1024, 'a'),
		'big/b.bin': randomContent(3 * 1024 * 1024, 'b'),
		'big/c.bin': randomContent(1024 * 1024, 'c'),
		'notes/readme.txt': 'hello repository\n'.repeat(100),
		'notes/empty.txt': '',
		link: { symlink: 'notes/readme.txt' }
	});
	await h.writeTree('letters', { 'dear.txt': 'format one\n'.repeat(50), 'sub/data.bin': randomContent(100_000, 'letters') });
	uploads.a = await upload('photos', h.context);
	uploads.b = await upload('photos', h.context);
	digestB = await treeDigest(source);
	await writeFile(path.join(source, 'big/c.bin'), randomContent(1024 * 1024, 'c-changed'));
	uploads.c = await upload('photos', h.context);
	digestC = await treeDigest(source);
	uploads.one = await upload('letters', { ...h.context, settings: { ...h.settings, format: 1 } });
	before = snapshot(h.indexPath);
});

afterAll(async () => {
	await h.close();
	await rm(tempRoot, { recursive: true, force: true });
});

describe('rebuild of format 2 archives', () => {
	it('GIVEN three format 2 archives and a format 1 one WHEN the SQLite file is deleted and a dry run made THEN it reports their packs and blobs and writes nothing', async () => {
		expect(uploads.a.packsPosted).toBeGreaterThanOrEqual(2);
		expect(uploads.b.packsPosted).toBe(0);
		expect(uploads.c.packsPosted).toBe(1);
		expect(before.archives.map((row) => (row as { format: string }).format)).toEqual(['dos-2', 'dos-2', 'dos-2', 'dos-1']);
		// Bytes on Discord: the packs each archive posted and its manifest parts.
		const packBytes = (lot: number) =>
			before.packs
				.filter((row) => (row as { archive_lot: number }).archive_lot === lot)
				.reduce<number>((sum, row) => sum + (row as { size: number }).size, 0);
		expect((before.archives[0] as { stored_bytes: number }).stored_bytes).toBeGreaterThan(packBytes(uploads.a.lot));
		expect((before.archives[1] as { stored_bytes: number }).stored_bytes).toBeLessThan(64 * 1024);
		expect(before.packs.length).toBe(uploads.a.packsPosted! + uploads.c.packsPosted!);
		expect(before.repositoryKeys).toHaveLength(1);
		await freshIndex();
		const empty = snapshot(h.indexPath);

		// As on a new machine: the folder of temporary files beside the index does not exist yet.
		const missingTemp = path.join(tempRoot, 'new-machine', 'tmp');
		const dry = await rebuildIndex({ ...context, settings: { ...context.settings, tempRoot: missingTemp } }, { dryRun: true }, h.jobRun());
		expect(dry.skipped).toEqual([]);
		expect(dry.findings).toEqual([]);
		expect(dry.archives.map((archive) => [archive.archiveId, archive.format, archive.depth, archive.written])).toEqual([
			[uploads.a.archiveId, 'dos-2', 'full', false],
			[uploads.b.archiveId, 'dos-2', 'full', false],
			[uploads.c.archiveId, 'dos-2', 'full', false],
			[uploads.one.archiveId, 'dos-1', 'full', false]
		]);
		expect(dry.repository).toEqual({ packs: before.packs.length, blobs: before.blobs.length });
		expect(dry.archives.find((archive) => archive.archiveId === uploads.a.archiveId)).toMatchObject({
			packs: uploads.a.packsPosted,
			chunks: uploads.a.packsPosted,
			chunksPresent: uploads.a.packsPosted
		});
		// Not a row, not the keys mirror: the dry run opened the channel's keys read-only.
		expect(snapshot(h.indexPath)).toEqual(empty);
		expect(empty.archives).toEqual([]);
		expect(empty.repositoryKeys).toEqual([]);
	});

	it(`GIVEN the empty index WHEN rebuilt THEN every table comes back equal (but ${UNKNOWABLE.join(', ')}), B and C download byte-identical, and a second run changes nothing`, async () => {
		// Downloads in flight at once, counted around the transport: an archive's packs are read three at a time.
		let inFlight = 0;
		let most = 0;
		const transport = new Proxy(context.transport, {
			get: (target, name, receiver) => {
				const value: unknown = Reflect.get(target, name, receiver);
				if (typeof value !== 'function') return value;
				const real = (value as (...args: unknown[]) => Promise<unknown>).bind(target);
				if (name !== 'downloadAttachment') return real;
				return async (...args: unknown[]) => {
					most = Math.max(most, ++inFlight);
					try {
						return await real(...args);
					} finally {
						inFlight--;
					}
				};
			}
		});
		const rebuilt = await rebuildIndex({ ...context, transport }, {}, h.jobRun());
		expect(most).toBeGreaterThanOrEqual(2);
		expect(most).toBeLessThanOrEqual(3);
		expect(rebuilt.skipped).toEqual([]);
		expect(rebuilt.findings).toEqual([]);
		expect(rebuilt.archives.every((archive) => archive.written && archive.depth === 'full')).toBe(true);
		const after = snapshot(h.indexPath);
		expect(after.archives).toEqual(before.archives);
		expect(after.entries).toEqual(before.entries);
		expect(after.chunks).toEqual(before.chunks);
		expect(after.packs).toEqual(before.packs);
		expect(after.blobs).toEqual(before.blobs);
		expect(after.archiveBlobs).toEqual(before.archiveBlobs);
		expect(after.repositoryKeys).toEqual(before.repositoryKeys);
		expect(index.integrityProblems()).toEqual([]);

		for (const [archiveId, digest] of [
			[uploads.b.archiveId, digestB],
			[uploads.c.archiveId, digestC]
		] as const) {
			const restored = await downloadArchive(context, { archive: archiveId }, h.jobRun());
			expect(restored.complete).toBe(true);
			expect(await treeDigest(restored.restoredTo)).toEqual(digest);
		}

		await rebuildIndex(context, {}, h.jobRun());
		expect(snapshot(h.indexPath)).toEqual(after);
	});

	it('GIVEN a pack message forged by a member in a thread WHEN the index is rebuilt THEN it is named and ignored, and the index is unchanged', async () => {
		const [genuine] = threadFiles(h.emulator, uploads.c.threadId).filter((file) => file.filename.endsWith('.pack'));
		const forged = Buffer.from(randomContent(4096, 'forged'));
		// A moderator reopened the thread (the upload left it archived and locked), and a member posts into it.
		await h.transport.setThreadState(uploads.c.threadId, { archived: false, locked: false });
		const posted = await h.emulator.postAs(uploads.c.threadId, 'member', `1 pack · message 2 · ${uploads.c.archiveId}`, [
			{ name: `${'f'.repeat(32)}.pack`, data: forged.toString('base64') },
			{ name: genuine!.filename, data: forged.toString('base64') }
		]);
		const rebuilt = await rebuildIndex(context, {}, h.jobRun());
		expect(rebuilt.skipped).toEqual([]);
		expect(rebuilt.findings).toEqual([
			expect.objectContaining({
				archiveId: uploads.c.archiveId,
				code: 'NOT_POSTED_BY_BOT',
				reason: expect.stringContaining(posted.id) as unknown
			})
		]);
		const after = snapshot(h.indexPath);
		expect(after.packs).toEqual(before.packs);
		expect(after.blobs).toEqual(before.blobs);
		expect(after.archives).toEqual(before.archives);
	});

	it('GIVEN a pack of A changed on Discord WHEN the index is rebuilt THEN it is named DAMAGED_PACK, not recorded, and A is failed', async () => {
		const packs = index.packs.list(uploads.a.lot);
		const victim = packs[0]!;
		await h.emulator.corruptAttachment(victim.attachmentId!, 100);
		const rebuilt = await rebuildIndex(context, {}, h.jobRun());
		expect(rebuilt.skipped).toEqual([]);
		expect(rebuilt.findings).toEqual(
			expect.arrayContaining([
				expect.objectContaining({
					archiveId: uploads.a.archiveId,
					code: 'DAMAGED_PACK',
					reason: expect.stringContaining(victim.name) as unknown
				})
			])
		);
		expect(index.packs.list(uploads.a.lot).map((pack) => pack.name)).toEqual(packs.slice(1).map((pack) => pack.name));
		expect(index.archives.require(uploads.a.lot)).toMatchObject({ status: 'failed', errorCode: 'MISSING_CHUNK' });
		// The other archives are as they were; B still references the blobs the damaged pack held (its manifest says so).
		const after = snapshot(h.indexPath);
		expect(after.archives.filter((row) => (row as { lot: number }).lot !== uploads.a.lot)).toEqual(
			before.archives.filter((row) => (row as { lot: number }).lot !== uploads.a.lot)
		);
		expect(after.archiveBlobs).toEqual(before.archiveBlobs);
	});

	it('GIVEN an upload stopped after its first pack message (no manifest) WHEN the index is rebuilt THEN the archive keeps its status, its stored packs are recorded as before, and the next upload reuses their blobs', async () => {
		await h.writeTree('later', {
			'one.bin': randomContent(3 * 1024 * 1024, 'later-1'),
			'two.bin': randomContent(3 * 1024 * 1024, 'later-2'),
			'three.bin': randomContent(3 * 1024 * 1024, 'later-3')
		});
		const planned = await planUpload(context, { folder: 'later' });
		await expect(uploadArchive(context, planned, stoppingRun(2))).rejects.toMatchObject({ code: 'ABORTED' });
		const lot = planned.archive.lot;
		const stopped = snapshot(h.indexPath);
		const ofLot = <T>(rows: T[]) => rows.filter((row) => (row as { archive_lot?: number }).archive_lot === lot);
		// A pack recorded in flight whose message never landed is not on Discord: only stored packs can come back.
		const storedNames = new Set(
			ofLot(stopped.packs).flatMap((row) => ((row as { state: string }).state === 'stored' ? [(row as { name: string }).name] : []))
		);
		const stored = {
			packs: ofLot(stopped.packs).filter((row) => storedNames.has((row as { name: string }).name)),
			blobs: ofLot(stopped.blobs).filter((row) => storedNames.has((row as { pack: string }).pack))
		};
		expect(stored.packs.length).toBeGreaterThanOrEqual(2);
		const status = index.archives.require(lot).status;
		expect(['cancelled', 'interrupted', 'failed']).toContain(status);

		await freshIndex();
		const rebuilt = await rebuildIndex(context, {}, h.jobRun());
		expect(rebuilt.skipped).toEqual([]);
		expect(rebuilt.findings).toEqual(
			expect.arrayContaining([expect.objectContaining({ archiveId: planned.archive.id, code: 'UNOPENABLE_MANIFEST' })])
		);
		expect(rebuilt.archives.find((archive) => archive.lot === lot)).toMatchObject({ status, depth: 'skeleton', packs: stored.packs.length });
		const after = snapshot(h.indexPath);
		expect(ofLot(after.packs)).toEqual(stored.packs);
		expect(ofLot(after.blobs)).toEqual(stored.blobs);
		expect(index.archives.require(lot)).toMatchObject({ status, storedBytes: index.packs.list(lot).reduce((sum, pack) => sum + pack.size, 0) });

		const again = await upload('later', context);
		expect(again.reusedBytes).toBeGreaterThanOrEqual(3 * 1024 * 1024);
		expect(index.archives.require(again.lot).status).toBe('complete');
	});
});
