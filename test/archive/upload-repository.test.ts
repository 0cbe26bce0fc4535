import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchiveContext } from '../../src/archive/context.js';
import { downloadArchive } from '../../src/archive/download.js';
import { planUpload, uploadArchive, type UploadResult } from '../../src/archive/upload.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { MIN_PACK_SIZE } from '../../src/core/index.js';
import { VerificationLevel } from '../../src/db/index.js';
import type { ArchiveTransport } from '../../src/discord/index.js';
import { type ArchiveHarness, randomContent, startArchiveHarness, threadFiles } from './support/harness.js';
import { treeDigest } from '../support/tree.js';

/**
 * Format 2 uploads into the archive channel's repository, end to end against the emulator: packs posted two to a
 * message and accounted for in SQLite, only new blobs posted by later archives, the manifest last, downloads and full
 * verification from the packs of whichever thread holds them, and a lost answer on a pack post adopted, not reposted.
 */

let h: ArchiveHarness;
let source: string;
let tempRoot: string;

beforeAll(async () => {
	tempRoot = await mkdtemp(path.join(tmpdir(), 'dos-f2-staging-'));
	h = await startArchiveHarness({
		emulator: { limits: { channelMessagesPerWindow: 1000 } },
		withLogChannel: true,
		settings: { format: 2, packSize: MIN_PACK_SIZE, packsPerMessage: 2, compression: 'gzip-1', tempRoot }
	});
	// About 11 MiB of incompressible bytes (three packs of the smallest size at least) and a few small files.
	source = await h.writeTree('photos', {
		'big/a.bin': randomContent(5 * 1024 * 1024, 'a'),
		'big/b.bin': randomContent(4 * 1024 * 1024, 'b'),
		'big/c.bin': randomContent(2 * 1024 * 1024, 'c'),
		'notes/readme.txt': 'hello repository\n'.repeat(100),
		'notes/empty.txt': '',
		link: { symlink: 'notes/readme.txt' }
	});
});

afterAll(async () => {
	await h.close();
	await rm(tempRoot, { recursive: true, force: true });
});

async function upload(folder: string, context: ArchiveContext = h.context): Promise<UploadResult> {
	const planned = await planUpload(context, { folder });
	expect(planned.format).toBe(2);
	const result = await uploadArchive(context, planned, h.jobRun());
	// Staged packs are removed once stored, and the staging folder with them.
	expect(await readdir(tempRoot)).toEqual([]);
	return result;
}

/**
 * The harness's context with a transport that arms `arm` right before the first message of files is posted (a pack:
 * the card and the thread are made before), so that a fault hits a pack post and nothing earlier.
 */
function armedBeforeFirstPost(arm: () => void): ArchiveContext {
	let armed = false;
	const transport = new Proxy(h.transport, {
		get(target, property) {
			if (property === 'postChunk')
				return (input: Parameters<ArchiveTransport['postChunk']>[0]) => {
					if (!armed) {
						armed = true;
						arm();
					}
					return target.postChunk(input);
				};
			const value: unknown = Reflect.get(target, property);
			return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
		}
	});
	return { ...h.context, transport };
}

/** Downloads an archive through the service's download job and checks it is byte-identical to `expected`. */
async function expectDownloadEquals(archiveId: string, expected: string): Promise<void> {
	const result = await downloadArchive(h.context, { archive: archiveId }, h.jobRun());
	expect(result.complete).toBe(true);
	expect(await treeDigest(result.restoredTo)).toEqual(await treeDigest(expected));
}

/** Every pack attachment of the emulator's threads, by pack file name, with how many messages hold it. */
function packCensus(threadIds: readonly string[]): Map<string, number> {
	const census = new Map<string, number>();
	for (const threadId of threadIds)
		for (const file of threadFiles(h.emulator, threadId))
			if (file.filename.endsWith('.pack')) census.set(file.filename, (census.get(file.filename) ?? 0) + 1);
	return census;
}

