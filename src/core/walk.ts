import { type Dirent, lstatSync, readdirSync, readlinkSync, realpathSync, type Stats, statSync } from 'node:fs';
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted } from './abort.js';
import { CoreError, CoreErrorCode } from './errors.js';
import { assertSafeName } from './paths.js';

/** What an archive entry is. */
export type EntryType = 'file' | 'directory' | 'symlink';

/** One thing found under the source folder. */
export interface SourceEntry {
	/** Relative to the source folder, `/`-separated. */
	readonly path: string;
	readonly type: EntryType;
	/** Bytes (files); 0 for directories and symlinks. */
	readonly size: number;
	/** Permission bits (`mode & 0o7777`). */
	readonly mode: number;
	readonly mtimeMs: number;
	/** A symlink's target, as stored on disk (never followed). */
	readonly target?: string;
}

/** Why an entry was left out. */
export type SkipReason = 'special-file' | 'unsafe-name' | 'unreadable-name' | 'unreadable';

/** Something under the source folder that the archive does not hold, and why. */
export interface SkippedSource {
	readonly path: string;
	readonly reason: SkipReason;
	readonly detail?: string;
}

/** The result of {@link walk}. */
export interface WalkResult {
	/** The source folder, absolute and with symlinks resolved. */
	readonly root: string;
	/** Entries in archive order: siblings by name in code-point order, a directory's contents right after it. */
	readonly entries: readonly SourceEntry[];
	readonly skipped: readonly SkippedSource[];
}

/** Options of {@link walk}. */
export interface WalkOptions {
	readonly signal?: AbortSignal;
}

/**
 * Walks a folder recursively in a stable order: files, directories (empty ones too) and symlinks (recorded with
 * their target, not followed), with modes and mtimes. Sockets, FIFOs and devices, names that are not valid UTF-8 or
 * not safe to restore (a backslash), and unreadable directories are skipped and reported.
 *
 * @throws {CoreError} NOT_FOUND when `root` is not a folder; ABORTED.
 */
export async function walk(root: string, options: WalkOptions = {}): Promise<WalkResult> {
	const steps = walkSteps(root);
	let answer: { value: unknown } | { error: unknown } = { value: undefined };
	for (;;) {
		const step: IteratorResult<WalkRequest, WalkResult> = 'error' in answer ? steps.throw(answer.error) : steps.next(answer.value);
		if (step.done === true) return step.value;
		const request: WalkRequest = step.value;
		if (request.op === 'visit') {
			throwIfAborted(options.signal);
			answer = { value: undefined };
			continue;
		}
		try {
			answer = { value: await askAsync(request) };
		} catch (error) {
			answer = { error };
		}
	}
}

/**
 * {@link walk} with synchronous calls, for a worker thread (where blocking is harmless): the same entries in the same
 * order, without one round trip to the thread pool per entry.
 *
 * @throws {CoreError} NOT_FOUND when `root` is not a folder.
 */
export function walkSync(root: string): WalkResult {
	const steps = walkSteps(root);
	let answer: { value: unknown } | { error: unknown } = { value: undefined };
	for (;;) {
		const step: IteratorResult<WalkRequest, WalkResult> = 'error' in answer ? steps.throw(answer.error) : steps.next(answer.value);
		if (step.done === true) return step.value;
		try {
			answer = { value: askSync(step.value) };
		} catch (error) {
			answer = { error };
		}
	}
}

/** What the walk asks of the file system (or, for `visit`, a point where it may be aborted). */
type WalkRequest = { readonly op: 'realpath' | 'stat' | 'lstat' | 'readlink' | 'readdir'; readonly path: string } | { readonly op: 'visit' };

function askAsync(request: WalkRequest): Promise<unknown> | undefined {
	switch (request.op) {
		case 'realpath':
			return realpath(request.path);
		case 'stat':
			return stat(request.path);
		case 'lstat':
			return lstat(request.path);
		case 'readlink':
			return readlink(request.path);
		case 'readdir':
			return readdir(request.path, { withFileTypes: true, encoding: 'buffer' });
		case 'visit':
			return undefined;
	}
}

