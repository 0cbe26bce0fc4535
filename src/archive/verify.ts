import { createHash } from 'node:crypto';
import {
	CoreError,
	CoreErrorCode,
	forEachConcurrently,
	isCoreError,
	openLegacyChunk,
	parseStagedName,
	throwIfAborted,
	verifyArchive as verifyManifestChunks
} from '../core/index.js';
import { type Archive, ArchiveFormat, ChunkKind, type ChunkRecord, ChunkState, PackState, VerificationLevel } from '../db/index.js';
import { verifyRepositoryArchive } from './download-repository.js';
import { countOf } from './card.js';
import type { ArchiveContext, JobRun } from './context.js';
import { listArchiveAttachments, quickThreadless } from './legacy-messages.js';
import { keptPassphrases } from './repository-keys.js';
import { fetchLegacyManifest, openArchiveManifest } from './thread-manifest.js';
import { chunkFailure, fetchToMemory, type ThreadAttachment, threadRefOf } from './thread-reader.js';

/**
 * Verification (docs/design.md §4, Verify): `quick` checks that every chunk message and attachment the index records is in
 * the thread with its name and size, and that the manifest is there; `full` downloads and hashes every chunk (or a
 * random sample of them) and, with the key, authenticates, decompresses and checks every file, writing no plaintext
 * anywhere. The outcome is stored on the archive (last verification) and bad or missing chunks are marked, so the
 * card shows it and a resume re-posts them.
 */

/** What to verify. */
export interface VerifyRequest {
	/** The archive: `#241126-07`, `241126-07`, a lot number or the uid. */
	readonly archive: string;
	readonly level: VerificationLevel;
	/** For `full`: check only this share of the data chunks, chosen at random (1–100; default 100). */
	readonly samplePercent?: number;
}

/** One chunk (data or manifest part) that failed verification. */
export interface ChunkFinding {
	readonly kind: ChunkKind;
	/** The index in the archive (from 0, as in the chunk's file name); messages for people number chunks from 1. */
	readonly index: number;
	readonly filename: string | null;
	readonly messageId: string | null;
	/** MISSING_CHUNK, TAMPERED_CHUNK, MISPLACED_CHUNK, HASH_MISMATCH, WRONG_KEY… */
	readonly code: string;
	readonly message: string;
}

/** One file whose bytes could not be checked or do not match. */
export interface FileFinding {
	readonly path: string;
	readonly code: string;
	readonly message: string;
}

/** The outcome of {@link verifyArchive}, as stored on the archive and shown on its card. */
export interface VerifyResult {
	readonly archiveId: string;
	readonly lot: number;
	readonly level: VerificationLevel;
	readonly ok: boolean;
	/** The share of data chunks checked (100 unless sampled). */
	readonly samplePercent: number;
	/** Data chunks checked, of the archive's data chunks (manifest parts are not counted: see manifestChecked). */
	readonly chunksChecked: number;
	readonly chunksTotal: number;
	/** Whether the manifest was checked and found (quick: every recorded part present; full: opened). */
	readonly manifestChecked: boolean;
	readonly filesChecked: number;
	readonly chunks: readonly ChunkFinding[];
	readonly files: readonly FileFinding[];
	/** One line for the card: what was checked and what is wrong. */
	readonly summary: string;
}

/**
 * Verifies one archive against what its thread holds, stores the outcome on the archive (level, ok, summary, time)
 * and marks each missing chunk `missing` and each damaged one `bad`.
 *
 * @throws {CoreError} NOT_FOUND (deleted); INVALID_OPTION for a sample outside 1–100; for `full`: NO_KEY, WRONG_KEY
 * (the manifest does not open; for an original-tool archive, an intact chunk opens under no passphrase), MISSING_CHUNK
 * (no manifest at all). Chunk and file problems are reported, not thrown.
 * {@link IndexError} ARCHIVE_NOT_FOUND; TransportError when Discord stays unavailable; ABORTED.
 */
