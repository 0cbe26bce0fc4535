CREATE TABLE `archives` (
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
	`error_code` text,
	`error_message` text,
	CONSTRAINT "archives_status_check" CHECK("archives"."status" in ('planned', 'uploading', 'complete', 'failed', 'interrupted', 'cancelled', 'deleted')),
	CONSTRAINT "archives_format_check" CHECK("archives"."format" in ('dos-1', 'legacy-v3.1', 'legacy-v3.0', 'legacy-v2')),
	CONSTRAINT "archives_uid_check" CHECK(length("archives"."uid") = 32 and "archives"."uid" not glob '*[^0-9a-f]*'),
	CONSTRAINT "archives_id_check" CHECK("archives"."id" glob '#[0-9][0-9][0-9][0-9][0-9][0-9]-[0-9][0-9]*' and substr("archives"."id", 10) not glob '*[^0-9]*'),
	CONSTRAINT "archives_lot_check" CHECK("archives"."lot" > 0),
	CONSTRAINT "archives_verify_level_check" CHECK("archives"."verify_level" is null or "archives"."verify_level" in ('quick', 'full'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `archives_id_unique` ON `archives` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `archives_uid_unique` ON `archives` (`uid`);--> statement-breakpoint
CREATE INDEX `archives_status_lot_idx` ON `archives` (`status`,`lot`);--> statement-breakpoint
CREATE TABLE `chunks` (
	`archive_lot` integer NOT NULL,
	`kind` text NOT NULL,
	`chunk_index` integer NOT NULL,
	`state` text NOT NULL,
	`post_nonce` text,
	`message_id` text,
	`attachment_id` text,
	`filename` text,
	`stored_size` integer,
	`sha256` text,
	`plain_size` integer,
	`plain_sha256` text,
	`compressed` integer,
	`recorded_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`archive_lot`, `kind`, `chunk_index`),
	FOREIGN KEY (`archive_lot`) REFERENCES `archives`(`lot`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "chunks_kind_check" CHECK("chunks"."kind" in ('data', 'manifest')),
	CONSTRAINT "chunks_state_check" CHECK("chunks"."state" in ('pending', 'in_flight', 'stored', 'bad', 'missing')),
	CONSTRAINT "chunks_index_check" CHECK("chunks"."chunk_index" >= 0),
	CONSTRAINT "chunks_post_nonce_check" CHECK("chunks"."post_nonce" is null or length("chunks"."post_nonce") between 1 and 25),
	CONSTRAINT "chunks_sha256_check" CHECK("chunks"."sha256" is null or (length("chunks"."sha256") = 64 and "chunks"."sha256" not glob '*[^0-9a-f]*')),
	CONSTRAINT "chunks_plain_sha256_check" CHECK("chunks"."plain_sha256" is null or (length("chunks"."plain_sha256") = 64 and "chunks"."plain_sha256" not glob '*[^0-9a-f]*'))
);
--> statement-breakpoint
CREATE INDEX `chunks_archive_state_idx` ON `chunks` (`archive_lot`,`state`);--> statement-breakpoint
CREATE UNIQUE INDEX `chunks_post_nonce_unique` ON `chunks` (`post_nonce`);--> statement-breakpoint
CREATE TABLE `entries` (
	`id` integer PRIMARY KEY NOT NULL,
	`archive_lot` integer NOT NULL,
	`path` text NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`size` integer DEFAULT 0 NOT NULL,
	`mode` integer,
	`mtime_ms` real,
	`sha256` text,
	`stream_offset` integer,
	`first_chunk` integer,
	`last_chunk` integer,
	`target` text,
	FOREIGN KEY (`archive_lot`) REFERENCES `archives`(`lot`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "entries_type_check" CHECK("entries"."type" in ('file', 'directory', 'symlink')),
	CONSTRAINT "entries_span_check" CHECK(("entries"."first_chunk" is null) = ("entries"."last_chunk" is null) and ("entries"."first_chunk" is null or "entries"."first_chunk" <= "entries"."last_chunk")),
	CONSTRAINT "entries_sha256_check" CHECK("entries"."sha256" is null or (length("entries"."sha256") = 64 and "entries"."sha256" not glob '*[^0-9a-f]*'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `entries_archive_path_unique` ON `entries` (`archive_lot`,`path`);--> statement-breakpoint
CREATE TABLE `lot_counter` (
	`id` integer PRIMARY KEY NOT NULL,
	`last_lot` integer NOT NULL,
	CONSTRAINT "lot_counter_single_row" CHECK("lot_counter"."id" = 1)
);
