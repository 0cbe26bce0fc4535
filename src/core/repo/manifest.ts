import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { CoreError, CoreErrorCode } from '../errors.js';
import { MANIFEST_FORMAT } from '../manifest.js';
import { requireArchiveId } from '../archive-id.js';
import { assertSafeRelativePath } from '../paths.js';
import type { EntryType } from '../walk.js';
import { CDC_MAX_SIZE } from './cdc.js';
import { BLOB_ID_SIZE } from './blob.js';
import { GCM_OVERHEAD, gcmOpen, gcmSeal } from './gcm.js';

/** Manifest version of a format 2 (repository) archive. */
export const MANIFEST_V2_VERSION = 2;
/** Largest sealed manifest part (one attachment's worth). */
export const MANIFEST_PART_SIZE = 8 * 1024 * 1024;
/** At most this many parts, and this much JSON once inflated (a forged manifest cannot exhaust memory). */
export const MAX_MANIFEST_PARTS = 4096;
const MAX_MANIFEST_JSON = 1024 * 1024 * 1024;

const hex = (length: number) => z.string().regex(new RegExp(`^[0-9a-f]{${length}}$`));
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const ENTRY_TYPES: ReadonlySet<unknown> = new Set(['file', 'directory', 'symlink']);
const ENTRY_KEYS: ReadonlySet<string> = new Set(['path', 'type', 'size', 'mode', 'mtimeMs', 'sha256', 'blobs', 'target']);
const SHA256_HEX = /^[0-9a-f]{64}$/;
const BLOB_ID_HEX = new RegExp(`^[0-9a-f]{${BLOB_ID_SIZE * 2}}$`);
const MAX_ENTRY_TEXT = 4096;

/**
 * Checks the shape of one entry (the schema below, written out: tens of thousands of entries went through the
 * schema library at ~12 µs each, a third of an unchanged slice of small files). Returns why it is malformed, or
 * undefined.
 */
function entryShapeProblem(value: unknown): string | undefined {
	if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
	const entry = value as Record<string, unknown>;
	for (const key in entry) if (!ENTRY_KEYS.has(key)) return `${key}: unknown field`;
	const text = (field: string, optional: boolean): string | undefined => {
		const v = entry[field];
		if (v === undefined) return optional ? undefined : `${field}: missing`;
		return typeof v === 'string' && v.length >= 1 && v.length <= MAX_ENTRY_TEXT
			? undefined
			: `${field}: not a text of 1 to ${MAX_ENTRY_TEXT} characters`;
	};
	const integer = (field: string, max: number): string | undefined => {
		const v = entry[field];
		return Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= max ? undefined : `${field}: not an integer from 0 to ${max}`;
	};
	const problem =
		text('path', false) ??
		(ENTRY_TYPES.has(entry.type) ? undefined : 'type: not file, directory or symlink') ??
		integer('size', Number.MAX_SAFE_INTEGER) ??
		integer('mode', 0o7777) ??
		(typeof entry.mtimeMs === 'number' && Number.isFinite(entry.mtimeMs) ? undefined : 'mtimeMs: not a number') ??
		(entry.sha256 === undefined || (typeof entry.sha256 === 'string' && SHA256_HEX.test(entry.sha256))
			? undefined
			: 'sha256: not 64 hex digits') ??
		text('target', true);
	if (problem !== undefined) return problem;
	if (entry.blobs === undefined) return undefined;
	if (!Array.isArray(entry.blobs)) return 'blobs: not a list';
	for (const [index, id] of (entry.blobs as unknown[]).entries())
		if (typeof id !== 'string' || !BLOB_ID_HEX.test(id)) return `blobs.${index}: not ${BLOB_ID_SIZE * 2} hex digits`;
	return undefined;
}

const manifestSchema = z.strictObject({
	format: z.literal(MANIFEST_FORMAT),
	version: z.literal(MANIFEST_V2_VERSION),
	id: z.string(),
	label: z.string().max(1000),
	source: z.string().max(4096).optional(),
	requestedBy: z
		.string()
		.regex(/^\d{1,20}$/)
		.optional(),
	createdAt: z.iso.datetime({ offset: true }),
	tool: z.string().max(200),
	parent: z.string().optional(),
	codec: z.string().regex(/^(none|gzip-\d|zstd-\d{1,2})$/),
	dedup: z.enum(['repository', 'archive']),
	packs: z.array(hex(32)),
	// Checked one by one by entryShapeProblem (the same rules, faster).
	entries: z.array(z.unknown()),
	totals: z.strictObject({
		files: count,
		directories: count,
		symlinks: count,
		bytes: count,
		newBytes: count,
		reusedBytes: count,
		storedBytes: count,
		blobs: count,
		newBlobs: count
	})
});

