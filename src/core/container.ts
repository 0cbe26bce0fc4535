import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { CoreError, CoreErrorCode } from './errors.js';
import { sha256Hex } from './hash.js';
import { deriveChunkKey, KEY_SIZE, MAX_KDF_ITERATIONS, SALT_SIZE } from './keys.js';

/**
 * Chunk container, format 1 (docs/design.md §3.2). Big-endian header, authenticated as the AES-GCM AAD:
 *
 * ```
 * off len field
 * 0   4   magic "DOSC"
 * 4   1   format version = 1
 * 5   1   kind: 1 data, 2 manifest part, 3 index backup
 * 6   1   flags: bit0 = payload gzip-compressed (other bits must be 0)
 * 7   1   kdf id: 1 = PBKDF2-HMAC-SHA256
 * 8   4   kdf iterations (u32)
 * 12  16  archive salt (PBKDF2 salt)
 * 28  16  chunk salt (HKDF salt)
 * 44  12  GCM nonce
 * 56  16  archive uid
 * 72  4   index (u32): data chunk index, or manifest part index
 * 76  4   count (u32): for a manifest part, the number of parts; 0 for data
 * 80  ..  ciphertext
 * -16 16  GCM tag
 * ```
 *
 * For a manifest part, flag bit0 says that the joined payloads of all parts form one gzip stream.
 */
export const CONTAINER_MAGIC = 'DOSC';
export const CONTAINER_VERSION = 1;
export const HEADER_SIZE = 80;
export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;
export const UID_SIZE = 16;
/** Bytes a container adds to its payload: header and tag. */
export const CONTAINER_OVERHEAD = HEADER_SIZE + TAG_SIZE;
/** The only KDF id of format 1: PBKDF2-HMAC-SHA256. */
export const KDF_ID_PBKDF2_SHA256 = 1;
const FLAG_COMPRESSED = 0b1;

/** What a container holds. */
export const ChunkKind = {
	Data: 'data',
	Manifest: 'manifest',
	IndexBackup: 'index-backup'
} as const;
export type ChunkKind = (typeof ChunkKind)[keyof typeof ChunkKind];

const kindCodes: Record<ChunkKind, number> = { data: 1, manifest: 2, 'index-backup': 3 };
const kindsByCode = new Map<number, ChunkKind>(Object.entries(kindCodes).map(([kind, code]) => [code, kind as ChunkKind]));

/** The decoded header of a container. */
export interface ChunkHeader {
	readonly version: number;
	readonly kind: ChunkKind;
	/** Flag bit0: the payload is gzip-compressed. */
	readonly compressed: boolean;
	readonly kdfId: number;
	readonly kdfIterations: number;
	readonly archiveSalt: Buffer;
	readonly chunkSalt: Buffer;
	readonly nonce: Buffer;
	readonly uid: Buffer;
	readonly index: number;
	readonly count: number;
}

/** The fields the sealer chooses; salts and nonce are random unless given (tests only). */
export interface SealContainerInput {
	readonly kind: ChunkKind;
	readonly compressed: boolean;
	/** The raw archive key (32 bytes). */
	readonly archiveKey: Uint8Array;
	readonly archiveSalt: Uint8Array;
	readonly kdfIterations: number;
	readonly uid: Uint8Array;
	readonly index: number;
	readonly count: number;
	readonly payload: Uint8Array;
	readonly chunkSalt?: Uint8Array;
	readonly nonce?: Uint8Array;
	/**
	 * A buffer to seal into when it is large enough (payload + {@link CONTAINER_OVERHEAD}): a recycled chunk buffer, so
	 * that no new memory is touched. Otherwise a new buffer is allocated.
	 */
	readonly into?: ArrayBuffer;
}

/** What the opener expects of a container; anything else is MISPLACED_CHUNK. */
export interface ContainerExpectation {
	readonly kind: ChunkKind;
	/** The archive uid the container must carry. */
	readonly uid?: Uint8Array;
	readonly index?: number;
	/** For manifest parts: the number of parts. */
	readonly count?: number;
	/** The archive salt (and so the archive key) the container must name. */
	readonly archiveSalt?: Uint8Array;
	/**
	 * Whether the caller knows the bytes are intact (their sha256 matched a trusted record). Then a failing tag
	 * means the key is wrong (WRONG_KEY), else the bytes were changed (TAMPERED_CHUNK).
	 */
	readonly intact?: boolean;
	/**
	 * The recorded sha256 of the sealed bytes (hex). A difference is TAMPERED_CHUNK whatever else fails; a match makes
	 * the bytes intact, so a failing tag then means WRONG_KEY.
	 */
	readonly sha256?: string;
	/** Shown in messages (a file name, "chunk 42"). */
	readonly label?: string;
}

