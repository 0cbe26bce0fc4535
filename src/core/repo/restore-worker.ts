import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, fchmodSync, futimesSync, lstatSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { CoreError, CoreErrorCode, fromFsError, isCoreError } from '../errors.js';
import { noteBufferChurn } from '../memory.js';
import { openBlob } from './blob.js';
import { TURN_BYTES, turnForFinalizers } from './codec.js';
import type { Codec } from './codec.js';

/**
 * The worker side of format 2 restores and checks: a task names a few files and where their blobs lie in the packs;
 * the worker reads the pack ranges, opens the blobs, and writes (or only hashes) each file, all with synchronous
 * calls on its own thread, so that the calling thread only plans and keeps no plaintext.
 */

/** Plaintext bytes of blobs opened at once for one large file. */
export const RESTORE_BATCH_BYTES = 4 * 1024 * 1024;

/** A blob to read and open: what the pack header records of it, and where it lies. */
export interface RestoreRecord {
	/** The blob id, hex. */
	readonly id: string;
	readonly storedLength: number;
	readonly rawLength: number;
	readonly codec: Codec;
	/** Index in the task's `packs`. */
	readonly pack: number;
	readonly offset: number;
}

/** A file of a task, its blobs by index in the task's `records` (-1: a blob no pack holds, already reported). */
export interface RestoreFileSpec {
	/** The manifest path, for messages. */
	readonly path: string;
	readonly blobs: readonly number[];
	readonly sha256: string;
	/** Restores only: the file's folder (made and checked by the caller, never a symlink) and its final path in it. */
	readonly parent?: string;
	readonly target?: string;
	/** Restores only: the permission bits to give it (already masked) and its mtime. */
	readonly mode?: number;
	readonly mtimeMs?: number;
}

/** Format 2: restore (`restoreFiles`) or check (`verifyFiles`) a few files whose blobs the worker reads itself. */
export interface FilesTask {
	readonly op: 'restoreFiles' | 'verifyFiles';
	readonly blobKey: Uint8Array;
	readonly idKey: Uint8Array;
	/** Absolute paths of the packs the records lie in. */
	readonly packs: readonly string[];
	readonly records: readonly RestoreRecord[];
	readonly files: readonly RestoreFileSpec[];
	/** Restores: replace a file that appeared at a target meanwhile. */
	readonly overwrite?: boolean;
	/**
	 * Restores: a file that a bad blob or its own sha256 costs is passed over (its temporary file removed) and the task
	 * goes on with the next one; every blob of such a file is still read, so that `failed` names all of its bad ones.
	 */
	readonly salvage?: boolean;
	/** An Int32 the caller sets to 1 to stop: checked between files and batches (a temporary file is removed). */
	readonly stop?: SharedArrayBuffer;
}

/** What a files task reports (errors of a file being written are thrown as CoreErrors). */
export interface FilesResult {
	/**
	 * Blobs that did not open, by index in `records`. A restore stops at the first batch that holds one (a salvage
	 * restore does not: the files that use them are passed over).
	 */
	readonly failed: { index: number; code: string; message: string }[];
	/** Checks and salvage restores: files (by index in `files`) whose blobs opened but whose sha256 differs. */
	readonly mismatched: number[];
	/** Files restored or checked whole. */
	readonly done: number;
}

let tempPrefix = '';
let tempCounter = 0;

/** A fresh temporary name: random per 4096 files (a random draw per file costs more than writing a small one). */
function tempName(): string {
	if (tempPrefix === '' || tempCounter >= 0xfff) {
		tempPrefix = randomBytes(6).toString('hex');
		tempCounter = 0;
	}
	return `${tempPrefix}${(tempCounter++).toString(16).padStart(3, '0')}`;
}

/** Thrown inside a restore when a blob of the file being written did not open: the file is abandoned. */
class BlobsFailed extends Error {}

