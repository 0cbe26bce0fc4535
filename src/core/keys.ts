import { channel } from 'node:diagnostics_channel';
import { hkdfSync, pbkdf2, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { throwIfAborted } from './abort.js';
import { CoreError, CoreErrorCode } from './errors.js';

/** Name of the `node:diagnostics_channel` channel on which every PBKDF2 derivation is published as `{ iterations }`. */
export const KDF_CHANNEL = 'dos:kdf';

/** PBKDF2-HMAC-SHA256 iterations for new archives (docs/design.md §3.2). */
export const DEFAULT_KDF_ITERATIONS = 600_000;

/** The most iterations a header may ask for: a forged header must not make us spin for hours. */
export const MAX_KDF_ITERATIONS = 10_000_000;

/** Length of the archive salt (PBKDF2) and of each chunk salt (HKDF), in bytes. */
export const SALT_SIZE = 16;

/** Length of every key: the archive key and each chunk key (AES-256). */
export const KEY_SIZE = 32;

/** HKDF `info` that separates chunk keys of this format from any other use of the archive key. */
export const CHUNK_KEY_INFO = 'discord-object-store/chunk/v1';

/** A message published on {@link KDF_CHANNEL}. */
export interface KdfEvent {
	readonly iterations: number;
}

const kdfChannel = channel(KDF_CHANNEL);

/**
 * The key of one archive: PBKDF2-HMAC-SHA256 of the passphrase over the archive salt. It is derived once per
 * archive and then only expanded per chunk with HKDF. Printing it (inspect, JSON, string) never shows the bytes.
 */
export class ArchiveKey {
	/** The PBKDF2 salt, stored in every chunk header and in the manifest. */
	public readonly salt: Buffer;
	/** The PBKDF2 iteration count, stored in every chunk header and in the manifest. */
	public readonly iterations: number;
	readonly #bytes: Buffer;

	public constructor(bytes: Buffer, salt: Buffer, iterations: number) {
		if (bytes.length !== KEY_SIZE) throw new CoreError(CoreErrorCode.InvalidOption, `An archive key is ${KEY_SIZE} bytes, not ${bytes.length}.`);
		if (salt.length !== SALT_SIZE) throw new CoreError(CoreErrorCode.InvalidOption, `An archive salt is ${SALT_SIZE} bytes, not ${salt.length}.`);
		this.#bytes = Buffer.from(bytes);
		this.salt = Buffer.from(salt);
		this.iterations = iterations;
	}

	/** A copy of the raw key bytes, for the crypto workers. Never log or store them. */
	public exportBytes(): Buffer {
		return Buffer.from(this.#bytes);
	}

	/** Whether this key was derived with the given salt and iteration count. */
	public matches(salt: Uint8Array, iterations: number): boolean {
		return this.iterations === iterations && this.salt.equals(salt);
	}

	public toJSON(): { salt: string; iterations: number; key: string } {
		return { salt: this.salt.toString('hex'), iterations: this.iterations, key: '[redacted]' };
	}

	public toString(): string {
		return `ArchiveKey(salt ${this.salt.toString('hex')}, ${this.iterations} iterations, key [redacted])`;
	}

	public [inspect.custom](): string {
		return this.toString();
	}
}

/** Options of {@link deriveArchiveKey}. */
export interface DeriveArchiveKeyOptions {
	/** The archive salt; a new random one when omitted (a new archive). */
	readonly salt?: Uint8Array;
	/** PBKDF2 iterations; {@link DEFAULT_KDF_ITERATIONS} when omitted. */
	readonly iterations?: number;
	readonly signal?: AbortSignal;
}

/**
 * Derives an archive key: PBKDF2-HMAC-SHA256(UTF-8 passphrase, salt, iterations, 32 bytes), asynchronously (on
 * libuv's thread pool), and publishes `{ iterations }` on {@link KDF_CHANNEL}.
 *
 * @throws {CoreError} NO_KEY when the passphrase is empty; INVALID_OPTION when the salt or the iteration count is
 * out of range; ABORTED when the signal fires first.
 */
export async function deriveArchiveKey(passphrase: string, options: DeriveArchiveKeyOptions = {}): Promise<ArchiveKey> {
	assertPassphrase(passphrase);
	const iterations = options.iterations ?? DEFAULT_KDF_ITERATIONS;
	if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_KDF_ITERATIONS) {
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			`PBKDF2 iterations must be a whole number from 1 to ${MAX_KDF_ITERATIONS}, not ${iterations}. A damaged header can cause this.`
		);
	}
	const salt = options.salt === undefined ? randomBytes(SALT_SIZE) : Buffer.from(options.salt);
	if (salt.length !== SALT_SIZE) throw new CoreError(CoreErrorCode.InvalidOption, `An archive salt is ${SALT_SIZE} bytes, not ${salt.length}.`);
	throwIfAborted(options.signal);
	kdfChannel.publish({ iterations } satisfies KdfEvent);
	const bytes = await new Promise<Buffer>((resolve, reject) => {
		pbkdf2(Buffer.from(passphrase, 'utf8'), salt, iterations, KEY_SIZE, 'sha256', (error, key) => {
			if (error) reject(error);
			else resolve(key);
		});
	});
	throwIfAborted(options.signal);
	return new ArchiveKey(bytes, salt, iterations);
}

