import { type DecipherGCM, createDecipheriv } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { CoreError, CoreErrorCode, isCoreError } from '../errors.js';
import { assertLegacyChunkBytes } from './chunk-name.js';
import {
	LEGACY_MAX_CHUNK_BYTES,
	LEGACY_MAX_GZIP_RATIO,
	LEGACY_NONCE_BYTES,
	LEGACY_SALT_BYTES,
	LEGACY_SEAL_OVERHEAD,
	LEGACY_TAG_BYTES,
	decryptLegacyBlob,
	deriveLegacyKey,
	gunzipLegacyPayload,
	legacyAuthenticationError
} from './chunk.js';
import { throwIfAborted } from '../abort.js';
import type { LegacyChunkEntry, LegacyFileEntry, LegacyManifest } from './manifest.js';
import type { ProgressEvent } from '../progress.js';

/**
 * The shared machinery of restore and verify: locating chunk files, reading and checking them, opening them
 * in the three legacy layouts, and telling a wrong passphrase from an altered chunk.
 */

/**
 * Progress of a legacy restore (`phase: 'assemble'`) or verify (`'verify'`), in stored (downloaded) bytes and
 * chunks: the engine's progress event, with the file being worked on.
 */
export interface LegacyProgress extends ProgressEvent {
	readonly file?: string;
}

/** What reading a legacy folder takes, whether to restore it or to verify it. */
export interface LegacyReadOptions {
	/** USER_KEY of the original tool; needed to decrypt encrypted (v3.x) archives. */
	readonly passphrase?: string;
	/** Expected sha256 (hex) by file name, e.g. from an index, checked when the contents are read. */
	readonly expectedSha256?: Readonly<Record<string, string>>;
	/** The manifest's file name when the folder holds several. */
	readonly manifestFile?: string;
	readonly signal?: AbortSignal;
	readonly onProgress?: (progress: LegacyProgress) => void;
}

/** Receives a file's plaintext in order. */
export type PlaintextSink = (bytes: Buffer) => Promise<void> | void;

export interface LegacyReadContext {
	readonly dir: string;
	readonly manifest: LegacyManifest;
	readonly passphrase: string | undefined;
	readonly signal: AbortSignal | undefined;
	/** Stored size on disk of every present chunk, by name (from {@link locateLegacyChunks}). */
	readonly storedSizes: ReadonlyMap<string, number>;
	/** Set once any blob authenticated under the passphrase: from then on a failing tag means an altered chunk. */
	keyConfirmed: boolean;
	/** Called after each chunk's stored bytes were read and checked. */
	readonly onChunkRead: (chunk: LegacyChunkEntry, storedBytes: number) => void;
}

/** Where a chunk failed the presence or size check. */
export interface LegacyChunkAbsence {
	readonly chunk: LegacyChunkEntry;
	readonly file: LegacyFileEntry;
	/** `null` when the chunk is missing; its size on disk when that differs from the manifest. */
	readonly actualSize: number | null;
}

/** Stats every chunk of `files` in `dir`: which are present (with their sizes), missing, or of the wrong size. */
export async function locateLegacyChunks(
	dir: string,
	files: readonly LegacyFileEntry[]
): Promise<{ sizes: Map<string, number>; absent: LegacyChunkAbsence[] }> {
	const sizes = new Map<string, number>();
	const absent: LegacyChunkAbsence[] = [];
	const jobs = files.flatMap((file) => file.chunks.map((chunk) => ({ file, chunk })));
	for await (const { file, chunk, size } of mapInOrder(jobs, 16, async ({ file, chunk }) => ({
		file,
		chunk,
		size: await storedSize(dir, chunk.name)
	}))) {
		if (size === null) absent.push({ chunk, file, actualSize: null });
		else if ((chunk.size !== null && chunk.size !== size) || size > LEGACY_MAX_CHUNK_BYTES) absent.push({ chunk, file, actualSize: size });
		else sizes.set(chunk.name, size);
	}
	return { sizes, absent };
}

