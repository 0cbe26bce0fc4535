/**
 * The base of every layer's error class (CoreError, IndexError, TransportError, ArchiveError, the bot's BotError):
 * a stable `code` from the layer's own vocabulary, a message that says what happened and what to do, details for
 * code that acts on the failure, and the `cause` of standard errors. `name` is the concrete class's name.
 *
 * Codes are unique within a layer only (`NOT_FOUND` is a CoreError code and a TransportError code): code that maps
 * failures to words must match the class and the code together, see {@link CodeTable}.
 */
// eslint-disable-next-line @typescript-eslint/no-generated-empty-object-type -- a deliberate default: codes without details carry no fields
export abstract class CodedError<Code extends string, Details extends object = Readonly<Record<never, never>>> extends Error {
	public readonly code: Code;
	public readonly details: Details;

	protected constructor(code: Code, message: string, details: Details, options?: ErrorOptions) {
		super(message, options);
		this.name = new.target.name;
		this.code = code;
		this.details = details;
	}
}

/** A class of {@link CodedError}s (the constructor), as `instanceof` takes it. */
export type CodedErrorClass<E extends CodedError<string, object>> = abstract new (...args: never[]) => E;

/**
 * Codes picked per error class — "these CoreError codes and these TransportError codes" — answering whether an
 * error is one of them by its class AND its code, so one layer's `NOT_FOUND` never stands for another's.
 */
export class CodeTable {
	readonly #entries: readonly (readonly [CodedErrorClass<CodedError<string, object>>, ReadonlySet<string>])[];

	private constructor(entries: readonly (readonly [CodedErrorClass<CodedError<string, object>>, ReadonlySet<string>])[]) {
		this.#entries = entries;
	}

	/** An empty table; add classes with {@link CodeTable.with}. */
	public static empty(): CodeTable {
		return new CodeTable([]);
	}

	/** This table plus `codes` of `type` (type-checked against that class's vocabulary). */
	public with<E extends CodedError<string, object>>(type: CodedErrorClass<E>, codes: readonly E['code'][]): CodeTable {
		return new CodeTable([...this.#entries, [type, new Set<string>(codes)]]);
	}

	/** Whether `error` is an instance of a class of the table with one of the codes listed for that class. */
	public has(error: unknown): boolean {
		if (!(error instanceof CodedError)) return false;
		const code = (error as CodedError<string, object>).code;
		return this.#entries.some(([type, codes]) => error instanceof type && codes.has(code));
	}
}

/** The codes of {@link CoreError}. */
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

/**
 * The one error class of the storage engine. Every failure a user can meet carries a stable `code`
 * (the CLI and the bot map codes to exit codes and replies in one place each) and a message that says
 * what happened and what to do about it.
 */
export class CoreError extends CodedError<CoreErrorCode, CoreErrorDetails> {
	public constructor(code: CoreErrorCode, message: string, details: CoreErrorDetails = {}, options?: ErrorOptions) {
		super(code, message, details, options);
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
