import { CoreError, CoreErrorCode } from './errors.js';

/** An archive id: `#DDMMYY-NN` (creation date, then a lot number of at least two digits). */
export const ARCHIVE_ID_PATTERN = /^#?(\d{2})(\d{2})(\d{2})-(\d{2,})$/;

/** Builds an archive id `#DDMMYY-NN` from a date (local calendar) and a lot number. */
export function formatArchiveId(date: Date, lot: number): string {
	if (!Number.isSafeInteger(lot) || lot < 0)
		throw new CoreError(CoreErrorCode.InvalidOption, `A lot number is a whole number from 0 up, not ${lot}.`);
	const two = (value: number) => String(value).padStart(2, '0');
	return `#${two(date.getDate())}${two(date.getMonth() + 1)}${two(date.getFullYear() % 100)}-${two(lot)}`;
}

/**
 * Parses `#DDMMYY-NN` (the `#` is optional).
 *
 * @throws {CoreError} INVALID_OPTION when the text is not an archive id.
 */
export function parseArchiveId(id: string): { id: string; day: number; month: number; year: number; lot: number } {
	const match = ARCHIVE_ID_PATTERN.exec(id);
	const [, dd, mm, yy, nn] = match ?? [];
	if (dd === undefined || mm === undefined || yy === undefined || nn === undefined) {
		throw new CoreError(CoreErrorCode.InvalidOption, `${JSON.stringify(id)} is not an archive id of the form #DDMMYY-NN.`);
	}
	return { id: `#${dd}${mm}${yy}-${nn}`, day: Number(dd), month: Number(mm), year: 2000 + Number(yy), lot: Number(nn) };
}

/** Characters of the ciphertext hash carried in a staged file name. */
export const NAME_HASH_LENGTH = 12;

/** The archive id as it appears in file names: without `#`. */
function idForNames(archiveId: string): string {
	return parseArchiveId(archiveId).id.slice(1);
}

/**
 * Opaque name of a sealed data chunk: `241126-07.c000042.3fa9c0d1e2b4.bin` (archive id, index, the first 12 hex
 * digits of the sha256 of the sealed bytes). Nothing about file names or contents.
 */
export function chunkFileName(archiveId: string, index: number, sha256: string): string {
	return `${idForNames(archiveId)}.c${String(index).padStart(6, '0')}.${sha256.slice(0, NAME_HASH_LENGTH)}.bin`;
}

/** Opaque name of a sealed manifest part: `241126-07.m000.9c1d2e3f4a5b.bin`. */
export function manifestPartFileName(archiveId: string, part: number, sha256: string): string {
	return `${idForNames(archiveId)}.m${String(part).padStart(3, '0')}.${sha256.slice(0, NAME_HASH_LENGTH)}.bin`;
}

/** What a staged file name says. */
export interface StagedName {
	/** `#DDMMYY-NN`. */
	readonly archiveId: string;
	readonly kind: 'data' | 'manifest';
	readonly index: number;
	/** The short ciphertext hash (hex). */
	readonly hash: string;
}

const STAGED_NAME = /^(\d{6}-\d{2,})\.([cm])(\d{3,})\.([0-9a-f]{12})\.bin$/;

/** Parses a staged file name; `undefined` for any other name. */
export function parseStagedName(name: string): StagedName | undefined {
	const match = STAGED_NAME.exec(name);
	if (!match) return undefined;
	const [, id, kind, index, hash] = match as unknown as [string, string, string, string, string];
	// A container index is a u32: a longer number in a name is not one of ours (and must not drive any loop).
	const number = Number(index);
	if (!Number.isSafeInteger(number) || number > 0xffff_ffff) return undefined;
	return { archiveId: `#${id}`, kind: kind === 'c' ? 'data' : 'manifest', index: number, hash };
}