describe('format 2 upload (DOS_FORMAT=2)', () => {
	const threads: string[] = [];
	let first: UploadResult;

	it('GIVEN a folder WHEN uploaded THEN its packs go two to a message, each recorded stored, the manifest last, and it downloads byte-identical', async () => {
		first = await upload('photos');
		threads.push(first.threadId);
		const archive = h.index.archives.require(first.lot);
		expect(archive.status).toBe('complete');
		expect(archive.format).toBe('dos-2');
		expect(first.packsPosted).toBeGreaterThanOrEqual(3);
		expect(first.newBytes).toBe(11 * 1024 * 1024 + 'hello repository\n'.length * 100);
		expect(first.reusedBytes).toBe(0);
		const packs = h.index.packs.list(first.lot);
		expect(packs).toHaveLength(first.packsPosted!);
		for (const pack of packs) {
			expect(pack.state).toBe('stored');
			expect(pack.messageId).toMatch(/^\d{17,20}$/);
			expect(pack.attachmentId).toMatch(/^\d{17,20}$/);
		}
		// Two packs per message (the last may carry one), each pack exactly once in the thread, the manifest after them.
		const messages = h.emulator.messages(first.threadId).filter((message) => message.attachments.length > 0);
		const packMessages = messages.filter((message) => message.attachments.every((attachment) => attachment.filename.endsWith('.pack')));
		expect(packMessages.map((message) => message.attachments.length)).toEqual(
			Array.from({ length: Math.ceil(packs.length / 2) }, (_, index) => Math.min(2, packs.length - index * 2))
		);
		expect(messages.at(-1)!.attachments[0]!.filename).toMatch(/\.m2\.0000\.bin$/);
		expect([...packCensus(threads).values()].every((count) => count === 1)).toBe(true);
		expect(packCensus(threads).size).toBe(packs.length);
		expect(h.index.packs.countReferences(first.lot)).toBeGreaterThanOrEqual(4);
		// Stored bytes: its packs and its manifest parts, as posted (recording the plan after the packs keeps them).
		const manifestBytes = h.index.chunks.list(first.lot).reduce((sum, part) => sum + (part.storedSize ?? 0), 0);
		expect(manifestBytes).toBeGreaterThan(0);
		expect(archive.storedBytes).toBe(packs.reduce((sum, pack) => sum + pack.size, 0) + manifestBytes);
		expect(first.storedBytes).toBe(archive.storedBytes);
		await expectDownloadEquals(first.archiveId, source);
		const verified = await verifyArchive(h.context, { archive: first.archiveId, level: VerificationLevel.Full }, h.jobRun());
		expect(verified.ok).toBe(true);
		expect(verified.filesChecked).toBe(5);
		expect(verified.summary).toMatch(/packs/);
		const quick = await verifyArchive(h.context, { archive: first.archiveId, level: VerificationLevel.Quick }, h.jobRun());
		expect(quick.ok).toBe(true);
	});

	it('GIVEN the same folder uploaded again WHEN it completes THEN it posts no pack, says 0 B new on its card, and downloads byte-identical from the first thread', async () => {
		const second = await upload('photos');
		threads.push(second.threadId);
		expect(second.packsPosted).toBe(0);
		expect(second.newBytes).toBe(0);
		expect(second.reusedBytes).toBe(first.newBytes);
		expect(h.index.packs.list(second.lot)).toEqual([]);
		// Only the manifest went into its thread.
		const files = threadFiles(h.emulator, second.threadId);
		expect(files.map((file) => file.filename)).toEqual([expect.stringMatching(/\.m2\.0000\.bin$/)]);
		const card = h.emulator.messages(h.archiveChannelId).find((message) => message.id === second.cardMessageId);
		expect(JSON.stringify(card?.embeds)).toContain('0 B new');
		expect(h.emulator.messages(h.logChannelId).at(-1)?.content).toMatch(
			new RegExp(`${second.archiveId} uploaded: 5 files, .* · 0 B new, .* reused, 0 packs posted`)
		);
		await expectDownloadEquals(second.archiveId, source);
	});

	it('GIVEN one file changed WHEN uploaded again THEN only its new blobs are posted', async () => {
		await writeFile(path.join(source, 'big/c.bin'), randomContent(2 * 1024 * 1024, 'c-changed'));
		const third = await upload('photos');
		threads.push(third.threadId);
		expect(third.newBytes).toBe(2 * 1024 * 1024);
		expect(third.reusedBytes).toBe(9 * 1024 * 1024 + 'hello repository\n'.length * 100);
		expect(third.packsPosted).toBe(1);
		expect([...packCensus(threads).values()].every((count) => count === 1)).toBe(true);
		await expectDownloadEquals(third.archiveId, source);
	});

	it('GIVEN the answer to a pack post lost after Discord stored it WHEN uploading THEN the pack is adopted, not posted twice, and the archive completes', async () => {
		await writeFile(path.join(source, 'big/d.bin'), randomContent(3 * 1024 * 1024, 'd'));
		h.emulator.resetStats();
		const fourth = await upload(
			'photos',
			armedBeforeFirstPost(() => {
				h.emulator.faults.set({ dropAfterCommitNext: 1, routes: ['POST /channels/:channel/messages'] });
			})
		);
		h.emulator.faults.reset();
		threads.push(fourth.threadId);
		expect(h.emulator.stats().faultsInjected.dropAfterCommit).toBeGreaterThanOrEqual(1);
		expect(h.index.archives.require(fourth.lot).status).toBe('complete');
		expect(fourth.packsPosted).toBeGreaterThanOrEqual(1);
		expect([...packCensus(threads).values()].every((count) => count === 1)).toBe(true);
		for (const pack of h.index.packs.list(fourth.lot)) expect(pack.state).toBe('stored');
		await expectDownloadEquals(fourth.archiveId, source);
	});
});
