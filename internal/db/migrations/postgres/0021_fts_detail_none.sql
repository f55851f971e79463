-- SQLite's full-text index changes to detail=none (see the SQLite migration); PostgreSQL's
-- pg_trgm index on blob_text needs nothing.
SELECT 1;
