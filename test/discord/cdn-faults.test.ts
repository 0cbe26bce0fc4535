import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TransportErrorCode, isTransportError, type AttachmentLocation, type TransportError } from '../../src/discord/index.js';
import { startFixture, type EmulatorFixture, type EmulatorStats } from './emulator-fixture.js';

/** The CDN's route key, as the emulator's README documents it for `routes` and `stats.byRoute`. */
const CDN = 'GET /attachments/:channel/:attachment/:filename';
const FETCH_MESSAGE = 'GET /channels/:channel/messages/:message';
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

type Stats = EmulatorStats & { faultsInjected: { serverError: number; cdnResetMidBody: number } };

async function rejection(promise: Promise<unknown>): Promise<TransportError> {
	const error = await promise.then(
		() => {
			throw new Error('expected a rejection');
		},
		(caught: unknown) => caught
	);
	if (!isTransportError(error)) throw error;
	return error;
}

describe('DiscordTransport downloads under CDN faults', () => {
	let emu: EmulatorFixture;
	let workDir: string;
	let uid = 0;

	const stats = async () => (await emu.stats()) as Stats;
	/** Posts one attachment of `size` random bytes into #archive; returns where it is and its bytes. */
	const stored = async (size: number): Promise<{ location: AttachmentLocation; data: Buffer }> => {
		const data = randomBytes(size);
		const record = await emu.transport().uploadFile(emu.archiveChannelId, { file: { name: `chunk-${++uid}.bin`, data } });
		return { location: { channelId: record.channelId, messageId: record.messageId, attachmentId: record.attachments[0]!.id }, data };
	};
	const target = () => join(workDir, `download-${++uid}.bin`);
	const leftovers = async () => readdir(workDir);

	beforeAll(async () => {
		// Every test posts into #archive: lift the per-channel bucket so no post waits for a rate limit.
		emu = await startFixture({ limits: { channelMessagesPerWindow: 1000 } });
		workDir = await mkdtemp(join(tmpdir(), 'dos-cdn-faults-'));
	});

	afterEach(async () => {
		await emu.faults({ serverErrorRate: 0, serverErrorNext: 0, cdnResetMidBodyRate: 0, cdnResetMidBodyNext: 0, routes: null });
		for (const name of await leftovers()) await rm(join(workDir, name), { force: true });
	});

	afterAll(async () => {
		await emu?.close();
		if (workDir) await rm(workDir, { recursive: true, force: true });
	});

	it('GIVEN a CDN response cut half way WHEN downloaded to a file THEN it is fetched again from the start and lands whole, with no .part left', async () => {
		const { location, data } = await stored(300_000);
		const transport = emu.transport();
		await emu.faults({ cdnResetMidBodyNext: 1, routes: [CDN] });
		const before = await stats();
		const file = target();
		const progress: number[] = [];

		const result = await transport.downloadAttachment(
			location,
			{ file },
			{ expectedSize: data.byteLength, expectedSha256: sha256(data), onProgress: (bytes) => progress.push(bytes) }
		);

		expect(result).toEqual({ bytes: data.byteLength, sha256: sha256(data) });
		expect((await readFile(file)).equals(data)).toBe(true);
		expect(await leftovers()).toEqual([file.slice(workDir.length + 1)]);
		// The first attempt got exactly half the bytes before the cut; the second counted again from zero.
		const restart = progress.findIndex((bytes, index) => index > 0 && bytes < progress[index - 1]!);
		expect(progress[restart - 1]).toBe(data.byteLength / 2);
		expect(progress.at(-1)).toBe(data.byteLength);
		const after = await stats();
		expect(after.faultsInjected.cdnResetMidBody - before.faultsInjected.cdnResetMidBody).toBe(1);
		expect((after.byRoute[CDN] ?? 0) - (before.byRoute[CDN] ?? 0)).toBe(2);
	});

	it('GIVEN the CDN answering 5xx twice WHEN downloaded to a file THEN both are retried and the file lands whole', async () => {
		const { location, data } = await stored(70_000);
		const transport = emu.transport();
		await emu.faults({ serverErrorNext: 2, routes: [CDN] });
		const before = await stats();
		const file = target();

		const result = await transport.downloadAttachment(location, { file }, { expectedSize: data.byteLength, expectedSha256: sha256(data) });

		expect(result.sha256).toBe(sha256(data));
		expect((await readFile(file)).equals(data)).toBe(true);
		const after = await stats();
		expect(after.status5xx - before.status5xx).toBe(2);
		expect((after.byRoute[CDN] ?? 0) - (before.byRoute[CDN] ?? 0)).toBe(3);
		expect(await leftovers()).toHaveLength(1);
	});

	it('GIVEN a stale URL, then a cut, then a 5xx WHEN downloaded THEN one fresh URL is fetched and the retries carry the download through', async () => {
		const { location, data } = await stored(120_000);
		const transport = emu.transport();
		const live = (await transport.fetchMessage(location.channelId, location.messageId)).attachments[0]!;
		// A broken signature answers 404 like an expired URL: the transport has to ask for a fresh one.
		const stale = { ...live, url: live.url.replace(/hm=[0-9a-f]+/, `hm=${'0'.repeat(64)}`) };
		await emu.faults({ cdnResetMidBodyNext: 1, serverErrorNext: 1, routes: [CDN] });
		const before = await stats();
		const file = target();

		const result = await transport.downloadAttachment(
			location,
			{ file },
			{ live: stale, expectedSize: data.byteLength, expectedSha256: sha256(data) }
		);

		expect(result.sha256).toBe(sha256(data));
		expect((await readFile(file)).equals(data)).toBe(true);
		const after = await stats();
		expect((after.byRoute[FETCH_MESSAGE] ?? 0) - (before.byRoute[FETCH_MESSAGE] ?? 0)).toBe(1);
		// 404 (stale), then the fresh URL: 502 (server errors roll first), cut, whole.
		expect((after.byRoute[CDN] ?? 0) - (before.byRoute[CDN] ?? 0)).toBe(4);
		expect(after.faultsInjected.cdnResetMidBody - before.faultsInjected.cdnResetMidBody).toBe(1);
		expect(await leftovers()).toHaveLength(1);
	});

	it('GIVEN every CDN response cut WHEN downloaded to a file THEN it fails DOWNLOAD_FAILED after the bounded tries and leaves no file', async () => {
		const { location, data } = await stored(100_000);
		const transport = emu.transport({ downloadRetry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 } });
		await emu.faults({ cdnResetMidBodyRate: 1, routes: [CDN] });
		const before = await stats();
		const file = target();

		const error = await rejection(
			transport.downloadAttachment(location, { file }, { expectedSize: data.byteLength, expectedSha256: sha256(data) })
		);

		expect(error.code).toBe(TransportErrorCode.DownloadFailed);
		expect(error.retryable).toBe(true);
		expect(error.attachmentId).toBe(location.attachmentId);
		expect(error.message).toContain(location.attachmentId);
		expect(error.message).not.toMatch(/https?:|hm=/);
		expect(error.message).toContain('the connection was cut off mid-download');
		expect(existsSync(file)).toBe(false);
		expect(existsSync(`${file}.part`)).toBe(false);
		expect(await leftovers()).toEqual([]);
		const after = await stats();
		expect((after.byRoute[CDN] ?? 0) - (before.byRoute[CDN] ?? 0)).toBe(3);
		expect(after.faultsInjected.cdnResetMidBody - before.faultsInjected.cdnResetMidBody).toBe(3);
	});

	it('GIVEN the CDN answering 5xx on every try WHEN downloaded to a file THEN it fails DOWNLOAD_FAILED with the status after the bounded tries', async () => {
		const { location, data } = await stored(10_000);
		const transport = emu.transport({ downloadRetry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 } });
		await emu.faults({ serverErrorRate: 1, routes: [CDN] });
		const before = await stats();
		const file = target();

		const error = await rejection(transport.downloadAttachment(location, { file }, { expectedSize: data.byteLength }));

		expect(error.code).toBe(TransportErrorCode.DownloadFailed);
		expect(error.status).toBe(502);
		expect(error.message).toContain('HTTP 502');
		expect(await leftovers()).toEqual([]);
		const after = await stats();
		expect((after.byRoute[CDN] ?? 0) - (before.byRoute[CDN] ?? 0)).toBe(4);
		expect(after.status5xx - before.status5xx).toBe(4);
	});

	it('GIVEN a stream target WHEN the CDN response is cut after bytes reached the stream THEN it fails DOWNLOAD_FAILED at once and the stream is not ended', async () => {
		const { location, data } = await stored(50_000);
		const transport = emu.transport();
		await emu.faults({ cdnResetMidBodyNext: 1, routes: [CDN] });
		const before = await stats();
		const stream = new PassThrough();
		const received: Buffer[] = [];
		stream.on('data', (piece: Buffer) => received.push(piece));

		const error = await rejection(transport.downloadAttachment(location, { stream }, { expectedSize: data.byteLength }));

		expect(error.code).toBe(TransportErrorCode.DownloadFailed);
		// The bytes that reached the stream cannot be taken back, so retrying would hand its reader a second copy.
		expect(stream.writableEnded).toBe(false);
		expect(Buffer.concat(received).equals(data.subarray(0, data.byteLength / 2))).toBe(true);
		const after = await stats();
		expect((after.byRoute[CDN] ?? 0) - (before.byRoute[CDN] ?? 0)).toBe(1);
	});

	it('GIVEN a stream target WHEN the CDN answers 5xx before any byte THEN the download is retried into the same stream and it gets the bytes once', async () => {
		const { location, data } = await stored(50_000);
		const transport = emu.transport();
		await emu.faults({ serverErrorNext: 2, routes: [CDN] });
		const stream = new PassThrough();
		const received: Buffer[] = [];
		stream.on('data', (piece: Buffer) => received.push(piece));

		const result = await transport.downloadAttachment(location, { stream }, { expectedSize: data.byteLength, expectedSha256: sha256(data) });

		expect(result.sha256).toBe(sha256(data));
		expect(stream.writableEnded).toBe(true);
		expect(Buffer.concat(received).equals(data)).toBe(true);
	});
});
