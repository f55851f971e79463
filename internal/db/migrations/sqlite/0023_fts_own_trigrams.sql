-- The full-text index's words are made by posta, not by FTS5's trigram tokenizer: one word per
-- distinct case-folded trigram of a text (posta_trigrams, internal/db/trigrams.go). With
-- detail=none the index only records which texts hold a trigram, so the tokenizer handed FTS5
-- every repetition for nothing: 35 KB of prose has 35 000 trigrams and about 3 000 distinct ones,
-- and indexing took 40 % of the CPU of a mailbox import. The table keeps no copy of the text
-- (contentless) and deletes by rowid.
DROP TRIGGER blob_text_ad;
DROP TABLE blob_fts;
CREATE VIRTUAL TABLE blob_fts USING fts5(grams, content='', contentless_delete=1, tokenize='ascii', detail='none');
INSERT INTO blob_fts(rowid, grams) SELECT blob_id, posta_trigrams(text) FROM blob_text;
INSERT INTO blob_fts(blob_fts, rank) VALUES ('automerge', 0);
-- begin
CREATE TRIGGER blob_text_ad AFTER DELETE ON blob_text BEGIN
  DELETE FROM blob_fts WHERE rowid = old.blob_id;
END;
-- end
