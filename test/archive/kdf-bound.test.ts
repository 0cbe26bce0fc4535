import { createHash } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { ArchiveContext } from '../../src/archive/context.js';
import { rebuildIndex } from '../../src/archive/rebuild.js';
import { KDF_CHANNEL, type KdfEvent, manifestPartFileName, parseStagedName } from '../../src/core/index.js';
import { postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, randomContent, startArchiveHarness, testKdfIterations } from './support/harness.js';

/**
 * The PBKDF2 count of a manifest part comes from its header, which is not authenticated, and may ask for up to 10M
 * iterations. Someone who can post in a thread must not make a rebuild spin: a count other than the recorded one is
 * refused before deriving, and the key is derived once per salt and count however many candidate sets are tried.
 */

let harness: ArchiveHarness | undefined;
let derived: number[] = [];
const listener = (message: unknown) => derived.push((message as KdfEvent).iterations);
afterEach(async () => {
	unsubscribe(KDF_CHANNEL, listener);
	await harness?.close();
	harness = undefined;
});

/** Re-posts every manifest part of the thread, changed by `change`, renamed so the hash in its name matches; `replace` deletes the original. */
async function repostManifestParts(h: ArchiveHarness, archiveId: string, threadId: string, change: (bytes: Buffer) => void, replace: boolean) {
	const parts = h.emulator
		.messages(threadId)
		.flatMap((message) => message.attachments.map((attachment) => ({ message, attachment })))
		.filter(({ attachment }) => parseStagedName(attachment.filename)?.kind === 'manifest');
	expect(parts.length).toBeGreaterThan(0);
	for (const { message, attachment } of parts) {
		const bytes = Buffer.from(await (await fetch(attachment.url)).arrayBuffer());
		change(bytes);
		const sha256 = createHash('sha256').update(bytes).digest('hex');
		const index = parseStagedName(attachment.filename)!.index;
		if (replace) await h.transport.deleteMessage(threadId, message.id);
		await h.transport.uploadFile(threadId, { file: { name: manifestPartFileName(archiveId, index, sha256), data: bytes } });
	}
}

describe('PBKDF2 cost of a rebuild', () => {
	it('GIVEN manifest parts whose header asks for another PBKDF2 count than the index records WHEN the index is rebuilt THEN that count is never derived', async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
		await harness.writeTree('forged', { 'a.bin': randomContent(20_000, 'kdf') });
		const { archive, threadId } = await postTestArchive(harness, 'forged');
		expect(archive.kdfIterations).toBe(testKdfIterations);
		await repostManifestParts(harness, archive.id, threadId, (bytes) => bytes.writeUInt32BE(testKdfIterations * 5, 8), true);

		derived = [];
		subscribe(KDF_CHANNEL, listener);
		const rebuilt = await rebuildIndex(harness.context, {}, harness.jobRun());
		expect(derived).not.toContain(testKdfIterations * 5);
		expect(rebuilt.archives).toEqual([expect.objectContaining({ archiveId: archive.id })]);
	});

	it('GIVEN a damaged newer copy of a manifest part WHEN the index is rebuilt from scratch THEN both candidate sets are tried with one key derivation and the archive comes back in full', async () => {
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
		const h = harness;
		await h.writeTree('damaged', { 'a.bin': randomContent(20_000, 'kdf2') });
		const { archive, threadId } = await postTestArchive(h, 'damaged');
		await repostManifestParts(h, archive.id, threadId, (bytes) => (bytes[bytes.length - 1]! ^= 0xff), false);
		h.index.close();
		for (const suffix of ['', '-wal', '-shm']) await rm(`${h.indexPath}${suffix}`, { force: true });
		const context: ArchiveContext = { ...h.context, index: h.reopenIndex() };

		derived = [];
		subscribe(KDF_CHANNEL, listener);
		const rebuilt = await rebuildIndex(context, {}, h.jobRun());
		expect(rebuilt.archives).toEqual([expect.objectContaining({ archiveId: archive.id, depth: 'full' })]);
		expect(derived).toEqual([testKdfIterations]);
	});
});