/** The error for chunks that are missing or of the wrong size, naming them all. */
export function absenceError(dir: string, absent: readonly LegacyChunkAbsence[]): CoreError {
	const missing = absent.filter((entry) => entry.actualSize === null);
	const names = (entries: readonly LegacyChunkAbsence[]) =>
		entries
			.slice(0, 20)
			.map((entry) => entry.chunk.name)
			.join(', ') + (entries.length > 20 ? ` and ${entries.length - 20} more` : '');
	if (missing.length > 0) {
		return new CoreError(
			CoreErrorCode.MissingChunk,
			`${missing.length} chunk(s) of this archive are not in ${dir}: ${names(missing)}. Download them again (the archive's thread holds them) and retry.`,
			{ file: missing[0]!.chunk.name, paths: [...new Set(missing.map((entry) => entry.file.name))] }
		);
	}
	const first = absent[0]!;
	return new CoreError(
		CoreErrorCode.TamperedChunk,
		`${absent.length} chunk(s) in ${dir} do not have the size the manifest records: ${names(absent)} (${describeWrongSize(first)}). Download them again and retry.`,
		{ file: first.chunk.name, paths: [...new Set(absent.map((entry) => entry.file.name))] }
	);
}

/** Why a present chunk's size is wrong, in words. */
export function describeWrongSize({ chunk, actualSize }: LegacyChunkAbsence): string {
	return chunk.size === null
		? `${chunk.name} is ${actualSize} bytes, more than the ${LEGACY_MAX_CHUNK_BYTES} a chunk can be`
		: `${chunk.name} is ${actualSize} bytes, the manifest says ${chunk.size}`;
}

/**
 * Reads one chunk's stored bytes and checks them against its name's hash.
 *
 * @throws {CoreError} MISSING_CHUNK when it vanished; TAMPERED_CHUNK when its size or hash is wrong.
 */
export async function readLegacyChunk(ctx: LegacyReadContext, chunk: LegacyChunkEntry): Promise<Buffer> {
	throwIfAborted(ctx.signal);
	const file = path.join(ctx.dir, chunk.name);
	let bytes: Buffer;
	try {
		bytes = await readFile(file);
	} catch (error) {
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			`Chunk ${chunk.name} is not in ${ctx.dir} (or cannot be read). Download it again and retry.`,
			{ file: chunk.name },
			{ cause: error }
		);
	}
	const expected = ctx.storedSizes.get(chunk.name) ?? chunk.size;
	// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- sizes come from the original tool's untrusted files
	if (expected !== null && expected !== undefined && bytes.length !== expected) {
		throw new CoreError(
			CoreErrorCode.TamperedChunk,
			`Chunk ${chunk.name} is ${bytes.length} bytes, but ${expected} were expected. Download it again and retry.`,
			{ file: chunk.name }
		);
	}
	assertLegacyChunkBytes(chunk.name, bytes);
	ctx.onChunkRead(chunk, bytes.length);
	return bytes;
}

/**
 * Opens one chunk of a v3.1 archive: read, hash check, derive, authenticate, gunzip (at most `maxPlainBytes`).
 *
 * @throws {CoreError} as {@link readLegacyChunk}; WRONG_KEY on a failing tag (not yet classified, see
 * {@link classifyTagFailure}); BAD_FORMAT; NO_KEY without a passphrase; ABORTED.
 */
export async function openChunkOfArchive(ctx: LegacyReadContext, chunk: LegacyChunkEntry, maxPlainBytes: number): Promise<Buffer> {
	const passphrase = requirePassphrase(ctx);
	const bytes = await readLegacyChunk(ctx, chunk);
	const compressed = await decryptLegacyBlob(bytes, passphrase, chunk.name, ctx.signal);
	ctx.keyConfirmed = true;
	return gunzipLegacyPayload(compressed, chunk.name, maxPlainBytes);
}

/**
 * Streams one file of a v3.0 (whole-file blob) or v2.x (plain) archive into `sink`, checking every chunk's
 * hash as it is read and the file's size at the end. v3.1 files go through {@link openChunkOfArchive}.
 *
 * For v3.0 the blob is decrypted as a stream and its tag can only be checked at the end, so plaintext
 * reaches the sink before it is authenticated: callers write it to a temporary file only. When the inflated
 * data turns out not to be gzip, the rest of the blob is still decrypted (and discarded) to see whether the
 * tag verifies, because a wrong passphrase shows first as garbage that does not inflate.
 *
 * @throws {CoreError} MISSING_CHUNK, TAMPERED_CHUNK (hash or size), WRONG_KEY (tag; see
 * {@link classifyTagFailure}), BAD_FORMAT (not gzip, or the wrong number of bytes), NO_KEY, ABORTED.
 */
