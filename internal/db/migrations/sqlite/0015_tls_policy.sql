-- Outbound TLS policy (internal/outbound, internal/mtasts). A queued message sent with
-- REQUIRETLS (RFC 8689) keeps the flag until it leaves the queue; each attempt records the
-- policy that applied (none, opportunistic, mta-sts-testing, mta-sts-enforce, dane,
-- requiretls) and what the certificate check found.
--
-- The queue table is rebuilt with AUTOINCREMENT at the same time: an INTEGER PRIMARY KEY alone
-- hands out 1 again once the queue has emptied, and queue_log and queue_attempts are keyed by
-- the queue id, so a reused id made the entry impossible to finish (and mixed the attempts of
-- two messages). The sequence starts above every id ever used.
CREATE TABLE queue_new (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  blob_id         BIGINT NOT NULL REFERENCES blobs(id),
  mail_from       TEXT NOT NULL,
  rcpt_to         TEXT NOT NULL,
  domain          TEXT NOT NULL,
  account_id      BIGINT,
  status          TEXT NOT NULL CHECK (status IN ('queued', 'held', 'delivered', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  last_error      TEXT NOT NULL DEFAULT '',
  created_at      BIGINT NOT NULL,
  locked_until    BIGINT NOT NULL DEFAULT 0,
  delay_warned    BOOLEAN NOT NULL DEFAULT FALSE,
  hold_reason     TEXT NOT NULL DEFAULT '',
  message_id      TEXT NOT NULL DEFAULT '',
  require_tls     BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO queue_new (id, blob_id, mail_from, rcpt_to, domain, account_id, status, attempts, next_attempt_at, last_error, created_at,
  locked_until, delay_warned, hold_reason, message_id)
  SELECT id, blob_id, mail_from, rcpt_to, domain, account_id, status, attempts, next_attempt_at, last_error, created_at,
  locked_until, delay_warned, hold_reason, message_id FROM queue;
DROP TABLE queue;
ALTER TABLE queue_new RENAME TO queue;
CREATE INDEX queue_due ON queue(status, next_attempt_at);
CREATE INDEX queue_domain ON queue(domain);
DELETE FROM sqlite_sequence WHERE name IN ('queue', 'queue_new');
INSERT INTO sqlite_sequence (name, seq) SELECT 'queue', MAX(x) FROM (
  SELECT COALESCE(MAX(id), 0) AS x FROM queue UNION ALL SELECT COALESCE(MAX(queue_id), 0) FROM queue_log
  UNION ALL SELECT COALESCE(MAX(queue_id), 0) FROM queue_attempts);
ALTER TABLE queue_attempts ADD COLUMN policy TEXT NOT NULL DEFAULT '';
ALTER TABLE queue_attempts ADD COLUMN tls_result TEXT NOT NULL DEFAULT '';
-- MTA-STS policies (RFC 8461) of receiving domains, kept for their max_age so that a restart
-- or another node does not forget them (a policy forgotten is a downgrade an attacker can
-- cause by hiding the TXT record). policy_id is the id of the TXT record it was fetched for.
CREATE TABLE mta_sts_policies (
  domain      TEXT PRIMARY KEY,
  policy_id   TEXT NOT NULL,
  policy      TEXT NOT NULL,
  fetched_at  BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL
);
-- Whether the MX refuses, for a tenant's recipients, messages failing DMARC under p=reject
-- (otherwise they go to Junk). Default on, as the node-wide rule was.
ALTER TABLE tenants ADD COLUMN reject_dmarc BOOLEAN NOT NULL DEFAULT TRUE;
