import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The archive made by the original tool, as the repository keeps it (never the shared copy). */
export const FIXTURE_ROOT = fileURLToPath(new URL('../../fixtures/legacy-v3.1/', import.meta.url));
export const FIXTURE_FOLDER_NAME = '[Archive] #241126-07';
export const FIXTURE_DIR = path.join(FIXTURE_ROOT, FIXTURE_FOLDER_NAME);
export const FIXTURE_KEY = 'correct horse battery staple';
export const FIXTURE_MANIFEST = '11-manifest_021328_241126.json';

export async function expectedHashes(): Promise<Record<string, string>> {
	return JSON.parse(await readFile(path.join(FIXTURE_ROOT, 'expected-sha256.json'), 'utf8')) as Record<string, string>;
}

/** A scratch folder under the OS temp dir, removed by the returned `cleanup`. */
export async function scratch(): Promise<{ root: string; cleanup: () => Promise<void> }> {
	const root = await mkdtemp(path.join(os.tmpdir(), 'dos-legacy-test-'));
	return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Copies the fixture archive folder into `root` and returns the copy's path. */
export async function copyFixture(root: string): Promise<string> {
	const dir = path.join(root, FIXTURE_FOLDER_NAME);
	await cp(FIXTURE_DIR, dir, { recursive: true });
	return dir;
}

/** Counts PBKDF2 derivations announced on `dos:kdf` while `work` runs. */
export async function countDerivations<T>(work: () => Promise<T>): Promise<{ result: T | undefined; error: unknown; derivations: number }> {
	let derivations = 0;
	const listener = () => {
		derivations++;
	};
	subscribe('dos:kdf', listener);
	try {
		return { result: await work(), error: undefined, derivations };
	} catch (error) {
		return { result: undefined, error, derivations };
	} finally {
		unsubscribe('dos:kdf', listener);
	}
}
