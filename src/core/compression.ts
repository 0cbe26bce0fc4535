import { deflateRawSync, gunzipSync, gzipSync } from 'node:zlib';
import { CoreError, CoreErrorCode } from './errors.js';

/** Compression is kept only when the result is at most this fraction of the raw size. */
export const KEEP_COMPRESSED_RATIO = 0.97;
/**
 * Size of one probe sample. Deflate runs at only ~45 MB/s on incompressible bytes, so the probe is kept to 64 KiB per
 * chunk in all (under 1 % of a 9.5 MiB chunk); 16 KiB windows still show both entropy and repetition.
 */
export const PROBE_SAMPLE_SIZE = 16 * 1024;
/** Number of probe samples spread over a chunk. */
export const PROBE_SAMPLES = 4;
/** Below this size a chunk is compressed outright: probing would cost as much as compressing. */
const PROBE_MIN_SIZE = PROBE_SAMPLE_SIZE * PROBE_SAMPLES * 2;

/** The largest output inflated in one buffer allocated up front (a recorded size above it is inflated piecewise). */
const MAX_EXACT_OUTPUT = 64 * 1024 * 1024;

/** Valid gzip levels: 0 stores everything raw, 9 is the default (docs/design.md §3.2). */
export const MIN_GZIP_LEVEL = 0;
export const MAX_GZIP_LEVEL = 9;
export const DEFAULT_GZIP_LEVEL = 9;

/** The bytes to encrypt and whether they are gzip. */
export interface StoragePayload {
	readonly payload: Buffer;
	readonly compressed: boolean;
}

/**
 * Cheap test for data that will not compress (photos, videos, archives, ciphertext): deflate level 1 over a few
 * samples spread through the chunk; if that saves under 3 %, gzip -9 would not save enough either.
 */
export function looksIncompressible(plain: Uint8Array): boolean {
	if (plain.length < PROBE_MIN_SIZE) return false;
	const stride = Math.floor((plain.length - PROBE_SAMPLE_SIZE) / (PROBE_SAMPLES - 1));
	let raw = 0;
	let packed = 0;
	for (let sample = 0; sample < PROBE_SAMPLES; sample++) {
		const start = sample * stride;
		const bytes = plain.subarray(start, start + PROBE_SAMPLE_SIZE);
		raw += bytes.length;
		packed += deflateRawSync(bytes, { level: 1 }).length;
	}
	return packed > raw * KEEP_COMPRESSED_RATIO;
}

/**
 * Chooses how a chunk is stored: gzip at `level` when that brings it to at most {@link KEEP_COMPRESSED_RATIO} of its
 * size, else the raw bytes (without paying for gzip when a probe shows the data does not compress).
 */
export function compressForStorage(plain: Uint8Array, level: number): StoragePayload {
	const raw = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
	if (level === 0 || plain.length === 0 || looksIncompressible(plain)) return { payload: raw, compressed: false };
	const gzipped = gzipSync(plain, { level });
	if (gzipped.length <= plain.length * KEEP_COMPRESSED_RATIO) return { payload: gzipped, compressed: true };
	return { payload: raw, compressed: false };
}

/**
 * Inflates a gzip payload, refusing to produce more than `maxSize` bytes (a forged payload cannot exhaust memory).
 * When `maxSize` is the exact size recorded (`exact`), the bytes are inflated into one buffer of that size (plus
 * one byte, for zlib to see the end): a third faster than growing and joining 16 KiB pieces, and half the memory.
 *
 * @throws {CoreError} BAD_FORMAT when the payload is not valid gzip or inflates past `maxSize`.
 */
export function gunzipPayload(payload: Uint8Array, maxSize: number, label: string, exact = false): Buffer {
	try {
		const limit = Math.max(1, maxSize);
		return gunzipSync(payload, { maxOutputLength: limit, ...(exact && limit <= MAX_EXACT_OUTPUT ? { chunkSize: Math.max(64, limit + 1) } : {}) });
	} catch (error) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`${label} decrypted but its compressed payload is invalid or larger than recorded. The archive is damaged.`,
			{},
			{ cause: error }
		);
	}
}

/**
 * Checks a gzip level.
 *
 * @throws {CoreError} INVALID_OPTION
 */
export function assertGzipLevel(level: number): void {
	if (!Number.isInteger(level) || level < MIN_GZIP_LEVEL || level > MAX_GZIP_LEVEL) {
		throw new CoreError(CoreErrorCode.InvalidOption, `The gzip level must be a whole number from 0 to 9, not ${level}.`);
	}
}