/** Runs a files task (see {@link FilesTask}). */
export async function runFilesTask(task: FilesTask): Promise<FilesResult> {
	const salvage = task.op === 'restoreFiles' && task.salvage === true;
	const keys = { blobSeal: task.blobKey, blobId: task.idKey };
	const failed: FilesResult['failed'] = [];
	const bad = new Set<number>([-1]);
	const mismatched: number[] = [];
	const loaded = new Map<number, Buffer>();
	const stop = task.stop === undefined ? undefined : new Int32Array(task.stop);
	const checkStop = () => {
		if (stop !== undefined && Atomics.load(stop, 0) !== 0) throw new CoreError(CoreErrorCode.Aborted, 'Stopped on request.');
	};

	/** Reads (coalesced, pack by pack) and opens the records not loaded yet; failures are recorded. */
	const load = async (indices: Iterable<number>) => {
		await turnForFinalizers();
		const wanted = [...new Set(indices)].filter((index) => index >= 0 && !loaded.has(index) && !bad.has(index));
		wanted.sort((a, b) => {
			const x = task.records[a]!;
			const y = task.records[b]!;
			return x.pack === y.pack ? x.offset - y.offset : x.pack - y.pack;
		});
		const sealedBytes = wanted.reduce((sum, index) => sum + task.records[index]!.storedLength, 0);
		// The previous batch's buffers (read and opened) are dropped by now.
		noteBufferChurn(sealedBytes + wanted.reduce((sum, index) => sum + task.records[index]!.rawLength, 0));
		const sealed = Buffer.allocUnsafe(sealedBytes);
		const at = new Map<number, number>();
		let filled = 0;
		for (let first = 0; first < wanted.length;) {
			const pack = task.records[wanted[first]!]!.pack;
			let last = first;
			while (last < wanted.length && task.records[wanted[last]!]!.pack === pack) last++;
			let fd: number | undefined;
			try {
				fd = openSync(task.packs[pack]!, fsConstants.O_RDONLY);
			} catch {
				for (const index of wanted.slice(first, last)) {
					bad.add(index);
					failed.push({ index, code: CoreErrorCode.MissingChunk, message: `Pack ${path.basename(task.packs[pack]!)} is missing.` });
				}
				first = last;
				continue;
			}
			try {
				for (let run = first; run < last;) {
					let end = run + 1;
					const recordAt = (position: number) => task.records[wanted[position]!]!;
					while (end < last && recordAt(end).offset === recordAt(end - 1).offset + recordAt(end - 1).storedLength) end++;
					const start = recordAt(run).offset;
					const length = recordAt(end - 1).offset + recordAt(end - 1).storedLength - start;
					let got = 0;
					while (got < length) {
						const read = readSync(fd, sealed, filled + got, length - got, start + got);
						if (read === 0) break;
						got += read;
					}
					// A short pack: the missing bytes fail authentication like any damage.
					if (got < length) sealed.fill(0, filled + got, filled + length);
					for (let position = run; position < end; position++) {
						at.set(wanted[position]!, filled);
						filled += recordAt(position).storedLength;
					}
					run = end;
				}
			} finally {
				closeSync(fd);
			}
			first = last;
		}
		let sinceTurn = 0;
		for (const index of wanted) {
			const offset = at.get(index);
			if (offset === undefined) continue;
			const record = task.records[index]!;
			sinceTurn += record.rawLength;
			if (sinceTurn >= TURN_BYTES) {
				sinceTurn = 0;
				await turnForFinalizers();
			}
			try {
				loaded.set(
					index,
					await openBlob(
						keys,
						Buffer.from(record.id, 'hex'),
						sealed.subarray(offset, offset + record.storedLength),
						record.codec,
						record.rawLength,
						// A restore checks every file's sha256 before it keeps the file; a check recomputes each id.
						{ checkId: task.op === 'verifyFiles' }
					)
				);
			} catch (error) {
				bad.add(index);
				failed.push({
					index,
					code: error instanceof CoreError ? error.code : CoreErrorCode.TamperedChunk,
					message: error instanceof Error ? error.message : String(error)
				});
			}
		}
	};

	/** Blobs (by index in `records`) cut into batches of about {@link RESTORE_BATCH_BYTES} plaintext bytes, in order. */
	const batches = (indices: readonly number[]): number[][] => {
		const out: number[][] = [];
		let current: number[] = [];
		let bytes = 0;
		for (const index of indices) {
			const size = index >= 0 ? task.records[index]!.rawLength : 0;
			if (current.length > 0 && bytes + size > RESTORE_BATCH_BYTES) {
				out.push(current);
				current = [];
				bytes = 0;
			}
			current.push(index);
			bytes += size;
		}
		if (current.length > 0) out.push(current);
		return out;
	};

	// A check of blobs alone (a repository check names no file): every record opened and its id recomputed, a batch
	// of about RESTORE_BATCH_BYTES at a time.
	if (task.files.length === 0) {
		if (task.op !== 'verifyFiles') return { failed, mismatched, done: 0 };
		for (const batch of batches([...task.records.keys()])) {
			checkStop();
			loaded.clear();
			await load(batch);
		}
		loaded.clear();
		return { failed, mismatched, done: 0 };
	}

	// A group of small files: every blob at once (a restore writes nothing when one fails). A large file: a batch at
	// a time, each dropped once written.
	const whole = task.records.reduce((sum, record) => sum + record.rawLength, 0) <= RESTORE_BATCH_BYTES;
	if (whole) {
		checkStop();
		await load(task.records.keys());
		if (task.op === 'restoreFiles' && !salvage && failed.length > 0) return { failed, mismatched, done: 0 };
	}
	/** Hands the file's plaintext, in order, to `write`; throws {@link BlobsFailed} at the first batch with a bad blob. */
	const produce = async (file: RestoreFileSpec, write: (plain: Buffer) => void, keepGoing: boolean) => {
		let lost = false;
		for (const batch of batches(file.blobs)) {
			checkStop();
			if (!whole) {
				loaded.clear();
				await load(batch);
			}
			if (batch.some((index) => bad.has(index))) {
				if (!keepGoing) throw new BlobsFailed();
				lost = true;
			}
			if (!lost) for (const index of batch) write(loaded.get(index)!);
		}
		if (lost) throw new BlobsFailed();
	};

	let done = 0;
	for (const [position, file] of task.files.entries()) {
		checkStop();
		const hash = createHash('sha256');
		if (task.op === 'verifyFiles') {
			try {
				await produce(file, (plain) => hash.update(plain), true);
			} catch (error) {
				if (error instanceof BlobsFailed) continue;
				throw error;
			}
			if (hash.digest('hex') !== file.sha256) mismatched.push(position);
			done++;
			continue;
		}
		try {
			await restoreFile(task, file, hash, produce);
		} catch (error) {
			if (error instanceof BlobsFailed) {
				if (salvage) continue;
				return { failed, mismatched, done };
			}
			if (salvage && isCoreError(error, CoreErrorCode.HashMismatch)) {
				mismatched.push(position);
				continue;
			}
			throw error;
		}
		done++;
	}
	return { failed, mismatched, done };
}

