-- Console sessions and API tokens (internal/webauth). Only SHA-256 hashes of the secrets are
-- stored: a copy of the database does not let anyone in.
CREATE TABLE web_sessions (
  id          TEXT PRIMARY KEY,
  admin_id    BIGINT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
  csrf        TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL,
  last_seen   BIGINT NOT NULL,
  remote      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_expiry ON web_sessions(expires_at);

CREATE TABLE api_tokens (
  id           INTEGER PRIMARY KEY,
  admin_id     BIGINT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  token_hash   TEXT NOT NULL UNIQUE,
  scopes       TEXT NOT NULL,
  created_at   BIGINT NOT NULL,
  last_used_at BIGINT,
  revoked_at   BIGINT
);
