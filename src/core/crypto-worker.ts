import { Piscina, workerData } from 'piscina';
import { CoreError } from './errors.js';
import { collectBufferGarbage, noteBufferChurn } from './memory.js';
import { sha256Hex } from './hash.js';
import { type OpenChunkTask, openChunk, type SealChunkTask, sealChunk } from './sealing.js';
import { type Codec, TURN_BYTES, turnForFinalizers } from './repo/codec.js';
import { BLOB_ID_SIZE, BLOB_OVERHEAD, sealBlobInto } from './repo/blob.js';
import { type ReadItem, readItems } from './repo/reader.js';
import { walkSync } from './walk.js';
import { type FilesTask, runFilesTask } from './repo/restore-worker.js';

// The pool says whether its workers collect their dead buffers early (see memory.ts).
collectBufferGarbage((workerData as { collectGarbageEvery?: number } | undefined)?.collectGarbageEvery);

/** A task posted to a crypto worker. Buffers travel as transferred ArrayBuffers. */
export type CryptoTask =
	| {
			readonly op: 'seal';
			readonly task: Omit<SealChunkTask, 'plain' | 'into'>;
			readonly plain: ArrayBuffer;
			readonly plainLength: number;
			/** A recycled buffer to seal into (transferred). */
			readonly into?: ArrayBuffer;
	  }
	| { readonly op: 'open'; readonly task: Omit<OpenChunkTask, 'sealed'>; readonly sealed: ArrayBuffer; readonly sealedLength: number }
	| { readonly op: 'hash'; readonly plain: ArrayBuffer; readonly plainLength: number }
	| SealBlobsTask
	| ReadBlobsTask
	| { readonly op: 'walk'; readonly root: string }
	| FilesTask;

/** Format 2: compress and seal a batch of blobs (their plaintexts one after another in `plain`) with blob.ts. */
export interface SealBlobsTask {
	readonly op: 'sealBlobs';
	/** The blob-seal subkey. */
	readonly blobKey: Uint8Array;
	readonly codec: Codec;
	/** Blob ids, 32 bytes each, in order. */
	readonly ids: Uint8Array;
	readonly lengths: readonly number[];
	readonly plain: ArrayBuffer;
}

/** Format 2: read files (or windows of a file), hash them, cut them into blobs and compute the blob ids (src/core/repo/reader.ts). */
export interface ReadBlobsTask {
	readonly op: 'readBlobs';
	readonly idKey: Uint8Array;
	readonly items: readonly ReadItem[];
}

/** A worker's answer: errors travel as data, because CoreError does not survive structured cloning. */
export type CryptoReply =
	| {
			readonly ok: true;
			readonly bytes?: ArrayBuffer;
			readonly length?: number;
			readonly meta: Record<string, unknown>;
			/** The task's input buffer, handed back for reuse. */
			readonly returned?: ArrayBuffer;
	  }
	| { readonly ok: false; readonly code?: string; readonly message: string; readonly details?: unknown };