export async function verifyArchive(ctx: ArchiveContext, request: VerifyRequest, run: JobRun): Promise<VerifyResult> {
	const samplePercent = request.samplePercent ?? 100;
	if (!Number.isFinite(samplePercent) || samplePercent <= 0 || samplePercent > 100) {
		throw new CoreError(CoreErrorCode.InvalidOption, `A sample is a share of the chunks from 1 to 100 %, not ${samplePercent}.`);
	}
	const archive = ctx.index.archives.require(request.archive);
	const found = await listArchiveAttachments(ctx, archive, run.signal);
	const { listed } = found;
	run.progress({ archiveId: archive.id, phase: 'verifying', bytesDone: 0, bytesTotal: 0, chunksDone: 0, chunksTotal: archive.chunkCount });
	const outcome =
		request.level === VerificationLevel.Quick
			? found.threadless
				? await quickThreadless(ctx, archive, found, run.signal)
				: archive.format === ArchiveFormat.Dos2
					? quickRepository(ctx, archive, listed)
					: quick(ctx, archive, listed)
			: archive.format === ArchiveFormat.Dos1
				? await fullOurs(ctx, archive, listed, samplePercent, run)
				: archive.format === ArchiveFormat.Dos2
					? await fullRepository(ctx, archive, run)
					: await fullLegacy(ctx, archive, listed, run);
	const ok = outcome.chunks.length === 0 && outcome.files.length === 0;
	const sampled = request.level === VerificationLevel.Full && samplePercent < 100 && archive.format === ArchiveFormat.Dos1;
	const checked = [
		`${outcome.chunksChecked} of ${countOf(outcome.chunksTotal, archive.format === ArchiveFormat.Dos2 ? 'pack' : 'chunk')}${sampled ? ` (a ${samplePercent} % sample)` : ''}`,
		...(outcome.manifestChecked ? ['the manifest'] : []),
		...(outcome.filesChecked > 0 ? [countOf(outcome.filesChecked, 'file')] : [])
	];
	const summary = ok
		? `${request.level} verify passed: ${checked.slice(0, -1).join(', ')}${checked.length > 1 ? ' and ' : ''}${checked.at(-1)!} checked.`
		: `${request.level} verify found ${describe(outcome.chunks, outcome.files)}.`;
	ctx.index.archives.recordVerification(archive.lot, { level: request.level, ok, summary: summary.slice(0, 1000) });
	markFindings(ctx, archive, outcome.chunks);
	run.progress({
		archiveId: archive.id,
		phase: 'done',
		bytesDone: 0,
		bytesTotal: 0,
		chunksDone: outcome.chunksChecked,
		chunksTotal: outcome.chunksChecked,
		note: summary
	});
	return {
		archiveId: archive.id,
		lot: archive.lot,
		level: request.level,
		ok,
		samplePercent: sampled ? samplePercent : 100,
		...outcome,
		summary
	};
}

type Outcome = Pick<VerifyResult, 'chunksChecked' | 'chunksTotal' | 'manifestChecked' | 'filesChecked' | 'chunks' | 'files'>;

/**
 * Every recorded chunk message and attachment is in the thread with its name and size; a manifest is there. Data
 * chunks are counted; the manifest's parts are checked alike but reported apart (`manifestChecked`).
 */
function quick(ctx: ArchiveContext, archive: Archive, listed: readonly ThreadAttachment[]): Outcome {
	const byAttachment = new Map(listed.map((item) => [item.attachment.id, item]));
	const rows = ctx.index.chunks.list(archive.lot);
	const chunks: ChunkFinding[] = [];
	let checked = 0;
	for (const row of rows) {
		if (row.state === ChunkState.Pending || row.state === ChunkState.InFlight) {
			chunks.push(finding(row, CoreErrorCode.MissingChunk, `${label(row)} was never stored: the upload did not finish.`));
			continue;
		}
		if (row.kind === ChunkKind.Data) checked++;
		const item = row.attachmentId === null ? undefined : byAttachment.get(row.attachmentId);
		if (item === undefined) {
			chunks.push(finding(row, CoreErrorCode.MissingChunk, `${label(row)} (message ${row.messageId ?? '?'}) is gone from the thread.`));
		} else if (
			(row.filename !== null && item.attachment.filename !== row.filename) ||
			(row.storedSize !== null && item.attachment.size !== row.storedSize)
		) {
			chunks.push(
				finding(
					row,
					CoreErrorCode.TamperedChunk,
					`${label(row)} (message ${item.messageId}) is listed as ${item.attachment.filename}, ${item.attachment.size} B; the index recorded ${row.filename ?? '?'}, ${row.storedSize ?? '?'} B.`
				)
			);
		}
	}
	const manifestRows = rows.filter((row) => row.kind === ChunkKind.Manifest);
	const manifestInThread = listed.some((item) =>
		archive.format === ArchiveFormat.Dos1
			? parseStagedName(item.attachment.filename)?.kind === 'manifest'
			: /manifest.*\.json$/i.test(item.attachment.filename)
	);
	if (manifestRows.length === 0 && !manifestInThread) {
		chunks.push({
			kind: ChunkKind.Manifest,
			index: 0,
			filename: null,
			messageId: null,
			code: CoreErrorCode.MissingChunk,
			message: `The thread of ${archive.id} holds no manifest.`
		});
	}
	const manifestOk = !chunks.some((item) => item.kind === ChunkKind.Manifest) && (manifestRows.length > 0 || manifestInThread);
	return {
		chunksChecked: checked,
		chunksTotal: rows.length - manifestRows.length,
		manifestChecked: manifestOk,
		filesChecked: 0,
		chunks,
		files: []
	};
}