export async function streamBlobFile(ctx: LegacyReadContext, file: LegacyFileEntry, sink: PlaintextSink): Promise<void> {
	assertPlausibleSize(ctx.manifest, file, ctx.storedSizes);
	let written = 0;
	const counted: PlaintextSink = async (bytes) => {
		written += bytes.length;
		if (written > file.size) throw sizeError(file, `more than its ${file.size} bytes`);
		await sink(bytes);
	};
	if (ctx.manifest.scope === 'file') {
		await inflateStream(ctx, file, decryptFileBlob(ctx, file), counted);
	} else {
		const storedTotal = file.chunks.reduce((sum, chunk) => sum + (ctx.storedSizes.get(chunk.name) ?? chunk.size ?? 0), 0);
		if (storedTotal === file.size) {
			// v2.x as its slicer wrote it: the raw bytes, cut.
			for (const chunk of file.chunks) await counted(await readLegacyChunk(ctx, chunk));
		} else {
			const chunks = file.chunks;
			await inflateStream(
				ctx,
				file,
				(async function* plainChunks() {
					for (const chunk of chunks) yield await readLegacyChunk(ctx, chunk);
				})(),
				counted
			);
		}
	}
	if (written !== file.size) throw sizeError(file, `${written} bytes`);
}

/**
 * Checks the size a manifest claims for a file against what its chunks can hold: their stored bytes as they are (plain
 * v2.x slices), or at most {@link LEGACY_MAX_GZIP_RATIO} times their compressed bytes. A plain v2.x manifest is
 * anyone's to write, and its gzip chunks would otherwise inflate to whatever it claims, until the disk is full.
 *
 * @throws {CoreError} BAD_FORMAT (damaged archive) when the claim is more than the chunks can inflate to.
 */
export function assertPlausibleSize(manifest: Pick<LegacyManifest, 'scope'>, file: LegacyFileEntry, storedSizes: ReadonlyMap<string, number>): void {
	const stored = file.chunks.reduce((sum, chunk) => sum + (storedSizes.get(chunk.name) ?? chunk.size ?? 0), 0);
	let compressed: number;
	if (manifest.scope === 'chunk') compressed = stored - file.chunks.length * LEGACY_SEAL_OVERHEAD;
	else if (manifest.scope === 'file') compressed = stored - LEGACY_SEAL_OVERHEAD;
	else if (stored === file.size) return;
	else compressed = stored;
	if (file.size > Math.max(0, compressed) * LEGACY_MAX_GZIP_RATIO) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`${JSON.stringify(file.name)} is said to hold ${file.size} bytes, but its chunks hold ${stored} bytes, which cannot inflate to that much: the manifest and the chunks disagree (the archive is damaged or its manifest was altered). Nothing of it is written. Download the archive again, or report it.`,
			{ file: file.chunks[0]?.name, paths: [file.name] }
		);
	}
}

/**
 * Decides what a failing tag means. The name hash matched, so the bytes are what was uploaded — unless
 * someone renamed an altered chunk to match. One passphrase seals a whole archive: if it opened another
 * blob, this one was altered (TAMPERED_CHUNK); if nothing opens, the passphrase is wrong (WRONG_KEY).
 * When no other blob has been opened yet, this probes the smallest one (one more PBKDF2, only on failure).
 */
export async function classifyTagFailure(
	ctx: LegacyReadContext,
	failed: CoreError,
	failedFile: LegacyFileEntry,
	failedChunk?: LegacyChunkEntry
): Promise<CoreError> {
	if (!ctx.keyConfirmed) await probeKey(ctx, failedFile, failedChunk);
	return ctx.keyConfirmed ? tamperedByTag(failedFile, failedChunk) : failed;
}

/** The error for a blob that fails authentication while the passphrase opens the rest of the archive. */
export function tamperedByTag(file: LegacyFileEntry, chunk?: LegacyChunkEntry): CoreError {
	if (chunk !== undefined) {
		return new CoreError(
			CoreErrorCode.TamperedChunk,
			`Chunk ${chunk.name} (of ${JSON.stringify(file.name)}) fails authentication although the passphrase opens this archive: it was altered. Download it again and retry.`,
			{ file: chunk.name, paths: [file.name] }
		);
	}
	return new CoreError(
		CoreErrorCode.TamperedChunk,
		`${JSON.stringify(file.name)} fails authentication although the passphrase opens this archive: one of its chunks (${file.chunks.map((entry) => entry.name).join(', ')}) was altered. Download them again and retry.`,
		{ file: file.chunks[0]?.name, paths: [file.name] }
	);
}

