import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacySampleFiles } from '../../src/cli/legacy-seed.js';
import { builtCli, ensureBuilt, repoRoot } from '../e2e/support.js';

/**
 * The README's "Moving over from the original tool" walk-through, run as printed: every command of its sandbox
 * blocks, through a shell, in a temp folder, with `npm run dos --` standing for the built CLI it runs.
 */

interface Block {
	readonly lines: readonly string[];
}

async function walkThrough(): Promise<Block[]> {
	const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
	const start = readme.indexOf('## Moving over from the original tool\n');
	expect(start).toBeGreaterThanOrEqual(0);
	const end = readme.indexOf('\n## ', start + 1);
	const section = readme.slice(start, end);
	return [...section.matchAll(/```sh\n([\s\S]*?)```/gu)].map((match) => ({
		lines: match[1]!.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'))
	}));
}

const quote = (text: string) => `'${text.replace(/'/gu, `'\\''`)}'`;
/** `npm run dos -- …` is `node dist/cli/index.js …` (package.json); the rest of the line stays as printed. */
const asRun = (line: string) => line.replaceAll('npm run dos -- ', `${quote(process.execPath)} ${quote(builtCli)} `);

async function hashes(folder: string): Promise<Record<string, string>> {
	const out: Record<string, string> = {};
	for (const name of (await readdir(folder)).sort()) {
		out[name] = createHash('sha256')
			.update(await readFile(path.join(folder, name)))
			.digest('hex');
	}
	return out;
}

describe('the README walk-through "Moving over from the original tool", against the sandbox', () => {
	let dir: string;
	let sandbox: ChildProcess | undefined;
	let exited: Promise<number | null>;
	const env = () => ({ PATH: process.env.PATH ?? '', HOME: dir });

	beforeAll(async () => {
		await ensureBuilt();
		dir = await mkdtemp(path.join(tmpdir(), 'dos-moving-over-'));
	}, 300_000);

	afterAll(async () => {
		if (sandbox !== undefined && sandbox.exitCode === null) {
			sandbox.kill('SIGINT');
			await exited;
		}
		await rm(dir, { recursive: true, force: true });
	});

	it('GIVEN the sandbox started --with-legacy WHEN every printed command runs THEN each succeeds and both restores are byte-identical to what was seeded', async () => {
		const blocks = await walkThrough();
		const [start, walk, rebuild] = blocks;
		expect(start!.lines).toEqual(['npm run dos -- sandbox --data data/moving-over --with-legacy']);
		expect(blocks.length).toBe(4);

		sandbox = spawn('sh', ['-c', `exec ${asRun(start!.lines[0]!)}`], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
		let stderr = '';
		sandbox.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
		exited = new Promise((resolve) =>
			sandbox!.once('exit', (code) => {
				resolve(code);
			})
		);
		const first = await new Promise<string>((resolve, reject) => {
			createInterface({ input: sandbox!.stdout! }).once('line', resolve);
			sandbox!.once('exit', (code) => {
				reject(new Error(`dos sandbox exited with ${code}:\n${stderr}`));
			});
		});
		const ready = JSON.parse(first) as { storageChannelId: string; legacy: { archiveId: string; logFile: string } };
		expect(ready.legacy).toMatchObject({ archiveId: '#201124-01', logFile: path.join(dir, 'data/moving-over/discord-drive-history.json') });
		expect(ready.storageChannelId).toMatch(/^\d{17,20}$/u);
		expect(await readFile(path.join(dir, 'data/moving-over/cli.env'), 'utf8')).toContain(
			`DISCORD_DRIVE_STORAGE_CHANNEL_ID=${ready.storageChannelId}`
		);
		// The history log has the original's shape: ids as bare integers.
		expect(await readFile(ready.legacy.logFile, 'utf8')).toMatch(/"message_ids": \[\n {12}\d{17,20},/u);

		const outputs: string[] = [];
		for (const line of [...walk!.lines, ...rebuild!.lines]) {
			const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
				execFile('sh', ['-c', asRun(line)], { cwd: dir, env: env() }, (error, stdout, stderr) => {
					resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
				});
			});
			expect({ line, ...result }).toMatchObject({ line, code: 0 });
			outputs.push(result.stdout);
		}
		// What the README says the import prints, and the two `diff -r … && echo identical` lines.
		expect(outputs[1]).toContain('#201124-01 · lot 1 · complete · 6 message(s) in the storage channel');
		expect(outputs.filter((out) => out.trim() === 'identical')).toHaveLength(2);
		// A thread-less archive has no thread: the download's note about its manifest does not speak of one.
		expect(outputs[2]).toContain('the only one among its messages');
		expect(outputs[2]).not.toContain('thread');

		// Byte-identical to the sample content itself, not only to the copy the sandbox wrote beside it.
		const seeded: Record<string, string> = {};
		for (const file of legacySampleFiles().sort((a, b) => a.name.localeCompare(b.name))) {
			seeded[file.name] = createHash('sha256').update(file.data).digest('hex');
		}
		expect(Object.keys(seeded)).toHaveLength(3);
		expect(await hashes(path.join(dir, 'data/moving-over/downloads/#201124-01 legacy-sample'))).toEqual(seeded);
		expect(await hashes(path.join(dir, 'data/moving-over/rebuilt/#201124-01 legacy-sample'))).toEqual(seeded);

		sandbox.kill('SIGINT');
		expect(await exited).toBe(0);
	}, 300_000);
});
