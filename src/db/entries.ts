import { and, asc, desc, eq, gt, gte, inArray, lt, lte, sql, type SQL } from 'drizzle-orm';
import { normalizeSha256 } from './content.js';
import { cached, guard, write, type IndexContext, type IndexDatabase } from './database.js';
import { IndexError, IndexErrorCode } from './errors.js';
import { archives, chunks, entries } from './schema.js';
import { cleanSearchText, containsPattern, minimumTermLength, searchTerms } from './search-query.js';
import type { ArchiveStatus } from './vocabulary.js';

/** An entry's row in the index. */
export type EntryRecord = typeof entries.$inferSelect;

/** A search hit: the entry, and the archive that holds it. */
export interface EntryHit {
	readonly entry: EntryRecord;
	readonly archive: {
		readonly lot: number;
		readonly id: string;
		readonly label: string | null;
		readonly source: string;
		readonly status: ArchiveStatus;
	};
}

export interface EntrySearchOptions {
	/** Only in archives with these statuses; all when omitted. */
	readonly statuses?: readonly ArchiveStatus[];
	/** Only in these archives (by lot). */
	readonly lots?: readonly number[];
	/** 1–100; default 25. */
	readonly limit?: number;
	/** The `nextBefore` of the previous page. */
	readonly before?: number;
}

export interface EntrySearchPage {
	/** Newest archives first (entries recorded later first). */
	readonly hits: readonly EntryHit[];
	readonly nextBefore: number | null;
}

export interface EntryListOptions {
	/** Only the entries below this folder (relative path, no trailing `/`), at any depth. */
	readonly under?: string;
	/** Entries recorded after this entry id (the `id` of the last entry of the previous page). */
	readonly after?: number;
	/** Default 1,000. */
	readonly limit?: number;
}

/** The files, directories and symlinks of archives: listing, spans and search by name. */
export class EntryIndex {
	readonly #context: IndexContext;

	/** @internal Built by {@link openIndex}. */
	public constructor(context: IndexContext) {
		this.#context = context;
	}

	/** One entry of an archive by its path. */
	public get(lot: number, path: string): EntryRecord | undefined {
		return guard(this.#context, () =>
			this.#context.db
				.select()
				.from(entries)
				.where(and(eq(entries.archiveLot, lot), eq(entries.path, path)))
				.get()
		);
	}

	/**
	 * Autocomplete for a path inside one archive (`/archive download path:`): entries whose path holds `query` (any
	 * case for ASCII), folders first, then the shallowest and alphabetical; at most `limit` (default 25, Discord's
	 * bound). An empty query gives the top of the tree. One range of the archive's path index, filtered.
	 */
	public suggestPaths(lot: number, query: string, limit = 25): Pick<EntryRecord, 'path' | 'type' | 'size'>[] {
		const text = cleanSearchText(query).replace(/^\/+/u, '');
		const count = Math.max(1, Math.min(limit, 25));
		return guard(this.#context, () =>
			this.#context.db
				.select({ path: entries.path, type: entries.type, size: entries.size })
				.from(entries)
				.where(and(eq(entries.archiveLot, lot), text === '' ? undefined : sql`${entries.path} like ${containsPattern(text)} escape '\\'`))
				.orderBy(
					sql`case when ${entries.type} = 'directory' then 0 else 1 end`,
					sql`length(${entries.path}) - length(replace(${entries.path}, '/', ''))`,
					asc(entries.path)
				)
				.limit(count)
				.all()
		);
	}

	/**
	 * A page of an archive's entries, in the order they were recorded (manifest order); with `under`, only
	 * those below a folder (a range on the archive's path index: `folder/` ≤ path < `folder0`).
	 */
	public list(lot: number, options: EntryListOptions = {}): EntryRecord[] {
		const folder = options.under?.replace(/\/+$/u, '');
		return guard(this.#context, () =>
			this.#context.db
				.select()
				.from(entries)
				.where(
					and(
						eq(entries.archiveLot, lot),
						folder === undefined || folder === '' ? undefined : and(gte(entries.path, `${folder}/`), lt(entries.path, `${folder}0`)),
						options.after === undefined ? undefined : gt(entries.id, options.after)
					)
				)
				.orderBy(asc(entries.id))
				.limit(options.limit ?? 1_000)
				.all()
		);
	}