/**
 * Quick verification of a format 2 archive: its manifest parts as format 1's (see {@link quick}), and every pack its
 * upload posted in its thread with the recorded name and size. Packs of other archives it reuses are checked by a full
 * verification, which fetches them.
 */
function quickRepository(ctx: ArchiveContext, archive: Archive, listed: readonly ThreadAttachment[]): Outcome {
	const manifest = quick(ctx, archive, listed);
	const byAttachment = new Map(listed.map((item) => [item.attachment.id, item]));
	const packs = ctx.index.packs.list(archive.lot);
	const chunks: ChunkFinding[] = [...manifest.chunks];
	for (const [index, pack] of packs.entries()) {
		const item = pack.attachmentId === null ? undefined : byAttachment.get(pack.attachmentId);
		const problem =
			pack.state !== PackState.Stored
				? { code: CoreErrorCode.MissingChunk, message: `Pack ${pack.name} was never stored: the upload did not finish.` }
				: item === undefined || !item.byBot
					? { code: CoreErrorCode.MissingChunk, message: `Pack ${pack.name} (message ${pack.messageId ?? '?'}) is gone from the thread.` }
					: item.attachment.size !== pack.size || item.attachment.filename !== `${pack.name}.pack`
						? {
								code: CoreErrorCode.TamperedChunk,
								message: `Pack ${pack.name} (message ${item.messageId}) is listed as ${item.attachment.filename}, ${item.attachment.size} B; the index recorded ${pack.size} B.`
							}
						: undefined;
		if (problem !== undefined) chunks.push({ kind: ChunkKind.Data, index, filename: `${pack.name}.pack`, messageId: pack.messageId, ...problem });
	}
	return { ...manifest, chunksChecked: packs.length, chunksTotal: packs.length, chunks };
}

/**
 * Full verification of a format 2 archive: every pack holding a blob it references fetched (whichever thread holds it)
 * and checked against its recorded size and sha256, every blob authenticated, every file's sha256 recomputed.
 */
async function fullRepository(ctx: ArchiveContext, archive: Archive, run: JobRun): Promise<Outcome> {
	const result = await verifyRepositoryArchive(ctx, archive, run);
	return {
		chunksChecked: result.packsChecked,
		chunksTotal: result.packsNeeded,
		manifestChecked: true,
		filesChecked: result.files,
		chunks: result.badPacks.map((pack, index) => ({
			kind: ChunkKind.Data,
			index,
			filename: `${pack.name}.pack`,
			messageId: null,
			code: pack.code,
			message: pack.message
		})),
		files: result.badFiles.map((problem) => ({ path: problem.path, code: problem.code, message: problem.message }))
	};
}

