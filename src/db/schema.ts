/**
 * The Drizzle schema of the history index: a cache of what the archive channel holds (docs/design.md §3–§4).
 * Nothing here is the only copy of anything, and no column holds a URL: Discord's attachment URLs expire,
 * so the index keeps channel, thread, message and attachment ids and fetches fresh URLs when it needs them.
 *
 * Migrations are generated from this file (`npm run db:generate -- --name <what_changed>`) into
 * `migrations/`. The FTS5 tables and their triggers live in hand-written custom migrations, because Drizzle
 * cannot express them. Beware: when a change makes drizzle-kit recreate `archives` or `entries` (new CHECK
 * values, a changed column type), SQLite drops the table's triggers with it; the migration must create the
 * `*_fts_*` triggers again. test/db/migrations.test.ts fails if a trigger is missing.
 */
import { sql, type SQL } from 'drizzle-orm';
import { blob, check, index, integer, primaryKey, real, sqliteTable, text, uniqueIndex, type AnySQLiteColumn } from 'drizzle-orm/sqlite-core';
import {
	ArchiveFormat,
	ArchiveStatus,
	ChunkKind,
	ChunkState,
	EntryType,
	JobKind,
	JobStatus,
	PackState,
	VerificationLevel,
	valuesOf
} from './vocabulary.js';

/** `column IN ('a', 'b', …)` with the values inlined, as DDL takes no parameters. */
function oneOf(column: AnySQLiteColumn, values: readonly string[]): SQL {
	return sql`${column} in (${sql.raw(values.map((value) => `'${value.replaceAll("'", "''")}'`).join(', '))})`;
}

/** A lowercase hexadecimal string of exactly `length` characters. */
function isHex(column: AnySQLiteColumn, length: number): SQL {
	return sql`length(${column}) = ${sql.raw(String(length))} and ${column} not glob '*[^0-9a-f]*'`;
}

/** One row per archive, ours or imported. The lot is the row id: it never changes and keys every child table. */
export const archives = sqliteTable(
	'archives',
	{
		/** The lot number: counts up across all archives (docs/design.md §3.1). */
		lot: integer('lot').primaryKey(),
		/** `#DDMMYY-NN`: the creation date and the lot, at least two digits. */
		id: text('id').notNull(),
		/** The random 128-bit uid that binds the chunks, as 32 lowercase hex digits. */
		uid: text('uid').notNull(),
		label: text('label'),
		/** The folder path relative to the upload root, or a legacy manifest's `source_folder`. */
		source: text('source').notNull(),
		status: text('status', { enum: valuesOf(ArchiveStatus) }).notNull(),
		format: text('format', { enum: valuesOf(ArchiveFormat) }).notNull(),
		/** Bytes of the files as they were on disk. */
		originalBytes: integer('original_bytes').notNull().default(0),
		/** Bytes on Discord: every stored chunk, data and manifest parts. */
		storedBytes: integer('stored_bytes').notNull().default(0),
		fileCount: integer('file_count').notNull().default(0),
		directoryCount: integer('directory_count').notNull().default(0),
		symlinkCount: integer('symlink_count').notNull().default(0),
		/** Format 2: plaintext bytes of the blobs this archive stored anew, and of those it found stored already. */
		newBytes: integer('new_bytes'),
		reusedBytes: integer('reused_bytes'),
		/** Data chunks in the plan. */
		chunkCount: integer('chunk_count').notNull().default(0),
		/** Data chunks recorded as stored; kept in step by the chunk transitions. */
		storedChunkCount: integer('stored_chunk_count').notNull().default(0),
		/** Plaintext bytes per data chunk. */
		chunkSize: integer('chunk_size').notNull(),
		/** The gzip level chunks were compressed at; null when nothing was compressed. */
		gzipLevel: integer('gzip_level'),
		/** Key derivation of the archive key (not secret): needed to seal a resumed upload's chunks under the same key. */
		kdfId: text('kdf_id'),
		kdfIterations: integer('kdf_iterations'),
		/** The PBKDF2 salt of the archive key, 32 hex digits. Not secret. */
		archiveSalt: text('archive_salt'),
		channelId: text('channel_id'),
		threadId: text('thread_id'),
		cardMessageId: text('card_message_id'),
		/** The Discord user id who asked for the upload (or null for the CLI and imports). */
		createdBy: text('created_by'),
		createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
		updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
		completedAt: integer('completed_at', { mode: 'timestamp_ms' }),
		verifiedAt: integer('verified_at', { mode: 'timestamp_ms' }),
		verifyLevel: text('verify_level', { enum: valuesOf(VerificationLevel) }),
		verifyOk: integer('verify_ok', { mode: 'boolean' }),
		verifySummary: text('verify_summary'),
		/**
		 * Whether what is stored on Discord changed after the last verification (a resume posted chunks, a cleanup
		 * deleted the thread): the card then shows that verification as one of the archive before the change.
		 */
		verifyStale: integer('verify_stale', { mode: 'boolean' }).notNull().default(false),
		errorCode: text('error_code'),
		errorMessage: text('error_message')
	},
	(t) => [
		uniqueIndex('archives_id_unique').on(t.id),
		uniqueIndex('archives_uid_unique').on(t.uid),
		/** A thread holds one archive: two rows never share it, so a cleanup of one can never delete another's chunks. */
		uniqueIndex('archives_thread_unique').on(t.threadId),
		/** Status-filtered lists and autocomplete, newest first. */
		index('archives_status_lot_idx').on(t.status, t.lot),
		check('archives_status_check', oneOf(t.status, valuesOf(ArchiveStatus))),
		check('archives_format_check', oneOf(t.format, valuesOf(ArchiveFormat))),
		check('archives_uid_check', isHex(t.uid, 32)),
		check('archives_id_check', sql`${t.id} glob '#[0-9][0-9][0-9][0-9][0-9][0-9]-[0-9][0-9]*' and substr(${t.id}, 10) not glob '*[^0-9]*'`),
		check('archives_lot_check', sql`${t.lot} > 0`),
		check('archives_verify_level_check', sql`${t.verifyLevel} is null or ${oneOf(t.verifyLevel, valuesOf(VerificationLevel))}`)
	]
);