	/**
	 * The files whose bytes lie in data chunks `first … last` of an archive (to name the files behind a chunk
	 * whose source bytes changed, or to restore only what a range of chunks holds).
	 */
	public spanning(lot: number, first: number, last: number = first): EntryRecord[] {
		return guard(this.#context, () =>
			this.#context.db
				.select()
				.from(entries)
				.where(and(eq(entries.archiveLot, lot), lte(entries.firstChunk, last), gte(entries.lastChunk, first)))
				.orderBy(asc(entries.id))
				.all()
		);
	}

	/**
	 * Records the sha256 of files once the slicer has read them, in one transaction: the end-of-upload record of every
	 * file's hash. Files whose hash is already recorded, with the same value, are left as they are (an upload records
	 * most hashes as it goes, with the chunk that completes each file: see `ChunkIndex.markStored`).
	 *
	 * @returns how many entries changed.
	 * @throws {IndexError} INVALID_RECORD for a malformed hash.
	 */
	public setFileHashes(lot: number, hashes: Iterable<readonly [path: string, sha256: string]>): number {
		const normalized = [...hashes].map(([path, sha256]) => [path, normalizeSha256(lot, `The sha256 of ${path}`, sha256)!] as const);
		return write(this.#context, () => {
			const statement = cached(fileHashSets, this.#context.db, buildFileHashSet);
			let changed = 0;
			for (const [path, sha256] of normalized) changed += statement.run({ lot, path, sha256 }).changes;
			return changed;
		});
	}

	/**
	 * Finds entries (files, folders, symlinks) whose name contains every whitespace-separated term of `query`,
	 * across archives, through the trigram full-text index: case-insensitive, accents ignored, substrings
	 * anywhere in the name, newest archives first. At least one term needs 3 characters; shorter terms narrow
	 * what the long ones found. A folder's files are then listed with `list(lot, { under })`.
	 *
	 * @throws {IndexError} QUERY_TOO_SHORT when no term has 3 characters; INVALID_RECORD for a limit outside 1–100.
	 */
	public search(query: string, options: EntrySearchOptions = {}): EntrySearchPage {
		const { match, shortTerms } = searchTerms(query, ['name']);
		if (match === null) {
			throw new IndexError(
				IndexErrorCode.QueryTooShort,
				`Type at least ${minimumTermLength} characters of the file name to search for (got "${cleanSearchText(query)}").`
			);
		}
		const limit = options.limit ?? 25;
		if (!Number.isSafeInteger(limit) || limit < 1 || limit > 100) {
			throw new IndexError(IndexErrorCode.InvalidRecord, `A page holds 1 to 100 hits, not ${limit}.`);
		}
		if (options.statuses?.length === 0 || options.lots?.length === 0) return { hits: [], nextBefore: null };
		const conditions: SQL[] = [
			sql`entries_fts match ${match}`,
			...(options.before === undefined ? [] : [sql`f.rowid < ${options.before}`]),
			...shortTerms.map((term) => sql`e.name like ${containsPattern(term)} escape '\\'`),
			...(options.statuses === undefined ? [] : [sql`a.status in ${valueList(options.statuses)}`]),
			...(options.lots === undefined ? [] : [sql`e.archive_lot in ${valueList(options.lots)}`])
		];
		return guard(this.#context, () => {
			// CROSS JOIN keeps the FTS table as the outer loop: it yields rowids newest first and the LIMIT stops
			// the scan early, however many entries match.
			const ids = this.#context.db
				.all<{ id: number }>(
					sql`select e.id as id from entries_fts as f cross join entries as e on e.id = f.rowid cross join archives as a on a.lot = e.archive_lot
						where ${sql.join(conditions, sql` and `)} order by f.rowid desc limit ${limit + 1}`
				)
				.map((row) => row.id);
			if (ids.length === 0) return { hits: [], nextBefore: null };
			const rows = this.#context.db
				.select({
					entry: entries,
					archive: { lot: archives.lot, id: archives.id, label: archives.label, source: archives.source, status: archives.status }
				})
				.from(entries)
				.innerJoin(archives, eq(archives.lot, entries.archiveLot))
				.where(inArray(entries.id, ids))
				.orderBy(desc(entries.id))
				.all();
			const hits = rows.slice(0, limit);
			return { hits, nextBefore: rows.length > limit ? (hits.at(-1)?.entry.id ?? null) : null };
		});
	}
}