/** Full verification of one of our archives: the manifest opened with the key, then every (or a sample of the) chunk. */
async function fullOurs(
	ctx: ArchiveContext,
	archive: Archive,
	listed: readonly ThreadAttachment[],
	samplePercent: number,
	run: JobRun
): Promise<Outcome> {
	const { manifest, key } = await openArchiveManifest(ctx, threadRefOf(archive), listed, run);
	const rows = new Map(ctx.index.chunks.list(archive.lot, { kind: ChunkKind.Data }).map((row) => [row.index, row]));
	const byIndex = new Map<number, ThreadAttachment>();
	for (const item of listed) {
		// Only the bot's own posts are chunks: a look-alike from a webhook or another bot is not checked as one.
		if (!item.byBot) continue;
		const name = parseStagedName(item.attachment.filename);
		if (name?.kind !== 'data' || name.archiveId !== archive.id) continue;
		const recorded = rows.get(name.index)?.attachmentId;
		if (!byIndex.has(name.index) || recorded === item.attachment.id) byIndex.set(name.index, item);
	}
	const source = async (index: number): Promise<Buffer> => {
		const item = byIndex.get(index);
		const record = manifest.chunks[index]!;
		if (item === undefined) {
			throw new CoreError(CoreErrorCode.MissingChunk, `Chunk ${index + 1} is not in the thread of ${archive.id}.`, { chunks: [index] });
		}
		return fetchToMemory(
			ctx,
			threadRefOf(archive),
			item,
			{ index, kind: 'data', expectedSha256: record.sha256, expectedSize: record.storedSize },
			run.signal
		);
	};
	const total = manifest.chunks.length;
	const progress = (done: number, bytesDone: number, bytesTotal: number, chunksTotal: number) => {
		run.progress({ archiveId: archive.id, phase: 'verifying', bytesDone, bytesTotal, chunksDone: done, chunksTotal });
	};
	if (samplePercent >= 100) {
		const report = await verifyManifestChunks({
			manifest,
			key,
			source,
			pool: ctx.pool,
			signal: run.signal,
			onProgress: (event) => {
				progress(event.chunksDone, event.bytesDone, event.bytesTotal, event.chunksTotal);
			}
		});
		return {
			chunksChecked: report.chunksChecked,
			chunksTotal: total,
			manifestChecked: true,
			filesChecked: report.filesChecked,
			chunks: report.badChunks.map((problem) =>
				dataFinding(problem.index, problem.code, problem.message, byIndex.get(problem.index), rows.get(problem.index))
			),
			files: report.badFiles.map((problem) => ({ path: problem.path, code: problem.code, message: problem.message }))
		};
	}
	const sample = pickSample(total, samplePercent);
	const chunks: ChunkFinding[] = [];
	let done = 0;
	const keyBytes = key.exportBytes();
	try {
		await forEachConcurrently(sample, ctx.pool.workers + 1, run.signal, async (index) => {
			const record = manifest.chunks[index]!;
			try {
				await ctx.pool.open(
					{
						sealed: await source(index),
						archiveKey: keyBytes,
						expect: {
							kind: 'data',
							uid: Buffer.from(manifest.uid, 'hex'),
							index,
							archiveSalt: Buffer.from(manifest.kdf.salt, 'hex'),
							label: `Chunk ${index + 1}`
						},
						sha256: record.sha256,
						plainSize: record.plainSize,
						plainSha256: record.plainSha256
					},
					run.signal
				);
			} catch (error) {
				throwIfAborted(run.signal);
				if (!isCoreError(error) || error.code === CoreErrorCode.Aborted) throw error;
				chunks.push(dataFinding(index, error.code, error.message, byIndex.get(index), rows.get(index)));
			}
			progress(++done, 0, 0, sample.length);
		});
	} finally {
		keyBytes.fill(0);
	}
	chunks.sort((a, b) => a.index - b.index);
	return { chunksChecked: sample.length, chunksTotal: total, manifestChecked: true, filesChecked: 0, chunks, files: [] };
}

/** An intact chunk of a legacy archive that no passphrase opens: the verify's key is wrong (WRONG_KEY), not the chunk. */
class WrongKeyForArchive extends CoreError {
	public constructor(message: string) {
		super(CoreErrorCode.WrongKey, message);
	}
}

/**
 * Full verification of a legacy archive: every chunk fetched, checked against the hash in its name and, with the key,
 * authenticated and inflated; every file's size (and sha256, when the index knows it) checked. Nothing is written.
 */
