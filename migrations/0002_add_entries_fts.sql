-- Full-text search on entry names (files, directories and symlinks), kept in step with `entries` by triggers.
-- External content (content='entries'): the text is stored once, in `entries`; the FTS table holds only the index.
-- Tokenizer `trigram`: file names are not prose. Users search fragments ("IMG_20", "2024-0", "vacances"),
-- in the middle of a name, with no word boundaries to rely on (snake_case, camelCase, dates, extensions);
-- unicode61 only matches whole tokens or their prefixes. Trigram turns every query of 3+ characters into
-- a substring match served by the index, case-insensitive, and `remove_diacritics 1` lets "naive" find "naïve".
-- Queries shorter than 3 characters cannot use a trigram index: the query layer refuses them for file names.
-- Only names are indexed, not whole paths: a path repeats its folders in every entry below them, which made
-- recording a plan about three times slower and the index (and its backups) much larger. Folders are
-- entries too, so a folder is found by its name and its files by a range on (archive_lot, path).
CREATE VIRTUAL TABLE `entries_fts` USING fts5(`name`, content='entries', content_rowid='id', tokenize='trigram remove_diacritics 1');
--> statement-breakpoint
CREATE TRIGGER `entries_fts_after_insert` AFTER INSERT ON `entries` BEGIN
	INSERT INTO `entries_fts` (`rowid`, `name`) VALUES (new.`id`, new.`name`);
END;
--> statement-breakpoint
CREATE TRIGGER `entries_fts_after_delete` AFTER DELETE ON `entries` BEGIN
	INSERT INTO `entries_fts` (`entries_fts`, `rowid`, `name`) VALUES ('delete', old.`id`, old.`name`);
END;
--> statement-breakpoint
CREATE TRIGGER `entries_fts_after_update` AFTER UPDATE OF `id`, `name` ON `entries` BEGIN
	INSERT INTO `entries_fts` (`entries_fts`, `rowid`, `name`) VALUES ('delete', old.`id`, old.`name`);
	INSERT INTO `entries_fts` (`rowid`, `name`) VALUES (new.`id`, new.`name`);
END;
--> statement-breakpoint
INSERT INTO `entries_fts` (`entries_fts`) VALUES ('rebuild');
