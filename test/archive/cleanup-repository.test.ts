import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupArchive } from '../../src/archive/cleanup.js';
import { planRepositoryCleanup } from '../../src/archive/cleanup-repository.js';
import type { ArchiveContext } from '../../src/archive/context.js';
import { downloadArchive } from '../../src/archive/download.js';
import { planUpload, uploadArchive, type UploadResult } from '../../src/archive/upload.js';
import { MIN_PACK_SIZE } from '../../src/core/index.js';
import type { PackRecord } from '../../src/db/index.js';
import { type ArchiveHarness, randomContent, startArchiveHarness } from './support/harness.js';
import { treeDigest } from '../support/tree.js';

/**
 * Reference-aware cleanup of format 2 archives against the emulator and SQLite: a pack goes only when no live archive
 * references a blob it holds, a message only when all its packs go, a thread only when none of its packs is needed;
 * only recorded messages are deleted from a thread that stays; a cleanup stopped midway is finished by a second run
 * and never leaves the index offering a blob Discord no longer has.
 */

let h: ArchiveHarness;
let tempRoot: string;

beforeAll(async () => {
	tempRoot = await mkdtemp(path.join(tmpdir(), 'dos-f2-cleanup-'));
	h = await startArchiveHarness({
		emulator: { limits: { channelMessagesPerWindow: 1000 } },
		settings: { format: 2, packSize: MIN_PACK_SIZE, packsPerMessage: 2, compression: 'gzip-1', tempRoot }
	});
});

afterAll(async () => {
	await h.close();
	await rm(tempRoot, { recursive: true, force: true });
});

async function upload(folder: string): Promise<UploadResult> {
	const planned = await planUpload(h.context, { folder });
	return uploadArchive(h.context, planned, h.jobRun());
}

async function expectDownloadEquals(archiveId: string, expected: string): Promise<void> {
	const result = await downloadArchive(h.context, { archive: archiveId }, h.jobRun());
	expect(result.complete).toBe(true);
	expect(await treeDigest(result.restoredTo)).toEqual(await treeDigest(expected));
}

function threadExists(threadId: string): boolean {
	return h.emulator.state().channels.some((channel) => channel.id === threadId);
}

function messageIds(threadId: string): Set<string> {
	return threadExists(threadId) ? new Set(h.emulator.messages(threadId).map((message) => message.id)) : new Set();
}

/** Every blob id of the packs given, from the index (read before their rows go). */
function blobsOf(packs: readonly PackRecord[]): Set<string> {
	const ids = new Set<string>();
	const wanted = new Set(packs.map((pack) => pack.id));
	for (const id of h.index.packs.knownBlobs(h.archiveChannelId)) {
		const place = h.index.packs.locate(h.archiveChannelId, [id]).get(id);
		if (place !== undefined && wanted.has(place.pack.id)) ids.add(id);
	}
	return ids;
}

/** Every known blob is in a pack whose message is still on Discord: the invariant a crash must never break. */
function expectNoDanglingKnownBlob(): void {
	const known = [...h.index.packs.knownBlobs(h.archiveChannelId)];
	for (const [id, place] of h.index.packs.locate(h.archiveChannelId, known)) {
		expect(messageIds(place.pack.threadId).has(place.pack.messageId!), `blob ${id} is offered but its message is gone`).toBe(true);
	}
}

/** The harness's context whose transport aborts `controller` right after the first thread or message it deletes. */
function abortingAfterFirstDelete(controller: AbortController): ArchiveContext {
	const transport = new Proxy(h.transport, {
		get(target, property) {
			if (property === 'deleteThread' || property === 'deleteMessage')
				return async (...args: unknown[]) => {
					const done: unknown = await (Reflect.get(target, property) as (...a: unknown[]) => Promise<unknown>).apply(target, args);
					controller.abort();
					return done;
				};
			const value: unknown = Reflect.get(target, property);
			return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
		}
	});
	return { ...h.context, transport };
}