async function fullLegacy(ctx: ArchiveContext, archive: Archive, listed: readonly ThreadAttachment[], run: JobRun): Promise<Outcome> {
	const ref = threadRefOf(archive);
	const fetched = await fetchLegacyManifest(ctx, ref, listed, run.signal);
	const { manifest } = fetched;
	// The first copy of each chunk name posted by whoever posted the manifest read (the original tool's bot), as the
	// rebuild and a download pick it: a later look-alike is someone else's post.
	const manifestAuthor = listed.find((item) => item.messageId === fetched.messageId)?.authorId;
	const byName = new Map<string, ThreadAttachment>();
	for (const item of listed) {
		if (item.authorId === manifestAuthor && !byName.has(item.attachment.filename)) byName.set(item.attachment.filename, item);
	}
	const expected = new Map(
		ctx.index.entries
			.list(archive.lot, { limit: 100_000 })
			.filter((entry) => entry.sha256 !== null)
			.map((entry) => [entry.path, entry.sha256!])
	);
	const passphrase = manifest.encrypted ? ctx.settings.passphrase : undefined;
	if (manifest.encrypted && passphrase === undefined)
		throw new CoreError(CoreErrorCode.NoKey, 'No key: set USER_KEY to verify the contents of this legacy archive.');
	// The passphrase that opened a chunk of this archive: USER_KEY, or one the channel's keys keep from before a
	// `dos key passwd` (read once, as a download tries them); once one opens a chunk, the others are opened with it alone.
	let opener: string | undefined;
	let kept: string[] | undefined;
	const openChunk = async (name: string, bytes: Buffer, maxPlainBytes: number): Promise<Buffer> => {
		const open = (candidate: string) => openLegacyChunk(name, bytes, candidate, { maxPlainBytes, signal: run.signal });
		if (opener !== undefined) return open(opener);
		for (const candidate of [passphrase!, ...(kept ??= await keptPassphrases(ctx, run.signal))]) {
			try {
				const plain = await open(candidate);
				opener = candidate;
				return plain;
			} catch (error) {
				if (!isCoreError(error, CoreErrorCode.WrongKey)) throw error;
			}
		}
		// The chunk's bytes matched the hash in its name (checked before any key) and its poster is the manifest's: it
		// is intact, so the key is wrong, not the chunk. The verify stops here and marks nothing: the chunks are not bad.
		throw new WrongKeyForArchive(
			`USER_KEY opens no chunk of ${archive.id}${kept.length === 0 ? '' : `, nor do the ${kept.length} passphrase(s) the channel's keys keep from before a \`dos key passwd\``}: set USER_KEY to the passphrase it was made with, then verify again. Nothing was marked.`
		);
	};
	const chunks: ChunkFinding[] = [];
	const files: FileFinding[] = [];
	let done = 0;
	for (const file of manifest.files) {
		throwIfAborted(run.signal);
		const hash = createHash('sha256');
		let size = 0;
		let broken = false;
		for (const chunk of file.chunks) {
			const item = byName.get(chunk.name);
			const index = chunk.seq - 1;
			try {
				if (item === undefined) throw new CoreError(CoreErrorCode.MissingChunk, `Chunk ${chunk.name} is not in the thread of ${archive.id}.`);
				const bytes = await fetchToMemory(
					ctx,
					ref,
					item,
					{ index, kind: 'data', expectedSha256: undefined, expectedSize: chunk.size ?? item.attachment.size },
					run.signal
				);
				const plain =
					manifest.scope === 'chunk' && passphrase !== undefined
						? await openChunk(chunk.name, bytes, Math.max(0, file.size - size))
						: undefined;
				if (plain !== undefined) {
					hash.update(plain);
					size += plain.length;
				}
			} catch (error) {
				throwIfAborted(run.signal);
				if (error instanceof WrongKeyForArchive) throw error;
				const named = isCoreError(error) ? error : chunkFailure(error, archive, index, `Chunk ${chunk.name}`, item);
				if (named === undefined) throw error;
				broken = true;
				chunks.push({
					kind: ChunkKind.Data,
					index,
					filename: chunk.name,
					messageId: item?.messageId ?? null,
					code: named.code,
					message: named.message
				});
			}
			run.progress({
				archiveId: archive.id,
				phase: 'verifying',
				bytesDone: 0,
				bytesTotal: 0,
				chunksDone: ++done,
				chunksTotal: manifest.totals.chunks
			});
		}
		if (broken) {
			files.push({ path: file.name, code: CoreErrorCode.TamperedChunk, message: `${file.name} is unverifiable: a chunk of it is bad.` });
		} else if (manifest.scope === 'chunk') {
			const sha = hash.digest('hex');
			if (size !== file.size || (expected.has(file.name) && expected.get(file.name) !== sha)) {
				files.push({
					path: file.name,
					code: CoreErrorCode.HashMismatch,
					message: `${file.name} does not restore to its recorded size or sha256.`
				});
			}
		}
	}
	return {
		chunksChecked: done,
		chunksTotal: manifest.totals.chunks,
		manifestChecked: true,
		filesChecked: manifest.scope === 'chunk' ? manifest.files.length : 0,
		chunks,
		files
	};
}

