import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';

/**
 * AES-256-GCM as every sealed value of format 2 uses it (blobs, pack headers, manifest parts;
 * docs/format2-primitives.md): `nonce (12, random) ‖ ciphertext ‖ tag (16)`.
 */
export const GCM_NONCE_SIZE = 12;
export const GCM_TAG_SIZE = 16;
/** Bytes a sealed value adds to its plaintext. */
export const GCM_OVERHEAD = GCM_NONCE_SIZE + GCM_TAG_SIZE;

/**
 * Random nonces, drawn from the CSPRNG 4 KiB at a time (one call per blob cost ~10 µs, a fifth of sealing a small
 * blob); each 12 bytes are handed out once.
 */
const noncePool = Buffer.alloc(4096 - (4096 % GCM_NONCE_SIZE));
let nonceAt = noncePool.length;

function writeNonce(into: Buffer, at: number): void {
	if (nonceAt === noncePool.length) {
		randomFillSync(noncePool);
		nonceAt = 0;
	}
	noncePool.copy(into, at, nonceAt, nonceAt + GCM_NONCE_SIZE);
	nonceAt += GCM_NONCE_SIZE;
}

/**
 * Seals `plain` under `key` with a random nonce, authenticating `aad` too, into `into` at `at` (which must have room
 * for `plain.length` + {@link GCM_OVERHEAD} bytes). Returns the bytes written.
 */
export function gcmSealInto(key: Uint8Array, aad: Uint8Array, plain: Uint8Array, into: Buffer, at: number): number {
	writeNonce(into, at);
	const cipher = createCipheriv('aes-256-gcm', key, into.subarray(at, at + GCM_NONCE_SIZE));
	cipher.setAAD(aad);
	let end = at + GCM_NONCE_SIZE;
	end += cipher.update(plain).copy(into, end);
	end += cipher.final().copy(into, end);
	end += cipher.getAuthTag().copy(into, end);
	return end - at;
}

/** Seals `plain` under `key` with a random nonce, authenticating `aad` too. */
export function gcmSeal(key: Uint8Array, aad: Uint8Array, plain: Uint8Array): Buffer {
	const sealed = Buffer.allocUnsafe(plain.length + GCM_OVERHEAD);
	gcmSealInto(key, aad, plain, sealed, 0);
	return sealed;
}

/** Opens {@link gcmSeal}'s output; undefined when it is too short or does not authenticate (key, AAD or bytes differ). */
export function gcmOpen(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | undefined {
	if (sealed.length < GCM_OVERHEAD) return undefined;
	try {
		const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, GCM_NONCE_SIZE));
		decipher.setAAD(aad);
		decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_SIZE));
		const body = decipher.update(sealed.subarray(GCM_NONCE_SIZE, sealed.length - GCM_TAG_SIZE));
		return Buffer.concat([body, decipher.final()]);
	} catch {
		return undefined;
	}
}
