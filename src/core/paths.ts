import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { CoreError, CoreErrorCode } from './errors.js';

/** Longest path we accept from a manifest, in UTF-16 code units (Linux's PATH_MAX is 4096 bytes). */
const MAX_PATH_LENGTH = 4096;

/**
 * Checks one name (a single path segment) from untrusted input: no separators, no NUL, not `.` or `..`,
 * not empty. Legacy manifests name top-level files only, so they go through this.
 *
 * @throws {CoreError} UNSAFE_PATH when the name could escape or is not a plain name.
 */
export function assertSafeName(name: string): void {
	if (
		typeof name !== 'string' ||
		name.length === 0 ||
		name === '.' ||
		name === '..' ||
		name.includes('/') ||
		name.includes('\\') ||
		name.includes('\0') ||
		name.length > 255
	) {
		throw new CoreError(
			CoreErrorCode.UnsafePath,
			`Refusing unsafe name ${JSON.stringify(name)}: names may not be empty, '.', '..', or contain '/', '\\' or NUL.`,
			{
				paths: [name]
			}
		);
	}
}

/**
 * Checks a relative archive path (`/`-separated, as stored in a manifest): not absolute, no drive letter,
 * no empty, `.` or `..` segment, no backslash and no NUL.
 *
 * @throws {CoreError} UNSAFE_PATH when the path could escape its root.
 */
export function assertSafeRelativePath(relative: string): void {
	if (
		typeof relative !== 'string' ||
		relative.length === 0 ||
		relative.length > MAX_PATH_LENGTH ||
		relative.startsWith('/') ||
		/^[A-Za-z]:/.test(relative)
	) {
		throw new CoreError(
			CoreErrorCode.UnsafePath,
			`Refusing unsafe path ${JSON.stringify(relative)}: archive paths must be relative and '/'-separated.`,
			{
				paths: [relative]
			}
		);
	}
	for (const segment of relative.split('/')) {
		try {
			assertSafeName(segment);
		} catch {
			throw new CoreError(
				CoreErrorCode.UnsafePath,
				`Refusing unsafe path ${JSON.stringify(relative)}: it has an empty, '.', '..' or otherwise unsafe segment.`,
				{
					paths: [relative]
				}
			);
		}
	}
}

/**
 * Whether `target` is `root` itself or lies below it, lexically: both are resolved (so `..` segments count) and
 * compared by whole segments, so `/root-other` is not inside `/root`. Symlinks are not looked at: use
 * {@link isRealInside} where the path on disk may go through one (a folder someone else can write into).
 * This is the one containment test of the project; upload admission, upload folder suggestions and
 * {@link resolveInside} all go through it.
 */
export function isInside(root: string, target: string): boolean {
	const relative = path.relative(path.resolve(root), path.resolve(target));
	return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/**
 * {@link isInside} on the real paths: both `root` and `target` have their symlinks resolved first, so a symlink
 * under the root that points out of it is outside. A path that does not exist (or cannot be resolved) is outside.
 *
 * @returns the real path of `target` when it is inside the real root, otherwise `undefined`.
 */
export async function isRealInside(root: string, target: string): Promise<string | undefined> {
	let realRoot: string;
	let realTarget: string;
	try {
		[realRoot, realTarget] = await Promise.all([realpath(root), realpath(target)]);
	} catch {
		return undefined;
	}
	return isInside(realRoot, realTarget) ? realTarget : undefined;
}

/** The real path of `target`: the symlinks of the deepest part of it that exists resolved, the rest appended as given. */
async function realPathSoFar(target: string): Promise<string> {
	const missing: string[] = [];
	for (let existing = path.resolve(target); ;) {
		try {
			return path.join(await realpath(existing), ...missing.reverse());
		} catch {
			const parent = path.dirname(existing);
			if (parent === existing) return path.resolve(target);
			missing.push(path.basename(existing));
			existing = parent;
		}
	}
}

/**
 * Refuses an output (a repository, a staged archive folder) inside the folder being archived, symlinks resolved: every
 * later run would archive the output too. A source that cannot be resolved is left to the walk to report.
 *
 * @throws {CoreError} INVALID_OPTION.
 */
export async function assertOutsideSource(source: string, out: string, what: string): Promise<void> {
	let realSource: string;
	try {
		realSource = await realpath(source);
	} catch {
		return;
	}
	if (isInside(realSource, await realPathSoFar(out)))
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			`${what} ${out} is inside the folder being archived (${source}): every run would archive it too. Put it outside that folder.`,
			{ file: out }
		);
}

/**
 * Resolves a checked relative archive path under `root` and makes sure, lexically, that the result stays
 * inside it. Symlinks on disk are the caller's concern (the assembler never follows one it did not make).
 *
 * @throws {CoreError} UNSAFE_PATH when the path is unsafe or would leave `root`.
 */
export function resolveInside(root: string, relative: string): string {
	assertSafeRelativePath(relative);
	const base = path.resolve(root);
	const target = path.resolve(base, ...relative.split('/'));
	if (!isInside(base, target)) {
		throw new CoreError(CoreErrorCode.UnsafePath, `Refusing path ${JSON.stringify(relative)}: it would be written outside ${base}.`, {
			paths: [relative]
		});
	}
	return target;
}

/**
 * Whether a symlink placed at `linkPath` (relative, inside the restore root) with `target` would point
 * inside the restore root. Absolute targets never do.
 */
export function isSymlinkTargetInside(linkPath: string, target: string): boolean {
	if (target.length === 0 || target.includes('\0') || path.posix.isAbsolute(target) || path.win32.isAbsolute(target)) return false;
	const parent = path.posix.dirname(linkPath);
	const joined = path.posix.normalize(path.posix.join(parent, target));
	return joined !== '..' && !joined.startsWith('../');
}
