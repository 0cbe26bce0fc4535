import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { CoreError, CoreErrorCode } from '../errors.js';
import { assertSafeName } from '../paths.js';
import { type LegacyChunkName, legacyFileId, parseLegacyChunkName } from './chunk-name.js';
import { LEGACY_MAX_CHUNK_BYTES, LEGACY_SEAL_OVERHEAD } from './chunk.js';

/**
 * How the original tool's archives were laid out, by manifest generation. Our reading of its source:
 *
 * - **v3.1** (`version "3.1"`, `encrypted: true`, `encryption_scope "chunk"`): every top-level file is cut
 *   into slices of 9.5 MiB (9,961,472 B; other sizes were possible); each slice is gzip -9 compressed and
 *   sealed on its own as `salt(16) ‖ nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16)`, no AAD, under
 *   PBKDF2-HMAC-SHA256(UTF-8 USER_KEY, salt, 600,000, 32). An empty file is one chunk holding the gzip of
 *   nothing. Chunk entries are `{ name, size, index }`.
 * - **v3.0** (`encrypted: true`, no `encryption_scope`, which its reader takes as `"file"`): the whole file was
 *   gzipped and sealed as ONE such blob, and that blob was cut into the chunks; reading concatenates the
 *   chunks and opens the blob (one PBKDF2 per file).
 * - **v2.x** (`version "2.0"`/`"2.1"`, not encrypted): plain slices of the file, chunk entries are bare
 *   names `{seq}-data_{file_id}_{hash16}_{index}.bin`, the size is `total_size`, and an empty file has no
 *   chunk at all. The last reader of the original also accepted plain archives whose concatenated chunks are
 *   a gzip stream; we read those as gzip only when the chunks do not already add up to the file's size.
 *
 * The format label matches the index's `format` column.
 */
export type LegacyFormat = 'legacy-v3.1' | 'legacy-v3.0' | 'legacy-v2';

/** What is sealed on its own: each chunk (v3.1), each file's single blob (v3.0), or nothing (v2.x). */
export type LegacyEncryptionScope = 'chunk' | 'file' | 'none';

/** One chunk as a legacy manifest lists it, checked against its name. */
export interface LegacyChunkEntry extends LegacyChunkName {
	/** The stored size the manifest records, or `null` where it records none (v2.x bare names). */
	readonly size: number | null;
}

/** One file of a legacy archive (the original only archived a folder's top-level files). */
export interface LegacyFileEntry {
	/** `sha256(name)[:12]`, the key of the manifest's `files` object. */
	readonly fileId: string;
	/** The file's name, a single safe path segment. */
	readonly name: string;
	/** The file's size in bytes. */
	readonly size: number;
	/** Its chunks by `index`, 0…n−1. */
	readonly chunks: readonly LegacyChunkEntry[];
	/** Sum of the chunks' recorded sizes, or `null` when some are not recorded. */
	readonly storedSize: number | null;
}

/** A legacy manifest, validated: safe names, ids that match names, chunk names that match their files. */
export interface LegacyManifest {
	readonly format: LegacyFormat;
	/** The `version` field as written (`"3.1"`, `"3.0"`, `"2.1"`…), or `null` when absent. */
	readonly version: string | null;
	readonly encrypted: boolean;
	readonly scope: LegacyEncryptionScope;
	/** The name of the folder that was archived (a safe single name), or `null` when not recorded. */
	readonly sourceFolder: string | null;
	/** Files in archive order (by their first chunk's sequence number). */
	readonly files: readonly LegacyFileEntry[];
	readonly totals: {
		readonly files: number;
		readonly chunks: number;
		readonly originalBytes: number;
		/** Sum of recorded chunk sizes, or `null` when the manifest does not record them all. */
		readonly storedBytes: number | null;
	};
}

/**
 * Largest legacy manifest we read, from disk or from Discord (checked against the announced size before a byte is read):
 * the original's manifest is ~250 bytes per chunk, so 64 MiB is some 260,000 chunks, 2.4 TiB of 9.5 MiB slices.
 */
export const LEGACY_MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const chunkReference = z.union([z.string(), z.looseObject({ name: z.string(), size: count.optional(), index: count.optional() })]);
const fileSchema = z.looseObject({
	original_name: z.string(),
	original_size: count.optional(),
	total_size: count.optional(),
	chunks: z.array(chunkReference)
});
const manifestSchema = z.looseObject({
	version: z.union([z.string(), z.number()]).optional(),
	encrypted: z.boolean().optional(),
	encryption_scope: z.string().optional(),
	source_folder: z.string().nullable().optional(),
	files: z.record(z.string(), fileSchema),
	total_original_size: count.optional(),
	total_processed_size: count.optional(),
	total_chunks: count.optional()
});

