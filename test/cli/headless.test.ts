import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCliEnv } from '../../src/cli/cli-env.js';
import { emulatorCliEnv, readyLine } from '../../src/cli/commands/emulator.js';
import { ControlClient } from '../../src/emulator/control-client.js';
import { type CliRun, runDosHere } from './support.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import { testPassphrase } from '../archive/support/harness.js';
import { builtCli, ensureBuilt } from '../e2e/support.js';

/** Runs `dos …` in-process in `cwd` with exactly `env` (nothing of this process's environment). */
function dos(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun> {
	return runDosHere(args, { cwd, env: { DOS_WORKERS: '1', ...env } });
}

let dir: string;
beforeAll(async () => {
	dir = await mkdtemp(path.join(tmpdir(), 'dos-cli-headless-'));
});
afterAll(async () => {
	await rm(dir, { recursive: true, force: true });
});

describe('the headless CLI against a local Discord', () => {
	describe('the sandbox', () => {
		let child: ChildProcess;
		let ready: { cliEnv: string; api: string; control: string; uploadRoot: string; dataDir: string; storageChannelId: string };
		const work = () => path.join(dir, 'sandbox-work');
		beforeAll(async () => {
			await ensureBuilt();
			await mkdir(work(), { recursive: true });
			// As a newcomer runs it: the built CLI, no USER_KEY (the sandbox generates one), then `dos --env-file`.
			child = spawn(process.execPath, [builtCli, 'sandbox', '--data', path.join(dir, 'sandbox')], {
				cwd: dir,
				env: { PATH: process.env.PATH ?? '', HOME: dir, DOS_CHUNK_SIZE: String(64 * 1024), DOS_WORKERS: '1' },
				stdio: ['ignore', 'pipe', 'pipe']
			});
			let stderr = '';
			child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
			const first = await new Promise<string>((resolve, reject) => {
				createInterface({ input: child.stdout! }).once('line', resolve);
				child.once('exit', (code) => {
					reject(new Error(`dos sandbox exited with ${code}:\n${stderr}`));
				});
			});
			ready = JSON.parse(first) as typeof ready;
		}, 300_000);
		afterAll(async () => {
			if (child === undefined || child.exitCode !== null) return;
			const exited = new Promise((resolve) => child.once('exit', resolve));
			child.kill('SIGINT');
			await exited;
		});

		it("GIVEN a running sandbox WHEN a CLI loads its cli.env with --env-file THEN it lists, uploads and downloads, and the bot sees the CLI's archive", async () => {
			expect(ready.cliEnv).toBe(path.join(dir, 'sandbox', 'cli.env'));
			const text = await readFile(ready.cliEnv, 'utf8');
			expect(text).toContain(`DISCORD_API_URL=${ready.api}`);
			expect(text).toContain(`DOS_DB_PATH=${path.join(dir, 'sandbox', 'dos.sqlite')}`);
			expect(text).toContain(`DISCORD_DRIVE_STORAGE_CHANNEL_ID=${ready.storageChannelId}\n`);

			const empty = await dos(['--env-file', ready.cliEnv, 'list'], work());
			expect(empty.code, empty.stderr).toBe(0);
			expect(empty.stdout).toBe('No archives.\n');

			await mkdir(path.join(ready.uploadRoot, 'notes'), { recursive: true });
			await writeFile(path.join(ready.uploadRoot, 'notes', 'todo.txt'), 'buy milk\n');
			const upload = await dos(['--env-file', ready.cliEnv, 'upload', 'notes', '--label', 'Notes', '--json'], work());
			expect(upload.code, upload.stderr).toBe(0);
			const id = String(upload.result!.archiveId);

			// The bot answers from the same index: its /archive list shows the CLI's upload.
			const list = await new ControlClient(ready.control).run(
				{ kind: 'command', command: 'archive', subcommand: 'list' },
				{ done: (view) => view.reply !== undefined && JSON.stringify(view.reply).includes('#') }
			);
			expect(JSON.stringify(list.reply)).toContain(id);
			const download = await dos(['--env-file', ready.cliEnv, 'download', id, '--json'], work());
			expect(download.code, download.stderr).toBe(0);
			// Nothing was created in the working folder: the CLI used the sandbox's index and roots.
			expect(existsSync(path.join(work(), 'data'))).toBe(false);
		});

		it('GIVEN --env-file WHEN the environment also sets a variable THEN the environment wins, and a missing file is a configuration error', async () => {
			const overridden = await dos(['--env-file', ready.cliEnv, 'status', '--json'], work(), { DOS_DB_PATH: path.join(dir, 'other.sqlite') });
			expect(overridden.code).toBe(2);
			expect(overridden.stderr).toContain(`no index at ${path.join(dir, 'other.sqlite')}`);
			const missing = await dos(['--env-file', path.join(dir, 'no-such.env'), 'list'], work());
			expect(missing.code).toBe(2);
			expect(missing.stderr).toMatch(/no-such\.env cannot be read/);
		});
	});

	describe('dos emulator', () => {
		let emulator: Emulator;
		beforeAll(async () => {
			emulator = await startEmulator({ port: 0, dataDir: path.join(dir, 'emulator') });
		});
		afterAll(async () => {
			await emulator?.close();
		});

		it("GIVEN the settings dos emulator writes WHEN a CLI loads them THEN the emulator's own token is accepted and an upload lands there", async () => {
			const cliEnv = await writeCliEnv(emulator.dataDir, emulatorCliEnv(emulator), 'the emulator');
			expect(JSON.parse(readyLine(emulator, cliEnv))).toMatchObject({ token: 'emulator-bot-token', cliEnv });
			expect(await readFile(cliEnv, 'utf8')).toContain(`DISCORD_DRIVE_STORAGE_CHANNEL_ID=${emulator.ids.channels.storage}\n`);
			// `dos emulator --data ./rel` writes absolute paths: the file is read from wherever the CLI runs.
			const relative = emulatorCliEnv(Object.assign(Object.create(emulator) as Emulator, { dataDir: 'data/emulator' }));
			expect(relative.DOS_DB_PATH).toBe(path.resolve('data/emulator/dos.sqlite'));
			const work = path.join(dir, 'emulator-work');
			await mkdir(path.join(work, 'data', 'uploads', 'docs'), { recursive: true });
			await writeFile(path.join(work, 'data', 'uploads', 'docs', 'a.txt'), 'alpha\n');
			const upload = await dos(['--env-file', cliEnv, 'upload', 'docs', '--json'], work, { USER_KEY: testPassphrase });
			expect(upload.code, upload.stderr).toBe(0);
			expect(upload.stderr).not.toMatch(/does not look like a bot token/);
			const list = await dos(['--env-file', cliEnv, 'list'], work);
			expect(list.stdout).toContain(String(upload.result!.archiveId));
		});
		it('GIVEN archives with labels WHEN a command names one by its label or a file name THEN it is resolved when unique, and the candidates are listed when not', async () => {
			const cliEnv = await writeCliEnv(emulator.dataDir, emulatorCliEnv(emulator), 'the emulator');
			const work = path.join(dir, 'names-work');
			const env = {
				USER_KEY: testPassphrase,
				DISCORD_DRIVE_UPLOAD_PATH: path.join(work, 'up'),
				DISCORD_DRIVE_DOWNLOAD_PATH: path.join(work, 'down')
			};
			await mkdir(path.join(work, 'up', 'reports'), { recursive: true });
			await mkdir(path.join(work, 'up', 'minutes'), { recursive: true });
			await writeFile(path.join(work, 'up', 'reports', 'q3-summary.txt'), 'numbers\n');
			await writeFile(path.join(work, 'up', 'minutes', 'monday.txt'), 'talk\n');
			const first = await dos(['--env-file', cliEnv, 'upload', 'reports', '--label', 'Team reports', '--json'], work, env);
			const second = await dos(['--env-file', cliEnv, 'upload', 'minutes', '--label', 'Team minutes', '--json'], work, env);
			expect([first.code, second.code], first.stderr + second.stderr).toEqual([0, 0]);
			const [reports, minutes] = [String(first.result!.archiveId), String(second.result!.archiveId)];

			const byLabel = await dos(['--env-file', cliEnv, 'download', 'Team reports', '--json'], work, env);
			expect(byLabel.code, byLabel.stderr).toBe(0);
			expect(byLabel.result).toMatchObject({ archives: [{ archiveId: reports }] });
			const byFile = await dos(['--env-file', cliEnv, 'verify', 'monday.txt', '--json'], work, env);
			expect(byFile.code, byFile.stderr).toBe(0);
			expect(byFile.result).toMatchObject({ archiveId: minutes });

			const ambiguous = await dos(['--env-file', cliEnv, 'verify', 'Team'], work, env);
			expect(ambiguous.code).toBe(2);
			expect(ambiguous.stderr).toContain('[AMBIGUOUS_ARCHIVE]');
			expect(ambiguous.stderr).toContain(reports);
			expect(ambiguous.stderr).toContain(minutes);

			// A path is still a folder on disk, even with an archive channel set.
			const folder = await dos(['--env-file', cliEnv, 'verify', './no-such-folder'], work, env);
			expect(folder.stderr).toContain('is not a folder that can be read');
			const none = await dos(['--env-file', cliEnv, 'list', 'no such thing'], work, env);
			expect(none.code).toBe(0);
			// The repository's line follows, whatever the query matched (these archives are format 2).
			expect(none.stdout).toMatch(
				/^No archive matches "no such thing" \(by id, lot, label or folder\)\.\nRepository \(format 2\): 3 archives · /
			);
			const list = await dos(['--env-file', cliEnv, 'list', 'Team'], work, env);
			expect(list.stdout).toMatch(/Team reports · 📁 reports/);
			expect(list.stdout).toMatch(/ 1 file /);
		});
	});

	it('GIVEN only DISCORD_API_URL WHEN dos list runs THEN it says the CLI is pointed at no archive, creates no index, and exits 2', async () => {
		const work = path.join(dir, 'nowhere');
		await mkdir(work, { recursive: true });
		const run = await dos(['list'], work, { DISCORD_API_URL: 'http://127.0.0.1:9/api' });
		expect(run.code).toBe(2);
		expect(run.stdout).not.toContain('No archives');
		expect(run.stderr).toMatch(/no index at .*DISCORD_DRIVE_ARCHIVE_CHANNEL_ID is not set/i);
		expect(run.stderr).toContain('--env-file');
		expect(existsSync(path.join(work, 'data'))).toBe(false);
	});

	it('GIVEN an id the index does not hold WHEN a CLI command names it THEN the error names dos commands, not slash commands', async () => {
		const work = path.join(dir, 'wording');
		await mkdir(work, { recursive: true });
		const env = {
			DOS_DB_PATH: path.join(work, 'index.sqlite'),
			DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: '123456789012345678',
			DISCORD_BOT_TOKEN: 'emulator-bot-token',
			DISCORD_API_URL: 'http://127.0.0.1:9/api'
		};
		// The index exists (a cleanup of nothing opens it), then a lookup fails.
		const run = await dos(['cleanup', '#010101-99', '--yes'], work, env);
		expect(run.stderr).toContain('ARCHIVE_NOT_FOUND');
		expect(run.stderr).toContain('(dos list)');
		expect(run.stderr).toContain('(dos index rebuild)');
		expect(run.stderr).not.toContain('/archive');
	});

	it('GIVEN an error message that echoes a secret WHEN the CLI prints it THEN the secret is redacted, in text and in JSON', async () => {
		const work = path.join(dir, 'redaction');
		await mkdir(work, { recursive: true });
		const env = {
			DOS_DB_PATH: path.join(work, 'index.sqlite'),
			DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: '123456789012345678',
			DISCORD_BOT_TOKEN: 'emulator-bot-token',
			DISCORD_API_URL: 'http://127.0.0.1:9/api',
			USER_KEY: 'hunter2hunter2'
		};
		// A person pastes the passphrase where the archive goes: the "no archive matches" message would echo it.
		const run = await dos(['cleanup', 'hunter2hunter2', '--yes', '--json'], work, env);
		expect(run.stderr).toContain('ARCHIVE_NOT_FOUND');
		expect(run.stderr).toContain('[redacted]');
		expect(`${run.stdout}${run.stderr}`).not.toContain('hunter2hunter2');
	});
});
