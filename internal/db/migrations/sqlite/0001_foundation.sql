-- posta schema 1: directory, contracts, mailbox store. Portable types: BIGINT for ids and times
-- (Unix milliseconds), BOOLEAN, TEXT, BLOB (BYTEA on PostgreSQL).

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- Classes of service: a service type (feature set) and a quota tier.
CREATE TABLE cos (
  id                     INTEGER PRIMARY KEY,
  name                   TEXT NOT NULL UNIQUE,
  service_type           TEXT NOT NULL,
  quota_bytes            BIGINT NOT NULL CHECK (quota_bytes > 0),
  features               INTEGER NOT NULL,
  protocols              INTEGER NOT NULL,
  max_message_size       BIGINT,
  send_per_day           INTEGER,
  recipients_per_message INTEGER,
  min_password_len       INTEGER NOT NULL DEFAULT 10,
  builtin                BOOLEAN NOT NULL DEFAULT FALSE,
  created_at             BIGINT NOT NULL
);

CREATE TABLE tenants (
  id               INTEGER PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
  contact_email    TEXT NOT NULL,
  contract         TEXT NOT NULL CHECK (contract IN ('subscription', 'payg')),
  status           TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
  max_message_size BIGINT,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL
);

-- Subscription contracts cap the number of accounts per class of service.
CREATE TABLE contract_caps (
  tenant_id    BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  cos_id       BIGINT NOT NULL REFERENCES cos(id),
  max_accounts INTEGER NOT NULL CHECK (max_accounts >= 0),
  PRIMARY KEY (tenant_id, cos_id)
);