/**
 * Validates a legacy manifest (the parsed JSON, or its text). The manifest is untrusted input: every file name
 * goes through {@link assertSafeName}, every file id must equal `sha256(name)[:12]`, every chunk name must be
 * a legacy chunk name of that file with the right index, chunk names and sequence numbers must be unique,
 * sizes must be plausible and totals, where present, must add up.
 *
 * @throws {CoreError} BAD_FORMAT when it is not a manifest of the original tool or is inconsistent;
 * UNSUPPORTED_VERSION for a version or encryption scope we do not know; UNSAFE_PATH for a file or source
 * folder name that could escape the restore folder.
 */
export function parseLegacyManifest(json: unknown): LegacyManifest {
	let value = json;
	if (typeof json === 'string') {
		try {
			value = JSON.parse(json);
		} catch (error) {
			throw badManifest(`it is not valid JSON (${(error as Error).message})`, error);
		}
	}
	const parsed = manifestSchema.safeParse(value);
	if (!parsed.success) {
		const issue = parsed.error.issues[0];
		const where = issue === undefined || issue.path.length === 0 ? 'the top level' : issue.path.map(String).join('.');
		throw badManifest(`at ${where}: ${issue?.message ?? 'unexpected shape'}`);
	}
	const raw = parsed.data;

	const version = raw.version === undefined ? null : String(raw.version);
	if (version !== null && !/^[23](\.\d+)*$/.test(version)) {
		throw new CoreError(
			CoreErrorCode.UnsupportedVersion,
			`This manifest says version ${JSON.stringify(version)}; this build reads the original tool's versions 2.x and 3.x only.`
		);
	}
	const encrypted = raw.encrypted === true;
	const scope = encryptionScope(encrypted, raw.encryption_scope);
	const format: LegacyFormat = scope === 'chunk' ? 'legacy-v3.1' : scope === 'file' ? 'legacy-v3.0' : 'legacy-v2';

	let sourceFolder: string | null = null;
	if (typeof raw.source_folder === 'string' && raw.source_folder.length > 0) {
		assertSafeName(raw.source_folder);
		sourceFolder = raw.source_folder;
	}

	const names = new Set<string>();
	const chunkNames = new Set<string>();
	const sequences = new Set<number>();
	const files: LegacyFileEntry[] = [];
	for (const [fileId, info] of Object.entries(raw.files)) {
		const name = info.original_name;
		assertSafeName(name);
		if (!/^[0-9a-f]{12}$/.test(fileId) || legacyFileId(name) !== fileId) {
			throw badManifest(
				`the entry ${JSON.stringify(fileId)} names ${JSON.stringify(name)}, whose id is ${legacyFileId(name)}: the manifest was altered`
			);
		}
		if (names.has(name)) throw badManifest(`${JSON.stringify(name)} is listed twice`);
		names.add(name);
		const size = info.original_size ?? info.total_size;
		if (size === undefined) throw badManifest(`${JSON.stringify(name)} has no original_size`);

		const chunks = info.chunks.map((reference) => chunkEntry(reference, fileId, name));
		chunks.sort((a, b) => a.index - b.index);
		chunks.forEach((chunk, position) => {
			if (chunk.index !== position) {
				throw badManifest(`the chunks of ${JSON.stringify(name)} do not run 0…${chunks.length - 1}: chunk ${position} is missing or doubled`);
			}
			if (chunkNames.has(chunk.name)) throw badManifest(`chunk ${chunk.name} is listed twice`);
			if (sequences.has(chunk.seq)) throw badManifest(`two chunks carry the sequence number ${chunk.seq}`);
			chunkNames.add(chunk.name);
			sequences.add(chunk.seq);
			if (chunk.size !== null && (chunk.size === 0 || chunk.size > LEGACY_MAX_CHUNK_BYTES)) {
				throw badManifest(`chunk ${chunk.name} is recorded as ${chunk.size} bytes, which no chunk of the original tool is`);
			}
			if (chunk.size !== null && scope === 'chunk' && chunk.size < LEGACY_SEAL_OVERHEAD) {
				throw badManifest(`chunk ${chunk.name} is recorded as ${chunk.size} bytes, too small to be encrypted`);
			}
		});
		checkChunkCount(scope, name, size, chunks.length);
		const storedSize = chunks.every((chunk) => chunk.size !== null) ? chunks.reduce((sum, chunk) => sum + (chunk.size ?? 0), 0) : null;
		if (scope === 'file' && storedSize !== null && storedSize < LEGACY_SEAL_OVERHEAD) {
			throw badManifest(`the chunks of ${JSON.stringify(name)} add up to ${storedSize} bytes, too small to be an encrypted file`);
		}
		files.push({ fileId, name, size, chunks, storedSize });
	}

	// Archive order: the original numbered chunks across the archive as it went; empty v2 files (no chunks) keep their place.
	const ordered = files
		.map((file, position) => ({ file, key: file.chunks[0]?.seq ?? Number.POSITIVE_INFINITY, position }))
		.sort((a, b) => a.key - b.key || a.position - b.position)
		.map(({ file }) => file);

	const totalChunks = files.reduce((sum, file) => sum + file.chunks.length, 0);
	const originalBytes = files.reduce((sum, file) => sum + file.size, 0);
	const storedBytes = files.every((file) => file.storedSize !== null) ? files.reduce((sum, file) => sum + (file.storedSize ?? 0), 0) : null;
	if (raw.total_chunks !== undefined && raw.total_chunks !== totalChunks) {
		throw badManifest(`total_chunks says ${raw.total_chunks}, but the files list ${totalChunks} chunks`);
	}
	if (raw.total_original_size !== undefined && raw.total_original_size !== originalBytes) {
		throw badManifest(`total_original_size says ${raw.total_original_size}, but the files add up to ${originalBytes} bytes`);
	}
	if (raw.total_processed_size !== undefined && storedBytes !== null && raw.total_processed_size !== storedBytes) {
		throw badManifest(`total_processed_size says ${raw.total_processed_size}, but the chunks add up to ${storedBytes} bytes`);
	}

	return {
		format,
		version,
		encrypted,
		scope,
		sourceFolder,
		files: ordered,
		totals: { files: files.length, chunks: totalChunks, originalBytes, storedBytes }
	};
}

