-- Small message bodies kept in the database, in the transaction that stores their message, so
-- that storing one costs no file of its own (no create, no fsync of it or of its directory):
-- the commit's fsync makes it durable with its rows. Bodies above the store's inline limit
-- stay files in the blob store; a blob with no row here is a file.
CREATE TABLE blob_data (
  blob_id BIGINT PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
  data    BLOB NOT NULL
);
