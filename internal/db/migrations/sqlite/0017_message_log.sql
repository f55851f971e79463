-- The message log (internal/msglog): one entry per message accepted for delivery, with where
-- it came from (protocol, client, HELO, authenticated user, TLS, the checks' results) and, per
-- recipient, what became of it (delivered to a mailbox, queued for a remote server, refused).
-- With the queue's attempts it answers "posta trace". Entries older than the retention are
-- pruned.
CREATE TABLE message_log (
  id         INTEGER PRIMARY KEY,
  at         BIGINT NOT NULL,
  message_id TEXT NOT NULL DEFAULT '',
  mail_from  TEXT NOT NULL DEFAULT '',
  size       BIGINT NOT NULL DEFAULT 0,
  source     TEXT NOT NULL,
  session    TEXT NOT NULL DEFAULT '',
  client_ip  TEXT NOT NULL DEFAULT '',
  helo       TEXT NOT NULL DEFAULT '',
  auth_user  TEXT NOT NULL DEFAULT '',
  tls        TEXT NOT NULL DEFAULT '',
  checks     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX message_log_message_id ON message_log(message_id);
CREATE INDEX message_log_from ON message_log(mail_from);
CREATE INDEX message_log_at ON message_log(at);
CREATE TABLE message_log_rcpts (
  log_id  BIGINT NOT NULL REFERENCES message_log(id) ON DELETE CASCADE,
  pos     INTEGER NOT NULL,
  rcpt    TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX message_log_rcpts_rcpt ON message_log_rcpts(rcpt);
CREATE INDEX message_log_rcpts_log ON message_log_rcpts(log_id, pos);
