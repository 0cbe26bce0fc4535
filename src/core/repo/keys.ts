import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';
import { CoreError, CoreErrorCode } from '../errors.js';
import { assertPassphrase, deriveArchiveKey, MAX_KDF_ITERATIONS } from '../keys.js';

/**
 * The keys file of a format 2 repository (docs/format2-primitives.md §Keys file): a random master key sealed in
 * one or more key slots, each under PBKDF2-HMAC-SHA256 of a passphrase, the whole file authenticated by an HMAC under
 * a subkey of the master. Big-endian integers throughout.
 *
 * ```
 * magic "DOS2KEYS" (8) ‖ version u8 (1 or 2) ‖ repository id (16) ‖ slot count u8 (1…16)
 * ‖ slot × count ‖ [version 2: older-passphrase count u8 (1…16) ‖ older passphrase × count]
 * ‖ HMAC-SHA256(keys-file subkey, every byte before it) (32)
 * slot = slot id (16) ‖ created ms u64 ‖ KDF id u8 (1 = PBKDF2-HMAC-SHA256) ‖ iterations u32 ‖ salt (16)
 *        ‖ nonce (12) ‖ AES-256-GCM(slot key, master key; AAD = repository id ‖ slot id) (32) ‖ tag (16)
 * older passphrase = length u16 (29…1052) ‖ sealed passphrase ({@link sealLegacySecret}, label "passphrase")
 * ```
 *
 * A file without older passphrases is written as version 1, so it stays readable by builds that know only that.
 */
export const KEYS_MAGIC = Buffer.from('DOS2KEYS', 'ascii');
/** The version written when the file holds no older passphrase. */
export const KEYS_VERSION = 1;
/** The version written when it holds some (the section after the slots). */
export const KEYS_VERSION_LEGACY = 2;
/** The most passphrases of older archives a keys file keeps. */
export const MAX_LEGACY_PASSPHRASES = 16;
/** The longest passphrase of older archives a keys file keeps, in UTF-8 bytes. */
export const MAX_LEGACY_PASSPHRASE_BYTES = 1024;
/** The label every older passphrase of the keys file is sealed with. */
const LEGACY_PASSPHRASE_LABEL = 'passphrase';
/** PBKDF2-HMAC-SHA256, the only KDF of version 1. */
export const KDF_PBKDF2_SHA256 = 1;
/** Iterations of new slots, and the least a slot may record (a lower count is a format error). */
export const SLOT_KDF_ITERATIONS = 600_000;
/** The most a slot may record: a forged slot must not make an unlock spin for minutes. */
export const MAX_SLOT_KDF_ITERATIONS = MAX_KDF_ITERATIONS;
/** The most slots a keys file holds. */
export const MAX_SLOTS = 16;
export const REPOSITORY_ID_SIZE = 16;
export const SLOT_ID_SIZE = 16;
export const MASTER_KEY_SIZE = 32;
const SALT_LENGTH = 16;
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
const MAC_LENGTH = 32;
const HEADER_LENGTH = KEYS_MAGIC.length + 1 + REPOSITORY_ID_SIZE + 1;
/** Bytes of one slot in the keys file. */
export const SLOT_LENGTH = SLOT_ID_SIZE + 8 + 1 + 4 + SALT_LENGTH + NONCE_LENGTH + MASTER_KEY_SIZE + TAG_LENGTH;
/** Bounds of one sealed older passphrase: nonce, 1 to {@link MAX_LEGACY_PASSPHRASE_BYTES} bytes, tag. */
const LEGACY_SEALED_MIN = NONCE_LENGTH + 1 + TAG_LENGTH;
const LEGACY_SEALED_MAX = NONCE_LENGTH + MAX_LEGACY_PASSPHRASE_BYTES + TAG_LENGTH;
/** The largest keys file there can be: every slot and every older passphrase at its longest (18,603 bytes). */
export const MAX_KEYS_FILE_BYTES = HEADER_LENGTH + MAX_SLOTS * SLOT_LENGTH + 1 + MAX_LEGACY_PASSPHRASES * (2 + LEGACY_SEALED_MAX) + MAC_LENGTH;