/** Handles one task in a worker thread. */
export default async function handle(message: CryptoTask): Promise<unknown> {
	try {
		noteBufferChurn(taskBytes(message));
		switch (message.op) {
			case 'seal': {
				const result = sealChunk({
					...message.task,
					plain: new Uint8Array(message.plain, 0, message.plainLength),
					...(message.into === undefined ? {} : { into: message.into })
				});
				const { bytes, ...meta } = result;
				// The plaintext buffer goes back too, for the slicer to read the next chunk into.
				return moveReply(bytes, meta, message.plain, message.into);
			}
			case 'open': {
				const result = openChunk({ ...message.task, sealed: new Uint8Array(message.sealed, 0, message.sealedLength) });
				const { plain, header, ...meta } = result;
				return moveReply(plain, { ...meta, compressed: header.compressed });
			}
			case 'hash': {
				const plainSha256 = sha256Hex(new Uint8Array(message.plain, 0, message.plainLength));
				return Piscina.move({
					[Piscina.transferableSymbol]: [message.plain],
					[Piscina.valueSymbol]: { ok: true, meta: { plainSha256 }, returned: message.plain } satisfies CryptoReply
				} as unknown as ArrayBuffer);
			}
			case 'sealBlobs': {
				// Sealed blobs are written one after another into one buffer (a payload is never larger than its
				// plaintext, so the plaintext's size plus each blob's overhead bounds it).
				const out = Buffer.allocUnsafeSlow(message.plain.byteLength + message.lengths.length * BLOB_OVERHEAD);
				const meta = { lengths: [] as number[], codecs: [] as Codec[] };
				let at = 0;
				let written = 0;
				let sinceTurn = 0;
				for (const [index, length] of message.lengths.entries()) {
					const plain = new Uint8Array(message.plain, at, length);
					at += length;
					sinceTurn += length;
					if (sinceTurn >= TURN_BYTES) {
						sinceTurn = 0;
						await turnForFinalizers();
					}
					const id = message.ids.subarray(index * BLOB_ID_SIZE, (index + 1) * BLOB_ID_SIZE);
					const blob = sealBlobInto(message.blobKey, id, plain, message.codec, out, written);
					written += blob.storedLength;
					meta.lengths.push(blob.storedLength);
					meta.codecs.push(blob.codec);
				}
				return moveReply(out.subarray(0, written), meta);
			}
			case 'walk':
				return { ok: true, meta: { walked: walkSync(message.root) } } satisfies CryptoReply;
			case 'readBlobs': {
				const { items, ids, plain } = readItems(message.items, message.idKey);
				return moveReply(plain, { items, ids });
			}
			case 'restoreFiles':
			case 'verifyFiles':
				return { ok: true, meta: { ...(await runFilesTask(message)) } } satisfies CryptoReply;
		}
	} catch (error) {
		if (error instanceof CoreError) return { ok: false, code: error.code, message: error.message, details: error.details } satisfies CryptoReply;
		return { ok: false, message: error instanceof Error ? error.message : String(error) } satisfies CryptoReply;
	}
}

/**
 * The bytes a task passes through buffers this worker drops (restores and checks count theirs batch by batch, reads
 * their files as they go): counted as the task starts, for the previous tasks' garbage.
 */
function taskBytes(message: CryptoTask): number {
	switch (message.op) {
		case 'seal':
		case 'hash':
			return message.plainLength;
		case 'open':
			return message.sealedLength;
		case 'sealBlobs':
			return message.plain.byteLength;
		case 'readBlobs':
			return message.items.reduce((sum, item) => sum + Math.max(0, Math.min(item.window, item.size - item.offset)), 0);
		// Restores and checks count their batches themselves; a walk moves no buffers.
		case 'restoreFiles':
		case 'verifyFiles':
		case 'walk':
			return 0;
	}
}

/** From this size a buffer cannot come from Node's small-buffer pool (8 KiB slabs). */
const WHOLE_BUFFER_MIN = 64 * 1024;

function moveReply(bytes: Buffer, meta: Record<string, unknown>, returned?: ArrayBuffer, into?: ArrayBuffer): unknown {
	// Transfer only an ArrayBuffer the bytes own entirely (exactly, as the start of a recycled buffer given for them,
	// or as the start of one too large to come from Node's small-buffer pool); a slice of a shared one is copied first.
	const buffer =
		bytes.byteOffset === 0 && (bytes.buffer.byteLength === bytes.length || bytes.buffer === into || bytes.buffer.byteLength >= WHOLE_BUFFER_MIN)
			? (bytes.buffer as ArrayBuffer)
			: (bytes.buffer as ArrayBuffer).slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
	const reply: CryptoReply = { ok: true, bytes: buffer, length: bytes.length, meta, ...(returned ? { returned } : {}) };
	const transfer = returned ? [buffer, returned] : [buffer];
	return Piscina.move({ [Piscina.transferableSymbol]: transfer, [Piscina.valueSymbol]: reply } as unknown as ArrayBuffer);
}
