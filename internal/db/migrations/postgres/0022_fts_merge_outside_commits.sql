-- SQLite's full-text index merges in the background from now on (see the SQLite migration);
-- PostgreSQL's pg_trgm index needs nothing.
SELECT 1;
