-- Full-text search on archive labels and source folders, for autocomplete and `/archive list query:`.
-- Same choice as entries_fts (trigram: substring matches on names that are not prose). Archive ids are
-- matched by prefix on their unique index instead, so they are not indexed here.
-- The update trigger fires only when the label or the source changes, not on every progress update.
CREATE VIRTUAL TABLE `archives_fts` USING fts5(`label`, `source`, content='archives', content_rowid='lot', tokenize='trigram remove_diacritics 1');
--> statement-breakpoint
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
