import { createHash, type Hash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CoreError, CoreErrorCode, fromFsError, isCoreError } from '../errors.js';
import { formatArchiveId, OFFLINE_LOT, parseArchiveId, requireArchiveId } from '../archive-id.js';
import { BLOB_OVERHEAD } from './blob.js';
import { type BlobKeys, createKeys, listSlots, type RepositoryKeys, unlockKeys } from './keys.js';
import { type ManifestV2, openManifestV2, sealManifestV2 } from './manifest.js';
import { assertPackLimit, MIN_PACK_SIZE, PACK_NAME_LENGTH, type PackEntry, packSize, readPackHeader, readPackTail, sealPackTail } from './pack.js';

export { DEFAULT_PACK_SIZE, MAX_PACK_SIZE, MIN_PACK_SIZE } from './pack.js';

/** Name of the keys file at the root of a local repository. */
export const KEYS_FILE = 'keys';
export const PACKS_DIR = 'packs';
export const ARCHIVES_DIR = 'archives';

/** Where one blob lives: its pack, and the entry of that pack's header. */
export interface BlobLocation extends Omit<PackEntry, 'id'> {
	readonly pack: string;
}

/** The subkeys of blobs and packs (docs/format2-primitives.md, "Subkeys"), and of manifests. */
export type RepositorySubkeys = BlobKeys & { readonly manifest: Uint8Array };

/** An unlocked local repository. */
export interface LocalRepository {
	readonly root: string;
	readonly keys: RepositorySubkeys;
}

/** The subkeys of unlocked repository keys (a local repository's, or a Discord channel's). */
export function subkeysOf(keys: RepositoryKeys): RepositorySubkeys {
	return { ...keys.blobKeys(), manifest: keys.subkey('manifest') };
}

/** Whether `dir` holds a repository (a keys file, src/core/repo/keys.ts). */
export async function isRepository(dir: string): Promise<boolean> {
	try {
		const file = path.join(dir, KEYS_FILE);
		const info = await stat(file);
		if (!info.isFile() || info.size > 1024 * 1024) return false;
		listSlots(await readFile(file), { minIterations: 1 });
		return true;
	} catch {
		return false;
	}
}

/**
 * Makes `dir` (missing or empty) a repository: a random master key in one slot sealed under PBKDF2 of the
 * passphrase (one derivation), in the keys file of src/core/repo/keys.ts. With `writeAfter`, nothing is written
 * before that promise settles, and nothing at all when it rejects (a slice derives the key while it walks the source,
 * and makes no repository for a source it cannot read).
 *
 * @throws {CoreError} FILE_EXISTS when `dir` holds anything; NO_KEY.
 */
export async function createRepository(
	dir: string,
	passphrase: string | undefined,
	options: { iterations?: number; signal?: AbortSignal; writeAfter?: Promise<unknown> } = {}
): Promise<LocalRepository> {
	const root = path.resolve(dir);
	const existing = await readdir(root).catch(() => undefined);
	if (existing !== undefined && existing.length > 0)
		throw new CoreError(CoreErrorCode.FileExists, `${root} is not empty and is not a repository. Choose a new or empty folder.`, { file: root });
	const keys = await createKeys(passphrase ?? '', {
		...(options.iterations === undefined ? {} : { iterations: options.iterations, minIterations: options.iterations }),
		...(options.signal ? { signal: options.signal } : {})
	});
	await options.writeAfter;
	await mkdir(path.join(root, PACKS_DIR), { recursive: true });
	await mkdir(path.join(root, ARCHIVES_DIR), { recursive: true });
	await writeFile(path.join(root, KEYS_FILE), keys.file, { mode: 0o600, flag: 'wx' });
	return { root, keys: subkeysOf(keys) };
}

/**
 * Unlocks a repository (one PBKDF2 per slot tried; normally one).
 *
 * @throws {CoreError} WRONG_KEY; BAD_FORMAT; TAMPERED_CHUNK for a keys file changed without the key; NO_KEY.
 */