/** Marks what verification found in the index: gone chunks `missing`, damaged ones `bad`. */
function markFindings(ctx: ArchiveContext, archive: Archive, findings: readonly ChunkFinding[]): void {
	const known = new Set(ctx.index.chunks.list(archive.lot).map((row) => `${row.kind}:${row.index}`));
	const keys = (code: string) =>
		findings
			.filter((item) => item.code === code && known.has(`${item.kind}:${item.index}`))
			.map((item) => ({ kind: item.kind, index: item.index }));
	const missing = keys(CoreErrorCode.MissingChunk);
	const bad = findings
		.filter((item) => item.code !== CoreErrorCode.MissingChunk && known.has(`${item.kind}:${item.index}`))
		.map((item) => ({ kind: item.kind, index: item.index }));
	if (missing.length > 0) ctx.index.chunks.markState(archive.lot, missing, ChunkState.Missing);
	if (bad.length > 0) ctx.index.chunks.markState(archive.lot, bad, ChunkState.Bad);
}

/** A random sample of `percent` % of `total` chunk indexes (at least one), ascending. */
function pickSample(total: number, percent: number): number[] {
	const size = Math.min(total, Math.max(1, Math.ceil((total * percent) / 100)));
	const indexes = Array.from({ length: total }, (_, index) => index);
	for (let i = indexes.length - 1; i > 0; i--) {
		const j = Math.floor(Math.random() * (i + 1));
		[indexes[i], indexes[j]] = [indexes[j]!, indexes[i]!];
	}
	return indexes.slice(0, size).sort((a, b) => a - b);
}

function finding(row: ChunkRecord, code: string, message: string): ChunkFinding {
	return { kind: row.kind, index: row.index, filename: row.filename, messageId: row.messageId, code, message };
}

function dataFinding(index: number, code: string, message: string, item: ThreadAttachment | undefined, row: ChunkRecord | undefined): ChunkFinding {
	return {
		kind: ChunkKind.Data,
		index,
		filename: item?.attachment.filename ?? row?.filename ?? null,
		messageId: item?.messageId ?? row?.messageId ?? null,
		code,
		message: item === undefined || message.includes(item.messageId) ? message : `${message} (message ${item.messageId})`
	};
}

/** A chunk as people count it: from 1. */
function label(row: ChunkRecord): string {
	return row.kind === ChunkKind.Data ? `Chunk ${row.index + 1}` : `Manifest part ${row.index + 1}`;
}

function describe(chunks: readonly ChunkFinding[], files: readonly FileFinding[]): string {
	const parts: string[] = [];
	const missing = chunks.filter((item) => item.code === CoreErrorCode.MissingChunk);
	const bad = chunks.filter((item) => item.code !== CoreErrorCode.MissingChunk);
	const list = (items: readonly ChunkFinding[]) =>
		items
			.slice(0, 20)
			.map((item) => (item.kind === ChunkKind.Data ? String(item.index + 1) : `manifest part ${item.index + 1}`))
			.join(', ') + (items.length > 20 ? '…' : '');
	if (missing.length > 0) parts.push(`${missing.length} missing chunk(s) (${list(missing)})`);
	if (bad.length > 0) parts.push(`${bad.length} bad chunk(s) (${list(bad)})`);
	if (files.length > 0) parts.push(`${files.length} file(s) that do not check out`);
	return parts.join(', ');
}