/** A container's header and its authenticated, decrypted payload (still compressed if the flag says so). */
export interface OpenedContainer {
	readonly header: ChunkHeader;
	readonly payload: Buffer;
	/** sha256 of the sealed bytes, hex. */
	readonly sha256: string;
	/** sha256 of the payload, hex. */
	readonly payloadSha256: string;
}

/**
 * Encodes a header (the 80 AAD bytes).
 *
 * @throws {CoreError} INVALID_OPTION when a field is out of range.
 */
export function encodeChunkHeader(header: Omit<ChunkHeader, 'version' | 'kdfId'>): Buffer {
	const out = Buffer.alloc(HEADER_SIZE);
	assertField(header.archiveSalt.length === SALT_SIZE, 'archive salt length');
	assertField(header.chunkSalt.length === SALT_SIZE, 'chunk salt length');
	assertField(header.nonce.length === NONCE_SIZE, 'nonce length');
	assertField(header.uid.length === UID_SIZE, 'uid length');
	assertField(isU32(header.index) && isU32(header.count), 'index or count');
	assertField(isU32(header.kdfIterations) && header.kdfIterations >= 1, 'kdf iterations');
	out.write(CONTAINER_MAGIC, 0, 'latin1');
	out.writeUInt8(CONTAINER_VERSION, 4);
	out.writeUInt8(kindCodes[header.kind], 5);
	out.writeUInt8(header.compressed ? FLAG_COMPRESSED : 0, 6);
	out.writeUInt8(KDF_ID_PBKDF2_SHA256, 7);
	out.writeUInt32BE(header.kdfIterations, 8);
	Buffer.from(header.archiveSalt).copy(out, 12);
	Buffer.from(header.chunkSalt).copy(out, 28);
	Buffer.from(header.nonce).copy(out, 44);
	Buffer.from(header.uid).copy(out, 56);
	out.writeUInt32BE(header.index, 72);
	out.writeUInt32BE(header.count, 76);
	return out;
}

/**
 * Decodes and checks a container header without any key: magic, version, kind, flags, KDF id and size.
 *
 * @throws {CoreError} BAD_FORMAT when the bytes are not a container of ours; UNSUPPORTED_VERSION for a newer format.
 */
export function decodeChunkHeader(bytes: Uint8Array, label = 'this file'): ChunkHeader {
	const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
	if (buf.length < CONTAINER_OVERHEAD || buf.toString('latin1', 0, 4) !== CONTAINER_MAGIC) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`${label} is not a Discord Object Store chunk (no "DOSC" header). Check that you named the right file or folder.`
		);
	}
	const version = buf.readUInt8(4);
	if (version !== CONTAINER_VERSION) {
		throw new CoreError(
			CoreErrorCode.UnsupportedVersion,
			`${label} uses chunk format ${version}; this build reads format ${CONTAINER_VERSION}. Update Discord Object Store and try again.`
		);
	}
	const kind = kindsByCode.get(buf.readUInt8(5));
	const flags = buf.readUInt8(6);
	const kdfId = buf.readUInt8(7);
	const kdfIterations = buf.readUInt32BE(8);
	if (
		kind === undefined ||
		(flags & ~FLAG_COMPRESSED) !== 0 ||
		kdfId !== KDF_ID_PBKDF2_SHA256 ||
		kdfIterations < 1 ||
		kdfIterations > MAX_KDF_ITERATIONS
	) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`${label} has a damaged chunk header (unknown kind, flags or key derivation). The chunk is corrupt.`
		);
	}
	return {
		version,
		kind,
		compressed: (flags & FLAG_COMPRESSED) !== 0,
		kdfId,
		kdfIterations,
		archiveSalt: Buffer.from(buf.subarray(12, 28)),
		chunkSalt: Buffer.from(buf.subarray(28, 44)),
		nonce: Buffer.from(buf.subarray(44, 56)),
		uid: Buffer.from(buf.subarray(56, 72)),
		index: buf.readUInt32BE(72),
		count: buf.readUInt32BE(76)
	};
}

