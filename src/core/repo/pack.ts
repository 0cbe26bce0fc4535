import { createHash, randomBytes } from 'node:crypto';
import { CoreError, CoreErrorCode } from '../errors.js';
import { BLOB_ID_SIZE, BLOB_OVERHEAD, MAX_BLOB_RAW_LENGTH, type SealedBlob } from './blob.js';
import { type Codec, codecFromId, codecId } from './codec.js';
import { GCM_OVERHEAD, gcmOpen, gcmSeal } from './gcm.js';
import type { BlobKeys } from './keys.js';

/**
 * A pack (docs/format2-primitives.md §Packs): sealed blobs back to back from offset 0, then the sealed header, then a
 * 16-byte trailer. Big-endian integers.
 *
 * ```
 * sealed header = nonce (12) ‖ AES-256-GCM(pack-header subkey, header; AAD = "DOS2PACK" ‖ repository id) ‖ tag (16)
 * header  = "DOS2PKHD" (8) ‖ version u8 (1) ‖ repository id (16) ‖ pack uid (16, random) ‖ count u32
 *           ‖ entry × count
 * entry   = blob id (32) ‖ offset u32 ‖ stored length u32 ‖ raw length u32 ‖ codec id u8      (45 bytes)
 * trailer = "DOS2PACK" (8) ‖ version u8 (1) ‖ 3 zero bytes ‖ sealed header length u32          (16 bytes)
 * ```
 */
export const PACK_MAGIC = Buffer.from('DOS2PACK', 'ascii');
export const PACK_HEADER_MAGIC = Buffer.from('DOS2PKHD', 'ascii');
export const PACK_VERSION = 1;
export const PACK_TRAILER_SIZE = 16;
export const PACK_ENTRY_SIZE = BLOB_ID_SIZE + 4 + 4 + 4 + 1;
export const PACK_HEADER_FIXED_SIZE = PACK_HEADER_MAGIC.length + 1 + 16 + 16 + 4;
/** Sealed header bytes besides the entries. */
export const PACK_HEADER_OVERHEAD = GCM_OVERHEAD + PACK_HEADER_FIXED_SIZE;
/** Default pack limit: 9.5 MiB stored (docs/design.md §9), under the 10 MiB attachment limit. */
export const DEFAULT_PACK_SIZE = 9_961_472;
/** The most a pack may be, whatever the settings (the largest attachment limit Discord offers is 500 MiB). */
export const MAX_PACK_SIZE = 500 * 1024 * 1024;
/** The least pack limit: one blob of the CDC maximum (4 MiB) stored raw, its header and the trailer must fit. */
export const MIN_PACK_SIZE = 4 * 1024 * 1024 + BLOB_OVERHEAD + PACK_HEADER_OVERHEAD + PACK_ENTRY_SIZE + PACK_TRAILER_SIZE;
/** Hex digits of a pack name. */
export const PACK_NAME_LENGTH = 32;

/** One blob as a pack header lists it. */
export interface PackEntry {
	readonly id: Buffer;
	readonly offset: number;
	readonly storedLength: number;
	readonly rawLength: number;
	readonly codec: Codec;
}

/** A pack header, authenticated. */
export interface PackHeader {
	readonly repositoryId: Buffer;
	/** The random uid of the pack, 32 hex digits. */
	readonly uid: string;
	readonly entries: readonly PackEntry[];
	/** Bytes of the blob area (the offset of the sealed header). */
	readonly blobAreaLength: number;
}

/** The keys a pack header needs. */
export type PackKeys = Pick<BlobKeys, 'repositoryId' | 'packHeader'>;

/** A finished pack. */
export interface Pack {
	/** Opaque name: the first {@link PACK_NAME_LENGTH} hex digits of SHA-256 of the bytes. */
	readonly name: string;
	readonly bytes: Buffer;
	readonly header: PackHeader;
}

function packAad(repositoryId: Uint8Array): Buffer {
	return Buffer.concat([PACK_MAGIC, repositoryId]);
}

/** The opaque name of a pack: SHA-256 of its bytes, first 32 hex digits (checkable without the key). */
export function packName(bytes: Uint8Array): string {
	return createHash('sha256').update(bytes).digest('hex').slice(0, PACK_NAME_LENGTH);
}

