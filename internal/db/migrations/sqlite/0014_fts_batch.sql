-- The full-text index is fed once per committed batch (search.Index) instead of by a trigger
-- per inserted text: FTS5 flushes its pending terms at every statement that writes it, so a
-- trigger made one index segment per message. Deletions still go through the trigger.
DROP TRIGGER blob_text_ai;