/** One row per chunk message attachment: data chunks and manifest parts. */
export const chunks = sqliteTable(
	'chunks',
	{
		archiveLot: integer('archive_lot')
			.notNull()
			.references(() => archives.lot, { onDelete: 'cascade' }),
		kind: text('kind', { enum: valuesOf(ChunkKind) }).notNull(),
		/** Data chunk index, or manifest part index. */
		index: integer('chunk_index').notNull(),
		state: text('state', { enum: valuesOf(ChunkState) }).notNull(),
		/** The nonce sent with the post (Discord's enforce-nonce), written before the post. */
		postNonce: text('post_nonce'),
		messageId: text('message_id'),
		attachmentId: text('attachment_id'),
		/** The opaque attachment name. */
		filename: text('filename'),
		/** Bytes of the sealed chunk as stored on Discord. */
		storedSize: integer('stored_size'),
		/** sha256 of the sealed bytes (checkable without the key). */
		sha256: text('sha256'),
		plainSize: integer('plain_size'),
		plainSha256: text('plain_sha256'),
		compressed: integer('compressed', { mode: 'boolean' }),
		recordedAt: integer('recorded_at', { mode: 'timestamp_ms' }).notNull(),
		updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull()
	},
	(t) => [
		primaryKey({ name: 'chunks_pk', columns: [t.archiveLot, t.kind, t.index] }),
		index('chunks_archive_state_idx').on(t.archiveLot, t.state),
		uniqueIndex('chunks_post_nonce_unique').on(t.postNonce),
		check('chunks_kind_check', oneOf(t.kind, valuesOf(ChunkKind))),
		check('chunks_state_check', oneOf(t.state, valuesOf(ChunkState))),
		check('chunks_index_check', sql`${t.index} >= 0`),
		check('chunks_post_nonce_check', sql`${t.postNonce} is null or length(${t.postNonce}) between 1 and 25`),
		check('chunks_sha256_check', sql`${t.sha256} is null or (${isHex(t.sha256, 64)})`),
		check('chunks_plain_sha256_check', sql`${t.plainSha256} is null or (${isHex(t.plainSha256, 64)})`)
	]
);

/**
 * One row per file, directory or symlink of an archive. The explicit integer id is the FTS5 content rowid:
 * it must survive VACUUM, which an implicit rowid does not.
 */
