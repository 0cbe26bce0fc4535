import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CryptoPool, createCryptoPool } from '../../src/core/index.js';
import { openIndex } from '../../src/db/index.js';
import { DiscordTransport } from '../../src/discord/index.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import { type ArchiveHarness, chunkCensus, nestedTree, restoreFromThread, testPassphrase, writeTree } from '../archive/support/harness.js';
import { builtCli, ensureBuilt } from '../e2e/support.js';
import { treeDigest } from '../support/tree.js';

interface Run {
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
	lines: Record<string, unknown>[];
}

let emulator: Emulator;
let dir: string;
let uploadRoot: string;
let env: Record<string, string>;
let pool: CryptoPool;

beforeAll(async () => {
	await ensureBuilt();
	emulator = await startEmulator({ port: 0, limits: { channelMessagesPerWindow: 1000 } });
	dir = await mkdtemp(path.join(tmpdir(), 'dos-cli-upload-'));
	uploadRoot = path.join(dir, 'uploads');
	pool = createCryptoPool({ workers: 1 });
	env = {
		PATH: process.env.PATH ?? '',
		DISCORD_BOT_TOKEN: 'emulator-token-for-cli-tests',
		DISCORD_API_URL: emulator.apiUrl,
		DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: emulator.ids.channels.archive,
		USER_KEY: testPassphrase,
		DISCORD_DRIVE_UPLOAD_PATH: uploadRoot,
		DISCORD_DRIVE_DOWNLOAD_PATH: path.join(dir, 'downloads'),
		DOS_DB_PATH: path.join(dir, 'index.sqlite'),
		DOS_CHUNK_SIZE: String(4 * 1024),
		DOS_GZIP_LEVEL: '1',
		DOS_FORMAT: '1',
		DOS_WORKERS: '1'
	};
});

afterAll(async () => {
	await pool.close();
	await emulator.close();
	await rm(dir, { recursive: true, force: true });
});

/** Starts the built `dos …` (`dist/`, built by the e2e project's global setup); `killWhen` sees each JSON line and may return true to SIGKILL the process there. */
function dos(
	args: string[],
	killWhen?: (line: Record<string, unknown>, count: number) => boolean,
	overrides: Record<string, string> = {}
): Promise<Run> {
	return new Promise((resolve) => {
		const child: ChildProcess = spawn(process.execPath, [builtCli, ...args], {
			cwd: dir,
			env: { ...env, ...overrides },
			stdio: ['ignore', 'pipe', 'pipe']
		});
		let stdout = '';
		let stderr = '';
		let buffered = '';
		const lines: Record<string, unknown>[] = [];
		child.stdout!.on('data', (chunk: Buffer) => {
			stdout += chunk.toString();
			buffered += chunk.toString();
			for (let newline = buffered.indexOf('\n'); newline !== -1; newline = buffered.indexOf('\n')) {
				const text = buffered.slice(0, newline);
				buffered = buffered.slice(newline + 1);
				if (!text.startsWith('{')) continue;
				const line = JSON.parse(text) as Record<string, unknown>;
				lines.push(line);
				if (killWhen?.(line, lines.length) && child.exitCode === null) child.kill('SIGKILL');
			}
		});
		child.stderr!.on('data', (chunk: Buffer) => {
			stderr += chunk.toString();
		});
		child.on('close', (code, signal) => {
			resolve({ code, signal, stdout, stderr, lines });
		});
	});
}

/** Restores an archive straight from its thread with core's assembler (independently of the CLI). */
async function restore(threadId: string, outDir: string): Promise<void> {
	const transports: DiscordTransport[] = [];
	const harnessLike = {
		pool,
		newTransport: () => {
			const transport = new DiscordTransport({ token: 'emulator-token-for-cli-tests', apiUrl: emulator.apiUrl, globalRequestsPerSecond: 1000 });
			transports.push(transport);
			return transport;
		}
	} as unknown as ArchiveHarness;
	try {
		await restoreFromThread(harnessLike, threadId, outDir);
	} finally {
		for (const transport of transports) transport.close();
	}
}

function expectOnePerChunk(threadId: string, chunks: number): void {
	const census = chunkCensus(emulator, threadId);
	for (let index = 0; index < chunks; index++) expect(census.get(`c${index}`), `chunk ${index}`).toBe(1);
	const manifest = [...census.keys()].filter((key) => key.startsWith('m'));
	expect(manifest.length).toBeGreaterThan(0);
	for (const key of manifest) expect(census.get(key)).toBe(1);
	expect(census.size).toBe(chunks + manifest.length);
}

