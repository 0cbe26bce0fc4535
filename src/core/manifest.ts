import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { z } from 'zod';
import { throwIfAborted } from './abort.js';
import { DEFAULT_GZIP_LEVEL } from './compression.js';
import { ChunkKind, CONTAINER_OVERHEAD, decodeChunkHeader, openContainer, sealContainer, UID_SIZE } from './container.js';
import { CoreError, CoreErrorCode, isCoreError } from './errors.js';
import { type ArchiveKey, type ArchiveKeyCache, deriveArchiveKey } from './keys.js';
import { manifestPartFileName, recordedArchiveId } from './names.js';
import { assertSafeRelativePath } from './paths.js';
import { type ArchivePlan, chunkCountFor, chunkRange } from './plan.js';
import type { ChunkRecord } from './slice.js';
import type { EntryType } from './walk.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Value of the manifest's `format` field. */
export const MANIFEST_FORMAT = 'discord-object-store';
/** Manifest version this build writes and reads. */
export const MANIFEST_VERSION = 1;
/** Largest manifest JSON we inflate (a forged manifest cannot exhaust memory): 1 GiB. */
const MAX_MANIFEST_BYTES = 1024 * 1024 * 1024;

const hex = (length: number) => z.string().regex(new RegExp(`^[0-9a-f]{${length}}$`));
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const entrySchema = z.strictObject({
	path: z.string(),
	type: z.enum(['file', 'directory', 'symlink']),
	size: count,
	mode: z.number().int().min(0).max(0o7777),
	mtimeMs: z.number(),
	sha256: hex(64).optional(),
	offset: count.optional(),
	target: z.string().min(1).max(4096).optional()
});

const chunkSchema = z.strictObject({
	index: count,
	plainSize: count,
	plainSha256: hex(64),
	storedSize: count,
	sha256: hex(64),
	compressed: z.boolean()
});

const manifestSchema = z.strictObject({
	format: z.literal(MANIFEST_FORMAT),
	version: z.literal(MANIFEST_VERSION),
	uid: hex(32),
	id: z.string(),
	lot: count,
	label: z.string().max(1000),
	source: z.string().max(4096).optional(),
	requestedBy: z
		.string()
		.regex(/^\d{1,20}$/)
		.optional(),
	createdAt: z.iso.datetime({ offset: true }),
	tool: z.string().max(200),
	chunkSize: z.number().int().min(1).max(0xffff_ffff),
	compression: z.strictObject({ algorithm: z.literal('gzip'), level: z.number().int().min(0).max(9) }),
	kdf: z.strictObject({ id: z.literal('pbkdf2-sha256'), iterations: z.number().int().min(1), salt: hex(32) }),
	entries: z.array(entrySchema),
	chunks: z.array(chunkSchema),
	totals: z.strictObject({ files: count, directories: count, symlinks: count, bytes: count, storedBytes: count, chunks: count })
});

/** One entry of a manifest. Files carry `sha256` and `offset`; symlinks carry `target`. */
export interface ManifestEntry {
	readonly path: string;
	readonly type: EntryType;
	readonly size: number;
	readonly mode: number;
	readonly mtimeMs: number;
	readonly sha256?: string;
	readonly offset?: number;
	readonly target?: string;
}

/** The manifest of an archive (docs/design.md §3.3): everything needed to restore it, given the key. */
export interface Manifest {
	readonly format: typeof MANIFEST_FORMAT;
	readonly version: typeof MANIFEST_VERSION;
	/** The archive uid, hex. */
	readonly uid: string;
	/** `#DDMMYY-NN`. */
	readonly id: string;
	readonly lot: number;
	readonly label: string;
	/**
	 * The source folder, relative to the upload root. Sealed with the rest (it never appears on Discord in the clear), so
	 * a rebuild with the key gives it back; absent in manifests written before it was recorded.
	 */
	readonly source?: string;
	/** The Discord user id who asked for the upload; absent for the CLI and in older manifests. */
	readonly requestedBy?: string;
	/** ISO 8601. */
	readonly createdAt: string;
	/** The tool and version that made the archive. */
	readonly tool: string;
	readonly chunkSize: number;
	readonly compression: { readonly algorithm: 'gzip'; readonly level: number };
	readonly kdf: { readonly id: 'pbkdf2-sha256'; readonly iterations: number; readonly salt: string };
	readonly entries: readonly ManifestEntry[];
	readonly chunks: readonly ChunkRecord[];
	readonly totals: {
		readonly files: number;
		readonly directories: number;
		readonly symlinks: number;
		readonly bytes: number;
		readonly storedBytes: number;
		readonly chunks: number;
	};
}

