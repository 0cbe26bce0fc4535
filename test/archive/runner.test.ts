import { afterEach, describe, expect, it } from 'vitest';
import { findCardRecord } from '../../src/archive/card-record.js';
import type { RunnerEvent } from '../../src/archive/runner.js';
import { ArchiveService } from '../../src/archive/service.js';
import { JobKind } from '../../src/db/index.js';
import { type ArchiveHarness, nestedTree, startArchiveHarness } from './support/harness.js';
import { rejection as caught } from '../support/rejection.js';

let harness: ArchiveHarness | undefined;
afterEach(async () => {
	await harness?.close();
	harness = undefined;
});

const options = { emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { chunkSize: 16 * 1024, uploadConcurrency: 1 } } as const;

function cardOf(h: ArchiveHarness, lot: number) {
	const archive = h.index.archives.require(lot);
	const card = h.emulator.messages(h.archiveChannelId).find((message) => message.id === archive.cardMessageId)!;
	return { record: findCardRecord(card.embeds as never), buttons: JSON.stringify(card.components) };
}

describe('job runner', () => {
	it('GIVEN a running upload WHEN its Cancel is pressed THEN the job ends cancelled, the card offers Resume, and the upload resumes to completion', async () => {
		harness = await startArchiveHarness({ ...options, emulator: { limits: { channelMessagesPerWindow: 1000 } } });
		await harness.writeTree('nested', nestedTree());
		harness.emulator.faults.set({ latencyMs: 30 });
		const service = new ArchiveService(harness.context);
		const events: RunnerEvent[] = [];
		service.subscribe((event) => events.push(event));
		const handle = await service.upload({ folder: 'nested' });
		await new Promise<void>((resolve) => {
			const stop = service.subscribe((event) => {
				if (event.type === 'progress' && event.event.phase === 'uploading' && event.event.chunksDone >= 2) {
					stop();
					resolve();
				}
			});
		});
		expect(service.cancel(String(handle.lot))).toBe(true);
		expect(await caught<{ code?: string }>(handle.result)).toMatchObject({ code: 'ABORTED' });
		harness.emulator.faults.reset();
		const archive = harness.index.archives.require(handle.lot!);
		expect(archive.status).toBe('cancelled');
		expect(harness.index.jobs.get(handle.jobId)?.status).toBe('cancelled');
		expect(cardOf(harness, archive.lot).buttons).toContain(`archive:resume:${archive.uid}`);
		expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(['started', 'progress', 'finished']));

		await service.resume({ archive: archive.id }).result;
		expect(harness.index.archives.require(archive.lot).status).toBe('complete');
		expect(cardOf(harness, archive.lot).record?.status).toBe('complete');
		await service.shutdown();
	});

	it('GIVEN upload concurrency 1 WHEN two uploads are asked THEN the second is queued until the first ends', async () => {
		harness = await startArchiveHarness(options);
		await harness.writeTree('one', nestedTree());
		await harness.writeTree('two', nestedTree());
		const service = new ArchiveService(harness.context);
		const order: string[] = [];
		service.subscribe((event) => {
			if (event.type !== 'progress') order.push(`${event.type}:${event.job.id}`);
		});
		const first = await service.upload({ folder: 'one' });
		const second = await service.upload({ folder: 'two' });
		expect(harness.index.jobs.get(second.jobId)?.status).toBe('queued');
		await Promise.all([first.result, second.result]);
		expect(order.indexOf(`started:${second.jobId}`)).toBeGreaterThan(order.indexOf(`finished:${first.jobId}`));
		expect(order).toContain(`queued:${second.jobId}`);
		await service.shutdown();
	});

	it('GIVEN an upload of a folder running or queued WHEN the same folder is uploaded again (here or from another process) THEN the second is refused as busy, naming the first; once it ends, a new upload is taken', async () => {
		harness = await startArchiveHarness(options);
		await harness.writeTree('twice', nestedTree());
		await harness.writeTree('other', nestedTree());
		const service = new ArchiveService(harness.context);
		const blocker = await service.upload({ folder: 'other' });
		const first = await service.upload({ folder: 'twice' });
		expect(harness.index.jobs.get(first.jobId)?.status).toBe('queued');
		const firstId = harness.index.archives.require(first.lot!).id;
		for (const owner of [service, new ArchiveService(harness.secondContext())]) {
			const refused = await caught(owner.upload({ folder: './twice/' }));
			expect(refused).toMatchObject({ code: 'ARCHIVE_BUSY' });
			expect((refused as Error).message).toContain(firstId);
		}
		expect(harness.index.archives.list({ limit: 100 }).archives.filter((archive) => archive.source === 'twice')).toHaveLength(1);
		await Promise.all([blocker.result, first.result]);
		const again = await service.upload({ folder: 'twice' });
		await again.result;
		await service.shutdown();
	});

	it('GIVEN a running upload WHEN the service shuts down THEN the job and the archive end interrupted and resumable', async () => {
		harness = await startArchiveHarness(options);
		await harness.writeTree('nested', nestedTree());
		harness.emulator.faults.set({ latencyMs: 50 });
		const service = new ArchiveService(harness.context);
		const handle = await service.upload({ folder: 'nested' });
		await new Promise<void>((resolve) => {
			const stop = service.subscribe((event) => {
				if (event.type === 'progress' && event.event.phase === 'uploading') {
					stop();
					resolve();
				}
			});
		});
		await service.shutdown();
		await caught(handle.result);
		expect(harness.index.archives.require(handle.lot!).status).toBe('interrupted');
		expect(harness.index.jobs.get(handle.jobId)?.status).toBe('interrupted');
		expect(() => service.resume({ archive: String(handle.lot) })).toThrow(/shutting down/);
	});

	it('GIVEN a job left running by a process that died WHEN a new service starts THEN the sweep marks it interrupted and its card says so', async () => {
		let now = Date.now();
		harness = await startArchiveHarness({ ...options, clock: () => now });
		await harness.writeTree('nested', nestedTree());
		const service = new ArchiveService(harness.context, { leaseMs: 1_000 });
		const handle = await service.upload({ folder: 'nested' });
		await handle.result;
		// A job of a dead process: acquired with a lease, never released.
		const stale = harness.index.jobs.acquire({ lot: handle.lot, kind: JobKind.Resume, holder: 'elsewhere:1:dead', leaseMs: 1_000 });
		harness.index.archives.setStatus(handle.lot!, 'uploading');
		now += 5_000;
		const restarted = new ArchiveService(harness.secondContext());
		await restarted.start();
		expect(harness.index.jobs.get(stale.id)?.status).toBe('interrupted');
		expect(harness.index.archives.require(handle.lot!).status).toBe('interrupted');
		expect(cardOf(harness, handle.lot!).record?.status).toBe('interrupted');
		await service.shutdown();
		await restarted.shutdown();
	});
});

