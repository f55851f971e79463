-- Full-text index over blob_text (internal/search): a pg_trgm GIN index, so that IMAP's
-- substring semantics are answered from the index with ILIKE.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX blob_text_trgm ON blob_text USING gin (text gin_trgm_ops);
