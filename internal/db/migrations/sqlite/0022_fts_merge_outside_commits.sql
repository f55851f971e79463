-- The full-text index no longer merges its segments inside the commits that write it (FTS5's
-- automerge): a background loop does it in small steps between commits (search.MergeLoop), so
-- that no delivery waits for a large merge. crisismerge stays FTS5's safety net.
INSERT INTO blob_fts(blob_fts, rank) VALUES ('automerge', 0);
