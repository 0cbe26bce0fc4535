import { CoreError, CoreErrorCode } from './errors.js';

/**
 * Archive ids, the one place they are parsed and formatted (docs/design.md §3.1): `#DDMMYY-NN`, the creation date in the
 * owner's local calendar and the lot, at least two digits (`#241126-07`, `#241126-123`). Lots are allocated by the
 * index from 1 up, so an id with lot 00 is not an archive id. Three readings, one grammar:
 *
 * - {@link parseArchiveId}: an id as the index, cards and the bot hold it — `#` required, a real date, lot from 01.
 * - {@link readArchiveId} / {@link parseLegacyArchiveId}: what a person or the original tool wrote — a download
 *   folder name `[Archive] #241126-07`, or `241126-7`; normalized to `#DDMMYY-NN`.
 * - {@link parseRecordedArchiveId}: an id recorded in a sealed manifest or a staged file name by any earlier
 *   version — the shape only (earlier `dos slice` runs wrote lot 00, and `--id` was not date-checked), so that
 *   every staged archive ever written still opens.
 *
 * Offline, `dos slice` has no index to allocate a lot: it names a staged archive with today's date and lot 01
 * (or `--lot`, `--id`), an id every reading above accepts.
 */

/** An archive id taken apart. */
export interface ParsedArchiveId {
	/** `#DDMMYY-NN`. */
	readonly id: string;
	readonly day: number;
	readonly month: number;
	/** Two digits, as in the id. */
	readonly year: number;
	readonly lot: number;
}

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

/** The lot an offline `dos slice` gives a staged archive when told none: the first lot the index allocates. */
export const OFFLINE_LOT = 1;

const INDEX_ID = /^#(\d{2})(\d{2})(\d{2})-(\d{2,})$/;
const RECORDED_ID = /^#?(\d{2})(\d{2})(\d{2})-(\d{2,})$/;
/** The forms the original tool accepted for a download folder (its `resolve_chunks_folder`). */
const WRITTEN_ID = /^(?:\[Archive\]\s*)?#?(\d{2})(\d{2})(\d{2})-(\d{1,9})$/;
/** What typed text meant as an archive id looks like, before any check of its date or lot. */
const ID_SHAPE = /^#?\d{6}-\d+$/;

const two = (value: number) => String(value).padStart(2, '0');

function parts(pattern: RegExp, text: string): [string, string, string, string] | null {
	const match = pattern.exec(text);
	if (!match) return null;
	const [, dd, mm, yy, nn] = match;
	return dd === undefined || mm === undefined || yy === undefined || nn === undefined ? null : [dd, mm, yy, nn];
}

function isRealDate(day: number, month: number, twoDigitYear: number): boolean {
	return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(2000 + twoDigitYear, month, 0)).getUTCDate();
}

/**
 * Builds the id of an archive created at `createdAt` (local calendar, the owner's clock as the original tool did)
 * with lot `lot`.
 *
 * @throws {CoreError} INVALID_ARCHIVE_ID when the lot is not a positive safe integer.
 */
export function formatArchiveId(createdAt: Date, lot: number): string {
	if (!Number.isSafeInteger(lot) || lot < 1) {
		throw new CoreError(CoreErrorCode.InvalidArchiveId, `A lot number is a positive integer, not ${lot}.`);
	}
	return `#${two(createdAt.getDate())}${two(createdAt.getMonth() + 1)}${two(createdAt.getFullYear() % 100)}-${two(lot)}`;
}

/** Takes an index id `#DDMMYY-NN` apart (a real date, lot from 01); null for anything else. */
export function parseArchiveId(id: string): ParsedArchiveId | null {
	const found = parts(INDEX_ID, id);
	if (!found) return null;
	const [day, month, year, lot] = found.map(Number) as [number, number, number, number];
	if (!isRealDate(day, month, year) || !Number.isSafeInteger(lot) || lot < 1) return null;
	return { id, day, month, year, lot };
}

/**
 * Reads an id as a person or the original tool wrote it: `[Archive] #241126-07`, `[Archive] 241126-07`,
 * `#241126-7`, `241126-07` (surrounding spaces ignored, lot of 1–9 digits, a real date). Null for anything else.
 * The original tool's forms are kept exactly, lot 0 included: the index refuses that lot when it is imported.
 */
export function readArchiveId(text: string): ParsedArchiveId | null {
	const found = parts(WRITTEN_ID, text.trim());
	if (!found) return null;
	const [day, month, year, lot] = found.map(Number) as [number, number, number, number];
	if (!isRealDate(day, month, year)) return null;
	return { id: `#${found[0]}${found[1]}${found[2]}-${two(lot)}`, day, month, year, lot };
}

/**
 * Reads an id recorded in a manifest or a staged file name: `#DDMMYY-NN` or `DDMMYY-NN`, lot of 2+ digits, any
 * lot and date digits (see the module comment for why). Normalized with its `#`; null for anything else.
 */
export function parseRecordedArchiveId(text: string): ParsedArchiveId | null {
	const found = parts(RECORDED_ID, text);
	if (!found) return null;
	const [day, month, year, lot] = found.map(Number) as [number, number, number, number];
	return { id: `#${found[0]}${found[1]}${found[2]}-${found[3]}`, day, month, year, lot };
}

/** Whether typed text is meant as an archive id (`#241126-07`, `241126-7`) rather than a name; nothing is checked. */
export function looksLikeArchiveId(text: string): boolean {
	return ID_SHAPE.test(text);
}

/**
 * Reads the archive id from a download folder name such as `[Archive] #241126-07` (see {@link readArchiveId}),
 * with the date part as written and the full year. Null when the name holds no valid id.
 */
export function parseLegacyArchiveId(folderName: string): LegacyArchiveId | null {
	const parsed = readArchiveId(folderName);
	if (parsed === null) return null;
	const dateCode = parsed.id.slice(1, 7);
	return { id: parsed.id, dateCode, day: parsed.day, month: parsed.month, year: 2000 + parsed.year, lot: parsed.lot };
}

/**
 * The folder name the original tool (and our download flow) uses for an archive id: `[Archive] #241126-07`.
 *
 * @throws {CoreError} INVALID_OPTION when `id` is not an archive id.
 */
export function legacyArchiveFolderName(id: string): string {
	const parsed = readArchiveId(id);
	if (parsed === null) {
		throw new CoreError(CoreErrorCode.InvalidOption, `${JSON.stringify(id)} is not an archive id: write it as #DDMMYY-NN, e.g. #241126-07.`);
	}
	return `[Archive] ${parsed.id}`;
}

/**
 * An index id from what a person or a file name gave (`#DDMMYY-NN` or `DDMMYY-NN`, a real date, lot from 01).
 *
 * @throws {CoreError} INVALID_ARCHIVE_ID for anything else.
 */
export function requireArchiveId(text: string): ParsedArchiveId {
	const written = readArchiveId(text);
	const parsed = written === null ? null : parseArchiveId(written.id);
	if (parsed === null)
		throw new CoreError(
			CoreErrorCode.InvalidArchiveId,
			`${JSON.stringify(text)} is not an archive id: write #DDMMYY-NN with a real date and a lot from 01, e.g. #241126-07.`
		);
	return parsed;
}
