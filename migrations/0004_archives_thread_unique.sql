-- A thread holds one archive. An index written before this rule may hold two rows naming one thread (a forged card
-- imported by a rebuild): neither can be trusted with that thread, so both forget it (a rebuild finds the genuine
-- binding again from the card the thread was started on) before the rule is enforced.
UPDATE `archives` SET `thread_id` = NULL WHERE `thread_id` IN (SELECT `thread_id` FROM `archives` WHERE `thread_id` IS NOT NULL GROUP BY `thread_id` HAVING count(*) > 1);
--> statement-breakpoint
CREATE UNIQUE INDEX `archives_thread_unique` ON `archives` (`thread_id`);
