-- Full-text search on entry names and paths, kept in step with `entries` by triggers.
-- External content (content='entries'): the text is stored once, in `entries`; the FTS table holds only the index.
-- Tokenizer `trigram`: file names are not prose. Users search fragments ("IMG_20", "2024-0", "vacances"),
-- in the middle of a name, with no word boundaries to rely on (snake_case, camelCase, dates, extensions);
-- unicode61 only matches whole tokens or their prefixes. Trigram turns every query of 3+ characters into
-- a substring match served by the index, case-insensitive, and `remove_diacritics 1` lets "naive" find "naïve".
-- Queries shorter than 3 characters cannot use a trigram index: the query layer refuses them for file names.
CREATE VIRTUAL TABLE `entries_fts` USING fts5(`name`, `path`, content='entries', content_rowid='id', tokenize='trigram remove_diacritics 1');
--> statement-breakpoint
CREATE TRIGGER `entries_fts_after_insert` AFTER INSERT ON `entries` BEGIN
	INSERT INTO `entries_fts` (`rowid`, `name`, `path`) VALUES (new.`id`, new.`name`, new.`path`);
END;
--> statement-breakpoint
CREATE TRIGGER `entries_fts_after_delete` AFTER DELETE ON `entries` BEGIN
	INSERT INTO `entries_fts` (`entries_fts`, `rowid`, `name`, `path`) VALUES ('delete', old.`id`, old.`name`, old.`path`);
END;
--> statement-breakpoint
CREATE TRIGGER `entries_fts_after_update` AFTER UPDATE OF `id`, `name`, `path` ON `entries` BEGIN
	INSERT INTO `entries_fts` (`entries_fts`, `rowid`, `name`, `path`) VALUES ('delete', old.`id`, old.`name`, old.`path`);
	INSERT INTO `entries_fts` (`rowid`, `name`, `path`) VALUES (new.`id`, new.`name`, new.`path`);
END;
--> statement-breakpoint
INSERT INTO `entries_fts` (`entries_fts`) VALUES ('rebuild');
