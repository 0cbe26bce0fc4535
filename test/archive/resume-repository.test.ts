import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchiveContext } from '../../src/archive/context.js';
import { downloadArchive } from '../../src/archive/download.js';
import { isArchiveError } from '../../src/archive/errors.js';
import { resumeArchive } from '../../src/archive/resume.js';
import { ArchiveService } from '../../src/archive/service.js';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import { verifyArchive } from '../../src/archive/verify.js';
import { MIN_PACK_SIZE } from '../../src/core/index.js';
import { ChunkKind, type PackRecord, VerificationLevel } from '../../src/db/index.js';
import {
	DiscordTransport,
	type LiveMessage,
	type OutgoingFile,
	type PageOptions,
	type PostChunkInput,
	type PostedChunk,
	TransportError,
	TransportErrorCode
} from '../../src/discord/index.js';
import type { FaultSettings } from '../../src/emulator/index.js';
import { rejection as caught } from '../support/rejection.js';
import { treeDigest } from '../support/tree.js';
import { type ArchiveHarness, fastRetry, randomContent, startArchiveHarness, stoppingRun, type TreeNode } from './support/harness.js';

/**
 * The resume of interrupted format 2 uploads against the emulator: the thread is reconciled first (packs in flight
 * that landed are recorded stored, those that did not are forgotten, a look-alike by anyone else is never taken for
 * the archive's), then only what is missing is posted, each pack exactly once in the thread, and the archive downloads
 * byte-identical and verifies.
 */

let h: ArchiveHarness;
let tempRoot: string;
const extraTransports: DiscordTransport[] = [];

beforeAll(async () => {
	tempRoot = await mkdtemp(path.join(tmpdir(), 'dos-f2-resume-'));
	h = await startArchiveHarness({
		emulator: { limits: { channelMessagesPerWindow: 1000 } },
		withLogChannel: true,
		settings: { format: 2, packSize: MIN_PACK_SIZE, packsPerMessage: 2, compression: 'gzip-1', tempRoot }
	});
});

afterAll(async () => {
	for (const transport of extraTransports) transport.close();
	await h.close();
	await rm(tempRoot, { recursive: true, force: true });
});

/** About 9 MiB of incompressible bytes (three packs of the smallest size: two messages) and a few small entries. */
function tree(seed: string): Record<string, TreeNode> {
	return {
		'big/a.bin': randomContent(5 * 1024 * 1024, `${seed}-a`),
		'big/b.bin': randomContent(4 * 1024 * 1024, `${seed}-b`),
		'notes/readme.txt': `hello ${seed}\n`.repeat(100),
		'notes/empty.txt': '',
		link: { symlink: 'notes/readme.txt' },
		'empty-folder': { dir: true }
	};
}

const fileBytes = (seed: string) => 9 * 1024 * 1024 + `hello ${seed}\n`.length * 100;

/**
 * A transport of its own for one upload, whose first chunk post that `when` picks meets `faults` (on message posts
 * only), with one try and no REST retry, so the fault is final; with `breakSearch`, the look for a post that landed
 * fails too, as when the network stays down: the upload stops with the post's fate unknown to the index.
 */
/** The bytes of an outgoing file: in memory, or read from its staged file. */
async function bytesOf(file: OutgoingFile): Promise<Buffer> {
	return 'data' in file ? Buffer.from(file.data) : readFile(file.path);
}

class FaultyPostTransport extends DiscordTransport {
	/** The files of the post that met the fault, with their bytes as they were when it was sent. */
	public sent: readonly { readonly name: string; readonly data: Buffer }[] = [];
	#armed = true;
	#searchBroken = false;
	readonly #when: (input: PostChunkInput) => boolean;
	readonly #faults: Partial<FaultSettings>;
	readonly #breakSearch: boolean;

