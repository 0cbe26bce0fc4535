CREATE TABLE `archive_blobs` (
	`archive_lot` integer NOT NULL,
	`blob_id` text NOT NULL,
	PRIMARY KEY(`archive_lot`, `blob_id`),
	FOREIGN KEY (`archive_lot`) REFERENCES `archives`(`lot`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "archive_blobs_id_check" CHECK(length("archive_blobs"."blob_id") = 64 and "archive_blobs"."blob_id" not glob '*[^0-9a-f]*')
);
--> statement-breakpoint
CREATE INDEX `archive_blobs_blob_idx` ON `archive_blobs` (`blob_id`);--> statement-breakpoint
CREATE TABLE `blobs` (
	`id` text NOT NULL,
	`pack_id` integer NOT NULL,
	`pack_offset` integer NOT NULL,
	`stored_length` integer NOT NULL,
	`raw_length` integer NOT NULL,
	`codec` text NOT NULL,
	PRIMARY KEY(`id`, `pack_id`),
	FOREIGN KEY (`pack_id`) REFERENCES `packs`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "blobs_id_check" CHECK(length("blobs"."id") = 64 and "blobs"."id" not glob '*[^0-9a-f]*'),
	CONSTRAINT "blobs_lengths_check" CHECK("blobs"."pack_offset" >= 0 and "blobs"."stored_length" > 0 and "blobs"."raw_length" >= 0)
);
--> statement-breakpoint
CREATE INDEX `blobs_pack_idx` ON `blobs` (`pack_id`);--> statement-breakpoint
CREATE TABLE `packs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`archive_lot` integer NOT NULL,
	`name` text NOT NULL,
	`state` text NOT NULL,
	`thread_id` text NOT NULL,
	`message_index` integer NOT NULL,
	`attachment_index` integer NOT NULL,
	`post_nonce` text NOT NULL,
	`message_id` text,
	`attachment_id` text,
	`size` integer NOT NULL,
	`sha256` text NOT NULL,
	`recorded_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`archive_lot`) REFERENCES `archives`(`lot`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "packs_state_check" CHECK("packs"."state" in ('in_flight', 'stored')),
	CONSTRAINT "packs_name_check" CHECK(length("packs"."name") = 32 and "packs"."name" not glob '*[^0-9a-f]*'),
	CONSTRAINT "packs_sha256_check" CHECK(length("packs"."sha256") = 64 and "packs"."sha256" not glob '*[^0-9a-f]*'),
	CONSTRAINT "packs_size_check" CHECK("packs"."size" > 0),
	CONSTRAINT "packs_index_check" CHECK("packs"."message_index" >= 0 and "packs"."attachment_index" between 0 and 9),
	CONSTRAINT "packs_stored_check" CHECK("packs"."state" <> 'stored' or ("packs"."message_id" is not null and "packs"."attachment_id" is not null)),
	CONSTRAINT "packs_thread_check" CHECK("packs"."thread_id" is null or ("packs"."thread_id" glob '[1-9]*' and "packs"."thread_id" not glob '*[^0-9]*' and length("packs"."thread_id") between 17 and 20)),
	CONSTRAINT "packs_message_check" CHECK("packs"."message_id" is null or ("packs"."message_id" glob '[1-9]*' and "packs"."message_id" not glob '*[^0-9]*' and length("packs"."message_id") between 17 and 20)),
	CONSTRAINT "packs_attachment_check" CHECK("packs"."attachment_id" is null or ("packs"."attachment_id" glob '[1-9]*' and "packs"."attachment_id" not glob '*[^0-9]*' and length("packs"."attachment_id") between 17 and 20))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `packs_archive_name_unique` ON `packs` (`archive_lot`,`name`);--> statement-breakpoint
CREATE INDEX `packs_name_idx` ON `packs` (`name`);--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_archives` (
	`lot` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`uid` text NOT NULL,
	`label` text,
	`source` text NOT NULL,
	`status` text NOT NULL,
	`format` text NOT NULL,
	`original_bytes` integer DEFAULT 0 NOT NULL,
	`stored_bytes` integer DEFAULT 0 NOT NULL,
	`file_count` integer DEFAULT 0 NOT NULL,
	`directory_count` integer DEFAULT 0 NOT NULL,
	`symlink_count` integer DEFAULT 0 NOT NULL,
	`new_bytes` integer,
	`reused_bytes` integer,
	`chunk_count` integer DEFAULT 0 NOT NULL,
	`stored_chunk_count` integer DEFAULT 0 NOT NULL,
	`chunk_size` integer NOT NULL,
	`gzip_level` integer,
	`kdf_id` text,
	`kdf_iterations` integer,
	`archive_salt` text,
	`channel_id` text,
	`thread_id` text,
	`card_message_id` text,
	`created_by` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`completed_at` integer,
	`verified_at` integer,
	`verify_level` text,
	`verify_ok` integer,
	`verify_summary` text,
	`verify_stale` integer DEFAULT false NOT NULL,
	`error_code` text,
	`error_message` text,
	CONSTRAINT "archives_status_check" CHECK("__new_archives"."status" in ('planned', 'uploading', 'complete', 'failed', 'interrupted', 'cancelled', 'deleted')),
	CONSTRAINT "archives_format_check" CHECK("__new_archives"."format" in ('dos-1', 'dos-2', 'legacy-v3.1', 'legacy-v3.0', 'legacy-v2')),
	CONSTRAINT "archives_uid_check" CHECK(length("__new_archives"."uid") = 32 and "__new_archives"."uid" not glob '*[^0-9a-f]*'),
	CONSTRAINT "archives_id_check" CHECK("__new_archives"."id" glob '#[0-9][0-9][0-9][0-9][0-9][0-9]-[0-9][0-9]*' and substr("__new_archives"."id", 10) not glob '*[^0-9]*'),
	CONSTRAINT "archives_lot_check" CHECK("__new_archives"."lot" > 0),
	CONSTRAINT "archives_verify_level_check" CHECK("__new_archives"."verify_level" is null or "__new_archives"."verify_level" in ('quick', 'full'))
);
--> statement-breakpoint
-- The new columns new_bytes and reused_bytes start null (no archive before this was written in format 2).
INSERT INTO `__new_archives`("lot", "id", "uid", "label", "source", "status", "format", "original_bytes", "stored_bytes", "file_count", "directory_count", "symlink_count", "chunk_count", "stored_chunk_count", "chunk_size", "gzip_level", "kdf_id", "kdf_iterations", "archive_salt", "channel_id", "thread_id", "card_message_id", "created_by", "created_at", "updated_at", "completed_at", "verified_at", "verify_level", "verify_ok", "verify_summary", "verify_stale", "error_code", "error_message") SELECT "lot", "id", "uid", "label", "source", "status", "format", "original_bytes", "stored_bytes", "file_count", "directory_count", "symlink_count", "chunk_count", "stored_chunk_count", "chunk_size", "gzip_level", "kdf_id", "kdf_iterations", "archive_salt", "channel_id", "thread_id", "card_message_id", "created_by", "created_at", "updated_at", "completed_at", "verified_at", "verify_level", "verify_ok", "verify_summary", "verify_stale", "error_code", "error_message" FROM `archives`;--> statement-breakpoint
DROP TABLE `archives`;--> statement-breakpoint
ALTER TABLE `__new_archives` RENAME TO `archives`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE UNIQUE INDEX `archives_id_unique` ON `archives` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `archives_uid_unique` ON `archives` (`uid`);--> statement-breakpoint
CREATE UNIQUE INDEX `archives_thread_unique` ON `archives` (`thread_id`);--> statement-breakpoint
CREATE INDEX `archives_status_lot_idx` ON `archives` (`status`,`lot`);--> statement-breakpoint
-- Recreating `archives` (the format CHECK now admits dos-2) dropped its full-text triggers: made again as in 0003.
CREATE TRIGGER `archives_fts_after_insert` AFTER INSERT ON `archives` BEGIN
	INSERT INTO `archives_fts` (`rowid`, `label`, `source`) VALUES (new.`lot`, new.`label`, new.`source`);
END;
--> statement-breakpoint
CREATE TRIGGER `archives_fts_after_delete` AFTER DELETE ON `archives` BEGIN
	INSERT INTO `archives_fts` (`archives_fts`, `rowid`, `label`, `source`) VALUES ('delete', old.`lot`, old.`label`, old.`source`);
END;
--> statement-breakpoint
CREATE TRIGGER `archives_fts_after_update` AFTER UPDATE OF `lot`, `label`, `source` ON `archives` BEGIN
	INSERT INTO `archives_fts` (`archives_fts`, `rowid`, `label`, `source`) VALUES ('delete', old.`lot`, old.`label`, old.`source`);
	INSERT INTO `archives_fts` (`rowid`, `label`, `source`) VALUES (new.`lot`, new.`label`, new.`source`);
END;
--> statement-breakpoint
INSERT INTO `archives_fts` (`archives_fts`) VALUES ('rebuild');
