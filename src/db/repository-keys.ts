import { eq } from 'drizzle-orm';
import { guard, now, write, type IndexContext } from './database.js';
import { IndexError, IndexErrorCode } from './errors.js';
import { repositoryKeys } from './schema.js';

/** The bounds the table checks on a keys file's length. */
const MIN_KEYS_FILE = 58;
const MAX_KEYS_FILE = 65_536;

/** The row of an archive channel's repository keys. */
export type RepositoryKeysRecord = typeof repositoryKeys.$inferSelect;

/** What {@link RepositoryKeysIndex.put} records. */
export interface RepositoryKeysInput {
	readonly channelId: string;
	readonly repositoryId: string;
	readonly keysFile: Uint8Array;
	readonly messageId: string;
	readonly attachmentId: string;
	/** Defaults to now. */
	readonly updatedAt?: Date;
}

/**
 * The mirror of each archive channel's pinned repository keys (the keys file holds no secret in clear). Only ever a
 * copy: the archive service checks the file with the passphrase before using it, and finds it again from the pin.
 */
export class RepositoryKeysIndex {
	readonly #context: IndexContext;

	/** @internal Built by {@link openIndex}. */
	public constructor(context: IndexContext) {
		this.#context = context;
	}

	/** The channel's keys, if recorded. */
	public get(channelId: string): RepositoryKeysRecord | undefined {
		return guard(this.#context, () => this.#context.db.select().from(repositoryKeys).where(eq(repositoryKeys.channelId, channelId)).get());
	}

	/**
	 * Records (or replaces) the channel's keys.
	 *
	 * @throws {IndexError} INVALID_RECORD for malformed ids or a file out of bounds.
	 */
	public put(input: RepositoryKeysInput): RepositoryKeysRecord {
		const snowflake = /^[1-9]\d{16,19}$/;
		const problem = !snowflake.test(input.channelId)
			? 'the channel id is not a Discord id'
			: !snowflake.test(input.messageId) || !snowflake.test(input.attachmentId)
				? 'the message or attachment id is not a Discord id'
				: !/^[0-9a-f]{32}$/.test(input.repositoryId)
					? 'the repository id is not 32 lowercase hex digits'
					: input.keysFile.length < MIN_KEYS_FILE || input.keysFile.length > MAX_KEYS_FILE
						? `the keys file has ${input.keysFile.length} bytes (${MIN_KEYS_FILE} to ${MAX_KEYS_FILE})`
						: undefined;
		if (problem !== undefined) throw new IndexError(IndexErrorCode.InvalidRecord, `The repository keys were not recorded: ${problem}.`);
		const values = {
			channelId: input.channelId,
			repositoryId: input.repositoryId,
			keysFile: Buffer.from(input.keysFile),
			messageId: input.messageId,
			attachmentId: input.attachmentId,
			updatedAt: input.updatedAt ?? now(this.#context)
		};
		return write(this.#context, () =>
			this.#context.db
				.insert(repositoryKeys)
				.values(values)
				.onConflictDoUpdate({ target: repositoryKeys.channelId, set: values })
				.returning()
				.get()
		);
	}

	/** Forgets the channel's keys. @returns whether a row was there. */
	public remove(channelId: string): boolean {
		return write(this.#context, () => this.#context.db.delete(repositoryKeys).where(eq(repositoryKeys.channelId, channelId)).run().changes > 0);
	}
}