	public constructor(when: (input: PostChunkInput) => boolean, faults: Partial<FaultSettings>, breakSearch: boolean) {
		super({
			token: h.emulator.token,
			apiUrl: h.emulator.apiUrl,
			globalRequestsPerSecond: 1000,
			retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
			restRetries: 0,
			downloadRetry: fastRetry,
			threadCapRetry: fastRetry
		});
		this.#when = when;
		this.#faults = faults;
		this.#breakSearch = breakSearch;
		extraTransports.push(this);
	}

	public override async postChunk(input: PostChunkInput): Promise<PostedChunk> {
		if (!this.#armed || !this.#when(input)) return super.postChunk(input);
		this.#armed = false;
		this.sent = await Promise.all(input.files.map(async (file) => ({ name: file.name, data: await bytesOf(file) })));
		h.emulator.faults.set({ ...this.#faults, routes: ['POST /channels/:channel/messages'] });
		this.#searchBroken = this.#breakSearch;
		try {
			return await super.postChunk(input);
		} finally {
			this.#searchBroken = false;
			h.emulator.faults.reset();
		}
	}

	public override recentMessages(channelId: string, options: PageOptions & { readonly limit?: number } = {}): Promise<LiveMessage[]> {
		if (this.#searchBroken) return Promise.reject(new TransportError(TransportErrorCode.DiscordUnavailable, 'the network is down'));
		return super.recentMessages(channelId, options);
	}
}

const isPackPost = (input: PostChunkInput) => input.files.every((file) => file.name.endsWith('.pack'));
const isManifestPost = (input: PostChunkInput) => input.files.some((file) => /\.m2\.\d{4}\.bin$/.test(file.name));

/** Uploads `folder` with `context` and a run, expecting it to stop; returns the archive as the index then holds it. */
async function stoppedUpload(folder: string, context: ArchiveContext, run = h.jobRun()) {
	const planned = await planUpload(h.context, { folder });
	expect(planned.format).toBe(2);
	await caught(uploadArchive(context, planned, run));
	const archive = h.index.archives.require(planned.archive.lot);
	expect(archive.status === 'failed' || archive.status === 'cancelled').toBe(true);
	expect(archive.threadId).not.toBeNull();
	return archive;
}

/** Pack attachments the bot's messages in a thread hold, by file name, with how many messages hold each. */
function botPackCensus(threadId: string): Map<string, number> {
	const census = new Map<string, number>();
	for (const message of h.emulator.messages(threadId))
		if (message.author.id === h.emulator.ids.botUserId)
			for (const attachment of message.attachments)
				if (attachment.filename.endsWith('.pack')) census.set(attachment.filename, (census.get(attachment.filename) ?? 0) + 1);
	return census;
}

/**
 * The archive is complete; every pack the index records is stored, and the bot's messages in the thread hold exactly
 * those packs, each once, and one manifest; it downloads byte-identical to `source` and a full verify passes.
 */
async function expectWhole(lot: number, source: string): Promise<PackRecord[]> {
	const archive = h.index.archives.require(lot);
	expect(archive.status).toBe('complete');
	const packs = h.index.packs.list(lot);
	for (const pack of packs) expect(pack.state).toBe('stored');
	const census = botPackCensus(archive.threadId!);
	expect(new Map([...census].sort())).toEqual(new Map(packs.map((pack) => [`${pack.name}.pack`, 1] as const).sort()));
	const manifestMessages = h.emulator
		.messages(archive.threadId!)
		.filter((message) => message.attachments.some((attachment) => attachment.filename.includes('.m2.')));
	expect(manifestMessages).toHaveLength(h.index.chunks.list(lot, { kind: ChunkKind.Manifest }).length);
	const downloaded = await downloadArchive(h.context, { archive: archive.id }, h.jobRun());
	expect(downloaded.complete).toBe(true);
	expect(await treeDigest(downloaded.restoredTo)).toEqual(await treeDigest(source));
	const verified = await verifyArchive(h.context, { archive: archive.id, level: VerificationLevel.Full }, h.jobRun());
	expect(verified.ok).toBe(true);
	// Staged packs never outlive their run.
	expect(await readdir(tempRoot)).toEqual([]);
	return packs;
}

/**
 * The archive's packs hold its incompressible bytes once: what it stored (packs and manifest) is its files' bytes plus
 * sealing overhead, not a second copy of the blobs an earlier run stored.
 */
function expectEachBlobOnce(lot: number, seed: string): void {
	const stored = h.index.archives.require(lot).storedBytes;
	expect(stored).toBeGreaterThan(9 * 1024 * 1024);
	expect(stored).toBeLessThan(fileBytes(seed) + 256 * 1024);
}

describe('resume of a format 2 upload', () => {
	let completeId = '';

	it('GIVEN an upload stopped after its first message of packs WHEN resumed THEN the stored packs are kept, only the rest is posted, each pack once, new bytes count the whole archive, and it downloads byte-identical', async () => {
		const source = await h.writeTree('stopped', tree('stopped'));
		const archive = await stoppedUpload('stopped', h.context, stoppingRun(1));
		expect(archive.status).toBe('cancelled');
		const before = h.index.packs.list(archive.lot).filter((pack) => pack.state === 'stored');
		expect(before.length).toBeGreaterThanOrEqual(1);
		// The card offers Resume for a format 2 archive too.
		const card = h.emulator.messages(h.archiveChannelId).find((message) => message.id === archive.cardMessageId)!;
		expect(JSON.stringify(card.components)).toContain(`archive:resume:${archive.uid}`);

		const result = await resumeArchive(h.context, { archive: archive.id }, h.jobRun());
		expect(result.format).toBe(2);
		const packs = await expectWhole(archive.lot, source);
		expect(result.packsPosted).toBe(packs.length - before.length);
		for (const kept of before) expect(packs.find((pack) => pack.name === kept.name)).toMatchObject({ messageId: kept.messageId });
		// The archive posted every blob it holds (before the stop or after): all new, none reused.
		expect(result.newBytes).toBe(fileBytes('stopped'));
		expect(result.reusedBytes).toBe(0);
		expect(h.index.archives.require(archive.lot)).toMatchObject({ newBytes: fileBytes('stopped'), reusedBytes: 0 });
		expectEachBlobOnce(archive.lot, 'stopped');
		// The resumed run's messages come after the earlier ones, and no two messages share a nonce.
		const firstIndexes = new Set(before.map((pack) => pack.messageIndex));
		for (const pack of packs.filter((candidate) => !before.some((kept) => kept.name === candidate.name)))
			expect(pack.messageIndex).toBeGreaterThan(Math.max(...firstIndexes));
		const nonceOfMessage = new Map(packs.map((pack) => [pack.messageIndex, pack.postNonce]));
		expect(new Set(nonceOfMessage.values()).size).toBe(nonceOfMessage.size);
		expect(h.emulator.messages(h.logChannelId).at(-1)?.content).toContain(`${archive.id} uploaded`);
		completeId = archive.id;
	});

	it('GIVEN a message of packs posted but its answer lost and never found WHEN resumed THEN its packs are recorded stored from the thread, not posted again', async () => {
		const source = await h.writeTree('lost-answer', tree('lost-answer'));
		const faulty = new FaultyPostTransport(isPackPost, { dropAfterCommitNext: 1 }, true);
		h.emulator.resetStats();
		const archive = await stoppedUpload('lost-answer', { ...h.context, transport: faulty });
		expect(h.emulator.stats().faultsInjected.dropAfterCommit).toBe(1);
		expect(archive.errorCode).toBe('DISCORD_UNAVAILABLE');
		const inFlight = h.index.packs.list(archive.lot).filter((pack) => pack.state === 'in_flight');
		expect(inFlight.map((pack) => `${pack.name}.pack`)).toEqual(faulty.sent.map((file) => file.name));
		expect(inFlight).toHaveLength(2);
		// The message is in the thread although the index does not know it.
		expect([...botPackCensus(archive.threadId!).keys()]).toEqual(faulty.sent.map((file) => file.name));

		const result = await resumeArchive(h.context, { archive: archive.id }, h.jobRun());
		expect(result.reconciled.adopted).toEqual(faulty.sent.map((file) => file.name));
		expect(result.reconciled.neverLanded).toEqual([]);
		const packs = await expectWhole(archive.lot, source);
		expect(result.packsPosted).toBe(packs.length - 2);
		expect(result.newBytes).toBe(fileBytes('lost-answer'));
	});

	it('GIVEN a message of packs in flight that never landed, look-alikes of it posted by another bot, a webhook and the bot, and a file changed since WHEN resumed THEN none is taken for the archive: the packs are posted once by the bot and the archive holds the folder as it is now', async () => {
		const source = await h.writeTree('never-landed', tree('never-landed'));
		const faulty = new FaultyPostTransport(isPackPost, { serverErrorNext: 1 }, false);
		const archive = await stoppedUpload('never-landed', { ...h.context, transport: faulty });
		expect(archive.errorCode).toBe('DISCORD_UNAVAILABLE');
		const threadId = archive.threadId!;
		const inFlight = h.index.packs.list(archive.lot).filter((pack) => pack.state === 'in_flight');
		expect(inFlight).toHaveLength(2);
		expect(botPackCensus(threadId).size).toBe(0);
		// Exact copies (names and bytes) by another bot, same names with other bytes by a webhook and by the bot itself.
		const b64 = (data: Uint8Array) => Buffer.from(data).toString('base64');
		await h.transport.setThreadState(threadId, { archived: false, locked: false });
		const copy = await h.emulator.postAs(
			threadId,
			'other-bot',
			'packs',
			faulty.sent.map((file) => ({ name: file.name, data: b64(file.data) }))
		);
		const forged = await h.emulator.postAs(
			threadId,
			'webhook',
			'packs',
			faulty.sent.map((file) => ({ name: file.name, data: b64(randomContent(file.data.byteLength, 'forged')) }))
		);
		const lookalike = await h.transport.postChunk({
			threadId,
			files: faulty.sent.map((file) => ({ name: file.name, data: randomContent(file.data.byteLength, 'lookalike') })),
			content: 'packs',
			nonce: 'lookalike0000000000000000'
		});
		await writeFile(path.join(source, 'notes/readme.txt'), 'changed after the stop\n');

		const result = await resumeArchive(h.context, { archive: archive.id }, h.jobRun());
		expect(result.reconciled.adopted).toEqual([]);
		expect(result.reconciled.neverLanded).toEqual(faulty.sent.map((file) => file.name));
		expect(h.index.archives.require(archive.lot).status).toBe('complete');
		const packs = h.index.packs.list(archive.lot);
		for (const foreign of [copy.id, forged.id, lookalike.messageId]) expect(packs.some((pack) => pack.messageId === foreign)).toBe(false);
		for (const file of faulty.sent) expect(packs.some((pack) => `${pack.name}.pack` === file.name)).toBe(false);
		// Nobody's messages were deleted.
		const ids = new Set(h.emulator.messages(threadId).map((message) => message.id));
		for (const foreign of [copy.id, forged.id, lookalike.messageId]) expect(ids.has(foreign)).toBe(true);
		// Every pack the archive records is in the thread once; the bot's look-alike holds names the archive forgot.
		const census = botPackCensus(threadId);
		for (const pack of packs) expect(census.get(`${pack.name}.pack`)).toBe(1);
		const downloaded = await downloadArchive(h.context, { archive: archive.id }, h.jobRun());
		expect(await treeDigest(downloaded.restoredTo)).toEqual(await treeDigest(source));
		const verified = await verifyArchive(h.context, { archive: archive.id, level: VerificationLevel.Full }, h.jobRun());
		expect(verified.ok).toBe(true);
		expect(result.newBytes).toBe(9 * 1024 * 1024 + 'changed after the stop\n'.length);
	});

	it('GIVEN the manifest posted but its answer lost WHEN resumed THEN the part is recorded stored from the thread and the archive completes without slicing or posting again', async () => {
		const source = await h.writeTree('lost-manifest', tree('lost-manifest'));
		const faulty = new FaultyPostTransport(isManifestPost, { dropAfterCommitNext: 1 }, true);
		const archive = await stoppedUpload('lost-manifest', { ...h.context, transport: faulty });
		expect(h.index.chunks.list(archive.lot, { kind: ChunkKind.Manifest }).map((part) => part.state)).toEqual(['in_flight']);
		const messagesBefore = h.emulator.messages(archive.threadId!).length;

		const result = await resumeArchive(h.context, { archive: archive.id }, h.jobRun());
		expect(result.reconciled.adopted).toEqual(['m0']);
		expect(result.packsPosted).toBe(0);
		expect(result.manifestParts).toBe(1);
		expect(h.emulator.messages(archive.threadId!)).toHaveLength(messagesBefore);
		await expectWhole(archive.lot, source);
		expect(h.index.archives.require(archive.lot)).toMatchObject({ newBytes: fileBytes('lost-manifest'), reusedBytes: 0 });
	});

	it('GIVEN a stored pack whose message vanished and a manifest part posted but not recorded WHEN resumed THEN the pack is posted again and the old manifest deleted, leaving one of each', async () => {
		const source = await h.writeTree('vanished', tree('vanished'));
		// The manifest's answer lost, then a pack message deleted by a moderator.
		const faulty = new FaultyPostTransport(isManifestPost, { dropAfterCommitNext: 1 }, true);
		const archive = await stoppedUpload('vanished', { ...h.context, transport: faulty });
		const [gone] = h.index.packs.list(archive.lot);
		await h.transport.deleteMessage(archive.threadId!, gone!.messageId!);
		const oldManifest = h.emulator.messages(archive.threadId!).find((message) => message.attachments.some((a) => a.filename.includes('.m2.')))!;

		const result = await resumeArchive(h.context, { archive: archive.id }, h.jobRun());
		expect(result.reconciled.vanished).toEqual(expect.arrayContaining([`${gone!.name}.pack`]));
		expect(result.reconciled.deletedMessages).toContain(oldManifest.id);
		expect(result.packsPosted).toBeGreaterThanOrEqual(1);
		await expectWhole(archive.lot, source);
	});

	it('GIVEN DOS_DEDUP=archive and an upload stopped after its first message WHEN resumed THEN the packs it stored are still its own: not posted again, counted as new', async () => {
		const source = await h.writeTree('self-contained', tree('self-contained'));
		const context: ArchiveContext = { ...h.context, settings: { ...h.settings, dedup: 'archive' } };
		const planned = await planUpload(context, { folder: 'self-contained' });
		await caught(uploadArchive(context, planned, stoppingRun(1)));
		const before = h.index.packs.list(planned.archive.lot).filter((pack) => pack.state === 'stored');
		expect(before.length).toBeGreaterThanOrEqual(1);

		const result = await resumeArchive(context, { archive: planned.archive.id }, h.jobRun());
		const packs = await expectWhole(planned.archive.lot, source);
		expect(result.packsPosted).toBe(packs.length - before.length);
		expect(result.newBytes).toBe(fileBytes('self-contained'));
		expect(result.reusedBytes).toBe(0);
		expectEachBlobOnce(planned.archive.lot, 'self-contained');
	});

	it('GIVEN a complete format 2 archive WHEN a resume is asked THEN it is refused as not resumable', async () => {
		expect(completeId).not.toBe('');
		const error = await caught(resumeArchive(h.context, { archive: completeId }, h.jobRun()));
		expect(isArchiveError(error, 'NOT_RESUMABLE')).toBe(true);
		expect((error as Error).message).toContain('already complete');
		const service = new ArchiveService(h.context);
		try {
			expect(() => service.resume({ archive: completeId })).toThrow(/already complete/);
		} finally {
			await service.shutdown();
		}
	});
});
