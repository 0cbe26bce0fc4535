CREATE TABLE `index_backups` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`created_at` integer NOT NULL,
	`channel_id` text NOT NULL,
	`message_id` text NOT NULL,
	`attachment_id` text NOT NULL,
	`filename` text NOT NULL,
	`size` integer NOT NULL,
	`sha256` text NOT NULL,
	CONSTRAINT "index_backups_sha256_check" CHECK(length("index_backups"."sha256") = 64 and "index_backups"."sha256" not glob '*[^0-9a-f]*')
);
--> statement-breakpoint
CREATE INDEX `index_backups_created_idx` ON `index_backups` (`created_at`);--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`archive_lot` integer,
	`kind` text NOT NULL,
	`status` text NOT NULL,
	`requested_by` text,
	`holder` text,
	`lease_ms` integer,
	`lease_expires_at` integer,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`heartbeat_at` integer,
	`finished_at` integer,
	`progress` text,
	`result` text,
	`error_code` text,
	`error_message` text,
	FOREIGN KEY (`archive_lot`) REFERENCES `archives`(`lot`) ON UPDATE no action ON DELETE set null,
	CONSTRAINT "jobs_kind_check" CHECK("jobs"."kind" in ('upload', 'resume', 'download', 'verify', 'cleanup', 'rebuild', 'index-backup')),
	CONSTRAINT "jobs_status_check" CHECK("jobs"."status" in ('queued', 'running', 'done', 'failed', 'interrupted', 'cancelled')),
	CONSTRAINT "jobs_running_check" CHECK("jobs"."status" <> 'running' or ("jobs"."holder" is not null and "jobs"."lease_expires_at" is not null))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `jobs_one_running_per_archive` ON `jobs` (`archive_lot`) WHERE status = 'running' and archive_lot is not null;--> statement-breakpoint
CREATE UNIQUE INDEX `jobs_one_running_per_global_kind` ON `jobs` (`kind`) WHERE status = 'running' and archive_lot is null;--> statement-breakpoint
CREATE INDEX `jobs_status_idx` ON `jobs` (`status`,`id`);--> statement-breakpoint
CREATE INDEX `jobs_archive_idx` ON `jobs` (`archive_lot`,`id`);--> statement-breakpoint
CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
