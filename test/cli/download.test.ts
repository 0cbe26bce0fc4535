import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runDosHere } from './support.js';
import { openIndex } from '../../src/db/index.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import { nestedTree, randomContent, testPassphrase, writeTree } from '../archive/support/harness.js';
import { treeDigest } from '../support/tree.js';

let emulator: Emulator;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
	emulator = await startEmulator({ port: 0, limits: { channelMessagesPerWindow: 1000 } });
	dir = await mkdtemp(path.join(tmpdir(), 'dos-cli-download-'));
	env = {
		DISCORD_BOT_TOKEN: 'emulator-token-for-cli-tests',
		DISCORD_API_URL: emulator.apiUrl,
		DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: emulator.ids.channels.archive,
		DISCORD_DRIVE_LOG_CHANNEL_ID: emulator.ids.channels.log,
		USER_KEY: testPassphrase,
		DISCORD_DRIVE_UPLOAD_PATH: path.join(dir, 'uploads'),
		DISCORD_DRIVE_DOWNLOAD_PATH: path.join(dir, 'downloads'),
		DOS_DB_PATH: path.join(dir, 'index.sqlite'),
		DOS_CHUNK_SIZE: String(16 * 1024),
		DOS_GZIP_LEVEL: '1',
		DOS_FORMAT: '1',
		DOS_WORKERS: '1'
	};
});

afterAll(async () => {
	await emulator?.close();
	await rm(dir, { recursive: true, force: true });
});

