import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { normalizeSha256 } from './content.js';
import { guard, now, sqliteCode, write, type IndexContext } from './database.js';
import { recordStoredFileHashes } from './entries.js';
import { IndexError, IndexErrorCode } from './errors.js';
import { archives, chunks } from './schema.js';
import { ChunkKind, ChunkState } from './vocabulary.js';

/** A chunk's row in the index. */
export type ChunkRecord = typeof chunks.$inferSelect;

/** Which chunk: data chunk `index`, or manifest part `index`. */
export interface ChunkKey {
	/** Defaults to `data`. */
	readonly kind?: ChunkKind;
	readonly index: number;
}

/** What the slicer knows of a sealed chunk before it is posted. */
export interface SealedChunkFacts {
	/** The opaque attachment name. */
	readonly filename?: string;
	readonly storedSize?: number;
	/** sha256 of the sealed bytes. */
	readonly sha256?: string;
	readonly plainSize?: number;
	readonly plainSha256?: string;
	readonly compressed?: boolean;
}

/** Recorded before the post: the nonce the post will carry (Discord's enforce-nonce, at most 25 characters). */
export interface InFlightChunk extends ChunkKey, SealedChunkFacts {
	readonly nonce: string;
}

/** Recorded after the post: where the chunk now lives on Discord. */
export interface StoredChunk extends ChunkKey, SealedChunkFacts {
	readonly messageId: string;
	readonly attachmentId: string;
	readonly filename: string;
	readonly storedSize: number;
	readonly sha256: string;
	/**
	 * Data chunks only: files hashed by the time this chunk was sealed whose bytes all lie in this chunk or earlier ones
	 * (path → sha256), recorded in the same transaction (see `markStored`).
	 */
	readonly completedFiles?: Iterable<readonly [path: string, sha256: string]>;
}

export interface ChunkListOptions {
	readonly kind?: ChunkKind;
	readonly states?: readonly ChunkState[];
}

/** Chunks per state, per kind. */
export type ChunkStateCounts = Record<ChunkKind, Record<ChunkState, number>>;

/**
 * The chunks of archives and their life on Discord: `pending` (planned) → `in_flight` (nonce recorded, about
 * to be posted) → `stored` (message and attachment recorded); verification marks `bad` or `missing`, and a
 * resume posts those again. Each transition is its own small transaction, and keeps the archive's stored
 * chunk count and stored bytes in step.
 */
export class ChunkIndex {
	readonly #context: IndexContext;

	/** @internal Built by {@link openIndex}. */
	public constructor(context: IndexContext) {
		this.#context = context;
	}

