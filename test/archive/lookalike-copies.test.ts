import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveContext } from '../../src/archive/context.js';
import { rebuildIndex } from '../../src/archive/rebuild.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { manifestPartFileName, parseStagedName } from '../../src/core/index.js';
import { FIXTURE_DIR, FIXTURE_KEY } from '../core/legacy/legacy-fixture.js';
import { postLegacyFixture, postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, randomContent, startArchiveHarness } from './support/harness.js';

/**
 * A look-alike posted later into a thread — same name, same size, other bytes, by a webhook or another bot — or a
 * later duplicate never replaces the first copy the bot (for legacy archives: the card's author) posted, in a
 * rebuild or a verify, exactly as a download picks it.
 */

const b64 = (data: Uint8Array) => Buffer.from(data).toString('base64');

/**
 * Threads are locked as soon as they are started; a moderator (or another application with Manage Threads) can still
 * reopen one and post. The attacker here is one of those: the thread is opened before each foreign post.
 */
async function postAsForeigner(harness: ArchiveHarness, ...args: Parameters<ArchiveHarness['emulator']['postAs']>) {
	await harness.transport.setThreadState(args[0], { archived: false, locked: false });
	return harness.emulator.postAs(...args);
}

/** The harness's context on an empty index file, as after losing the index: what a rebuild starts from. */
async function freshIndexContext(harness: ArchiveHarness): Promise<ArchiveContext> {
	harness.index.close();
	for (const suffix of ['', '-wal', '-shm']) await rm(`${harness.indexPath}${suffix}`, { force: true });
	return { ...harness.context, index: harness.reopenIndex() };
}

describe('look-alike chunk copies', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { passphrase: FIXTURE_KEY } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN a later duplicate by the bot and a later look-alike by a webhook of a data chunk WHEN the index is rebuilt THEN the first copy is recorded', async () => {
		await harness.writeTree('ours', { 'a.bin': randomContent(20_000, 'ours') });
		const { archive, threadId } = await postTestArchive(harness, 'ours');
		const original = harness.emulator
			.messages(threadId)
			.find((message) => message.attachments.some((attachment) => parseStagedName(attachment.filename)?.kind === 'data'))!;
		const attachment = original.attachments[0]!;
		const bytes = Buffer.from(await (await fetch(attachment.url)).arrayBuffer());
		await harness.transport.unarchiveThread(threadId);
		await harness.transport.uploadFile(threadId, { file: { name: attachment.filename, data: bytes } });
		await postAsForeigner(harness, threadId, 'webhook', 'chunk', [{ name: attachment.filename, data: b64(randomBytes(attachment.size)) }]);

		const context = await freshIndexContext(harness);
		const rebuilt = await rebuildIndex(context, {}, harness.jobRun());
		expect(rebuilt.archives).toMatchObject([{ archiveId: archive.id, depth: 'full' }]);
		const rows = context.index.chunks.list(archive.lot, { kind: 'data' });
		expect(rows[0]).toMatchObject({ messageId: original.id, attachmentId: attachment.id });
	});

	it('GIVEN a legacy archive with a look-alike of one chunk posted later by a webhook WHEN rebuilt and fully verified THEN the original is recorded and verifies', async () => {
		const { threadId } = await postLegacyFixture(harness, FIXTURE_DIR);
		const original = harness.emulator.messages(threadId).find((message) => message.attachments.some((a) => !a.filename.endsWith('.json')))!;
		const attachment = original.attachments[0]!;
		await postAsForeigner(harness, threadId, 'webhook', 'chunk', [{ name: attachment.filename, data: b64(randomBytes(attachment.size)) }]);

		const context = await freshIndexContext(harness);
		await rebuildIndex(context, {}, harness.jobRun());
		const recorded = context.index.chunks.list(7, { kind: 'data' }).find((row) => row.filename === attachment.filename);
		expect(recorded).toMatchObject({ messageId: original.id, attachmentId: attachment.id });
		const verified = await verifyArchive(context, { archive: '#241126-07', level: 'full' }, harness.jobRun());
		expect(verified.chunks).toEqual([]);
		expect(verified.ok).toBe(true);
	});
});

