import { createHash } from 'node:crypto';

/** sha256 of some bytes (a string: its UTF-8 bytes), lowercase hex: the one helper every layer hashes a whole buffer with. */
export function sha256Hex(data: Uint8Array | string): string {
	return createHash('sha256').update(data).digest('hex');
}
