import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadArchive } from '../../src/archive/download.js';
import { legacyArchiveUid, legacyCardContent, parseLegacyCard } from '../../src/archive/legacy-card.js';
import { rebuildIndex } from '../../src/archive/rebuild.js';
import { expectedHashes, FIXTURE_DIR, FIXTURE_KEY } from '../core/legacy/legacy-fixture.js';
import { postLegacyFixture } from './read-fixture.js';
import { type ArchiveHarness, startArchiveHarness } from './support/harness.js';

describe('legacy cards', () => {
	it('GIVEN a card as the original tool wrote it, with the thread id as a bare JSON number WHEN parsed THEN every field and the exact thread id are read', () => {
		const content = legacyCardContent({
			lot: 7,
			archive_id: '#241126-07',
			timestamp: '2024-11-26 02:13:28',
			status: 'success',
			file_count: 5
		}).replace('"file_count":5', '"file_count":5,"thread_id":1311111111111111111');
		const card = parseLegacyCard({ id: '1300000000000000001', content, embeds: [], thread: null })!;
		expect(card).toMatchObject({ archiveId: '#241126-07', lot: 7, status: 'success', fileCount: 5, threadId: '1311111111111111111' });
		expect(card.createdAt?.getFullYear()).toBe(2024);
		expect(legacyArchiveUid(card)).toMatch(/^[0-9a-f]{32}$/);
		expect(legacyArchiveUid(card)).toBe(legacyArchiveUid({ archiveId: '#241126-07', messageId: '1300000000000000001' }));
	});

	it('GIVEN messages that are not legacy cards WHEN parsed THEN they are not taken for one', () => {
		expect(parseLegacyCard({ id: '1', content: 'hello', embeds: [], thread: null })).toBeNull();
		expect(parseLegacyCard({ id: '1', content: '```json\n{"archive_id":"not an id"}\n```', embeds: [], thread: null })).toBeNull();
		expect(parseLegacyCard({ id: '1', content: '```json\n{"archive_id":"#241126-07","lot":8}\n```', embeds: [], thread: null })).toBeNull();
		const fromEmbed = parseLegacyCard({
			id: '1',
			content: '',
			embeds: [{ title: '📦 Archive #241126-07', footer: { text: 'Lot 7 • Uploader: x' } }],
			thread: { id: '1311111111111111111', name: 't', archived: true }
		});
		expect(fromEmbed).toMatchObject({ archiveId: '#241126-07', lot: 7, threadId: '1311111111111111111' });
		// A card of ours reads like the original tool's to a person (title `📦 Archive #…`, footer `Lot 7 · format 1`), but
		// its record link marks it as ours: never a legacy card (a cleanup of a legacy row must not claim its thread).
		const ours = { title: '📦 Archive #241126-07', url: 'https://dos.invalid/dos-card/1#e30', footer: { text: 'Lot 7 · format 1' } };
		expect(
			parseLegacyCard({ id: '1', content: '', embeds: [ours], thread: { id: '1311111111111111111', name: 't', archived: true } })
		).toBeNull();
	});
});

describe('legacy v3.1 archives on Discord', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { passphrase: FIXTURE_KEY } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN the fixture laid out as the original tool left it WHEN the index is rebuilt and the archive downloaded THEN every file is restored bit for bit', async () => {
		await postLegacyFixture(harness, FIXTURE_DIR);
		const rebuilt = await rebuildIndex(harness.context, {}, harness.jobRun());
		expect(rebuilt.archives).toMatchObject([
			{ archiveId: '#241126-07', format: 'legacy-v3.1', status: 'complete', chunks: 11, chunksPresent: 11 }
		]);
		const run = harness.jobRun();
		const result = await downloadArchive(harness.context, { archive: '#241126-07' }, run);
		expect(path.basename(result.restoredTo)).toBe('#241126-07 photos-2025');
		const expected = await expectedHashes();
		const restored: Record<string, string> = {};
		for (const name of await readdir(result.restoredTo)) {
			restored[name] = createHash('sha256')
				.update(await readFile(path.join(result.restoredTo, name)))
				.digest('hex');
		}
		expect(restored).toEqual(expected);
		expect(result.chunksFetched).toBe(12);
		await expect(stat(result.chunkDir)).rejects.toThrow();
		expect(run.events.some((event) => event.phase === 'restoring')).toBe(true);
	});

	it('GIVEN one file named WHEN downloading the legacy archive THEN only its chunks are fetched', async () => {
		const before = harness.emulator.stats().byRoute['GET /attachments/:channel/:attachment/:filename'] ?? 0;
		const result = await downloadArchive(harness.context, { archive: '241126-07', paths: ['notes.txt'] }, harness.jobRun());
		expect(await readdir(result.restoredTo)).toEqual(['notes.txt']);
		const notes = (await expectedHashes())['notes.txt'];
		expect(
			createHash('sha256')
				.update(await readFile(path.join(result.restoredTo, 'notes.txt')))
				.digest('hex')
		).toBe(notes);
		expect((harness.emulator.stats().byRoute['GET /attachments/:channel/:attachment/:filename'] ?? 0) - before).toBe(1 + result.chunksNeeded);
		expect(result.chunksNeeded).toBeLessThan(11);
	});
});