/** A new random archive uid (16 bytes). */
export function newArchiveUid(): Buffer {
	return randomBytes(UID_SIZE);
}

/** Inputs of {@link buildManifest}. */
export interface BuildManifestInput {
	readonly plan: ArchivePlan;
	readonly uid: Uint8Array;
	/** `#DDMMYY-NN`. */
	readonly archiveId: string;
	/** Defaults to the lot in the archive id. */
	readonly lot?: number;
	readonly label?: string;
	/** The source folder relative to the upload root (sealed; see {@link Manifest.source}). */
	readonly source?: string;
	/** The Discord user id who asked for the upload. */
	readonly requestedBy?: string | null;
	readonly createdAt?: Date;
	readonly tool: string;
	readonly key: ArchiveKey;
	readonly gzipLevel?: number;
	/** A record of every chunk (any order). */
	readonly chunks: readonly ChunkRecord[];
	/** sha256 of every file, by path (from the slicing). */
	readonly fileHashes: ReadonlyMap<string, string>;
}

/**
 * Builds and validates the manifest of a sliced archive.
 *
 * @throws {CoreError} BAD_FORMAT when a chunk record or a file hash is missing or inconsistent with the plan.
 */
export function buildManifest(input: BuildManifestInput): Manifest {
	const { plan } = input;
	const entries = plan.entries.map((entry): ManifestEntry => {
		const { path, type, size, mode, mtimeMs } = entry;
		if (type === 'file') {
			const sha256 = input.fileHashes.get(path);
			if (sha256 === undefined)
				throw new CoreError(CoreErrorCode.BadFormat, `No hash was recorded for ${path}: the slicing did not finish.`, { paths: [path] });
			return { path, type, size, mode, mtimeMs, sha256, offset: entry.offset! };
		}
		if (type === 'symlink') return { path, type, size: 0, mode, mtimeMs, target: entry.target! };
		return { path, type, size: 0, mode, mtimeMs };
	});
	const chunks = [...input.chunks]
		.sort((a, b) => a.index - b.index)
		.map(({ index, plainSize, plainSha256, storedSize, sha256, compressed }) => ({
			index,
			plainSize,
			plainSha256,
			storedSize,
			sha256,
			compressed
		}));
	const manifest: Manifest = {
		format: MANIFEST_FORMAT,
		version: MANIFEST_VERSION,
		uid: Buffer.from(input.uid).toString('hex'),
		id: recordedArchiveId(input.archiveId).id,
		lot: input.lot ?? recordedArchiveId(input.archiveId).lot,
		label: input.label ?? '',
		...(input.source === undefined ? {} : { source: input.source }),
		...(input.requestedBy === undefined || input.requestedBy === null ? {} : { requestedBy: input.requestedBy }),
		createdAt: (input.createdAt ?? new Date()).toISOString(),
		tool: input.tool,
		chunkSize: plan.chunkSize,
		compression: { algorithm: 'gzip', level: input.gzipLevel ?? DEFAULT_GZIP_LEVEL },
		kdf: { id: 'pbkdf2-sha256', iterations: input.key.iterations, salt: input.key.salt.toString('hex') },
		entries,
		chunks,
		totals: {
			...plan.totals,
			bytes: plan.totalBytes,
			storedBytes: chunks.reduce((sum, chunk) => sum + chunk.storedSize, 0),
			chunks: chunks.length
		}
	};
	return validateManifest(manifest);
}

/**
 * Validates a manifest from untrusted JSON, strictly: schema, every path safe and unique, every entry's parent an
 * earlier directory entry (so nothing can be written through a symlink or a file), file offsets contiguous in
 * order, chunk list contiguous and consistent with the sizes, totals right.
 *
 * @throws {CoreError} BAD_FORMAT for a malformed manifest; UNSAFE_PATH for an unsafe path; UNSUPPORTED_VERSION.
 */
