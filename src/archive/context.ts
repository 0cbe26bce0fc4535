import type { CryptoPool } from '../core/index.js';
import type { HistoryIndex } from '../db/index.js';
import type { ArchiveTransport } from '../discord/index.js';

/** Settings the jobs need, already validated by src/config.ts (the archive layer reads no environment). */
export interface ArchiveSettings {
	/** USER_KEY. Absent: creating or restoring encrypted archives is refused with NO_KEY. Never logged. */
	readonly passphrase: string | undefined;
	/** Folders offered for upload live under this root (real path; nothing outside it is ever read). */
	readonly uploadRoot: string;
	/** Chunk folders and restored folders are created under this root (nothing is written outside it). */
	readonly downloadRoot: string;
	/** The channel holding archive cards; each archive's chunks go into a thread started on its card. */
	readonly archiveChannelId: string;
	/** Optional channel for index backups and one line per finished job. */
	readonly logChannelId: string | undefined;
	readonly chunkSize: number;
	readonly gzipLevel: number;
	readonly attachmentLimit: number;
	/** How many archives upload at the same time (each into its own thread). */
	readonly uploadConcurrency: number;
	/**
	 * PBKDF2 iterations for new archive keys; default the core's 600,000. Only tests and benchmarks lower it (existing
	 * archives always use the count recorded in their chunks and manifest).
	 */
	readonly kdfIterations?: number;
	/**
	 * The format new uploads are written in (DOS_FORMAT): 1 (default) chunks per archive; 2 blobs of the channel's
	 * repository in packs, only the blobs new to it posted (docs/design.md §9). Downloads read either, whatever this says.
	 */
	readonly format?: 1 | 2;
	/** Format 2: the pack limit in bytes (DOS_PACK_SIZE); default the core's 9.5 MiB. */
	readonly packSize?: number;
	/** Format 2: the blob codec (DOS_COMPRESSION); default `gzip-N` of the gzip level. */
	readonly compression?: string;
	/** Format 2: the dedup scope (DOS_DEDUP); default `repository`. */
	readonly dedup?: 'repository' | 'archive';
	/** Format 2: packs per message (DOS_PACKS_PER_MESSAGE); default 2. */
	readonly packsPerMessage?: number;
	/** The largest Create Message request, every attachment together; default Discord's 25 MiB (or the attachment limit, if larger). */
	readonly messageRequestBytes?: number;
	/**
	 * Where format 2 uploads stage their packs and downloads their fetched packs (a folder of the bot's own, never the
	 * upload root); default the system's temporary folder.
	 */
	readonly tempRoot?: string;
	/** Minimum milliseconds between two progress edits of one card; default 4000 (card edits share the channel's rate limit). */
	readonly cardEditIntervalMs?: number;
	/**
	 * User ids of the original tool's bot (DOS_LEGACY_BOT_IDS): a rebuild imports legacy cards posted by them or by this
	 * bot. Absent or empty: legacy cards of any other author are reported (UNTRUSTED_LEGACY_AUTHOR) and not imported.
	 */
	readonly legacyBotIds?: readonly string[];
}

/** One line of structured log. Implementations must never receive secrets; callers never pass any. */
export type ArchiveLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Readonly<Record<string, unknown>>) => void;

/**
 * Everything a job runs on. The owner (the bot's client, or one CLI command) creates these once, passes
 * the same context to every job, and closes the pool and the index when it stops.
 */
export interface ArchiveContext {
	readonly index: HistoryIndex;
	readonly transport: ArchiveTransport;
	readonly pool: CryptoPool;
	readonly settings: ArchiveSettings;
	/** This process's holder token for job leases (see src/db jobs). */
	readonly holder: string;
	readonly log: ArchiveLog;
}

/** The phases a job reports, in the order they usually come. */
export type JobPhase =
	| 'queued'
	| 'walking'
	| 'reconciling'
	| 'slicing'
	| 'uploading'
	| 'manifest'
	| 'downloading'
	| 'restoring'
	| 'verifying'
	| 'cleaning'
	| 'scanning'
	| 'backing-up'
	| 'done';

/**
 * A progress report of a running job. Rates and ETA are computed by whoever shows them (card, CLI bar)
 * from successive events; `at` is the wall-clock time of the event in ms.
 */
export interface JobProgressEvent {
	readonly jobId: string;
	readonly archiveId: string | undefined;
	readonly phase: JobPhase;
	readonly bytesDone: number;
	readonly bytesTotal: number;
	readonly chunksDone: number;
	readonly chunksTotal: number;
	readonly at: number;
	/** A short human line for this moment ("chunk 41/130 stored", "reconciled 40 chunks"). */
	readonly note?: string;
}

/** What each job function receives besides its own request. */
export interface JobRun {
	readonly jobId: string;
	readonly signal: AbortSignal;
	readonly progress: (event: Omit<JobProgressEvent, 'jobId' | 'at'>) => void;
}
