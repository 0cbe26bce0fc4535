import { mkdir, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { assertSafeName, CoreError, CoreErrorCode, fromFsError, legacyArchiveFolderName, resolveInside } from '../core/index.js';
import type { Archive } from '../db/index.js';
import type { ArchiveContext } from './context.js';

/** The folders a download writes under the download root: the chunk folder, and the folder restored into. */

/** The folder chunks of an archive are downloaded into: `[Archive] #DDMMYY-NN` under the download root. */
export function chunkFolderOf(ctx: ArchiveContext, archive: Pick<Archive, 'id'>): string {
	return resolveInside(ctx.settings.downloadRoot, legacyArchiveFolderName(archive.id));
}

/** Removes a folder if it is empty; anything else (not empty, gone, not allowed) leaves it as it is. */
export async function removeIfEmpty(folder: string): Promise<void> {
	await rmdir(folder).catch(() => undefined);
}

/** How many restore folders of one archive the download root may hold: `#… name`, then ` (2)` … ` (10)`. */
export const MAX_RESTORE_FOLDERS = 10;

/**
 * A new folder to restore into under the download root: `#DDMMYY-NN <name>`, or with ` (2)`, ` (3)`… when that
 * exists, so nothing is ever written over; with `overwrite`, the first name is reused. At most
 * {@link MAX_RESTORE_FOLDERS} restores of one archive are kept side by side: repeated downloads do not fill the disk.
 *
 * @throws {CoreError} FILE_EXISTS when every name is taken (see {@link restoreFolderName}).
 */
export async function newRestoreFolder(ctx: ArchiveContext, archive: Archive, hint: string, overwrite: boolean): Promise<string> {
	const folder = await restoreFolderName(ctx, archive, hint, overwrite);
	await mkdir(folder, { recursive: true }).catch((error: unknown) => {
		throw fromFsError(error, folder);
	});
	return folder;
}

/**
 * The folder {@link newRestoreFolder} would make, without making it: checked before any chunk is fetched.
 *
 * @throws {CoreError} FILE_EXISTS when {@link MAX_RESTORE_FOLDERS} restores of the archive are there already.
 */
export async function restoreFolderName(ctx: ArchiveContext, archive: Archive, hint: string, overwrite: boolean): Promise<string> {
	const base = `${archive.id} ${safeFolderHint(hint || path.posix.basename(archive.source))}`.trim();
	for (let attempt = 1; attempt <= MAX_RESTORE_FOLDERS; attempt++) {
		const name = attempt === 1 ? base : `${base} (${attempt})`;
		const folder = resolveInside(ctx.settings.downloadRoot, name);
		const exists = await stat(folder).then(
			() => true,
			() => false
		);
		if (!exists || (overwrite && attempt === 1)) return folder;
	}
	throw new CoreError(
		CoreErrorCode.FileExists,
		`The download root already holds ${MAX_RESTORE_FOLDERS} restores of ${archive.id} ("${base}" up to "${base} (${MAX_RESTORE_FOLDERS})"), so nothing was downloaded. Delete or move the ones you no longer need (or restore over the first with overwrite), then download again.`
	);
}

/** A label or folder name made safe as one path segment (or empty). */
function safeFolderHint(hint: string): string {
	const cleaned = Array.from(hint)
		.map((char) => (char.charCodeAt(0) < 0x20 || '\\/:*?"<>|'.includes(char) ? ' ' : char))
		.join('')
		.replace(/\s+/g, ' ')
		.trim()
		.slice(0, 80)
		.replace(/^\.+/, '')
		.trim();
	try {
		if (cleaned.length > 0) assertSafeName(cleaned);
		return cleaned;
	} catch {
		return '';
	}
}