export function validateManifest(value: unknown): Manifest {
	if (
		typeof value === 'object' &&
		value !== null &&
		(value as { version?: unknown }).version !== MANIFEST_VERSION &&
		(value as { format?: unknown }).format === MANIFEST_FORMAT
	) {
		throw new CoreError(
			CoreErrorCode.UnsupportedVersion,
			`This manifest has version ${String((value as { version?: unknown }).version)}; this build reads version ${MANIFEST_VERSION}. Update Discord Object Store.`
		);
	}
	const parsed = manifestSchema.safeParse(value);
	if (!parsed.success) {
		const issues = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
		throw new CoreError(CoreErrorCode.BadFormat, `The manifest is malformed (${issues.join('; ')}). The archive is damaged or not ours.`);
	}
	const manifest = parsed.data as Manifest;
	recordedArchiveId(manifest.id);
	const bad = (message: string, paths?: string[]) =>
		new CoreError(CoreErrorCode.BadFormat, `The manifest is inconsistent: ${message}. The archive is damaged.`, paths ? { paths } : {});
	const types = new Map<string, EntryType>();
	let offset = 0;
	const totals = { files: 0, directories: 0, symlinks: 0 };
	for (const entry of manifest.entries) {
		assertSafeRelativePath(entry.path);
		if (types.has(entry.path)) throw bad(`${entry.path} appears twice`, [entry.path]);
		const slash = entry.path.lastIndexOf('/');
		if (slash >= 0) {
			const parent = entry.path.slice(0, slash);
			const parentType = types.get(parent);
			if (parentType !== 'directory') {
				throw new CoreError(
					CoreErrorCode.UnsafePath,
					`Refusing ${JSON.stringify(entry.path)}: its parent ${JSON.stringify(parent)} is ${parentType === undefined ? 'not an earlier directory entry' : `a ${parentType}`}, so it could be written through a link.`,
					{ paths: [entry.path] }
				);
			}
		}
		types.set(entry.path, entry.type);
		if (entry.type === 'file') {
			totals.files++;
			if (entry.sha256 === undefined || entry.offset === undefined || entry.target !== undefined)
				throw bad(`file ${entry.path} lacks its hash or offset`, [entry.path]);
			if (entry.offset !== offset) throw bad(`file ${entry.path} is at offset ${entry.offset}, expected ${offset}`, [entry.path]);
			offset += entry.size;
		} else {
			if (entry.type === 'directory') totals.directories++;
			else totals.symlinks++;
			if (entry.size !== 0 || entry.sha256 !== undefined || entry.offset !== undefined)
				throw bad(`${entry.type} ${entry.path} has file fields`, [entry.path]);
			if ((entry.type === 'symlink') !== (entry.target !== undefined))
				throw bad(`${entry.path} has a target but is not a symlink, or the reverse`, [entry.path]);
			if (entry.target?.includes('\0'))
				throw new CoreError(CoreErrorCode.UnsafePath, `Refusing symlink ${JSON.stringify(entry.path)}: its target holds NUL.`, {
					paths: [entry.path]
				});
		}
	}
	const expectedChunks = chunkCountFor(offset, manifest.chunkSize);
	if (manifest.chunks.length !== expectedChunks)
		throw bad(`${manifest.chunks.length} chunks listed for ${offset} bytes, expected ${expectedChunks}`);
	let storedBytes = 0;
	manifest.chunks.forEach((chunk, index) => {
		if (chunk.index !== index) throw bad(`chunk ${index} is listed as ${chunk.index}`);
		const { start, end } = chunkRange({ chunkSize: manifest.chunkSize, totalBytes: offset }, index);
		if (chunk.plainSize !== end - start) throw bad(`chunk ${index} holds ${chunk.plainSize} bytes, expected ${end - start}`);
		if (chunk.storedSize < CONTAINER_OVERHEAD) throw bad(`chunk ${index} is smaller than a container`);
		storedBytes += chunk.storedSize;
	});
	const t = manifest.totals;
	if (
		t.files !== totals.files ||
		t.directories !== totals.directories ||
		t.symlinks !== totals.symlinks ||
		t.bytes !== offset ||
		t.chunks !== expectedChunks ||
		t.storedBytes !== storedBytes
	) {
		throw bad('the totals do not add up');
	}
	return manifest;
}

/** One sealed part of a manifest. */
export interface SealedManifestPart {
	readonly index: number;
	readonly count: number;
	readonly bytes: Buffer;
	readonly storedSize: number;
	/** sha256 of the sealed bytes, hex. */
	readonly sha256: string;
	/** Opaque file name (see `manifestPartFileName`). */
	readonly filename: string;
}

