import { type ParsedArchiveId, parseRecordedArchiveId } from './archive-id.js';
import { CoreError, CoreErrorCode } from './errors.js';

/** Characters of the ciphertext hash carried in a staged file name. */
export const NAME_HASH_LENGTH = 12;

/** The archive id as it appears in file names: without `#`. */
function idForNames(archiveId: string): string {
	return recordedArchiveId(archiveId).id.slice(1);
}

/**
 * An id as a manifest or a staged file name records it (see `parseRecordedArchiveId`), normalized with its `#`.
 *
 * @throws {CoreError} INVALID_OPTION when the text is not an archive id.
 */
export function recordedArchiveId(id: string): ParsedArchiveId {
	const parsed = parseRecordedArchiveId(id);
	if (parsed === null) throw new CoreError(CoreErrorCode.InvalidOption, `${JSON.stringify(id)} is not an archive id of the form #DDMMYY-NN.`);
	return parsed;
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
	if (parseRecordedArchiveId(id) === null) return undefined;
	// A container index is a u32: a longer number in a name is not one of ours (and must not drive any loop).
	const number = Number(index);
	if (!Number.isSafeInteger(number) || number > 0xffff_ffff) return undefined;
	return { archiveId: `#${id}`, kind: kind === 'c' ? 'data' : 'manifest', index: number, hash };
}
