import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { CoreError, CoreErrorCode, isCoreError, openBlob, sealBlob, sha256Hex, throwIfAborted } from '../core/index.js';
import { restoreIndexSnapshot } from '../db/index.js';
import { type ArchiveTransport, isTransportError, type LiveAttachment } from '../discord/index.js';
import type { ArchiveContext, ArchiveLog, JobRun } from './context.js';

/**
 * Index backups through the log channel (docs/design.md §4): a consistent snapshot of the SQLite index (online backup
 * API), sealed as kind "index backup" under the passphrase, posted as `dos-index.<UTC time>.<hash>.bin` — opaque, and
 * recognisable among other messages. Restoring fetches the newest one, opens it with the key and only then replaces
 * the index file; a backup that does not open leaves the current index untouched.
 */

/** Names of index backup attachments: `dos-index.20250102T030405Z.3fa9c0d1e2b4.bin` (time, then the sealed bytes' hash). */
export const INDEX_BACKUP_NAME = /^dos-index\.(\d{8}T\d{6}Z)\.([0-9a-f]{12})\.bin$/;

/** A backup just posted. */
export interface IndexBackupResult {
	readonly filename: string;
	readonly channelId: string;
	readonly messageId: string;
	readonly attachmentId: string;
	/** Bytes of the sealed snapshot. */
	readonly size: number;
	readonly sha256: string;
	readonly archives: number;
}

/**
 * Snapshots the index, seals it and posts it to the log channel, and records the backup in the index.
 *
 * @throws {CoreError} INVALID_OPTION when no log channel is configured; NO_KEY; ABORTED. {@link IndexError}
 * INDEX_DISK_FULL / INDEX_BUSY. TransportError when the post fails.
 */
export async function backupIndex(ctx: ArchiveContext, _request: Readonly<Record<string, never>>, run: JobRun): Promise<IndexBackupResult> {
	const channelId = ctx.settings.logChannelId;
	if (channelId === undefined) {
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			'No log channel: set DISCORD_DRIVE_LOG_CHANNEL_ID to the channel that keeps index backups, then back up again.'
		);
	}
	run.progress({
		archiveId: undefined,
		phase: 'backing-up',
		bytesDone: 0,
		bytesTotal: 0,
		chunksDone: 0,
		chunksTotal: 1,
		note: 'taking a snapshot'
	});
	const scratch = await mkdtemp(path.join(tmpdir(), 'dos-index-backup-'));
	try {
		const snapshot = await ctx.index.snapshot(path.join(scratch, 'index.sqlite'));
		throwIfAborted(run.signal);
		const header = backupHeader({ takenAt: snapshot.takenAt, lastLot: ctx.index.archives.lastLot() });
		const sealed = await sealBlob('index-backup', Buffer.concat([header, await readFile(snapshot.file)]), ctx.settings.passphrase, {
			...(ctx.settings.kdfIterations === undefined ? {} : { iterations: ctx.settings.kdfIterations }),
			signal: run.signal
		});
		const sha256 = sha256Hex(sealed);
		const filename = `dos-index.${compactUtc(snapshot.takenAt)}.${sha256.slice(0, 12)}.bin`;
		const archives = ctx.index.archives.count();
		const posted = await ctx.transport.uploadFile(channelId, {
			file: { name: filename, data: sealed },
			content: `Index backup · ${archives} archive${archives === 1 ? '' : 's'}`,
			signal: run.signal
		});
		const attachment = posted.attachments[0]!;
		ctx.index.backups.record({ channelId, messageId: posted.messageId, attachmentId: attachment.id, filename, size: sealed.length, sha256 });
		run.progress({
			archiveId: undefined,
			phase: 'done',
			bytesDone: sealed.length,
			bytesTotal: sealed.length,
			chunksDone: 1,
			chunksTotal: 1,
			note: filename
		});
		return { filename, channelId, messageId: posted.messageId, attachmentId: attachment.id, size: sealed.length, sha256, archives };
	} finally {
		await rm(scratch, { recursive: true, force: true });
	}
}

/** What {@link restoreIndexFromLog} needs: it runs while no index is open (the bot stopped). */
export interface IndexRestoreOptions {
	readonly transport: ArchiveTransport;
	readonly logChannelId: string | undefined;
	readonly passphrase: string | undefined;
	/** The index file to replace (DOS_DB_PATH). */
	readonly indexPath: string;
	readonly signal?: AbortSignal;
}

