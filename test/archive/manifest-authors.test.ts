import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadArchive } from '../../src/archive/download.js';
import { openArchiveManifest } from '../../src/archive/thread-manifest.js';
import { listThreadAttachments, threadRefOf } from '../../src/archive/thread-reader.js';
import { manifestPartFileName, parseStagedName } from '../../src/core/index.js';
import { postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, randomContent, startArchiveHarness } from './support/harness.js';

/**
 * Anyone who can post in an archive thread — a member, another bot, a webhook — can post attachments named like its
 * manifest parts. Only the bot's own posts are read; oversized files and absurd part indexes are left out before any
 * byte is fetched; everything left out is reported, and the archive still opens. A part counts as known intact only
 * when it matches the sha256 the index recorded, never the hash its name (chosen by the poster) carries.
 */

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const b64 = (data: Uint8Array) => Buffer.from(data).toString('base64');

/**
 * Threads are locked as soon as they are started; a moderator (or another application with Manage Threads) can still
 * reopen one and post. The attacker here is one of those: the thread is opened before each foreign post.
 */
async function postAsForeigner(harness: ArchiveHarness, ...args: Parameters<ArchiveHarness['emulator']['postAs']>) {
	await harness.transport.setThreadState(args[0], { archived: false, locked: false });
	return harness.emulator.postAs(...args);
}

describe('manifest parts posted by others', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN a webhook posted look-alike manifest parts WHEN the archive is downloaded THEN they are ignored and reported, and the files come back', async () => {
		await harness.writeTree('hooked', { 'a.bin': randomContent(20_000, 'hooked') });
		const { archive, threadId } = await postTestArchive(harness, 'hooked');
		const junk = randomBytes(300);
		// While an upload runs (or was left unfinished) its thread is open to whoever may post in the channel.
		await harness.transport.unarchiveThread(threadId);
		for (const index of [0, 3]) {
			await postAsForeigner(harness, threadId, 'webhook', 'manifest', [
				{ name: manifestPartFileName(archive.id, index, sha256(junk)), data: b64(junk) }
			]);
		}
		const result = await downloadArchive(harness.context, { archive: archive.id }, harness.jobRun());
		expect(result.files).toBe(1);
		const listed = await listThreadAttachments(harness.context, threadRefOf(archive));
		const opened = await openArchiveManifest(harness.context, threadRefOf(archive), listed, harness.jobRun());
		expect(opened.ignored).toHaveLength(2);
		expect(opened.ignored.every((entry) => entry.reason === 'not posted by the bot')).toBe(true);
		expect(harness.logLines.some((line) => line.message === 'attachments named like manifest parts were ignored')).toBe(true);
	});

	it('GIVEN a manifest-named file with an absurd part index or over the size a part can have WHEN the manifest is opened THEN it is left out before being fetched, and the archive opens', async () => {
		await harness.writeTree('stuffed', { 'b.bin': randomContent(20_000, 'stuffed') });
		const { archive, threadId } = await postTestArchive(harness, 'stuffed');
		const small = randomBytes(200);
		const big = randomBytes(100_000);
		await harness.transport.uploadFile(threadId, { file: { name: manifestPartFileName(archive.id, 500, sha256(small)), data: small } });
		await harness.transport.uploadFile(threadId, { file: { name: manifestPartFileName(archive.id, 1, sha256(big)), data: big } });
		const context = { ...harness.context, settings: { ...harness.context.settings, attachmentLimit: 70_000 } };
		const listed = await listThreadAttachments(context, threadRefOf(archive));
		const opened = await openArchiveManifest(context, threadRefOf(archive), listed, harness.jobRun());
		expect(opened.manifest.id).toBe(archive.id);
		expect(opened.fetched).toBe(1);
		expect(opened.ignored.map((entry) => entry.reason)).toEqual([
			expect.stringContaining('beyond the 64 parts'),
			expect.stringContaining('more than a manifest part can hold')
		]);
	});
});

describe('which manifest part counts as intact', () => {
	let harness: ArchiveHarness;

	beforeAll(async () => {
		// A tiny chunk size splits the manifest into several parts.
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { chunkSize: 512 } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN one manifest part replaced by a damaged copy whose name carries its own hash WHEN the archive is downloaded THEN it is reported as damaged (TAMPERED_CHUNK), not as a wrong key', async () => {
		const tree: Record<string, Uint8Array> = {};
		for (let file = 0; file < 40; file++) tree[`f${file}.bin`] = randomContent(50, `parts-${file}`);
		await harness.writeTree('parts', tree);
		const { archive, threadId } = await postTestArchive(harness, 'parts');
		const parts = harness.emulator
			.messages(threadId)
			.flatMap((message) => message.attachments.map((attachment) => ({ message, attachment })))
			.filter(({ attachment }) => parseStagedName(attachment.filename)?.kind === 'manifest');
		expect(parts.length).toBeGreaterThan(1);
		const target = parts.find(({ attachment }) => parseStagedName(attachment.filename)!.index === 1)!;
		const bytes = Buffer.from(await (await fetch(target.attachment.url)).arrayBuffer());
		bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
		await harness.transport.deleteMessage(threadId, target.message.id);
		await harness.transport.uploadFile(threadId, { file: { name: manifestPartFileName(archive.id, 1, sha256(bytes)), data: bytes } });
		await expect(downloadArchive(harness.context, { archive: archive.id }, harness.jobRun())).rejects.toMatchObject({ code: 'TAMPERED_CHUNK' });
	});
});
