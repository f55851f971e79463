-- IMAP migration from another provider (internal/migrate). A job copies one source account into
-- one destination account; it is leased to one runner until locked_until, so a job whose node
-- died is taken up again. The source password is kept encrypted with a key held outside the
-- database (secret) and erased when the job ends. migration_copied records every copied message
-- by its source folder, UIDVALIDITY and UID and by a content identity, per destination account
-- and source, so that a re-run copies only what is new and syncs flag changes;
-- migration_items lists what a job skipped or could not copy, with the reason.
CREATE TABLE migration_jobs (
  id              INTEGER PRIMARY KEY,
  tenant_id       BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  account_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  address         TEXT NOT NULL,
  status          TEXT NOT NULL,
  dry_run         BOOLEAN NOT NULL DEFAULT FALSE,
  force_quota     BOOLEAN NOT NULL DEFAULT FALSE,
  source_host     TEXT NOT NULL,
  source_port     INTEGER NOT NULL,
  source_tls      TEXT NOT NULL,
  source_user     TEXT NOT NULL,
  source_authz    TEXT NOT NULL DEFAULT '',
  secret          BLOB,
  max_bytes_per_sec BIGINT NOT NULL DEFAULT 0,
  max_msgs_per_sec  INTEGER NOT NULL DEFAULT 0,
  created_by      TEXT NOT NULL DEFAULT '',
  created_at      BIGINT NOT NULL,
  started_at      BIGINT NOT NULL DEFAULT 0,
  finished_at     BIGINT NOT NULL DEFAULT 0,
  locked_until    BIGINT NOT NULL DEFAULT 0,
  cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
  attempts        INTEGER NOT NULL DEFAULT 0,
  phase           TEXT NOT NULL DEFAULT '',
  msgs_total      BIGINT NOT NULL DEFAULT 0,
  bytes_total     BIGINT NOT NULL DEFAULT 0,
  msgs_done       BIGINT NOT NULL DEFAULT 0,
  bytes_done      BIGINT NOT NULL DEFAULT 0,
  copied          BIGINT NOT NULL DEFAULT 0,
  copied_bytes    BIGINT NOT NULL DEFAULT 0,
  skipped         BIGINT NOT NULL DEFAULT 0,
  failed          BIGINT NOT NULL DEFAULT 0,
  flags_synced    BIGINT NOT NULL DEFAULT 0,
  error_kind      TEXT NOT NULL DEFAULT '',
  error           TEXT NOT NULL DEFAULT '',
  plan            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX migration_jobs_status ON migration_jobs(status, locked_until);
CREATE INDEX migration_jobs_tenant ON migration_jobs(tenant_id, id);
CREATE TABLE migration_copied (
  account_id      BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  source          TEXT NOT NULL,
  folder          TEXT NOT NULL,
  uidvalidity     BIGINT NOT NULL,
  uid             BIGINT NOT NULL,
  content_id      TEXT NOT NULL DEFAULT '',
  mailbox_id      BIGINT NOT NULL,
  dest_uid        BIGINT NOT NULL,
  flags           TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (account_id, source, folder, uidvalidity, uid)
);
CREATE INDEX migration_copied_content ON migration_copied(account_id, source, content_id);
CREATE TABLE migration_items (
  id        INTEGER PRIMARY KEY,
  job_id    BIGINT NOT NULL REFERENCES migration_jobs(id) ON DELETE CASCADE,
  folder    TEXT NOT NULL,
  uid       BIGINT NOT NULL,
  outcome   TEXT NOT NULL,
  reason    TEXT NOT NULL,
  detail    TEXT NOT NULL DEFAULT '',
  size      BIGINT NOT NULL DEFAULT 0,
  subject   TEXT NOT NULL DEFAULT '',
  at        BIGINT NOT NULL
);
CREATE INDEX migration_items_job ON migration_items(job_id, id);