/** chunkKey = HKDF-SHA256(archiveKey, chunkSalt, {@link CHUNK_KEY_INFO}, 32). */
export function deriveChunkKey(archiveKey: Uint8Array, chunkSalt: Uint8Array): Buffer {
	return Buffer.from(hkdfSync('sha256', archiveKey, chunkSalt, CHUNK_KEY_INFO, KEY_SIZE));
}

/**
 * Refuses a missing or empty passphrase with a message that says how to set one.
 *
 * @throws {CoreError} NO_KEY
 */
export function assertPassphrase(passphrase: string | undefined): asserts passphrase is string {
	if (typeof passphrase !== 'string' || passphrase.length === 0) {
		throw new CoreError(
			CoreErrorCode.NoKey,
			'No key: set USER_KEY to your passphrase (`export USER_KEY=…` in the shell, or a `USER_KEY=…` line in .env) and run the command again.'
		);
	}
}

/** Options of {@link ArchiveKeyCache}. */
export interface ArchiveKeyCacheOptions {
	/** The iteration count recorded for the archive (index, card or manifest): any other is refused before PBKDF2. */
	readonly expectedIterations?: number;
	/** How many different salt and iteration pairs are derived at most; default 2. */
	readonly maxDerivations?: number;
}

/**
 * Derives the archive keys of a series of tries (the manifest candidates of one archive): each salt and iteration
 * count once, at most a few different ones, and with an expected count any other is refused before PBKDF2 runs. The
 * count comes from an unauthenticated header and may ask for up to {@link MAX_KDF_ITERATIONS}: a forged one must not
 * cost minutes of CPU per card. The passphrase is kept only inside the cache.
 */
export class ArchiveKeyCache {
	readonly #passphrase: string;
	readonly #expected: number | undefined;
	readonly #max: number;
	readonly #keys = new Map<string, Promise<ArchiveKey>>();

	public constructor(passphrase: string | undefined, options: ArchiveKeyCacheOptions = {}) {
		this.#passphrase = passphrase ?? '';
		this.#expected = options.expectedIterations;
		this.#max = options.maxDerivations ?? 2;
	}

	/**
	 * The key for this salt and iteration count, derived once.
	 *
	 * @throws {CoreError} TAMPERED_CHUNK when the count is not the expected one; BAD_FORMAT when more than the allowed
	 * number of different pairs is asked for; and as {@link deriveArchiveKey}.
	 */
	public async derive(salt: Uint8Array, iterations: number, signal?: AbortSignal): Promise<ArchiveKey> {
		if (this.#expected !== undefined && iterations !== this.#expected) {
			throw new CoreError(
				CoreErrorCode.TamperedChunk,
				`A header asks for ${iterations} PBKDF2 iterations where the archive records ${this.#expected}: it was damaged or forged, and was not used.`
			);
		}
		const id = `${Buffer.from(salt).toString('hex')}:${iterations}`;
		let key = this.#keys.get(id);
		if (key === undefined) {
			if (this.#keys.size >= this.#max) {
				throw new CoreError(
					CoreErrorCode.BadFormat,
					`The candidates ask for more than ${this.#max} different key parameters (salt, PBKDF2 iterations): the others were not tried. An archive has one; the rest are damaged or forged.`
				);
			}
			key = deriveArchiveKey(this.#passphrase, { salt, iterations, ...(signal ? { signal } : {}) });
			this.#keys.set(id, key);
			// A failed derivation (aborted) is not remembered as a key, but still counts against the bound.
			key.catch(() => undefined);
		}
		return key;
	}
}
