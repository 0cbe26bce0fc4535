import { IndexError, IndexErrorCode } from './errors.js';

/** An archive id taken apart. */
export interface ParsedArchiveId {
	/** The id as written, `#DDMMYY-NN`. */
	readonly id: string;
	readonly day: number;
	readonly month: number;
	/** Two digits, as in the id. */
	readonly year: number;
	readonly lot: number;
}

const archiveIdPattern = /^#(\d{2})(\d{2})(\d{2})-(\d{2,})$/;

/**
 * The id of an archive created at `createdAt` with lot `lot`: `#DDMMYY-NN`, the date in local time (the
 * owner's clock, as the original tool did) and the lot with at least two digits (`#241126-07`, `#241126-123`).
 *
 * @throws {IndexError} INVALID_ARCHIVE_ID when the lot is not a positive safe integer.
 */
export function formatArchiveId(createdAt: Date, lot: number): string {
	if (!Number.isSafeInteger(lot) || lot < 1) {
		throw new IndexError(IndexErrorCode.InvalidArchiveId, `A lot number is a positive integer, not ${lot}.`);
	}
	const two = (value: number) => String(value).padStart(2, '0');
	return `#${two(createdAt.getDate())}${two(createdAt.getMonth() + 1)}${two(createdAt.getFullYear() % 100)}-${two(lot)}`;
}

/** Takes an archive id apart, or returns null when `id` is not of the form `#DDMMYY-NN` with a real date. */
export function parseArchiveId(id: string): ParsedArchiveId | null {
	const match = archiveIdPattern.exec(id);
	if (!match) return null;
	const [, dd, mm, yy, nn] = match as unknown as [string, string, string, string, string];
	const day = Number(dd);
	const month = Number(mm);
	const year = Number(yy);
	const lot = Number(nn);
	if (month < 1 || month > 12 || day < 1 || day > new Date(2000 + year, month, 0).getDate()) return null;
	if (!Number.isSafeInteger(lot) || lot < 1) return null;
	return { id, day, month, year, lot };
}

/**
 * Checks that `id` is an archive id and, when `lot` is given, that it carries that lot.
 *
 * @throws {IndexError} INVALID_ARCHIVE_ID otherwise.
 */
export function assertArchiveId(id: string, lot?: number): ParsedArchiveId {
	const parsed = parseArchiveId(id);
	if (!parsed) {
		throw new IndexError(IndexErrorCode.InvalidArchiveId, `"${id}" is not an archive id: archive ids look like #241126-07 (#DDMMYY-lot).`, {
			archiveId: id
		});
	}
	if (lot !== undefined && parsed.lot !== lot) {
		throw new IndexError(IndexErrorCode.InvalidArchiveId, `The archive id ${id} names lot ${parsed.lot}, not lot ${lot}.`, {
			archiveId: id,
			lot
		});
	}
	return parsed;
}