CREATE TABLE domains (
  id         INTEGER PRIMARY KEY,
  tenant_id  BIGINT NOT NULL REFERENCES tenants(id),
  name       TEXT NOT NULL UNIQUE,
  alias_of   BIGINT REFERENCES domains(id),
  catch_all  TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX domains_tenant ON domains(tenant_id);

CREATE TABLE accounts (
  id                INTEGER PRIMARY KEY,
  tenant_id         BIGINT NOT NULL REFERENCES tenants(id),
  domain_id         BIGINT NOT NULL REFERENCES domains(id),
  address           TEXT NOT NULL UNIQUE,
  password_hash     TEXT NOT NULL,
  scram             TEXT NOT NULL DEFAULT '',
  display_name      TEXT NOT NULL DEFAULT '',
  cos_id            BIGINT NOT NULL REFERENCES cos(id),
  status            TEXT NOT NULL CHECK (status IN ('active', 'locked', 'closed')),
  forward_to        TEXT NOT NULL DEFAULT '',
  forward_keep      BOOLEAN NOT NULL DEFAULT TRUE,
  autoreply         BOOLEAN NOT NULL DEFAULT FALSE,
  autoreply_subject TEXT NOT NULL DEFAULT '',
  autoreply_body    TEXT NOT NULL DEFAULT '',
  used_bytes        BIGINT NOT NULL DEFAULT 0,
  used_messages     BIGINT NOT NULL DEFAULT 0,
  quota_warned      INTEGER NOT NULL DEFAULT 0,
  modseq            BIGINT NOT NULL DEFAULT 1,
  last_uidvalidity  BIGINT NOT NULL DEFAULT 0,
  created_at        BIGINT NOT NULL,
  updated_at        BIGINT NOT NULL,
  last_login_at     BIGINT
);
CREATE INDEX accounts_tenant_cos ON accounts(tenant_id, cos_id);
CREATE INDEX accounts_domain ON accounts(domain_id);

-- Which class of service each account had, and when: the basis of pay-per-use billing.
CREATE TABLE account_cos_history (
  account_id BIGINT NOT NULL,
  tenant_id  BIGINT NOT NULL REFERENCES tenants(id),
  cos_id     BIGINT NOT NULL REFERENCES cos(id),
  from_ms    BIGINT NOT NULL,
  to_ms      BIGINT
);
CREATE INDEX account_cos_history_tenant ON account_cos_history(tenant_id, from_ms);
CREATE INDEX account_cos_history_account ON account_cos_history(account_id);

CREATE TABLE lists (
  id          INTEGER PRIMARY KEY,
  tenant_id   BIGINT NOT NULL REFERENCES tenants(id),
  domain_id   BIGINT NOT NULL REFERENCES domains(id),
  address     TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL DEFAULT '',
  post_policy TEXT NOT NULL CHECK (post_policy IN ('anyone', 'members', 'tenant')),
  created_at  BIGINT NOT NULL
);
CREATE INDEX lists_tenant ON lists(tenant_id);

CREATE TABLE list_members (
  list_id BIGINT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
  member  TEXT NOT NULL,
  PRIMARY KEY (list_id, member)
);
CREATE INDEX list_members_member ON list_members(member);

-- Every local address (account, alias, list) once: uniqueness across kinds is a constraint.
CREATE TABLE addresses (
  address    TEXT PRIMARY KEY,
  tenant_id  BIGINT NOT NULL REFERENCES tenants(id),
  domain_id  BIGINT NOT NULL REFERENCES domains(id),
  kind       TEXT NOT NULL CHECK (kind IN ('account', 'alias', 'list')),
  account_id BIGINT REFERENCES accounts(id) ON DELETE CASCADE,
  list_id    BIGINT REFERENCES lists(id) ON DELETE CASCADE
);
CREATE INDEX addresses_account ON addresses(account_id);
CREATE INDEX addresses_domain ON addresses(domain_id);

CREATE TABLE admins (
  id            INTEGER PRIMARY KEY,
  email         TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL CHECK (role IN ('provider', 'tenant', 'domain')),
  tenant_id     BIGINT REFERENCES tenants(id),
  totp_secret   TEXT NOT NULL DEFAULT '',
  created_at    BIGINT NOT NULL,
  last_login_at BIGINT
);

CREATE TABLE admin_domains (
  admin_id  BIGINT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
  domain_id BIGINT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  PRIMARY KEY (admin_id, domain_id)
);

CREATE TABLE audit_log (
  id        INTEGER PRIMARY KEY,
  at        BIGINT NOT NULL,
  actor     TEXT NOT NULL,
  role      TEXT NOT NULL,
  tenant_id BIGINT,
  action    TEXT NOT NULL,
  target    TEXT NOT NULL,
  before    TEXT NOT NULL DEFAULT '',
  after     TEXT NOT NULL DEFAULT '',
  remote    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_tenant ON audit_log(tenant_id, at);

-- Mailbox store. Blob bodies live in the blob store; this row counts references to them.
CREATE TABLE blobs (
  id         INTEGER PRIMARY KEY,
  key        TEXT NOT NULL UNIQUE,
  size       BIGINT NOT NULL,
  refs       BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX blobs_unreferenced ON blobs(refs) WHERE refs = 0;

CREATE TABLE mailboxes (
  id             INTEGER PRIMARY KEY,
  account_id     BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name           TEXT NOT NULL,
  special_use    TEXT NOT NULL DEFAULT '',
  uidvalidity    BIGINT NOT NULL,
  uidnext        BIGINT NOT NULL DEFAULT 1,
  highest_modseq BIGINT NOT NULL DEFAULT 1,
  subscribed     BOOLEAN NOT NULL DEFAULT TRUE,
  msg_count      BIGINT NOT NULL DEFAULT 0,
  unseen_count   BIGINT NOT NULL DEFAULT 0,
  msg_size       BIGINT NOT NULL DEFAULT 0,
  created_at     BIGINT NOT NULL,
  UNIQUE (account_id, name)
);

CREATE TABLE messages (
  id            INTEGER PRIMARY KEY,
  mailbox_id    BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  uid           BIGINT NOT NULL,
  modseq        BIGINT NOT NULL,
  flags         INTEGER NOT NULL DEFAULT 0,
  keywords      TEXT NOT NULL DEFAULT '',
  internal_date BIGINT NOT NULL,
  size          BIGINT NOT NULL,
  blob_id       BIGINT NOT NULL REFERENCES blobs(id),
  sent_date     BIGINT NOT NULL DEFAULT 0,
  subject       TEXT NOT NULL DEFAULT '',
  from_addr     TEXT NOT NULL DEFAULT '',
  to_addr       TEXT NOT NULL DEFAULT '',
  cc_addr       TEXT NOT NULL DEFAULT '',
  message_id    TEXT NOT NULL DEFAULT '',
  header        BLOB NOT NULL,
  meta          BLOB NOT NULL,
  UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_blob ON messages(blob_id);

-- Expunged messages leave tombstones for QRESYNC's VANISHED (RFC 7162 §3.2.10).
CREATE TABLE expunged (
  mailbox_id BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  uid        BIGINT NOT NULL,
  modseq     BIGINT NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
