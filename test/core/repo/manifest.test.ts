import { describe, expect, it } from 'vitest';
import { CoreError, CoreErrorCode, validateManifestV2 } from '../../../src/core/index.js';

const BLOB = 'ab'.repeat(32);
const SHA = 'cd'.repeat(32);

function manifest(entries: unknown[]): Record<string, unknown> {
	const files = entries.filter((entry) => (entry as { type?: unknown }).type === 'file') as { size: number }[];
	const bytes = files.reduce((sum, file) => sum + (Number.isSafeInteger(file.size) && file.size >= 0 ? file.size : 0), 0);
	return {
		format: 'discord-object-store',
		version: 2,
		id: '#061226-01',
		label: '',
		createdAt: '2026-12-06T00:00:00.000Z',
		tool: 'test',
		codec: 'zstd-3',
		dedup: 'repository',
		packs: [],
		entries,
		totals: {
			files: files.length,
			directories: entries.length - files.length,
			symlinks: 0,
			bytes,
			newBytes: bytes,
			reusedBytes: 0,
			storedBytes: 0,
			blobs: files.length,
			newBlobs: files.length
		}
	};
}

const file = { path: 'a.txt', type: 'file', size: 5, mode: 0o644, mtimeMs: 1, sha256: SHA, blobs: [BLOB] };

describe('validateManifestV2: the shape of every entry', () => {
	it('accepts a well-formed manifest', () => {
		const valid = validateManifestV2(
			manifest([
				{ path: 'd', type: 'directory', size: 0, mode: 0o755, mtimeMs: 0 },
				{ ...file, path: 'd/a.txt' }
			])
		);
		expect(valid.entries).toHaveLength(2);
	});

	it.each([
		['not an object', 'x', 'not an object'],
		['an unknown field', { ...file, extra: 1 }, 'extra: unknown field'],
		['no path', { ...file, path: undefined }, 'path: missing'],
		['an empty path', { ...file, path: '' }, 'path: not a text'],
		['a path of 4,097 characters', { ...file, path: 'a'.repeat(4097) }, 'path: not a text'],
		['an unknown type', { ...file, type: 'fifo' }, 'type: not file'],
		['a negative size', { ...file, size: -1 }, 'size: not an integer'],
		['a fractional size', { ...file, size: 1.5 }, 'size: not an integer'],
		['a size past 2^53', { ...file, size: 2 ** 53 }, 'size: not an integer'],
		['a mode past 0o7777', { ...file, mode: 0o10000 }, 'mode: not an integer'],
		['a text mtime', { ...file, mtimeMs: '1' }, 'mtimeMs: not a number'],
		['an infinite mtime', { ...file, mtimeMs: Number.POSITIVE_INFINITY }, 'mtimeMs: not a number'],
		['an upper-case hash', { ...file, sha256: SHA.toUpperCase() }, 'sha256: not 64 hex digits'],
		['a short hash', { ...file, sha256: SHA.slice(2) }, 'sha256: not 64 hex digits'],
		['blobs not a list', { ...file, blobs: BLOB }, 'blobs: not a list'],
		['a short blob id', { ...file, blobs: [BLOB.slice(1)] }, 'blobs.0: not 64 hex digits'],
		['a number as blob id', { ...file, blobs: [7] }, 'blobs.0: not 64 hex digits'],
		['an empty symlink target', { path: 'l', type: 'symlink', size: 0, mode: 0o777, mtimeMs: 0, target: '' }, 'target: not a text']
	])('refuses %s as BAD_FORMAT, naming the entry and the field', (_, entry, why) => {
		let thrown: unknown;
		try {
			validateManifestV2(manifest([entry]));
		} catch (error) {
			thrown = error;
		}
		expect(thrown).toBeInstanceOf(CoreError);
		expect((thrown as CoreError).code).toBe(CoreErrorCode.BadFormat);
		expect((thrown as CoreError).message).toContain(`entries.0: ${why}`);
	});
});