/** What {@link restoreIndexFromLog} restored. */
export interface IndexRestoreResult {
	readonly filename: string;
	readonly messageId: string;
	/** When the backup was taken: the time sealed inside it (its name's time only for backups made before it was sealed in). */
	readonly takenAt: Date;
	/** The last lot the backed-up index had handed out, when the backup says (0 for older backups). */
	readonly lastLot: number;
	/** Where the replaced index was kept, or null when there was none. */
	readonly previous: string | null;
	/** Backups passed over because they did not open, did not match their name, or were not posted by the bot itself. */
	readonly skipped: readonly { readonly filename: string; readonly messageId: string; readonly code: string }[];
}

/** At most this many backups are downloaded and opened to find the newest genuine one. */
const MAX_RESTORE_CANDIDATES = 25;

/**
 * Replaces the index file with the newest genuine backup in the log channel. The newest is told by the time sealed
 * inside each backup (authenticated by the key), never by its name alone: an old backup re-posted under a future name
 * does not roll the index back. Every candidate is downloaded, checked against the hash in its name and opened with the
 * key before anything is touched; one that does not open is skipped and the next tried. A wrong key or no usable
 * backup leaves the current index as it is. The old file is kept as `<path>.before-restore`.
 *
 * @throws {CoreError} INVALID_OPTION (no log channel); NOT_FOUND (no backup in it); NO_KEY; WRONG_KEY /
 * TAMPERED_CHUNK (no backup opened: the first failure); ABORTED. {@link IndexError} BAD_SNAPSHOT, INDEX_TOO_NEW,
 * INDEX_BUSY (the index is open elsewhere).
 */
export async function restoreIndexFromLog(options: IndexRestoreOptions): Promise<IndexRestoreResult> {
	const { transport, signal } = options;
	if (options.logChannelId === undefined) {
		throw new CoreError(CoreErrorCode.InvalidOption, 'No log channel: set DISCORD_DRIVE_LOG_CHANNEL_ID to the channel that keeps index backups.');
	}
	// Only the bot's own posts are backups (a webhook or another bot is a bot too); only they count toward the cap, and
	// the others are kept only to be reported, a bounded few.
	const selfId = await transport.selfUserId(signal ? { signal } : {});
	const candidates: { messageId: string; attachment: LiveAttachment; namedAt: Date; nameHash: string; byBot: boolean }[] = [];
	let genuine = 0;
	let foreign = 0;
	for await (const message of transport.pageMessagesNewestFirst(options.logChannelId, signal ? { signal } : {})) {
		const byBot = message.authorId === selfId;
		for (const attachment of message.attachments) {
			const match = INDEX_BACKUP_NAME.exec(attachment.filename);
			if (match === null) continue;
			if (!byBot && foreign++ >= MAX_RESTORE_CANDIDATES) continue;
			if (byBot) genuine++;
			candidates.push({ messageId: message.id, attachment, namedAt: parseCompactUtc(match[1]!), nameHash: match[2]!, byBot });
		}
		if (genuine >= MAX_RESTORE_CANDIDATES) break;
	}
	if (candidates.length === 0) {
		throw new CoreError(
			CoreErrorCode.NotFound,
			'The log channel holds no index backup (dos-index.….bin). Rebuild the index from the archive channel instead: `dos index rebuild`.'
		);
	}
	const skipped: { filename: string; messageId: string; code: string }[] = [];
	let best: { candidate: (typeof candidates)[number]; opened: OpenedBackup } | undefined;
	let firstError: Error | undefined;
	// Newest message first: a name's time is whatever the poster wrote; the sealed time decides among those opened.
	const ordered = candidates.sort((a, b) => compareIds(b.messageId, a.messageId));
	for (const candidate of ordered) {
		if (!candidate.byBot) {
			skipped.push({ filename: candidate.attachment.filename, messageId: candidate.messageId, code: 'NOT_POSTED_BY_BOT' });
			continue;
		}
		let opened: OpenedBackup;
		try {
			opened = await openBackup(transport, options.logChannelId, candidate, options.passphrase, signal);
		} catch (error) {
			if (isCoreError(error, CoreErrorCode.Aborted) || isCoreError(error, CoreErrorCode.NoKey)) throw error;
			if (!(isCoreError(error) || isTransportError(error))) throw error;
			firstError ??= error;
			skipped.push({ filename: candidate.attachment.filename, messageId: candidate.messageId, code: error.code });
			continue;
		}
		if (best === undefined || newer(opened, best.opened)) best = { candidate, opened };
	}
	if (best === undefined) {
		if (firstError !== undefined) throw firstError;
		throw new CoreError(
			CoreErrorCode.NotFound,
			'The log channel holds no index backup posted by the bot. Rebuild the index from the archive channel instead: `dos index rebuild`.'
		);
	}
	throwIfAborted(signal);
	const scratch = await mkdtemp(path.join(tmpdir(), 'dos-index-restore-'));
	try {
		const file = path.join(scratch, 'index.sqlite');
		await writeFile(file, best.opened.snapshot);
		const { previous } = await restoreIndexSnapshot({ snapshot: file, path: options.indexPath });
		return {
			filename: best.candidate.attachment.filename,
			messageId: best.candidate.messageId,
			takenAt: best.opened.takenAt ?? best.candidate.namedAt,
			lastLot: best.opened.lastLot,
			previous,
			skipped
		};
	} finally {
		await rm(scratch, { recursive: true, force: true });
	}
}