/**
 * HKDF-SHA256 `info` labels of the subkeys: HKDF(master key, salt = repository id, info, 32 bytes).
 */
export const SUBKEY_INFO = {
	blobSeal: 'discord-object-store/v2/blob-seal',
	blobId: 'discord-object-store/v2/blob-id',
	manifest: 'discord-object-store/v2/manifest',
	indexBackup: 'discord-object-store/v2/index-backup',
	packHeader: 'discord-object-store/v2/pack-header',
	keysFile: 'discord-object-store/v2/keys-file',
	legacySecret: 'discord-object-store/v2/legacy-secret'
} as const;

export type SubkeyUse = keyof typeof SUBKEY_INFO;

/** One key slot as the file records it (nothing secret). */
export interface KeySlot {
	/** 32 hex digits. */
	readonly id: string;
	readonly created: Date;
	readonly kdf: 'pbkdf2-sha256';
	readonly iterations: number;
}

interface SlotRecord {
	readonly id: Buffer;
	readonly created: bigint;
	readonly iterations: number;
	readonly salt: Buffer;
	readonly nonce: Buffer;
	readonly sealed: Buffer;
}

interface ParsedKeys {
	readonly repositoryId: Buffer;
	readonly slots: readonly SlotRecord[];
	/** The sealed older passphrases, as stored (not yet authenticated). */
	readonly legacy: readonly Buffer[];
	/** The bytes the MAC covers, and the MAC. */
	readonly body: Buffer;
	readonly mac: Buffer;
}

/**
 * The subkeys blobs and packs need, as plain bytes so they can be posted to a worker thread. Never log them.
 */
export interface BlobKeys {
	readonly repositoryId: Uint8Array;
	readonly blobId: Uint8Array;
	readonly blobSeal: Uint8Array;
	readonly packHeader: Uint8Array;
}

function badFormat(message: string): CoreError {
	return new CoreError(CoreErrorCode.BadFormat, `The keys file is damaged: ${message}.`);
}

function slotAad(repositoryId: Uint8Array, slotId: Uint8Array): Buffer {
	return Buffer.concat([repositoryId, slotId]);
}

function subkey(master: Uint8Array, repositoryId: Uint8Array, use: SubkeyUse): Buffer {
	return Buffer.from(hkdfSync('sha256', master, repositoryId, SUBKEY_INFO[use], 32));
}

/**
 * Parses a keys file, bounding every field before anything is derived. Nothing here is authenticated yet: the MAC is
 * checked by {@link unlockKeys} once the master key is known.
 *
 * @throws {CoreError} BAD_FORMAT (wrong magic, length, count, KDF or iteration count out of bounds, an older
 * passphrase's length out of bounds); UNSUPPORTED_VERSION.
 */
