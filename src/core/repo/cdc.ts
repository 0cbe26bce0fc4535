import { createHash } from 'node:crypto';
import { CoreError, CoreErrorCode } from '../errors.js';

/**
 * Content-defined chunking of format 2: FastCDC (Xia et al., 2016; 2020) with normalized chunking at level 2, a 32-bit
 * gear hash and the parameters below. The table, the masks and the parameters are part of the format
 * (docs/format2-primitives.md §CDC) and pinned by test vectors in test/fixtures/fastcdc-vectors.json.
 */

/** No blob is shorter than this, except the last one of a file (or a file below it). */
export const CDC_MIN_SIZE = 256 * 1024;
/** The size the normalization aims at: below it the stricter mask applies. */
export const CDC_AVG_SIZE = 1024 * 1024;
/** No blob is longer than this. */
export const CDC_MAX_SIZE = 4 * 1024 * 1024;

/** Mask used while a blob is shorter than {@link CDC_AVG_SIZE}: the top 22 bits (log2 avg + 2). */
export const CDC_MASK_S = 0xfffffc00 | 0;
/** Mask used from {@link CDC_AVG_SIZE} on: the top 18 bits (log2 avg − 2). */
export const CDC_MASK_L = 0xffffc000 | 0;

/** The seed the gear table is derived from: entry i = first 4 bytes (big-endian) of SHA-256(`${seed}:${i}`). */
export const CDC_GEAR_SEED = 'discord-object-store/format2/fastcdc-gear/v1';