/** A backup opened with the key. */
interface OpenedBackup {
	readonly snapshot: Buffer;
	/** The time sealed inside, or null for a backup made before it was (then only its name tells, unauthenticated). */
	readonly takenAt: Date | null;
	readonly lastLot: number;
	readonly namedAt: Date;
	readonly messageId: string;
}

/**
 * Whether `a` is newer than `b`: a sealed time beats none; between sealed times the later wins; between backups made
 * before the time was sealed in, the later message (its id is Discord's time, not a name the poster wrote).
 */
function newer(a: OpenedBackup, b: OpenedBackup): boolean {
	if ((a.takenAt === null) !== (b.takenAt === null)) return a.takenAt !== null;
	if (a.takenAt !== null && b.takenAt !== null)
		return a.takenAt > b.takenAt || (a.takenAt.getTime() === b.takenAt.getTime() && a.lastLot > b.lastLot);
	return compareIds(a.messageId, b.messageId) > 0;
}

function compareIds(a: string, b: string): number {
	const left = BigInt(a);
	const right = BigInt(b);
	return left < right ? -1 : left > right ? 1 : 0;
}

async function openBackup(
	transport: ArchiveTransport,
	channelId: string,
	candidate: { readonly messageId: string; readonly attachment: LiveAttachment; readonly namedAt: Date; readonly nameHash: string },
	passphrase: string | undefined,
	signal: AbortSignal | undefined
): Promise<OpenedBackup> {
	const parts: Buffer[] = [];
	await transport.downloadAttachment(
		{ channelId, messageId: candidate.messageId, attachmentId: candidate.attachment.id },
		{
			stream: new Writable({
				write(piece: Buffer, _encoding, callback) {
					parts.push(piece);
					callback();
				}
			})
		},
		{ live: candidate.attachment, expectedSize: candidate.attachment.size, ...(signal ? { signal } : {}) }
	);
	const sealed = Buffer.concat(parts);
	const intact = sha256Hex(sealed).startsWith(candidate.nameHash);
	if (!intact) {
		throw new CoreError(
			CoreErrorCode.TamperedChunk,
			`The index backup ${candidate.attachment.filename} (message ${candidate.messageId}) does not match the hash in its name: it is damaged. The current index was not touched.`
		);
	}
	const plain = await openBlob('index-backup', sealed, passphrase, { intact, ...(signal ? { signal } : {}) });
	return { ...readBackupHeader(plain), namedAt: candidate.namedAt, messageId: candidate.messageId };
}

/** The first line of a sealed backup since it carries its own time: `dos-index/1 {"takenAt":…,"lastLot":…}\n`. */
const BACKUP_HEADER_PREFIX = 'dos-index/1 ';

function backupHeader(facts: { readonly takenAt: Date; readonly lastLot: number }): Buffer {
	return Buffer.from(`${BACKUP_HEADER_PREFIX}${JSON.stringify({ takenAt: facts.takenAt.toISOString(), lastLot: facts.lastLot })}\n`, 'utf8');
}

/** Splits an opened backup into its sealed facts and the SQLite snapshot (older backups are the snapshot alone). */
function readBackupHeader(plain: Buffer): { snapshot: Buffer; takenAt: Date | null; lastLot: number } {
	if (!plain.subarray(0, BACKUP_HEADER_PREFIX.length).equals(Buffer.from(BACKUP_HEADER_PREFIX)))
		return { snapshot: plain, takenAt: null, lastLot: 0 };
	const end = plain.indexOf(0x0a);
	const bad = () =>
		new CoreError(
			CoreErrorCode.BadFormat,
			'An index backup carries a malformed header: it was not written by this program. The current index was not touched.'
		);
	if (end < 0 || end > 1024) throw bad();
	let facts: unknown;
	try {
		facts = JSON.parse(plain.subarray(BACKUP_HEADER_PREFIX.length, end).toString('utf8'));
	} catch {
		throw bad();
	}
	const { takenAt, lastLot } = (facts ?? {}) as { takenAt?: unknown; lastLot?: unknown };
	const at = typeof takenAt === 'string' ? new Date(takenAt) : new Date(Number.NaN);
	if (Number.isNaN(at.getTime()) || typeof lastLot !== 'number' || !Number.isSafeInteger(lastLot) || lastLot < 0) throw bad();
	return { snapshot: plain.subarray(end + 1), takenAt: at, lastLot };
}

