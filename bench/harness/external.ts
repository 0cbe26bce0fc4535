import { spawn } from 'node:child_process';
import { access, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const GNU_TIME = '/usr/bin/time';

export interface ExternalRun {
	readonly seconds: number;
	/** Peak RSS of the largest process of the command (GNU time's %M), or undefined without GNU time. */
	readonly peakRssBytes: number | undefined;
}

/**
 * Runs a bash script (with `set -euo pipefail`) and measures its wall time and, through GNU time when present, the
 * peak RSS of its largest process. `args` are the script's `$1…`.
 *
 * @throws Error when the script fails.
 */
export async function runExternal(script: string, args: readonly string[] = []): Promise<ExternalRun> {
	const hasTime = await access(GNU_TIME).then(
		() => true,
		() => false
	);
	const rssFile = path.join(os.tmpdir(), `dos-bench-time-${process.pid}-${Date.now()}.txt`);
	const bash = ['bash', '-c', `set -euo pipefail\n${script}`, 'bench', ...args];
	const command = hasTime ? [GNU_TIME, '-f', '%M', '-o', rssFile, ...bash] : bash;
	const started = performance.now();
	const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
		const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
		let stderr = '';
		child.stderr.setEncoding('utf8').on('data', (text: string) => {
			stderr = (stderr + text).slice(-4000);
		});
		child.on('error', reject);
		child.on('exit', (exitCode) => {
			resolve({ code: exitCode, stderr });
		});
	});
	const seconds = (performance.now() - started) / 1000;
	let peakRssBytes: number | undefined;
	if (hasTime) {
		const text = await readFile(rssFile, 'utf8').catch(() => '');
		await rm(rssFile, { force: true });
		const kilobytes = Number(text.trim().split('\n').pop());
		if (Number.isFinite(kilobytes) && kilobytes > 0) peakRssBytes = kilobytes * 1024;
	}
	if (code !== 0) throw new Error(`external command failed (exit ${code}): ${stderr.trim()}`);
	return { seconds, peakRssBytes };
}