/** Runs `dos …` in-process and collects its output and JSON lines. */
function dos(args: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> {
	return runDosHere(args, { cwd: dir, env: { ...env, ...extraEnv } });
}

describe('dos download, verify, cleanup and index', () => {
	it('GIVEN an uploaded folder WHEN verified, downloaded, backed up, rebuilt and cleaned up through the CLI THEN each step succeeds with its exit code', async () => {
		const source = await writeTree(path.join(dir, 'uploads', 'docs'), nestedTree());
		const upload = await dos(['upload', 'docs', '--json']);
		expect(upload.code, upload.stderr).toBe(0);
		const id = String(upload.result!.archiveId);

		const verify = await dos(['verify', id, '--full', '--json']);
		expect(verify.code, verify.stderr).toBe(0);
		expect(verify.result).toMatchObject({ ok: true, level: 'full' });
		const sample = await dos(['verify', id.slice(1), '--sample', '50', '--json']);
		expect(sample.code, sample.stderr).toBe(0);

		const download = await dos(['download', id, '--json']);
		expect(download.code, download.stderr).toBe(0);
		const [restored] = download.result!.archives as { restoredTo: string }[];
		expect(await treeDigest(restored!.restoredTo)).toEqual(await treeDigest(source));

		const wrongKey = await dos(['download', id], { USER_KEY: 'not the passphrase' });
		expect(wrongKey.code).toBe(1);
		expect(wrongKey.stderr).toContain('WRONG_KEY');

		const backup = await dos(['index', 'backup', '--json']);
		expect(backup.code, backup.stderr).toBe(0);

		const dry = await dos(['index', 'rebuild', '--dry-run', '--json']);
		expect(dry.code, dry.stderr).toBe(0);
		expect(dry.result).toMatchObject({ dryRun: true, archives: [expect.objectContaining({ archiveId: id, written: false })] });

		const refused = await dos(['cleanup', id]);
		expect(refused.code).toBe(2);
		expect(refused.stderr).toContain('--yes');
		const cleanup = await dos(['cleanup', id, '--yes', '--json']);
		expect(cleanup.code, cleanup.stderr).toBe(0);
		expect((await dos(['cleanup', id, '--yes', '--json'])).result).toMatchObject({ alreadyDeleted: true });
		// Automatic backups come at most once per DOS_INDEX_BACKUP_MINUTES across commands (the one after the upload
		// was taken minutes ago at most): the cleanup is backed up on request here.
		expect((await dos(['index', 'backup', '--json'])).code).toBe(0);

		await rm(env.DOS_DB_PATH!, { force: true });
		for (const suffix of ['-wal', '-shm']) await rm(`${env.DOS_DB_PATH}${suffix}`, { force: true });
		const restore = await dos(['index', 'restore', '--json']);
		expect(restore.code, restore.stderr).toBe(0);
		// The newest backup knows the cleanup.
		const index = openIndex({ path: env.DOS_DB_PATH! });
		try {
			expect(index.archives.require(id).status).toBe('deleted');
			expect(index.entries.list(index.archives.require(id).lot).length).toBeGreaterThan(0);
		} finally {
			index.close();
		}
	});

	it('GIVEN a dos download running WHEN dos cancel names its archive (from another command) THEN the download stops with a non-zero exit, the job ends cancelled and the card says so', async () => {
		await writeTree(path.join(dir, 'uploads', 'slow'), nestedTree());
		const upload = await dos(['upload', 'slow', '--json']);
		expect(upload.code, upload.stderr).toBe(0);
		const id = String(upload.result!.archiveId);
		emulator.faults.set({ latencyMs: 300 });
		const download = dos(['download', id, '--json']);
		const index = openIndex({ path: env.DOS_DB_PATH! });
		try {
			const lot = index.archives.require(id).lot;
			let job = index.jobs.activeFor(lot);
			for (let attempt = 0; attempt < 400 && job?.status !== 'running'; attempt++) {
				await new Promise((resolve) => setTimeout(resolve, 25));
				job = index.jobs.activeFor(lot);
			}
			expect(job?.kind).toBe('download');
			const cancel = await dos(['cancel', id, '--json']);
			expect(cancel.code, cancel.stderr).toBe(0);
			expect(cancel.result).toMatchObject({ jobId: job!.id, kind: 'download', cancelRequested: true });
			const stopped = await download;
			expect(stopped.code).not.toBe(0);
			expect(stopped.result).toBeUndefined();
			expect(index.jobs.get(job!.id)?.status).toBe('cancelled');
			const card = emulator.messages(emulator.ids.channels.archive).find((message) => message.id === index.archives.require(id).cardMessageId)!;
			expect(JSON.stringify(card.embeds), JSON.stringify(stopped)).toContain('Download cancelled');
			const nothing = await dos(['cancel', `job:${job!.id}`]);
			expect(nothing.code).not.toBe(0);
			expect(nothing.stderr).toContain('NO_SUCH_JOB');
		} finally {
			emulator.faults.reset();
			index.close();
		}
	});

	it('GIVEN a range whose first archive was cleaned up WHEN downloaded through the CLI THEN the rest is restored and the skipped one is named with the reason', async () => {
		const source = await writeTree(path.join(dir, 'uploads', 'ranged'), nestedTree());
		const first = await dos(['upload', 'ranged', '--json']);
		const second = await dos(['upload', 'ranged', '--json']);
		expect(first.code, first.stderr).toBe(0);
		expect(second.code, second.stderr).toBe(0);
		const [firstId, secondId] = [String(first.result!.archiveId), String(second.result!.archiveId)];
		expect((await dos(['cleanup', firstId, '--yes'])).code).toBe(0);

		const range = await dos(['download', firstId, '--through', secondId, '--json']);
		expect(range.code, range.stderr).toBe(0);
		const archives = range.result!.archives as { archiveId: string; restoredTo: string }[];
		expect(archives.map((archive) => archive.archiveId)).toEqual([secondId]);
		expect(await treeDigest(archives[0]!.restoredTo)).toEqual(await treeDigest(source));
		expect(range.result!.skipped).toEqual([
			expect.objectContaining({ id: firstId, status: 'deleted', reason: expect.stringContaining('cleaned up') })
		]);

		const text = await dos(['download', firstId, '--through', secondId]);
		expect(text.code, text.stderr).toBe(0);
		expect(text.stdout).toContain(`Not downloaded: ${firstId} was cleaned up`);

		const nothing = await dos(['download', firstId, '--through', firstId]);
		expect(nothing.code).not.toBe(0);
		expect(nothing.stderr).toContain(`Nothing from ${firstId} through ${firstId} can be downloaded`);
	});

	it('GIVEN an archive whose first chunk is corrupted on Discord WHEN downloaded with --salvage THEN the other files are restored, the lost one is named and the exit code is 1', async () => {
		// 16 KiB chunks: a.bin alone fills chunk 0 and reaches into chunk 1; b.bin and c.bin lie after chunk 0.
		const source = await writeTree(path.join(dir, 'uploads', 'damaged'), {
			'a.bin': randomContent(20_000, 'a'),
			'b.bin': randomContent(40_000, 'b'),
			'c.bin': randomContent(10_000, 'c')
		});
		const upload = await dos(['upload', 'damaged', '--json']);
		expect(upload.code, upload.stderr).toBe(0);
		const id = String(upload.result!.archiveId);
		const index = openIndex({ path: env.DOS_DB_PATH! });
		try {
			await emulator.corruptAttachment(index.chunks.get(index.archives.require(id).lot, { index: 0 })!.attachmentId!);
		} finally {
			index.close();
		}

		const human = await dos(['download', id, '--salvage']);
		expect(human.code).toBe(1);
		const output = human.stdout + human.stderr;
		expect(output).toContain(`Partly restored ${id}: 2 files`);
		// Index 0 is chunk 1 to a person.
		expect(output).toContain('lost: a.bin (TAMPERED_CHUNK, chunk 1)');
		expect(output).toContain('Bad chunks: 1.');

		const json = await dos(['download', id, '--salvage', '--json']);
		expect(json.code).toBe(1);
		expect(json.result).toMatchObject({
			ok: false,
			lost: [{ archiveId: id, path: 'a.bin', chunks: [0], code: 'TAMPERED_CHUNK' }],
			badChunks: [{ archiveId: id, index: 0 }],
			archives: [{ complete: false, chunkDirRemoved: false, files: 2 }]
		});
		const [restored] = json.result!.archives as { restoredTo: string; chunkDir: string }[];
		expect((await readdir(restored!.restoredTo)).sort()).toEqual(['b.bin', 'c.bin']);
		for (const name of ['b.bin', 'c.bin'])
			expect(await readFile(path.join(restored!.restoredTo, name))).toEqual(await readFile(path.join(source, name)));
		expect((await stat(restored!.chunkDir)).isDirectory()).toBe(true);
	});
});