/** Options of {@link readLegacyManifest}. */
export interface ReadLegacyManifestOptions {
	/** The manifest's file name inside the folder, when the folder holds several. */
	readonly file?: string;
}

/** A legacy manifest and the file it was read from. */
export interface LegacyManifestFile {
	readonly file: string;
	readonly manifest: LegacyManifest;
}

/**
 * The manifest candidates in a folder, as the original tool looked for them: regular files whose lower-cased
 * name ends in `.json` and contains `manifest` (`11-manifest_021328_241126.json`, `manifest.json`…), sorted.
 */
export async function listLegacyManifestFiles(dir: string): Promise<string[]> {
	const entries = await readdir(dir, { withFileTypes: true });
	return entries
		.filter((entry) => entry.isFile())
		.map((entry) => entry.name)
		.filter(isLegacyManifestName)
		.sort();
}

/** Whether a file or attachment name is a legacy manifest's, as the original tool recognised them. */
export function isLegacyManifestName(name: string): boolean {
	const lower = name.toLowerCase();
	return lower.endsWith('.json') && lower.includes('manifest');
}

/**
 * Finds, reads and validates the legacy manifest in an archive folder (see {@link parseLegacyManifest}).
 * When the folder holds several manifest files with different contents, `options.file` must say which.
 *
 * @throws {CoreError} NOT_FOUND when the folder or a manifest in it does not exist; BAD_FORMAT when several
 * different manifests are present and none was chosen, or a manifest is invalid; UNSUPPORTED_VERSION;
 * UNSAFE_PATH (see {@link parseLegacyManifest}).
 */
export async function readLegacyManifestFile(dir: string, options: ReadLegacyManifestOptions = {}): Promise<LegacyManifestFile> {
	if (options.file !== undefined) assertSafeName(options.file);
	let candidates: string[];
	try {
		candidates = options.file === undefined ? await listLegacyManifestFiles(dir) : [options.file];
	} catch (error) {
		throw notFound(dir, error);
	}
	if (candidates.length === 0) {
		throw new CoreError(
			CoreErrorCode.NotFound,
			`${dir} holds no manifest of the original tool (a file named like 11-manifest_021328_241126.json). Download the archive's manifest into it and retry.`,
			{ file: dir }
		);
	}
	const texts = await Promise.all(candidates.map(async (name) => ({ name, text: await readManifestText(path.join(dir, name)) })));
	const distinct = new Map<string, string>();
	for (const { name, text } of texts) {
		const key = JSON.stringify(parseJson(text, name));
		if (!distinct.has(key)) distinct.set(key, name);
	}
	if (distinct.size > 1) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`${dir} holds ${distinct.size} different manifests (${[...distinct.values()].join(', ')}). The original format does not authenticate its file list, so the right one cannot be told from the files: name the one of this archive (--manifest <file>; the index of the archive on Discord records it), or keep only that one in the folder.`,
			{ file: dir }
		);
	}
	const chosen = texts[0]!;
	try {
		return { file: chosen.name, manifest: parseLegacyManifest(parseJson(chosen.text, chosen.name)) };
	} catch (error) {
		if (error instanceof CoreError && error.details.file === undefined) {
			throw new CoreError(error.code, `${chosen.name}: ${error.message}`, { ...error.details, file: chosen.name }, { cause: error.cause });
		}
		throw error;
	}
}