describe('watching and cancelling downloads and verifies', () => {
	function cardText(h: ArchiveHarness, lot: number): { embed: string; buttons: string } {
		const archive = h.index.archives.require(lot);
		const card = h.emulator.messages(h.archiveChannelId).find((message) => message.id === archive.cardMessageId)!;
		return { embed: JSON.stringify(card.embeds), buttons: JSON.stringify(card.components) };
	}

	async function waitFor(check: () => boolean): Promise<void> {
		for (let attempt = 0; attempt < 400 && !check(); attempt++) await new Promise((resolve) => setTimeout(resolve, 25));
		expect(check()).toBe(true);
	}

	it('GIVEN a running download WHEN the card is read THEN it shows Downloading with progress and Cancel; WHEN cancelled THEN the job ends cancelled and the card says so in its last activity, with counts and no paths', async () => {
		harness = await startArchiveHarness({ ...options, settings: { ...options.settings, cardEditIntervalMs: 0 } });
		await harness.writeTree('nested', nestedTree());
		const service = new ArchiveService(harness.context);
		const uploaded = await (await service.upload({ folder: 'nested' })).result;
		harness.emulator.faults.set({ latencyMs: 40 });
		const handle = service.download({ archive: uploaded.archiveId, requestedBy: '100000000000000004' });
		await waitFor(() => {
			const card = cardText(harness!, uploaded.lot);
			return card.embed.includes('Downloading') && card.embed.includes('Progress') && card.buttons.includes(`archive:cancel:${uploaded.uid}`);
		});
		// What else is asked meanwhile is told how to stop the download.
		expect(() => service.cleanup({ archive: uploaded.archiveId })).toThrow(`dos cancel job:${handle.jobId}`);
		const outcome = service.cancelJob({ archive: uploaded.archiveId });
		expect(outcome).toMatchObject({ jobId: handle.jobId, kind: 'download', here: true });
		expect(await caught<{ code?: string }>(handle.result)).toMatchObject({ code: 'ABORTED' });
		harness.emulator.faults.reset();
		expect(harness.index.jobs.get(handle.jobId)?.status).toBe('cancelled');
		const after = cardText(harness, uploaded.lot);
		expect(after.embed).toContain('Last activity');
		expect(after.embed).toContain('Download cancelled');
		expect(after.buttons).toContain(`archive:download:${uploaded.uid}`);

		const done = await service.download({ archive: uploaded.archiveId }).result;
		const finished = cardText(harness, uploaded.lot).embed;
		expect(finished).toContain(`Download restored`);
		expect(finished).toContain(`${done.files} files`);
		expect(finished).not.toContain(harness.downloadRoot);
		expect(finished).not.toContain('today.md');
		await service.shutdown();
	});

	it('GIVEN a download held by another process WHEN it is cancelled here (the job table) THEN its holder stops it at its next heartbeat and it ends cancelled', async () => {
		harness = await startArchiveHarness({ ...options, settings: { ...options.settings, cardEditIntervalMs: 0 } });
		await harness.writeTree('nested', nestedTree());
		const here = new ArchiveService(harness.context);
		const uploaded = await (await here.upload({ folder: 'nested' })).result;
		const holder = new ArchiveService(harness.secondContext(), { leaseMs: 3_000 });
		harness.emulator.faults.set({ latencyMs: 400 });
		const handle = holder.download({ archive: uploaded.archiveId });
		await waitFor(() => harness!.index.jobs.get(handle.jobId)?.status === 'running');
		const outcome = here.cancelJob({ jobId: handle.jobId });
		expect(outcome).toMatchObject({ jobId: handle.jobId, kind: 'download', here: false });
		expect(harness.index.jobs.get(handle.jobId)?.cancelRequestedAt).not.toBeNull();
		expect(await caught<{ code?: string }>(handle.result)).toMatchObject({ code: 'ABORTED' });
		harness.emulator.faults.reset();
		expect(harness.index.jobs.get(handle.jobId)?.status).toBe('cancelled');
		expect(() => here.cancelJob({ jobId: handle.jobId })).toThrow(/No job/);
		await holder.shutdown();
		await here.shutdown();
	});

	it('GIVEN a cleaned-up archive WHEN a verify is asked THEN it is refused at once with NOT_FOUND and its greyed card is not touched', async () => {
		harness = await startArchiveHarness({ ...options, settings: { ...options.settings, cardEditIntervalMs: 0 } });
		await harness.writeTree('gone', nestedTree());
		const service = new ArchiveService(harness.context);
		const uploaded = await (await service.upload({ folder: 'gone' })).result;
		await service.cleanup({ archive: uploaded.archiveId }).result;
		const card = cardText(harness, uploaded.lot);
		expect(() => service.verify({ archive: uploaded.archiveId, level: 'quick' })).toThrow(/was deleted/);
		expect(harness.index.jobs.forArchive(uploaded.lot).filter((job) => job.kind === 'verify')).toHaveLength(0);
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(cardText(harness, uploaded.lot)).toEqual(card);
		await service.shutdown();
	});

	it('GIVEN a running full verify WHEN the card is read THEN it shows Verifying with progress and Cancel', async () => {
		harness = await startArchiveHarness({ ...options, settings: { ...options.settings, cardEditIntervalMs: 0 } });
		await harness.writeTree('nested', nestedTree());
		const service = new ArchiveService(harness.context);
		const uploaded = await (await service.upload({ folder: 'nested' })).result;
		harness.emulator.faults.set({ latencyMs: 40 });
		const handle = service.verify({ archive: uploaded.archiveId, level: 'full' });
		await waitFor(() => {
			const card = cardText(harness!, uploaded.lot);
			return card.embed.includes('Verifying') && card.embed.includes('Progress') && card.buttons.includes(`archive:cancel:${uploaded.uid}`);
		});
		service.cancelJob({ archive: uploaded.archiveId });
		await caught(handle.result);
		harness.emulator.faults.reset();
		expect(cardText(harness, uploaded.lot).embed).toContain('Verify cancelled');
		await service.shutdown();
	});
});
