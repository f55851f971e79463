-- DKIM signing keys per hosted domain (internal/dkim): each has a selector published in DNS.
-- A rotation adds pending keys to publish first, then makes them active and retires the old.
CREATE TABLE dkim_keys (
  id          INTEGER PRIMARY KEY,
  domain      TEXT NOT NULL,
  selector    TEXT NOT NULL,
  algorithm   TEXT NOT NULL CHECK (algorithm IN ('ed25519', 'rsa')),
  private_key TEXT NOT NULL,
  record      TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('pending', 'active', 'retired')),
  created_at  BIGINT NOT NULL,
  UNIQUE (domain, selector)
);
CREATE INDEX dkim_keys_domain ON dkim_keys(domain, state);