/** A sealed container and the hashes computed while sealing it. */
export interface SealedContainer {
	/**
	 * header ‖ ciphertext ‖ tag, in one buffer that starts its ArrayBuffer and owns all of it (so it can be transferred):
	 * either exactly, or as the start of `into`.
	 */
	readonly sealed: Buffer;
	readonly header: ChunkHeader;
	/** sha256 of `sealed`, hex. */
	readonly sha256: string;
	/** sha256 of the payload, hex. */
	readonly payloadSha256: string;
}

/**
 * Seals a payload: random chunk salt and nonce, chunk key by HKDF from the archive key, AES-256-GCM with the header
 * as AAD. Synchronous: it runs inside the crypto workers (and for small single blobs on the calling thread).
 *
 */
export function sealContainer(input: SealContainerInput): SealedContainer {
	assertField(input.archiveKey.length === KEY_SIZE, 'archive key length');
	const chunkSalt = Buffer.from(input.chunkSalt ?? randomBytes(SALT_SIZE));
	const nonce = Buffer.from(input.nonce ?? randomBytes(NONCE_SIZE));
	const fields = {
		kind: input.kind,
		compressed: input.compressed,
		kdfIterations: input.kdfIterations,
		archiveSalt: Buffer.from(input.archiveSalt),
		chunkSalt,
		nonce,
		uid: Buffer.from(input.uid),
		index: input.index,
		count: input.count
	};
	const headerBytes = encodeChunkHeader(fields);
	const key = deriveChunkKey(input.archiveKey, chunkSalt);
	const cipher = createCipheriv('aes-256-gcm', key, nonce);
	cipher.setAAD(headerBytes);
	// One allocation for the whole container (not pooled, so it can be transferred between threads); GCM runs in
	// cache-sized steps, which is markedly faster than one call over megabytes.
	const size = HEADER_SIZE + input.payload.length + TAG_SIZE;
	const sealed = Buffer.from(input.into !== undefined && input.into.byteLength >= size ? input.into : new ArrayBuffer(size), 0, size);
	headerBytes.copy(sealed, 0);
	// Both hashes are fed step by step while the bytes are still in cache: one pass over memory instead of three.
	const sealedHash = createHash('sha256').update(headerBytes);
	const payloadHash = createHash('sha256');
	let at = HEADER_SIZE;
	for (let start = 0; start < input.payload.length; start += CIPHER_STEP) {
		const piece = input.payload.subarray(start, start + CIPHER_STEP);
		payloadHash.update(piece);
		const encrypted = cipher.update(piece);
		sealedHash.update(encrypted);
		at += encrypted.copy(sealed, at);
	}
	const last = cipher.final();
	sealedHash.update(last);
	at += last.copy(sealed, at);
	const tag = cipher.getAuthTag();
	sealedHash.update(tag);
	tag.copy(sealed, at);
	key.fill(0);
	return {
		sealed,
		header: { ...fields, version: CONTAINER_VERSION, kdfId: KDF_ID_PBKDF2_SHA256 },
		sha256: sealedHash.digest('hex'),
		payloadSha256: payloadHash.digest('hex')
	};
}

const CIPHER_STEP = 64 * 1024;

/**
 * Opens a container: checks its header against what the caller expects, then authenticates and decrypts it.
 *
 * @throws {CoreError} TAMPERED_CHUNK when the bytes differ from a recorded sha256; BAD_FORMAT / UNSUPPORTED_VERSION
 * for a bad header; MISPLACED_CHUNK when kind, uid, index, count or archive salt differ from the expectation;
 * WRONG_KEY when the tag fails on bytes known to be intact; TAMPERED_CHUNK when the tag fails otherwise.
 */