function parseKeys(file: Uint8Array, minIterations = SLOT_KDF_ITERATIONS): ParsedKeys {
	const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
	if (bytes.length < HEADER_LENGTH + MAC_LENGTH || !bytes.subarray(0, KEYS_MAGIC.length).equals(KEYS_MAGIC)) {
		throw badFormat('it is not a format 2 keys file');
	}
	const version = bytes[KEYS_MAGIC.length]!;
	if (version !== KEYS_VERSION && version !== KEYS_VERSION_LEGACY) {
		throw new CoreError(
			CoreErrorCode.UnsupportedVersion,
			`The keys file has version ${version}; this build reads versions ${KEYS_VERSION} and ${KEYS_VERSION_LEGACY}.`
		);
	}
	const repositoryId = Buffer.from(bytes.subarray(KEYS_MAGIC.length + 1, KEYS_MAGIC.length + 1 + REPOSITORY_ID_SIZE));
	const count = bytes[HEADER_LENGTH - 1]!;
	if (count < 1 || count > MAX_SLOTS) throw badFormat(`${count} slots (1 to ${MAX_SLOTS})`);
	const slotsEnd = HEADER_LENGTH + count * SLOT_LENGTH;
	if (version === KEYS_VERSION && bytes.length !== slotsEnd + MAC_LENGTH) {
		throw badFormat(`${bytes.length} bytes where ${count} slots take ${slotsEnd + MAC_LENGTH}`);
	}
	if (version === KEYS_VERSION_LEGACY && bytes.length < slotsEnd + 1 + MAC_LENGTH) {
		throw badFormat(`${bytes.length} bytes, too few for ${count} slots and the older passphrases`);
	}
	const slots: SlotRecord[] = [];
	const seen = new Set<string>();
	for (let index = 0; index < count; index++) {
		let at = HEADER_LENGTH + index * SLOT_LENGTH;
		const take = (length: number): Buffer => Buffer.from(bytes.subarray(at, (at += length)));
		const id = take(SLOT_ID_SIZE);
		const created = take(8).readBigUInt64BE(0);
		const kdf = take(1)[0]!;
		const iterations = take(4).readUInt32BE(0);
		const salt = take(SALT_LENGTH);
		const nonce = take(NONCE_LENGTH);
		const sealed = take(MASTER_KEY_SIZE + TAG_LENGTH);
		if (kdf !== KDF_PBKDF2_SHA256) throw badFormat(`slot ${index + 1} names KDF ${kdf}`);
		if (iterations < minIterations || iterations > MAX_SLOT_KDF_ITERATIONS) {
			throw badFormat(`slot ${index + 1} asks for ${iterations} PBKDF2 iterations (${minIterations} to ${MAX_SLOT_KDF_ITERATIONS})`);
		}
		if (seen.has(id.toString('hex'))) throw badFormat(`two slots have id ${id.toString('hex')}`);
		seen.add(id.toString('hex'));
		slots.push({ id, created, iterations, salt, nonce, sealed });
	}
	const macAt = bytes.length - MAC_LENGTH;
	const legacy = version === KEYS_VERSION_LEGACY ? parseLegacySection(bytes.subarray(slotsEnd, macAt)) : [];
	return { repositoryId, slots, legacy, body: Buffer.from(bytes.subarray(0, macAt)), mac: Buffer.from(bytes.subarray(macAt)) };
}

/** The older-passphrase section of a version 2 file (count, then length-prefixed sealed passphrases), bounded. */
function parseLegacySection(section: Buffer): Buffer[] {
	const count = section[0]!;
	if (count < 1 || count > MAX_LEGACY_PASSPHRASES) throw badFormat(`${count} older passphrases (1 to ${MAX_LEGACY_PASSPHRASES})`);
	const entries: Buffer[] = [];
	let at = 1;
	for (let index = 0; index < count; index++) {
		if (at + 2 > section.length) throw badFormat(`older passphrase ${index + 1} is cut off`);
		const length = section.readUInt16BE(at);
		at += 2;
		if (length < LEGACY_SEALED_MIN || length > LEGACY_SEALED_MAX) {
			throw badFormat(`older passphrase ${index + 1} takes ${length} bytes (${LEGACY_SEALED_MIN} to ${LEGACY_SEALED_MAX})`);
		}
		if (at + length > section.length) throw badFormat(`older passphrase ${index + 1} is cut off`);
		entries.push(Buffer.from(section.subarray(at, (at += length))));
	}
	if (at !== section.length) throw badFormat(`${section.length - at} bytes after the older passphrases`);
	return entries;
}

