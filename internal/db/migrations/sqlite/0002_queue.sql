-- Outbound queue: messages accepted for remote recipients, durable before the 250. One row per
-- recipient; the body is a blob shared by the rows (one blob reference per row).
CREATE TABLE queue (
  id              INTEGER PRIMARY KEY,
  blob_id         BIGINT NOT NULL REFERENCES blobs(id),
  mail_from       TEXT NOT NULL,
  rcpt_to         TEXT NOT NULL,
  domain          TEXT NOT NULL,
  account_id      BIGINT,
  status          TEXT NOT NULL CHECK (status IN ('queued', 'held', 'delivered', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  last_error      TEXT NOT NULL DEFAULT '',
  created_at      BIGINT NOT NULL
);
CREATE INDEX queue_due ON queue(status, next_attempt_at);
CREATE INDEX queue_domain ON queue(domain);
