import { createHash } from 'node:crypto';
import { CoreError, CoreErrorCode } from '../errors.js';
import { throwIfAborted } from '../abort.js';
import { LEGACY_MAX_CHUNK_BYTES } from './chunk.js';
import type { LegacyChunkEntry, LegacyFileEntry, LegacyFormat } from './manifest.js';
import { readLegacyManifestFile } from './manifest.js';
import {
	type LegacyReadOptions,
	type LegacyReadContext,
	describeWrongSize,
	isTagFailure,
	locateLegacyChunks,
	mapInOrder,
	openChunkOfArchive,
	readLegacyChunk,
	sizeError,
	streamBlobFile,
	tamperedByTag
} from './reader.js';

/** Options of {@link verifyLegacyFolder}: with the passphrase, every chunk is also decrypted and inflated (nothing is written). */
export type VerifyLegacyOptions = LegacyReadOptions;

/** One problem found by {@link verifyLegacyFolder}. */
export interface LegacyVerifyProblem {
	/** MISSING_CHUNK, TAMPERED_CHUNK, WRONG_KEY, BAD_FORMAT or HASH_MISMATCH. */
	readonly code: CoreError['code'];
	readonly message: string;
	/** The chunk concerned, when it is one chunk. */
	readonly chunk?: string;
	/** The archived file concerned. */
	readonly file?: string;
}

/** What {@link verifyLegacyFolder} found about one archived file. */
export interface LegacyVerifiedFile {
	readonly name: string;
	readonly size: number;
	/** sha256 of its contents when they were read in full and are right; otherwise `null`. */
	readonly sha256: string | null;
	readonly ok: boolean;
}

/** The result of {@link verifyLegacyFolder}: `ok` only when `problems` is empty. */
export interface LegacyVerifyReport {
	readonly ok: boolean;
	readonly format: LegacyFormat;
	readonly manifestFile: string;
	/** Whether the contents were read (decrypted and inflated where needed), not only the chunk hashes. */
	readonly contentsChecked: boolean;
	readonly chunks: number;
	readonly storedBytes: number;
	readonly files: readonly LegacyVerifiedFile[];
	readonly problems: readonly LegacyVerifyProblem[];
}

/**
 * Checks a legacy archive folder without writing anything and reports every problem, not just the first.
 * Without a passphrase (for an encrypted archive): every chunk is present, has the recorded size and matches
 * the hash in its name. With it (or for a plain v2.x archive): every chunk is also authenticated, decrypted
 * and inflated, and every file's size (and sha256, when `expectedSha256` names it) is checked; the report
 * then carries each file's sha256.
 *
 * A tag that fails on intact bytes counts as an altered chunk when the passphrase opens other chunks of the
 * archive, and as one WRONG_KEY problem when it opens none.
 *
 * @throws {CoreError} only for the folder as a whole: NOT_FOUND (no manifest), BAD_FORMAT,
 * UNSUPPORTED_VERSION or UNSAFE_PATH (manifest), ABORTED.
 */
