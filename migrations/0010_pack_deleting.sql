-- The index runs migrations with foreign keys off (src/db/history-index.ts): dropping `packs` keeps the `blobs` rows of
-- the packs copied over; those of the packs left behind are deleted after the rename.
CREATE TABLE `__new_packs` (
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
	CONSTRAINT "packs_state_check" CHECK("__new_packs"."state" in ('in_flight', 'stored', 'deleting')),
	CONSTRAINT "packs_name_check" CHECK(length("__new_packs"."name") = 32 and "__new_packs"."name" not glob '*[^0-9a-f]*'),
	CONSTRAINT "packs_sha256_check" CHECK(length("__new_packs"."sha256") = 64 and "__new_packs"."sha256" not glob '*[^0-9a-f]*'),
	CONSTRAINT "packs_size_check" CHECK("__new_packs"."size" > 0),
	CONSTRAINT "packs_index_check" CHECK("__new_packs"."message_index" >= 0 and "__new_packs"."attachment_index" between 0 and 9),
	CONSTRAINT "packs_stored_check" CHECK("__new_packs"."state" <> 'stored' or ("__new_packs"."message_id" is not null and "__new_packs"."attachment_id" is not null)),
	CONSTRAINT "packs_thread_check" CHECK("__new_packs"."thread_id" is null or ("__new_packs"."thread_id" glob '[1-9]*' and "__new_packs"."thread_id" not glob '*[^0-9]*' and length("__new_packs"."thread_id") between 17 and 20)),
	CONSTRAINT "packs_message_check" CHECK("__new_packs"."message_id" is null or ("__new_packs"."message_id" glob '[1-9]*' and "__new_packs"."message_id" not glob '*[^0-9]*' and length("__new_packs"."message_id") between 17 and 20)),
	CONSTRAINT "packs_attachment_check" CHECK("__new_packs"."attachment_id" is null or ("__new_packs"."attachment_id" glob '[1-9]*' and "__new_packs"."attachment_id" not glob '*[^0-9]*' and length("__new_packs"."attachment_id") between 17 and 20))
);
--> statement-breakpoint
INSERT INTO `__new_packs`("id", "archive_lot", "name", "state", "thread_id", "message_index", "attachment_index", "post_nonce", "message_id", "attachment_id", "size", "sha256", "recorded_at", "updated_at") SELECT "id", "archive_lot", "name", "state", "thread_id", "message_index", "attachment_index", "post_nonce", "message_id", "attachment_id", "size", "sha256", "recorded_at", "updated_at" FROM `packs`
-- Before reference-aware cleanup, a format 2 archive was marked deleted only once its whole thread was: its packs are gone.
WHERE "archive_lot" NOT IN (SELECT "lot" FROM `archives` WHERE "status" = 'deleted');--> statement-breakpoint
DROP TABLE `packs`;--> statement-breakpoint
ALTER TABLE `__new_packs` RENAME TO `packs`;--> statement-breakpoint
DELETE FROM `blobs` WHERE "pack_id" NOT IN (SELECT "id" FROM `packs`);--> statement-breakpoint
CREATE UNIQUE INDEX `packs_archive_name_unique` ON `packs` (`archive_lot`,`name`);--> statement-breakpoint
CREATE INDEX `packs_name_idx` ON `packs` (`name`);