function askSync(request: WalkRequest): unknown {
	switch (request.op) {
		case 'realpath':
			return realpathSync(request.path);
		case 'stat':
			return statSync(request.path);
		case 'lstat':
			return lstatSync(request.path);
		case 'readlink':
			return readlinkSync(request.path);
		case 'readdir':
			return readdirSync(request.path, { withFileTypes: true, encoding: 'buffer' });
		case 'visit':
			return undefined;
	}
}

/** The walk itself, asking for each file-system call by yielding it (so that one body serves both drivers). */
function* walkSteps(root: string): Generator<WalkRequest, WalkResult, unknown> {
	let realRoot: string;
	try {
		realRoot = (yield { op: 'realpath', path: root }) as string;
		if (!((yield { op: 'stat', path: realRoot }) as Stats).isDirectory()) throw new Error('not a directory');
	} catch (error) {
		throw new CoreError(CoreErrorCode.NotFound, `${root} is not a folder that can be read. Check the path.`, { file: root }, { cause: error });
	}
	const entries: SourceEntry[] = [];
	const skipped: SkippedSource[] = [];
	function* visit(absolute: string, relative: string): Generator<WalkRequest, void, unknown> {
		yield { op: 'visit' };
		let children: Dirent<Buffer>[];
		try {
			children = (yield { op: 'readdir', path: absolute }) as Dirent<Buffer>[];
		} catch (error) {
			skipped.push({ path: relative || '.', reason: 'unreadable', detail: (error as NodeJS.ErrnoException).code ?? String(error) });
			return;
		}
		const named: { name: string; raw: Buffer }[] = [];
		for (const child of children) {
			const raw = child.name;
			const name = raw.toString('utf8');
			const childRelative = relative ? `${relative}/${name}` : name;
			if (!Buffer.from(name, 'utf8').equals(raw)) {
				skipped.push({ path: childRelative, reason: 'unreadable-name', detail: `name bytes ${raw.toString('hex')} are not UTF-8` });
				continue;
			}
			try {
				assertSafeName(name);
			} catch {
				skipped.push({ path: childRelative, reason: 'unsafe-name', detail: 'names with a backslash cannot be restored safely' });
				continue;
			}
			named.push({ name, raw });
		}
		named.sort((a, b) => Buffer.compare(a.raw, b.raw));
		for (const { name } of named) {
			const childAbsolute = path.join(absolute, name);
			const childRelative = relative ? `${relative}/${name}` : name;
			let info;
			try {
				info = (yield { op: 'lstat', path: childAbsolute }) as Stats;
			} catch (error) {
				skipped.push({ path: childRelative, reason: 'unreadable', detail: (error as NodeJS.ErrnoException).code ?? String(error) });
				continue;
			}
			const common = { path: childRelative, mode: info.mode & 0o7777, mtimeMs: info.mtimeMs };
			if (info.isFile()) {
				entries.push({ ...common, type: 'file', size: info.size });
			} else if (info.isDirectory()) {
				entries.push({ ...common, type: 'directory', size: 0 });
				yield* visit(childAbsolute, childRelative);
			} else if (info.isSymbolicLink()) {
				let target: string;
				try {
					target = (yield { op: 'readlink', path: childAbsolute }) as string;
				} catch (error) {
					skipped.push({ path: childRelative, reason: 'unreadable', detail: (error as NodeJS.ErrnoException).code ?? String(error) });
					continue;
				}
				entries.push({ ...common, type: 'symlink', size: 0, target });
			} else {
				const kind = info.isSocket() ? 'socket' : info.isFIFO() ? 'fifo' : info.isBlockDevice() ? 'block device' : 'character device';
				skipped.push({ path: childRelative, reason: 'special-file', detail: kind });
			}
		}
	}
	yield* visit(realRoot, '');
	return { root: realRoot, entries, skipped };
}
