import { mkdirSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { ArchiveIndex, type Archive } from './archives.js';
import { IndexBackupLog, type IndexBackup } from './backups.js';
import { ChunkIndex } from './chunks.js';
import { guard, now, translateSqliteError, write, type IndexContext } from './database.js';
import { EntryIndex } from './entries.js';
import { IndexError, IndexErrorCode } from './errors.js';
import { JobLocks, type Job } from './jobs.js';
import { LegacyMessageIndex } from './legacy-messages.js';
import { PackIndex, type RepositoryTotals } from './packs.js';
import { RepositoryKeysIndex } from './repository-keys.js';
import * as schema from './schema.js';
import { ArchiveStatus, valuesOf } from './vocabulary.js';

/**
 * The committed migrations: `migrations/` at the repository root, two levels above this module both as
 * `src/db/history-index.ts` (tests) and as `dist/db/history-index.js` (built).
 */
export const defaultMigrationsFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

export interface OpenIndexOptions {
	/** The SQLite file (its folder is created), or `:memory:` for a private in-memory index. */
	readonly path: string;
	/**
	 * How long a write waits for another process's lock before failing with INDEX_BUSY. Default 30 s: recording
	 * the plan of a very large upload (a million files) holds the write lock for several seconds. Reads never wait (WAL).
	 */
	readonly busyTimeoutMs?: number;
	/** Milliseconds since the epoch; default `Date.now`. Tests inject a clock to expire leases without waiting. */
	readonly clock?: () => number;
	/** Default {@link defaultMigrationsFolder}. */
	readonly migrationsFolder?: string;
}

/** Counts and latest events, for `/archive status`. */
export interface IndexStatus {
	readonly archives: { readonly total: number; readonly byStatus: Readonly<Record<ArchiveStatus, number>> };
	readonly lastArchive: Archive | null;
	readonly lastBackup: IndexBackup | null;
	readonly runningJobs: readonly Job[];
	readonly queuedJobs: readonly Job[];
	/** The format 2 repository of the index: archives, packs and blobs (docs/design.md §9). */
	readonly repository: RepositoryTotals;
}

/** A snapshot file written by {@link HistoryIndex.snapshot}. */
export interface IndexSnapshot {
	readonly file: string;
	readonly bytes: number;
	readonly takenAt: Date;
}

/** A statement run inside {@link HistoryIndex.queryPlans}, with SQLite's plan for it. */
export interface QueryPlan {
	readonly sql: string;
	/** The `detail` lines of `EXPLAIN QUERY PLAN`, e.g. `SEARCH archives USING INDEX archives_id_unique (id>? AND id<?)`. */
	readonly plan: readonly string[];
}

/**
 * The history index: one SQLite connection and the queries of each aggregate. It owns the connection
 * ({@link close}); the driver and Drizzle stay inside this module.
 */
export class HistoryIndex {
	/** The file behind the index, or `:memory:`. */
	public readonly path: string;
	public readonly archives: ArchiveIndex;
	public readonly chunks: ChunkIndex;
	public readonly entries: EntryIndex;
	public readonly jobs: JobLocks;
	public readonly backups: IndexBackupLog;
	public readonly legacyMessages: LegacyMessageIndex;
	/** The format 2 repository keys of each archive channel (a mirror of the pinned keys message). */
	public readonly repositoryKeys: RepositoryKeysIndex;
	/** The format 2 packs, their blobs and the blobs each archive references. */
	public readonly packs: PackIndex;

	readonly #client: Database.Database;
	readonly #context: IndexContext;
	readonly #recorder: { statements: { sql: string; params: unknown[] }[] | null };

	/** @internal Use {@link openIndex}. */
	public constructor(client: Database.Database, context: IndexContext, recorder: { statements: { sql: string; params: unknown[] }[] | null }) {
		this.#client = client;
		this.#context = context;
		this.#recorder = recorder;
		this.path = context.file;
		this.archives = new ArchiveIndex(context);
		this.chunks = new ChunkIndex(context);
		this.entries = new EntryIndex(context);
		this.jobs = new JobLocks(context);
		this.backups = new IndexBackupLog(context);
		this.legacyMessages = new LegacyMessageIndex(context, this.archives);
		this.repositoryKeys = new RepositoryKeysIndex(context);
		this.packs = new PackIndex(context);
	}

	/**
	 * Runs `work` in one write transaction: what several aggregates record together (a rebuilt archive's row, entries,
	 * packs and references) lands whole or not at all. `work` must be synchronous.
	 */
	public transaction<T>(work: () => T): T {
		return write(this.#context, work);
	}

	/** Whether the connection is still open. */
	public get isOpen(): boolean {
		return this.#client.open;
	}

	/** Archive counts by status, the newest archive, the newest backup, running and queued jobs. */
	public status(): IndexStatus {
		const { db } = this.#context;
		return guard(this.#context, () => {
			const byStatus = Object.fromEntries(valuesOf(ArchiveStatus).map((status) => [status, 0])) as Record<ArchiveStatus, number>;
			const rows = db
				.select({ status: schema.archives.status, count: sql<number>`count(*)` })
				.from(schema.archives)
				.groupBy(schema.archives.status)
				.all();
			for (const row of rows) byStatus[row.status] = row.count;
			return {
				archives: { total: rows.reduce((sum, row) => sum + row.count, 0), byStatus },
				lastArchive: this.archives.list({ limit: 1 }).archives[0] ?? null,
				lastBackup: this.backups.latest() ?? null,
				runningJobs: this.jobs.running(),
				queuedJobs: this.jobs.queued(),
				repository: this.packs.totals()
			};
		});
	}

	/** A value of the index's own key/value table. */
	public readMeta(key: string): string | undefined {
		return guard(this.#context, () => this.#context.db.select().from(schema.meta).where(eq(schema.meta.key, key)).get()?.value);
	}

	/** Sets a value of the index's own key/value table. */
	public writeMeta(key: string, value: string): void {
		write(this.#context, () =>
			this.#context.db.insert(schema.meta).values({ key, value }).onConflictDoUpdate({ target: schema.meta.key, set: { value } }).run()
		);
	}

	/**
	 * Writes a consistent copy of the whole index to `file` with SQLite's online backup API, while the index
	 * stays in use. The copy is a single self-contained file (rollback journal, no `-wal`), written under a
	 * temporary name and renamed into place. The archive service seals and posts it as an index backup.
	 *
	 * @throws {IndexError} INDEX_DISK_FULL; INDEX_BUSY.
	 */
	public async snapshot(file: string): Promise<IndexSnapshot> {
		const takenAt = now(this.#context);
		const partial = join(dirname(file), `.${Date.now().toString(36)}-${process.pid}.snapshot-partial`);
		await mkdir(dirname(file), { recursive: true });
		try {
			await this.#client.backup(partial);
			const copy = new Database(partial);
			try {
				copy.pragma('journal_mode = DELETE');
			} finally {
				copy.close();
			}
			await rename(partial, file);
		} catch (error) {
			await rm(partial, { force: true });
			throw translateSqliteError(error, file);
		}
		return { file, bytes: (await stat(file)).size, takenAt };
	}

	/**
	 * Checks the file and both full-text indexes. Returns the problems found (empty when healthy), for
	 * `dos index check` and the tests.
	 */
	public integrityProblems(): string[] {
		const problems: string[] = [];
		const rows = this.#client.pragma('quick_check') as { quick_check: string }[];
		for (const row of rows) if (row.quick_check !== 'ok') problems.push(row.quick_check);
		for (const table of ['entries_fts', 'archives_fts']) {
			try {
				this.#client.prepare(`INSERT INTO ${table} (${table}, rank) VALUES ('integrity-check', 1)`).run();
			} catch (error) {
				problems.push(`${table}: ${error instanceof Error ? error.message : String(error)}`);
			}
		}
		return problems;
	}

	/**
	 * Runs `work` and returns SQLite's query plan for every SELECT it ran: a diagnostic for tests and for
	 * `dos index explain`, to prove that a lookup uses an index rather than scanning a table.
	 */
	public queryPlans(work: (index: this) => void): QueryPlan[] {
		const statements: { sql: string; params: unknown[] }[] = [];
		this.#recorder.statements = statements;
		try {
			work(this);
		} finally {
			this.#recorder.statements = null;
		}
		return statements
			.filter((statement) => /^\s*(select|with)\b/i.test(statement.sql))
			.map((statement) => ({
				sql: statement.sql,
				plan: (this.#client.prepare(`EXPLAIN QUERY PLAN ${statement.sql}`).all(...(statement.params as never[])) as { detail: string }[]).map(
					(row) => row.detail
				)
			}));
	}

	/** Closes the connection (after letting SQLite refresh its planner statistics). Idempotent. */
	public close(): void {
		if (!this.#client.open) return;
		try {
			this.#client.pragma('optimize');
		} finally {
			this.#client.close();
		}
	}
}

/**
 * Opens (creating when needed) the history index at `options.path`: sets the pragmas (WAL for files,
 * foreign keys, busy timeout, synchronous NORMAL) and applies the committed migrations. Nothing is opened at
 * import time; the caller owns the result and closes it.
 *
 * @throws {IndexError} INDEX_UNREADABLE when the file is not an index, is damaged, or migrating it fails;
 * INDEX_TOO_NEW when a newer version of the program wrote it; INDEX_BUSY when another process keeps it locked.
 */
export function openIndex(options: OpenIndexOptions): HistoryIndex {
	const file = options.path;
	const migrationsFolder = options.migrationsFolder ?? defaultMigrationsFolder;
	const busyTimeoutMs = options.busyTimeoutMs ?? 30_000;
	const inMemory = file === ':memory:';
	if (!inMemory) mkdirSync(dirname(file), { recursive: true });
	let client: Database.Database;
	try {
		client = new Database(file, { timeout: busyTimeoutMs });
	} catch (error) {
		throw new IndexError(
			IndexErrorCode.IndexUnreadable,
			`Cannot open the index ${file}: ${error instanceof Error ? error.message : String(error)}. Check the path (DOS_DB_PATH) and its permissions.`,
			{ file },
			{ cause: error }
		);
	}
	const recorder: { statements: { sql: string; params: unknown[] }[] | null } = { statements: null };
	try {
		if (!inMemory) client.pragma('journal_mode = WAL');
		client.pragma('foreign_keys = ON');
		client.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
		client.pragma('synchronous = NORMAL');
		const db = drizzle({ client, schema, logger: { logQuery: (query, params) => recorder.statements?.push({ sql: query, params }) } });
		applyMigrations(client, db, file, migrationsFolder);
		client.pragma('optimize = 0x10002');
		return new HistoryIndex(client, { db, file, clock: options.clock ?? Date.now }, recorder);
	} catch (error) {
		client.close();
		throw translateSqliteError(error, file);
	}
}

function applyMigrations(client: Database.Database, db: Parameters<typeof migrate>[0], file: string, migrationsFolder: string): void {
	const known = readMigrationFiles({ migrationsFolder });
	const newestKnown = Math.max(0, ...known.map((migration) => migration.folderMillis));
	const newestApplied = newestMigrationApplied(client);
	if (newestApplied !== null && newestApplied > newestKnown) {
		throw new IndexError(
			IndexErrorCode.IndexTooNew,
			`The index ${file} was written by a newer version of this program. Upgrade it, or point DOS_DB_PATH at another file.`,
			{ file }
		);
	}
	// Migrations that rebuild a table (create, copy, drop, rename) must run with foreign keys off: drizzle runs them in
	// one transaction, where `PRAGMA foreign_keys=OFF` in a migration's SQL has no effect, and dropping a parent table
	// would delete every child row by cascade. The keys are checked once the migrations are done, and turned on again.
	client.pragma('foreign_keys = OFF');
	try {
		migrateOnce(db, file, migrationsFolder);
		const broken = client.pragma('foreign_key_check') as { table: string; parent: string }[];
		if (broken.length > 0) {
			throw new IndexError(
				IndexErrorCode.IndexUnreadable,
				`Migrating the index ${file} left ${broken.length} row(s) whose parent is missing (first: ${broken[0]!.table} → ${broken[0]!.parent}). Restore it from an index backup or rebuild it from Discord.`,
				{ file }
			);
		}
	} finally {
		client.pragma('foreign_keys = ON');
	}
}

function migrateOnce(db: Parameters<typeof migrate>[0], file: string, migrationsFolder: string): void {
	try {
		migrate(db, { migrationsFolder });
	} catch (first) {
		// Two processes opening a new file at once both try to migrate; the loser fails on "table exists".
		// Once the winner has committed, migrating again finds nothing to do.
		try {
			migrate(db, { migrationsFolder });
		} catch (second) {
			const translated = translateSqliteError(second, file);
			if (translated instanceof IndexError) throw translated;
			throw new IndexError(
				IndexErrorCode.IndexUnreadable,
				`Migrating the index ${file} failed: ${second instanceof Error ? second.message : String(second)}. Restore it from an index backup or rebuild it from Discord.`,
				{ file },
				{ cause: new AggregateError([first, second]) }
			);
		}
	}
}

/** The `created_at` of the newest applied migration, or null for a new file. */
function newestMigrationApplied(client: Database.Database): number | null {
	const table = client.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'`).get();
	if (!table) return null;
	const row = client.prepare('SELECT max(created_at) AS newest FROM __drizzle_migrations').get() as { newest: number | null } | undefined;
	// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-conversion -- SQLite may hand back a bigint where the cast says number
	return row?.newest == null ? null : Number(row.newest);
}
