import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadArchive } from '../../src/archive/download.js';
import { legacyArchiveUid, legacyCardContent, parseLegacyCard } from '../../src/archive/legacy-card.js';
import { rebuildIndex } from '../../src/archive/rebuild.js';
import { changeChannelPassphrase, openChannelKeys, REPOSITORY_KEYS_FILENAME } from '../../src/archive/repository-keys.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { ChunkState, VerificationLevel } from '../../src/db/index.js';
import { CoreErrorCode, isCoreError, KDF_CHANNEL, parseLegacyManifest } from '../../src/core/index.js';
import { expectedHashes, FIXTURE_DIR, FIXTURE_KEY, FIXTURE_MANIFEST } from '../core/legacy/legacy-fixture.js';
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

describe('legacy v3.1 archives after the passphrase changed', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { passphrase: FIXTURE_KEY } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN an original-tool archive and dos key passwd WHEN verified in full with the new USER_KEY THEN the kept passphrase opens its chunks; without it the verify is WRONG_KEY and marks no chunk bad', async () => {
		await postLegacyFixture(harness, FIXTURE_DIR);
		await rebuildIndex(harness.context, {}, harness.jobRun());
		const { lot } = harness.index.archives.require('#241126-07');
		await openChannelKeys(harness.context, { create: true });
		const newPassphrase = 'a brand new passphrase for the channel';
		await changeChannelPassphrase(harness.context, newPassphrase);
		const renewed = () => {
			const second = harness.secondContext();
			return { ...second, settings: { ...second.settings, passphrase: newPassphrase } };
		};
		const verified = await verifyArchive(renewed(), { archive: '#241126-07', level: VerificationLevel.Full }, harness.jobRun());
		expect(verified).toMatchObject({ ok: true, chunks: [], files: [], chunksChecked: 11 });

		// Without the keys that keep the old passphrase, the new one opens nothing: the key is wrong, not the chunks.
		harness.index.repositoryKeys.remove(harness.archiveChannelId);
		const self = await harness.transport.selfUserId();
		for (const message of await harness.transport.pinnedMessages(harness.archiveChannelId))
			if (message.authorId === self && message.attachments.some((file) => file.filename === REPOSITORY_KEYS_FILENAME))
				await harness.transport.deleteMessage(harness.archiveChannelId, message.id);
		let derivations = 0;
		const counted = () => {
			derivations++;
		};
		subscribe(KDF_CHANNEL, counted);
		const refused = await verifyArchive(renewed(), { archive: '#241126-07', level: VerificationLevel.Full }, harness.jobRun())
			.then(
				() => undefined,
				(error: unknown) => error
			)
			.finally(() => unsubscribe(KDF_CHANNEL, counted));
		expect(isCoreError(refused, CoreErrorCode.WrongKey)).toBe(true);
		expect((refused as Error).message).toMatch(/opens no chunk of #241126-07.*Nothing was marked/);
		// It stops at the first chunk (intact: it matched the hash in its name) that no passphrase opens: one PBKDF2, not one per chunk.
		expect(derivations).toBe(1);
		expect(harness.index.chunks.list(lot).filter((row) => row.state === ChunkState.Bad)).toEqual([]);
	});
});

const forgedName = '12-manifest_031500_241126.json';

