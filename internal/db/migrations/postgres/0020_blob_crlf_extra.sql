-- How many octets longer a content is with CRLF line endings (each bare LF becomes CRLF): the
-- size a POP3 client is told (LIST, STAT) is the stored size plus this. It was only inside the
-- parsed metadata, so opening a POP3 maildrop decoded the metadata of every message.
ALTER TABLE blobs ADD COLUMN crlf_extra BIGINT NOT NULL DEFAULT 0;
UPDATE blobs SET crlf_extra = (convert_from(bm.meta, 'UTF8')::jsonb ->> 'crlfx')::bigint
  FROM blob_meta bm
  WHERE bm.blob_id = blobs.id AND position('"crlfx"' in convert_from(bm.meta, 'UTF8')) > 0;
