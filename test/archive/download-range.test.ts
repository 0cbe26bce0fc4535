import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packRanges } from '../../src/archive/download-repository.js';
import { downloadArchive } from '../../src/archive/download.js';
import { planUpload, uploadArchive, type UploadResult } from '../../src/archive/upload.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { MIN_PACK_SIZE } from '../../src/core/index.js';
import { VerificationLevel } from '../../src/db/index.js';
import type { ArchiveTransport } from '../../src/discord/index.js';
import { type ArchiveHarness, randomContent, startArchiveHarness } from './support/harness.js';

/**
 * Format 2 downloads read only the byte ranges of the blobs they need from a pack they need little of (HTTP Range
 * against the emulator's CDN), fall back to the whole pack when a range read fails, still refuse a tampered blob, and
 * a full verify fetches whole packs.
 */

const CDN = 'GET /attachments/:channel/:attachment/:filename';

let h: ArchiveHarness;
let source: string;
let archive: UploadResult;

beforeAll(async () => {
	h = await startArchiveHarness({
		emulator: { limits: { channelMessagesPerWindow: 1000 } },
		settings: { format: 2, packSize: MIN_PACK_SIZE, packsPerMessage: 2, compression: 'none' }
	});
	// One pack: a 3 MiB file and two small ones, all incompressible (stored as they are, so their sizes are known).
	source = await h.writeTree('mixed', {
		'big.bin': randomContent(3 * 1024 * 1024, 'big'),
		'small/one.bin': randomContent(20 * 1024, 'one'),
		'small/two.bin': randomContent(30 * 1024, 'two')
	});
	archive = await uploadArchive(h.context, await planUpload(h.context, { folder: 'mixed' }), h.jobRun());
	expect(archive.packsPosted).toBe(1);
});

afterAll(async () => {
	await h.close();
});

/** The one pack's stored blobs: offset, stored and raw length (read from the index file). */
function packBlobs(): { offset: number; storedLength: number; rawLength: number }[] {
	const file = path.join(path.dirname(h.settings.uploadRoot), 'index', 'dos.sqlite');
	const db = new Database(file, { readonly: true, fileMustExist: true });
	try {
		return db
			.prepare('SELECT pack_offset AS offset, stored_length AS storedLength, raw_length AS rawLength FROM blobs ORDER BY pack_offset')
			.all() as {
			offset: number;
			storedLength: number;
			rawLength: number;
		}[];
	} finally {
		db.close();
	}
}

async function download(paths?: string[]) {
	return downloadArchive(h.context, { archive: archive.archiveId, ...(paths === undefined ? {} : { paths }) }, h.jobRun());
}

