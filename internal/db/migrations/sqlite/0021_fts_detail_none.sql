-- The full-text index keeps which texts hold each trigram, not the positions (detail=none):
-- about a tenth of the size, and a fraction of the work of merging segments that every
-- delivery's commit used to do. A substring longer than one trigram now selects the texts
-- holding all of its trigrams and checks them (internal/search); phrase queries are no longer
-- used. The deletion trigger on blob_text names the table and goes on working.
DROP TABLE blob_fts;
CREATE VIRTUAL TABLE blob_fts USING fts5(text, content='blob_text', content_rowid='blob_id', tokenize='trigram', detail='none');
INSERT INTO blob_fts(blob_fts) VALUES ('rebuild');