function serialize(repositoryId: Buffer, slots: readonly SlotRecord[], legacy: readonly Buffer[], master: Buffer): Buffer {
	const version = legacy.length === 0 ? KEYS_VERSION : KEYS_VERSION_LEGACY;
	const parts: Buffer[] = [KEYS_MAGIC, Buffer.from([version]), repositoryId, Buffer.from([slots.length])];
	for (const slot of slots) {
		const created = Buffer.alloc(8);
		created.writeBigUInt64BE(slot.created);
		const iterations = Buffer.alloc(4);
		iterations.writeUInt32BE(slot.iterations);
		parts.push(slot.id, created, Buffer.from([KDF_PBKDF2_SHA256]), iterations, slot.salt, slot.nonce, slot.sealed);
	}
	if (legacy.length > 0) {
		parts.push(Buffer.from([legacy.length]));
		for (const sealed of legacy) {
			const length = Buffer.alloc(2);
			length.writeUInt16BE(sealed.length);
			parts.push(length, sealed);
		}
	}
	const body = Buffer.concat(parts);
	const mac = createHmac('sha256', subkey(master, repositoryId, 'keysFile'))
		.update(body)
		.digest();
	return Buffer.concat([body, mac]);
}

function toSlot(record: SlotRecord): KeySlot {
	return { id: record.id.toString('hex'), created: new Date(Number(record.created)), kdf: 'pbkdf2-sha256', iterations: record.iterations };
}

/** Options of the functions that make a slot. */
export interface SlotOptions {
	/** PBKDF2 iterations of the new slot; at least {@link SLOT_KDF_ITERATIONS} unless `minIterations` says less. */
	readonly iterations?: number;
	/** Tests only: the least iteration count accepted (default {@link SLOT_KDF_ITERATIONS}). */
	readonly minIterations?: number;
	/** The creation time recorded (default now). */
	readonly now?: Date;
	readonly signal?: AbortSignal;
}

/** Options of {@link unlockKeys}. */
export interface UnlockOptions {
	/** Tests only: the least iteration count accepted (default {@link SLOT_KDF_ITERATIONS}). */
	readonly minIterations?: number;
	readonly signal?: AbortSignal;
}

/**
 * The unlocked keys of a repository: its id, its master key (never shown), its slots, the sealed passphrases of older
 * archives, and the keys file they make. Immutable: changing slots returns a new one, keeping the older passphrases.
 * Printing it (inspect, JSON, string) never shows key bytes.
 */
export class RepositoryKeys {
	/** The random 128-bit repository id. */
	public readonly repositoryId: Buffer;
	/** The slot that was opened (or made) to get these keys, 32 hex digits. */
	public readonly openedSlot: string;
	/** The keys file bytes for these slots. */
	public readonly file: Buffer;
	readonly #master: Buffer;
	readonly #slots: readonly SlotRecord[];
	readonly #legacy: readonly Buffer[];

