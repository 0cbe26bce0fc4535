import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchiveContext } from '../../src/archive/context.js';
import { rebuildIndex } from '../../src/archive/rebuild.js';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import { cardRecordOf, encodeCardRecord } from '../../src/archive/card-record.js';
import { legacyCardContent } from '../../src/archive/legacy-card.js';
import { type Archive, type HistoryIndex, openIndex } from '../../src/db/index.js';
import type { APIEmbed } from '../../src/discord/index.js';
import { ArchiveErrorCode, isArchiveError } from '../../src/archive/errors.js';
import { FIXTURE_DIR as LEGACY_DIR } from '../core/legacy/legacy-fixture.js';
import { postLegacyFixture, postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, nestedTree, randomContent, startArchiveHarness } from './support/harness.js';

/** The tables as a rebuild must give them back (ids that only this index knows — nonces, row ids, timestamps of writes — left out). */
function tables(index: HistoryIndex) {
	const archives = index.archives.list({ limit: 100 }).archives;
	return archives
		.map((archive) => {
			const { source: _source, updatedAt: _updatedAt, completedAt: _completedAt, ...row } = archive;
			return {
				archive: row,
				// A manifest part's `compressed` is left out: the index stores a null given to a multi-row insert as false.
				chunks: index.chunks
					.list(archive.lot)
					.map(({ postNonce: _nonce, recordedAt: _recorded, updatedAt: _updated, compressed, ...chunk }) =>
						chunk.kind === 'manifest' ? chunk : { ...chunk, compressed }
					),
				entries: index.entries.list(archive.lot, { limit: 10_000 }).map(({ id: _id, ...entry }) => entry)
			};
		})
		.sort((a, b) => a.archive.lot - b.archive.lot);
}

