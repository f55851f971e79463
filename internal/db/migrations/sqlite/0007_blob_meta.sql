-- What is computed from a message's content (the raw header block, the parsed metadata, the
-- envelope and the searchable fields) belongs to the content, not to each copy: it moves from
-- messages to one row per blob. A message row is left with its per-copy state (UID, MODSEQ,
-- flags, keywords, dates, size), so changing the flags of a whole mailbox rewrites a few pages,
-- and a message delivered to 200 list members keeps its metadata once.
CREATE TABLE blob_meta (
  blob_id    BIGINT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
  sent_date  BIGINT NOT NULL DEFAULT 0,
  subject    TEXT NOT NULL DEFAULT '',
  from_addr  TEXT NOT NULL DEFAULT '',
  to_addr    TEXT NOT NULL DEFAULT '',
  cc_addr    TEXT NOT NULL DEFAULT '',
  message_id TEXT NOT NULL DEFAULT '',
  envelope   BLOB,
  header     BLOB NOT NULL,
  meta       BLOB NOT NULL
);
INSERT INTO blob_meta (blob_id, sent_date, subject, from_addr, to_addr, cc_addr, message_id, envelope, header, meta)
  SELECT blob_id, sent_date, subject, from_addr, to_addr, cc_addr, message_id, envelope, header, meta FROM messages WHERE true
  ON CONFLICT (blob_id) DO NOTHING;
ALTER TABLE messages DROP COLUMN sent_date;
ALTER TABLE messages DROP COLUMN subject;
ALTER TABLE messages DROP COLUMN from_addr;
ALTER TABLE messages DROP COLUMN to_addr;
ALTER TABLE messages DROP COLUMN cc_addr;
ALTER TABLE messages DROP COLUMN message_id;
ALTER TABLE messages DROP COLUMN envelope;
ALTER TABLE messages DROP COLUMN header;
ALTER TABLE messages DROP COLUMN meta;
