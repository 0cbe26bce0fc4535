/**
 * What the query classes share: the Drizzle handle, the clock and the translation of SQLite failures.
 * Internal to src/db: nothing here is exported from src/db/index.ts, so the driver's types stay inside.
 */
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { IndexError, IndexErrorCode } from './errors.js';
import type * as schema from './schema.js';

export type IndexDatabase = BetterSQLite3Database<typeof schema>;

export interface IndexContext {
	readonly db: IndexDatabase;
	/** The file behind the connection, or `:memory:`. */
	readonly file: string;
	/** Milliseconds since the epoch; injectable so leases can be tested without waiting. */
	readonly clock: () => number;
}

/** The current time of the index's clock. */
export function now(context: IndexContext): Date {
	return new Date(context.clock());
}

/**
 * Runs `work` in one write transaction (`BEGIN IMMEDIATE`: the write lock is taken up front, so two
 * connections never both read and then both fail to upgrade). Nested calls become savepoints.
 */
export function write<T>(context: IndexContext, work: () => T): T {
	return guard(context, () => context.db.transaction(() => work(), { behavior: 'immediate' }));
}

/** The prepared statement of `cache` for this connection, built on first use. */
export function cached<T>(cache: WeakMap<IndexDatabase, T>, db: IndexDatabase, build: (db: IndexDatabase) => T): T {
	let statement = cache.get(db);
	if (statement === undefined) {
		statement = build(db);
		cache.set(db, statement);
	}
	return statement;
}

/** Runs `work`, turning SQLite's operational failures into IndexErrors that say what to do. */
export function guard<T>(context: IndexContext, work: () => T): T {
	try {
		return work();
	} catch (error) {
		throw translateSqliteError(error, context.file);
	}
}

/** The SQLite error code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT_UNIQUE`…) of an error or of one of its causes. */
export function sqliteCode(error: unknown): string | undefined {
	for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
		const code = (current as Error & { code?: unknown }).code;
		if (typeof code === 'string' && code.startsWith('SQLITE_')) return code;
	}
	return undefined;
}

/** Maps the failures a user can act on (busy, disk full, damaged file); returns anything else unchanged. */
export function translateSqliteError(error: unknown, file: string): unknown {
	if (error instanceof IndexError) return error;
	const code = sqliteCode(error);
	if (code === undefined) return error;
	if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
		return new IndexError(
			IndexErrorCode.IndexBusy,
			`The index ${file} is locked by another process for too long. Wait for its job to finish, or stop the other bot or CLI using it, and try again.`,
			{ file },
			{ cause: error }
		);
	}
	if (code === 'SQLITE_FULL') {
		return new IndexError(
			IndexErrorCode.IndexDiskFull,
			`The disk holding the index ${file} is full. Free some space and try again: nothing recorded so far is lost.`,
			{ file },
			{ cause: error }
		);
	}
	if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
		return new IndexError(
			IndexErrorCode.IndexUnreadable,
			`The index ${file} is damaged or is not an index. Restore it from an index backup (dos index restore) or rebuild it from Discord (/archive rebuild).`,
			{ file },
			{ cause: error }
		);
	}
	return error;
}
