import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type CryptoPool, createCryptoPool } from '../../src/core/index.js';
import { makeTemp, removeTemp } from './tree.js';

/** The passphrase of the core tests' archives. */
export const PASS = 'correct horse battery staple';

/** The crypto pool of this test file (set in beforeAll). */
export let pool: CryptoPool;
/** A temporary folder for this test file (set in beforeAll, removed in afterAll). */
export let work: string;
let cases = 0;

/** A crypto pool and a temporary folder for the test file that calls it, closed and removed after its last test. */
export function useCoreWorkspace(options: { workers: number; prefix?: string }): void {
	beforeAll(async () => {
		pool = createCryptoPool({ workers: options.workers });
		work = await makeTemp(options.prefix);
	});
	afterAll(async () => {
		await pool.close();
		await removeTemp(work);
	});
}

/** A fresh path `<work>/<name>-<n>` (not created). */
export function nextCase(name: string): string {
	return path.join(work, `${name}-${++cases}`);
}

/** A fresh folder `<work>/<name>-<n>`, created. */
export async function freshCase(name: string): Promise<string> {
	const dir = nextCase(name);
	await mkdir(dir, { recursive: true });
	return dir;
}
