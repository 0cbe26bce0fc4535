import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { openIndex } from '../../src/db/index.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import { randomContent, testPassphrase, writeTree } from '../archive/support/harness.js';

let emulator: Emulator;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
	emulator = await startEmulator({ port: 0, limits: { channelMessagesPerWindow: 1000 } });
	dir = await mkdtemp(path.join(tmpdir(), 'dos-cli-salvage-download-'));
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
		DOS_WORKERS: '1'
	};
});

afterAll(async () => {
	await emulator?.close();
	await rm(dir, { recursive: true, force: true });
});

/** Runs `dos …` in-process and collects its output and result line. */
async function dos(args: string[]): Promise<{ code: number; stdout: string; stderr: string; result: Record<string, unknown> | undefined }> {
	let stdout = '';
	let stderr = '';
	const sink = (append: (text: string) => void) =>
		new Writable({
			write(chunk: Buffer, _encoding, callback) {
				append(chunk.toString());
				callback();
			}
		});
	const code = await runCli(args, {
		stdout: sink((text) => (stdout += text)),
		stderr: sink((text) => (stderr += text)),
		env,
		cwd: dir,
		interactive: false,
		signal: new AbortController().signal
	});
	const lines = stdout
		.split('\n')
		.filter((line) => line.startsWith('{'))
		.map((line) => JSON.parse(line) as Record<string, unknown>);
	return { code, stdout, stderr, result: lines.find((line) => line.type === 'result') };
}

describe('dos download --salvage', () => {
	it('GIVEN an archive whose first chunk is corrupted on Discord WHEN downloaded with --salvage THEN the other files are restored, the lost one is named and the exit code is 1', async () => {
		// 16 KiB chunks: a.bin alone fills chunk 0 and reaches into chunk 1; b.bin and c.bin lie after chunk 0.
		const source = await writeTree(path.join(dir, 'uploads', 'docs'), {
			'a.bin': randomContent(20_000, 'a'),
			'b.bin': randomContent(40_000, 'b'),
			'c.bin': randomContent(10_000, 'c')
		});
		const upload = await dos(['upload', 'docs', '--json']);
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
		expect(output).toContain(`Partly restored ${id}: 2 file(s)`);
		expect(output).toContain('lost: a.bin (TAMPERED_CHUNK, chunk 0)');
		expect(output).toContain('Bad chunks: 0.');

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