describe('cleanup of format 2 archives', () => {
	let source: string;
	let a: UploadResult;
	let b: UploadResult;
	let c: UploadResult;
	let attackerMessageId: string;

	it('GIVEN A, B the same folder again and C with one file changed WHEN A is cleaned up THEN its packs and thread stay for B and C, its manifest goes, and both download byte-identical', async () => {
		source = await h.writeTree('photos', {
			'big/a.bin': randomContent(5 * 1024 * 1024, 'a'),
			'big/c.bin': randomContent(2 * 1024 * 1024, 'c'),
			'notes/readme.txt': 'hello repository\n'.repeat(100)
		});
		a = await upload('photos');
		b = await upload('photos');
		await writeFile(path.join(source, 'big/c.bin'), randomContent(2 * 1024 * 1024, 'c-changed'));
		c = await upload('photos');
		expect(b.packsPosted).toBe(0);
		expect(c.packsPosted).toBeGreaterThanOrEqual(1);
		const aPacks = h.index.packs.list(a.lot);

		// The confirmation: nothing goes, the thread stays, B and C keep it.
		const preview = planRepositoryCleanup(h.context, h.index.archives.require(a.lot));
		expect(preview).toMatchObject({
			packsDeleted: 0,
			bytesDeleted: 0,
			threadKept: true,
			threadsDeleted: [],
			keptBy: [b.archiveId, c.archiveId],
			keptByCount: 2
		});
		expect(preview.packsKept).toBe(aPacks.length);
		expect(h.index.archives.require(a.lot).status).toBe('complete');

		// Someone with the thread's rights posts a file named like one of A's packs into A's thread.
		h.emulator.unarchiveThreadAs(a.threadId, 'owner');
		attackerMessageId = (
			await h.emulator.postAs(a.threadId, 'owner', 'not ours', [
				{ name: `${aPacks[0]!.name}.pack`, data: Buffer.from('forged').toString('base64') }
			])
		).id;

		const manifestParts = h.index.chunks.list(a.lot, { kind: 'manifest' }).map((part) => part.messageId!);
		const result = await cleanupArchive(h.context, { archive: a.archiveId }, h.jobRun());
		expect(result).toMatchObject({ threadDeleted: false, alreadyDeleted: false, cardUpdated: true });
		expect(result.repository).toMatchObject({ packsDeleted: 0, threadKept: true, keptBy: [b.archiveId, c.archiveId] });
		expect(h.index.archives.require(a.lot).status).toBe('deleted');
		expect(threadExists(a.threadId)).toBe(true);
		const left = messageIds(a.threadId);
		for (const pack of aPacks) expect(left.has(pack.messageId!)).toBe(true);
		for (const part of manifestParts) expect(left.has(part)).toBe(false);
		expect(left.has(attackerMessageId)).toBe(true);
		expect(h.index.packs.list(a.lot).map((pack) => pack.state)).toEqual(aPacks.map(() => 'stored'));
		await expectDownloadEquals(b.archiveId, await bSnapshot());
		await expectDownloadEquals(c.archiveId, source);
		expectNoDanglingKnownBlob();
	});

	/** B's tree: the folder before c.bin changed. */
	async function bSnapshot(): Promise<string> {
		return h.writeTree('photos-b', {
			'big/a.bin': randomContent(5 * 1024 * 1024, 'a'),
			'big/c.bin': randomContent(2 * 1024 * 1024, 'c'),
			'notes/readme.txt': 'hello repository\n'.repeat(100)
		});
	}

	it("GIVEN A deleted WHEN B is cleaned up THEN B's thread goes, A's packs only the old c.bin needed go with their messages, and C still downloads byte-identical", async () => {
		const aPacks = h.index.packs.list(a.lot);
		const preview = planRepositoryCleanup(h.context, h.index.archives.require(b.lot));
		expect(preview.keptBy).toEqual([c.archiveId]);
		expect(preview.threadsDeleted).toContain(b.archiveId);
		const result = await cleanupArchive(h.context, { archive: b.archiveId }, h.jobRun());
		expect(result).toMatchObject({ threadDeleted: true });
		expect(result.repository).toMatchObject({ packsDeleted: preview.packsDeleted, packsKept: preview.packsKept, keptBy: [c.archiveId] });
		expect(threadExists(b.threadId)).toBe(false);
		// What stays in the index is exactly what stays on Discord.
		const kept = new Set(h.index.packs.list(a.lot).map((pack) => pack.id));
		const left = messageIds(a.threadId);
		for (const pack of aPacks) expect(left.has(pack.messageId!)).toBe(kept.has(pack.id));
		expect(kept.size).toBe(preview.packsKept);
		await expectDownloadEquals(c.archiveId, source);
		expectNoDanglingKnownBlob();
	});

	it('GIVEN C cleaned up with a stop right after its first deletion WHEN run again THEN everything goes: both threads, every pack row, no known blob left', async () => {
		const controller = new AbortController();
		const stopped = await cleanupArchive(
			abortingAfterFirstDelete(controller),
			{ archive: c.archiveId },
			h.jobRun({ signal: controller.signal })
		).catch((error: unknown) => error);
		expect(stopped).toMatchObject({ code: 'ABORTED' });
		expect(h.index.archives.require(c.lot).status).toBe('deleted');
		// Stopped midway: whatever is still recorded is either stored on Discord or `deleting` (never offered).
		expectNoDanglingKnownBlob();
		const again = await cleanupArchive(h.context, { archive: c.archiveId }, h.jobRun());
		expect(again).toMatchObject({ alreadyDeleted: true });
		expect(threadExists(a.threadId)).toBe(false);
		expect(threadExists(c.threadId)).toBe(false);
		expect(h.index.packs.list(a.lot)).toEqual([]);
		expect(h.index.packs.list(c.lot)).toEqual([]);
		expect(h.index.packs.knownBlobs(h.archiveChannelId)).toEqual(new Set());
		// The foreign message went with A's thread, as every message of a deleted thread does for format 1.
		expect(messageIds(a.threadId).has(attackerMessageId)).toBe(false);
	});

	it('GIVEN an archive whose one pack holds a blob another archive reuses WHEN cleaned up THEN only whole unneeded messages go, the message shared with the needed pack stays with its thread, and a foreign message stays', async () => {
		await h.writeTree('mixed', {
			'x.bin': randomContent(13 * 1024 * 1024, 'x'),
			'y.txt': 'kept by another archive\n'.repeat(50)
		});
		const keeper = await h.writeTree('keeper', { 'y.txt': 'kept by another archive\n'.repeat(50) });
		const e = await upload('mixed');
		const d = await upload('keeper');
		expect(d.packsPosted).toBe(0);
		const ePacks = h.index.packs.list(e.lot);
		const planned = h.index.packs.planCleanup(h.archiveChannelId, e.lot);
		// The pack holding y.txt's blob and the one sharing its message: one needed, one not.
		expect(planned).toMatchObject({ keptUnneeded: 1 });
		const yPack = planned.kept[0];
		const partners = ePacks.filter((pack) => pack.messageId === yPack!.messageId);
		const doomedMessages = new Set(ePacks.filter((pack) => pack.messageId !== yPack!.messageId).map((pack) => pack.messageId!));
		expect(doomedMessages.size).toBeGreaterThan(0);
		h.emulator.unarchiveThreadAs(e.threadId, 'owner');
		const foreign = await h.emulator.postAsUser(e.threadId, 'owner', 'a word in the thread');

		const preview = planRepositoryCleanup(h.context, h.index.archives.require(e.lot));
		expect(preview).toMatchObject({ threadKept: true, keptBy: [d.archiveId], packsKept: partners.length });
		expect(preview.packsDeleted).toBe(ePacks.length - partners.length);
		const result = await cleanupArchive(h.context, { archive: e.archiveId }, h.jobRun());
		expect(result).toMatchObject({ threadDeleted: false });
		const left = messageIds(e.threadId);
		expect(left.has(yPack!.messageId!)).toBe(true);
		expect(left.has(foreign.id)).toBe(true);
		for (const messageId of doomedMessages) expect(left.has(messageId)).toBe(false);
		expect(
			h.index.packs
				.list(e.lot)
				.map((pack) => pack.id)
				.sort()
		).toEqual(partners.map((pack) => pack.id).sort());
		// A message of two packs, one needed: both stay, and both stay offered for reuse.
		expect(partners.length).toBe(2);
		for (const pack of partners) for (const id of blobsOf([pack])) expect(h.index.packs.knownBlobs(h.archiveChannelId).has(id)).toBe(true);
		await expectDownloadEquals(d.archiveId, keeper);
		expectNoDanglingKnownBlob();
	});
});
