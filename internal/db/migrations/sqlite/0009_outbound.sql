-- Outbound delivery (internal/outbound): a claimed row is leased to one worker on one node until
-- locked_until; the first attempt's time and whether the sender was warned of the delay are kept
-- for the DSNs. A row leaves the queue when it is delivered or given up; queue_log keeps what
-- happened (for tracing) and queue_attempts every attempt with the remote server's answer.
ALTER TABLE queue ADD COLUMN locked_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE queue ADD COLUMN delay_warned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE queue ADD COLUMN hold_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN message_id TEXT NOT NULL DEFAULT '';
CREATE TABLE queue_attempts (
  id        INTEGER PRIMARY KEY,
  queue_id  BIGINT NOT NULL,
  at        BIGINT NOT NULL,
  host      TEXT NOT NULL DEFAULT '',
  tls       TEXT NOT NULL DEFAULT '',
  code      INTEGER NOT NULL DEFAULT 0,
  response  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX queue_attempts_queue ON queue_attempts(queue_id);
CREATE TABLE queue_log (
  queue_id    BIGINT PRIMARY KEY,
  mail_from   TEXT NOT NULL,
  rcpt_to     TEXT NOT NULL,
  message_id  TEXT NOT NULL DEFAULT '',
  account_id  BIGINT,
  status      TEXT NOT NULL,
  attempts    INTEGER NOT NULL,
  response    TEXT NOT NULL DEFAULT '',
  created_at  BIGINT NOT NULL,
  finished_at BIGINT NOT NULL
);
CREATE INDEX queue_log_rcpt ON queue_log(rcpt_to);
CREATE INDEX queue_log_message ON queue_log(message_id);