/**
 * Records the sha256 of files whose every byte is stored, inside the caller's write transaction (the one that records
 * a chunk as stored). A file's hash is written only when each data chunk it spans is stored — so the index never holds
 * a hash for bytes that were never posted — and never over another hash recorded before (that would describe other
 * bytes than the ones posted). Recording the same hash again changes nothing.
 *
 * @throws {IndexError} INVALID_RECORD for a malformed hash, a path that is no file of the archive, a file with a chunk
 * not stored yet, or a file whose recorded hash differs.
 */
export function recordStoredFileHashes(context: IndexContext, lot: number, hashes: Iterable<readonly [path: string, sha256: string]>): number {
	const statement = cached(storedFileHashSets, context.db, buildStoredFileHashSet);
	let recorded = 0;
	for (const [path, given] of hashes) {
		const sha256 = normalizeSha256(lot, `The sha256 of ${path}`, given)!;
		if (statement.run({ lot, path, sha256 }).changes === 1) {
			recorded++;
			continue;
		}
		const entry = context.db
			.select({ type: entries.type, sha256: entries.sha256 })
			.from(entries)
			.where(and(eq(entries.archiveLot, lot), eq(entries.path, path)))
			.get();
		const why =
			entry?.type !== 'file'
				? `there is no file ${path} in the archive`
				: entry.sha256 !== null && entry.sha256 !== sha256
					? `another sha256 is recorded for ${path} (${entry.sha256}): its bytes on Discord are those, not the ones hashed now`
					: `not every chunk holding ${path} is stored yet, and a hash is recorded only for bytes already posted`;
		throw new IndexError(IndexErrorCode.InvalidRecord, `Cannot record the sha256 of ${path} in lot ${lot}: ${why}.`, { lot });
	}
	return recorded;
}

/** The end-of-upload update: one prepared statement, run once per file. */
function buildFileHashSet(db: IndexDatabase) {
	return db
		.update(entries)
		.set({ sha256: sql`${sql.placeholder('sha256')}` })
		.where(
			and(
				eq(entries.archiveLot, sql.placeholder('lot')),
				eq(entries.path, sql.placeholder('path')),
				sql`${entries.sha256} is not ${sql.placeholder('sha256')}`
			)
		)
		.prepare();
}

/**
 * The guarded update of {@link recordStoredFileHashes}. Raw SQL for the subquery: the query builder names the updated
 * table's columns unqualified, which inside the subquery would resolve to the chunks' columns of the same name.
 */
function buildStoredFileHashSet(db: IndexDatabase) {
	return db
		.update(entries)
		.set({ sha256: sql`${sql.placeholder('sha256')}` })
		.where(
			sql`"entries"."archive_lot" = ${sql.placeholder('lot')} and "entries"."path" = ${sql.placeholder('path')} and "entries"."type" = 'file'
				and ("entries"."sha256" is null or "entries"."sha256" = ${sql.placeholder('sha256')})
				and ("entries"."first_chunk" is null or not exists (
					select 1 from ${chunks} where "chunks"."archive_lot" = "entries"."archive_lot" and "chunks"."kind" = 'data'
						and "chunks"."chunk_index" between "entries"."first_chunk" and "entries"."last_chunk" and "chunks"."state" <> 'stored'))`
		)
		.prepare();
}

const fileHashSets = new WeakMap<IndexDatabase, ReturnType<typeof buildFileHashSet>>();
const storedFileHashSets = new WeakMap<IndexDatabase, ReturnType<typeof buildStoredFileHashSet>>();

/** `(v1, v2, …)` with each value bound as a parameter, for `in`. */
function valueList(values: readonly (string | number)[]): SQL {
	return sql`(${sql.join(
		values.map((value) => sql`${value}`),
		sql`, `
	)})`;
}
