CREATE TABLE `legacy_messages` (
	`archive_lot` integer NOT NULL,
	`position` integer NOT NULL,
	`channel_id` text NOT NULL,
	`message_id` text NOT NULL,
	PRIMARY KEY(`archive_lot`, `position`),
	FOREIGN KEY (`archive_lot`) REFERENCES `archives`(`lot`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "legacy_messages_position_check" CHECK("legacy_messages"."position" >= 0),
	CONSTRAINT "legacy_messages_channel_check" CHECK("legacy_messages"."channel_id" glob '[1-9]*' and "legacy_messages"."channel_id" not glob '*[^0-9]*' and length("legacy_messages"."channel_id") between 17 and 20),
	CONSTRAINT "legacy_messages_message_check" CHECK("legacy_messages"."message_id" glob '[1-9]*' and "legacy_messages"."message_id" not glob '*[^0-9]*' and length("legacy_messages"."message_id") between 17 and 20)
);
--> statement-breakpoint
CREATE INDEX `legacy_messages_message_idx` ON `legacy_messages` (`channel_id`,`message_id`);