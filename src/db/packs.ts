import { and, asc, desc, eq, inArray, ne, or, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/sqlite-core';
import { guard, now, write, type IndexContext } from './database.js';
import { IndexError, IndexErrorCode } from './errors.js';
import { archiveBlobs, archives, blobs, jobs, packs } from './schema.js';
import { ArchiveFormat, ArchiveStatus, JobKind, JobStatus, PackState } from './vocabulary.js';

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

/**
 * What a cleanup does in a channel's repository: the packs of the archive cleaned up and of the channel's deleted
 * archives a cleanup kept, split into those going (no live archive references a blob they hold, nor one in a pack
 * sharing their message) and those staying.
 */
export interface PackCleanupPlan {
	/** Packs deleted from Discord, then from the index: whole messages of packs no live archive needs. */
	readonly doomed: PackRecord[];
	/** Packs that stay: needed by a live archive, or sharing their message with one that is. */
	readonly kept: PackRecord[];
	/** Of {@link kept}, those no live archive needs (they only share a message with one that is). */
	readonly keptUnneeded: number;
	/** The live archives whose references keep packs: ids, oldest first, at most the limit asked. */
	readonly keptBy: string[];
	/** How many live archives keep packs. */
	readonly keptByCount: number;
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
 * references. Blobs count as held by the channel while their pack is `stored` (a cleanup marks a pack `deleting` before
 * deleting it, and drops its rows after: docs/design.md §4.5).
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
	 * Forgets packs of an archive that the thread does not hold (a post that never landed, a message that vanished):
	 * their rows and blob entries go, so their blobs stop counting as held, and a stored one's bytes leave the
	 * archive's stored bytes. Names the archive does not record are ignored.
	 *
	 * @returns how many packs were forgotten.
	 */
	public forget(lot: number, names: readonly string[]): number {
		if (names.length === 0) return 0;
		return write(this.#context, () => {
			let forgotten = 0;
			for (const name of names) {
				const existing = this.#context.db
					.select()
					.from(packs)
					.where(and(eq(packs.archiveLot, lot), eq(packs.name, name)))
					.get();
				if (existing === undefined) continue;
				this.#context.db.delete(blobs).where(eq(blobs.packId, existing.id)).run();
				this.#context.db.delete(packs).where(eq(packs.id, existing.id)).run();
				if (existing.state === PackState.Stored)
					this.#context.db
						.update(archives)
						.set({ storedBytes: sql`max(0, ${archives.storedBytes} - ${existing.size})`, updatedAt: now(this.#context) })
						.where(eq(archives.lot, lot))
						.run();
				forgotten++;
			}
			return forgotten;
		});
	}

	/** The ids of the blobs held by an archive's own stored packs. */
	public storedBlobsOf(lot: number): Set<string> {
		return guard(this.#context, () => {
			const rows = this.#context.db
				.selectDistinct({ id: blobs.id })
				.from(blobs)
				.innerJoin(packs, eq(packs.id, blobs.packId))
				.where(and(eq(packs.archiveLot, lot), eq(packs.state, PackState.Stored)))
				.all();
			return new Set(rows.map((row) => row.id));
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

	/**
	 * The ids of the blobs a channel holds: in its stored packs — those of its live archives, and those of deleted
	 * archives a cleanup kept because live archives still need them. A pack a cleanup is deleting is not `stored`.
	 */
	public knownBlobs(channelId: string): Set<string> {
		return guard(this.#context, () => {
			const rows = this.#context.db
				.selectDistinct({ id: blobs.id })
				.from(blobs)
				.innerJoin(packs, eq(packs.id, blobs.packId))
				.innerJoin(archives, eq(archives.lot, packs.archiveLot))
				.where(and(eq(packs.state, PackState.Stored), eq(archives.channelId, channelId)))
				.all();
			return new Set(rows.map((row) => row.id));
		});
	}

	/**
	 * The channel's stored packs (those of its live archives, and those of deleted archives a cleanup kept because live
	 * archives still need them), oldest first: what a repository check reads, each once.
	 */
	public storedPacks(channelId: string): PackRecord[] {
		return guard(this.#context, () =>
			this.#context.db
				.select({ pack: packs })
				.from(packs)
				.innerJoin(archives, eq(archives.lot, packs.archiveLot))
				.where(and(eq(packs.state, PackState.Stored), eq(archives.channelId, channelId)))
				.orderBy(asc(packs.id))
				.all()
				.map((row) => row.pack)
		);
	}

	/** The blobs a pack holds, as the index recorded them from its header. */
	public blobsIn(packId: number): PackBlobInput[] {
		return guard(this.#context, () =>
			this.#context.db
				.select({ id: blobs.id, offset: blobs.offset, storedLength: blobs.storedLength, rawLength: blobs.rawLength, codec: blobs.codec })
				.from(blobs)
				.where(eq(blobs.packId, packId))
				.orderBy(asc(blobs.offset))
				.all()
		);
	}

	/**
	 * Blobs the channel's live archives reference that no stored pack of the channel holds (an index that lost rows, or
	 * a pack deleted behind its back), with the archives that reference them: at most `limit` blobs.
	 */
	public unheldReferences(channelId: string, limit = 100): Map<string, string[]> {
		return guard(this.#context, () => {
			// Held: some stored pack of an archive of the channel (live, or deleted and kept for others) lists it.
			const held = sql`exists (select 1 from blobs b join packs p on p.id = b.pack_id join archives h on h.lot = p.archive_lot where b.id = ${archiveBlobs.blobId} and p.state = ${PackState.Stored} and h.channel_id = ${channelId})`;
			const rows = this.#context.db
				.select({ blobId: archiveBlobs.blobId, archiveId: archives.id })
				.from(archiveBlobs)
				.innerJoin(archives, eq(archives.lot, archiveBlobs.archiveLot))
				.where(and(eq(archives.channelId, channelId), ne(archives.status, ArchiveStatus.Deleted), sql`not ${held}`))
				.orderBy(asc(archiveBlobs.blobId), asc(archives.lot))
				.limit(limit * 50)
				.all();
			const unheld = new Map<string, string[]>();
			for (const { blobId, archiveId } of rows) {
				const holders = unheld.get(blobId);
				if (holders !== undefined) holders.push(archiveId);
				else if (unheld.size < limit) unheld.set(blobId, [archiveId]);
			}
			return unheld;
		});
	}

	/** The channel's live archives (ids, oldest first) that reference any of these blobs. */
	public archivesReferencing(channelId: string, ids: Iterable<string>): string[] {
		const wanted = [...new Set(ids)];
		const found = new Map<number, string>();
		guard(this.#context, () => {
			for (let start = 0; start < wanted.length; start += IDS_PER_QUERY) {
				const rows = this.#context.db
					.selectDistinct({ lot: archives.lot, id: archives.id })
					.from(archiveBlobs)
					.innerJoin(archives, eq(archives.lot, archiveBlobs.archiveLot))
					.where(
						and(
							inArray(archiveBlobs.blobId, wanted.slice(start, start + IDS_PER_QUERY)),
							eq(archives.channelId, channelId),
							ne(archives.status, ArchiveStatus.Deleted)
						)
					)
					.all();
				for (const row of rows) found.set(row.lot, row.id);
			}
		});
		return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, id]) => id);
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
							eq(archives.channelId, channelId)
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

	/**
	 * Records the blobs an archive references (its manifest's), replacing what was recorded. With `heldIn`, first
	 * checks in the same transaction that the channel holds every one of them in a stored pack: an upload counted
	 * them as known when it began, and a cleanup may have deleted a pack since (docs/design.md §9.7).
	 *
	 * @throws {IndexError} INVALID_RECORD for a malformed id; CHUNK_NOT_FOUND when a blob is no longer held.
	 */
	public setReferences(lot: number, ids: Iterable<string>, heldIn?: string): void {
		const unique = [...new Set(ids)];
		for (const id of unique)
			if (!HEX64.test(id)) throw new IndexError(IndexErrorCode.InvalidRecord, `A blob id is 64 lowercase hex digits, not ${id}.`, { lot });
		write(this.#context, () => {
			if (heldIn !== undefined) {
				const held = this.locate(heldIn, unique);
				const missing = unique.filter((id) => !held.has(id));
				if (missing.length > 0) {
					throw new IndexError(
						IndexErrorCode.ChunkNotFound,
						`${missing.length} blob(s) this upload counted as stored are no longer held by the channel (a cleanup deleted their packs meanwhile). Upload the folder again: they will be posted anew.`,
						{ lot }
					);
				}
			}
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
	 * What a cleanup of archive `lot` would do in the channel's repository, with `lot` counted as deleted (the archive
	 * is not changed): see {@link PackCleanupPlan}. Read only, for the confirmation asked first.
	 */
	public planCleanup(channelId: string, lot: number, limit = 10): PackCleanupPlan {
		return guard(this.#context, () => this.#plan(channelId, lot, limit));
	}

	/**
	 * Starts the cleanup of format 2 archive `lot`, in one transaction: refuses while a format 2 upload of the channel
	 * runs (it counted blobs as stored when it began, and records its references only at its end); marks the archive
	 * `deleted` (from here on its references keep nothing); marks `deleting` every pack of it and of the channel's
	 * deleted archives that no live archive needs, by whole messages — from then on no upload is offered their blobs
	 * and no download looks for them, before anything is deleted on Discord. Packs already `deleting` (a cleanup
	 * stopped midway) stay so. Idempotent.
	 *
	 * @throws {IndexError} ARCHIVE_NOT_FOUND; ARCHIVE_BUSY while a format 2 upload of the channel runs.
	 */
	public beginCleanup(channelId: string, lot: number, limit = 10): PackCleanupPlan {
		return write(this.#context, () => {
			const { db } = this.#context;
			const archive = db.select().from(archives).where(eq(archives.lot, lot)).get();
			if (archive === undefined) throw new IndexError(IndexErrorCode.ArchiveNotFound, `No archive has lot ${lot}.`, { lot });
			const uploading = db
				.select({ jobId: jobs.id, id: archives.id })
				.from(jobs)
				.innerJoin(archives, eq(archives.lot, jobs.archiveLot))
				.where(
					and(
						eq(jobs.status, JobStatus.Running),
						inArray(jobs.kind, [JobKind.Upload, JobKind.Resume]),
						eq(archives.format, ArchiveFormat.Dos2),
						eq(archives.channelId, channelId),
						ne(archives.lot, lot)
					)
				)
				.get();
			if (uploading !== undefined) {
				throw new IndexError(
					IndexErrorCode.ArchiveBusy,
					`Cleanup of ${archive.id} refused while ${uploading.id} is being uploaded into the same channel (job ${uploading.jobId}): that upload may reuse blobs the cleanup would delete. Nothing was deleted; try again once it has finished.`,
					{ lot, jobId: uploading.jobId }
				);
			}
			if (archive.status !== ArchiveStatus.Deleted)
				db.update(archives)
					.set({ status: ArchiveStatus.Deleted, verifyStale: sql`${archives.verifiedAt} is not null`, updatedAt: now(this.#context) })
					.where(eq(archives.lot, lot))
					.run();
			const plan = this.#plan(channelId, lot, limit);
			const marking = plan.doomed.filter((pack) => pack.state !== PackState.Deleting).map((pack) => pack.id);
			for (let start = 0; start < marking.length; start += IDS_PER_QUERY)
				db.update(packs)
					.set({ state: PackState.Deleting, updatedAt: now(this.#context) })
					.where(inArray(packs.id, marking.slice(start, start + IDS_PER_QUERY)))
					.run();
			return { ...plan, doomed: plan.doomed.map((pack) => ({ ...pack, state: PackState.Deleting })) };
		});
	}

	/**
	 * Drops from the index packs (and their blobs) a cleanup deleted from Discord. Only `deleting` packs are dropped.
	 *
	 * @returns how many were dropped.
	 */
	public dropDeleted(ids: readonly number[]): number {
		return write(this.#context, () => {
			let dropped = 0;
			for (let start = 0; start < ids.length; start += IDS_PER_QUERY)
				dropped += this.#context.db
					.delete(packs)
					.where(and(inArray(packs.id, ids.slice(start, start + IDS_PER_QUERY)), eq(packs.state, PackState.Deleting)))
					.run().changes;
			return dropped;
		});
	}

	#plan(channelId: string, lot: number, limit: number): PackCleanupPlan {
		const { db } = this.#context;
		const gone = or(eq(archives.status, ArchiveStatus.Deleted), eq(archives.lot, lot));
		const candidates = db
			.select({ pack: packs })
			.from(packs)
			.innerJoin(archives, eq(archives.lot, packs.archiveLot))
			.where(and(eq(archives.channelId, channelId), gone))
			.orderBy(asc(packs.archiveLot), asc(packs.messageIndex), asc(packs.attachmentIndex))
			.all()
			.map((row) => row.pack);
		// Live archives of the channel (anything not deleted: complete, failed, interrupted…) and what they reference.
		const live = alias(archives, 'live');
		const needing = db
			.select({ packId: packs.id, archiveLot: archiveBlobs.archiveLot })
			.from(packs)
			.innerJoin(archives, eq(archives.lot, packs.archiveLot))
			.innerJoin(blobs, eq(blobs.packId, packs.id))
			.innerJoin(archiveBlobs, eq(archiveBlobs.blobId, blobs.id))
			.innerJoin(live, eq(live.lot, archiveBlobs.archiveLot))
			.where(
				and(
					eq(archives.channelId, channelId),
					gone,
					eq(packs.state, PackState.Stored),
					ne(live.status, ArchiveStatus.Deleted),
					ne(live.lot, lot),
					eq(live.channelId, channelId)
				)
			)
			.groupBy(packs.id, archiveBlobs.archiveLot)
			.all();
		const needed = new Set(needing.map((row) => row.packId));
		// Discord deletes whole messages: a message goes only when none of its packs is needed.
		const messageOf = (pack: PackRecord) => `${pack.archiveLot}:${pack.messageIndex}`;
		const keptMessages = new Set(candidates.filter((pack) => needed.has(pack.id)).map(messageOf));
		const doomed = candidates.filter((pack) => pack.state === PackState.Deleting || !keptMessages.has(messageOf(pack)));
		const kept = candidates.filter((pack) => !doomed.includes(pack));
		const keepers = [...new Set(needing.map((row) => row.archiveLot))].sort((a, b) => a - b);
		const keptBy = keepers
			.slice(0, limit)
			.map((keeper) => db.select({ id: archives.id }).from(archives).where(eq(archives.lot, keeper)).get()?.id)
			.filter((id): id is string => id !== undefined);
		return { doomed, kept, keptUnneeded: kept.filter((pack) => !needed.has(pack.id)).length, keptBy, keptByCount: keepers.length };
	}

	/**
	 * The format 2 repository as a whole: live (not deleted) format 2 archives, the stored packs (those of live
	 * archives, and those a cleanup kept for them) with their bytes, the distinct blobs those packs hold, and the
	 * plaintext bytes those blobs stand for.
	 */
	public totals(): RepositoryTotals {
		return guard(this.#context, () => {
			const live = eq(packs.state, PackState.Stored);
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