/**
 * Writes one file through a temporary name in its folder (O_EXCL | O_NOFOLLOW, 0600); only when its sha256 matches
 * is it given its mode and mtime and renamed into place (refused, without `overwrite`, when a file appeared there
 * meanwhile). On any failure the temporary file is removed. A salvage restore reads every batch of a file even after
 * a bad blob (writing no more of it), so that all of its bad blobs are known.
 */
async function restoreFile(
	task: FilesTask,
	file: RestoreFileSpec,
	hash: ReturnType<typeof createHash>,
	produce: (file: RestoreFileSpec, write: (plain: Buffer) => void, keepGoing: boolean) => Promise<void>
): Promise<void> {
	const temp = path.join(file.parent!, `.dos-${tempName()}.partial`);
	let fd: number | undefined;
	try {
		fd = openSync(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
	} catch (error) {
		throw fromFsError(error, file.path);
	}
	try {
		const writing = fd;
		await produce(
			file,
			(plain) => {
				hash.update(plain);
				let at = 0;
				while (at < plain.length) at += writeSync(writing, plain, at, plain.length - at);
			},
			task.salvage === true
		);
		if (hash.digest('hex') !== file.sha256)
			throw new CoreError(
				CoreErrorCode.HashMismatch,
				`${file.path} restores with a different sha256 than the manifest records. The archive is damaged; it was not kept.`,
				{ paths: [file.path] }
			);
		fchmodSync(fd, file.mode!);
		futimesSync(fd, file.mtimeMs! / 1000, file.mtimeMs! / 1000);
		closeSync(fd);
		fd = undefined;
		if (task.overwrite !== true) {
			let exists: boolean;
			try {
				exists = lstatSync(file.target!, { throwIfNoEntry: false }) !== undefined;
			} catch {
				exists = true;
			}
			if (exists)
				throw new CoreError(CoreErrorCode.FileExists, `${file.path} appeared in the restore folder while restoring; it was not replaced.`, {
					paths: [file.path]
				});
		}
		renameSync(temp, file.target!);
	} catch (error) {
		if (fd !== undefined) closeSync(fd);
		rmSync(temp, { force: true });
		if (error instanceof BlobsFailed) throw error;
		throw fromFsError(error, file.path);
	}
}