export async function openRepository(
	dir: string,
	passphrase: string | undefined,
	options: { signal?: AbortSignal; minIterations?: number } = {}
): Promise<LocalRepository> {
	const root = path.resolve(dir);
	const file = await readFile(path.join(root, KEYS_FILE)).catch((error: unknown) => {
		throw new CoreError(CoreErrorCode.BadFormat, `${root} has no readable keys file: it is not a repository.`, { file: root }, { cause: error });
	});
	const keys = await unlockKeys(file, passphrase ?? '', {
		...(options.minIterations === undefined ? {} : { minIterations: options.minIterations }),
		...(options.signal ? { signal: options.signal } : {})
	});
	return { root, keys: subkeysOf(keys) };
}

/** The archive ids of a repository, oldest first (by date in the id, then lot). */
export async function listArchives(repo: LocalRepository): Promise<string[]> {
	const names = await readdir(path.join(repo.root, ARCHIVES_DIR)).catch(() => [] as string[]);
	const ids = names.filter((name) => !name.startsWith('#') && parseArchiveId(`#${name}`) !== null).map((name) => `#${name}`);
	const key = (id: string) => {
		const parsed = requireArchiveId(id);
		return [parsed.year, parsed.month, parsed.day, parsed.lot];
	};
	return ids.sort((a, b) => {
		const [ka, kb] = [key(a), key(b)];
		for (let index = 0; index < 4; index++) if (ka[index] !== kb[index]) return ka[index]! - kb[index]!;
		return 0;
	});
}

/** A new archive id for today: the first lot not taken. */
export async function nextArchiveId(repo: LocalRepository, now = new Date()): Promise<string> {
	const taken = new Set(await listArchives(repo));
	for (let lot = OFFLINE_LOT; ; lot++) {
		const id = formatArchiveId(now, lot);
		if (!taken.has(id)) return id;
	}
}

