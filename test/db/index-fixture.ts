import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openIndex, type HistoryIndex, type NewArchive } from '../../src/db/index.js';

/** A clock the test moves by hand. */
export interface ManualClock {
	readonly now: () => number;
	advance(ms: number): void;
}

export function manualClock(start = new Date(2024, 10, 26, 12, 0, 0).getTime()): ManualClock {
	let current = start;
	return {
		now: () => current,
		advance: (ms) => {
			current += ms;
		}
	};
}

/** An in-memory index with the real migrations and a manual clock. */
export function memoryIndex(clock: ManualClock = manualClock()): HistoryIndex {
	return openIndex({ path: ':memory:', clock: clock.now });
}

/** A temp folder removed by the returned function. */
export function tempFolder(): { readonly path: string; readonly remove: () => void } {
	const path = mkdtempSync(join(tmpdir(), 'dos-db-'));
	return {
		path,
		remove: () => {
			rmSync(path, { recursive: true, force: true });
		}
	};
}

/** A random 128-bit uid, as the upload makes them. */
export function nextUid(): string {
	return randomBytes(16).toString('hex');
}

/** A new archive as the upload would create it. */
export function newArchive(overrides: Partial<NewArchive> = {}): NewArchive {
	return { uid: nextUid(), source: 'photos-2024', label: 'photos-2024', chunkSize: 1_000, gzipLevel: 9, ...overrides };
}

/** A hex sha256-looking string made of one repeated digit. */
export function fakeSha(digit: string): string {
	return digit.repeat(64);
}