/**
 * Reads the legacy manifest of an archive folder; see {@link readLegacyManifestFile}, which also says which
 * file it came from.
 *
 * @throws {CoreError} as {@link readLegacyManifestFile}.
 */
export async function readLegacyManifest(dir: string, options: ReadLegacyManifestOptions = {}): Promise<LegacyManifest> {
	return (await readLegacyManifestFile(dir, options)).manifest;
}

/**
 * Whether `dir` looks like a download folder of the original tool: a directory holding a manifest candidate
 * that is a JSON object with a `files` object. Cheap and never throws; the manifest is fully validated only
 * when it is read for a restore or a verify, so a damaged one is reported rather than mistaken for "not legacy".
 */
export async function isLegacyArchiveFolder(dir: string): Promise<boolean> {
	try {
		for (const name of await listLegacyManifestFiles(dir)) {
			try {
				const value: unknown = JSON.parse(await readManifestText(path.join(dir, name)));
				if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
					const files = (value as Record<string, unknown>).files;
					if (typeof files === 'object' && files !== null && !Array.isArray(files)) return true;
				}
			} catch {
				// Not this candidate; another may be the manifest.
			}
		}
		return false;
	} catch {
		return false;
	}
}

function encryptionScope(encrypted: boolean, scope: string | undefined): LegacyEncryptionScope {
	if (!encrypted) {
		if (scope !== undefined) throw badManifest(`it names encryption_scope ${JSON.stringify(scope)} but is not encrypted`);
		return 'none';
	}
	if (scope === 'chunk') return 'chunk';
	// The original's reader: `manifest.get("encryption_scope", "file")`.
	if (scope === undefined || scope === 'file') return 'file';
	throw new CoreError(
		CoreErrorCode.UnsupportedVersion,
		`This manifest uses encryption_scope ${JSON.stringify(scope)}; this build reads "chunk" (v3.1) and whole-file (v3.0) archives only.`
	);
}

function chunkEntry(reference: z.infer<typeof chunkReference>, fileId: string, fileName: string): LegacyChunkEntry {
	const name = typeof reference === 'string' ? reference : reference.name;
	const parsed = parseLegacyChunkName(name);
	if (parsed === null)
		throw badManifest(`${JSON.stringify(name)} (a chunk of ${JSON.stringify(fileName)}) is not a chunk name of the original tool`);
	if (parsed.fileId !== fileId)
		throw badManifest(`chunk ${name} belongs to file id ${parsed.fileId}, not to ${JSON.stringify(fileName)} (${fileId})`);
	if (typeof reference !== 'string' && reference.index !== undefined && reference.index !== parsed.index) {
		throw badManifest(`chunk ${name} is listed with index ${reference.index}, but its name says ${parsed.index}`);
	}
	return { ...parsed, size: typeof reference === 'string' ? null : (reference.size ?? null) };
}

function checkChunkCount(scope: LegacyEncryptionScope, name: string, size: number, chunks: number): void {
	const label = JSON.stringify(name);
	if (scope === 'none') {
		// An empty file has no chunk (raw) or holds the gzip of nothing (20 bytes, in as many chunks as the slice size makes).
		if (size > 0 && chunks === 0) throw badManifest(`${label} has ${size} bytes but no chunk`);
		return;
	}
	if (chunks === 0) throw badManifest(`${label} has no chunk (the original wrote at least one for every file, even an empty one)`);
	// v3.1: every chunk but an empty file's holds at least one byte.
	if (scope === 'chunk' && chunks > Math.max(1, size)) throw badManifest(`${label} has ${size} bytes but ${chunks} chunks`);
}

async function readManifestText(file: string): Promise<string> {
	let stats;
	try {
		stats = await lstat(file);
	} catch (error) {
		throw notFound(file, error);
	}
	if (!stats.isFile()) throw new CoreError(CoreErrorCode.BadFormat, `${file} is not a regular file, so it cannot be a manifest.`, { file });
	if (stats.size > LEGACY_MAX_MANIFEST_BYTES) {
		throw new CoreError(CoreErrorCode.BadFormat, `${file} is ${stats.size} bytes, far larger than any manifest of the original tool.`, { file });
	}
	return readFile(file, 'utf8');
}

function parseJson(text: string, name: string): unknown {
	try {
		return JSON.parse(text);
	} catch (error) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`${name} is not valid JSON (${(error as Error).message}); download it again.`,
			{ file: name },
			{ cause: error }
		);
	}
}

function badManifest(reason: string, cause?: unknown): CoreError {
	return new CoreError(
		CoreErrorCode.BadFormat,
		`This legacy manifest cannot be trusted: ${reason}.`,
		{},
		cause === undefined ? undefined : { cause }
	);
}

function notFound(file: string, cause: unknown): CoreError {
	return new CoreError(CoreErrorCode.NotFound, `${file} does not exist or cannot be read. Check the path and retry.`, { file }, { cause });
}
