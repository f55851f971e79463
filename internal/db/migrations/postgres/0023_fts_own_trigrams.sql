-- SQLite's full-text index gets its words from posta from now on (see the SQLite migration);
-- PostgreSQL's pg_trgm index needs nothing.
SELECT 1;