describe('dos upload, resume, list, find, status', () => {
	it('GIVEN a folder WHEN dos upload --json runs THEN it reports progress and the result, and list, find and status show the archive', async () => {
		const source = await writeTree(path.join(uploadRoot, 'plain'), nestedTree());
		const upload = await dos(['upload', 'plain', '--label', 'plain files', '--json']);
		expect(upload.code, upload.stderr).toBe(0);
		expect(upload.lines.some((line) => line.type === 'progress' && line.phase === 'uploading')).toBe(true);
		const result = upload.lines.find((line) => line.type === 'result')!;
		expect(result).toMatchObject({ ok: true, archiveId: expect.stringMatching(/^#\d{6}-\d{2}$/) as unknown });
		expectOnePerChunk(result.threadId as string, result.chunks as number);
		const outDir = path.join(dir, 'restored-plain');
		await restore(result.threadId as string, outDir);
		expect(await treeDigest(outDir)).toEqual(await treeDigest(source));

		const list = await dos(['list', '--json']);
		expect(list.code).toBe(0);
		expect((list.lines[0]!.archives as { id: string; status: string }[])[0]).toMatchObject({ id: result.archiveId, status: 'complete' });
		const find = await dos(['find', 'today', '--json']);
		expect((find.lines[0]!.hits as { entry: { path: string } }[]).map((hit) => hit.entry.path)).toContain('docs/notes/today.md');
		const status = await dos(['status']);
		expect(status.code).toBe(0);
		expect(status.stdout).toMatch(/: 1 archive \(1 complete\)/);
	});

	it('GIVEN uploads killed with SIGKILL at several points WHEN dos resume runs after each THEN nothing is duplicated and the restore is byte-identical', async () => {
		const source = await writeTree(path.join(uploadRoot, 'killed'), nestedTree());
		emulator.faults.set({ latencyMs: 25 });
		let archiveId: string | undefined;
		const killAtUploadProgress = (count: number) => (line: Record<string, unknown>) => {
			if (line.type === 'started' && typeof line.archiveId === 'string') archiveId = line.archiveId;
			return line.type === 'progress' && line.phase === 'uploading' && (line.chunksDone as number) >= count;
		};
		// Kill points: a few chunks in, then further into each resume (random offsets within each stretch).
		const points = [3, 15, 30].map((base) => base + Math.floor(Math.random() * 5));
		const first = await dos(['upload', 'killed', '--json'], killAtUploadProgress(points[0]!));
		expect(first.signal).toBe('SIGKILL');
		expect(archiveId).toBeDefined();
		for (const point of points.slice(1)) {
			const killed = await dos(['resume', archiveId!, '--json'], killAtUploadProgress(point));
			expect(killed.signal ?? killed.code, killed.stderr).toBe('SIGKILL');
		}
		emulator.faults.reset();
		const final = await dos(['resume', archiveId!, '--json']);
		expect(final.code, final.stderr).toBe(0);
		const result = final.lines.find((line) => line.type === 'result')!;
		expectOnePerChunk(result.threadId as string, result.chunks as number);

		const index = openIndex({ path: env.DOS_DB_PATH! });
		try {
			const archive = index.archives.require(archiveId!);
			expect(archive.status).toBe('complete');
			expect(index.jobs.forArchive(archive.lot).filter((job) => job.status === 'interrupted').length).toBeGreaterThanOrEqual(3);
		} finally {
			index.close();
		}
		const outDir = path.join(dir, 'restored-killed');
		await restore(result.threadId as string, outDir);
		expect(await treeDigest(outDir)).toEqual(await treeDigest(source));
	});

	it('GIVEN an upload killed part-way WHEN dos resume runs with another USER_KEY THEN it exits non-zero with WRONG_KEY and posts nothing; the right key then completes it', async () => {
		const source = await writeTree(path.join(uploadRoot, 'rekeyed'), nestedTree());
		let archiveId: string | undefined;
		const first = await dos(['upload', 'rekeyed', '--json'], (line) => {
			if (line.type === 'started' && typeof line.archiveId === 'string') archiveId = line.archiveId;
			return line.type === 'progress' && line.phase === 'uploading' && (line.chunksDone as number) >= 3;
		});
		expect(first.signal).toBe('SIGKILL');
		const index = openIndex({ path: env.DOS_DB_PATH! });
		const threadId = index.archives.require(archiveId!).threadId!;
		index.close();
		const before = emulator.messages(threadId).length;

		const wrong = await dos(['resume', archiveId!], undefined, { USER_KEY: 'not the passphrase it was uploaded with' });
		expect(wrong.code).not.toBe(0);
		expect(wrong.stderr).toContain('WRONG_KEY');
		expect(wrong.stdout).not.toContain('Resumed');
		expect(emulator.messages(threadId)).toHaveLength(before);

		const right = await dos(['resume', archiveId!, '--json']);
		expect(right.code, right.stderr).toBe(0);
		const outDir = path.join(dir, 'restored-rekeyed');
		await restore(threadId, outDir);
		expect(await treeDigest(outDir)).toEqual(await treeDigest(source));
	});

	it('GIVEN a folder outside the upload root WHEN dos upload runs THEN it fails with UNSAFE_PATH and exit code 1', async () => {
		const run = await dos(['upload', '../outside']);
		expect(run.code).toBe(1);
		expect(run.stderr).toContain('UNSAFE_PATH');
	});
});

describe('dos upload, download and verify with DOS_FORMAT=2', () => {
	it('GIVEN DOS_FORMAT=2 WHEN a folder is uploaded twice, downloaded and verified through the CLI THEN the second posts no pack and both restore byte-identical', async () => {
		const format2 = { DOS_FORMAT: '2', DOS_PACK_SIZE: '4194466' };
		const source = await writeTree(path.join(uploadRoot, 'repository'), nestedTree());
		const first = await dos(['upload', 'repository', '--json'], undefined, format2);
		expect(first.code, first.stderr).toBe(0);
		const firstResult = first.lines.find((line) => line.type === 'result')!;
		expect(firstResult).toMatchObject({ ok: true, format: 2, reusedBytes: 0 });
		expect(firstResult.packsPosted).toBeGreaterThan(0);
		const second = await dos(['upload', 'repository'], undefined, format2);
		expect(second.code, second.stderr).toBe(0);
		expect(second.stdout).toMatch(/\(format 2\): .* · 0 B new, .* reused; 0 packs posted/);
		expect(second.stderr).toContain('format 2');
		const download = await dos(['download', firstResult.archiveId as string, '--json']);
		expect(download.code, download.stderr).toBe(0);
		const restored = (download.lines.find((line) => line.type === 'result')!.archives as { restoredTo: string }[])[0]!.restoredTo;
		expect(await treeDigest(restored)).toEqual(await treeDigest(source));
		const verify = await dos(['verify', firstResult.archiveId as string, '--full', '--json']);
		expect(verify.code, verify.stderr).toBe(0);
		expect(JSON.stringify(verify.lines.at(-1))).toMatch(/full verify passed: \d+ of \d+ packs?, the manifest and 8 files checked/);
		// dos status counts the repository: two archives, the first one's packs.
		const status = await dos(['status']);
		expect(status.code, status.stderr).toBe(0);
		expect(status.stdout).toMatch(new RegExp(`Repository \\(format 2\\): 2 archives · ${firstResult.packsPosted as number} packs?, `));
		// dos list ends with the same repository line, and its JSON carries the totals.
		const listed = await dos(['list']);
		expect(listed.stdout).toMatch(new RegExp(`Repository \\(format 2\\): 2 archives · ${firstResult.packsPosted as number} packs?, `));
		const listedJson = await dos(['list', '--json']);
		expect(listedJson.lines[0]).toMatchObject({ repository: { archives: 2, packs: firstResult.packsPosted } });
		// The repository-wide check reads every stored pack once and finds it whole.
		const checked = await dos(['verify', '--repository', '--json']);
		expect(checked.code, checked.stderr).toBe(0);
		expect(checked.lines.find((line) => line.type === 'result')).toMatchObject({ ok: true, packs: firstResult.packsPosted, damagedArchives: [] });
		const both = await dos(['verify', firstResult.archiveId as string, '--repository']);
		expect(both.code).toBe(2);
		expect(both.stderr).toContain('--repository checks the whole archive channel');

		// dos cleanup of the first says first that its packs stay for the second; with --yes its thread stays for them.
		const secondId = /(#\d{6}-\d+)/.exec(second.stdout)![1]!;
		const asked = await dos(['cleanup', firstResult.archiveId as string]);
		expect(asked.code).not.toBe(0);
		expect(asked.stderr).toContain(`Goes: no pack. Stays: ${firstResult.packsPosted as number} pack`);
		expect(asked.stderr).toContain(`and its thread, which ${secondId} reuses`);
		const cleaned = await dos(['cleanup', firstResult.archiveId as string, '--yes', '--json']);
		expect(cleaned.code, cleaned.stderr).toBe(0);
		expect(cleaned.lines.find((line) => line.type === 'result')).toMatchObject({
			threadDeleted: false,
			repository: { packsDeleted: 0, threadKept: true, keptBy: [secondId] }
		});
		const afterCleanup = await dos(['download', secondId, '--json']);
		expect(afterCleanup.code, afterCleanup.stderr).toBe(0);
		const restoredSecond = (afterCleanup.lines.find((line) => line.type === 'result')!.archives as { restoredTo: string }[])[0]!.restoredTo;
		expect(await treeDigest(restoredSecond)).toEqual(await treeDigest(source));
	});
});
