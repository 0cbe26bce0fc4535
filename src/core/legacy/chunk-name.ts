import { CoreError, CoreErrorCode } from '../errors.js';
import { sha256Hex } from '../hash.js';

/**
 * Chunk file names of the original tool.
 *
 * - v3.x: `{seq:04d}-{file_id}-{hash16}-{index:04d}.bin`, e.g. `0003-e39538e7f27a-960bf87909f08f9f-0000.bin`
 * - v2.x: `{seq}-data_{file_id}_{hash16}_{index:04d}.bin`, e.g. `7-data_e39538e7f27a_0123456789abcdef_0002.bin`
 *
 * `seq` counts chunks across the whole archive from 1, `file_id` is {@link legacyFileId} of the file's name,
 * `hash16` is {@link legacyChunkHash} of the chunk's stored bytes (so it can be checked without the key) and
 * `index` counts the file's own chunks from 0.
 */
const V3_CHUNK_NAME = /^(\d{4,})-([0-9a-f]{12})-([0-9a-f]{16})-(\d{4,})\.bin$/;
const V2_CHUNK_NAME = /^(\d+)-data_([0-9a-f]{12})_([0-9a-f]{16})_(\d{4,})\.bin$/;

/** What a legacy chunk's file name says about it. */
export interface LegacyChunkName {
	/** The file name itself. */
	readonly name: string;
	/** Which naming scheme it follows: `v3` (`0001-…-0000.bin`) or `v2` (`1-data_…_0000.bin`). */
	readonly style: 'v3' | 'v2';
	/** Position of the chunk in the whole archive, counted from 1. */
	readonly seq: number;
	/** The file id: the first 12 hex digits of sha256 of the file's name. */
	readonly fileId: string;
	/** The first 16 hex digits of sha256 of the chunk's stored bytes. */
	readonly hash16: string;
	/** Position of the chunk within its file, counted from 0. */
	readonly index: number;
}

/**
 * Parses a legacy chunk file name (either naming scheme). Returns `null` for anything else, including names
 * whose numbers are too large to be real.
 */
export function parseLegacyChunkName(name: string): LegacyChunkName | null {
	const v3 = V3_CHUNK_NAME.exec(name);
	const match = v3 ?? V2_CHUNK_NAME.exec(name);
	if (match === null) return null;
	const [, seq, fileId, hash16, index] = match;
	if (seq === undefined || fileId === undefined || hash16 === undefined || index === undefined) return null;
	const seqNumber = Number(seq);
	const indexNumber = Number(index);
	if (!Number.isSafeInteger(seqNumber) || !Number.isSafeInteger(indexNumber)) return null;
	return { name, style: v3 === null ? 'v2' : 'v3', seq: seqNumber, fileId, hash16, index: indexNumber };
}

/** Whether a file name is a legacy chunk name (either naming scheme). */
export function isLegacyChunkName(name: string): boolean {
	return parseLegacyChunkName(name) !== null;
}

/** The original tool's file id: the first 12 hex digits of sha256 of the UTF-8 file name. */
export function legacyFileId(name: string): string {
	return sha256Hex(name).slice(0, 12);
}

/** The hash a legacy chunk name carries: the first 16 hex digits of sha256 of the chunk's stored bytes. */
export function legacyChunkHash(bytes: Uint8Array): string {
	return sha256Hex(bytes).slice(0, 16);
}

/** Builds a v3.x chunk name; used to lay out test archives and to name what a chunk should be called. */
export function formatLegacyChunkName(seq: number, fileId: string, hash16: string, index: number): string {
	return `${String(seq).padStart(4, '0')}-${fileId}-${hash16}-${String(index).padStart(4, '0')}.bin`;
}

/**
 * Checks stored chunk bytes against the hash their name carries. This needs no key and costs one sha256,
 * so it runs before any key derivation: a damaged download is named as such without spending a PBKDF2.
 *
 * @throws {CoreError} BAD_FORMAT when `name` is not a legacy chunk name; TAMPERED_CHUNK when the bytes do
 * not match the name's hash.
 */
export function assertLegacyChunkBytes(name: string, bytes: Uint8Array): LegacyChunkName {
	const parsed = parseLegacyChunkName(name);
	if (parsed === null) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`${JSON.stringify(name)} is not a chunk name of the original tool (NNNN-<file id>-<hash>-NNNN.bin).`,
			{
				file: name
			}
		);
	}
	const actual = legacyChunkHash(bytes);
	if (actual !== parsed.hash16) {
		throw new CoreError(
			CoreErrorCode.TamperedChunk,
			`Chunk ${name} is damaged: its bytes hash to ${actual}, but its name says ${parsed.hash16}. Download this chunk again and retry.`,
			{ file: name }
		);
	}
	return parsed;
}
