import { and, desc, eq, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import { formatArchiveId, looksLikeArchiveId, parseArchiveId, type ParsedArchiveId } from '../core/archive-id.js';
import { insertChunks, insertEntries, type ArchiveEntryInput, type PlannedChunkInput, type RecordedChunkInput } from './content.js';
import { guard, now, sqliteCode, write, type IndexContext } from './database.js';
import { IndexError, IndexErrorCode } from './errors.js';
import { archives, chunks, entries, lotCounter, packs } from './schema.js';
import { cleanSearchText, containsPattern, searchTerms } from './search-query.js';
import { ArchiveFormat, ArchiveStatus, ChunkState, PackState, type VerificationLevel } from './vocabulary.js';

/** An archive's row in the index. */
export type Archive = typeof archives.$inferSelect;

/** The key-derivation parameters of an archive key (not secret). */
export interface ArchiveKdf {
	/** e.g. `pbkdf2-sha256`. */
	readonly id: string;
	readonly iterations: number;
	/** The archive salt, 32 hex digits. */
	readonly salt: string;
}

/** What the upload knows when it creates an archive. */
export interface NewArchive {
	/** The 128-bit archive uid, 32 hex digits. */
	readonly uid: string;
	/** The folder path relative to the upload root. */
	readonly source: string;
	readonly label?: string | null;
	/** Defaults to `dos-1`. */
	readonly format?: ArchiveFormat;
	/** Defaults to `planned`. */
	readonly status?: ArchiveStatus;
	readonly chunkSize: number;
	readonly gzipLevel?: number | null;
	readonly kdf?: ArchiveKdf | null;
	readonly channelId?: string | null;
	readonly threadId?: string | null;
	readonly cardMessageId?: string | null;
	/** The Discord user id who asked for it. */
	readonly createdBy?: string | null;
	/** Defaults to now; its local date makes the id. */
	readonly createdAt?: Date;
}

/** The columns an update may change (never the lot, id or uid). */
export type ArchivePatch = Partial<
	Pick<
		Archive,
		| 'label'
		| 'source'
		| 'status'
		| 'channelId'
		| 'threadId'
		| 'cardMessageId'
		| 'originalBytes'
		| 'storedBytes'
		| 'newBytes'
		| 'reusedBytes'
		| 'fileCount'
		| 'directoryCount'
		| 'symlinkCount'
		| 'chunkCount'
		| 'storedChunkCount'
		| 'chunkSize'
		| 'gzipLevel'
		| 'kdfId'
		| 'kdfIterations'
		| 'archiveSalt'
		| 'completedAt'
		| 'verifiedAt'
		| 'verifyLevel'
		| 'verifyOk'
		| 'verifySummary'
		| 'verifyStale'
		| 'errorCode'
		| 'errorMessage'
	>
>;

/** An archive that already has an id and a lot: a legacy card, or one found again by a rebuild. */
export interface ImportedArchive extends NewArchive, Omit<ArchivePatch, keyof NewArchive> {
	/** `#DDMMYY-NN`; its lot part must equal `lot`. */
	readonly id: string;
	readonly lot: number;
}

/** The plan of an upload: every entry and every data chunk, recorded before anything is posted. */
export interface ArchivePlan {
	readonly entries: readonly ArchiveEntryInput[];
	/** Data chunks `0 … n−1`, in order. */
	readonly chunks: readonly PlannedChunkInput[];
}

/** An archive's whole content as a rebuild found it. */
export interface ArchiveContent extends ImportedArchive {
	readonly entries: readonly ArchiveEntryInput[];
	/** Data chunks and manifest parts, with their state (stored when a message id is given). */
	readonly chunks: readonly RecordedChunkInput[];
}

/** A failure to show on the archive's card. */
export interface ArchiveFailure {
	readonly code: string;
	readonly message: string;
}

/** The outcome of a verification, shown on the card. */
export interface ArchiveVerification {
	readonly level: VerificationLevel;
	readonly ok: boolean;
	readonly summary: string;
	/** Defaults to now. */
	readonly at?: Date;
}

export interface ArchiveListOptions {
	/** Matches an id prefix (`#2411`, `241126-0`), a lot (`7`, `-07`), or a fragment of the label or source folder. */
	readonly query?: string;
	/** Only archives in these statuses; all when omitted. */
	readonly statuses?: readonly ArchiveStatus[];
	/** Page size, 1–100; default 10. */
	readonly limit?: number;
	/** The `nextBefore` of the previous page: archives with a lower lot. */
	readonly before?: number;
}

export interface ArchivePage {
	/** Newest (highest lot) first. */
	readonly archives: readonly Archive[];
	/** Pass as `before` for the next page; null on the last page. */
	readonly nextBefore: number | null;
}

export interface SuggestOptions {
	/** Only archives in these statuses (what the subcommand can act on); all when omitted. */
	readonly statuses?: readonly ArchiveStatus[];
	/** At most 25 (Discord's bound for autocomplete choices); default 25. */
	readonly limit?: number;
}

/** One autocomplete choice: the archive, and what matched. */
export interface ArchiveSuggestion {
	readonly archive: Archive;
	readonly matchedBy: 'lot' | 'id' | 'label' | 'file';
	/** For `file`: a matching file name in the archive. */
	readonly fileName?: string;
}

const uidPattern = /^[0-9a-f]{32}$/;

/** Whether typed text is meant as an id, lot or uid (`#241126-07`, `241126-07`, `7`, 32 hex digits), not a name. */
function looksLikeId(text: string): boolean {
	return looksLikeArchiveId(text) || /^\d{1,15}$/.test(text) || uidPattern.test(text.toLowerCase());
}

/**
 * Checks that `id` is an archive id as the index holds it and, when `lot` is given, that it carries that lot.
 *
 * @throws {IndexError} INVALID_ARCHIVE_ID otherwise.
 */
export function assertArchiveId(id: string, lot?: number): ParsedArchiveId {
	const parsed = parseArchiveId(id);
	if (!parsed) {
		throw new IndexError(IndexErrorCode.InvalidArchiveId, `"${id}" is not an archive id: archive ids look like #241126-07 (#DDMMYY-lot).`, {
			archiveId: id
		});
	}
	if (lot !== undefined && parsed.lot !== lot) {
		throw new IndexError(IndexErrorCode.InvalidArchiveId, `The archive id ${id} names lot ${parsed.lot}, not lot ${lot}.`, {
			archiveId: id,
			lot
		});
	}
	return parsed;
}
const saltPattern = /^[0-9a-f]{32}$/;
/** Bound on the file-name hits scanned for autocomplete; rare names are found, common ones saturate early. */
const suggestFileScan = 2_000;
const maxChoices = 25;

/** The archives of the index: creation with a lot, imports, plans, lists, search and autocomplete. */
export class ArchiveIndex {
	readonly #context: IndexContext;

	/** @internal Built by {@link openIndex}. */
	public constructor(context: IndexContext) {
		this.#context = context;
	}

	/**
	 * Creates an archive, allocating its lot and id in the same transaction as its row: the lot is one more
	 * than any lot handed out or imported before, and the id is `#DDMMYY-NN` from `createdAt`.
	 *
	 * @throws {IndexError} INVALID_RECORD for a malformed uid, salt or chunk size; ARCHIVE_EXISTS when the uid is taken.
	 */
	public allocate(input: NewArchive): Archive {
		const { db } = this.#context;
		const values = this.#newRow(input);
		return write(this.#context, () => {
			const { lastLot } = db
				.insert(lotCounter)
				.values({ id: 1, lastLot: sql`(select coalesce(max(lot), 0) + 1 from archives)` })
				.onConflictDoUpdate({ target: lotCounter.id, set: { lastLot: sql`max(last_lot, (select coalesce(max(lot), 0) from archives)) + 1` } })
				.returning({ lastLot: lotCounter.lastLot })
				.get();
			const id = formatArchiveId(values.createdAt, lastLot);
			return this.#insert({ ...values, lot: lastLot, id });
		});
	}

	/**
	 * Records an archive that already has an id and a lot (a legacy card, a rebuild), and moves the lot counter
	 * past its lot so new archives never reuse it.
	 *
	 * @throws {IndexError} INVALID_ARCHIVE_ID when the id is malformed or names another lot; ARCHIVE_EXISTS when the
	 * lot, id or uid is taken; INVALID_RECORD for malformed fields.
	 */
	public import(input: ImportedArchive): Archive {
		assertArchiveId(input.id, input.lot);
		const values = this.#importRow(input);
		return write(this.#context, () => {
			const existing = this.#context.db
				.select({ lot: archives.lot, id: archives.id, uid: archives.uid })
				.from(archives)
				.where(or(eq(archives.lot, values.lot), eq(archives.id, values.id), eq(archives.uid, values.uid)))
				.get();
			if (values.threadId !== null) this.#assertThreadFree(values.threadId, values.lot);
			if (existing) {
				throw new IndexError(
					IndexErrorCode.ArchiveExists,
					`The index already holds archive ${existing.id} (lot ${existing.lot}, uid ${existing.uid}), which clashes with ${values.id}. Rebuild replaces content in place; remove the other archive first if it is stale.`,
					{ lot: existing.lot, archiveId: existing.id }
				);
			}
			const archive = this.#insert(values);
			this.#bumpCounter(values.lot);
			return archive;
		});
	}

	/** The archive with this lot. */
	public get(lot: number): Archive | undefined {
		return guard(this.#context, () => this.#context.db.select().from(archives).where(eq(archives.lot, lot)).get());
	}

	/** The archive whose chunks live in this thread (a thread holds one archive). */
	public findByThread(threadId: string): Archive | undefined {
		return guard(this.#context, () => this.#context.db.select().from(archives).where(eq(archives.threadId, threadId)).get());
	}

	/** The last lot handed out or imported (the next allocation takes a higher one), or 0. */
	public lastLot(): number {
		return guard(this.#context, () => {
			const counter = this.#context.db.select({ lastLot: lotCounter.lastLot }).from(lotCounter).get()?.lastLot ?? 0;
			const highest =
				this.#context.db
					.select({ lot: sql<number | null>`max(${archives.lot})` })
					.from(archives)
					.get()?.lot ?? 0;
			return Math.max(counter, highest);
		});
	}

	/**
	 * Moves the lot counter to at least `lot` (the highest lot seen on Discord), so that no new archive ever takes a lot a
	 * card already shows, even one the index does not hold. Never lowers it.
	 *
	 * @throws {IndexError} INVALID_RECORD when `lot` is not a non-negative safe integer.
	 */
	public raiseLotFloor(lot: number): number {
		if (!Number.isSafeInteger(lot) || lot < 0)
			throw new IndexError(IndexErrorCode.InvalidRecord, `A lot floor is a non-negative integer, not ${lot}.`);
		return write(this.#context, () => {
			if (lot > 0) this.#bumpCounter(lot);
			return this.lastLot();
		});
	}

	/**
	 * The archive a user or a custom id names: `#241126-07`, `241126-07`, the 32-hex uid, or a bare lot (`7`).
	 */
	public find(reference: string): Archive | undefined {
		const text = reference.trim();
		const { db } = this.#context;
		return guard(this.#context, () => {
			if (uidPattern.test(text.toLowerCase())) return db.select().from(archives).where(eq(archives.uid, text.toLowerCase())).get();
			if (/^\d{1,15}$/.test(text)) return this.get(Number(text));
			return db
				.select()
				.from(archives)
				.where(eq(archives.id, text.startsWith('#') ? text : `#${text}`))
				.get();
		});
	}

	/**
	 * Like {@link find}, for callers that cannot go on without the archive. A reference that is no id, lot or uid is
	 * taken as what a person typed into an archive option: a label, source folder or file name, resolved when it
	 * fits one archive (see {@link resolveName}).
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND; AMBIGUOUS_ARCHIVE listing the archives a name fits.
	 */
	public require(reference: string | number): Archive {
		const archive = typeof reference === 'number' ? this.get(reference) : (this.find(reference) ?? this.resolveName(reference));
		if (!archive) {
			const typed = typeof reference === 'number' ? String(reference) : cleanSearchText(reference);
			throw new IndexError(
				IndexErrorCode.ArchiveNotFound,
				typeof reference === 'number' || looksLikeId(typed)
					? `No archive ${typed} in the index. Check the id (/archive list), or rebuild the index from Discord if it was lost (/archive rebuild).`
					: `No archive matches "${typed}" (by id, label, folder or file name). Check the name (/archive list ${typed}), or rebuild the index from Discord if it was lost (/archive rebuild).`,
				typeof reference === 'number' ? { lot: reference } : { archiveId: typed }
			);
		}
		return archive;
	}

	/**
	 * Like {@link require}, for what destroys data: only the id, the lot, the uid or the archive's whole label (any case,
	 * one archive) names it — never a fragment of a label, a folder or a file name, which could fit an archive the
	 * person did not mean.
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND (saying to give the id); AMBIGUOUS_ARCHIVE when several archives carry
	 * that label.
	 */
	public requireExact(reference: string | number): Archive {
		if (typeof reference === 'number') return this.require(reference);
		const found = this.find(reference);
		if (found) return found;
		const folded = cleanSearchText(reference).normalize('NFC').toLocaleLowerCase();
		// Several archives fitting the text stay AMBIGUOUS_ARCHIVE (nothing is deleted); one fitting by a fragment is refused.
		const resolved = this.resolveName(reference);
		const labelled = resolved?.label?.normalize('NFC').toLocaleLowerCase() === folded ? [resolved] : [];
		if (labelled.length === 1) return labelled[0]!;
		throw new IndexError(
			IndexErrorCode.ArchiveNotFound,
			`"${cleanSearchText(reference)}" is not the id, lot, uid or whole label of an archive. Give the archive's id (/archive list) to delete it.`,
			{ archiveId: cleanSearchText(reference) }
		);
	}

	/**
	 * The archive a typed label, source folder or file name names: the one archive whose label or folder holds it, or
	 * holding a file whose name holds it (as autocomplete matches); among several, the one whose label is exactly the
	 * text (any case). `undefined` when nothing matches.
	 *
	 * @throws {IndexError} AMBIGUOUS_ARCHIVE when several archives fit, listing them (newest first, at most 5).
	 */
	public resolveName(text: string): Archive | undefined {
		const typed = cleanSearchText(text);
		if (typed === '') return undefined;
		const candidates = this.suggest(typed).filter((suggestion) => suggestion.matchedBy === 'label' || suggestion.matchedBy === 'file');
		if (candidates.length <= 1) return candidates[0]?.archive;
		const folded = typed.toLocaleLowerCase();
		const exact = candidates.filter(({ archive }) => archive.label?.normalize('NFC').toLocaleLowerCase() === folded);
		if (exact.length === 1) return exact[0]!.archive;
		const shown = (exact.length > 1 ? exact : candidates).slice(0, 5);
		const count = exact.length > 1 ? exact.length : candidates.length;
		const more = count >= maxChoices ? `${count} or more` : String(count);
		throw new IndexError(
			IndexErrorCode.AmbiguousArchive,
			`"${typed}" fits ${more} archives: ${shown
				.map(
					({ archive, fileName }) =>
						`${archive.id} (${[archive.label ?? archive.source, fileName, archive.status].filter(Boolean).join(', ')})`
				)
				.join('; ')}${count > shown.length ? '; …' : ''}. Give the id of the one you mean.`,
			{ archiveId: typed }
		);
	}

	/**
	 * Changes some columns of an archive and stamps `updatedAt`.
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND.
	 */
	public update(lot: number, patch: ArchivePatch): Archive {
		return write(this.#context, () => {
			if (patch.threadId !== undefined && patch.threadId !== null) this.#assertThreadFree(patch.threadId, lot);
			const row = this.#context.db
				.update(archives)
				.set({ ...patch, updatedAt: now(this.#context) })
				.where(eq(archives.lot, lot))
				.returning()
				.get();
			// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- drizzle types .get() as a row but returns undefined when none matched
			return row ?? this.require(lot);
		});
	}

	/**
	 * Moves an archive to `status`. `complete` stamps `completedAt` and clears the last error; `uploading`
	 * clears the last error; `failed` and `interrupted` record `failure` when given; `deleted` marks the last
	 * verification stale.
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND.
	 */
	public setStatus(lot: number, status: ArchiveStatus, failure?: ArchiveFailure): Archive {
		const patch: ArchivePatch = { status };
		if (status === ArchiveStatus.Complete) Object.assign(patch, { completedAt: now(this.#context), errorCode: null, errorMessage: null });
		if (status === ArchiveStatus.Uploading) Object.assign(patch, { errorCode: null, errorMessage: null });
		if (failure) Object.assign(patch, { errorCode: failure.code, errorMessage: failure.message });
		// A deleted thread is no longer what the last verification checked.
		if (status === ArchiveStatus.Deleted) Object.assign(patch, { verifyStale: sql`${archives.verifiedAt} is not null` });
		return this.update(lot, patch);
	}

	/**
	 * Records the outcome of a verification, as one of the archive as it is now (no longer stale).
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND.
	 */
	public recordVerification(lot: number, verification: ArchiveVerification): Archive {
		return this.update(lot, {
			verifiedAt: verification.at ?? now(this.#context),
			verifyLevel: verification.level,
			verifyOk: verification.ok,
			verifySummary: verification.summary,
			verifyStale: false
		});
	}

	/**
	 * Records an upload's plan in one transaction: every entry, and every data chunk as `pending`; sets the
	 * archive's file counts, original bytes and chunk count. A plan may be replaced while no chunk has left
	 * `pending` (nothing was posted yet).
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND; PLAN_IN_USE once a chunk is in flight or stored; INVALID_RECORD for
	 * chunks that are not `0 … n−1` in order, a duplicate path or a span outside the chunks.
	 * @throws {CoreError} UNSAFE_PATH for an entry path that could escape its root.
	 */
	public recordPlan(lot: number, plan: ArchivePlan): Archive {
		plan.chunks.forEach((chunk, position) => {
			if (chunk.index !== position) {
				throw new IndexError(
					IndexErrorCode.InvalidRecord,
					`A plan lists data chunks 0 … n−1 in order; found chunk ${chunk.index} at position ${position}.`,
					{
						lot
					}
				);
			}
		});
		const { db } = this.#context;
		return write(this.#context, () => {
			this.require(lot);
			const started = db
				.select({ index: chunks.index })
				.from(chunks)
				.where(and(eq(chunks.archiveLot, lot), sql`${chunks.state} <> ${ChunkState.Pending}`))
				.limit(1)
				.get();
			if (started) {
				throw new IndexError(
					IndexErrorCode.PlanInUse,
					`Archive lot ${lot} already has chunks in flight or stored: its plan cannot be replaced. Resume the upload instead.`,
					{ lot }
				);
			}
			db.delete(entries).where(eq(entries.archiveLot, lot)).run();
			db.delete(chunks).where(eq(chunks.archiveLot, lot)).run();
			const at = now(this.#context);
			const totals = insertEntries(db, lot, plan.entries, plan.chunks.length);
			insertChunks(db, lot, plan.chunks, at);
			// No chunk is stored any more; a format 2 archive's stored packs (recorded apart from chunks) still are.
			const packBytes =
				db
					.select({ bytes: sql<number>`coalesce(sum(${packs.size}), 0)` })
					.from(packs)
					.where(and(eq(packs.archiveLot, lot), eq(packs.state, PackState.Stored)))
					.get()?.bytes ?? 0;
			return this.update(lot, { ...totals, chunkCount: plan.chunks.length, storedChunkCount: 0, storedBytes: packBytes });
		});
	}

	/**
	 * Replaces everything the index holds about one archive with what a rebuild found, in one transaction:
	 * the row (created when missing, moving the lot counter past it), its entries and its chunks. Counters are
	 * derived from the content.
	 *
	 * @throws {IndexError} ARCHIVE_EXISTS when the lot or id belongs to an archive with another uid;
	 * INVALID_ARCHIVE_ID; INVALID_RECORD.
	 * @throws {CoreError} UNSAFE_PATH for an entry path that could escape its root.
	 */
	public replaceContent(content: ArchiveContent): Archive {
		assertArchiveId(content.id, content.lot);
		const { entries: entryInput, chunks: chunkInput, ...row } = content;
		const { db } = this.#context;
		return write(this.#context, () => {
			const existing = this.get(content.lot);
			if (existing && existing.uid !== content.uid.toLowerCase()) {
				throw new IndexError(
					IndexErrorCode.ArchiveExists,
					`Lot ${content.lot} belongs to archive ${existing.id} (uid ${existing.uid}), not to uid ${content.uid}. Remove the stale archive first.`,
					{ lot: content.lot, archiveId: existing.id }
				);
			}
			if (content.threadId !== undefined && content.threadId !== null) this.#assertThreadFree(content.threadId, content.lot);
			if (existing) {
				const values = this.#importRow(row);
				db.delete(entries).where(eq(entries.archiveLot, content.lot)).run();
				db.delete(chunks).where(eq(chunks.archiveLot, content.lot)).run();
				db.update(archives)
					.set({ ...values, updatedAt: now(this.#context) })
					.where(eq(archives.lot, content.lot))
					.run();
			} else {
				this.import(row);
			}
			const at = now(this.#context);
			const chunkTotals = insertChunks(db, content.lot, chunkInput, at);
			const dataChunks = content.chunkCount ?? chunkTotals.dataChunks;
			const entryTotals = insertEntries(db, content.lot, entryInput, dataChunks);
			return this.update(content.lot, {
				...entryTotals,
				originalBytes: entryInput.length === 0 ? (content.originalBytes ?? 0) : entryTotals.originalBytes,
				chunkCount: dataChunks,
				storedChunkCount: chunkTotals.storedDataChunks,
				// A skeleton known only from its card has no chunks listed: the bytes its card states are kept.
				storedBytes: chunkInput.length === 0 ? (content.storedBytes ?? 0) : chunkTotals.storedBytes
			});
		});
	}

	/**
	 * Deletes an archive's row with its entries and chunks (its jobs keep their history, without the archive).
	 * Cleanup marks archives `deleted` instead; this is for stale rows a rebuild replaces.
	 *
	 * @returns whether a row was deleted.
	 */
	public remove(lot: number): boolean {
		return write(this.#context, () => this.#context.db.delete(archives).where(eq(archives.lot, lot)).run().changes > 0);
	}

	/**
	 * A page of archives, newest (highest lot) first, optionally filtered by status and a text query.
	 *
	 * @throws {IndexError} INVALID_RECORD for a limit outside 1–100.
	 */
	public list(options: ArchiveListOptions = {}): ArchivePage {
		const limit = options.limit ?? 10;
		if (!Number.isSafeInteger(limit) || limit < 1 || limit > 100) {
			throw new IndexError(IndexErrorCode.InvalidRecord, `A page holds 1 to 100 archives, not ${limit}.`);
		}
		return guard(this.#context, () => {
			const conditions = this.#filters(options);
			if (options.before !== undefined) conditions.push(lt(archives.lot, options.before));
			const rows = this.#context.db
				.select()
				.from(archives)
				.where(and(...conditions))
				.orderBy(desc(archives.lot))
				.limit(limit + 1)
				.all();
			const page = rows.slice(0, limit);
			return { archives: page, nextBefore: rows.length > limit ? (page.at(-1)?.lot ?? null) : null };
		});
	}

	/** How many archives {@link list} would page through with these filters. */
	public count(options: Pick<ArchiveListOptions, 'query' | 'statuses'> = {}): number {
		return guard(
			this.#context,
			() =>
				this.#context.db
					.select({ count: sql<number>`count(*)` })
					.from(archives)
					.where(and(...this.#filters(options)))
					.get()?.count ?? 0
		);
	}

	/**
	 * Autocomplete choices for an archive-id option, at most 25: an exact lot first, then ids starting with
	 * the query, then archives whose label or source folder contains it, then archives holding a file whose name
	 * contains it (3+ characters); newest first within each group, each archive once. An empty query gives
	 * the newest archives. Every step is an index lookup (see test/db/autocomplete.test.ts), so the answer stays
	 * far inside Discord's 3 seconds with 100,000 archives.
	 */
	public suggest(query: string, options: SuggestOptions = {}): ArchiveSuggestion[] {
		const limit = Math.max(1, Math.min(options.limit ?? maxChoices, maxChoices));
		const statusFilter = options.statuses === undefined ? undefined : inArray(archives.status, [...options.statuses]);
		if (options.statuses?.length === 0) return [];
		const { db } = this.#context;
		const text = cleanSearchText(query);
		const found = new Map<number, ArchiveSuggestion>();
		const add = (rows: readonly Archive[], matchedBy: ArchiveSuggestion['matchedBy'], names?: ReadonlyMap<number, string>) => {
			for (const archive of rows) {
				if (found.size >= limit) return;
				if (found.has(archive.lot)) continue;
				const fileName = names?.get(archive.lot);
				found.set(archive.lot, fileName === undefined ? { archive, matchedBy } : { archive, matchedBy, fileName });
			}
		};
		const newest = (condition: SQL | undefined, count: number) =>
			db.select().from(archives).where(and(condition, statusFilter)).orderBy(desc(archives.lot)).limit(count).all();

		return guard(this.#context, () => {
			if (text.length === 0) {
				add(newest(undefined, limit), 'id');
				return [...found.values()];
			}
			const lot = lotOf(text);
			if (lot !== null) add(newest(eq(archives.lot, lot), 1), 'lot');
			const idPrefix = idPrefixOf(text);
			if (idPrefix !== null && found.size < limit) add(newest(idRange(idPrefix), limit), 'id');
			if (found.size < limit) {
				const { match, shortTerms } = searchTerms(text, ['label', 'source']);
				const labelCondition =
					match === null
						? and(
								...shortTerms.map(
									(term) =>
										sql`(${archives.label} like ${containsPattern(term)} escape '\\' or ${archives.source} like ${containsPattern(term)} escape '\\')`
								)
							)
						: and(
								sql`${archives.lot} in (select rowid from archives_fts where archives_fts match ${match})`,
								...shortTerms.map(
									(term) =>
										sql`(${archives.label} like ${containsPattern(term)} escape '\\' or ${archives.source} like ${containsPattern(term)} escape '\\')`
								)
							);
				add(newest(labelCondition, limit), 'label');
			}
			const { match: fileMatch } = searchTerms(text, ['name']);
			if (fileMatch !== null && found.size < limit) {
				const hits = db.all<{ lot: number; name: string }>(
					sql`select e.archive_lot as lot, min(e.name) as name
						from (select rowid from entries_fts where entries_fts match ${fileMatch} order by rowid desc limit ${suggestFileScan}) as m
						join entries as e on e.id = m.rowid
						group by e.archive_lot`
				);
				if (hits.length > 0) {
					const names = new Map(hits.map((hit) => [hit.lot, hit.name]));
					add(
						newest(
							inArray(
								archives.lot,
								hits.map((hit) => hit.lot)
							),
							limit
						),
						'file',
						names
					);
				}
			}
			return [...found.values()];
		});
	}

	#filters(options: Pick<ArchiveListOptions, 'query' | 'statuses'>): (SQL | undefined)[] {
		const conditions: (SQL | undefined)[] = [];
		if (options.statuses !== undefined) conditions.push(options.statuses.length === 0 ? sql`0` : inArray(archives.status, [...options.statuses]));
		const text = cleanSearchText(options.query ?? '');
		if (text.length > 0) {
			const { match, shortTerms } = searchTerms(text, ['label', 'source']);
			// Short terms narrow what the long ones found, as in suggest and file search: "photos 24" needs both.
			const textual = and(
				match === null ? undefined : sql`${archives.lot} in (select rowid from archives_fts where archives_fts match ${match})`,
				...shortTerms.map(
					(term) =>
						sql`(${archives.label} like ${containsPattern(term)} escape '\\' or ${archives.source} like ${containsPattern(term)} escape '\\')`
				)
			);
			const lot = lotOf(text);
			const idPrefix = idPrefixOf(text);
			conditions.push(or(textual, idPrefix === null ? undefined : idRange(idPrefix), lot === null ? undefined : eq(archives.lot, lot)));
		}
		return conditions;
	}

	#newRow(input: NewArchive) {
		const uid = input.uid.toLowerCase();
		if (!uidPattern.test(uid))
			throw new IndexError(IndexErrorCode.InvalidRecord, `An archive uid is 32 hex digits (128 bits), not "${input.uid}".`);
		if (!Number.isSafeInteger(input.chunkSize) || input.chunkSize < 1) {
			throw new IndexError(IndexErrorCode.InvalidRecord, `A chunk size is a positive number of bytes, not ${input.chunkSize}.`);
		}
		const salt = input.kdf?.salt.toLowerCase() ?? null;
		if (salt !== null && !saltPattern.test(salt)) {
			throw new IndexError(IndexErrorCode.InvalidRecord, `An archive salt is 16 bytes as 32 hex digits, not "${input.kdf?.salt}".`);
		}
		const at = now(this.#context);
		return {
			uid,
			source: input.source,
			label: input.label ?? null,
			format: input.format ?? ArchiveFormat.Dos1,
			status: input.status ?? ArchiveStatus.Planned,
			chunkSize: input.chunkSize,
			gzipLevel: input.gzipLevel ?? null,
			kdfId: input.kdf?.id ?? null,
			kdfIterations: input.kdf?.iterations ?? null,
			archiveSalt: salt,
			channelId: input.channelId ?? null,
			threadId: input.threadId ?? null,
			cardMessageId: input.cardMessageId ?? null,
			createdBy: input.createdBy ?? null,
			createdAt: input.createdAt ?? at,
			updatedAt: at
		};
	}

	#importRow(input: ImportedArchive) {
		const recorded = Object.fromEntries(importedFields.filter((field) => input[field] !== undefined).map((field) => [field, input[field]]));
		return { ...this.#newRow(input), ...(recorded as Partial<ArchivePatch>), lot: input.lot, id: input.id };
	}

	#insert(values: typeof archives.$inferInsert): Archive {
		try {
			return this.#context.db.insert(archives).values(values).returning().get();
		} catch (error) {
			if (sqliteCode(error)?.startsWith('SQLITE_CONSTRAINT_UNIQUE') || sqliteCode(error) === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
				throw new IndexError(
					IndexErrorCode.ArchiveExists,
					`An archive with lot ${values.lot}, id ${values.id}, uid ${values.uid} or thread ${values.threadId ?? '(none)'} is already in the index.`,
					{ lot: values.lot, archiveId: values.id },
					{ cause: error }
				);
			}
			throw error;
		}
	}

	/**
	 * A thread holds one archive (the unique index enforces it too): refuses to give `threadId` to `lot` while another
	 * archive holds it, so that no cleanup of one archive can delete the chunks of another.
	 */
	#assertThreadFree(threadId: string, lot: number): void {
		const holder = this.#context.db
			.select({ lot: archives.lot, id: archives.id })
			.from(archives)
			.where(and(eq(archives.threadId, threadId), sql`${archives.lot} <> ${lot}`))
			.get();
		if (holder) {
			throw new IndexError(
				IndexErrorCode.ArchiveExists,
				`The thread ${threadId} already belongs to archive ${holder.id} (lot ${holder.lot}): a thread holds one archive. Rebuild the index from Discord (dos index rebuild) to find each thread's archive again.`,
				{ lot: holder.lot, archiveId: holder.id }
			);
		}
	}

	#bumpCounter(lot: number): void {
		this.#context.db
			.insert(lotCounter)
			.values({ id: 1, lastLot: lot })
			.onConflictDoUpdate({ target: lotCounter.id, set: { lastLot: sql`max(last_lot, ${lot})` } })
			.run();
	}
}

/** The recorded columns an import may carry beyond those of a new archive. */
const importedFields = [
	'originalBytes',
	'storedBytes',
	'fileCount',
	'directoryCount',
	'symlinkCount',
	'chunkCount',
	'storedChunkCount',
	'kdfId',
	'kdfIterations',
	'archiveSalt',
	'completedAt',
	'verifiedAt',
	'verifyLevel',
	'verifyOk',
	'verifySummary',
	'verifyStale',
	'errorCode',
	'errorMessage'
] as const satisfies readonly (keyof ImportedArchive)[];

/** A lot the user may mean: `7`, `07`, `-07`, `#7`. */
function lotOf(text: string): number | null {
	const match = /^#?-?(\d{1,15})$/.exec(text);
	if (!match?.[1]) return null;
	const lot = Number(match[1]);
	return Number.isSafeInteger(lot) && lot > 0 ? lot : null;
}

/** The id prefix the user may mean (`#2411`, `241126-0`), with its `#`. */
function idPrefixOf(text: string): string | null {
	const bare = text.startsWith('#') ? text.slice(1) : text;
	return /^\d{1,6}(-\d*)?$/.test(bare) ? `#${bare}` : null;
}

/** `id` starts with `prefix`, as a range the unique index on id serves. */
function idRange(prefix: string): SQL {
	return sql`(${archives.id} >= ${prefix} and ${archives.id} < ${`${prefix}\u{10FFFF}`})`;
}