describe('format 2 range reads', () => {
	it('GIVEN ranges of a pack WHEN planned THEN close blobs merge into one range and distant ones stay apart, in offset order', () => {
		expect(
			packRanges([
				{ offset: 5_000_000, storedLength: 1000 },
				{ offset: 0, storedLength: 100 },
				{ offset: 200, storedLength: 300 },
				{ offset: 1_000_000, storedLength: 50 }
			])
		).toEqual([
			{ offset: 0, length: 500 },
			{ offset: 1_000_000, length: 50 },
			{ offset: 5_000_000, length: 1000 }
		]);
		expect(packRanges([])).toEqual([]);
	});

	it('GIVEN one small file of a large pack WHEN downloaded THEN only its blob is read from the CDN and it restores byte-identical', async () => {
		const pack = h.index.packs.list(archive.lot)[0]!;
		h.emulator.resetStats();
		const result = await download(['small/one.bin']);
		expect(result.complete).toBe(true);
		expect(await readFile(path.join(result.restoredTo, 'small/one.bin'))).toEqual(await readFile(path.join(source, 'small/one.bin')));
		const { cdnBytes } = h.emulator.stats();
		// The blob (20 KiB and its seal) and the manifest part; not the 3 MiB pack.
		expect(cdnBytes).toBeLessThan(64 * 1024);
		expect(cdnBytes).toBeGreaterThan(20 * 1024);
		expect(pack.size).toBeGreaterThan(3 * 1024 * 1024);
		expect((result.notes ?? []).join(' ')).toMatch(/only in part/);
		await rm(result.restoredTo, { recursive: true, force: true });
	});

	it('GIVEN the whole archive WHEN downloaded THEN the pack is fetched whole (most of it is needed) and restores byte-identical', async () => {
		const pack = h.index.packs.list(archive.lot)[0]!;
		h.emulator.resetStats();
		const result = await download();
		expect(result.complete).toBe(true);
		expect(h.emulator.stats().cdnBytes).toBeGreaterThanOrEqual(pack.size);
		expect((result.notes ?? []).join(' ')).not.toMatch(/only in part/);
		await rm(result.restoredTo, { recursive: true, force: true });
	});

	it('GIVEN the CDN cutting the range read WHEN downloading one small file THEN the pack is fetched whole instead and the file restores', async () => {
		const pack = h.index.packs.list(archive.lot)[0]!;
		h.emulator.resetStats();
		// The cut is armed right before the first range read (the manifest part is fetched before it).
		let armed = false;
		const transport = new Proxy(h.transport, {
			get(target, property) {
				if (property === 'downloadAttachment')
					return (...args: Parameters<ArchiveTransport['downloadAttachment']>) => {
						if (!armed && args[2]?.range !== undefined) {
							armed = true;
							h.emulator.faults.set({ cdnResetMidBodyNext: 1, routes: [CDN] });
						}
						return target.downloadAttachment(...args);
					};
				const value: unknown = Reflect.get(target, property);
				return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
			}
		});
		try {
			const result = await downloadArchive({ ...h.context, transport }, { archive: archive.archiveId, paths: ['small/two.bin'] }, h.jobRun());
			expect(armed).toBe(true);
			expect(result.complete).toBe(true);
			expect(await readFile(path.join(result.restoredTo, 'small/two.bin'))).toEqual(await readFile(path.join(source, 'small/two.bin')));
			expect(h.emulator.stats().faultsInjected.cdnResetMidBody).toBe(1);
			expect(h.emulator.stats().cdnBytes).toBeGreaterThanOrEqual(pack.size);
			expect(h.logLines.some((line) => line.message.includes('range read of a pack failed'))).toBe(true);
			await rm(result.restoredTo, { recursive: true, force: true });
		} finally {
			h.emulator.faults.reset();
		}
	});

	it('GIVEN the CDN cutting the manifest part mid-body WHEN downloading THEN the part is fetched again and the archive restores', async () => {
		h.emulator.resetStats();
		h.emulator.faults.set({ cdnResetMidBodyNext: 1, routes: [CDN] });
		try {
			const result = await download(['small/one.bin']);
			expect(h.emulator.stats().faultsInjected.cdnResetMidBody).toBe(1);
			expect(result.complete).toBe(true);
			await rm(result.restoredTo, { recursive: true, force: true });
		} finally {
			h.emulator.faults.reset();
		}
	});

	it('GIVEN a byte of the small blob changed on Discord WHEN that file is downloaded in part THEN it is refused and nothing is kept; a full verify fetches the pack whole and fails', async () => {
		const pack = h.index.packs.list(archive.lot)[0]!;
		const blob = packBlobs().find((entry) => entry.rawLength === 20 * 1024)!;
		expect(blob).toBeDefined();
		await h.emulator.corruptAttachment(pack.attachmentId!, blob.offset + 100);
		await expect(download(['small/one.bin'])).rejects.toMatchObject({ code: 'TAMPERED_CHUNK' });
		const downloads = h.settings.downloadRoot;
		for (const name of await readdir(downloads))
			expect(await readdir(path.join(downloads, name), { recursive: true })).not.toContain('small/one.bin');
		h.emulator.resetStats();
		const verified = await verifyArchive(h.context, { archive: archive.archiveId, level: VerificationLevel.Full }, h.jobRun());
		expect(verified.ok).toBe(false);
		expect(h.emulator.stats().cdnBytes).toBeGreaterThanOrEqual(pack.size);
	});
});
