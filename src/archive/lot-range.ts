import { CoreError, CoreErrorCode } from '../core/index.js';
import { type Archive, ArchiveStatus } from '../db/index.js';
import type { ArchiveContext } from './context.js';

/** Lot ranges (`/archive download id: through:`, `dos download <id> --through <id>`): which lots can be downloaded. */

/** A lot of a range that is not downloaded, and why. */
export interface SkippedInRange {
	readonly lot: number;
	/** `#DDMMYY-NN`, or null when the index holds no archive with this lot. */
	readonly id: string | null;
	/** The archive's status, or null when the index holds no archive with this lot. */
	readonly status: ArchiveStatus | null;
	/** Why it is skipped and what to do, to follow its id: `was cleaned up (its thread is gone from Discord)`. */
	readonly reason: string;
}

/** A lot range as {@link resolveArchiveRange} finds it. */
export interface ArchiveRange {
	/** The archive the range starts at, as named. */
	readonly first: Archive;
	/** The archive the range ends at, as named. */
	readonly last: Archive;
	/** The archives that can be downloaded (complete, legacy imports included), oldest lot first: at least one. */
	readonly archives: [Archive, ...Archive[]];
	/** Every other lot of the range, oldest first, with the reason. */
	readonly skipped: SkippedInRange[];
}

/**
 * A lot range, for `/archive download id: through:` and `dos download <id> --through <id>`: every lot from the
 * first to the last (inclusive), split into the archives that can be downloaded (complete) and the lots skipped
 * with the reason (cleaned up, upload unfinished, not in the index), so an answer can name every one.
 *
 * @throws {IndexError} ARCHIVE_NOT_FOUND for either end; {@link CoreError} INVALID_OPTION when the range is reversed
 * or holds nothing that can be downloaded (naming why, before anything is written).
 */
export function resolveArchiveRange(ctx: ArchiveContext, from: string, through: string): ArchiveRange {
	const first = ctx.index.archives.require(from);
	const last = ctx.index.archives.require(through);
	if (last.lot < first.lot) {
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			`The range ${first.id} … ${last.id} runs backwards (lot ${first.lot} to lot ${last.lot}): name the older archive first, as id:${last.id} through:${first.id}. Nothing was downloaded.`
		);
	}
	const archives: Archive[] = [];
	const skipped: SkippedInRange[] = [];
	for (let lot = first.lot; lot <= last.lot; lot++) {
		const archive = ctx.index.archives.get(lot);
		if (archive === undefined)
			skipped.push({ lot, id: null, status: null, reason: 'is not in the index (rebuild the index if it exists on Discord)' });
		else if (archive.status === ArchiveStatus.Complete) archives.push(archive);
		else skipped.push({ lot, id: archive.id, status: archive.status, reason: notDownloadable(archive.status) });
	}
	const [head, ...tail] = archives;
	if (head === undefined) {
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			`Nothing from ${first.id} through ${last.id} can be downloaded, so nothing was: ${describeSkippedLots(skipped)}.`
		);
	}
	return { first, last, archives: [head, ...tail], skipped };
}

/** Skipped lots in words, the first ten named (ids wrapped in `emphasis`, e.g. `**` for Discord), then a count. */
export function describeSkippedLots(skipped: readonly SkippedInRange[], emphasis = ''): string {
	const named = skipped.slice(0, 10).map((lot) => `${lot.id === null ? `lot ${lot.lot}` : `${emphasis}${lot.id}${emphasis}`} ${lot.reason}`);
	return skipped.length > 10 ? `${named.join('; ')}; and ${skipped.length - 10} more lots` : named.join('; ');
}

/** Why an archive that is not complete is not downloaded (alone or as part of a range). */
export function notDownloadable(status: ArchiveStatus): string {
	switch (status) {
		case ArchiveStatus.Deleted:
			return 'was cleaned up (its thread is gone from Discord)';
		case ArchiveStatus.Planned:
		case ArchiveStatus.Uploading:
			return 'is still uploading';
		case ArchiveStatus.Complete:
		case ArchiveStatus.Failed:
		case ArchiveStatus.Interrupted:
		case ArchiveStatus.Cancelled:
		default:
			return `did not finish uploading (${status}: resume it first)`;
	}
}
