-- Outbound TLS policy (internal/outbound, internal/mtasts). A queued message sent with
-- REQUIRETLS (RFC 8689) keeps the flag until it leaves the queue; each attempt records the
-- policy that applied (none, opportunistic, mta-sts-testing, mta-sts-enforce, dane,
-- requiretls) and what the certificate check found.
ALTER TABLE queue ADD COLUMN require_tls BOOLEAN NOT NULL DEFAULT FALSE;
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