export const entries = sqliteTable(
	'entries',
	{
		id: integer('id').primaryKey(),
		archiveLot: integer('archive_lot')
			.notNull()
			.references(() => archives.lot, { onDelete: 'cascade' }),
		/** Relative, `/`-separated. */
		path: text('path').notNull(),
		/** The last segment of the path. */
		name: text('name').notNull(),
		type: text('type', { enum: valuesOf(EntryType) }).notNull(),
		size: integer('size').notNull().default(0),
		mode: integer('mode'),
		/** Milliseconds since the epoch, fractional as Node's `stat.mtimeMs`. */
		mtimeMs: real('mtime_ms'),
		sha256: text('sha256'),
		/** Offset of the file's first byte in the archive's byte stream. */
		offset: integer('stream_offset'),
		/** The data chunks the file's bytes span; null for empty files, directories and symlinks. */
		firstChunk: integer('first_chunk'),
		lastChunk: integer('last_chunk'),
		/** A symlink's target, as recorded. */
		target: text('target')
	},
	(t) => [
		uniqueIndex('entries_archive_path_unique').on(t.archiveLot, t.path),
		check('entries_type_check', oneOf(t.type, valuesOf(EntryType))),
		check(
			'entries_span_check',
			sql`(${t.firstChunk} is null) = (${t.lastChunk} is null) and (${t.firstChunk} is null or ${t.firstChunk} <= ${t.lastChunk})`
		),
		check('entries_sha256_check', sql`${t.sha256} is null or (${isHex(t.sha256, 64)})`)
	]
);

/** Job progress as the archive service reports it (free-form, rendered by the card). */
export type JobProgress = Readonly<Record<string, unknown>>;
/** A finished job's result (free-form: verification findings, restored folder…). */
export type JobResult = Readonly<Record<string, unknown>>;

/** The jobs of the archive service, and the per-archive lock: a `running` job holds its archive. */
export const jobs = sqliteTable(
	'jobs',
	{
		id: integer('id').primaryKey({ autoIncrement: true }),
		/** Null for jobs that concern no archive (rebuild, index backup). */
		archiveLot: integer('archive_lot').references(() => archives.lot, { onDelete: 'set null' }),
		kind: text('kind', { enum: valuesOf(JobKind) }).notNull(),
		status: text('status', { enum: valuesOf(JobStatus) }).notNull(),
		requestedBy: text('requested_by'),
		/** The process token of the holder while running. */
		holder: text('holder'),
		leaseMs: integer('lease_ms'),
		/** A running job whose lease has passed belongs to a dead process: it may be taken over. */
		leaseExpiresAt: integer('lease_expires_at', { mode: 'timestamp_ms' }),
		createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
		startedAt: integer('started_at', { mode: 'timestamp_ms' }),
		heartbeatAt: integer('heartbeat_at', { mode: 'timestamp_ms' }),
		finishedAt: integer('finished_at', { mode: 'timestamp_ms' }),
		progress: text('progress', { mode: 'json' }).$type<JobProgress>(),
		result: text('result', { mode: 'json' }).$type<JobResult>(),
		errorCode: text('error_code'),
		errorMessage: text('error_message'),
		/**
		 * When someone (`dos cancel`, the card's Cancel button in another process) asked this job to stop: its holder
		 * reads it at every heartbeat and stops the job (it ends `cancelled`).
		 */
		cancelRequestedAt: integer('cancel_requested_at', { mode: 'timestamp_ms' })
	},
	(t) => [
		/** The lock: at most one running job per archive. */
		uniqueIndex('jobs_one_running_per_archive')
			.on(t.archiveLot)
			.where(sql`status = 'running' and archive_lot is not null`),
		/** At most one running rebuild and one running index backup, which hold no archive. */
		uniqueIndex('jobs_one_running_per_global_kind')
			.on(t.kind)
			.where(sql`status = 'running' and archive_lot is null`),
		index('jobs_status_idx').on(t.status, t.id),
		index('jobs_archive_idx').on(t.archiveLot, t.id),
		check('jobs_kind_check', oneOf(t.kind, valuesOf(JobKind))),
		check('jobs_status_check', oneOf(t.status, valuesOf(JobStatus))),
		check('jobs_running_check', sql`${t.status} <> 'running' or (${t.holder} is not null and ${t.leaseExpiresAt} is not null)`)
	]
);