describe('look-alike parts in a rebuild', () => {
	let harness: ArchiveHarness;

	beforeEach(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterEach(async () => {
		await harness?.close();
	});

	it('GIVEN nine look-alike copies of manifest part 0 posted by a webhook after the genuine one WHEN the index is rebuilt THEN the genuine manifest is still opened and the look-alikes are named', async () => {
		await harness.writeTree('crowded', { 'd.bin': randomContent(10_000, 'crowded') });
		const { archive, threadId } = await postTestArchive(harness, 'crowded');
		await harness.transport.unarchiveThread(threadId);
		for (let copy = 0; copy < 9; copy++) {
			const junk = randomBytes(400);
			await postAsForeigner(harness, threadId, 'webhook', 'manifest', [
				{ name: manifestPartFileName(archive.id, 0, createHash('sha256').update(junk).digest('hex')), data: b64(junk) }
			]);
		}
		const context = await freshIndexContext(harness);
		const rebuilt = await rebuildIndex(context, {}, harness.jobRun());
		expect(rebuilt.archives.find((found) => found.archiveId === archive.id)).toMatchObject({ depth: 'full' });
		expect(rebuilt.findings.some((finding) => finding.archiveId === archive.id && finding.code === 'NOT_POSTED_BY_BOT')).toBe(true);
	});

	it('GIVEN no key and a webhook post named like a chunk whose genuine message is gone WHEN the index is rebuilt as skeletons THEN the post is not recorded as that chunk', async () => {
		await harness.writeTree('skeletal', { 'e.bin': randomContent(10_000, 'skeletal') });
		const { archive, threadId } = await postTestArchive(harness, 'skeletal');
		await harness.transport.unarchiveThread(threadId);
		const genuine = harness.emulator
			.messages(threadId)
			.find((message) => message.attachments.some((attachment) => parseStagedName(attachment.filename)?.kind === 'data'))!;
		const attachment = genuine.attachments[0]!;
		await harness.transport.deleteMessage(threadId, genuine.id);
		const planted = await postAsForeigner(harness, threadId, 'webhook', 'chunk', [
			{ name: attachment.filename, data: b64(randomBytes(attachment.size)) }
		]);
		const fresh = await freshIndexContext(harness);
		const context: ArchiveContext = { ...fresh, settings: { ...fresh.settings, passphrase: undefined } };
		const rebuilt = await rebuildIndex(context, {}, harness.jobRun());
		expect(rebuilt.archives.find((found) => found.archiveId === archive.id)).toMatchObject({ depth: 'skeleton' });
		expect(context.index.chunks.list(archive.lot).some((row) => row.messageId === planted.id)).toBe(false);
	});

	it('GIVEN a data chunk whose message is gone and a webhook look-alike of it WHEN the archive is fully verified THEN the chunk is reported missing, the look-alike not checked as it', async () => {
		await harness.writeTree('checked', { 'f.bin': randomContent(10_000, 'checked') });
		const { archive, threadId } = await postTestArchive(harness, 'checked');
		await harness.transport.unarchiveThread(threadId);
		const genuine = harness.emulator
			.messages(threadId)
			.find((message) => message.attachments.some((attachment) => parseStagedName(attachment.filename)?.kind === 'data'))!;
		const attachment = genuine.attachments[0]!;
		await harness.transport.deleteMessage(threadId, genuine.id);
		await postAsForeigner(harness, threadId, 'webhook', 'chunk', [{ name: attachment.filename, data: b64(randomBytes(attachment.size)) }]);
		const verified = await verifyArchive(harness.context, { archive: archive.id, level: 'full' }, harness.jobRun());
		expect(verified.ok).toBe(false);
		expect(verified.chunks).toMatchObject([{ kind: 'data', index: parseStagedName(attachment.filename)!.index, code: 'MISSING_CHUNK' }]);
	});
});
