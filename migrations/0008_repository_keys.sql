CREATE TABLE `repository_keys` (
	`channel_id` text PRIMARY KEY NOT NULL,
	`repository_id` text NOT NULL,
	`keys_file` blob NOT NULL,
	`message_id` text NOT NULL,
	`attachment_id` text NOT NULL,
	`updated_at` integer NOT NULL,
	CONSTRAINT "repository_keys_repository_check" CHECK(length("repository_keys"."repository_id") = 32 and "repository_keys"."repository_id" not glob '*[^0-9a-f]*'),
	CONSTRAINT "repository_keys_channel_check" CHECK("repository_keys"."channel_id" glob '[1-9]*' and "repository_keys"."channel_id" not glob '*[^0-9]*' and length("repository_keys"."channel_id") between 17 and 20),
	CONSTRAINT "repository_keys_message_check" CHECK("repository_keys"."message_id" glob '[1-9]*' and "repository_keys"."message_id" not glob '*[^0-9]*' and length("repository_keys"."message_id") between 17 and 20),
	CONSTRAINT "repository_keys_file_check" CHECK(length("repository_keys"."keys_file") between 58 and 65536)
);