/** Size of a pack holding blobs of these stored lengths in all. */
export function packSize(blobAreaLength: number, count: number): number {
	return blobAreaLength + PACK_HEADER_OVERHEAD + count * PACK_ENTRY_SIZE + PACK_TRAILER_SIZE;
}

/**
 * Refuses a pack limit outside {@link MIN_PACK_SIZE} … the attachment limit.
 *
 * @throws {CoreError} INVALID_OPTION
 */
export function assertPackLimit(limit: number, attachmentLimit = MAX_PACK_SIZE): void {
	const max = Math.min(attachmentLimit, MAX_PACK_SIZE);
	if (!Number.isSafeInteger(limit) || limit < MIN_PACK_SIZE || limit > max) {
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			`The pack size must be from ${MIN_PACK_SIZE} to ${max} bytes (the attachment limit), not ${limit}.`
		);
	}
}

/**
 * The end of a pack: its sealed header listing `entries` (which must tile the blob area from offset 0, as the writer
 * laid the blobs out), then the trailer. A random pack uid makes two packs of the same blobs differ.
 */
export function sealPackTail(keys: PackKeys, entries: readonly PackEntry[]): { tail: Buffer; uid: string } {
	const uid = randomBytes(16);
	const header = Buffer.alloc(PACK_HEADER_FIXED_SIZE + entries.length * PACK_ENTRY_SIZE);
	let at = PACK_HEADER_MAGIC.copy(header, 0);
	header[at++] = PACK_VERSION;
	at += Buffer.from(keys.repositoryId).copy(header, at);
	at += uid.copy(header, at);
	at = header.writeUInt32BE(entries.length, at);
	for (const entry of entries) {
		at += entry.id.copy(header, at);
		at = header.writeUInt32BE(entry.offset, at);
		at = header.writeUInt32BE(entry.storedLength, at);
		at = header.writeUInt32BE(entry.rawLength, at);
		header[at++] = codecId(entry.codec);
	}
	const sealed = gcmSeal(keys.packHeader, packAad(keys.repositoryId), header);
	const trailer = Buffer.alloc(PACK_TRAILER_SIZE);
	PACK_MAGIC.copy(trailer, 0);
	trailer[PACK_MAGIC.length] = PACK_VERSION;
	trailer.writeUInt32BE(sealed.length, PACK_TRAILER_SIZE - 4);
	return { tail: Buffer.concat([sealed, trailer]), uid: uid.toString('hex') };
}

/**
 * Gathers sealed blobs into one pack in memory, up to a limit on its stored size (header and trailer included). The
 * repository writes its packs to files instead, several at a time (`PackWriter` in local.ts), with the same
 * {@link sealPackTail}.
 */
export class PackBuilder {
	public readonly limit: number;
	readonly #keys: PackKeys;
	readonly #blobs: SealedBlob[] = [];
	readonly #ids = new Set<string>();
	#area = 0;

	/** @throws {CoreError} INVALID_OPTION for a limit out of range (see {@link assertPackLimit}). */
	public constructor(keys: PackKeys, limit = DEFAULT_PACK_SIZE) {
		assertPackLimit(limit);
		this.#keys = keys;
		this.limit = limit;
	}

	/** Blobs added so far. */
	public get count(): number {
		return this.#blobs.length;
	}

