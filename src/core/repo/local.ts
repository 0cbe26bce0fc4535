import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CoreError, CoreErrorCode, fromFsError } from '../errors.js';
import { formatArchiveId, OFFLINE_LOT, parseArchiveId, requireArchiveId } from '../archive-id.js';
import { CDC_MAX_SIZE } from './cdc.js';
import { createKeys, listSlots, type RepositoryKeys, unlockKeys } from './keys.js';
import { type ManifestV2, openManifestV2, sealManifestV2 } from './manifest.js';
import {
	type BlobRecord,
	GCM_OVERHEAD,
	headerLengthFromTrailer,
	PACK_TRAILER_SIZE,
	packTail,
	parsePackHeader,
	type RepoSubkeys
} from './primitives.js';

/** Name of the keys file at the root of a local repository. */
export const KEYS_FILE = 'keys';
export const PACKS_DIR = 'packs';
export const ARCHIVES_DIR = 'archives';
/** The smallest pack limit: a pack must hold the largest sealed blob and its header. */
export const MIN_PACK_SIZE = CDC_MAX_SIZE + 1024 * 1024;
/** Default pack limit: 9.5 MiB. */
export const DEFAULT_PACK_SIZE = 9_961_472;

/** Where one blob lives. */
export interface BlobLocation {
	readonly pack: string;
	readonly offset: number;
	readonly storedLength: number;
	readonly rawLength: number;
	readonly codec: number;
	readonly level: number;
}

/** An unlocked local repository. */
export interface LocalRepository {
	readonly root: string;
	readonly keys: RepoSubkeys;
}

function subkeysOf(keys: RepositoryKeys): RepoSubkeys {
	return {
		repositoryId: Buffer.from(keys.repositoryId),
		blob: keys.subkey('blobSeal'),
		id: keys.subkey('blobId'),
		manifest: keys.subkey('manifest'),
		pack: keys.subkey('packHeader')
	};
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
 * passphrase (one derivation), in the keys file of src/core/repo/keys.ts.
 *
 * @throws {CoreError} FILE_EXISTS when `dir` holds anything; NO_KEY.
 */
export async function createRepository(
	dir: string,
	passphrase: string | undefined,
	options: { iterations?: number; signal?: AbortSignal } = {}
): Promise<LocalRepository> {
	const root = path.resolve(dir);
	const existing = await readdir(root).catch(() => undefined);
	if (existing !== undefined && existing.length > 0)
		throw new CoreError(CoreErrorCode.FileExists, `${root} is not empty and is not a repository. Choose a new or empty folder.`, { file: root });
	const keys = await createKeys(passphrase ?? '', {
		...(options.iterations === undefined ? {} : { iterations: options.iterations, minIterations: options.iterations }),
		...(options.signal ? { signal: options.signal } : {})
	});
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

/** Reads one pack's header (a tail read: trailer, then header). */
export async function readPackIndex(repo: LocalRepository, name: string): Promise<BlobRecord[]> {
	const handle = await open(packPath(repo, name), 'r');
	try {
		const { size } = await handle.stat();
		if (size < PACK_TRAILER_SIZE + GCM_OVERHEAD) throw new CoreError(CoreErrorCode.BadFormat, `Pack ${name} is too short.`, { file: name });
		const trailer = Buffer.alloc(PACK_TRAILER_SIZE);
		await handle.read(trailer, 0, PACK_TRAILER_SIZE, size - PACK_TRAILER_SIZE);
		const headerLength = headerLengthFromTrailer(trailer, size, `pack ${name}`);
		const header = Buffer.alloc(headerLength);
		const blobArea = size - PACK_TRAILER_SIZE - headerLength;
		await handle.read(header, 0, headerLength, blobArea);
		return parsePackHeader(repo.keys, header, blobArea, `pack ${name}`);
	} finally {
		await handle.close();
	}
}

/** The blob index (blob id hex → location), derived from the pack headers alone. */
export async function loadBlobIndex(repo: LocalRepository, onBadPack?: (name: string, error: unknown) => void): Promise<Map<string, BlobLocation>> {
	const index = new Map<string, BlobLocation>();
	for (const pack of await listPacks(repo)) {
		let records: BlobRecord[];
		try {
			records = await readPackIndex(repo, pack);
		} catch (error) {
			if (onBadPack === undefined) throw error;
			onBadPack(pack, error);
			continue;
		}
		for (const record of records) {
			const { id, ...rest } = record;
			index.set(id.toString('hex'), { pack, ...rest });
		}
	}
	return index;
}

/** Appends sealed blobs to packs of at most `packSize` bytes; each pack is written to a temporary name and renamed to its opaque name when full. */
export class PackWriter {
	private readonly repo: LocalRepository;
	private readonly packSize: number;
	private current: { handle: FileHandle; temp: string; hash: ReturnType<typeof createHash>; records: BlobRecord[]; size: number } | undefined;
	/** Packs written, in order. */
	public readonly written: string[] = [];
	public storedBytes = 0;

	public constructor(repo: LocalRepository, packSize: number) {
		this.repo = repo;
		this.packSize = packSize;
	}

	private tailSize(blobs: number): number {
		return GCM_OVERHEAD + 4 + blobs * 46 + PACK_TRAILER_SIZE;
	}

	/** Adds one sealed blob; returns the pack it will be in (its name is known once the pack closes). */
	public async add(record: Omit<BlobRecord, 'offset' | 'storedLength'>, sealed: Uint8Array): Promise<{ written: () => string }> {
		if (this.current && this.current.size + sealed.length + this.tailSize(this.current.records.length + 1) > this.packSize)
			await this.closePack();
		if (this.current === undefined) {
			const temp = path.join(this.repo.root, PACKS_DIR, `.tmp-${randomBytes(6).toString('hex')}`);
			const handle = await open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600).catch((error: unknown) => {
				throw fromFsError(error, temp);
			});
			this.current = { handle, temp, hash: createHash('sha256'), records: [], size: 0 };
		}
		const current = this.current;
		current.records.push({ ...record, offset: current.size, storedLength: sealed.length });
		await writeFully(current.handle, sealed, current.temp);
		current.hash.update(sealed);
		current.size += sealed.length;
		const slot = this.written.length;
		return { written: () => this.written[slot]! };
	}

	/** Closes the pack in progress (header, trailer, rename). */
	public async closePack(): Promise<void> {
		const current = this.current;
		if (current === undefined) return;
		this.current = undefined;
		const tail = packTail(this.repo.keys, current.records);
		await writeFully(current.handle, tail, current.temp);
		current.hash.update(tail);
		await current.handle.close();
		const name = current.hash.digest('hex').slice(0, 32);
		await rename(current.temp, packPath(this.repo, name)).catch((error: unknown) => {
			throw fromFsError(error, current.temp);
		});
		this.written.push(name);
		this.storedBytes += current.size + tail.length;
	}

	/** Removes the pack in progress (after a failure). */
	public async abandon(): Promise<void> {
		const current = this.current;
		this.current = undefined;
		if (current === undefined) return;
		await current.handle.close().catch(() => undefined);
		await rm(current.temp, { force: true });
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
