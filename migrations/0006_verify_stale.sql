-- Whether what is stored on Discord changed after the last verification (a resume posted chunks, a cleanup deleted
-- the thread): the card then shows that verification as one of the archive before the change.
ALTER TABLE `archives` ADD `verify_stale` integer DEFAULT false NOT NULL;