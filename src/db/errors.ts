import { CodedError } from '../core/errors.js';

/**
 * The one error class of the history index. Every failure a caller can meet carries a stable `code` (the bot
 * and the CLI map codes to replies and exit codes in one place each) and a message that says what to do.
 */
export const IndexErrorCode = {
	/** No archive has this id, lot or uid in the index. */
	ArchiveNotFound: 'ARCHIVE_NOT_FOUND',
	/** A label, folder or file name typed for an archive fits several archives; the message lists them. */
	AmbiguousArchive: 'AMBIGUOUS_ARCHIVE',
	/** An archive with this id, lot or uid is already in the index. */
	ArchiveExists: 'ARCHIVE_EXISTS',
	/** A string is not an archive id of the form `#DDMMYY-NN`, or its lot does not match. */
	InvalidArchiveId: 'INVALID_ARCHIVE_ID',
	/** A record handed to the index is inconsistent (chunk span out of range, duplicate path, bad hash…). */
	InvalidRecord: 'INVALID_RECORD',
	/** The archive's plan cannot be replaced: some of its chunks already left `pending`. */
	PlanInUse: 'PLAN_IN_USE',
	/** No such chunk in the archive's plan. */
	ChunkNotFound: 'CHUNK_NOT_FOUND',
	/** A chunk transition that would lose or duplicate a stored chunk (e.g. re-posting a stored chunk). */
	ChunkConflict: 'CHUNK_CONFLICT',
	/** Another job holds the archive (or the global job kind) and its lease is alive. */
	ArchiveBusy: 'ARCHIVE_BUSY',
	/** No job with this id. */
	JobNotFound: 'JOB_NOT_FOUND',
	/** The job is no longer held by this holder (it finished, or its lease expired and it was taken over). */
	LeaseLost: 'LEASE_LOST',
	/** A search query too short to be served by the index (fewer than 3 characters). */
	QueryTooShort: 'QUERY_TOO_SHORT',
	/** The index file was written by a newer version of this program. */
	IndexTooNew: 'INDEX_TOO_NEW',
	/** The index file is not a database, is damaged, or its migrations failed. */
	IndexUnreadable: 'INDEX_UNREADABLE',
	/** Another process holds the index file (SQLITE_BUSY after the busy timeout, or a restore while it is open). */
	IndexBusy: 'INDEX_BUSY',
	/** The disk holding the index is full. */
	IndexDiskFull: 'INDEX_DISK_FULL',
	/** A file offered as an index snapshot is not one. */
	BadSnapshot: 'BAD_SNAPSHOT'
} as const;

export type IndexErrorCode = (typeof IndexErrorCode)[keyof typeof IndexErrorCode];

export interface IndexErrorDetails {
	/** The archive concerned, by lot. */
	readonly lot?: number;
	/** The archive concerned, by id (`#DDMMYY-NN`). */
	readonly archiveId?: string;
	/** The job concerned (the one that holds a lock, for ARCHIVE_BUSY). */
	readonly jobId?: number;
	/** Chunk indexes concerned, ascending. */
	readonly chunks?: readonly number[];
	/** A file concerned (the index, a snapshot). */
	readonly file?: string;
}

/** The history index's error: a {@link CodedError} with the codes of {@link IndexErrorCode}. */
export class IndexError extends CodedError<IndexErrorCode, IndexErrorDetails> {
	public constructor(code: IndexErrorCode, message: string, details: IndexErrorDetails = {}, options?: ErrorOptions) {
		super(code, message, details, options);
	}
}

export function isIndexError(error: unknown, code?: IndexErrorCode): error is IndexError {
	return error instanceof IndexError && (code === undefined || error.code === code);
}
