import { createCipheriv, createHash } from 'node:crypto';

/**
 * The input of the CDC test vectors: the AES-256-CTR keystream of key SHA-256(seed), counter block 0, `length` bytes.
 * Any language can regenerate it.
 */
export function vectorInput(seed: string, length: number): Buffer {
	const key = createHash('sha256').update(seed).digest();
	const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
	return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}
