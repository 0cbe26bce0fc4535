import { CoreError, CoreErrorCode } from '../errors.js';

/** An archive id of the original tool, as read from a download folder's name. */
export interface LegacyArchiveId {
	/** The normalized id, `#DDMMYY-NN` with at least two lot digits, e.g. `#241126-07`. */
	readonly id: string;
	/** The date part as written, `DDMMYY`. */
	readonly dateCode: string;
	/** Day of month, 1–31. */
	readonly day: number;
	/** Month, 1–12. */
	readonly month: number;
	/** Full year: the tool wrote two digits, read as 2000–2099. */
	readonly year: number;
	/** The lot number, counting up across all archives. */
	readonly lot: number;
}

/**
 * The folder name forms the original tool accepted for a download folder (its `resolve_chunks_folder`):
 * `[Archive] #241126-07` (what it created), `[Archive] 241126-07`, `#241126-07` and `241126-07`.
 */
const ARCHIVE_FOLDER_NAME = /^(?:\[Archive\]\s*)?#?(\d{2})(\d{2})(\d{2})-(\d{1,9})$/;

/**
 * Reads the archive id from a download folder name such as `[Archive] #241126-07` (or the bare forms the
 * original accepted, see above). Returns `null` when the name holds no valid id (including impossible dates
 * such as day 32 or month 13).
 */
export function parseLegacyArchiveId(folderName: string): LegacyArchiveId | null {
	const match = ARCHIVE_FOLDER_NAME.exec(folderName.trim());
	if (match === null) return null;
	const [, dd, mm, yy, lotText] = match;
	if (dd === undefined || mm === undefined || yy === undefined || lotText === undefined) return null;
	const day = Number(dd);
	const month = Number(mm);
	const year = 2000 + Number(yy);
	const lot = Number(lotText);
	if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
	const dateCode = `${dd}${mm}${yy}`;
	return { id: `#${dateCode}-${String(lot).padStart(2, '0')}`, dateCode, day, month, year, lot };
}

/**
 * The folder name the original tool (and our download flow) uses for an archive id: `[Archive] #241126-07`.
 *
 * @throws {CoreError} INVALID_OPTION when `id` is not an archive id.
 */
export function legacyArchiveFolderName(id: string): string {
	const parsed = parseLegacyArchiveId(id);
	if (parsed === null) {
		throw new CoreError(CoreErrorCode.InvalidOption, `${JSON.stringify(id)} is not an archive id: write it as #DDMMYY-NN, e.g. #241126-07.`);
	}
	return `[Archive] ${parsed.id}`;
}

function daysInMonth(year: number, month: number): number {
	return new Date(Date.UTC(year, month, 0)).getUTCDate();
}