/** One entry of a format 2 manifest: files carry `sha256` and `blobs` (ids in order, none when empty). */
export interface ManifestV2Entry {
	readonly path: string;
	readonly type: EntryType;
	readonly size: number;
	readonly mode: number;
	readonly mtimeMs: number;
	readonly sha256?: string;
	readonly blobs?: readonly string[];
	readonly target?: string;
}

/** The manifest of a repository archive (docs/format2-repository.md). */
export interface ManifestV2 {
	readonly format: typeof MANIFEST_FORMAT;
	readonly version: typeof MANIFEST_V2_VERSION;
	readonly id: string;
	readonly label: string;
	/**
	 * The folder the archive was made from, relative to the upload root (a Discord upload's; a local slice records
	 * none). Sealed with the rest, so a rebuild of the index from Discord gives it back.
	 */
	readonly source?: string;
	/** The Discord user id who asked for the upload; absent for the CLI and local slices. */
	readonly requestedBy?: string;
	readonly createdAt: string;
	readonly tool: string;
	/** The archive this one followed (the newest of the repository when it was made). */
	readonly parent?: string;
	readonly codec: string;
	readonly dedup: 'repository' | 'archive';
	/** Packs written by this archive (its new blobs). */
	readonly packs: readonly string[];
	readonly entries: readonly ManifestV2Entry[];
	readonly totals: {
		readonly files: number;
		readonly directories: number;
		readonly symlinks: number;
		/** Original bytes of the files. */
		readonly bytes: number;
		/** Plaintext bytes of the blobs this archive stored anew. */
		readonly newBytes: number;
		/** Plaintext bytes of blobs it found already stored (in the repository or earlier in the run). */
		readonly reusedBytes: number;
		/** Sealed bytes it added (packs). */
		readonly storedBytes: number;
		readonly blobs: number;
		readonly newBlobs: number;
	};
}

/**
 * Validates a format 2 manifest from untrusted JSON: schema, every path safe and unique, every parent an earlier
 * directory entry, files' blob lists consistent with their sizes, totals right.
 *
 * @throws {CoreError} BAD_FORMAT; UNSAFE_PATH; UNSUPPORTED_VERSION.
 */
export function validateManifestV2(value: unknown): ManifestV2 {
	const version = (value as { version?: unknown } | null)?.version;
	if (typeof value === 'object' && value !== null && version !== MANIFEST_V2_VERSION)
		throw new CoreError(CoreErrorCode.UnsupportedVersion, `This manifest has version ${String(version)}; a repository archive has version 2.`);
	const parsed = manifestSchema.safeParse(value);
	if (!parsed.success) {
		const issues = parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
		throw new CoreError(CoreErrorCode.BadFormat, `The manifest is malformed (${issues.join('; ')}). The archive is damaged or not ours.`);
	}
	for (const [index, entry] of parsed.data.entries.entries()) {
		const problem = entryShapeProblem(entry);
		if (problem !== undefined)
			throw new CoreError(
				CoreErrorCode.BadFormat,
				`The manifest is malformed (entries.${index}: ${problem}). The archive is damaged or not ours.`
			);
	}
	const manifest = parsed.data as ManifestV2;
	requireArchiveId(manifest.id);
	const bad = (message: string, paths?: string[]) =>
		new CoreError(CoreErrorCode.BadFormat, `The manifest is inconsistent: ${message}. The archive is damaged.`, paths ? { paths } : {});
	const types = new Map<string, EntryType>();
	const totals = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
	for (const entry of manifest.entries) {
		assertSafeRelativePath(entry.path);
		if (types.has(entry.path)) throw bad(`${entry.path} appears twice`, [entry.path]);
		const slash = entry.path.lastIndexOf('/');
		if (slash >= 0) {
			const parent = entry.path.slice(0, slash);
			const parentType = types.get(parent);
			if (parentType !== 'directory')
				throw new CoreError(
					CoreErrorCode.UnsafePath,
					`Refusing ${JSON.stringify(entry.path)}: its parent ${JSON.stringify(parent)} is ${parentType === undefined ? 'not an earlier directory entry' : `a ${parentType}`}, so it could be written through a link.`,
					{ paths: [entry.path] }
				);
		}
		types.set(entry.path, entry.type);
		if (entry.type === 'file') {
			totals.files++;
			totals.bytes += entry.size;
			if (entry.sha256 === undefined || entry.blobs === undefined || entry.target !== undefined)
				throw bad(`file ${entry.path} lacks its hash or blobs`, [entry.path]);
			const fewest = Math.ceil(entry.size / CDC_MAX_SIZE);
			if ((entry.size === 0) !== (entry.blobs.length === 0) || entry.blobs.length < fewest || entry.blobs.length > entry.size)
				throw bad(`file ${entry.path} has ${entry.blobs.length} blobs for ${entry.size} bytes`, [entry.path]);
		} else {
			if (entry.type === 'directory') totals.directories++;
			else totals.symlinks++;
			if (entry.size !== 0 || entry.sha256 !== undefined || entry.blobs !== undefined)
				throw bad(`${entry.type} ${entry.path} has file fields`, [entry.path]);
			if ((entry.type === 'symlink') !== (entry.target !== undefined))
				throw bad(`${entry.path} has a target but is not a symlink, or the reverse`, [entry.path]);
			if (entry.target?.includes('\0'))
				throw new CoreError(CoreErrorCode.UnsafePath, `Refusing symlink ${JSON.stringify(entry.path)}: its target holds NUL.`, {
					paths: [entry.path]
				});
		}
	}
	const t = manifest.totals;
	if (
		t.files !== totals.files ||
		t.directories !== totals.directories ||
		t.symlinks !== totals.symlinks ||
		t.bytes !== totals.bytes ||
		t.newBytes + t.reusedBytes !== t.bytes
	)
		throw bad('the totals do not add up');
	return manifest;
}