export async function verifyLegacyFolder(dir: string, options: VerifyLegacyOptions = {}): Promise<LegacyVerifyReport> {
	const { signal } = options;
	throwIfAborted(signal);
	const { manifest, file: manifestFile } = await readLegacyManifestFile(dir, { file: options.manifestFile });
	const problems: LegacyVerifyProblem[] = [];
	const badFiles = new Set<string>();
	const report = (problem: LegacyVerifyProblem) => {
		problems.push(problem);
		if (problem.file !== undefined) badFiles.add(problem.file);
	};

	const { sizes, absent } = await locateLegacyChunks(dir, manifest.files);
	for (const entry of absent) {
		const { chunk, file } = entry;
		report(
			entry.actualSize === null
				? { code: CoreErrorCode.MissingChunk, chunk: chunk.name, file: file.name, message: `Chunk ${chunk.name} is missing.` }
				: { code: CoreErrorCode.TamperedChunk, chunk: chunk.name, file: file.name, message: `Chunk ${describeWrongSize(entry)}.` }
		);
	}

	const contentsChecked = !manifest.encrypted || (options.passphrase !== undefined && options.passphrase.length > 0);
	const chunksTotal = sizes.size;
	const bytesTotal = [...sizes.values()].reduce((sum, size) => sum + size, 0);
	let chunksDone = 0;
	let bytesDone = 0;
	const ctx: LegacyReadContext = {
		dir,
		manifest,
		passphrase: options.passphrase,
		signal,
		storedSizes: sizes,
		keyConfirmed: false,
		onChunkRead: (_chunk, stored) => {
			chunksDone++;
			bytesDone += stored;
			options.onProgress?.({ phase: 'verify', bytesDone, bytesTotal, chunksDone, chunksTotal });
		}
	};
	const present = (file: LegacyFileEntry) => file.chunks.every((chunk) => sizes.has(chunk.name));
	/** Failing tags, classified at the end when we know whether the passphrase opened anything. */
	const tagFailures: { file: LegacyFileEntry; chunk?: LegacyChunkEntry }[] = [];
	const hashes = new Map<string, string>();

	const asProblem = (error: unknown, file: LegacyFileEntry, chunk?: LegacyChunkEntry): LegacyVerifyProblem => {
		if (!(error instanceof CoreError)) throw error;
		if (error.code === CoreErrorCode.Aborted) throw error;
		return { code: error.code, message: error.message, chunk: chunk?.name ?? error.details.file, file: file.name };
	};

	if (!contentsChecked) {
		const jobs = manifest.files.flatMap((file) => file.chunks.filter((chunk) => sizes.has(chunk.name)).map((chunk) => ({ file, chunk })));
		for await (const outcome of mapInOrder(jobs, 4, async ({ file, chunk }) => {
			try {
				await readLegacyChunk(ctx, chunk);
				return undefined;
			} catch (error) {
				return asProblem(error, file, chunk);
			}
		})) {
			if (outcome !== undefined) report(outcome);
		}
	} else if (manifest.scope === 'chunk') {
		const jobs = manifest.files.filter(present).flatMap((file) => file.chunks.map((chunk) => ({ file, chunk })));
		type Outcome = { file: LegacyFileEntry; chunk: LegacyChunkEntry } & ({ plain: Buffer | undefined } | { problem: LegacyVerifyProblem });
		const outcomes = mapInOrder(jobs, 2, async ({ file, chunk }): Promise<Outcome> => {
			try {
				return { file, chunk, plain: await openChunkOfArchive(ctx, chunk, Math.min(file.size, LEGACY_MAX_CHUNK_BYTES)) };
			} catch (error) {
				if (isTagFailure(error)) {
					tagFailures.push({ file, chunk });
					return { file, chunk, plain: undefined };
				}
				return { file, chunk, problem: asProblem(error, file, chunk) };
			}
		});
		let current: { file: LegacyFileEntry; hash: ReturnType<typeof createHash>; size: number; broken: boolean } | undefined;
		const finish = () => {
			if (current === undefined) return;
			if (!current.broken) {
				if (current.size === current.file.size) hashes.set(current.file.name, current.hash.digest('hex'));
				else report(asProblem(sizeError(current.file, `${current.size} bytes`), current.file));
			}
			current = undefined;
		};
		for await (const outcome of outcomes) {
			if (current?.file !== outcome.file) {
				finish();
				current = { file: outcome.file, hash: createHash('sha256'), size: 0, broken: false };
			}
			if ('problem' in outcome) {
				report(outcome.problem);
				current.broken = true;
			} else if (outcome.plain === undefined) {
				current.broken = true;
			} else {
				current.hash.update(outcome.plain);
				current.size += outcome.plain.length;
			}
		}
		finish();
	} else {
		for (const file of manifest.files.filter(present)) {
			const hash = createHash('sha256');
			try {
				await streamBlobFile(ctx, file, (bytes) => {
					hash.update(bytes);
				});
				hashes.set(file.name, hash.digest('hex'));
			} catch (error) {
				if (isTagFailure(error)) tagFailures.push({ file });
				else report(asProblem(error, file));
			}
		}
	}

	if (tagFailures.length > 0) {
		if (ctx.keyConfirmed) {
			for (const { file, chunk } of tagFailures) report(asProblem(tamperedByTag(file, chunk), file, chunk));
		} else {
			problems.push({
				code: CoreErrorCode.WrongKey,
				message: `The passphrase opens no chunk of this archive (${tagFailures.length} tried). Set USER_KEY to the key it was made with and retry.`
			});
			for (const { file } of tagFailures) badFiles.add(file.name);
		}
	}

	for (const [name, expected] of Object.entries(options.expectedSha256 ?? {})) {
		const actual = hashes.get(name);
		if (actual !== undefined && actual !== expected.toLowerCase()) {
			report({
				code: CoreErrorCode.HashMismatch,
				file: name,
				message: `${JSON.stringify(name)} has sha256 ${actual}, not the expected ${expected.toLowerCase()}.`
			});
			hashes.delete(name);
		}
	}

	const files = manifest.files.map((file): LegacyVerifiedFile => {
		const ok = !badFiles.has(file.name) && present(file) && (!contentsChecked || hashes.has(file.name));
		return { name: file.name, size: file.size, sha256: ok ? (hashes.get(file.name) ?? null) : null, ok };
	});
	return {
		ok: problems.length === 0,
		format: manifest.format,
		manifestFile,
		contentsChecked,
		chunks: chunksDone,
		storedBytes: bytesDone,
		files,
		problems
	};
}
