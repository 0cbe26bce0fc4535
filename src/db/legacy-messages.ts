import { and, asc, eq, isNull, ne } from 'drizzle-orm';
import type { Archive, ArchiveIndex, ImportedArchive } from './archives.js';
import { guard, now, write, type IndexContext } from './database.js';
import { IndexError, IndexErrorCode } from './errors.js';
import { archives, legacyMessages } from './schema.js';
import { ArchiveFormat } from './vocabulary.js';

/** Where the chunk messages of a thread-less legacy archive live. */
export interface LegacyMessageRefs {
	/** The storage channel. */
	readonly channelId: string;
	/** Message ids in the order the history log lists them. */
	readonly messageIds: readonly string[];
}

const snowflakePattern = /^[1-9]\d{16,19}$/;

/**
 * The chunk messages of archives the original tool recorded only in its history log (no card, no thread): they are
 * fetched by id from the storage channel to download, verify or clean up such an archive.
 */
export class LegacyMessageIndex {
	readonly #context: IndexContext;
	readonly #archives: ArchiveIndex;

	/** @internal Built by {@link openIndex}. */
	public constructor(context: IndexContext, archives: ArchiveIndex) {
		this.#context = context;
		this.#archives = archives;
	}

	/**
	 * Imports an archive of the history log with its chunk messages, in one transaction (see {@link ArchiveIndex.import}).
	 *
	 * @throws {IndexError} ARCHIVE_EXISTS when its lot, id or uid is taken; INVALID_ARCHIVE_ID; INVALID_RECORD for an id
	 * that is not a snowflake.
	 */
	public importArchive(archive: ImportedArchive, refs: LegacyMessageRefs | null): Archive {
		if (refs !== null) assertRefs(refs);
		return write(this.#context, () => {
			const row = this.#archives.import(archive);
			if (refs !== null) this.#insert(row.lot, refs);
			return row;
		});
	}

	/** The archive's chunk messages, or null when it has none recorded (an archive with a thread). */
	public get(lot: number): LegacyMessageRefs | null {
		const rows = guard(this.#context, () =>
			this.#context.db.select().from(legacyMessages).where(eq(legacyMessages.archiveLot, lot)).orderBy(asc(legacyMessages.position)).all()
		);
		if (rows.length === 0) return null;
		return { channelId: rows[0]!.channelId, messageIds: rows.map((row) => row.messageId) };
	}

	/** The lot of the archive a chunk message is recorded for, if any. */
	public findArchive(channelId: string, messageId: string): number | undefined {
		return guard(this.#context, () =>
			this.#context.db
				.select({ lot: legacyMessages.archiveLot })
				.from(legacyMessages)
				.where(and(eq(legacyMessages.channelId, channelId), eq(legacyMessages.messageId, messageId)))
				.get()
		)?.lot;
	}

	/**
	 * Records (or replaces) an archive's chunk messages, as a rebuild read them from its card.
	 *
	 * @throws {IndexError} INVALID_RECORD for an id that is not a snowflake; ARCHIVE_NOT_FOUND.
	 */
	public record(lot: number, refs: LegacyMessageRefs): void {
		assertRefs(refs);
		write(this.#context, () => {
			this.#archives.require(lot);
			this.#insert(lot, refs);
		});
	}

	/** Legacy archives with no card on record (imported from the history log), oldest lot first. */
	public cardless(): Archive[] {
		return guard(this.#context, () =>
			this.#context.db
				.select()
				.from(archives)
				.where(and(ne(archives.format, ArchiveFormat.Dos1), isNull(archives.cardMessageId)))
				.orderBy(asc(archives.lot))
				.all()
		);
	}

	/**
	 * Binds a card-less legacy archive to the card just posted for it, with the uid a rebuild derives from that card,
	 * so that a rebuild from Discord alone finds the very same archive.
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND; ARCHIVE_EXISTS when it has a card already or the uid is taken.
	 */
	public bindCard(lot: number, cardMessageId: string, uid: string): Archive {
		return write(this.#context, () => {
			const archive = this.#archives.require(lot);
			if (archive.cardMessageId !== null) {
				throw new IndexError(IndexErrorCode.ArchiveExists, `Archive ${archive.id} already has the card ${archive.cardMessageId}.`, { lot });
			}
			return this.#context.db
				.update(archives)
				.set({ cardMessageId, uid, updatedAt: now(this.#context) })
				.where(eq(archives.lot, lot))
				.returning()
				.get();
		});
	}

	/** Forgets the archive's chunk messages (after they were deleted). @returns how many were recorded. */
	public remove(lot: number): number {
		return write(this.#context, () => this.#context.db.delete(legacyMessages).where(eq(legacyMessages.archiveLot, lot)).run().changes);
	}

	#insert(lot: number, refs: LegacyMessageRefs): void {
		const { db } = this.#context;
		db.delete(legacyMessages).where(eq(legacyMessages.archiveLot, lot)).run();
		const rows = refs.messageIds.map((messageId, position) => ({ archiveLot: lot, position, channelId: refs.channelId, messageId }));
		for (let start = 0; start < rows.length; start += 500)
			db.insert(legacyMessages)
				.values(rows.slice(start, start + 500))
				.run();
	}
}

function assertRefs(refs: LegacyMessageRefs): void {
	for (const id of [refs.channelId, ...refs.messageIds]) {
		if (!snowflakePattern.test(id))
			throw new IndexError(IndexErrorCode.InvalidRecord, `"${id}" is not a Discord id (a snowflake of 17–20 digits).`);
	}
}
