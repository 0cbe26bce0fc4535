import { Decoder, Encoder } from '@toondepauw/node-zstd';
import { gunzipSync, gzipSync } from 'node:zlib';
import { looksIncompressible } from '../compression.js';
import { CoreError, CoreErrorCode } from '../errors.js';

/**
 * The codecs of format 2 (docs/format2-primitives.md §Codecs): `none`, `gzip-1`…`gzip-9`, `zstd-1`…`zstd-19`.
 * Each has a one-byte id recorded in pack headers and blob AAD: `none` = 0, `gzip-N` = 32 + N, `zstd-N` = 64 + N.
 */
export type Codec = 'none' | `gzip-${number}` | `zstd-${number}`;

/** The codec used when none is configured (the seed's promise: gzip -9). */
export const DEFAULT_CODEC: Codec = 'gzip-9';

export const MAX_GZIP_CODEC_LEVEL = 9;
export const MAX_ZSTD_CODEC_LEVEL = 19;

/** zstd's largest block (RFC 8878 §3.1.1.2.4): the most one compressed block can regenerate. */
const ZSTD_MAX_BLOCK = 128 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;

/** A codec split into its family and level. */
interface CodecParts {
	readonly family: 'none' | 'gzip' | 'zstd';
	readonly level: number;
}

function parts(codec: string): CodecParts | undefined {
	if (codec === 'none') return { family: 'none', level: 0 };
	const match = /^(gzip|zstd)-([1-9][0-9]?)$/.exec(codec);
	if (!match) return undefined;
	const family = match[1] as 'gzip' | 'zstd';
	const level = Number(match[2]);
	if (level > (family === 'gzip' ? MAX_GZIP_CODEC_LEVEL : MAX_ZSTD_CODEC_LEVEL)) return undefined;
	return { family, level };
}

/**
 * Reads a codec name as the settings and the CLI spell it.
 *
 * @throws {CoreError} INVALID_OPTION for any other name.
 */
export function parseCodec(name: string): Codec {
	const trimmed = name.trim().toLowerCase();
	if (parts(trimmed) === undefined) {
		throw new CoreError(CoreErrorCode.InvalidOption, `Unknown compression "${name}": use none, gzip-1 … gzip-9 or zstd-1 … zstd-19.`);
	}
	return trimmed as Codec;
}

/** The one-byte id of a codec (pack headers, blob AAD). */
export function codecId(codec: Codec): number {
	const p = parts(codec);
	if (p === undefined) throw new CoreError(CoreErrorCode.InvalidOption, `Unknown codec "${codec}".`);
	return p.family === 'none' ? 0 : p.family === 'gzip' ? 32 + p.level : 64 + p.level;
}

/**
 * The codec of a one-byte id.
 *
 * @throws {CoreError} BAD_FORMAT for an id that names no codec.
 */
export function codecFromId(id: number): Codec {
	let name: string | undefined;
	if (id === 0) name = 'none';
	else if (id > 32 && id <= 32 + MAX_GZIP_CODEC_LEVEL) name = `gzip-${id - 32}`;
	else if (id > 64 && id <= 64 + MAX_ZSTD_CODEC_LEVEL) name = `zstd-${id - 64}`;
	if (name === undefined) throw new CoreError(CoreErrorCode.BadFormat, `Codec id ${id} names no codec this build knows.`);
	return name as Codec;
}

/** What {@link compress} produced: the codec actually used (`none` when compression did not pay) and the bytes. */
export interface Compressed {
	readonly codec: Codec;
	readonly bytes: Buffer;
}

