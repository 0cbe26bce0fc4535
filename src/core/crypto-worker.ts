import { Piscina } from 'piscina';
import { CoreError } from './errors.js';
import { sha256Hex } from './hash.js';
import { type OpenChunkTask, openChunk, type SealChunkTask, sealChunk } from './sealing.js';
import type { Codec } from './repo/codec.js';
import { openRepoBlob, sealRepoBlob } from './repo/primitives.js';
import { type FilesTask, runFilesTask } from './repo/restore-worker.js';

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
	| OpenBlobsTask
	| FilesTask;

/** Format 2: compress and seal a batch of blobs (their plaintexts one after another in `plain`). */
export interface SealBlobsTask {
	readonly op: 'sealBlobs';
	readonly blobKey: Uint8Array;
	readonly codec: Codec;
	/** Blob ids, 32 bytes each, in order. */
	readonly ids: Uint8Array;
	readonly lengths: readonly number[];
	readonly plain: ArrayBuffer;
}

/** Format 2: authenticate, decrypt and inflate a batch of blobs (sealed one after another in `sealed`). */
export interface OpenBlobsTask {
	readonly op: 'openBlobs';
	readonly blobKey: Uint8Array;
	readonly idKey: Uint8Array;
	readonly records: readonly {
		readonly id: string;
		readonly storedLength: number;
		readonly rawLength: number;
		readonly codec: number;
		readonly level: number;
	}[];
	readonly sealed: ArrayBuffer;
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
				const sealed: Buffer[] = [];
				const meta = { lengths: [] as number[], codecs: [] as number[], levels: [] as number[] };
				let at = 0;
				for (const [index, length] of message.lengths.entries()) {
					const plain = new Uint8Array(message.plain, at, length);
					at += length;
					const result = await sealRepoBlob(message.blobKey, message.ids.subarray(index * 32, index * 32 + 32), plain, message.codec);
					sealed.push(result.sealed);
					meta.lengths.push(result.sealed.length);
					meta.codecs.push(result.codec);
					meta.levels.push(result.level);
				}
				return moveReply(Buffer.concat(sealed), meta);
			}
			case 'openBlobs': {
				const plain: Buffer[] = [];
				const failed: { index: number; code: string; message: string }[] = [];
				let at = 0;
				for (const [index, record] of message.records.entries()) {
					const sealed = new Uint8Array(message.sealed, at, record.storedLength);
					at += record.storedLength;
					try {
						plain.push(
							await openRepoBlob({ blob: message.blobKey, id: message.idKey }, { ...record, id: Buffer.from(record.id, 'hex') }, sealed)
						);
					} catch (error) {
						failed.push({
							index,
							code: error instanceof CoreError ? error.code : 'TAMPERED_CHUNK',
							message: error instanceof Error ? error.message : String(error)
						});
					}
				}
				return moveReply(Buffer.concat(plain), { failed });
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