/** The one-row lot counter: the last lot handed out or imported. */
export const lotCounter = sqliteTable(
	'lot_counter',
	{
		id: integer('id').primaryKey(),
		lastLot: integer('last_lot').notNull()
	},
	(t) => [check('lot_counter_single_row', sql`${t.id} = 1`)]
);

/** Encrypted snapshots of this index posted to the log channel, newest last. */
export const indexBackups = sqliteTable(
	'index_backups',
	{
		id: integer('id').primaryKey({ autoIncrement: true }),
		createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
		channelId: text('channel_id').notNull(),
		messageId: text('message_id').notNull(),
		attachmentId: text('attachment_id').notNull(),
		filename: text('filename').notNull(),
		/** Bytes of the sealed snapshot as posted. */
		size: integer('size').notNull(),
		/** sha256 of the sealed snapshot as posted. */
		sha256: text('sha256').notNull()
	},
	(t) => [index('index_backups_created_idx').on(t.createdAt), check('index_backups_sha256_check', isHex(t.sha256, 64))]
);

/** Small facts about the index itself (e.g. when it was last rebuilt). */
export const meta = sqliteTable('meta', {
	key: text('key').primaryKey(),
	value: text('value').notNull()
});

/**
 * The chunk messages of an archive the original Python tool recorded only in its history log (no card, no thread):
 * message ids in a storage channel, in the order the log lists them. Some of them may hold no attachment (the
 * original's first versions logged their header and status lines too).
 */
export const legacyMessages = sqliteTable(
	'legacy_messages',
	{
		archiveLot: integer('archive_lot')
			.notNull()
			.references(() => archives.lot, { onDelete: 'cascade' }),
		/** The message's place in the log's `message_ids`, from 0. */
		position: integer('position').notNull(),
		/** The channel the message lives in (the original's storage channel). */
		channelId: text('channel_id').notNull(),
		messageId: text('message_id').notNull()
	},
	(t) => [
		primaryKey({ name: 'legacy_messages_pk', columns: [t.archiveLot, t.position] }),
		index('legacy_messages_message_idx').on(t.channelId, t.messageId),
		check('legacy_messages_position_check', sql`${t.position} >= 0`),
		check(
			'legacy_messages_channel_check',
			sql`${t.channelId} glob '[1-9]*' and ${t.channelId} not glob '*[^0-9]*' and length(${t.channelId}) between 17 and 20`
		),
		check(
			'legacy_messages_message_check',
			sql`${t.messageId} glob '[1-9]*' and ${t.messageId} not glob '*[^0-9]*' and length(${t.messageId}) between 17 and 20`
		)
	]
);

/**
 * The format 2 repository keys of an archive channel, mirrored from the keys message pinned there: the keys file bytes
 * (slots and older passphrases, every secret in them sealed) and where the message is. One row per channel; the pin
 * is the copy of record, this row spares a fetch and is found again from the pin when lost.
 */
export const repositoryKeys = sqliteTable(
	'repository_keys',
	{
		channelId: text('channel_id').primaryKey(),
		/** The repository id, 32 lowercase hex digits (also inside the keys file). */
		repositoryId: text('repository_id').notNull(),
		/** The keys file as posted (docs/format2-primitives.md, "Keys file"). */
		keysFile: blob('keys_file', { mode: 'buffer' }).notNull(),
		/** The pinned keys message and its attachment. */
		messageId: text('message_id').notNull(),
		attachmentId: text('attachment_id').notNull(),
		updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull()
	},
	(t) => [
		check('repository_keys_repository_check', isHex(t.repositoryId, 32)),
		check(
			'repository_keys_channel_check',
			sql`${t.channelId} glob '[1-9]*' and ${t.channelId} not glob '*[^0-9]*' and length(${t.channelId}) between 17 and 20`
		),
		check(
			'repository_keys_message_check',
			sql`${t.messageId} glob '[1-9]*' and ${t.messageId} not glob '*[^0-9]*' and length(${t.messageId}) between 17 and 20`
		),
		check('repository_keys_file_check', sql`length(${t.keysFile}) between 58 and 65536`)
	]
);

