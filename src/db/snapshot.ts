import { copyFile, rename, rm, stat } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { sqliteCode } from './database.js';
import { IndexError, IndexErrorCode } from './errors.js';
import { defaultMigrationsFolder, openIndex } from './history-index.js';

export interface RestoreIndexOptions {
	/** A snapshot written by `HistoryIndex.snapshot` (already decrypted by the archive service). */
	readonly snapshot: string;
	/** The index file to replace (DOS_DB_PATH). Nothing may have it open. */
	readonly path: string;
	/** Default: the committed migrations. */
	readonly migrationsFolder?: string;
}

export interface RestoredIndex {
	/** Where the replaced index was kept (`<path>.before-restore`), or null when there was none. */
	readonly previous: string | null;
}

/**
 * Replaces the index file at `path` with a snapshot. Restoring is an offline step (`dos index restore`, with
 * the bot stopped): it refuses while another connection has the index open, then keeps the old file as
 * `<path>.before-restore`, removes its `-wal`/`-shm` (which would otherwise be replayed onto the new file),
 * and moves a copy of the snapshot into place. The next {@link openIndex} migrates it if it is older.
 *
 * Why close-and-replace rather than copying pages into the open database: SQLite's backup API can only write
 * into a connection nothing else uses, and every reference to the old `HistoryIndex` would have to be
 * re-pointed anyway; a restart with a fresh `openIndex` is simpler and leaves no half-restored state.
 *
 * @throws {IndexError} BAD_SNAPSHOT when the file is not a sound index snapshot; INDEX_TOO_NEW when a newer
 * version wrote it; INDEX_BUSY when the index is open elsewhere (stop the bot first).
 */
export async function restoreIndexSnapshot(options: RestoreIndexOptions): Promise<RestoredIndex> {
	checkSnapshot(options.snapshot, options.migrationsFolder ?? defaultMigrationsFolder);
	const incoming = `${options.path}.restoring`;
	await copyFile(options.snapshot, incoming);
	try {
		const existing = await stat(options.path).catch(() => null);
		let previous: string | null = null;
		if (existing) {
			releaseWal(options.path);
			previous = `${options.path}.before-restore`;
			await rename(options.path, previous);
		}
		await rm(`${options.path}-wal`, { force: true });
		await rm(`${options.path}-shm`, { force: true });
		releaseRestoredJobs(incoming, options.migrationsFolder ?? defaultMigrationsFolder);
		await rename(incoming, options.path);
		return { previous };
	} catch (error) {
		await rm(incoming, { force: true });
		throw error;
	}
}

/**
 * Marks interrupted the jobs the snapshot shows running (see `JobLocks.interruptRestored`), in the copy about to be
 * moved into place; the copy is migrated on the way, as the next open would do anyway.
 */
function releaseRestoredJobs(copy: string, migrationsFolder: string): void {
	const index = openIndex({ path: copy, migrationsFolder });
	try {
		index.jobs.interruptRestored();
	} finally {
		// The last connection to close checkpoints the WAL into the file and removes it: the copy is one file again.
		index.close();
	}
}

/** Opens the snapshot read-only and checks that it is a sound index this build can read. */
function checkSnapshot(file: string, migrationsFolder: string): void {
	let snapshot: Database.Database;
	try {
		snapshot = new Database(file, { readonly: true, fileMustExist: true });
	} catch (error) {
		throw new IndexError(
			IndexErrorCode.BadSnapshot,
			`Cannot open the snapshot ${file}: ${(error as Error).message}.`,
			{ file },
			{ cause: error }
		);
	}
	try {
		const check = snapshot.pragma('quick_check', { simple: true });
		const tables = new Set(
			(snapshot.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((row) => row.name)
		);
		if (check !== 'ok' || !tables.has('__drizzle_migrations') || !tables.has('archives')) {
			throw new IndexError(
				IndexErrorCode.BadSnapshot,
				`${file} is not a sound index snapshot (${check === 'ok' ? 'no index tables' : String(check)}). Pick another backup.`,
				{ file }
			);
		}
		const { newest } = snapshot.prepare('SELECT max(created_at) AS newest FROM __drizzle_migrations').get() as { newest: number | null };
		const newestKnown = Math.max(0, ...readMigrationFiles({ migrationsFolder }).map((migration) => migration.folderMillis));
		// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- SQLite may hand back a bigint where the cast says number
		if (newest != null && Number(newest) > newestKnown) {
			throw new IndexError(
				IndexErrorCode.IndexTooNew,
				`The snapshot ${file} was written by a newer version of this program: upgrade it first.`,
				{ file }
			);
		}
	} catch (error) {
		if (error instanceof IndexError) throw error;
		throw new IndexError(
			IndexErrorCode.BadSnapshot,
			`${file} is not an index snapshot: ${(error as Error).message}.`,
			{ file },
			{ cause: error }
		);
	} finally {
		snapshot.close();
	}
}

/**
 * Folds the WAL into the main file and leaves WAL mode, which SQLite only allows when no other connection
 * has the file open: the check that nothing is using the index.
 */
function releaseWal(path: string): void {
	const target = new Database(path, { fileMustExist: true, timeout: 0 });
	try {
		const mode = target.pragma('journal_mode = DELETE', { simple: true });
		if (mode !== 'delete') throw new Error(`journal mode stayed ${String(mode)}`);
	} catch (error) {
		throw new IndexError(
			IndexErrorCode.IndexBusy,
			`The index ${path} is open in another process (the bot or another dos command). Stop it, then restore again.`,
			{ file: path },
			{ cause: sqliteCode(error) === undefined ? error : undefined }
		);
	} finally {
		target.close();
	}
}
