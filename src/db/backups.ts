import { desc, eq } from 'drizzle-orm';
import { normalizeSha256 } from './content.js';
import { guard, now, write, type IndexContext } from './database.js';
import { indexBackups } from './schema.js';

/** A posted index backup's row. */
export type IndexBackup = typeof indexBackups.$inferSelect;

/** Where a sealed snapshot of the index was posted. */
export interface PostedIndexBackup {
	readonly channelId: string;
	readonly messageId: string;
	readonly attachmentId: string;
	readonly filename: string;
	/** Bytes of the sealed snapshot. */
	readonly size: number;
	/** sha256 of the sealed snapshot. */
	readonly sha256: string;
	/** Defaults to now. */
	readonly createdAt?: Date;
}

/** The log of index backups posted to the log channel (no URL: the message is fetched again to download). */
export class IndexBackupLog {
	readonly #context: IndexContext;

	/** @internal Built by {@link openIndex}. */
	public constructor(context: IndexContext) {
		this.#context = context;
	}

	/**
	 * Records a posted backup.
	 *
	 * @throws {IndexError} INVALID_RECORD for a malformed hash.
	 */
	public record(backup: PostedIndexBackup): IndexBackup {
		const sha256 = normalizeSha256(undefined, 'The sha256 of an index backup', backup.sha256)!;
		return write(this.#context, () =>
			this.#context.db
				.insert(indexBackups)
				.values({ ...backup, sha256, createdAt: backup.createdAt ?? now(this.#context) })
				.returning()
				.get()
		);
	}

	/** The newest backup, if any. */
	public latest(): IndexBackup | undefined {
		return this.list(1)[0];
	}

	/** The newest backups first. */
	public list(limit = 10): IndexBackup[] {
		return guard(this.#context, () =>
			this.#context.db.select().from(indexBackups).orderBy(desc(indexBackups.createdAt), desc(indexBackups.id)).limit(limit).all()
		);
	}

	/** Forgets a backup (after its message was deleted). @returns whether it was there. */
	public remove(id: number): boolean {
		return write(this.#context, () => this.#context.db.delete(indexBackups).where(eq(indexBackups.id, id)).run().changes > 0);
	}
}