	/** One chunk of an archive. */
	public get(lot: number, key: ChunkKey): ChunkRecord | undefined {
		return guard(this.#context, () => this.#get(lot, key.kind ?? ChunkKind.Data, key.index));
	}

	/** The chunks of an archive, data chunks first then manifest parts, by index; optionally by kind and states. */
	public list(lot: number, options: ChunkListOptions = {}): ChunkRecord[] {
		if (options.states?.length === 0) return [];
		return guard(this.#context, () =>
			this.#context.db
				.select()
				.from(chunks)
				.where(
					and(
						eq(chunks.archiveLot, lot),
						options.kind === undefined ? undefined : eq(chunks.kind, options.kind),
						options.states === undefined ? undefined : inArray(chunks.state, [...options.states])
					)
				)
				.orderBy(asc(chunks.kind), asc(chunks.index))
				.all()
		);
	}

	/** How many chunks of an archive are in each state, per kind. */
	public countByState(lot: number): ChunkStateCounts {
		const zero = (): Record<ChunkState, number> => ({ pending: 0, in_flight: 0, stored: 0, bad: 0, missing: 0 });
		const counts: ChunkStateCounts = { data: zero(), manifest: zero() };
		const rows = guard(this.#context, () =>
			this.#context.db
				.select({ kind: chunks.kind, state: chunks.state, count: sql<number>`count(*)` })
				.from(chunks)
				.where(eq(chunks.archiveLot, lot))
				.groupBy(chunks.kind, chunks.state)
				.all()
		);
		for (const row of rows) counts[row.kind][row.state] = row.count;
		return counts;
	}

	/** The chunk whose post carried `nonce` (to reconcile a message found in the thread with its record). */
	public findByNonce(nonce: string): ChunkRecord | undefined {
		return guard(this.#context, () => this.#context.db.select().from(chunks).where(eq(chunks.postNonce, nonce)).get());
	}

	/**
	 * Records, before posting, that a chunk is about to be posted with `nonce`. A data chunk must be in the
	 * plan; a manifest part is created on its first post. A chunk may be (re)posted from `pending`,
	 * `in_flight` (a retry, with a new nonce), `bad` or `missing`.
	 *
	 * @throws {IndexError} CHUNK_NOT_FOUND for a data chunk outside the plan; CHUNK_CONFLICT when the chunk is
	 * already stored (mark it bad or missing first) or the nonce was used before; INVALID_RECORD for a bad nonce or hash.
	 */
	public markInFlight(lot: number, chunk: InFlightChunk): ChunkRecord {
		const kind = chunk.kind ?? ChunkKind.Data;
		if (chunk.nonce.length < 1 || chunk.nonce.length > 25) {
			throw new IndexError(IndexErrorCode.InvalidRecord, `A post nonce has 1 to 25 characters, not ${chunk.nonce.length}.`, { lot });
		}
		const facts = this.#facts(lot, chunk);
		return write(this.#context, () => {
			const existing = this.#get(lot, kind, chunk.index);
			const at = now(this.#context);
			if (existing?.state === ChunkState.Stored) {
				throw new IndexError(
					IndexErrorCode.ChunkConflict,
					`The ${kind} chunk ${chunk.index} of lot ${lot} is already stored in message ${existing.messageId}: posting it again would duplicate it. Mark it bad or missing first.`,
					{ lot, chunks: [chunk.index] }
				);
			}
			try {
				if (existing) {
					return this.#context.db
						.update(chunks)
						.set({ ...facts, state: ChunkState.InFlight, postNonce: chunk.nonce, messageId: null, attachmentId: null, updatedAt: at })
						.where(this.#where(lot, kind, chunk.index))
						.returning()
						.get();
				}
				if (kind === ChunkKind.Data) {
					throw new IndexError(
						IndexErrorCode.ChunkNotFound,
						`Data chunk ${chunk.index} is not in the plan of lot ${lot}: record the plan before posting.`,
						{ lot, chunks: [chunk.index] }
					);
				}
				this.#requireArchive(lot);
				return this.#context.db
					.insert(chunks)
					.values({
						...facts,
						archiveLot: lot,
						kind,
						index: chunk.index,
						state: ChunkState.InFlight,
						postNonce: chunk.nonce,
						recordedAt: at,
						updatedAt: at
					})
					.returning()
					.get();
			} catch (error) {
				if (sqliteCode(error)?.startsWith('SQLITE_CONSTRAINT_UNIQUE')) {
					throw new IndexError(
						IndexErrorCode.ChunkConflict,
						`The nonce ${chunk.nonce} was already used for another post: make a new nonce for each post.`,
						{ lot, chunks: [chunk.index] },
						{ cause: error }
					);
				}
				throw error;
			}
		});
	}

	/**
	 * Records, after the post, where a chunk lives: message, attachment, name, size and hash. Accepted from any
	 * state (a resume reconciles chunks it finds in the thread), and again for the same message (idempotent).
	 * In the same transaction it records the sha256 of the `completedFiles`, so a crash after this commit loses no
	 * file hash and a resume need not read those files again; a file's hash is accepted only once every data chunk
	 * holding its bytes is stored (this one included), and never over a different recorded hash.
	 *
	 * @throws {IndexError} CHUNK_NOT_FOUND for a chunk never recorded; CHUNK_CONFLICT when it is already stored in
	 * another message; INVALID_RECORD for a bad hash or size, file hashes given for a manifest part, or a file hash
	 * that cannot be recorded yet (then nothing of the call is recorded).
	 */
	public markStored(lot: number, chunk: StoredChunk): ChunkRecord {
		const kind = chunk.kind ?? ChunkKind.Data;
		const facts = this.#facts(lot, chunk);
		return write(this.#context, () => {
			const existing = this.#get(lot, kind, chunk.index);
			if (!existing) {
				throw new IndexError(
					IndexErrorCode.ChunkNotFound,
					`The ${kind} chunk ${chunk.index} of lot ${lot} was never recorded: mark it in flight before posting.`,
					{
						lot,
						chunks: [chunk.index]
					}
				);
			}
			if (existing.state === ChunkState.Stored && existing.messageId !== chunk.messageId) {
				throw new IndexError(
					IndexErrorCode.ChunkConflict,
					`The ${kind} chunk ${chunk.index} of lot ${lot} is already stored in message ${existing.messageId}, not ${chunk.messageId}: one of them is a duplicate to delete.`,
					{ lot, chunks: [chunk.index] }
				);
			}
			const row = this.#context.db
				.update(chunks)
				.set({
					...facts,
					state: ChunkState.Stored,
					messageId: chunk.messageId,
					attachmentId: chunk.attachmentId,
					updatedAt: now(this.#context)
				})
				.where(this.#where(lot, kind, chunk.index))
				.returning()
				.get();
			this.#adjustCounters(lot, kind, existing, row);
			if (chunk.completedFiles !== undefined) {
				if (kind !== ChunkKind.Data) {
					throw new IndexError(
						IndexErrorCode.InvalidRecord,
						`File hashes are recorded with data chunks, not with ${kind} part ${chunk.index}.`,
						{
							lot,
							chunks: [chunk.index]
						}
					);
				}
				recordStoredFileHashes(this.#context, lot, chunk.completedFiles);
			}
			return row;
		});
	}

	/**
	 * Moves chunks to `bad` (hash or tag wrong), `missing` (not in the thread) or back to `pending`, as a
	 * verification or a reconciliation found them. Message ids are kept for `bad` (the message to delete).
	 *
	 * @returns how many chunks changed.
	 */
	public markState(
		lot: number,
		keys: readonly ChunkKey[],
		state: typeof ChunkState.Bad | typeof ChunkState.Missing | typeof ChunkState.Pending
	): number {
		return write(this.#context, () => {
			let changed = 0;
			for (const key of keys) {
				const kind = key.kind ?? ChunkKind.Data;
				const existing = this.#get(lot, kind, key.index);
				if (!existing || existing.state === state) continue;
				const row = this.#context.db
					.update(chunks)
					.set(
						state === ChunkState.Bad
							? { state, updatedAt: now(this.#context) }
							: { state, messageId: null, attachmentId: null, updatedAt: now(this.#context) }
					)
					.where(this.#where(lot, kind, key.index))
					.returning()
					.get();
				this.#adjustCounters(lot, kind, existing, row);
				changed++;
			}
			return changed;
		});
	}

	#get(lot: number, kind: ChunkKind, index: number): ChunkRecord | undefined {
		return this.#context.db
			.select()
			.from(chunks)
			.where(this.#where(lot, kind, index))
			.get();
	}

	#where(lot: number, kind: ChunkKind, index: number) {
		return and(eq(chunks.archiveLot, lot), eq(chunks.kind, kind), eq(chunks.index, index));
	}

	#requireArchive(lot: number): void {
		if (!this.#context.db.select({ lot: archives.lot }).from(archives).where(eq(archives.lot, lot)).get()) {
			throw new IndexError(IndexErrorCode.ArchiveNotFound, `No archive with lot ${lot} in the index.`, { lot });
		}
	}

	/** The sealed-chunk facts that were given, checked. */
	#facts(lot: number, chunk: SealedChunkFacts): Partial<ChunkRecord> {
		const facts: Partial<ChunkRecord> = {};
		for (const [field, value] of [
			['storedSize', chunk.storedSize],
			['plainSize', chunk.plainSize]
		] as const) {
			if (value === undefined) continue;
			if (!Number.isSafeInteger(value) || value < 0)
				throw new IndexError(IndexErrorCode.InvalidRecord, `A chunk size is a non-negative integer, not ${value}.`, { lot });
			facts[field] = value;
		}
		if (chunk.sha256 !== undefined) facts.sha256 = normalizeSha256(lot, 'The sha256 of a chunk', chunk.sha256);
		if (chunk.plainSha256 !== undefined) facts.plainSha256 = normalizeSha256(lot, 'The plaintext sha256 of a chunk', chunk.plainSha256);
		if (chunk.filename !== undefined) facts.filename = chunk.filename;
		if (chunk.compressed !== undefined) facts.compressed = chunk.compressed;
		return facts;
	}

	/** Keeps the archive's stored-chunk count, stored bytes and verification staleness in step with one chunk's transition. */
	#adjustCounters(lot: number, kind: ChunkKind, before: ChunkRecord, after: ChunkRecord): void {
		const wasStored = before.state === ChunkState.Stored;
		const isStored = after.state === ChunkState.Stored;
		const bytes = (isStored ? (after.storedSize ?? 0) : 0) - (wasStored ? (before.storedSize ?? 0) : 0);
		const count = kind === ChunkKind.Data ? Number(isStored) - Number(wasStored) : 0;
		if (bytes === 0 && count === 0) return;
		this.#context.db
			.update(archives)
			.set({
				storedBytes: sql`${archives.storedBytes} + ${bytes}`,
				storedChunkCount: sql`${archives.storedChunkCount} + ${count}`,
				// A chunk newly stored (a resume re-posting what a verification found missing) changes what the last
				// verification checked: the card shows it as stale until the next one (an archive never verified has none).
				...(isStored && !wasStored ? { verifyStale: sql`${archives.verifiedAt} is not null` } : {}),
				updatedAt: now(this.#context)
			})
			.where(eq(archives.lot, lot))
			.run();
	}
}
