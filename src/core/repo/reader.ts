import { createHash } from 'node:crypto';
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';
import { CoreErrorCode } from '../errors.js';
import { blobId } from './blob.js';
import { CDC_MAX_SIZE, Chunker } from './cdc.js';

/*
 * The read half of slicing, run inside a worker thread: a group of small files, or a window of a large one, is read
 * with synchronous calls (they block only that worker), hashed, cut into blobs and given blob ids there, so that the
 * slicing thread never opens, reads or hashes a file itself.
 */

/** One file, or one window of a file, to read. */
export interface ReadItem {
	/** Absolute path, opened with O_NOFOLLOW. */
	readonly path: string;
	/** The size the walk saw: a file that reads otherwise has changed. */
	readonly size: number;
	/** Where to start: 0, or the end of the last complete blob an earlier window returned. */
	readonly offset: number;
	/**
	 * Bytes to read from `offset` at most (at least {@link CDC_MAX_SIZE}, so that a window holds a complete blob).
	 * When the file ends inside the window the item is read to its end and its last blob is returned too; otherwise
	 * only the complete blobs are, and the next window starts where they end.
	 */
	readonly window: number;
}

/** What one item read to. */
export interface ReadItemResult {
	/** Bytes of this item in the plaintext (the sum of `lengths`). */
	readonly consumed: number;
	/** Blob lengths, in order. */
	readonly lengths: number[];
	/** Whether the item reached the end of the file (its last blob is included). */
	readonly end: boolean;
	/** sha256 (hex) of the whole file, when the item read all of it (offset 0 and end). */
	readonly sha256?: string;
	/** Why the item could not be read (the item then contributes no bytes). */
	readonly error?: { readonly code: string; readonly message: string };
}

/** The answer of {@link readItems}: the items' blobs one after another, and their ids. */
export interface ReadItemsResult {
	readonly items: ReadItemResult[];
	/** Blob ids, 32 bytes each, in the order of the blobs of all items. */
	readonly ids: Uint8Array;
	/** The plaintext of every blob, one after another, from byte 0 of an ArrayBuffer of {@link readCapacity} bytes. */
	readonly plain: Buffer;
}

/** The bytes a task's items can need at most (each item's window, bounded by what remains of its file). */
export function readCapacity(items: readonly ReadItem[]): number {
	let bytes = 0;
	for (const item of items) bytes += itemSpan(item);
	return bytes;
}

function itemSpan(item: ReadItem): number {
	return Math.max(0, Math.min(item.size - item.offset, windowOf(item)));
}

function windowOf(item: ReadItem): number {
	return Math.max(item.window, CDC_MAX_SIZE);
}

/**
 * Reads the items in order into one buffer, cuts each into content-defined blobs (a window starts a fresh chunker:
 * it starts on a blob boundary, where the chunker's state is empty, so the cuts are those of the whole file) and
 * computes each blob's id, HMAC-SHA256 under `idKey`. A file that cannot be opened, or whose size is not the one
 * given, is reported in its item as SOURCE_CHANGED; the other items are read.
 */
export function readItems(items: readonly ReadItem[], idKey: Uint8Array): ReadItemsResult {
	// One spare byte, so that a whole file is read with one call asking for a byte more than it should hold.
	const plain = Buffer.allocUnsafeSlow(readCapacity(items) + 1);
	const results: ReadItemResult[] = [];
	const ids: Buffer[] = [];
	let at = 0;
	for (const item of items) {
		const span = itemSpan(item);
		// The window reaches the end of the file as the walk saw it: check that it ends there.
		const last = item.offset + windowOf(item) >= item.size;
		let read: number;
		try {
			read = readSpan(item, plain, at, span, last);
		} catch (error) {
			results.push({
				consumed: 0,
				lengths: [],
				end: false,
				error: { code: CoreErrorCode.SourceChanged, message: `could not be read: ${(error as Error).message}` }
			});
			continue;
		}
		if (read !== span) {
			const now = sizeNow(item.path);
			results.push({
				consumed: 0,
				lengths: [],
				end: false,
				error: {
					code: CoreErrorCode.SourceChanged,
					message: `changed while it was read (${item.size} bytes, then ${now ?? (read > span ? 'more' : item.offset + read)})`
				}
			});
			continue;
		}
		const bytes = plain.subarray(at, at + span);
		const chunker = new Chunker();
		const lengths = chunker.push(bytes);
		if (last) {
			const tail = chunker.finish();
			if (tail !== undefined) lengths.push(tail);
		}
		let consumed = 0;
		for (const length of lengths) {
			ids.push(blobId({ blobId: idKey }, bytes.subarray(consumed, consumed + length)));
			consumed += length;
		}
		const whole = last && item.offset === 0;
		results.push({
			consumed,
			lengths,
			end: last,
			...(whole ? { sha256: createHash('sha256').update(bytes).digest('hex') } : {})
		});
		at += consumed;
	}
	// Not from Node's small-buffer pool: the ids are cloned to the slicing thread with the whole buffer behind them.
	const idBytes = Buffer.allocUnsafeSlow(ids.length * 32);
	ids.forEach((id, index) => id.copy(idBytes, index * 32));
	return { items: results, ids: idBytes, plain: plain.subarray(0, at) };
}

/**
 * Reads `span` bytes of the item into `into` at `at`. When `last`, asks for one byte more (the spare byte of the
 * buffer, or of the next item's room, overwritten later) and keeps reading until end of file, so that a file that
 * grew reads more than `span`. Returns the bytes read (more than `span` only when the file grew).
 */
function readSpan(item: ReadItem, into: Buffer, at: number, span: number, last: boolean): number {
	const fd = openSync(item.path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
	try {
		const want = last ? span + 1 : span;
		let read = 0;
		while (read < want) {
			const got = readSync(fd, into, at + read, want - read, item.offset + read);
			if (got === 0) break;
			read += got;
		}
		return read;
	} finally {
		closeSync(fd);
	}
}

function sizeNow(file: string): number | undefined {
	try {
		const fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
		try {
			return fstatSync(fd).size;
		} finally {
			closeSync(fd);
		}
	} catch {
		return undefined;
	}
}