/** Posts, after the original, a manifest that swaps exact.bin's halves (renamed chunk copies), cuts random.bin short and drops notes.txt. */
async function postForgedManifest(harness: ArchiveHarness, threadId: string): Promise<void> {
	const original = JSON.parse(await readFile(path.join(FIXTURE_DIR, FIXTURE_MANIFEST), 'utf8')) as {
		files: Record<string, { original_name: string; original_size: number; chunks: { name: string; size: number; index: number }[] }>;
		[key: string]: unknown;
	};
	const copies: [string, string][] = [
		['0008-8520ea7e5481-cb406fb615e407d1-0001.bin', '0012-8520ea7e5481-cb406fb615e407d1-0000.bin'],
		['0007-8520ea7e5481-514f003106c1d4f4-0000.bin', '0013-8520ea7e5481-514f003106c1d4f4-0001.bin']
	];
	for (const [from, to] of copies) {
		await harness.transport.uploadFile(threadId, { file: { name: to, data: await readFile(path.join(FIXTURE_DIR, from)) } });
	}
	const files = { ...original.files };
	files['8520ea7e5481'] = {
		...files['8520ea7e5481']!,
		chunks: [
			{ name: copies[0]![1], size: 52510, index: 0 },
			{ name: copies[1]![1], size: 52510, index: 1 }
		]
	};
	files.d0730f7d768a = { ...files.d0730f7d768a!, original_size: 104856, chunks: files.d0730f7d768a!.chunks.slice(0, 2) };
	delete files.e39538e7f27a;
	const forged = { version: '3.1', encrypted: true, encryption_scope: 'chunk', source_folder: 'photos-2025', files };
	// A manifest that passes every check the format allows: only the choice of manifest can refuse it.
	expect(parseLegacyManifest(forged).totals).toMatchObject({ files: 4, chunks: 6 });
	await harness.transport.uploadFile(threadId, { file: { name: forgedName, data: Buffer.from(JSON.stringify(forged)) } });
}

/**
 * The original format authenticates each chunk, not its manifest: anyone who can post in the thread can post a manifest
 * that lists authentic chunks (or renamed copies of them) in another order, fewer, or cut short.
 */
describe('legacy v3.1 archives in a hostile thread', () => {
	let harness: ArchiveHarness;
	let fixture: { cardMessageId: string; threadId: string };

	beforeAll(async () => {
		harness = await startArchiveHarness({
			emulator: { limits: { channelMessagesPerWindow: 1000 } },
			settings: { passphrase: FIXTURE_KEY }
		});
		fixture = await postLegacyFixture(harness, FIXTURE_DIR);
	});

	afterAll(async () => {
		await harness?.close();
	});

	async function restoredHashes(dir: string): Promise<Record<string, string>> {
		const restored: Record<string, string> = {};
		for (const name of await readdir(dir)) {
			restored[name] = createHash('sha256')
				.update(await readFile(path.join(dir, name)))
				.digest('hex');
		}
		return restored;
	}

	it('GIVEN an indexed archive WHEN someone posts a forged manifest and renamed chunk copies THEN the download restores the recorded manifest bit for bit and names the forged one, and a rebuild keeps the pin', async () => {
		const first = await rebuildIndex(harness.context, {}, harness.jobRun());
		expect(first.archives).toMatchObject([{ archiveId: '#241126-07', status: 'complete', chunks: 11, chunksPresent: 11 }]);
		const archive = harness.index.archives.require('#241126-07');
		const originalBytes = await readFile(path.join(FIXTURE_DIR, FIXTURE_MANIFEST));
		const recorded = harness.index.chunks.list(archive.lot, { kind: 'manifest' });
		expect(recorded).toMatchObject([
			{ filename: FIXTURE_MANIFEST, sha256: createHash('sha256').update(originalBytes).digest('hex'), messageId: expect.any(String) }
		]);
		await postForgedManifest(harness, fixture.threadId);

		const result = await downloadArchive(harness.context, { archive: '#241126-07' }, harness.jobRun());
		expect(await restoredHashes(result.restoredTo)).toEqual(await expectedHashes());
		expect(result.notes).toEqual([
			expect.stringContaining('each chunk is authenticated, but its file list (the manifest) is not'),
			expect.stringContaining(forgedName)
		]);
		expect(result.notes?.[0]).toContain('the one the index recorded');

		const again = await rebuildIndex(harness.context, {}, harness.jobRun());
		expect(again.archives).toMatchObject([{ archiveId: '#241126-07', status: 'complete', chunks: 11 }]);
		expect(harness.index.chunks.list(archive.lot, { kind: 'manifest' })).toMatchObject(
			recorded.map(({ messageId, sha256 }) => ({ messageId, sha256 }))
		);
	});

	it('GIVEN the recorded manifest deleted from the thread WHEN downloading THEN it refuses, naming what the thread holds instead, and a rebuild keeps the record', async () => {
		const archive = harness.index.archives.require('#241126-07');
		const recorded = harness.index.chunks.get(archive.lot, { kind: 'manifest', index: 0 })!;
		await harness.transport.deleteMessage(fixture.threadId, recorded.messageId!);
		const error = await downloadArchive(harness.context, { archive: '#241126-07' }, harness.jobRun()).catch((caught: unknown) => caught);
		expect(error).toMatchObject({ code: 'MISSING_CHUNK', message: expect.stringContaining(forgedName) });
		expect((error as Error).message).toContain('is no longer in its thread');

		const rebuilt = await rebuildIndex(harness.context, {}, harness.jobRun());
		expect(rebuilt.skipped).toMatchObject([{ archiveId: '#241126-07', code: 'MISSING_CHUNK' }]);
		expect(harness.index.chunks.get(archive.lot, { kind: 'manifest', index: 0 })).toMatchObject({
			messageId: recorded.messageId,
			sha256: recorded.sha256
		});
	});
});

