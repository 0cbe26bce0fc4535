import { CodedError } from '../core/errors.js';

/**
 * The archive service's own error class. Failures that belong to a lower layer keep that layer's error
 * (CoreError UNSAFE_PATH / SOURCE_CHANGED / NO_KEY, IndexError ARCHIVE_BUSY, TransportError …): the bot and the CLI
 * map all of them in one place each. These codes are the service's own decisions.
 */
export const ArchiveErrorCode = {
	/** A card's machine-readable record is missing, of an unknown version, or malformed. */
	BadCardRecord: 'BAD_CARD_RECORD',
	/** The archive cannot be resumed in its state (complete, deleted, legacy, or planned without a card). */
	NotResumable: 'NOT_RESUMABLE',
	/** A request the service refuses as given (an empty or too long label, a folder that is the upload root itself). */
	InvalidRequest: 'INVALID_REQUEST',
	/** The service was shut down: it takes no new job. */
	ServiceClosed: 'SERVICE_CLOSED',
	/** No running or queued job with that id, or for that archive. */
	NoSuchJob: 'NO_SUCH_JOB',
	/** The archive cannot be downloaded in its state (its upload did not finish, or it was cleaned up). */
	NotDownloadable: 'NOT_DOWNLOADABLE',
	/** The thread holds something the index cannot explain (a chunk with another hash under the same name). */
	ThreadMismatch: 'THREAD_MISMATCH',
	/**
	 * The archive channel shows a card with a higher lot than this index ever handed out: another process (a CLI with
	 * its own DOS_DB_PATH, a restored old index) uploads beside it. Uploading now would reuse a lot already on Discord.
	 */
	IndexBehind: 'INDEX_BEHIND',
	/** The original tool's history log cannot be read at all (missing, not JSON, not a list, far too large). */
	BadHistoryLog: 'BAD_HISTORY_LOG'
} as const;

export type ArchiveErrorCode = (typeof ArchiveErrorCode)[keyof typeof ArchiveErrorCode];

export interface ArchiveErrorDetails {
	readonly archiveId?: string;
	readonly lot?: number;
	readonly jobId?: number;
}

/** The archive service's error: a {@link CodedError} with the codes of {@link ArchiveErrorCode}. */
export class ArchiveError extends CodedError<ArchiveErrorCode, ArchiveErrorDetails> {
	public constructor(code: ArchiveErrorCode, message: string, details: ArchiveErrorDetails = {}, options?: ErrorOptions) {
		super(code, message, details, options);
	}
}

/** Whether `error` is an {@link ArchiveError}, optionally with the given code. */
export function isArchiveError(error: unknown, code?: ArchiveErrorCode): error is ArchiveError {
	return error instanceof ArchiveError && (code === undefined || error.code === code);
}

/** The stable code and message of any error, for job rows, archive rows and cards. */
export function errorSummary(error: unknown): { code: string; message: string } {
	if (error instanceof Error) {
		const code = (error as { code?: unknown }).code;
		return { code: typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code) ? code : 'UNEXPECTED', message: error.message };
	}
	return { code: 'UNEXPECTED', message: String(error) };
}

/** Why a job's AbortSignal fired: a user's Cancel, or the process shutting down (the job stays resumable either way). */
export type JobStopKind = 'cancel' | 'shutdown';

/** The abort reason the job runner gives a job's signal. */
export class JobStop extends Error {
	public readonly kind: JobStopKind;

	public constructor(kind: JobStopKind) {
		super(kind === 'cancel' ? 'Cancelled on request.' : 'Stopped because the process is shutting down.');
		this.name = 'JobStop';
		this.kind = kind;
	}
}

/** Why `signal` fired (`cancel` for any reason that is not a {@link JobStop}), or null while it has not. */
export function stopReasonOf(signal: AbortSignal): JobStopKind | null {
	if (!signal.aborted) return null;
	const reason: unknown = signal.reason;
	return reason instanceof JobStop ? reason.kind : 'cancel';
}
