-- The text of each distinct message body (decoded, charset-converted, HTML stripped), extracted
-- once at delivery by the message parser; the full-text index is built from it, never from the
-- stored bodies.
CREATE TABLE blob_text (
  blob_id BIGINT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
  text    TEXT NOT NULL
);