describe('rebuildIndex', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN archives of ours and a legacy card WHEN the SQLite file is deleted and the index rebuilt THEN the same archives, chunks, hashes and entries come back, and a second run changes nothing', async () => {
		await harness.writeTree('first', nestedTree());
		await harness.writeTree('second', { 'data.bin': randomContent(150_000, 'second') });
		await postTestArchive(harness, 'first', { label: 'first archive' });
		await postTestArchive(harness, 'second');
		await postLegacyFixture(harness, LEGACY_DIR);
		await harness.emulator.postAsUser(harness.archiveChannelId, 'member', 'just chatting');
		const before = tables(harness.index);
		expect(before).toHaveLength(2);

		harness.index.close();
		for (const suffix of ['', '-wal', '-shm']) await rm(`${harness.indexPath}${suffix}`, { force: true });
		const index = harness.reopenIndex();
		const context: ArchiveContext = { ...harness.context, index };

		const dry = await rebuildIndex(context, { dryRun: true }, harness.jobRun());
		expect(dry.skipped).toEqual([]);
		expect(dry.archives.map((archive) => archive.archiveId).sort()).toEqual([...before.map((t) => t.archive.id), '#241126-07'].sort());
		expect(dry.archives.every((archive) => !archive.written)).toBe(true);
		expect(index.archives.count()).toBe(0);

		const run = harness.jobRun();
		const rebuilt = await rebuildIndex(context, {}, run);
		expect(rebuilt.skipped).toEqual([]);
		expect(rebuilt.archives.every((archive) => archive.written && archive.depth === 'full')).toBe(true);
		expect(run.events.some((event) => event.phase === 'scanning')).toBe(true);
		const after = tables(index);
		const ours = after.filter((table) => table.archive.format === 'dos-1');
		expect(ours).toEqual(before);

		const legacy = after.find((table) => table.archive.id === '#241126-07')!;
		expect(legacy.archive).toMatchObject({ lot: 7, format: 'legacy-v3.1', status: 'complete', fileCount: 5 });
		expect(legacy.chunks.filter((chunk) => chunk.kind === 'data' && chunk.state === 'stored')).toHaveLength(11);
		expect(legacy.entries.map((entry) => entry.path).sort()).toEqual(
			['empty.dat', 'exact.bin', 'notes.txt', 'random.bin', 'Ünïcødé naïve 名前.md'].sort()
		);

		const again = await rebuildIndex(context, {}, harness.jobRun());
		expect(again.archives).toHaveLength(3);
		expect(tables(index)).toEqual(after);
		expect(index.integrityProblems()).toEqual([]);
	});

	it('GIVEN no key WHEN the index is rebuilt THEN our archives come back as skeletons from their card records, with every chunk message found by name', async () => {
		const index = harness.reopenIndex();
		const expected = index.archives.list({ limit: 100, statuses: ['complete'] }).archives.filter((archive) => archive.format === 'dos-1');
		index.close();
		for (const suffix of ['', '-wal', '-shm']) await rm(`${harness.indexPath}${suffix}`, { force: true });
		const fresh = harness.reopenIndex();
		const context: ArchiveContext = { ...harness.context, index: fresh, settings: { ...harness.settings, passphrase: undefined } };
		const result = await rebuildIndex(context, {}, harness.jobRun());
		const skeletons = result.archives.filter((archive) => archive.format === 'dos-1');
		expect(skeletons.map((archive) => archive.depth)).toEqual(expected.map(() => 'skeleton'));
		for (const archive of expected) {
			const row = fresh.archives.get(archive.lot)!;
			expect(row).toMatchObject({
				id: archive.id,
				uid: archive.uid,
				status: 'complete',
				fileCount: archive.fileCount,
				chunkCount: archive.chunkCount,
				threadId: archive.threadId
			});
			const chunks = fresh.chunks.list(archive.lot, { kind: 'data' });
			expect(chunks.map((chunk) => chunk.index)).toEqual(Array.from({ length: archive.chunkCount }, (_, i) => i));
			expect(chunks.every((chunk) => chunk.state === 'stored' && chunk.messageId !== null && chunk.sha256 === null)).toBe(true);
		}
	});

	it('GIVEN a deleted card of the original tool WHEN the index is rebuilt THEN it comes back as a skeleton whose total_size_bytes are the stored bytes, as the history-log import and migrate-legacy record them', async () => {
		const metadata = {
			lot: 31,
			archive_id: '#020324-31',
			timestamp: '2024-03-02 10:00:00',
			status: 'deleted',
			file_count: 3,
			total_size_bytes: 123_456,
			chunk_count: 2,
			message_ids: [],
			uploader: 'someone#0001'
		};
		await harness.transport.postCard(harness.settings.archiveChannelId, {
			content: legacyCardContent(metadata),
			embeds: [{ title: '📦 Archive #020324-31', footer: { text: 'Lot 31 • Uploader: someone#0001' } }]
		});
		const index = harness.reopenIndex();
		const result = await rebuildIndex({ ...harness.context, index }, {}, harness.jobRun());
		expect(result.archives.find((archive) => archive.archiveId === '#020324-31')).toMatchObject({
			depth: 'skeleton',
			status: 'deleted',
			files: 3,
			chunks: 2
		});
		expect(index.archives.get(31)).toMatchObject({ id: '#020324-31', status: 'deleted', storedBytes: 123_456, originalBytes: 0, chunkCount: 2 });
		index.close();
	});

	it('GIVEN archives made by the upload job WHEN the SQLite file is deleted and the index rebuilt THEN their rows, chunks, hashes and entries come back', async () => {
		await harness.writeTree('uploaded', { ...nestedTree(), 'extra/z.bin': randomContent(90_000, 'z') });
		const index = harness.reopenIndex();
		const working: ArchiveContext = { ...harness.context, index };
		const planned = await planUpload(working, { folder: 'uploaded', label: 'by the job' });
		await uploadArchive(working, planned, harness.jobRun());
		const lot = planned.archive.lot;
		const before = tables(index).filter((table) => table.archive.lot === lot);
		index.close();
		for (const suffix of ['', '-wal', '-shm']) await rm(`${harness.indexPath}${suffix}`, { force: true });
		const fresh = harness.reopenIndex();
		const result = await rebuildIndex({ ...harness.context, index: fresh }, {}, harness.jobRun());
		expect(result.skipped).toEqual([]);
		expect(tables(fresh).filter((table) => table.archive.lot === lot)).toEqual(before);
	});

	it('GIVEN a card with its record in the title link and a card from an older build with it in the footer WHEN the index is rebuilt without the key THEN both archives come back from their records', async () => {
		const index = harness.reopenIndex();
		const working: ArchiveContext = { ...harness.context, index };
		const lots: number[] = [];
		for (const name of ['new-card', 'old-card']) {
			await harness.writeTree(name, { [`${name}.bin`]: randomContent(40_000, name) });
			const planned = await planUpload(working, { folder: name, label: name });
			await uploadArchive(working, planned, harness.jobRun());
			lots.push(planned.archive.lot);
		}
		const [fresh, older] = lots.map((lot) => index.archives.get(lot)!) as [Archive, Archive];
		const newEmbed = harness.emulator.messages(harness.archiveChannelId).find((message) => message.id === fresh.cardMessageId)!
			.embeds[0] as APIEmbed;
		expect(newEmbed.url).toMatch(/^https:\/\/dos\.invalid\/dos-card\/1#/);
		expect(newEmbed.footer?.text).toBe(`Lot ${fresh.lot} · format 1`);
		// The card as an older build left it: the record as JSON in the footer, no title link.
		await harness.transport.editCard(harness.archiveChannelId, older.cardMessageId!, {
			embeds: [{ title: `📦 Archive ${older.id} · old-card`, footer: { text: encodeCardRecord(cardRecordOf(older)) } }]
		});
		index.close();
		for (const suffix of ['', '-wal', '-shm']) await rm(`${harness.indexPath}${suffix}`, { force: true });
		const rebuilt = harness.reopenIndex();
		const context: ArchiveContext = { ...harness.context, index: rebuilt, settings: { ...harness.settings, passphrase: undefined } };
		const result = await rebuildIndex(context, {}, harness.jobRun());
		expect(result.skipped).toEqual([]);
		for (const archive of [fresh, older]) {
			expect(rebuilt.archives.get(archive.lot)).toMatchObject({
				id: archive.id,
				uid: archive.uid,
				label: archive.label,
				status: 'complete',
				fileCount: 1,
				chunkCount: archive.chunkCount,
				threadId: archive.threadId,
				cardMessageId: archive.cardMessageId
			});
		}
	});

	it('GIVEN an upload asked for by someone WHEN the index is lost and rebuilt with the key THEN its source folder and requester come back from the sealed manifest; without the key it is a skeleton that says so', async () => {
		await harness.writeTree('work-docs', { 'w.txt': 'work\n' });
		const index = harness.reopenIndex();
		const working: ArchiveContext = { ...harness.context, index };
		const planned = await planUpload(working, { folder: 'work-docs', requestedBy: '123456789012345678' });
		await uploadArchive(working, planned, harness.jobRun());
		const lot = planned.archive.lot;
		index.close();
		for (const suffix of ['', '-wal', '-shm']) await rm(`${harness.indexPath}${suffix}`, { force: true });
		const fresh = harness.reopenIndex();
		const result = await rebuildIndex({ ...harness.context, index: fresh }, {}, harness.jobRun());
		expect(result.skipped).toEqual([]);
		expect(fresh.archives.get(lot)).toMatchObject({ source: 'work-docs', createdBy: '123456789012345678', label: null });
		expect(fresh.archives.list({ query: 'work-docs' }).archives.map((archive) => archive.lot)).toContain(lot);

		// A key that does not open the manifest: the index's full record is kept, and the report says why.
		const wrongKey = { ...harness.context, index: fresh, settings: { ...harness.settings, passphrase: 'not the key' } };
		const kept = await rebuildIndex(wrongKey, {}, harness.jobRun());
		expect(kept.archives.find((archive) => archive.lot === lot)).toMatchObject({ depth: 'skeleton', written: false });
		expect(kept.findings.filter((finding) => finding.archiveId === planned.archive.id).map((finding) => finding.code)).toEqual([
			'UNOPENABLE_MANIFEST',
			'KEPT_INDEX_RECORD'
		]);
		expect(fresh.archives.get(lot)).toMatchObject({ source: 'work-docs', fileCount: 1 });
		expect(fresh.entries.list(lot).map((entry) => entry.path)).toEqual(['w.txt']);

		// In an index that never knew it, the archive is kept as a skeleton from its card (not dropped), with no source.
		const empty = openIndex({ path: path.join(harness.dir, 'skeleton', 'dos.sqlite') });
		try {
			const skeletal = await rebuildIndex({ ...wrongKey, index: empty }, {}, harness.jobRun());
			expect(skeletal.archives.find((archive) => archive.lot === lot)).toMatchObject({ depth: 'skeleton', written: true });
			expect(empty.archives.get(lot)).toMatchObject({ id: planned.archive.id, source: '', status: 'complete', fileCount: 1 });
		} finally {
			empty.close();
		}
	});

	it('GIVEN a second process with its own index file WHEN it plans an upload THEN it refuses (INDEX_BEHIND) until a rebuild, after which its lot is above every card', async () => {
		await harness.writeTree('elsewhere', { 'e.txt': 'elsewhere\n' });
		const other = openIndex({ path: path.join(harness.dir, 'other', 'dos.sqlite') });
		try {
			const context: ArchiveContext = { ...harness.context, index: other };
			const refused = await planUpload(context, { folder: 'elsewhere' }).catch((error: unknown) => error);
			expect(isArchiveError(refused, ArchiveErrorCode.IndexBehind)).toBe(true);
			expect((refused as Error).message).toContain('one index file');
			expect(other.archives.list().archives).toEqual([]);

			const rebuilt = await rebuildIndex(context, {}, harness.jobRun());
			const planned = await planUpload(context, { folder: 'elsewhere' });
			expect(planned.archive.lot).toBeGreaterThan(rebuilt.highestLot);
		} finally {
			other.close();
		}
	});
});