/** The gear table, checked in so that a reader needs no derivation; {@link deriveGearTable} recomputes it. */
export const CDC_GEAR: Readonly<Int32Array> = Int32Array.from([
	0x3fef2104, 0x39e27a8b, 0xfc8781d7, 0x45752b9d, 0x9ea9a345, 0x7b3e1888, 0x9aec15d5, 0xa43df670, 0xb1e9955f, 0xa432f905, 0xb8888125, 0x98db2810,
	0xfc1f884a, 0x6703835f, 0xf0382ece, 0x1e480b2d, 0xa0585457, 0xc1ec147c, 0x95d07d87, 0xe0aaa497, 0xee596269, 0x04697764, 0xcc47853f, 0xc153f84d,
	0x2a79fc43, 0xae173142, 0xd63bc750, 0xf2e7b0f4, 0xbfcc7e82, 0xceb85e0a, 0x0c678a65, 0xedacc42d, 0x3ae8890b, 0x0aa65eb6, 0x1a72250e, 0x1da94b99,
	0x51279d21, 0x0351c240, 0xe0daaa85, 0xdb984d98, 0x8a0d4c13, 0x64601ab1, 0x9bade088, 0x7168acdf, 0x5c022634, 0xd639b30d, 0xbab6036e, 0x8ed585bc,
	0x1ebb5d4a, 0x579e4052, 0x547cff22, 0xac53add9, 0xaf3142dc, 0x602901e0, 0xbb122237, 0x1b0425b2, 0x3640399c, 0x1679fadb, 0xe45c1ba2, 0x9ddc33c6,
	0x800fdf36, 0x2d1f3ffc, 0xf466737d, 0x34d75720, 0x6a1f380e, 0xb93faf68, 0x8cdc16f3, 0xaa6c1b5e, 0xf550d05d, 0x138f2104, 0xc5d58e00, 0x62c91fcd,
	0xc69ece8c, 0xd2f41a66, 0x9cba6df4, 0xb13fbe96, 0x7a0d92ed, 0xb130e8d1, 0x4e44b97b, 0x2ddd7dec, 0xbddcb3da, 0xa288038a, 0xf8dd488f, 0x0e7ee3d7,
	0x31997ca6, 0x8c74dafd, 0x2f09d365, 0x26dcd824, 0x1bd1bb32, 0x224f44b0, 0xe30ed646, 0x7768ce11, 0xd183c827, 0x1f1cf0bb, 0x09453060, 0xdf9a11cd,
	0xad09b3f0, 0x6532b821, 0xc60a5c73, 0x04186d98, 0x08157e61, 0xd8faab0a, 0x0b3e2803, 0x1cb95bd8, 0x6069a181, 0xe76e63eb, 0x9baa2e2c, 0x24892953,
	0x6b7b8b3d, 0x0189ef5e, 0x16abedec, 0x28e9db4c, 0x79679954, 0xd5077fc0, 0x0680c7d6, 0x474d20a0, 0xe8e2368e, 0x4b460f2d, 0xfc173481, 0x335142f1,
	0x1126a560, 0x0c98f2bb, 0x36beeed2, 0xf6a5cd70, 0x8793a7ea, 0x1ca8dc9e, 0xf2b0d879, 0xe1f2577d, 0x383e5de0, 0x7fc99c9e, 0x5d8fbd4e, 0x46f7dd8a,
	0x96260b52, 0xcbb0da83, 0x0abbc8a1, 0x5870f5b8, 0xedf8aa93, 0x6c013c67, 0x4ed23999, 0x9dc3804f, 0xb4e2b234, 0x5d02e905, 0x1dec90e1, 0xe64e73f9,
	0x9d4e93ec, 0xc00e2e2d, 0x4145cfaf, 0xa1c9ac71, 0x5ef7d1aa, 0x6779fdfd, 0x149b1251, 0x6e63981b, 0xf8d67ce1, 0x40066a07, 0x1c820f6b, 0xe98260fe,
	0x5950363e, 0xa39c5af2, 0x760894b7, 0xb6b58eea, 0x1564eee4, 0x1a9f0e73, 0x85d19c19, 0xbce3e07d, 0x45adaaf6, 0x368c6371, 0x71bfb3b8, 0xec66ed08,
	0xdad81e3f, 0xdd391b57, 0x488b16b7, 0x7a950924, 0x1a892982, 0x2d2409bf, 0xa56a0d2b, 0xc7724785, 0x2f280640, 0x6813daf6, 0x511ac788, 0xadebb9e3,
	0x77f0218d, 0x7f407f1a, 0x06e16445, 0xad52c0c4, 0x7aa98676, 0xbe877943, 0xfee1ec1b, 0xff82d044, 0xb89ffb46, 0xdb94145b, 0x465c72a7, 0x8093a42a,
	0xf1ee9ca1, 0xc5fe667f, 0x9a3cb8c2, 0xa586cde1, 0x0aa06034, 0x9964e3f5, 0x58d88745, 0xd6ac01f8, 0xb33f936c, 0x4aeaecca, 0xa7363fc5, 0xf53159a4,
	0x5898beb8, 0x25108c01, 0x01e6ef10, 0x52782f49, 0xd07088bf, 0xa66d82b1, 0x38eae7c2, 0xcdf0737f, 0xc9e5afdf, 0x1af1d16d, 0x0bcedc62, 0x75197e6c,
	0x37495af1, 0xbdf4167b, 0xdb3479c0, 0x956f4518, 0xcecb344e, 0xb0c0f610, 0xa3cb5d93, 0x623602d0, 0xea3daf7d, 0x61e66e91, 0x7114ceba, 0x178e527d,
	0x26e47995, 0xa8928d72, 0x4bff9493, 0xe4e3f5c2, 0x81768275, 0x06256c94, 0x6b4298be, 0xe17a24c5, 0xae53aad6, 0x129d744e, 0x91c0da0e, 0x148ee6c3,
	0x52e16174, 0xee4a7c51, 0xe2b3641e, 0xce573725, 0x5727e9bc, 0x19926c02, 0xaa9bdfc8, 0x37e2675b, 0x3318472d, 0xa212d66f, 0xa4c5ff1d, 0xffd090c5,
	0x5792ffe8, 0xa12a54c4, 0x760c0753, 0xa8674692
]);

/** Recomputes the gear table from {@link CDC_GEAR_SEED} (tests compare it with {@link CDC_GEAR}). */
export function deriveGearTable(seed: string = CDC_GEAR_SEED): Int32Array {
	const table = new Int32Array(256);
	for (let i = 0; i < 256; i++) table[i] = createHash('sha256').update(`${seed}:${i}`).digest().readInt32BE(0);
	return table;
}

/** Parameters of a chunker; only tests use other values than the format's. */
export interface CdcParameters {
	readonly minSize: number;
	readonly avgSize: number;
	readonly maxSize: number;
	readonly maskS: number;
	readonly maskL: number;
}