/** Whether an error is an unclassified failing tag from this module. */
export function isTagFailure(error: unknown): error is CoreError {
	return isCoreError(error, CoreErrorCode.WrongKey);
}

/**
 * Runs `task` over `items` with at most `concurrency` tasks ahead of the consumer, yielding results in order.
 * When the consumer stops early, it waits for the tasks still running so none outlives the caller's work.
 */
export async function* mapInOrder<T, R>(items: readonly T[], concurrency: number, task: (item: T) => Promise<R>): AsyncGenerator<R> {
	const running: Promise<R>[] = [];
	let next = 0;
	try {
		while (next < items.length || running.length > 0) {
			while (running.length < concurrency && next < items.length) {
				const promise = task(items[next++]!);
				// Failures are observed when their turn comes; this only keeps an early one from being reported as unhandled.
				promise.catch(() => undefined);
				running.push(promise);
			}
			yield await running.shift()!;
		}
	} finally {
		await Promise.allSettled(running);
	}
}

export function requirePassphrase(ctx: LegacyReadContext): string {
	if (ctx.passphrase === undefined || ctx.passphrase.length === 0) throw noKeyError();
	return ctx.passphrase;
}

export function noKeyError(): CoreError {
	return new CoreError(
		CoreErrorCode.NoKey,
		'This legacy archive is encrypted: set USER_KEY to the key it was made with (export USER_KEY=… or a USER_KEY=… line in .env) and retry.'
	);
}

export function sizeError(file: LegacyFileEntry, got: string): CoreError {
	return new CoreError(
		CoreErrorCode.BadFormat,
		`${JSON.stringify(file.name)} restores to ${got}, but the manifest says ${file.size} bytes: the manifest and the chunks disagree. Download the archive again, or report it.`,
		{ file: file.chunks[0]?.name, paths: [file.name] }
	);
}

async function storedSize(dir: string, name: string): Promise<number | null> {
	try {
		const stats = await stat(path.join(dir, name));
		return stats.isFile() ? stats.size : null;
	} catch {
		return null;
	}
}

/**
 * The v3.0 blob of one file as a stream of decrypted (not yet authenticated) bytes: the salt and nonce come
 * from the start of the first chunk, the tag from the end of the last; the tag is checked when the stream ends.
 */
async function* decryptFileBlob(ctx: LegacyReadContext, file: LegacyFileEntry): AsyncGenerator<Buffer> {
	const passphrase = requirePassphrase(ctx);
	const headerBytes = LEGACY_SALT_BYTES + LEGACY_NONCE_BYTES;
	let decipher: DecipherGCM | undefined;
	let pending = Buffer.alloc(0);
	for (const chunk of file.chunks) {
		pending = Buffer.concat([pending, await readLegacyChunk(ctx, chunk)]);
		if (decipher === undefined) {
			if (pending.length < headerBytes) continue;
			const key = await deriveLegacyKey(passphrase, pending.subarray(0, LEGACY_SALT_BYTES), ctx.signal);
			decipher = createDecipheriv('aes-256-gcm', key, pending.subarray(LEGACY_SALT_BYTES, headerBytes));
			pending = pending.subarray(headerBytes);
		}
		// The last 16 bytes seen so far may be the tag: keep them back.
		if (pending.length > LEGACY_TAG_BYTES) {
			const plain = decipher.update(pending.subarray(0, pending.length - LEGACY_TAG_BYTES));
			pending = Buffer.from(pending.subarray(pending.length - LEGACY_TAG_BYTES));
			if (plain.length > 0) yield plain;
		}
	}
	if (decipher === undefined || pending.length < LEGACY_TAG_BYTES) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`The chunks of ${JSON.stringify(file.name)} are too short to hold an encrypted file of the original tool.`,
			{ file: file.chunks[0]?.name, paths: [file.name] }
		);
	}
	decipher.setAuthTag(pending);
	let rest: Buffer;
	try {
		rest = decipher.final();
	} catch (error) {
		throw legacyAuthenticationError(`the chunks of ${JSON.stringify(file.name)}`, error);
	}
	ctx.keyConfirmed = true;
	if (rest.length > 0) yield rest;
}

/**
 * Inflates a gzip stream coming from `source` into `sink`. If inflating fails, `source` is still read to its
 * end (its own checks — the tag of a v3.0 blob — decide the error); only when it ends cleanly is the failure
 * reported as BAD_FORMAT.
 */