function partAad(archiveId: string, index: number, parts: number): Buffer {
	const id = Buffer.from(archiveId, 'utf8');
	const aad = Buffer.alloc(7 + 1 + id.length + 8);
	aad.write('dosman2', 0, 'latin1');
	aad.writeUInt8(id.length, 7);
	id.copy(aad, 8);
	aad.writeUInt32BE(index, 8 + id.length);
	aad.writeUInt32BE(parts, 12 + id.length);
	return aad;
}

/**
 * The gzip level of manifests: a manifest is mostly hex ids, which level 9 packs 1.5 % smaller than level 6 in half as
 * much time again (5 MB of JSON for 20,000 files: 105 ms against 72 ms), on every slice, unchanged ones included.
 */
const MANIFEST_GZIP_LEVEL = 6;

/** Seals a manifest: JSON, gzip, cut into parts of at most {@link MANIFEST_PART_SIZE}, each sealed under the manifest subkey. */
export function sealManifestV2(manifestKey: Uint8Array, manifest: ManifestV2): Buffer[] {
	const packed = gzipSync(Buffer.from(JSON.stringify(manifest), 'utf8'), { level: MANIFEST_GZIP_LEVEL });
	const room = MANIFEST_PART_SIZE - GCM_OVERHEAD;
	const parts = Math.max(1, Math.ceil(packed.length / room));
	if (parts > MAX_MANIFEST_PARTS) throw new CoreError(CoreErrorCode.InvalidOption, 'The manifest is too large.');
	const sealed: Buffer[] = [];
	for (let index = 0; index < parts; index++)
		sealed.push(gcmSeal(manifestKey, partAad(manifest.id, index, parts), packed.subarray(index * room, (index + 1) * room)));
	return sealed;
}

/**
 * Opens a sealed manifest from its parts (in order), bounded: part count and sizes are checked before anything is
 * joined, the JSON inflates to at most 1 GiB, then it is validated.
 *
 * @throws {CoreError} WRONG_KEY when a part does not authenticate; BAD_FORMAT; UNSAFE_PATH.
 */
export function openManifestV2(manifestKey: Uint8Array, archiveId: string, parts: readonly Uint8Array[]): ManifestV2 {
	if (parts.length === 0 || parts.length > MAX_MANIFEST_PARTS)
		throw new CoreError(CoreErrorCode.BadFormat, `Archive ${archiveId} has ${parts.length} manifest parts.`);
	const opened: Buffer[] = [];
	parts.forEach((part, index) => {
		if (part.length > MANIFEST_PART_SIZE || part.length < GCM_OVERHEAD)
			throw new CoreError(CoreErrorCode.BadFormat, `Manifest part ${index} of ${archiveId} has an impossible size.`);
		const plain = gcmOpen(manifestKey, partAad(archiveId, index, parts.length), part);
		if (plain === undefined)
			throw new CoreError(
				CoreErrorCode.TamperedChunk,
				`Manifest part ${index} of archive ${archiveId} does not authenticate: it is damaged or not of this repository.`
			);
		opened.push(plain);
	});
	let json: Buffer;
	try {
		json = gunzipSync(Buffer.concat(opened), { maxOutputLength: MAX_MANIFEST_JSON });
	} catch (error) {
		throw new CoreError(CoreErrorCode.BadFormat, `The manifest of ${archiveId} does not inflate.`, {}, { cause: error });
	}
	let value: unknown;
	try {
		value = JSON.parse(json.toString('utf8'));
	} catch (error) {
		throw new CoreError(CoreErrorCode.BadFormat, `The manifest of ${archiveId} is not JSON.`, {}, { cause: error });
	}
	const manifest = validateManifestV2(value);
	if (manifest.id !== archiveId)
		throw new CoreError(CoreErrorCode.MisplacedChunk, `The manifest stored as ${archiveId} is that of ${manifest.id}.`);
	return manifest;
}