function archiveDir(repo: LocalRepository, archiveId: string): string {
	const { id } = requireArchiveId(archiveId);
	return path.join(repo.root, ARCHIVES_DIR, id.replace(/^#/, ''));
}

/** Writes an archive's sealed manifest parts (a temporary folder renamed into place: all or nothing). */
export async function writeManifest(repo: LocalRepository, manifest: ManifestV2): Promise<number> {
	const target = archiveDir(repo, manifest.id);
	const temp = path.join(repo.root, ARCHIVES_DIR, `.tmp-${randomBytes(6).toString('hex')}`);
	const parts = sealManifestV2(repo.keys.manifest, manifest);
	await mkdir(temp);
	for (const [index, part] of parts.entries()) await writeFile(path.join(temp, `manifest.${index}`), part, { flag: 'wx' });
	try {
		await rename(temp, target);
	} catch (error) {
		await rm(temp, { recursive: true, force: true });
		throw new CoreError(CoreErrorCode.FileExists, `Archive ${manifest.id} already exists in ${repo.root}.`, { file: target }, { cause: error });
	}
	return parts.length;
}

/** Reads and opens an archive's manifest. @throws {CoreError} NOT_FOUND; TAMPERED_CHUNK; BAD_FORMAT; UNSAFE_PATH */
export async function readManifest(repo: LocalRepository, archiveId: string): Promise<ManifestV2> {
	const dir = archiveDir(repo, archiveId);
	const names = await readdir(dir).catch(() => undefined);
	if (names === undefined) throw new CoreError(CoreErrorCode.NotFound, `Archive ${archiveId} is not in ${repo.root}.`, { file: dir });
	const indexes = names.filter((name) => /^manifest\.\d{1,4}$/.test(name)).map((name) => Number(name.slice(9)));
	const count = indexes.length;
	if (count === 0 || indexes.some((index) => index >= count))
		throw new CoreError(CoreErrorCode.BadFormat, `The manifest parts of ${archiveId} are incomplete.`, { file: dir });
	const parts: Buffer[] = [];
	for (let index = 0; index < count; index++) parts.push(await readFile(path.join(dir, `manifest.${index}`)));
	return openManifestV2(repo.keys.manifest, requireArchiveId(archiveId).id, parts);
}

/** The packs of a repository. */
export async function listPacks(repo: LocalRepository): Promise<string[]> {
	const names = await readdir(path.join(repo.root, PACKS_DIR)).catch(() => [] as string[]);
	return names.filter((name) => /^[0-9a-f]{32}$/.test(name)).sort();
}

export function packPath(repo: LocalRepository, name: string): string {
	return path.join(repo.root, PACKS_DIR, name);
}

/**
 * The tail (sealed header and trailer) of a pack file and the file's size, read from the end of the file as the
 * trailer bounds it (two reads; never the whole pack).
 *
 * @throws {CoreError} BAD_FORMAT; UNSUPPORTED_VERSION; NOT_FOUND when the file cannot be read.
 */
export async function readPackFileTail(file: string): Promise<{ size: number; tail: Buffer }> {
	const handle = await open(file, 'r').catch((error: unknown) => {
		throw new CoreError(CoreErrorCode.NotFound, `${file} cannot be read.`, { file }, { cause: error });
	});
	try {
		const { size } = await handle.stat();
		const tail = await readPackTail(size, async (offset, length) => {
			const bytes = Buffer.alloc(length);
			const { bytesRead } = await handle.read(bytes, 0, length, offset);
			return bytes.subarray(0, bytesRead);
		});
		return { size, tail };
	} finally {
		await handle.close();
	}
}

/** One pack's header entries, from its tail. @throws {CoreError} as {@link readPackFileTail} and `readPackHeader`, naming the pack. */
async function readPackIndex(repo: LocalRepository, name: string): Promise<readonly PackEntry[]> {
	try {
		const { size, tail } = await readPackFileTail(packPath(repo, name));
		return readPackHeader(repo.keys, tail, size).entries;
	} catch (error) {
		if (!isCoreError(error)) throw error;
		throw new CoreError(error.code, `Pack ${name}: ${error.message}`, { ...error.details, file: name }, { cause: error });
	}
}

/** Calls `visit` with each pack's header entries (tail reads); a pack that does not open goes to `onBadPack`, or throws. */
async function eachPackIndex(
	repo: LocalRepository,
	onBadPack: ((name: string, error: unknown) => void) | undefined,
	visit: (pack: string, entries: readonly PackEntry[]) => void
): Promise<void> {
	for (const pack of await listPacks(repo)) {
		let entries: readonly PackEntry[];
		try {
			entries = await readPackIndex(repo, pack);
		} catch (error) {
			if (onBadPack === undefined) throw error;
			onBadPack(pack, error);
			continue;
		}
		visit(pack, entries);
	}
}

/** The blob index (blob id hex → location), derived from the pack headers alone (tail reads). */
export async function loadBlobIndex(repo: LocalRepository, onBadPack?: (name: string, error: unknown) => void): Promise<Map<string, BlobLocation>> {
	const index = new Map<string, BlobLocation>();
	await eachPackIndex(repo, onBadPack, (pack, entries) => {
		for (const { id, ...where } of entries) index.set(id.toString('hex'), { pack, ...where });
	});
	return index;
}

/** The ids (hex) of the blobs the packs hold: what a slice needs of the index, without a location per blob. */
export async function loadBlobIds(repo: LocalRepository): Promise<Set<string>> {
	const ids = new Set<string>();
	await eachPackIndex(repo, undefined, (_pack, entries) => {
		for (const { id } of entries) ids.add(id.toString('hex'));
	});
	return ids;
}

/** Packs a {@link PackWriter} keeps open at once by default. */
export const OPEN_PACKS = 4;

/** A pack a {@link PackWriter} finished: its file (named by its name) and the entries of its header. */
export interface ClosedPack {
	readonly name: string;
	readonly file: string;
	/** Bytes of the file. */
	readonly size: number;
	/** SHA-256 of the file's bytes, hex (its name is the first 32 digits). */
	readonly sha256: string;
	readonly entries: readonly PackEntry[];
}

/**
 * Where a {@link PackWriter} writes: a folder for its temporary and finished pack files, the keys that seal pack
 * headers, and what to do with each finished pack (a Discord upload posts it and removes the file; awaiting it holds
 * the writer, which holds the slice: back pressure).
 */
export interface PackDestination {
	readonly dir: string;
	readonly keys: BlobKeys;
	readonly onClosed?: (pack: ClosedPack) => Promise<void>;
	/**
	 * The limit of the n-th pack the writer opens (from 0), kept between {@link MIN_PACK_SIZE} (which holds the largest
	 * blob) and the writer's limit: a Discord upload makes every third pack smaller, so that two full packs and it fill
	 * one message request. Without it every pack gets the writer's limit.
	 */
	readonly limitFor?: (ordinal: number) => number;
}

/** The packs folder of a local repository, as a {@link PackDestination}. */
export function repositoryPacks(repo: LocalRepository): PackDestination {
	return { dir: path.join(repo.root, PACKS_DIR), keys: repo.keys };
}

/** A pack being written: a temporary file, its running SHA-256, and the entries of its header so far. */
interface OpenPack {
	readonly handle: FileHandle;
	readonly temp: string;
	readonly hash: Hash;
	readonly entries: PackEntry[];
	readonly ids: Set<string>;
	/** This pack's limit (header and trailer included). */
	readonly limit: number;
	/** Bytes of the blob area written so far. */
	area: number;
}

/**
 * Writes sealed blobs into packs of at most `limit` bytes each (header and trailer included), in the layout of
 * pack.ts. Several packs are open at once (temporary files in `packs/`, so memory holds only their header entries):
 * each blob goes into the first open pack where it fits (first fit); a pack is closed as soon as not even the
 * smallest blob (an empty plaintext, 28 stored bytes, and its entry) fits any more, or, when a blob fits no open pack
 * and {@link OPEN_PACKS} are open, the fullest is closed to make room for a new one. Closing writes the sealed header
 * and trailer and renames the file to its name (the first 32 hex digits of the SHA-256 of its bytes). This wastes
 * far less than closing a pack as soon as the next blob does not fit (half a blob per pack, with 256 KiB … 4 MiB
 * blobs): the order of blobs inside a pack does not matter to readers. Calls must not overlap (await each).
 */
export class PackWriter {
	public readonly limit: number;
	/** Packs written, in the order they were closed. */
	public readonly written: string[] = [];
	/** Bytes of the packs written. */
	public storedBytes = 0;
	readonly #destination: PackDestination;
	readonly #openPacks: number;
	readonly #open: OpenPack[] = [];
	#opened = 0;

	/** @throws {CoreError} INVALID_OPTION for a limit out of range (pack.ts `assertPackLimit`) or `openPacks` below 1. */
	public constructor(destination: PackDestination, limit: number, options: { readonly openPacks?: number } = {}) {
		assertPackLimit(limit);
		const openPacks = options.openPacks ?? OPEN_PACKS;
		if (!Number.isSafeInteger(openPacks) || openPacks < 1)
			throw new CoreError(CoreErrorCode.InvalidOption, `A pack writer keeps at least one pack open, not ${openPacks}.`);
		this.#destination = destination;
		this.limit = limit;
		this.#openPacks = openPacks;
	}

	/**
	 * Writes one sealed blob (`stored`: nonce ‖ ciphertext ‖ tag) into an open pack.
	 *
	 * @throws {CoreError} INVALID_OPTION for a blob larger than a pack can hold, or one its pack holds already;
	 * DISK_FULL.
	 */
	public async add(blob: Pick<PackEntry, 'id' | 'rawLength' | 'codec'>, stored: Uint8Array): Promise<void> {
		await this.addMany([{ blob, stored }]);
	}

	/**
	 * Writes sealed blobs into open packs, first fit, as {@link add} would one by one; each pack's share of the batch
	 * goes to its file in one vectored write (a slice of small files seals hundreds of blobs per task: one write each
	 * kept the slicing thread waiting on the file system's thread pool for every blob).
	 *
	 * @throws {CoreError} as {@link add}; blobs before the failing one may be written.
	 */
	public async addMany(
		blobs: readonly { readonly blob: Pick<PackEntry, 'id' | 'rawLength' | 'codec'>; readonly stored: Uint8Array }[]
	): Promise<void> {
		const pending = new Map<OpenPack, Uint8Array[]>();
		const flush = async (pack: OpenPack) => {
			const buffers = pending.get(pack);
			if (buffers === undefined) return;
			pending.delete(pack);
			await writeVectored(pack.handle, buffers, pack.temp);
		};
		try {
			for (const { blob, stored } of blobs) {
				if (packSize(stored.length, 1) > this.limit)
					throw new CoreError(
						CoreErrorCode.InvalidOption,
						`A blob of ${stored.length} stored bytes does not fit a pack of ${this.limit} bytes.`
					);
				let pack = this.#open.find((open) => this.#fits(open, stored.length));
				if (pack === undefined) {
					if (this.#open.length >= this.#openPacks) {
						const fullest = this.#fullest();
						await flush(fullest);
						await this.#close(fullest);
					}
					pack = await this.#create();
				}
				const key = blob.id.toString('hex');
				if (pack.ids.has(key)) throw new CoreError(CoreErrorCode.InvalidOption, 'This pack already holds this blob.');
				pack.ids.add(key);
				pack.entries.push({ id: blob.id, offset: pack.area, storedLength: stored.length, rawLength: blob.rawLength, codec: blob.codec });
				pack.hash.update(stored);
				pack.area += stored.length;
				const buffers = pending.get(pack);
				if (buffers === undefined) pending.set(pack, [stored]);
				else buffers.push(stored);
				if (!this.#fits(pack, BLOB_OVERHEAD)) {
					await flush(pack);
					await this.#close(pack);
				}
			}
		} finally {
			// What was placed is written even when a later blob is refused: the entries already name it.
			for (const pack of [...pending.keys()]) await flush(pack);
		}
	}

	/** Closes every open pack (header, trailer, rename). */
	public async finish(): Promise<void> {
		while (this.#open.length > 0) await this.#close(this.#open[0]!);
	}

	/** Removes the packs in progress (after a failure); packs already closed stay. */
	public async abandon(): Promise<void> {
		const open = this.#open.splice(0);
		for (const pack of open) {
			await pack.handle.close().catch(() => undefined);
			await rm(pack.temp, { force: true });
		}
	}

	#fits(pack: OpenPack, storedLength: number): boolean {
		return packSize(pack.area + storedLength, pack.entries.length + 1) <= pack.limit;
	}

	#fullest(): OpenPack {
		return this.#open.reduce((fullest, pack) =>
			packSize(pack.area, pack.entries.length) > packSize(fullest.area, fullest.entries.length) ? pack : fullest
		);
	}

	async #create(): Promise<OpenPack> {
		const temp = path.join(this.#destination.dir, `.tmp-${randomBytes(6).toString('hex')}`);
		const handle = await open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600).catch((error: unknown) => {
			throw fromFsError(error, temp);
		});
		const asked = this.#destination.limitFor?.(this.#opened++) ?? this.limit;
		const limit = Math.min(this.limit, Math.max(MIN_PACK_SIZE, Number.isSafeInteger(asked) ? asked : this.limit));
		const pack: OpenPack = { handle, temp, hash: createHash('sha256'), entries: [], ids: new Set(), limit, area: 0 };
		this.#open.push(pack);
		return pack;
	}

	async #close(pack: OpenPack): Promise<void> {
		this.#open.splice(this.#open.indexOf(pack), 1);
		let closed: ClosedPack;
		try {
			const { tail } = sealPackTail(this.#destination.keys, pack.entries);
			await writeFully(pack.handle, tail, pack.temp);
			pack.hash.update(tail);
			await pack.handle.close();
			const sha256 = pack.hash.digest('hex');
			const name = sha256.slice(0, PACK_NAME_LENGTH);
			const file = path.join(this.#destination.dir, name);
			await rename(pack.temp, file).catch((error: unknown) => {
				throw fromFsError(error, pack.temp);
			});
			closed = { name, file, size: pack.area + tail.length, sha256, entries: pack.entries };
		} catch (error) {
			await pack.handle.close().catch(() => undefined);
			await rm(pack.temp, { force: true });
			throw error;
		}
		this.written.push(closed.name);
		this.storedBytes += closed.size;
		await this.#destination.onClosed?.(closed);
	}
}

/** Writes every buffer, in order, at the file's position (vectored; continues after a short write). */
async function writeVectored(handle: FileHandle, buffers: Uint8Array[], label: string): Promise<void> {
	if (buffers.length === 1) return writeFully(handle, buffers[0]!, label);
	let rest = buffers;
	try {
		while (rest.length > 0) {
			let { bytesWritten } = await handle.writev(rest);
			let index = 0;
			while (index < rest.length && bytesWritten >= rest[index]!.length) bytesWritten -= rest[index++]!.length;
			rest = rest.slice(index);
			if (bytesWritten > 0) rest[0] = rest[0]!.subarray(bytesWritten);
		}
	} catch (error) {
		throw fromFsError(error, label);
	}
}

async function writeFully(handle: FileHandle, bytes: Uint8Array, label: string): Promise<void> {
	let at = 0;
	try {
		while (at < bytes.length) at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten;
	} catch (error) {
		throw fromFsError(error, label);
	}
}