async function inflateStream(ctx: LegacyReadContext, file: LegacyFileEntry, source: AsyncGenerator<Buffer>, sink: PlaintextSink): Promise<void> {
	const gunzip = createGunzip();
	let inflateError: unknown;
	const consumer = (async () => {
		for await (const piece of gunzip) {
			throwIfAborted(ctx.signal);
			await sink(piece as Buffer);
		}
	})();
	consumer.catch((error: unknown) => {
		inflateError ??= error;
		gunzip.destroy();
	});
	gunzip.on('error', (error) => {
		inflateError ??= error;
	});
	try {
		for (;;) {
			const next = await source.next();
			if (next.done === true) break;
			if (inflateError !== undefined || gunzip.destroyed) continue;
			if (!gunzip.write(next.value)) await settled(gunzip);
		}
	} catch (error) {
		gunzip.destroy();
		await consumer.catch(() => undefined);
		throw error;
	}
	if (inflateError === undefined && !gunzip.destroyed) gunzip.end();
	await consumer.catch(() => undefined);
	if (inflateError !== undefined) {
		if (inflateError instanceof CoreError) throw inflateError;
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`${JSON.stringify(file.name)} is authentic but does not inflate as gzip data as the original tool wrote it. Download the archive again, or report it.`,
			{ file: file.chunks[0]?.name, paths: [file.name] },
			{ cause: inflateError }
		);
	}
}

async function probeKey(ctx: LegacyReadContext, failedFile: LegacyFileEntry, failedChunk?: LegacyChunkEntry): Promise<void> {
	const passphrase = requirePassphrase(ctx);
	if (ctx.manifest.scope === 'chunk') {
		// Any chunk of the archive will do, not only those being restored; the smallest recorded ones read fastest.
		const candidates = ctx.manifest.files
			.flatMap((file) => file.chunks)
			.filter((chunk) => chunk.name !== failedChunk?.name)
			.sort((a, b) => (a.size ?? Number.MAX_SAFE_INTEGER) - (b.size ?? Number.MAX_SAFE_INTEGER))
			.slice(0, 3);
		for (const chunk of candidates) {
			try {
				const file = path.join(ctx.dir, chunk.name);
				if ((await stat(file)).size > LEGACY_MAX_CHUNK_BYTES) continue;
				const bytes = await readFile(file);
				assertLegacyChunkBytes(chunk.name, bytes);
				await decryptLegacyBlob(bytes, passphrase, chunk.name, ctx.signal);
				ctx.keyConfirmed = true;
				return;
			} catch (error) {
				// A tag failure here says the passphrase is wrong too; anything else says nothing: try another.
				if (isTagFailure(error)) return;
				if (isCoreError(error, CoreErrorCode.Aborted)) throw error;
			}
		}
		return;
	}
	if (ctx.manifest.scope === 'file') {
		const others = ctx.manifest.files.filter((file) => file !== failedFile && file.chunks.length > 0);
		const { sizes } = await locateLegacyChunks(ctx.dir, others);
		const complete = others.filter((file) => file.chunks.every((chunk) => sizes.has(chunk.name)));
		const blobSize = (file: LegacyFileEntry) => file.chunks.reduce((sum, chunk) => sum + (sizes.get(chunk.name) ?? 0), 0);
		const candidate = complete.sort((a, b) => blobSize(a) - blobSize(b))[0];
		if (candidate === undefined || blobSize(candidate) > LEGACY_MAX_CHUNK_BYTES) return;
		const probe: LegacyReadContext = { ...ctx, storedSizes: sizes, onChunkRead: () => undefined };
		try {
			for await (const _ of decryptFileBlob(probe, candidate)) {
				// Only the tag matters.
			}
		} catch (error) {
			if (isCoreError(error, CoreErrorCode.Aborted)) throw error;
		}
		if (probe.keyConfirmed) ctx.keyConfirmed = true;
	}
}

/** Resolves when a stream can take more data, or will never again. */
async function settled(stream: NodeJS.EventEmitter): Promise<void> {
	await new Promise<void>((resolve) => {
		const done = () => {
			stream.off('drain', done);
			stream.off('close', done);
			stream.off('error', done);
			resolve();
		};
		stream.on('drain', done);
		stream.on('close', done);
		stream.on('error', done);
	});
}
