import { createHash, randomBytes } from 'node:crypto';

/** Discord accepts message nonces of at most 25 characters. */
export const MAX_NONCE_LENGTH = 25;

/** Which message of an archive a nonce is for. */
export interface ChunkNonceInput {
	/** The archive's random uid (hex or any stable string). */
	readonly archiveUid: string;
	/** `data` for a data chunk, `manifest` for a manifest part. */
	readonly kind: 'data' | 'manifest';
	/** The chunk (or manifest part) index, ≥ 0. */
	readonly index: number;
	/**
	 * The attempt generation, ≥ 0. The same generation gives the same nonce, so a post retried within Discord's
	 * dedup window returns the message that already landed; a job that decided a chunk must be posted anew
	 * (after reconciling the thread) bumps it.
	 */
	readonly generation: number;
}

/**
 * The message nonce of one chunk post: deterministic per archive, kind, index and generation, 25 characters
 * (`d` or `m` then 24 hex digits of a SHA-256), nothing readable about the archive.
 *
 * @throws RangeError when `index` or `generation` is not a non-negative safe integer, or `archiveUid` is empty.
 */
export function chunkNonce(input: ChunkNonceInput): string {
	if (input.archiveUid.length === 0) throw new RangeError('chunkNonce needs an archive uid.');
	for (const [name, value] of [
		['index', input.index],
		['generation', input.generation]
	] as const) {
		if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`chunkNonce: ${name} must be a non-negative integer, got ${value}.`);
	}
	const digest = createHash('sha256').update(`dos-nonce-v1\0${input.archiveUid}\0${input.kind}\0${input.index}\0${input.generation}`).digest('hex');
	return `${input.kind === 'data' ? 'd' : 'm'}${digest.slice(0, MAX_NONCE_LENGTH - 1)}`;
}

/**
 * A random nonce for one logical message post (a card, a log line): the transport reuses it on every retry of
 * that post, so a retry after a lost answer returns the message that landed instead of posting it twice.
 */
export function randomNonce(): string {
	return `r${randomBytes(12).toString('hex')}`;
}

/** @throws RangeError when a nonce is empty or longer than Discord accepts. */
export function assertNonce(nonce: string): void {
	if (nonce.length === 0 || nonce.length > MAX_NONCE_LENGTH) {
		throw new RangeError(`A message nonce must have 1 to ${MAX_NONCE_LENGTH} characters, got ${nonce.length}.`);
	}
}