export function openContainer(sealedBytes: Uint8Array, archiveKey: Uint8Array, expect: ContainerExpectation): OpenedContainer {
	const sealed = Buffer.from(sealedBytes.buffer, sealedBytes.byteOffset, sealedBytes.byteLength);
	const label = expect.label ?? 'the chunk';
	let header: ChunkHeader;
	try {
		header = decodeChunkHeader(sealed, label);
		checkExpectation(header, expect, label);
	} catch (error) {
		// With a record, a damaged header is damage like any other byte.
		if (expect.sha256 !== undefined && sha256Hex(sealed) !== expect.sha256) throw recordMismatch(expect, label);
		throw error;
	}
	const key = deriveChunkKey(archiveKey, header.chunkSalt);
	const decipher = createDecipheriv('aes-256-gcm', key, header.nonce);
	const aad = sealed.subarray(0, HEADER_SIZE);
	const tag = sealed.subarray(sealed.length - TAG_SIZE);
	decipher.setAAD(aad);
	decipher.setAuthTag(tag);
	const ciphertext = sealed.subarray(HEADER_SIZE, sealed.length - TAG_SIZE);
	const payload = Buffer.from(new ArrayBuffer(ciphertext.length));
	// Both hashes are fed step by step while the bytes are in cache, as when sealing.
	const sealedHash = createHash('sha256').update(aad);
	const payloadHash = createHash('sha256');
	let at = 0;
	let failure: unknown;
	try {
		for (let start = 0; start < ciphertext.length; start += CIPHER_STEP) {
			const piece = ciphertext.subarray(start, start + CIPHER_STEP);
			sealedHash.update(piece);
			const plain = decipher.update(piece);
			payloadHash.update(plain);
			at += plain.copy(payload, at);
		}
		decipher.final();
	} catch (error) {
		failure = error;
	} finally {
		key.fill(0);
	}
	const sha256 = sealedHash.update(tag).digest('hex');
	if (expect.sha256 !== undefined && sha256 !== expect.sha256) {
		payload.fill(0);
		throw recordMismatch(expect, label);
	}
	if (failure !== undefined) {
		payload.fill(0);
		throw authenticationError(header, { ...expect, intact: expect.intact === true || expect.sha256 !== undefined }, label, failure);
	}
	return { header, payload, sha256, payloadSha256: payloadHash.digest('hex') };
}

/**
 * Checks a decoded header against an expectation.
 *
 * @throws {CoreError} MISPLACED_CHUNK
 */
export function checkExpectation(header: ChunkHeader, expect: ContainerExpectation, label = expect.label ?? 'the chunk'): void {
	const problems: string[] = [];
	if (header.kind !== expect.kind) problems.push(`it is a ${header.kind} container, not ${expect.kind}`);
	if (expect.uid !== undefined && !header.uid.equals(expect.uid)) problems.push('it belongs to another archive');
	if (expect.archiveSalt !== undefined && !header.archiveSalt.equals(expect.archiveSalt)) problems.push('it was sealed under another archive key');
	if (expect.index !== undefined && header.index !== expect.index) problems.push(`it is number ${header.index}, not ${expect.index}`);
	if (expect.count !== undefined && header.count !== expect.count) problems.push(`its part count is ${header.count}, not ${expect.count}`);
	if (header.kind === ChunkKind.Data && header.count !== 0) problems.push('a data chunk must have a zero count');
	if (problems.length > 0) {
		throw new CoreError(
			CoreErrorCode.MisplacedChunk,
			`${label} is in the wrong place: ${problems.join('; ')}. Chunks were swapped or mixed from another archive; find the right file.`,
			expect.kind === ChunkKind.Data && expect.index !== undefined ? { chunks: [expect.index] } : {}
		);
	}
}

function recordMismatch(expect: ContainerExpectation, label: string): CoreError {
	return new CoreError(
		CoreErrorCode.TamperedChunk,
		`${label} does not match its recorded sha256: it was changed or damaged. Fetch a good copy of it.`,
		expect.kind === ChunkKind.Data && expect.index !== undefined ? { chunks: [expect.index] } : {}
	);
}

function authenticationError(header: ChunkHeader, expect: ContainerExpectation, label: string, cause: unknown): CoreError {
	const details = header.kind === ChunkKind.Data ? { chunks: [expect.index ?? header.index] } : {};
	if (expect.intact) {
		return new CoreError(
			CoreErrorCode.WrongKey,
			`The key does not open ${label}: USER_KEY is not the passphrase this archive was made with. Set the right USER_KEY and try again.`,
			details,
			{ cause }
		);
	}
	return new CoreError(
		CoreErrorCode.TamperedChunk,
		`${label} failed authentication: its bytes were changed or damaged (or the key is wrong). Fetch a good copy of it.`,
		details,
		{ cause }
	);
}

function isU32(value: number): boolean {
	return Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

function assertField(ok: boolean, what: string): void {
	if (!ok) throw new CoreError(CoreErrorCode.InvalidOption, `Cannot build a chunk header: bad ${what}.`);
}