	public constructor(
		repositoryId: Buffer,
		master: Buffer,
		slots: readonly SlotRecord[],
		openedSlot: string,
		file?: Buffer,
		legacy: readonly Buffer[] = []
	) {
		this.repositoryId = Buffer.from(repositoryId);
		this.#master = Buffer.from(master);
		this.#slots = slots;
		this.#legacy = legacy;
		this.openedSlot = openedSlot;
		this.file = file ?? serialize(this.repositoryId, slots, legacy, this.#master);
	}

	/** The repository id as 32 hex digits. */
	public get id(): string {
		return this.repositoryId.toString('hex');
	}

	/** The slots, in file order. */
	public get slots(): KeySlot[] {
		return this.#slots.map(toSlot);
	}

	/** A subkey for one use: HKDF-SHA256(master, salt = repository id, {@link SUBKEY_INFO}[use], 32). */
	public subkey(use: SubkeyUse): Buffer {
		return subkey(this.#master, this.repositoryId, use);
	}

	/** The subkeys of blobs and packs as plain bytes (for workers). */
	public blobKeys(): BlobKeys {
		return {
			repositoryId: Buffer.from(this.repositoryId),
			blobId: this.subkey('blobId'),
			blobSeal: this.subkey('blobSeal'),
			packHeader: this.subkey('packHeader')
		};
	}

	/** @internal Used by the slot functions of this module: the same master key and older passphrases, other slots. */
	public withSlots(slots: readonly SlotRecord[], openedSlot: string): RepositoryKeys {
		return new RepositoryKeys(this.repositoryId, this.#master, slots, openedSlot, undefined, this.#legacy);
	}

	/** How many passphrases of older archives the file keeps (without opening them). */
	public get legacyCount(): number {
		return this.#legacy.length;
	}

	/**
	 * The passphrases of format 1 and original-tool archives this repository keeps, oldest first. They were
	 * authenticated with the file; each opens under the master key or the file is refused.
	 *
	 * @throws {CoreError} TAMPERED_CHUNK when one does not open (only possible for keys not made by this module).
	 */
	public legacyPassphrases(): string[] {
		return this.#legacy.map((sealed) => openLegacySecret(this, sealed, LEGACY_PASSPHRASE_LABEL));
	}

	/**
	 * These keys with one more passphrase of older archives kept (sealed under the master key); the same keys when it is
	 * kept already. The slots do not change.
	 *
	 * @throws {CoreError} NO_KEY for an empty passphrase; INVALID_OPTION when it is longer than
	 * {@link MAX_LEGACY_PASSPHRASE_BYTES} bytes or {@link MAX_LEGACY_PASSPHRASES} are kept already.
	 */
	public withLegacyPassphrase(passphrase: string): RepositoryKeys {
		assertPassphrase(passphrase);
		if (this.legacyPassphrases().includes(passphrase)) return this;
		if (Buffer.byteLength(passphrase, 'utf8') > MAX_LEGACY_PASSPHRASE_BYTES) {
			throw new CoreError(
				CoreErrorCode.InvalidOption,
				`A passphrase of older archives is kept up to ${MAX_LEGACY_PASSPHRASE_BYTES} bytes; this one is longer.`
			);
		}
		if (this.#legacy.length >= MAX_LEGACY_PASSPHRASES) {
			throw new CoreError(
				CoreErrorCode.InvalidOption,
				`The repository keeps at most ${MAX_LEGACY_PASSPHRASES} passphrases of older archives, and holds that many already.`
			);
		}
		const sealed = sealLegacySecret(this, passphrase, LEGACY_PASSPHRASE_LABEL);
		return new RepositoryKeys(this.repositoryId, this.#master, this.#slots, this.openedSlot, undefined, [...this.#legacy, sealed]);
	}

	/** @internal Whether these bytes are the master key. */
	public holdsMaster(candidate: Buffer): boolean {
		return candidate.length === this.#master.length && timingSafeEqual(candidate, this.#master);
	}

	/** @internal */
	public slotRecords(): readonly SlotRecord[] {
		return this.#slots;
	}

	/** @internal Seals the master key in a new slot. */
	public async sealSlot(passphrase: string, options: SlotOptions): Promise<SlotRecord> {
		const iterations = options.iterations ?? SLOT_KDF_ITERATIONS;
		const min = options.minIterations ?? SLOT_KDF_ITERATIONS;
		if (!Number.isSafeInteger(iterations) || iterations < min || iterations > MAX_SLOT_KDF_ITERATIONS) {
			throw new CoreError(
				CoreErrorCode.InvalidOption,
				`A key slot takes ${min} to ${MAX_SLOT_KDF_ITERATIONS} PBKDF2 iterations, not ${iterations}.`
			);
		}
		const id = randomBytes(SLOT_ID_SIZE);
		const salt = randomBytes(SALT_LENGTH);
		const nonce = randomBytes(NONCE_LENGTH);
		const slotKey = (
			await deriveArchiveKey(passphrase, { salt, iterations, ...(options.signal ? { signal: options.signal } : {}) })
		).exportBytes();
		const cipher = createCipheriv('aes-256-gcm', slotKey, nonce);
		cipher.setAAD(slotAad(this.repositoryId, id));
		const sealed = Buffer.concat([cipher.update(this.#master), cipher.final(), cipher.getAuthTag()]);
		return { id, created: BigInt((options.now ?? new Date()).getTime()), iterations, salt, nonce, sealed };
	}

	public toJSON(): { repositoryId: string; slots: number; legacyPassphrases: number; master: string } {
		return { repositoryId: this.id, slots: this.#slots.length, legacyPassphrases: this.#legacy.length, master: '[redacted]' };
	}

	public toString(): string {
		return `RepositoryKeys(${this.id}, ${this.#slots.length} slots, ${this.#legacy.length} older passphrases, master [redacted])`;
	}

	public [inspect.custom](): string {
		return this.toString();
	}
}

/**
 * Makes the keys of a new repository: a random repository id and master key, and one slot for the passphrase.
 * Runs PBKDF2 once (published on `dos:kdf`).
 *
 * @throws {CoreError} NO_KEY for an empty passphrase; INVALID_OPTION for an iteration count out of range.
 */
export async function createKeys(passphrase: string, options: SlotOptions = {}): Promise<RepositoryKeys> {
	assertPassphrase(passphrase);
	const draft = new RepositoryKeys(randomBytes(REPOSITORY_ID_SIZE), randomBytes(MASTER_KEY_SIZE), [], '');
	const slot = await draft.sealSlot(passphrase, options);
	return draft.withSlots([slot], slot.id.toString('hex'));
}

/**
 * The slots a keys file lists, read without a key (so not yet authenticated: {@link unlockKeys} checks them).
 *
 * @throws {CoreError} BAD_FORMAT, UNSUPPORTED_VERSION
 */
export function listSlots(file: Uint8Array, options: Pick<UnlockOptions, 'minIterations'> = {}): { repositoryId: string; slots: KeySlot[] } {
	const parsed = parseKeys(file, options.minIterations);
	return { repositoryId: parsed.repositoryId.toString('hex'), slots: parsed.slots.map(toSlot) };
}

async function openSlot(repositoryId: Buffer, slot: SlotRecord, passphrase: string, signal?: AbortSignal): Promise<Buffer | undefined> {
	const slotKey = (
		await deriveArchiveKey(passphrase, { salt: slot.salt, iterations: slot.iterations, ...(signal ? { signal } : {}) })
	).exportBytes();
	try {
		const decipher = createDecipheriv('aes-256-gcm', slotKey, slot.nonce);
		decipher.setAAD(slotAad(repositoryId, slot.id));
		decipher.setAuthTag(slot.sealed.subarray(MASTER_KEY_SIZE));
		return Buffer.concat([decipher.update(slot.sealed.subarray(0, MASTER_KEY_SIZE)), decipher.final()]);
	} catch {
		return undefined;
	}
}

/**
 * Opens a keys file with a passphrase: tries the slots in order, one PBKDF2 each (published on `dos:kdf`), stops at
 * the first that opens, then checks the file's HMAC so an edited slot list is refused.
 *
 * @throws {CoreError} NO_KEY for an empty passphrase; WRONG_KEY when no slot opens; TAMPERED_CHUNK when a slot opens
 * but the file's HMAC does not verify; BAD_FORMAT / UNSUPPORTED_VERSION as {@link listSlots} (before any KDF runs).
 */
export async function unlockKeys(file: Uint8Array, passphrase: string, options: UnlockOptions = {}): Promise<RepositoryKeys> {
	return unlockInOrder(file, passphrase, options);
}

/** {@link unlockKeys}, trying the slot `first` (when the file has it) before the others. */
async function unlockInOrder(file: Uint8Array, passphrase: string, options: UnlockOptions, first?: string): Promise<RepositoryKeys> {
	assertPassphrase(passphrase);
	const parsed = parseKeys(file, options.minIterations);
	const order = [...parsed.slots].sort((a, b) => Number(b.id.toString('hex') === first) - Number(a.id.toString('hex') === first));
	for (const slot of order) {
		const master = await openSlot(parsed.repositoryId, slot, passphrase, options.signal);
		if (master === undefined) continue;
		const expected = createHmac('sha256', subkey(master, parsed.repositoryId, 'keysFile'))
			.update(parsed.body)
			.digest();
		if (!timingSafeEqual(expected, parsed.mac)) {
			throw new CoreError(
				CoreErrorCode.TamperedChunk,
				'The keys file was changed by someone without the key (its authentication code does not match): it was not used. Restore it from a copy.'
			);
		}
		const keys = new RepositoryKeys(parsed.repositoryId, master, parsed.slots, slot.id.toString('hex'), Buffer.from(file), parsed.legacy);
		// Authenticated with the file; opening them here refuses, at once, a file whose MAC was made with the key.
		keys.legacyPassphrases();
		return keys;
	}
	throw new CoreError(
		CoreErrorCode.WrongKey,
		"Wrong passphrase: it opens none of the key slots of this repository. Set USER_KEY to the repository's passphrase (`dos key list` shows its slots without one)."
	);
}

/**
 * Adds a slot for another passphrase (one PBKDF2). No data changes: the master key stays the same.
 *
 * @throws {CoreError} NO_KEY; INVALID_OPTION when the file already holds {@link MAX_SLOTS} slots.
 */
export async function addSlot(keys: RepositoryKeys, passphrase: string, options: SlotOptions = {}): Promise<{ keys: RepositoryKeys; slot: KeySlot }> {
	assertPassphrase(passphrase);
	const records = keys.slotRecords();
	if (records.length >= MAX_SLOTS)
		throw new CoreError(CoreErrorCode.InvalidOption, `A repository holds at most ${MAX_SLOTS} key slots; remove one first.`);
	const slot = await keys.sealSlot(passphrase, options);
	return { keys: keys.withSlots([...records, slot], keys.openedSlot), slot: toSlot(slot) };
}

/**
 * Removes a slot by id (or a unique prefix of its hex id of at least 4 digits).
 *
 * @throws {CoreError} NOT_FOUND when no slot (or more than one) matches; INVALID_OPTION for the last slot.
 */
export function removeSlot(keys: RepositoryKeys, slotId: string): RepositoryKeys {
	const records = keys.slotRecords();
	const wanted = slotId.toLowerCase();
	const matches = wanted.length >= 4 ? records.filter((record) => record.id.toString('hex').startsWith(wanted)) : [];
	if (matches.length !== 1) throw new CoreError(CoreErrorCode.NotFound, `No single key slot has the id ${slotId}.`);
	if (records.length === 1) throw new CoreError(CoreErrorCode.InvalidOption, 'This is the last key slot: add another one before removing it.');
	const removed = matches[0]!;
	return keys.withSlots(
		records.filter((record) => record !== removed),
		keys.openedSlot === removed.id.toString('hex') ? '' : keys.openedSlot
	);
}

/**
 * Where {@link rotatePassphrase} keeps a keys file between its steps: a local file, a pinned Discord message, memory.
 */
export interface KeysStore {
	/** Replaces the stored keys file with these bytes, whole (never a half-written file). */
	save(file: Buffer): Promise<void>;
	/** The stored keys file, as read back from where it is kept. */
	load(): Promise<Uint8Array>;
}

/**
 * Changes the passphrase of the slot that was opened, in an order where some passphrase opens the stored file after
 * every step, whatever step a crash stops at: adds a slot for the new passphrase and saves (both open), reads the
 * stored file back and opens it with the new passphrase (one PBKDF2), then removes the old slot and saves (only the new
 * opens). Data is untouched: the master key, and the older passphrases the file keeps, stay.
 *
 * @throws {CoreError} INVALID_OPTION when the new passphrase is the one that opened `keys`; WRONG_KEY when the stored
 * file does not open with the new passphrase (the old one still opens it); as {@link addSlot} and {@link unlockKeys};
 * whatever the store throws (the step before it stays).
 */
export async function rotatePassphrase(
	keys: RepositoryKeys,
	newPassphrase: string,
	store: KeysStore,
	options: SlotOptions & {
		/**
		 * Remove every other slot in the last step, not only the one that was opened (a channel's keys have one
		 * passphrase: a slot left by an interrupted earlier change must not outlive this one).
		 */
		readonly removeOthers?: boolean;
	} = {}
): Promise<RepositoryKeys> {
	const { keys: added, slot } = await addSlot(keys, newPassphrase, options);
	await store.save(added.file);
	const unlockOptions = {
		...(options.minIterations === undefined ? {} : { minIterations: options.minIterations }),
		...(options.signal ? { signal: options.signal } : {})
	};
	// The new slot is tried first: one PBKDF2 when it opens.
	const reopened = await unlockInOrder(await store.load(), newPassphrase, unlockOptions, slot.id).catch((error: unknown) => {
		throw new CoreError(
			CoreErrorCode.WrongKey,
			'The stored keys do not open with the new passphrase: the old passphrase still opens them. Nothing else was changed.',
			{},
			{ cause: error }
		);
	});
	if (!reopened.repositoryId.equals(keys.repositoryId) || reopened.openedSlot !== slot.id) {
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			'The new passphrase opens another key slot than the one just added: it is already a passphrase of this repository. The old passphrase still opens it.'
		);
	}
	const removed =
		options.removeOthers === true
			? reopened.withSlots(
					reopened.slotRecords().filter((record) => record.id.toString('hex') === slot.id),
					slot.id
				)
			: keys.openedSlot === ''
				? reopened
				: removeSlot(reopened, keys.openedSlot);
	await store.save(removed.file);
	return removed;
}

/**
 * Changes the passphrase of the slot that was opened, in memory ({@link rotatePassphrase} with nothing stored between
 * the steps): the returned keys' file is the one to keep.
 *
 * @throws {CoreError} as {@link rotatePassphrase}.
 */
export async function changePassphrase(keys: RepositoryKeys, newPassphrase: string, options: SlotOptions = {}): Promise<RepositoryKeys> {
	let stored = keys.file;
	return rotatePassphrase(
		keys,
		newPassphrase,
		{
			save: (file) => {
				stored = file;
				return Promise.resolve();
			},
			load: () => Promise.resolve(stored)
		},
		options
	);
}

const LEGACY_MAGIC = Buffer.from('DOS2LGCY', 'ascii');

function legacyAad(keys: RepositoryKeys, label: string): Buffer {
	return Buffer.concat([LEGACY_MAGIC, keys.repositoryId, Buffer.from(label, 'utf8')]);
}

/**
 * Seals a passphrase of format 1 or original-tool archives under the master key, so a change of the repository
 * passphrase never strands them: `nonce (12) ‖ AES-256-GCM(legacy-secret subkey, UTF-8 secret) ‖ tag (16)`, AAD =
 * "DOS2LGCY" ‖ repository id ‖ UTF-8 label (what the secret is for, e.g. an archive id; the same label opens it).
 */
export function sealLegacySecret(keys: RepositoryKeys, secret: string, label = ''): Buffer {
	const nonce = randomBytes(NONCE_LENGTH);
	const cipher = createCipheriv('aes-256-gcm', keys.subkey('legacySecret'), nonce);
	cipher.setAAD(legacyAad(keys, label));
	return Buffer.concat([nonce, cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
}

/**
 * Opens what {@link sealLegacySecret} sealed, with the same label.
 *
 * @throws {CoreError} TAMPERED_CHUNK when the bytes or the label do not authenticate.
 */
export function openLegacySecret(keys: RepositoryKeys, sealed: Uint8Array, label = ''): string {
	const bytes = Buffer.from(sealed);
	const refused = (): CoreError =>
		new CoreError(
			CoreErrorCode.TamperedChunk,
			'A sealed passphrase of an older archive does not authenticate: it is damaged or belongs elsewhere.'
		);
	if (bytes.length < NONCE_LENGTH + TAG_LENGTH) throw refused();
	try {
		const decipher = createDecipheriv('aes-256-gcm', keys.subkey('legacySecret'), bytes.subarray(0, NONCE_LENGTH));
		decipher.setAAD(legacyAad(keys, label));
		decipher.setAuthTag(bytes.subarray(bytes.length - TAG_LENGTH));
		return Buffer.concat([decipher.update(bytes.subarray(NONCE_LENGTH, bytes.length - TAG_LENGTH)), decipher.final()]).toString('utf8');
	} catch {
		throw refused();
	}
}