export const CDC_PARAMETERS: CdcParameters = {
	minSize: CDC_MIN_SIZE,
	avgSize: CDC_AVG_SIZE,
	maxSize: CDC_MAX_SIZE,
	maskS: CDC_MASK_S,
	maskL: CDC_MASK_L
};

/**
 * A streaming FastCDC chunker: feed buffers of any size, in order, and get the lengths of the blobs that ended in
 * them; {@link Chunker.finish} gives the last one. The cut points do not depend on how the stream is split into
 * buffers. Rule: bytes 0 … min−1 of a blob are not hashed; from byte min on, `h = (h << 1) + GEAR[byte]` (32-bit,
 * starting at 0), and the blob ends after byte j when `h & mask == 0`, mask = MASK_S while j < avg, MASK_L after;
 * a blob that reaches max bytes ends there.
 */
export class Chunker {
	readonly #min: number;
	readonly #avg: number;
	readonly #max: number;
	readonly #maskS: number;
	readonly #maskL: number;
	/** Length of the blob in progress. */
	#length = 0;
	#hash = 0;

	public constructor(parameters: CdcParameters = CDC_PARAMETERS) {
		const { minSize, avgSize, maxSize } = parameters;
		if (!(Number.isSafeInteger(minSize) && minSize >= 1 && avgSize >= minSize && maxSize >= avgSize && Number.isSafeInteger(maxSize))) {
			throw new CoreError(CoreErrorCode.InvalidOption, `CDC sizes must satisfy 1 ≤ min ≤ avg ≤ max, not ${minSize}, ${avgSize}, ${maxSize}.`);
		}
		this.#min = minSize;
		this.#avg = avgSize;
		this.#max = maxSize;
		this.#maskS = parameters.maskS | 0;
		this.#maskL = parameters.maskL | 0;
	}

	/** Feeds the next bytes of the stream; returns the lengths of the blobs that ended inside them, in order. */
	public push(bytes: Uint8Array): number[] {
		const cuts: number[] = [];
		const gear = CDC_GEAR;
		const end = bytes.length;
		const min = this.#min;
		const avg = this.#avg;
		const max = this.#max;
		let length = this.#length;
		let hash = this.#hash;
		let i = 0;
		while (i < end) {
			if (length < min) {
				const skip = Math.min(min - length, end - i);
				length += skip;
				i += skip;
				hash = 0;
				continue;
			}
			// Hash bytes until a cut, the end of the buffer, or the mask changes (avg) or the blob is full (max).
			let cut = false;
			if (length < avg) {
				const mask = this.#maskS;
				const stop = Math.min(end, i + (avg - length));
				let j = i;
				for (; j < stop; j++) {
					hash = ((hash << 1) + gear[bytes[j]!]!) | 0;
					if ((hash & mask) === 0) {
						cut = true;
						j++;
						break;
					}
				}
				length += j - i;
				i = j;
			} else {
				const mask = this.#maskL;
				const stop = Math.min(end, i + (max - length));
				let j = i;
				for (; j < stop; j++) {
					hash = ((hash << 1) + gear[bytes[j]!]!) | 0;
					if ((hash & mask) === 0) {
						cut = true;
						j++;
						break;
					}
				}
				length += j - i;
				i = j;
			}
			if (cut || length >= max) {
				cuts.push(length);
				length = 0;
				hash = 0;
			}
		}
		this.#length = length;
		this.#hash = hash;
		return cuts;
	}

	/** Ends the stream: the length of the last blob, or undefined when the stream ended on a cut (or was empty). */
	public finish(): number | undefined {
		const length = this.#length;
		this.#length = 0;
		this.#hash = 0;
		return length > 0 ? length : undefined;
	}
}

/** The blob lengths of a whole buffer (an empty one has none). */
export function chunkLengths(bytes: Uint8Array, parameters: CdcParameters = CDC_PARAMETERS): number[] {
	const chunker = new Chunker(parameters);
	const lengths = chunker.push(bytes);
	const last = chunker.finish();
	if (last !== undefined) lengths.push(last);
	return lengths;
}
