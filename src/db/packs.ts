import { and, asc, desc, eq, inArray, ne, sql } from 'drizzle-orm';
import { guard, now, write, type IndexContext } from './database.js';
import { IndexError, IndexErrorCode } from './errors.js';
import { archiveBlobs, archives, blobs, packs } from './schema.js';
import { ArchiveFormat, ArchiveStatus, PackState } from './vocabulary.js';

/** A pack's row in the index. */
export type PackRecord = typeof packs.$inferSelect;

/** One blob of a pack, as its header lists it. */
export interface PackBlobInput {
	/** The blob id, 64 hex digits. */
	readonly id: string;
	readonly offset: number;
	readonly storedLength: number;
	readonly rawLength: number;
	readonly codec: string;
}

/** A pack about to be posted: what is known of it before its post. */
/** What {@link PackIndex.totals} counts. */
export interface RepositoryTotals {
	readonly archives: number;
	readonly packs: number;
	/** Bytes of the stored packs (what the channel holds). */
	readonly storedBytes: number;
	readonly blobs: number;
	/** Plaintext bytes of the blobs the packs hold (a blob held by two packs counts twice). */
	readonly rawBytes: number;
}

export interface InFlightPack {
	readonly name: string;
	readonly size: number;
	readonly sha256: string;
	readonly attachmentIndex: number;
	readonly blobs: readonly PackBlobInput[];
}

/** A pack found stored in an archive's thread by a rebuild: where it lives and the blobs its header lists. */
export interface StoredPackInput extends InFlightPack {
	readonly threadId: string;
	readonly messageIndex: number;
	/** The nonce its message was posted with (deterministic: the archive uid and the message index give it). */
	readonly nonce: string;
	readonly messageId: string;
	readonly attachmentId: string;
}

/** Where a blob lies: its pack (stored, with its message and attachment) and its place in the pack. */
export interface BlobPlace {
	readonly blobId: string;
	readonly offset: number;
	readonly storedLength: number;
	readonly rawLength: number;
	readonly codec: string;
	readonly pack: PackRecord;
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX64 = /^[0-9a-f]{64}$/;
/** Ids per `IN (…)` query (SQLite binds at most 32,766 parameters). */
const IDS_PER_QUERY = 500;

/**
 * The format 2 repository of each archive channel as the index knows it (docs/design.md §9): packs posted into
 * archive threads (`in_flight` before their post, `stored` after), the blobs each holds, and the blobs each archive
 * references. Blobs count as held by the channel while their pack is stored and its archive not deleted.
 */
export class PackIndex {
	readonly #context: IndexContext;

	/** @internal Built by {@link openIndex}. */
	public constructor(context: IndexContext) {
		this.#context = context;
	}

	/**
	 * Records, before their post, the packs of one message of an archive's upload with the blobs each holds.
	 *
	 * @throws {IndexError} INVALID_RECORD for a malformed name, hash, size or blob; CHUNK_CONFLICT when the archive
	 * records one of these packs already.
	 */
	public markInFlight(
		lot: number,
		message: { threadId: string; messageIndex: number; nonce: string },
		input: readonly InFlightPack[]
	): PackRecord[] {
		for (const pack of input) assertPack(lot, pack);
		return write(this.#context, () => {
			const at = now(this.#context);
			return input.map((pack) => {
				const existing = this.#context.db
					.select()
					.from(packs)
					.where(and(eq(packs.archiveLot, lot), eq(packs.name, pack.name)))
					.get();
				if (existing !== undefined) {
					throw new IndexError(
						IndexErrorCode.ChunkConflict,
						`Pack ${pack.name} of lot ${lot} is recorded already (${existing.state}): posting it again would duplicate it.`,
						{ lot }
					);
				}
				const row = this.#context.db
					.insert(packs)
					.values({
						archiveLot: lot,
						name: pack.name,
						state: PackState.InFlight,
						threadId: message.threadId,
						messageIndex: message.messageIndex,
						attachmentIndex: pack.attachmentIndex,
						postNonce: message.nonce,
						size: pack.size,
						sha256: pack.sha256,
						recordedAt: at,
						updatedAt: at
					})
					.returning()
					.get();
				for (let start = 0; start < pack.blobs.length; start += IDS_PER_QUERY)
					this.#context.db
						.insert(blobs)
						.values(pack.blobs.slice(start, start + IDS_PER_QUERY).map((blob) => ({ ...blob, packId: row.id })))
						.run();
				return row;
			});
		});
	}