/** A debounced index backup: call {@link IndexBackupTrigger.notify} after every change. */
export interface IndexBackupTrigger {
	/** Something changed: a backup will run, at most one per interval, and the last change is always backed up. */
	notify(): void;
	/** Runs a pending backup now (e.g. at shutdown) and waits for it and for one already running. */
	flush(): Promise<void>;
	/**
	 * Stops the timer; a pending change is backed up first — unless `onlyIfDue` and the interval since the last backup
	 * has not passed: then it is left to the next process that opens the index (see {@link IndexBackupTriggerOptions}).
	 */
	close(options?: { readonly onlyIfDue?: boolean }): Promise<void>;
}

/** Options of {@link createIndexBackupTrigger}. */
export interface IndexBackupTriggerOptions {
	/** Takes one backup (e.g. `() => service.backupIndex()`); its failures are logged, and retried at the next change. */
	readonly backup: () => Promise<unknown>;
	/** At most one backup per this many milliseconds. */
	readonly minIntervalMs: number;
	readonly log?: ArchiveLog;
	/** Milliseconds since the epoch; default `Date.now` (tests pass fake timers instead). */
	readonly now?: () => number;
	/**
	 * When the newest backup recorded in the index was taken (ms), whichever process took it: the interval counts
	 * from it too, so processes that come and go (one `dos` command after another) do not each post one.
	 */
	readonly lastBackupAt?: () => number | null;
}

/**
 * A trailing-edge throttle around index backups for the write side and the bot: a change is backed up at once when
 * the last backup (this process's, or the index's record of any process's) is older than `minIntervalMs`, else when
 * the interval has passed; a change made while a backup runs gets a backup of its own after it, so the newest state
 * always ends up in the log channel.
 */
export function createIndexBackupTrigger(options: IndexBackupTriggerOptions): IndexBackupTrigger {
	const now = options.now ?? Date.now;
	let lastStart = Number.NEGATIVE_INFINITY;
	let dirty = false;
	let timer: NodeJS.Timeout | undefined;
	let running: Promise<void> | undefined;
	let closed = false;

	const run = (): Promise<void> => {
		timer = undefined;
		if (running !== undefined || !dirty) return running ?? Promise.resolve();
		dirty = false;
		lastStart = now();
		// A backup that cannot even start (its lock held, say) throws at once: it must fail like any other backup —
		// logged and retried — and never fail the job or the command that asked for it.
		running = Promise.resolve()
			.then(() => options.backup())
			.then(
				() => undefined,
				(error: unknown) => {
					dirty = true;
					options.log?.('warn', 'index backup failed; it is retried at the next change', {
						code: (error as { code?: unknown }).code ?? 'UNEXPECTED'
					});
				}
			)
			.finally(() => {
				running = undefined;
				if (dirty && !closed) schedule();
			});
		return running;
	};

	const since = () => {
		let recorded: number | null = null;
		try {
			recorded = options.lastBackupAt?.() ?? null;
		} catch {
			recorded = null;
		}
		return Math.max(lastStart, recorded ?? Number.NEGATIVE_INFINITY);
	};

	const schedule = () => {
		if (timer !== undefined || running !== undefined) return;
		const wait = Math.max(0, since() + options.minIntervalMs - now());
		timer = setTimeout(() => void run(), wait);
		// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- fake timers and other runtimes may hand back a timer without unref
		timer.unref?.();
	};

	return {
		notify() {
			if (closed) return;
			dirty = true;
			schedule();
		},
		async flush() {
			if (timer !== undefined) clearTimeout(timer);
			timer = undefined;
			await running;
			await run();
		},
		async close(closing = {}) {
			closed = true;
			if (timer !== undefined) clearTimeout(timer);
			timer = undefined;
			await running;
			if (closing.onlyIfDue === true && since() + options.minIntervalMs > now()) return;
			await run();
		}
	};
}

/** `2025-01-02T03:04:05.678Z` → `20250102T030405Z`. */
function compactUtc(date: Date): string {
	return date
		.toISOString()
		.replace(/[-:]/g, '')
		.replace(/\.\d{3}/, '');
}

function parseCompactUtc(text: string): Date {
	return new Date(`${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6, 8)}T${text.slice(9, 11)}:${text.slice(11, 13)}:${text.slice(13, 15)}Z`);
}
