import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type LegacySourceFile, writeLegacyArchive } from '../core/legacy/index.js';
import type { DiscordTransport } from '../discord/index.js';

/** The original tool's history log file name, which `dos index import-legacy` reads. */
export const HISTORY_LOG_FILE = 'discord-drive-history.json';
/** The folder of the sandbox holding the files the seeded archive was made of, to compare a restore with. */
export const LEGACY_SAMPLE_FOLDER = 'legacy-sample';

/** What {@link seedLegacyArchive} put into the sandbox. */
export interface LegacySeed {
	/** False when the data folder already held the history log: nothing was posted or written again. */
	readonly seeded: boolean;
	/** `<data>/discord-drive-history.json`. */
	readonly logFile: string;
	/** `<data>/legacy-sample`: the files as they were before the original tool uploaded them. */
	readonly sampleDir: string;
	/** `#DDMMYY-NN` of the seeded archive (when seeded earlier: as its history log still names it, if it does). */
	readonly archiveId?: string;
	readonly lot?: number;
}

/** Options of {@link seedLegacyArchive}. */
export interface SeedLegacyOptions {
	/** Posts as the bot, as the original tool's bot did. */
	readonly transport: DiscordTransport;
	readonly storageChannelId: string;
	readonly dataDir: string;
	/** The USER_KEY the chunks are sealed with: the sandbox's. */
	readonly passphrase: string;
	/** The lot the archive gets: above every lot the sandbox's index already holds. */
	readonly lot: number;
	/** When the original made it; by default {@link LEGACY_SEED_DATE}, so that a fresh sandbox's archive is always `#201124-01`. */
	readonly createdAt?: Date;
	readonly signal?: AbortSignal;
}

/** Small sample content, the same every time: a text, some incompressible bytes, an empty file. */
export function legacySampleFiles(): LegacySourceFile[] {
	const random = Buffer.alloc(200_000);
	for (let offset = 0, counter = 0; offset < random.length; offset += 32, counter++) {
		createHash('sha256').update(`dos legacy sample ${counter}`).digest().copy(random, offset);
	}
	const notes = [
		'Notes kept by the original Discord Drive tool.',
		'Every line of this file comes back byte for byte after moving over — ünïcödé included.',
		...Array.from({ length: 200 }, (_, line) => `line ${line + 1}: the quick brown fox jumps over the lazy dog`)
	].join('\n');
	return [
		{ name: 'notes.txt', data: Buffer.from(`${notes}\n`, 'utf8') },
		{ name: 'photo.raw', data: random },
		{ name: 'empty.txt', data: Buffer.alloc(0) }
	];
}

/** A Discord id the original wrote as a Python int. */
class PyInt {
	public readonly digits: string;
	public constructor(digits: string) {
		this.digits = digits;
	}
}

/** `json.dump(value, f, indent=4)` as the original wrote its log: ids as bare integers, non-ASCII escaped. */
export function pythonJson(value: unknown): string {
	const text = JSON.stringify(value, (_key, item: unknown) => (item instanceof PyInt ? `@@int:${item.digits}@@` : item), 4);
	return text.replace(/"@@int:(\d+)@@"/gu, '$1').replace(/[\u007f-\uffff]/gu, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const two = (value: number) => String(value).padStart(2, '0');

/** When the seeded archive was made: in the original tool's days, and the same each time, so a walk-through can name it. */
export const LEGACY_SEED_DATE = new Date(Date.UTC(2024, 10, 20, 9, 15, 0));

/**
 * Puts one archive of the original tool's first versions into the sandbox, as its `!upload` did: a header line and a
 * status line, then one message per chunk file and the manifest, all in the storage channel with no card and no
 * thread — and writes the history log the original kept of it, `<data>/discord-drive-history.json`, in its exact
 * shape. The files it was made of are written to `<data>/legacy-sample` to compare a restore with. Does nothing
 * when the data folder already holds that history log (the emulated Discord keeps what was posted).
 *
 * @throws the transport's DiscordError when a post fails; file system errors.
 */
export async function seedLegacyArchive(options: SeedLegacyOptions): Promise<LegacySeed> {
	const logFile = path.join(options.dataDir, HISTORY_LOG_FILE);
	const sampleDir = path.join(options.dataDir, LEGACY_SAMPLE_FOLDER);
	if (existsSync(logFile)) {
		const earlier = await readFile(logFile, 'utf8').then(
			(text) => /"archive_id": "(#\d{6}-\d{2,})"/u.exec(text)?.[1],
			() => undefined
		);
		return { seeded: false, logFile, sampleDir, ...(earlier === undefined ? {} : { archiveId: earlier }) };
	}
	const now = options.createdAt ?? LEGACY_SEED_DATE;
	const { lot, transport, storageChannelId: storage, signal } = options;
	const files = legacySampleFiles();
	const archive = await writeLegacyArchive(files, { passphrase: options.passphrase, sourceFolder: LEGACY_SAMPLE_FOLDER, createdAt: now, signal });
	const archiveId = `#${two(now.getUTCDate())}${two(now.getUTCMonth() + 1)}${two(now.getUTCFullYear() % 100)}-${two(lot)}`;
	const timestamp = `${now.getUTCFullYear()}-${two(now.getUTCMonth() + 1)}-${two(now.getUTCDate())} ${two(now.getUTCHours())}:${two(now.getUTCMinutes())}:${two(now.getUTCSeconds())}`;
	const posted = [...archive.chunks, archive.manifest];
	const messageIds: string[] = [];
	messageIds.push((await transport.postLine(storage, `📦 **Archive: ${archiveId}** | **Timestamp: ${timestamp}**`, { signal })).messageId);
	const megabytes = (archive.storedBytes / 1_000_000).toFixed(2);
	messageIds.push((await transport.postLine(storage, `📤 Uploading ${posted.length} file(s) (${megabytes} MB)...`, { signal })).messageId);
	for (const file of posted) messageIds.push((await transport.uploadFile(storage, { file, signal })).messageId);
	const entry = {
		lot,
		archive_id: archiveId,
		timestamp,
		message_ids: messageIds.map((id) => new PyInt(id)),
		status: 'success',
		file_count: posted.length,
		total_size_bytes: archive.storedBytes + archive.manifest.data.length,
		uploaded_files: posted.map((file) => file.name),
		failed_files: []
	};
	// The log last, as the original wrote it after the posts: a seed stopped half-way is made again, whole, at the next
	// start (the messages it left are named by no log, so nothing reads them).
	await mkdir(sampleDir, { recursive: true });
	for (const file of files) await writeFile(path.join(sampleDir, file.name), file.data);
	await writeFile(logFile, pythonJson([entry]));
	return { seeded: true, logFile, sampleDir, archiveId, lot };
}
