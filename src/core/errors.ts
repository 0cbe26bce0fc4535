/**
 * The one error class of the storage engine. Every failure a user can meet carries a stable `code`
 * (the CLI and the bot map codes to exit codes and replies in one place each) and a message that says
 * what happened and what to do about it.
 */
export const CoreErrorCode = {
	/** The passphrase does not open the manifest or a chunk (authentication failed on intact bytes). */
	WrongKey: 'WRONG_KEY',
	/** No passphrase was given where encrypted work needs one. */
	NoKey: 'NO_KEY',
	/** A chunk's bytes do not match their recorded hash, or its authentication tag does not verify. */
	TamperedChunk: 'TAMPERED_CHUNK',
	/** A chunk the manifest names is not there. */
	MissingChunk: 'MISSING_CHUNK',
	/** A chunk header is valid but belongs to another archive, another index or another kind. */
	MisplacedChunk: 'MISPLACED_CHUNK',
	/** A path would escape its root: `..`, absolute, separators in a name, NUL, or a symlink trick. */
	UnsafePath: 'UNSAFE_PATH',
	/** A source file changed or vanished while it was read, or no longer matches what was recorded. */
	SourceChanged: 'SOURCE_CHANGED',
	/** A sealed chunk would not fit the attachment limit. */
	ChunkTooLarge: 'CHUNK_TOO_LARGE',
	/** Bytes that are not a chunk or manifest of a format we know. */
	BadFormat: 'BAD_FORMAT',
	/** A format version this build does not read. */
	UnsupportedVersion: 'UNSUPPORTED_VERSION',
	/** A restored file's sha256 differs from the manifest. */
	HashMismatch: 'HASH_MISMATCH',
	/** The restore target already holds a file and overwriting was not asked for. */
	FileExists: 'FILE_EXISTS',
	/** The disk is full (ENOSPC) or over quota (EDQUOT). */
	DiskFull: 'DISK_FULL',
	/** A path that was asked for is not in the archive, or a folder that was named does not exist. */
	NotFound: 'NOT_FOUND',
	/** An option is out of range (chunk size, gzip level, workers…). */
	InvalidOption: 'INVALID_OPTION',
	/** A text is not an archive id `#DDMMYY-NN`, or a lot is not a positive integer (same code as the index's). */
	InvalidArchiveId: 'INVALID_ARCHIVE_ID',
	/** The work was stopped through its AbortSignal. */
	Aborted: 'ABORTED',
	/** Work was handed to a worker pool after it was closed: a fault of the program, not of what was asked. */
	PoolClosed: 'POOL_CLOSED'
} as const;

export type CoreErrorCode = (typeof CoreErrorCode)[keyof typeof CoreErrorCode];

export interface CoreErrorDetails {
	/** Chunk indexes concerned (data chunks), in ascending order. */
	readonly chunks?: readonly number[];
	/** Paths concerned, relative to the archive root, `/`-separated. */
	readonly paths?: readonly string[];
	/** A file on disk concerned (a chunk file, a target file). */
	readonly file?: string;
}

export class CoreError extends Error {
	public readonly code: CoreErrorCode;
	public readonly details: CoreErrorDetails;

	public constructor(code: CoreErrorCode, message: string, details: CoreErrorDetails = {}, options?: ErrorOptions) {
		super(message, options);
		this.name = 'CoreError';
		this.code = code;
		this.details = details;
	}
}

export function isCoreError(error: unknown, code?: CoreErrorCode): error is CoreError {
	return error instanceof CoreError && (code === undefined || error.code === code);
}

/**
 * Turns a Node file-system error into a CoreError where the user can act on it (disk full, missing file),
 * and returns anything else unchanged.
 */
export function fromFsError(error: unknown, file: string): unknown {
	const code = (error as NodeJS.ErrnoException | undefined)?.code;
	if (code === 'ENOSPC' || code === 'EDQUOT') {
		return new CoreError(
			CoreErrorCode.DiskFull,
			`The disk is full while writing ${file}. Free some space and run the same command again: finished work is kept.`,
			{ file },
			{ cause: error }
		);
	}
	if (error instanceof Error && (error.name === 'AbortError' || code === 'ABORT_ERR')) {
		return new CoreError(CoreErrorCode.Aborted, 'Stopped on request.', { file }, { cause: error });
	}
	return error;
}