	/** The pack size if it were finished now. */
	public get size(): number {
		return packSize(this.#area, this.#blobs.length);
	}

	/** Whether a blob of this stored length still fits (the pack would then be at most the limit). */
	public fits(storedLength: number): boolean {
		return packSize(this.#area + storedLength, this.#blobs.length + 1) <= this.limit;
	}

	/** Whether the pack holds this blob id already. */
	public has(id: Uint8Array): boolean {
		return this.#ids.has(Buffer.from(id).toString('hex'));
	}

	/**
	 * Adds a blob at the end of the blob area.
	 *
	 * @throws {CoreError} INVALID_OPTION when it does not fit or the pack holds it already.
	 */
	public add(blob: SealedBlob): void {
		if (!this.fits(blob.stored.length))
			throw new CoreError(CoreErrorCode.InvalidOption, 'This blob does not fit in the pack: finish it and start another.');
		const key = blob.id.toString('hex');
		if (this.#ids.has(key)) throw new CoreError(CoreErrorCode.InvalidOption, 'This pack already holds this blob.');
		this.#ids.add(key);
		this.#blobs.push(blob);
		this.#area += blob.stored.length;
	}

	/** The pack's bytes, header and name. The builder may not be used afterwards. */
	public finish(): Pack {
		const entries: PackEntry[] = [];
		let offset = 0;
		for (const blob of this.#blobs) {
			entries.push({ id: blob.id, offset, storedLength: blob.stored.length, rawLength: blob.rawLength, codec: blob.codec });
			offset += blob.stored.length;
		}
		const { tail, uid } = sealPackTail(this.#keys, entries);
		const bytes = Buffer.concat([...this.#blobs.map((blob) => blob.stored), tail]);
		return {
			name: packName(bytes),
			bytes,
			header: { repositoryId: Buffer.from(this.#keys.repositoryId), uid, entries, blobAreaLength: this.#area }
		};
	}
}

function badPack(why: string): CoreError {
	return new CoreError(CoreErrorCode.BadFormat, `This is not a sound format 2 pack: ${why}.`);
}

/**
 * Reads the trailer (the last {@link PACK_TRAILER_SIZE} bytes) of a pack of `packSize` bytes and says how many tail
 * bytes hold the sealed header and the trailer, bounded by the pack size. A reader fetches that many bytes from the
 * end (a Range read) and gives them to {@link readPackHeader}.
 *
 * @throws {CoreError} BAD_FORMAT; UNSUPPORTED_VERSION.
 */
export function readPackTrailer(trailer: Uint8Array, packSize: number): { headerLength: number; tailLength: number } {
	if (!Number.isSafeInteger(packSize) || packSize < PACK_TRAILER_SIZE + PACK_HEADER_OVERHEAD || packSize > MAX_PACK_SIZE) {
		throw badPack(`a pack of ${packSize} bytes`);
	}
	if (trailer.length < PACK_TRAILER_SIZE) throw badPack('the trailer is cut short');
	const bytes = Buffer.from(trailer.buffer, trailer.byteOffset + trailer.byteLength - PACK_TRAILER_SIZE, PACK_TRAILER_SIZE);
	if (!bytes.subarray(0, PACK_MAGIC.length).equals(PACK_MAGIC)) throw badPack('no pack trailer');
	const version = bytes[PACK_MAGIC.length]!;
	if (version !== PACK_VERSION)
		throw new CoreError(CoreErrorCode.UnsupportedVersion, `A pack has version ${version}; this build reads version ${PACK_VERSION}.`);
	if (bytes[9] !== 0 || bytes[10] !== 0 || bytes[11] !== 0) throw badPack('reserved trailer bytes are set');
	const headerLength = bytes.readUInt32BE(PACK_TRAILER_SIZE - 4);
	if (headerLength < PACK_HEADER_OVERHEAD || headerLength > packSize - PACK_TRAILER_SIZE) throw badPack(`a header of ${headerLength} bytes`);
	if ((headerLength - PACK_HEADER_OVERHEAD) % PACK_ENTRY_SIZE !== 0)
		throw badPack(`a header of ${headerLength} bytes is no whole number of entries`);
	return { headerLength, tailLength: headerLength + PACK_TRAILER_SIZE };
}

/**
 * Reads the tail of a pack of `packSize` bytes (its sealed header and trailer) through `read`, a positioned read of
 * the pack (a file read, or a Range request), in two reads from the end: the trailer, then the tail it bounds. Never
 * more than the tail is read, and the trailer is checked before the second read is sized.
 *
 * @throws {CoreError} BAD_FORMAT (also when `read` returns fewer bytes than asked); UNSUPPORTED_VERSION; whatever
 * `read` throws.
 */
export async function readPackTail(packSize: number, read: (offset: number, length: number) => Promise<Uint8Array>): Promise<Buffer> {
	if (!Number.isSafeInteger(packSize) || packSize < PACK_TRAILER_SIZE) throw badPack(`a pack of ${packSize} bytes`);
	const trailer = await read(packSize - PACK_TRAILER_SIZE, PACK_TRAILER_SIZE);
	if (trailer.length !== PACK_TRAILER_SIZE) throw badPack('the trailer is cut short');
	const { tailLength } = readPackTrailer(trailer, packSize);
	const tail = await read(packSize - tailLength, tailLength);
	if (tail.length !== tailLength) throw badPack('the header is cut short');
	return Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength);
}

/**
 * Authenticates and parses the header of a pack of `packSize` bytes from its tail (the whole pack, or at least its last
 * `tailLength` bytes as {@link readPackTrailer} gives). Every length and count is bounded before anything is
 * allocated: the header by the pack size, the count by the header length, each entry inside the blob area, entries
 * back to back from offset 0 covering the whole area, no blob id twice.
 *
 * @throws {CoreError} BAD_FORMAT; UNSUPPORTED_VERSION; TAMPERED_CHUNK when the header does not authenticate;
 * MISPLACED_CHUNK when it belongs to another repository.
 */
export function readPackHeader(keys: PackKeys, tail: Uint8Array, packSize: number): PackHeader {
	const { tailLength } = readPackTrailer(tail, packSize);
	if (tail.length < tailLength) throw badPack(`the header needs the last ${tailLength} bytes, ${tail.length} were given`);
	const bytes = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength);
	const sealed = bytes.subarray(bytes.length - tailLength, bytes.length - PACK_TRAILER_SIZE);
	const header = gcmOpen(keys.packHeader, packAad(keys.repositoryId), sealed);
	if (header === undefined) {
		throw new CoreError(
			CoreErrorCode.TamperedChunk,
			'A pack header does not authenticate: the pack is damaged, forged, or from another repository.'
		);
	}
	if (!header.subarray(0, PACK_HEADER_MAGIC.length).equals(PACK_HEADER_MAGIC)) throw badPack('no header magic');
	let at = PACK_HEADER_MAGIC.length;
	if (header[at++] !== PACK_VERSION) throw badPack('the header version differs from the trailer');
	const repositoryId = Buffer.from(header.subarray(at, (at += 16)));
	if (!repositoryId.equals(Buffer.from(keys.repositoryId))) {
		throw new CoreError(CoreErrorCode.MisplacedChunk, 'This pack belongs to another repository.');
	}
	const uid = header.subarray(at, (at += 16)).toString('hex');
	const count = header.readUInt32BE(at);
	at += 4;
	if (count !== (header.length - PACK_HEADER_FIXED_SIZE) / PACK_ENTRY_SIZE) throw badPack(`${count} entries in a header of ${header.length} bytes`);
	const blobAreaLength = packSize - tailLength;
	const entries: PackEntry[] = [];
	const seen = new Set<string>();
	let expected = 0;
	for (let index = 0; index < count; index++) {
		const id = Buffer.from(header.subarray(at, (at += BLOB_ID_SIZE)));
		const offset = header.readUInt32BE(at);
		const storedLength = header.readUInt32BE(at + 4);
		const rawLength = header.readUInt32BE(at + 8);
		const codec = codecFromId(header[at + 12]!);
		at += 13;
		if (offset !== expected) throw badPack(`blob ${index} starts at ${offset}, not ${expected}`);
		if (storedLength < BLOB_OVERHEAD || storedLength > blobAreaLength - offset)
			throw badPack(`blob ${index} of ${storedLength} bytes leaves the blob area`);
		if (rawLength > MAX_BLOB_RAW_LENGTH) throw badPack(`blob ${index} records ${rawLength} raw bytes`);
		if (codec === 'none' ? storedLength !== rawLength + BLOB_OVERHEAD : storedLength - BLOB_OVERHEAD >= rawLength) {
			throw badPack(`blob ${index} has ${storedLength} stored bytes for ${rawLength} raw bytes as ${codec}`);
		}
		const key = id.toString('hex');
		if (seen.has(key)) throw badPack(`blob ${key} is listed twice`);
		seen.add(key);
		entries.push({ id, offset, storedLength, rawLength, codec });
		expected = offset + storedLength;
	}
	if (expected !== blobAreaLength) throw badPack(`the blobs cover ${expected} of ${blobAreaLength} bytes`);
	return { repositoryId, uid, entries, blobAreaLength };
}

/**
 * The stored bytes of one entry, from the whole pack's bytes.
 *
 * @throws {CoreError} BAD_FORMAT when the entry lies outside the bytes.
 */
export function blobBytes(pack: Uint8Array, entry: PackEntry): Buffer {
	if (entry.offset + entry.storedLength > pack.length) throw badPack('a blob lies past the end of the bytes');
	return Buffer.from(pack.buffer, pack.byteOffset + entry.offset, entry.storedLength);
}
