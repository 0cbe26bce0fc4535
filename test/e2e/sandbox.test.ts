import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/emulator/control-client.js';
import { builtCli, ensureBuilt } from './support.js';

/** `dos sandbox` and `npm run demo` as a newcomer runs them: the built CLI, no token, no USER_KEY, offline. */
describe('dos sandbox and dos demo', () => {
	let dir: string;

	beforeAll(async () => {
		await ensureBuilt();
		dir = await mkdtemp(path.join(tmpdir(), 'dos-sandbox-e2e-'));
	}, 300_000);

	afterAll(async () => {
		await rm(dir, { recursive: true, force: true });
	});

	it('GIVEN no USER_KEY WHEN dos sandbox starts THEN it says so loudly, prints one ready line, answers /archive, and stops on SIGINT', async () => {
		const child = spawn(process.execPath, [builtCli, 'sandbox', '--data', 'sandbox'], {
			cwd: dir,
			env: { PATH: process.env.PATH ?? '', HOME: dir },
			stdio: ['ignore', 'pipe', 'pipe']
		});
		let stderr = '';
		child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
		const exited = new Promise<number | null>((resolve) =>
			child.once('exit', (code) => {
				resolve(code);
			})
		);
		const lines = createInterface({ input: child.stdout });
		const first = await new Promise<string>((resolve, reject) => {
			lines.once('line', resolve);
			child.once('exit', (code) => {
				reject(new Error(`dos sandbox exited with ${code}:\n${stderr}`));
			});
		});
		const ready = JSON.parse(first) as Record<string, string>;
		expect(ready).toMatchObject({
			ready: true,
			uploadRoot: path.join(dir, 'sandbox/uploads'),
			downloadRoot: path.join(dir, 'sandbox/downloads'),
			archiveChannelId: expect.stringMatching(/^\d{17,20}$/) as string
		});
		expect(stderr).toContain('!!! USER_KEY is not set');
		const key = (await readFile(path.join(dir, 'sandbox/sandbox-user-key'), 'utf8')).trim();
		expect(stderr).not.toContain(key);

		const control = new ControlClient(ready.control!);
		const status = await control.run(
			{ kind: 'command', command: 'archive', subcommand: 'status' },
			{ done: (view) => view.reply?.embeds.length === 1 }
		);
		expect(JSON.stringify(status.reply?.embeds)).toContain('🔒 on');
		child.kill('SIGINT');
		expect(await exited).toBe(0);
	});

	it("GIVEN USER_KEY in ./.env WHEN dos sandbox starts THEN it uses that key (no generated key, no warning) and the file's Discord settings do not leak in", async () => {
		const cwd = await mkdtemp(path.join(dir, 'with-env-'));
		await writeFile(path.join(cwd, '.env'), 'USER_KEY=a passphrase from the env file\nDISCORD_API_URL=http://127.0.0.1:9/api\n');
		const child = spawn(process.execPath, [builtCli, 'sandbox', '--data', 'sandbox'], {
			cwd,
			env: { PATH: process.env.PATH ?? '', HOME: cwd },
			stdio: ['ignore', 'pipe', 'pipe']
		});
		let stderr = '';
		child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
		const exited = new Promise<number | null>((resolve) =>
			child.once('exit', (code) => {
				resolve(code);
			})
		);
		const first = await new Promise<string>((resolve, reject) => {
			createInterface({ input: child.stdout }).once('line', resolve);
			child.once('exit', (code) => {
				reject(new Error(`dos sandbox exited with ${code}:\n${stderr}`));
			});
		});
		const ready = JSON.parse(first) as Record<string, string>;
		expect(stderr).not.toContain('USER_KEY is not set');
		expect(existsSync(path.join(cwd, 'sandbox/sandbox-user-key'))).toBe(false);
		// The bot answers through the sandbox's Discord, not the DISCORD_API_URL of the file.
		const status = await new ControlClient(ready.control!).run(
			{ kind: 'command', command: 'archive', subcommand: 'status' },
			{ done: (view) => view.reply?.embeds.length === 1 }
		);
		expect(JSON.stringify(status.reply?.embeds)).toContain('🔒 on');
		expect(stderr).not.toContain('a passphrase from the env file');
		child.kill('SIGINT');
		expect(await exited).toBe(0);
	});

	it('GIVEN a fresh checkout WHEN npm run demo runs THEN it uploads, verifies and downloads through the bot and exits 0 with identical files', async () => {
		const child = spawn(process.execPath, [builtCli, 'demo'], {
			cwd: dir,
			env: { PATH: process.env.PATH ?? '', HOME: dir },
			stdio: ['ignore', 'pipe', 'pipe']
		});
		let output = '';
		child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
		child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
		const code = await new Promise<number | null>((resolve) =>
			child.once('exit', (exit) => {
				resolve(exit);
			})
		);
		expect(code, output).toBe(0);
		for (const step of [
			'/archive upload source:demo-folder',
			'card: complete — 5 files',
			'/archive verify',
			'is whole (full)',
			'/archive download',
			'✓ identical',
			'[Download] [Verify] [Delete]'
		]) {
			expect(output).toContain(step);
		}
		expect(output).not.toContain('dos-card/');
		// The card moves before it completes; format 2 (the default) never reads as 0/0 chunks or as a legacy format.
		expect(output).toMatch(/card: (⚙️ Slicing|⬆️ Uploading)/);
		expect(output).toContain('Lot 1 · format 2');
		expect(output).not.toMatch(/0\/0 chunks|legacy format dos-2|\(0 files, 0 B\)/);
	});
});
