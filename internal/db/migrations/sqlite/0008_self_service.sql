-- Sessions of mailbox users (self-service) beside those of administrators: a session belongs
-- to one or the other. Sessions are short-lived, so the table is simply recreated.
DROP TABLE web_sessions;
CREATE TABLE web_sessions (
  id          TEXT PRIMARY KEY,
  admin_id    BIGINT REFERENCES admins(id) ON DELETE CASCADE,
  account_id  BIGINT REFERENCES accounts(id) ON DELETE CASCADE,
  csrf        TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL,
  last_seen   BIGINT NOT NULL,
  remote      TEXT NOT NULL DEFAULT '',
  CHECK ((admin_id IS NULL) <> (account_id IS NULL))
);
CREATE INDEX web_sessions_expiry ON web_sessions(expires_at);

-- App passwords: separate passwords for mail clients, each revocable on its own (argon2id).
CREATE TABLE app_passwords (
  id            INTEGER PRIMARY KEY,
  account_id    BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at    BIGINT NOT NULL,
  last_used_at  BIGINT
);
CREATE INDEX app_passwords_account ON app_passwords(account_id);
