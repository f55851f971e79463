-- The envelope of each message in a compact binary form (message.Envelope.AppendBinary), so
-- that listing envelopes needs no JSON decoding. NULL for messages stored before: readers fall
-- back to meta.
ALTER TABLE messages ADD COLUMN envelope BLOB;
