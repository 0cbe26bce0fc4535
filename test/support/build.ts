import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const builtBot = path.join(repoRoot, 'dist/bot/index.js');
export const builtCli = path.join(repoRoot, 'dist/cli/index.js');

/** Whether `dist/` holds the bot and the CLI, built after the newest file under `src/`. */
export function builtIsFresh(): boolean {
	let built: number;
	try {
		built = Math.min(statSync(builtBot).mtimeMs, statSync(builtCli).mtimeMs);
	} catch {
		return false;
	}
	const newest = (folder: string): number => {
		let latest = 0;
		for (const entry of readdirSync(folder, { withFileTypes: true })) {
			const full = path.join(folder, entry.name);
			latest = Math.max(latest, entry.isDirectory() ? newest(full) : entry.name.endsWith('.ts') ? statSync(full).mtimeMs : 0);
		}
		return latest;
	};
	return newest(path.join(repoRoot, 'src')) <= built;
}

/**
 * Checks that `dist/` is fresh: the e2e project's global setup (`test/support/build.ts`) builds it once before any
 * test file runs. `DOS_E2E_BUILD=0` skips the check (CI builds in `npm ci`).
 */
export function ensureBuilt(): Promise<void> {
	if (process.env.DOS_E2E_BUILD !== '0' && !builtIsFresh())
		return Promise.reject(new Error('dist/ is older than src/: run this file in the e2e project (vitest --project e2e) or npm run build.'));
	return Promise.resolve();
}

/**
 * The e2e project's global setup: builds `dist/` once, before any test file runs, when a file under `src/` is newer
 * than the last build. `DOS_E2E_BUILD=0` skips it (CI builds in `npm ci`).
 */
export default function setup(): void {
	if (process.env.DOS_E2E_BUILD === '0' || builtIsFresh()) return;
	const result = spawnSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
		cwd: repoRoot,
		encoding: 'utf8'
	});
	// tsc emits even when another file in the tree has a type error; the bot's own files must have been emitted.
	if (!builtIsFresh()) throw new Error(`npm run build did not produce a fresh dist/:\n${result.stdout}${result.stderr}`);
}
