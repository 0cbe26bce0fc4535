import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted } from './abort.js';
import { CONTAINER_OVERHEAD } from './container.js';
import { CoreError, CoreErrorCode } from './errors.js';
import { assertSafeRelativePath } from './paths.js';
import type { EntryType, SourceEntry, WalkResult } from './walk.js';

/** Default plaintext chunk size: 9,961,472 B = 9.5 MiB (docs/design.md §3.2). */
export const DEFAULT_CHUNK_SIZE = 9_961_472;
/** Default attachment limit: 10 MiB. */
export const DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024;

/** An entry of a plan: a source entry and, for a file, its offset in the archive's plaintext stream. */
export interface PlanEntry extends SourceEntry {
	readonly offset?: number;
}

/**
 * What will be archived, fixed before any chunk is sealed: the entries in order, where each file's bytes sit in the
 * concatenated plaintext stream, and how that stream is cut. Plain JSON, so the archive service can store it.
 */
export interface ArchivePlan {
	readonly chunkSize: number;
	readonly entries: readonly PlanEntry[];
	/** Bytes of the plaintext stream (all files). */
	readonly totalBytes: number;
	readonly chunkCount: number;
	readonly totals: { readonly files: number; readonly directories: number; readonly symlinks: number };
}

/** Options of {@link planArchive}. */
export interface PlanOptions {
	readonly chunkSize?: number;
	/** The attachment limit every sealed chunk must fit. */
	readonly attachmentLimit?: number;
}

/**
 * Checks a chunk size against an attachment limit: the worst sealed chunk (incompressible data, stored raw) is the
 * chunk size plus {@link CONTAINER_OVERHEAD}.
 *
 * @throws {CoreError} INVALID_OPTION for a chunk size that is not a positive whole number; CHUNK_TOO_LARGE when the
 * worst case would not fit.
 */
export function assertChunkSize(chunkSize: number, attachmentLimit = DEFAULT_ATTACHMENT_LIMIT): void {
	if (!Number.isSafeInteger(chunkSize) || chunkSize < 1 || chunkSize > 0xffff_ffff) {
		throw new CoreError(CoreErrorCode.InvalidOption, `The chunk size must be a whole number of bytes from 1 up, not ${chunkSize}.`);
	}
	if (!Number.isSafeInteger(attachmentLimit) || attachmentLimit <= CONTAINER_OVERHEAD) {
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			`The attachment limit must be a whole number of bytes above ${CONTAINER_OVERHEAD}, not ${attachmentLimit}.`
		);
	}
	if (chunkSize + CONTAINER_OVERHEAD > attachmentLimit) {
		throw new CoreError(
			CoreErrorCode.ChunkTooLarge,
			`A chunk of ${chunkSize} B can seal to ${chunkSize + CONTAINER_OVERHEAD} B, over the ${attachmentLimit} B attachment limit. ` +
				`Use a chunk size of at most ${attachmentLimit - CONTAINER_OVERHEAD} B.`
		);
	}
}

/**
 * Lays out a walked folder: files in walk order, concatenated into one plaintext stream cut into chunks.
 *
 * @throws {CoreError} INVALID_OPTION / CHUNK_TOO_LARGE for a bad chunk size; UNSAFE_PATH for an unsafe entry path.
 */
export function planArchive(source: WalkResult | readonly SourceEntry[], options: PlanOptions = {}): ArchivePlan {
	const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
	assertChunkSize(chunkSize, options.attachmentLimit ?? DEFAULT_ATTACHMENT_LIMIT);
	const sourceEntries = Array.isArray(source) ? (source as readonly SourceEntry[]) : (source as WalkResult).entries;
	let offset = 0;
	const totals = { files: 0, directories: 0, symlinks: 0 };
	const entries = sourceEntries.map((entry): PlanEntry => {
		assertSafeRelativePath(entry.path);
		if (entry.type === 'file') {
			totals.files++;
			const planned = { ...entry, offset };
			offset += entry.size;
			return planned;
		}
		if (entry.type === 'directory') totals.directories++;
		else totals.symlinks++;
		return { ...entry, size: 0 };
	});
	return { chunkSize, entries, totalBytes: offset, chunkCount: chunkCountFor(offset, chunkSize), totals };
}

/** Chunks needed for a stream of `totalBytes`: ⌈total / chunk⌉ (an archive of only empty files has none). */
export function chunkCountFor(totalBytes: number, chunkSize: number): number {
	return Math.ceil(totalBytes / chunkSize);
}

/** The byte range `[start, end)` of chunk `index` in the plaintext stream. */
export function chunkRange(plan: Pick<ArchivePlan, 'chunkSize' | 'totalBytes'>, index: number): { start: number; end: number } {
	const start = index * plan.chunkSize;
	return { start, end: Math.min(plan.totalBytes, start + plan.chunkSize) };
}

/** Indexes of the chunks that hold bytes `[offset, offset + size)`; none for an empty range. */
export function chunksSpanned(chunkSize: number, offset: number, size: number): number[] {
	if (size <= 0) return [];
	const first = Math.floor(offset / chunkSize);
	const last = Math.floor((offset + size - 1) / chunkSize);
	return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/** Files of the plan with at least one byte in `[start, end)`, in stream order. */
export function filesInRange<E extends Pick<PlanEntry, 'type' | 'size' | 'offset'>>(entries: readonly E[], start: number, end: number): E[] {
	return entries.filter((entry) => entry.type === 'file' && entry.size > 0 && entry.offset! < end && entry.offset! + entry.size > start);
}

/** One way a source entry differs from the plan. */
export interface SourceChange {
	readonly path: string;
	readonly change: 'vanished' | 'type' | 'size' | 'mtime' | 'target';
}

/**
 * Re-checks the source against a recorded plan before a resume: every planned entry must still exist with the
 * same type, and files with the same size and mtime (symlinks with the same target). Entries added since do not
 * matter (they are not part of the archive).
 *
 * @returns every difference found (empty when the source still matches).
 * @throws {CoreError} ABORTED.
 */
export async function compareSource(
	root: string,
	plan: Pick<ArchivePlan, 'entries'>,
	options: { signal?: AbortSignal } = {}
): Promise<SourceChange[]> {
	const changes: SourceChange[] = [];
	for (const entry of plan.entries) {
		throwIfAborted(options.signal);
		let info;
		try {
			info = await lstat(path.join(root, ...entry.path.split('/')));
		} catch {
			changes.push({ path: entry.path, change: 'vanished' });
			continue;
		}
		const type: EntryType | undefined = info.isFile() ? 'file' : info.isDirectory() ? 'directory' : info.isSymbolicLink() ? 'symlink' : undefined;
		if (type !== entry.type) changes.push({ path: entry.path, change: 'type' });
		else if (type === 'file' && info.size !== entry.size) changes.push({ path: entry.path, change: 'size' });
		else if (type === 'file' && info.mtimeMs !== entry.mtimeMs) changes.push({ path: entry.path, change: 'mtime' });
		else if (type === 'symlink') {
			if ((await readlink(path.join(root, ...entry.path.split('/')))) !== entry.target) changes.push({ path: entry.path, change: 'target' });
		}
	}
	return changes;
}