/**
 * Serializes, gzips and seals a manifest with the archive key, as kind "manifest" parts of at most the chunk size
 * (so each fits the attachment limit like a data chunk).
 *
 * @throws {CoreError} BAD_FORMAT when the manifest is invalid; INVALID_OPTION when the key does not match its KDF
 * fields.
 */
export async function sealManifest(
	manifest: Manifest,
	key: ArchiveKey,
	options: { gzipLevel?: number; partSize?: number; signal?: AbortSignal } = {}
): Promise<SealedManifestPart[]> {
	validateManifest(manifest);
	if (!key.matches(Buffer.from(manifest.kdf.salt, 'hex'), manifest.kdf.iterations)) {
		throw new CoreError(CoreErrorCode.InvalidOption, 'The key given to seal the manifest is not the archive key named in it.');
	}
	const packed = await gzipAsync(Buffer.from(JSON.stringify(manifest), 'utf8'), { level: options.gzipLevel ?? DEFAULT_GZIP_LEVEL });
	throwIfAborted(options.signal);
	const partSize = options.partSize ?? manifest.chunkSize;
	const count = Math.max(1, Math.ceil(packed.length / partSize));
	const uid = Buffer.from(manifest.uid, 'hex');
	const keyBytes = key.exportBytes();
	try {
		return Array.from({ length: count }, (_, index) => {
			const { sealed, sha256 } = sealContainer({
				kind: ChunkKind.Manifest,
				compressed: true,
				archiveKey: keyBytes,
				archiveSalt: key.salt,
				kdfIterations: key.iterations,
				uid,
				index,
				count,
				payload: packed.subarray(index * partSize, (index + 1) * partSize)
			});
			return { index, count, bytes: sealed, storedSize: sealed.length, sha256, filename: manifestPartFileName(manifest.id, index, sha256) };
		});
	} finally {
		keyBytes.fill(0);
	}
}

/** A sealed manifest part to open; `intact` when its bytes are known good (their hash matched a record). */
export type ManifestPartInput = Uint8Array | { readonly bytes: Uint8Array; readonly intact?: boolean; readonly label?: string };

/** Options of {@link openManifest}. */
export interface OpenManifestOptions {
	/** An archive key already derived (skips PBKDF2 when its salt and iterations match). */
	readonly key?: ArchiveKey;
	/**
	 * Derives the key (once per salt and iteration count, refusing a count other than the recorded one) across the
	 * tries of several candidate part sets; without it every call derives afresh.
	 */
	readonly keys?: ArchiveKeyCache;
	readonly signal?: AbortSignal;
}

/** An opened manifest and the archive key that opened it (for the chunks). */
export interface OpenedManifest {
	readonly manifest: Manifest;
	readonly key: ArchiveKey;
}

/**
 * Opens a sealed manifest from its parts (any order): checks that they are all the parts of one archive's manifest,
 * derives the archive key once from the header's salt (one PBKDF2), authenticates, joins, inflates and validates.
 * The key is proven right here, so later chunk failures mean damage, not a wrong key.
 *
 * @throws {CoreError} NO_KEY without a passphrase; WRONG_KEY when the key does not open intact parts (or when
 * every part fails, which is what a wrong key looks like); TAMPERED_CHUNK when some parts open and others do not;
 * MISSING_CHUNK when parts are missing; MISPLACED_CHUNK when parts of different archives are mixed; BAD_FORMAT /
 * UNSAFE_PATH / UNSUPPORTED_VERSION for a malformed manifest.
 */