describe('rebuild past huge legacy manifests', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { passphrase: FIXTURE_KEY } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN a card whose manifest lists 160,000 chunks of one file WHEN the index is rebuilt THEN it is read without a spread over its chunks and the other cards are read too', async () => {
		const fileName = 'huge.bin';
		const fileId = createHash('sha256').update(fileName).digest('hex').slice(0, 12);
		const chunks = Array.from(
			{ length: 160_000 },
			(_, index) => `${index + 1}-data_${fileId}_${'0'.repeat(16)}_${String(index).padStart(4, '0')}.bin`
		);
		const manifest = { version: '2.1', files: { [fileId]: { original_name: fileName, total_size: 160_000 * 1024, chunks } } };
		const card = await harness.transport.postCard(harness.settings.archiveChannelId, {
			content: legacyCardContent({ lot: 8, archive_id: '#241126-08', timestamp: '2024-11-26 03:00:00', status: 'success', file_count: 1 })
		});
		const thread = await harness.transport.startThread({
			channelId: harness.settings.archiveChannelId,
			messageId: card.messageId,
			name: '#241126-08 chunks'
		});
		await harness.transport.uploadFile(thread.id, {
			file: { name: '160001-manifest_030000_241126.json', data: Buffer.from(JSON.stringify(manifest)) }
		});
		// The fixture's thread also gets a forged manifest before the index ever saw it: the earliest posted is recorded.
		const fixture = await postLegacyFixture(harness, FIXTURE_DIR);
		await postForgedManifest(harness, fixture.threadId);

		const rebuilt = await rebuildIndex(harness.context, {}, harness.jobRun());
		expect(rebuilt.skipped).toEqual([]);
		expect(harness.index.chunks.get(7, { kind: 'manifest', index: 0 })).toMatchObject({ filename: FIXTURE_MANIFEST });
		expect(harness.logLines).toContainEqual(
			expect.objectContaining({
				level: 'warn',
				fields: expect.objectContaining({ archiveId: '#241126-07', others: [expect.objectContaining({ file: forgedName })] })
			})
		);
		expect(rebuilt.archives.map((archive) => [archive.archiveId, archive.status, archive.chunks])).toEqual(
			expect.arrayContaining([
				['#241126-08', 'failed', 160_000],
				['#241126-07', 'complete', 11]
			])
		);
		expect(harness.index.entries.list(8, { limit: 10 })).toMatchObject([{ path: fileName, firstChunk: 0, lastChunk: 159_999 }]);
	});
});
