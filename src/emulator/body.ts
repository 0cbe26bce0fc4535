import busboy from 'busboy';
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DiscordRefusal, invalidFormBody } from './errors.js';

/** One uploaded file, already on disk at `path` (a temporary path until the message is stored). */
export interface ReceivedFile {
	/** The form field, e.g. `files[0]`. */
	readonly field: string;
	/** The `n` of `files[n]` (the id `payload_json.attachments` refers to), else the order of arrival. */
	readonly index: number;
	readonly filename: string;
	readonly contentType: string | null;
	readonly size: number;
	readonly path: string;
}

/** A parsed request body: the JSON payload (from `payload_json` or a JSON body) and the files. */
export interface ReceivedBody {
	readonly json: unknown;
	readonly files: ReceivedFile[];
	/** Deletes the temporary files (call when the request is refused; stored files were moved away). */
	discard(): Promise<void>;
}

export interface BodyLimits {
	/** Largest file. */
	readonly attachmentBytes: number;
	/** Largest sum of files. */
	readonly requestBytes: number;
	/** Most files. */
	readonly files: number;
	/** Where to put a file being received. */
	readonly incomingPath: () => string;
}

const JSON_LIMIT = 4 * 1024 * 1024;

/** A body without files (for messages made inside the emulator). */
export function bodyWithoutFiles(json: unknown = null): ReceivedBody {
	return { json, files: [], discard: () => Promise.resolve() };
}

/** Reads a JSON body (or none) of at most 4 MiB. @throws DiscordApiError 400/50035 on malformed JSON, 413 if larger. */
export async function readJsonBody(stream: Readable, contentType: string | undefined): Promise<unknown> {
	const chunks: Buffer[] = [];
	let size = 0;
	let tooLarge = false;
	for await (const chunk of stream as AsyncIterable<Buffer>) {
		size += chunk.length;
		if (size > JSON_LIMIT) tooLarge = true;
		else chunks.push(chunk);
	}
	if (tooLarge) throw DiscordRefusal.entityTooLarge();
	if (size === 0) return null;
	const text = Buffer.concat(chunks).toString('utf8');
	if (contentType && !contentType.startsWith('application/json')) {
		throw invalidFormBody([
			{ path: [], code: 'CONTENT_TYPE_INVALID', message: `Expected "Content-Type" header to be one of {'application/json'}.` }
		]);
	}
	try {
		return JSON.parse(text) as unknown;
	} catch {
		throw invalidFormBody([{ path: [], code: 'JSON_INVALID', message: 'The request body contains invalid JSON.' }]);
	}
}

/**
 * Reads a message body: JSON, or multipart/form-data with `payload_json` and `files[n]` parts. Files stream
 * straight to disk; one that outgrows the attachment limit stops being written, the rest of the body is read
 * and dropped, and the request is refused with 413/40005 as Discord does. Memory stays bounded by one chunk.
 * @throws DiscordApiError 413/40005 (a file or the sum too large), 400/30015 (too many files), 400/50035.
 */
export async function readMessageBody(stream: Readable, contentType: string | undefined, limits: BodyLimits): Promise<ReceivedBody> {
	if (!contentType?.startsWith('multipart/form-data')) {
		const json = await readJsonBody(stream, contentType);
		return bodyWithoutFiles(json);
	}
	const files: ReceivedFile[] = [];
	const temporary: string[] = [];
	const discard = async () => {
		await Promise.all(temporary.map((path) => rm(path, { force: true })));
	};
	let payloadJson: string | null = null;
	const plainFields: Record<string, string> = {};
	let total = 0;
	let tooLarge = false;
	let fileCount = 0;
	let order = 0;
	const writes: Promise<void>[] = [];
	const outputs: WriteStream[] = [];
	let parser: busboy.Busboy;
	try {
		parser = busboy({ headers: { 'content-type': contentType }, limits: { fieldSize: JSON_LIMIT, fields: 64, parts: 200 } });
	} catch {
		throw invalidFormBody([{ path: [], code: 'CONTENT_TYPE_INVALID', message: 'Malformed multipart/form-data Content-Type.' }]);
	}
	const done = new Promise<void>((resolve, reject) => {
		parser.on('field', (name, value) => {
			if (name === 'payload_json') payloadJson = value;
			else plainFields[name] = value;
		});
		parser.on('file', (field, file, info) => {
			fileCount++;
			const match = /^files\[(\d+)\]$/.exec(field);
			const index = match ? Number(match[1]) : order;
			order++;
			if (fileCount > limits.files || tooLarge) {
				file.resume();
				return;
			}
			const path = limits.incomingPath();
			temporary.push(path);
			const out: WriteStream = createWriteStream(path);
			outputs.push(out);
			let size = 0;
			let writing = true;
			const written = new Promise<void>((resolveFile, rejectFile) => {
				out.on('error', rejectFile);
				out.on('close', () => {
					resolveFile();
				});
			});
			writes.push(written);
			file.on('data', (chunk: Buffer) => {
				size += chunk.length;
				total += chunk.length;
				if (size > limits.attachmentBytes || total > limits.requestBytes) {
					tooLarge = true;
					if (writing) {
						writing = false;
						out.destroy();
					}
					return;
				}
				if (writing && !out.write(chunk)) {
					file.pause();
					out.once('drain', () => file.resume());
				}
			});
			file.on('end', () => {
				if (writing) {
					out.end();
					files.push({ field, index, filename: info.filename || 'unknown', contentType: info.mimeType || null, size, path });
				}
			});
			file.on('error', reject);
		});
		parser.on('close', () => {
			resolve();
		});
		parser.on('error', (error: Error) => {
			reject(error);
		});
		stream.on('error', reject);
	});
	stream.pipe(parser);
	try {
		await done;
		await Promise.all(writes);
	} catch (error) {
		stream.unpipe(parser);
		stream.resume();
		parser.destroy();
		for (const out of outputs) out.destroy();
		await Promise.allSettled(writes);
		await discard();
		if (stream.destroyed || (error as NodeJS.ErrnoException).code === 'ECONNRESET') throw error;
		throw invalidFormBody([{ path: [], code: 'MULTIPART_INVALID', message: `Malformed multipart body: ${(error as Error).message}` }]);
	}
	// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by the parser callbacks; narrowing does not see that
	if (tooLarge) {
		await discard();
		throw DiscordRefusal.entityTooLarge();
	}
	if (fileCount > limits.files) {
		await discard();
		throw DiscordRefusal.maxAttachments(limits.files);
	}
	let json: unknown = null;
	// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by the parser callbacks; narrowing does not see that
	if (payloadJson !== null) {
		try {
			json = JSON.parse(payloadJson) as unknown;
		} catch {
			await discard();
			throw invalidFormBody([{ path: ['payload_json'], code: 'JSON_INVALID', message: 'payload_json is not valid JSON.' }]);
		}
	} else if (Object.keys(plainFields).length > 0) {
		json = plainFields;
	}
	files.sort((a, b) => a.index - b.index);
	return { json, files, discard };
}