	/**
	 * Records, after the post, where each pack of a message lives, and adds their bytes to the archive's stored bytes.
	 *
	 * @throws {IndexError} CHUNK_NOT_FOUND for a pack never recorded; INVALID_RECORD for malformed ids.
	 */
	public markStored(lot: number, stored: readonly { readonly name: string; readonly messageId: string; readonly attachmentId: string }[]): void {
		const snowflake = /^[1-9]\d{16,19}$/;
		for (const pack of stored)
			if (!snowflake.test(pack.messageId) || !snowflake.test(pack.attachmentId))
				throw new IndexError(IndexErrorCode.InvalidRecord, `Pack ${pack.name}: the message or attachment id is not a Discord id.`, { lot });
		write(this.#context, () => {
			for (const pack of stored) {
				const existing = this.#context.db
					.select()
					.from(packs)
					.where(and(eq(packs.archiveLot, lot), eq(packs.name, pack.name)))
					.get();
				if (existing === undefined)
					throw new IndexError(IndexErrorCode.ChunkNotFound, `Pack ${pack.name} of lot ${lot} was never recorded in flight.`, { lot });
				if (existing.state === PackState.Stored && existing.messageId === pack.messageId) continue;
				this.#context.db
					.update(packs)
					.set({ state: PackState.Stored, messageId: pack.messageId, attachmentId: pack.attachmentId, updatedAt: now(this.#context) })
					.where(eq(packs.id, existing.id))
					.run();
				if (existing.state !== PackState.Stored)
					this.#context.db
						.update(archives)
						.set({ storedBytes: sql`${archives.storedBytes} + ${existing.size}`, updatedAt: now(this.#context) })
						.where(eq(archives.lot, lot))
						.run();
			}
		});
	}

	/**
	 * Replaces what the index records of an archive's packs (and their blobs) by the packs a rebuild found stored in its
	 * thread. Does not touch the archive's stored bytes: the caller sets them with the rest of its row.
	 *
	 * @throws {IndexError} INVALID_RECORD for a malformed pack, blob or id; CHUNK_CONFLICT for a pack named twice.
	 */
	public replaceStored(lot: number, input: readonly StoredPackInput[]): void {
		const snowflake = /^[1-9]\d{16,19}$/;
		const names = new Set<string>();
		for (const pack of input) {
			assertPack(lot, pack);
			if (![pack.threadId, pack.messageId, pack.attachmentId].every((id) => snowflake.test(id)))
				throw new IndexError(IndexErrorCode.InvalidRecord, `Pack ${pack.name}: a thread, message or attachment id is not a Discord id.`, {
					lot
				});
			if (!Number.isSafeInteger(pack.messageIndex) || pack.messageIndex < 0)
				throw new IndexError(IndexErrorCode.InvalidRecord, `Pack ${pack.name}: its message index is not a whole number.`, { lot });
			if (names.has(pack.name)) throw new IndexError(IndexErrorCode.ChunkConflict, `Pack ${pack.name} of lot ${lot} was given twice.`, { lot });
			names.add(pack.name);
		}
		write(this.#context, () => {
			const at = now(this.#context);
			const old = this.#context.db.select({ id: packs.id }).from(packs).where(eq(packs.archiveLot, lot)).all();
			for (let start = 0; start < old.length; start += IDS_PER_QUERY)
				this.#context.db
					.delete(blobs)
					.where(
						inArray(
							blobs.packId,
							old.slice(start, start + IDS_PER_QUERY).map((row) => row.id)
						)
					)
					.run();
			this.#context.db.delete(packs).where(eq(packs.archiveLot, lot)).run();
			for (const pack of input) {
				const row = this.#context.db
					.insert(packs)
					.values({
						archiveLot: lot,
						name: pack.name,
						state: PackState.Stored,
						threadId: pack.threadId,
						messageIndex: pack.messageIndex,
						attachmentIndex: pack.attachmentIndex,
						postNonce: pack.nonce,
						messageId: pack.messageId,
						attachmentId: pack.attachmentId,
						size: pack.size,
						sha256: pack.sha256,
						recordedAt: at,
						updatedAt: at
					})
					.returning()
					.get();
				for (let start = 0; start < pack.blobs.length; start += IDS_PER_QUERY)
					this.#context.db
						.insert(blobs)
						.values(pack.blobs.slice(start, start + IDS_PER_QUERY).map((blob) => ({ ...blob, packId: row.id })))
						.run();
			}
		});
	}

	/** The packs an archive's upload posted (or was posting), in order. */
	public list(lot: number): PackRecord[] {
		return guard(this.#context, () =>
			this.#context.db.select().from(packs).where(eq(packs.archiveLot, lot)).orderBy(asc(packs.messageIndex), asc(packs.attachmentIndex)).all()
		);
	}

	/** The ids of the blobs a channel holds: in stored packs of archives of the channel that are not deleted. */
	public knownBlobs(channelId: string): Set<string> {
		return guard(this.#context, () => {
			const rows = this.#context.db
				.selectDistinct({ id: blobs.id })
				.from(blobs)
				.innerJoin(packs, eq(packs.id, blobs.packId))
				.innerJoin(archives, eq(archives.lot, packs.archiveLot))
				.where(and(eq(packs.state, PackState.Stored), eq(archives.channelId, channelId), ne(archives.status, ArchiveStatus.Deleted)))
				.all();
			return new Set(rows.map((row) => row.id));
		});
	}

	/**
	 * Where the channel holds each of these blobs (one place each, the oldest pack when several hold it); blobs it does
	 * not hold are absent from the map.
	 */
	public locate(channelId: string, ids: Iterable<string>): Map<string, BlobPlace> {
		const wanted = [...new Set(ids)];
		const found = new Map<string, BlobPlace>();
		guard(this.#context, () => {
			for (let start = 0; start < wanted.length; start += IDS_PER_QUERY) {
				const rows = this.#context.db
					.select({ blob: blobs, pack: packs })
					.from(blobs)
					.innerJoin(packs, eq(packs.id, blobs.packId))
					.innerJoin(archives, eq(archives.lot, packs.archiveLot))
					.where(
						and(
							inArray(blobs.id, wanted.slice(start, start + IDS_PER_QUERY)),
							eq(packs.state, PackState.Stored),
							eq(archives.channelId, channelId),
							ne(archives.status, ArchiveStatus.Deleted)
						)
					)
					.orderBy(asc(packs.id))
					.all();
				for (const { blob, pack } of rows) {
					if (found.has(blob.id)) continue;
					found.set(blob.id, {
						blobId: blob.id,
						offset: blob.offset,
						storedLength: blob.storedLength,
						rawLength: blob.rawLength,
						codec: blob.codec,
						pack
					});
				}
			}
		});
		return found;
	}

	/** Records the blobs an archive references (its manifest's), replacing what was recorded. */
	public setReferences(lot: number, ids: Iterable<string>): void {
		const unique = [...new Set(ids)];
		for (const id of unique)
			if (!HEX64.test(id)) throw new IndexError(IndexErrorCode.InvalidRecord, `A blob id is 64 lowercase hex digits, not ${id}.`, { lot });
		write(this.#context, () => {
			this.#context.db.delete(archiveBlobs).where(eq(archiveBlobs.archiveLot, lot)).run();
			for (let start = 0; start < unique.length; start += IDS_PER_QUERY)
				this.#context.db
					.insert(archiveBlobs)
					.values(unique.slice(start, start + IDS_PER_QUERY).map((blobId) => ({ archiveLot: lot, blobId })))
					.run();
		});
	}

	/** How many blobs an archive references. */
	public countReferences(lot: number): number {
		return guard(
			this.#context,
			() =>
				this.#context.db
					.select({ count: sql<number>`count(*)` })
					.from(archiveBlobs)
					.where(eq(archiveBlobs.archiveLot, lot))
					.get()?.count ?? 0
		);
	}

	/**
	 * The other archives (not deleted) that reference a blob held by a pack of archive `lot`: deleting its thread would
	 * take those blobs from them. Ids, oldest first, at most `limit`.
	 */
	public dependents(lot: number, limit = 10): string[] {
		return guard(this.#context, () =>
			this.#context.db
				.selectDistinct({ id: archives.id, lot: archives.lot })
				.from(packs)
				.innerJoin(blobs, eq(blobs.packId, packs.id))
				.innerJoin(archiveBlobs, eq(archiveBlobs.blobId, blobs.id))
				.innerJoin(archives, eq(archives.lot, archiveBlobs.archiveLot))
				.where(and(eq(packs.archiveLot, lot), ne(archiveBlobs.archiveLot, lot), ne(archives.status, ArchiveStatus.Deleted)))
				.orderBy(asc(archives.lot))
				.limit(limit)
				.all()
				.map((row) => row.id)
		);
	}

	/**
	 * The format 2 repository as a whole: live (not deleted) format 2 archives, the stored packs they posted with their
	 * bytes, the distinct blobs those packs hold, and the plaintext bytes those blobs stand for.
	 */
	public totals(): RepositoryTotals {
		return guard(this.#context, () => {
			const live = and(eq(packs.state, PackState.Stored), ne(archives.status, ArchiveStatus.Deleted));
			const packRow = this.#context.db
				.select({ packs: sql<number>`count(*)`, bytes: sql<number>`coalesce(sum(${packs.size}), 0)` })
				.from(packs)
				.innerJoin(archives, eq(archives.lot, packs.archiveLot))
				.where(live)
				.get();
			const blobRow = this.#context.db
				.select({ blobs: sql<number>`count(distinct ${blobs.id})`, rawBytes: sql<number>`coalesce(sum(${blobs.rawLength}), 0)` })
				.from(blobs)
				.innerJoin(packs, eq(packs.id, blobs.packId))
				.innerJoin(archives, eq(archives.lot, packs.archiveLot))
				.where(live)
				.get();
			const archiveRow = this.#context.db
				.select({ count: sql<number>`count(*)` })
				.from(archives)
				.where(and(eq(archives.format, ArchiveFormat.Dos2), ne(archives.status, ArchiveStatus.Deleted)))
				.get();
			return {
				archives: archiveRow?.count ?? 0,
				packs: packRow?.packs ?? 0,
				storedBytes: packRow?.bytes ?? 0,
				blobs: blobRow?.blobs ?? 0,
				rawBytes: blobRow?.rawBytes ?? 0
			};
		});
	}

	/** The newest complete format 2 archive of `source` in the channel, other than `lot`: the parent of a new one. */
	public parentOf(channelId: string, source: string, lot: number): typeof archives.$inferSelect | undefined {
		return guard(this.#context, () =>
			this.#context.db
				.select()
				.from(archives)
				.where(
					and(
						eq(archives.format, ArchiveFormat.Dos2),
						eq(archives.status, ArchiveStatus.Complete),
						eq(archives.channelId, channelId),
						eq(archives.source, source),
						ne(archives.lot, lot)
					)
				)
				.orderBy(desc(archives.lot))
				.limit(1)
				.get()
		);
	}
}

function assertPack(lot: number, pack: InFlightPack): void {
	const problem = !HEX32.test(pack.name)
		? 'its name is not 32 lowercase hex digits'
		: !HEX64.test(pack.sha256)
			? 'its sha256 is not 64 lowercase hex digits'
			: !Number.isSafeInteger(pack.size) || pack.size <= 0
				? 'its size is not a positive integer'
				: !Number.isSafeInteger(pack.attachmentIndex) || pack.attachmentIndex < 0 || pack.attachmentIndex > 9
					? 'its attachment index is not 0 to 9'
					: pack.blobs.find(
								(blob) =>
									!HEX64.test(blob.id) ||
									!Number.isSafeInteger(blob.offset) ||
									blob.offset < 0 ||
									blob.offset + blob.storedLength > pack.size ||
									!Number.isSafeInteger(blob.storedLength) ||
									blob.storedLength <= 0 ||
									!Number.isSafeInteger(blob.rawLength) ||
									blob.rawLength < 0
						  ) !== undefined
						? 'a blob entry is malformed or lies outside the pack'
						: undefined;
	if (problem !== undefined) throw new IndexError(IndexErrorCode.InvalidRecord, `Pack ${pack.name} was not recorded: ${problem}.`, { lot });
}
