import { compressForStorage, gunzipPayload } from './compression.js';
import { type ChunkHeader, type ChunkKind, type ContainerExpectation, openContainer, sealContainer } from './container.js';
import { CoreError, CoreErrorCode } from './errors.js';
import { sha256Hex } from './hash.js';

/** Everything needed to seal one chunk; runs in a crypto worker. */
export interface SealChunkTask {
	readonly kind: ChunkKind;
	readonly archiveKey: Uint8Array;
	readonly archiveSalt: Uint8Array;
	readonly kdfIterations: number;
	readonly uid: Uint8Array;
	readonly index: number;
	readonly count: number;
	/** 0 stores raw; otherwise gzip at this level when it pays. */
	readonly gzipLevel: number;
	readonly plain: Uint8Array;
	/** A recycled buffer to seal into, when large enough (see `sealContainer`). */
	readonly into?: ArrayBuffer;
}

/** One sealed chunk and what the manifest and the index record about it. */
export interface SealedChunkData {
	/** The sealed container: header ‖ ciphertext ‖ tag. */
	readonly bytes: Buffer;
	readonly compressed: boolean;
	readonly plainSize: number;
	/** sha256 of the plaintext, hex. */
	readonly plainSha256: string;
	readonly storedSize: number;
	/** sha256 of the sealed bytes, hex (checkable without the key). */
	readonly sha256: string;
	/** The GCM nonce, hex. */
	readonly nonce: string;
}

/** Everything needed to open one chunk; runs in a crypto worker. */
export interface OpenChunkTask {
	readonly sealed: Uint8Array;
	readonly archiveKey: Uint8Array;
	readonly expect: ContainerExpectation;
	/** The recorded sha256 of the sealed bytes: checked first, and a match makes a failing tag mean WRONG_KEY. */
	readonly sha256?: string;
	/** The recorded plaintext size: the most a compressed payload may inflate to, and checked exactly. */
	readonly plainSize?: number;
	/** The recorded plaintext sha256, checked when given. */
	readonly plainSha256?: string;
}

/** An opened chunk. */
export interface OpenedChunkData {
	readonly header: ChunkHeader;
	readonly plain: Buffer;
	readonly plainSha256: string;
}

/** Hashes the plaintext, compresses when it pays, and seals. */
export function sealChunk(task: SealChunkTask): SealedChunkData {
	const { payload, compressed } = compressForStorage(task.plain, task.gzipLevel);
	const { sealed, header, sha256, payloadSha256 } = sealContainer({
		kind: task.kind,
		compressed,
		archiveKey: task.archiveKey,
		archiveSalt: task.archiveSalt,
		kdfIterations: task.kdfIterations,
		uid: task.uid,
		index: task.index,
		count: task.count,
		payload,
		...(task.into === undefined ? {} : { into: task.into })
	});
	return {
		bytes: sealed,
		compressed,
		plainSize: task.plain.length,
		// Stored raw, the payload is the plaintext and its hash came with the sealing.
		plainSha256: compressed ? sha256Hex(task.plain) : payloadSha256,
		storedSize: sealed.length,
		sha256,
		nonce: header.nonce.toString('hex')
	};
}

/**
 * Checks the stored hash, authenticates, decrypts and inflates one chunk.
 *
 * @throws {CoreError} TAMPERED_CHUNK when the stored hash or the tag does not match; WRONG_KEY when the tag fails
 * on intact bytes; MISPLACED_CHUNK / BAD_FORMAT for a wrong or damaged header; HASH_MISMATCH when the plaintext
 * differs from its record.
 */
export function openChunk(task: OpenChunkTask): OpenedChunkData {
	const label = task.expect.label ?? 'the chunk';
	const details = task.expect.index === undefined ? {} : { chunks: [task.expect.index] };
	const { header, payload, payloadSha256 } = openContainer(task.sealed, task.archiveKey, {
		...task.expect,
		...(task.sha256 === undefined ? {} : { sha256: task.sha256 })
	});
	const plain = header.compressed
		? gunzipPayload(payload, task.plainSize ?? Number.MAX_SAFE_INTEGER, label, task.plainSize !== undefined)
		: payload;
	if (task.plainSize !== undefined && plain.length !== task.plainSize) {
		throw new CoreError(
			CoreErrorCode.HashMismatch,
			`${label} holds ${plain.length} bytes, not the ${task.plainSize} recorded. The archive is damaged.`,
			details
		);
	}
	const plainSha256 = header.compressed ? sha256Hex(plain) : payloadSha256;
	if (task.plainSha256 !== undefined && plainSha256 !== task.plainSha256) {
		throw new CoreError(
			CoreErrorCode.HashMismatch,
			`${label} decrypted to bytes that differ from the recorded hash. The archive is damaged.`,
			details
		);
	}
	return { header, plain, plainSha256 };
}