export async function openManifest(
	parts: readonly ManifestPartInput[],
	passphrase: string | undefined,
	options: OpenManifestOptions = {}
): Promise<OpenedManifest> {
	const inputs = parts.map((part, position) =>
		part instanceof Uint8Array
			? { bytes: part, intact: false, label: `manifest part ${position + 1}` }
			: { intact: false, label: `manifest part ${position + 1}`, ...part }
	);
	if (inputs.length === 0)
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			'No manifest part was found. The archive is incomplete (its upload did not finish) or the wrong folder was named.'
		);
	const decoded = inputs.map((input) => ({ ...input, header: decodeChunkHeader(input.bytes, input.label) }));
	const first = decoded[0]!.header;
	for (const part of decoded) {
		if (part.header.kind !== ChunkKind.Manifest)
			throw new CoreError(CoreErrorCode.MisplacedChunk, `${part.label} is a ${part.header.kind} container, not a manifest part.`);
		if (
			!part.header.uid.equals(first.uid) ||
			!part.header.archiveSalt.equals(first.archiveSalt) ||
			part.header.count !== first.count ||
			part.header.kdfIterations !== first.kdfIterations
		) {
			throw new CoreError(CoreErrorCode.MisplacedChunk, 'The manifest parts belong to different archives. Keep only the parts of one archive.');
		}
	}
	// The count is read before anything is authenticated: it is only ever compared with the parts present, never used to
	// size anything, so a forged 0xFFFFFFFF costs nothing.
	if (first.count === 0) {
		throw new CoreError(CoreErrorCode.BadFormat, `${decoded[0]!.label} claims a manifest of 0 parts: its header is damaged.`);
	}
	const byIndex = new Map<number, (typeof decoded)[number]>();
	for (const part of decoded) {
		if (part.header.index >= first.count)
			throw new CoreError(CoreErrorCode.MisplacedChunk, `${part.label} is part ${part.header.index + 1} of ${first.count}.`);
		byIndex.set(part.header.index, part);
	}
	if (byIndex.size < first.count) {
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			`${first.count - byIndex.size} of the ${first.count} manifest part(s) are missing (${describeMissingParts(byIndex, first.count)}). Fetch every manifest part of the archive.`
		);
	}
	const key = options.key?.matches(first.archiveSalt, first.kdfIterations)
		? options.key
		: options.keys !== undefined
			? await options.keys.derive(first.archiveSalt, first.kdfIterations, options.signal)
			: await deriveArchiveKey(passphrase ?? '', {
					salt: first.archiveSalt,
					iterations: first.kdfIterations,
					...(options.signal ? { signal: options.signal } : {})
				});
	const keyBytes = key.exportBytes();
	const payloads: Buffer[] = [];
	const failures: { part: (typeof decoded)[number]; error: CoreError }[] = [];
	try {
		for (let index = 0; index < first.count; index++) {
			const part = byIndex.get(index)!;
			try {
				payloads.push(
					openContainer(part.bytes, keyBytes, {
						kind: ChunkKind.Manifest,
						uid: first.uid,
						index,
						count: first.count,
						intact: part.intact,
						label: part.label
					}).payload
				);
			} catch (error) {
				if (!isCoreError(error)) throw error;
				failures.push({ part, error });
			}
		}
	} finally {
		keyBytes.fill(0);
	}
	if (failures.length > 0) {
		const intactFailure = failures.find((failure) => failure.error.code === CoreErrorCode.WrongKey);
		if (intactFailure || failures.length === first.count) {
			throw new CoreError(
				CoreErrorCode.WrongKey,
				'The key does not open this archive: USER_KEY is not the passphrase it was made with (or every manifest part is damaged). Set the right USER_KEY and try again.',
				{},
				{ cause: failures[0]!.error }
			);
		}
		throw failures[0]!.error;
	}
	let json: Buffer;
	try {
		json = await gunzipAsync(Buffer.concat(payloads), { maxOutputLength: MAX_MANIFEST_BYTES });
	} catch (error) {
		throw new CoreError(CoreErrorCode.BadFormat, 'The manifest decrypted but does not inflate. The archive is damaged.', {}, { cause: error });
	}
	let value: unknown;
	try {
		value = JSON.parse(json.toString('utf8'));
	} catch (error) {
		throw new CoreError(CoreErrorCode.BadFormat, 'The manifest decrypted but is not JSON. The archive is damaged.', {}, { cause: error });
	}
	const manifest = validateManifest(value);
	if (
		manifest.uid !== first.uid.toString('hex') ||
		manifest.kdf.salt !== first.archiveSalt.toString('hex') ||
		manifest.kdf.iterations !== first.kdfIterations
	) {
		throw new CoreError(CoreErrorCode.MisplacedChunk, 'The manifest names another archive than its container header. The archive is damaged.');
	}
	return { manifest, key };
}

/** The first few absent part indexes below `count`, in words; scans no further than it must, whatever `count` says. */
function describeMissingParts(present: ReadonlyMap<number, unknown>, count: number): string {
	const shown: number[] = [];
	for (let index = 0; index < count && shown.length < 10; index++) if (!present.has(index)) shown.push(index + 1);
	const more = count - present.size - shown.length;
	return `part ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}
