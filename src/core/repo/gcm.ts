import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM as every sealed value of format 2 uses it (blobs, pack headers, manifest parts;
 * docs/format2-primitives.md): `nonce (12, random) ‖ ciphertext ‖ tag (16)`.
 */
export const GCM_NONCE_SIZE = 12;
export const GCM_TAG_SIZE = 16;
/** Bytes a sealed value adds to its plaintext. */
export const GCM_OVERHEAD = GCM_NONCE_SIZE + GCM_TAG_SIZE;

/** Seals `plain` under `key` with a random nonce, authenticating `aad` too. */
export function gcmSeal(key: Uint8Array, aad: Uint8Array, plain: Uint8Array): Buffer {
	const nonce = randomBytes(GCM_NONCE_SIZE);
	const cipher = createCipheriv('aes-256-gcm', key, nonce);
	cipher.setAAD(aad);
	const body = cipher.update(plain);
	const final = cipher.final();
	return Buffer.concat([nonce, body, final, cipher.getAuthTag()]);
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
