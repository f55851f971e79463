-- SQLite's full-text index is fed once per committed batch (search.Index); PostgreSQL's pg_trgm
-- index on blob_text needs nothing.
SELECT 1;
