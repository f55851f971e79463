-- Full-text index over blob_text (internal/search): an FTS5 trigram index, so that IMAP's
-- substring semantics (SEARCH BODY "ttà d") are answered from the index, case-insensitively.
CREATE VIRTUAL TABLE blob_fts USING fts5(text, content='blob_text', content_rowid='blob_id', tokenize='trigram');
-- begin
CREATE TRIGGER blob_text_ai AFTER INSERT ON blob_text BEGIN
  INSERT INTO blob_fts(rowid, text) VALUES (new.blob_id, new.text);
END;
-- end
-- begin
CREATE TRIGGER blob_text_ad AFTER DELETE ON blob_text BEGIN
  INSERT INTO blob_fts(blob_fts, rowid, text) VALUES ('delete', old.blob_id, old.text);
END;
-- end
INSERT INTO blob_fts(blob_fts) VALUES ('rebuild');
