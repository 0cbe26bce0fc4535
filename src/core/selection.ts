import { CoreError, CoreErrorCode, isCoreError } from './errors.js';
import type { Manifest } from './manifest.js';
import { assertSafeRelativePath } from './paths.js';
import type { EntryType } from './walk.js';
import { chunksSpanned } from './plan.js';

/**
 * The entries a restore of `paths` touches, in manifest order: each named entry, everything under a named directory,
 * and the directories above them. No paths (or an empty list) selects everything. Format 1 and format 2 manifests
 * alike, so that `--path` means one thing whatever the archive.
 *
 * @throws {CoreError} INVALID_OPTION for a path that could not be inside an archive; NOT_FOUND naming every path the
 * archive does not hold.
 */
export function selectEntries<Entry extends { readonly path: string; readonly type: EntryType }>(
	manifest: { readonly entries: readonly Entry[] },
	paths?: readonly string[]
): Entry[] {
	if (paths === undefined || paths.length === 0) return [...manifest.entries];
	const wanted = paths.map(selectionPath);
	const byPath = new Map(manifest.entries.map((entry) => [entry.path, entry]));
	const missing = wanted.filter((path) => !byPath.has(path));
	if (missing.length > 0) {
		throw new CoreError(
			CoreErrorCode.NotFound,
			`Not in this archive: ${missing.join(', ')}. Check the spelling and case (paths are relative to the archive root).`,
			{
				paths: missing
			}
		);
	}
	const selected = new Set<string>();
	for (const path of wanted) {
		selected.add(path);
		for (let slash = path.indexOf('/'); slash >= 0; slash = path.indexOf('/', slash + 1)) selected.add(path.slice(0, slash));
	}
	const directories = wanted.filter((path) => byPath.get(path)!.type === 'directory');
	return manifest.entries.filter((entry) => selected.has(entry.path) || directories.some((dir) => entry.path.startsWith(`${dir}/`)));
}

/**
 * The data chunks a restore of `paths` reads (ascending): only the chunks the selected files span. The archive
 * service downloads just these.
 *
 * @throws {CoreError} INVALID_OPTION; NOT_FOUND.
 */
export function chunksForPaths(manifest: Pick<Manifest, 'entries' | 'chunkSize'>, paths?: readonly string[]): number[] {
	const chunks = new Set<number>();
	for (const entry of selectEntries(manifest, paths)) {
		if (entry.type === 'file') for (const index of chunksSpanned(manifest.chunkSize, entry.offset!, entry.size)) chunks.add(index);
	}
	return [...chunks].sort((a, b) => a - b);
}

/**
 * A path a user selects (`--path`, the download's paths) as the archive spells it: `a/b`, `./a/b` and `a/b/` all name
 * the entry `a/b`.
 *
 * @throws {CoreError} INVALID_OPTION for a path no archive can hold (absolute, `..`, empty or `.` segments, a
 * backslash, NUL): refused before anything is read or written.
 */
export function selectionPath(path: string): string {
	let normalized = path.replace(/^(\.\/)+/, '');
	while (normalized.endsWith('/')) normalized = normalized.slice(0, -1);
	try {
		assertSafeRelativePath(normalized);
	} catch (error) {
		if (!isCoreError(error)) throw error;
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			`The path ${JSON.stringify(path)} cannot be inside an archive: paths are relative to the archive root, '/'-separated, with no '..', '.' or empty segment and no NUL.`,
			{ paths: [path] }
		);
	}
	return normalized;
}