function asBuffer(bytes: Uint8Array): Buffer {
	return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One zstd encoder per level and one decoder, made on first use (per thread). */
const encoders = new Map<number, Encoder>();
let decoder: Decoder | undefined;

/**
 * Compresses with the codec, or returns the raw bytes as `none` when the result would not be smaller. For gzip, a
 * cheap deflate-1 probe first skips data that will not compress (photos, archives): gzip -9 runs at ~45 MB/s on it,
 * zstd-19 at ~7 MB/s; even zstd-3, fast on it, leaves its worker's memory hundreds of MB larger over a gigabyte of
 * such data than the probe does. Synchronous: meant for worker threads (blobs are at most 4 MiB).
 *
 * @throws {CoreError} INVALID_OPTION for an unknown codec.
 */
export function compressSync(codec: Codec, bytes: Uint8Array): Compressed {
	const p = parts(codec);
	if (p === undefined) throw new CoreError(CoreErrorCode.InvalidOption, `Unknown codec "${codec}".`);
	const raw = asBuffer(bytes);
	if (p.family === 'none' || raw.length === 0) return { codec: 'none', bytes: raw };
	// gzip and the high zstd levels crawl through such data (7 MB/s); the low zstd levels grow the worker's heap.
	if (looksIncompressible(raw)) return { codec: 'none', bytes: raw };
	let packed: Buffer;
	if (p.family === 'gzip') {
		packed = gzipSync(raw, { level: p.level });
	} else {
		let encoder = encoders.get(p.level);
		if (encoder === undefined) encoders.set(p.level, (encoder = new Encoder(p.level)));
		packed = encoder.encodeSync(raw);
	}
	return packed.length < raw.length ? { codec, bytes: packed } : { codec: 'none', bytes: raw };
}

/** {@link compressSync}, as a promise (the API the engine was first written against). */
export async function compress(codec: Codec, bytes: Uint8Array): Promise<Compressed> {
	return Promise.resolve().then(() => compressSync(codec, bytes));
}

function corrupt(codec: string, why: string, cause?: unknown): CoreError {
	return new CoreError(
		CoreErrorCode.BadFormat,
		`A ${codec} payload is invalid (${why}): the repository is damaged.`,
		{},
		cause === undefined ? undefined : { cause }
	);
}

/**
 * Walks a zstd payload without decoding it (RFC 8878 §3.1.1) and returns the most bytes it can regenerate: raw and
 * RLE blocks give their size, each compressed block at most 128 KiB. Only one frame, no dictionary, nothing after it.
 *
 * @throws {CoreError} BAD_FORMAT
 */
export function zstdOutputBound(payload: Uint8Array): number {
	const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
	const need = (at: number, n: number): void => {
		if (at + n > payload.length) throw corrupt('zstd', 'truncated');
	};
	need(0, 5);
	if (view.getUint32(0, true) !== ZSTD_MAGIC) throw corrupt('zstd', 'no frame magic');
	const fhd = payload[4]!;
	const fcsFlag = fhd >> 6;
	const singleSegment = (fhd >> 5) & 1;
	if ((fhd & 0x08) !== 0) throw corrupt('zstd', 'reserved bit set');
	if ((fhd & 0x03) !== 0) throw corrupt('zstd', 'a dictionary is named');
	const checksum = (fhd >> 2) & 1;
	const fcsSize = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
	let at = 5 + (singleSegment ? 0 : 1) + fcsSize;
	need(0, at);
	let bound = 0;
	for (;;) {
		need(at, 3);
		const header = payload[at]! | (payload[at + 1]! << 8) | (payload[at + 2]! << 16);
		at += 3;
		const last = header & 1;
		const type = (header >> 1) & 3;
		const size = header >>> 3;
		if (size > ZSTD_MAX_BLOCK) throw corrupt('zstd', 'block too large');
		if (type === 0) {
			need(at, size);
			at += size;
			bound += size;
		} else if (type === 1) {
			need(at, 1);
			at += 1;
			bound += size;
		} else if (type === 2) {
			need(at, size);
			at += size;
			bound += ZSTD_MAX_BLOCK;
		} else {
			throw corrupt('zstd', 'reserved block type');
		}
		if (last) break;
	}
	at += checksum ? 4 : 0;
	need(0, at);
	if (at !== payload.length) throw corrupt('zstd', 'bytes after the frame');
	return bound;
}

/**
 * Decompresses a payload that must regenerate exactly `rawLength` bytes, never producing much more: gzip stops at
 * `rawLength` + 1 bytes; a zstd frame is walked first and refused when its blocks could regenerate more than
 * 2 × `rawLength` + 128 KiB (our encoder writes full 128 KiB blocks, so honest frames are far below), so a forged
 * payload cannot exhaust memory.
 *
 * @throws {CoreError} BAD_FORMAT when the payload is invalid, or its length differs from `rawLength`; INVALID_OPTION
 * for an unknown codec.
 */
export function decompressSync(codec: Codec, bytes: Uint8Array, rawLength: number): Buffer {
	const p = parts(codec);
	if (p === undefined) throw new CoreError(CoreErrorCode.InvalidOption, `Unknown codec "${codec}".`);
	if (!Number.isSafeInteger(rawLength) || rawLength < 0) throw corrupt(codec, `raw length ${rawLength}`);
	const payload = asBuffer(bytes);
	let out: Buffer;
	if (p.family === 'none') {
		out = payload;
	} else if (p.family === 'gzip') {
		try {
			out = gunzipSync(payload, { maxOutputLength: rawLength + 1 });
		} catch (error) {
			throw corrupt(codec, 'gzip stream', error);
		}
	} else {
		if (zstdOutputBound(payload) > 2 * rawLength + ZSTD_MAX_BLOCK) throw corrupt(codec, 'it would regenerate more than recorded');
		try {
			out = (decoder ??= new Decoder()).decodeSync(payload);
		} catch (error) {
			throw corrupt(codec, 'zstd stream', error);
		}
	}
	if (out.length !== rawLength) throw corrupt(codec, `${out.length} bytes where ${rawLength} are recorded`);
	return out;
}

/** {@link decompressSync}, as a promise (the API the engine was first written against). */
export async function decompress(codec: Codec, bytes: Uint8Array, rawLength: number): Promise<Buffer> {
	return Promise.resolve().then(() => decompressSync(codec, bytes, rawLength));
}

/** Bytes a worker compresses or decompresses between two turns of its event loop (see {@link turnForFinalizers}). */
export const TURN_BYTES = 1024 * 1024;

/**
 * Lets a worker's event loop turn: the zstd binding's output buffers are freed by finalizers that run only then, so a
 * task that compresses or opens many blobs without yielding holds every one of them until it ends.
 */
export async function turnForFinalizers(): Promise<void> {
	await new Promise((resolve) => setImmediate(resolve));
}