/** A Discord id (snowflake), or null. */
const snowflakeCheck = (column: AnySQLiteColumn) =>
	sql`${column} is null or (${column} glob '[1-9]*' and ${column} not glob '*[^0-9]*' and length(${column}) between 17 and 20)`;

/**
 * The packs of format 2 archives (docs/design.md §9): each recorded `in_flight` with its name, size and sha256 before
 * its post, and `stored` with message and attachment after. A pack belongs to the archive whose upload posted it, in
 * that archive's thread; later archives of the channel reference its blobs.
 */
export const packs = sqliteTable(
	'packs',
	{
		id: integer('id').primaryKey({ autoIncrement: true }),
		archiveLot: integer('archive_lot')
			.notNull()
			.references(() => archives.lot, { onDelete: 'cascade' }),
		/** The pack's name: the first 32 hex digits of the sha256 of its bytes. */
		name: text('name').notNull(),
		state: text('state', { enum: valuesOf(PackState) }).notNull(),
		/** The thread it is posted into (the archive's). */
		threadId: text('thread_id').notNull(),
		/** The message of the archive's upload that carries it (0, 1, …: several packs share a message). */
		messageIndex: integer('message_index').notNull(),
		/** Its place among the message's attachments. */
		attachmentIndex: integer('attachment_index').notNull(),
		/** The nonce of the message's post, written before the post. */
		postNonce: text('post_nonce').notNull(),
		messageId: text('message_id'),
		attachmentId: text('attachment_id'),
		/** Bytes of the pack file. */
		size: integer('size').notNull(),
		/** sha256 of the pack's bytes (checkable without the key). */
		sha256: text('sha256').notNull(),
		recordedAt: integer('recorded_at', { mode: 'timestamp_ms' }).notNull(),
		updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull()
	},
	(t) => [
		uniqueIndex('packs_archive_name_unique').on(t.archiveLot, t.name),
		index('packs_name_idx').on(t.name),
		check('packs_state_check', oneOf(t.state, valuesOf(PackState))),
		check('packs_name_check', isHex(t.name, 32)),
		check('packs_sha256_check', isHex(t.sha256, 64)),
		check('packs_size_check', sql`${t.size} > 0`),
		check('packs_index_check', sql`${t.messageIndex} >= 0 and ${t.attachmentIndex} between 0 and 9`),
		check('packs_stored_check', sql`${t.state} <> 'stored' or (${t.messageId} is not null and ${t.attachmentId} is not null)`),
		check('packs_thread_check', snowflakeCheck(t.threadId)),
		check('packs_message_check', snowflakeCheck(t.messageId)),
		check('packs_attachment_check', snowflakeCheck(t.attachmentId))
	]
);

/** The blobs of each pack, from its header as written: where a blob lies in the pack, its lengths and codec. */
export const blobs = sqliteTable(
	'blobs',
	{
		/** The blob id, 64 hex digits. */
		id: text('id').notNull(),
		packId: integer('pack_id')
			.notNull()
			.references(() => packs.id, { onDelete: 'cascade' }),
		offset: integer('pack_offset').notNull(),
		storedLength: integer('stored_length').notNull(),
		rawLength: integer('raw_length').notNull(),
		/** The codec (`none`, `gzip-N`, `zstd-N`). */
		codec: text('codec').notNull()
	},
	(t) => [
		primaryKey({ name: 'blobs_pk', columns: [t.id, t.packId] }),
		index('blobs_pack_idx').on(t.packId),
		check('blobs_id_check', isHex(t.id, 64)),
		check('blobs_lengths_check', sql`${t.offset} >= 0 and ${t.storedLength} > 0 and ${t.rawLength} >= 0`)
	]
);

/** Which blobs each format 2 archive references (its manifest's), so that a cleanup can count references. */
export const archiveBlobs = sqliteTable(
	'archive_blobs',
	{
		archiveLot: integer('archive_lot')
			.notNull()
			.references(() => archives.lot, { onDelete: 'cascade' }),
		blobId: text('blob_id').notNull()
	},
	(t) => [
		primaryKey({ name: 'archive_blobs_pk', columns: [t.archiveLot, t.blobId] }),
		index('archive_blobs_blob_idx').on(t.blobId),
		check('archive_blobs_id_check', isHex(t.blobId, 64))
	]
);
