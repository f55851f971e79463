-- Pay-per-use billing (internal/billing): price list, wallets, ledger, charge runs, warnings.
-- Amounts are integer milli-points (1 point = 1000); days are UTC days since 1970-01-01.

-- Daily price of a class of service, in force from from_day until the next row of the class.
-- Rows are never changed once their day has come: a new price is a new row.
CREATE TABLE billing_prices (
  cos_id        BIGINT NOT NULL REFERENCES cos(id),
  from_day      BIGINT NOT NULL,
  mp_per_day    BIGINT NOT NULL CHECK (mp_per_day >= 0),
  created_at    BIGINT NOT NULL,
  created_by    TEXT NOT NULL,
  PRIMARY KEY (cos_id, from_day)
);

-- One wallet per tenant seen by the charge run. balance_mp and last_seq cache the ledger (the
-- balance is the sum of the ledger's amounts; Verify checks it). charged_through is the last
-- day settled: charged for a pay-per-use tenant, passed over for a subscription.
CREATE TABLE billing_wallets (
  tenant_id       BIGINT PRIMARY KEY REFERENCES tenants(id),
  balance_mp      BIGINT NOT NULL DEFAULT 0,
  last_seq        BIGINT NOT NULL DEFAULT 0,
  charged_through BIGINT NOT NULL,
  warned_level    INTEGER NOT NULL DEFAULT 0,
  depleted_day    BIGINT,
  created_at      BIGINT NOT NULL
);

-- The append-only ledger: recharges, daily charges, adjustments, refunds. A tenant-day is
-- charged at most once (UNIQUE tenant_id, charge_day); a payment reference is used once.
CREATE TABLE billing_ledger (
  id               INTEGER PRIMARY KEY,
  tenant_id        BIGINT NOT NULL REFERENCES tenants(id),
  seq              BIGINT NOT NULL,
  kind             TEXT NOT NULL CHECK (kind IN ('recharge', 'charge', 'adjustment', 'refund')),
  amount_mp        BIGINT NOT NULL,
  balance_after_mp BIGINT NOT NULL,
  day              BIGINT NOT NULL,
  charge_day       BIGINT,
  eur_cents        BIGINT,
  points_per_eur   BIGINT,
  reference        TEXT NOT NULL DEFAULT '',
  reason           TEXT NOT NULL DEFAULT '',
  actor            TEXT NOT NULL,
  role             TEXT NOT NULL,
  at               BIGINT NOT NULL,
  CHECK ((kind = 'charge') = (charge_day IS NOT NULL)),
  UNIQUE (tenant_id, seq),
  UNIQUE (tenant_id, charge_day)
);
CREATE UNIQUE INDEX billing_ledger_reference ON billing_ledger(reference) WHERE kind = 'recharge' AND reference <> '';
CREATE INDEX billing_ledger_tenant_day ON billing_ledger(tenant_id, day);
-- begin
CREATE TRIGGER billing_ledger_no_update BEFORE UPDATE ON billing_ledger BEGIN
  SELECT RAISE(ABORT, 'billing_ledger is append-only');
END;
-- end
-- begin
CREATE TRIGGER billing_ledger_no_delete BEFORE DELETE ON billing_ledger BEGIN
  SELECT RAISE(ABORT, 'billing_ledger is append-only');
END;
-- end

-- What a daily charge was made of: one line per class of service.
CREATE TABLE billing_charge_lines (
  tenant_id   BIGINT NOT NULL REFERENCES tenants(id),
  day         BIGINT NOT NULL,
  cos_id      BIGINT NOT NULL REFERENCES cos(id),
  accounts    BIGINT NOT NULL,
  active_ms   BIGINT NOT NULL,
  mp_per_day  BIGINT NOT NULL,
  amount_mp   BIGINT NOT NULL,
  mode        TEXT NOT NULL,
  PRIMARY KEY (tenant_id, day, cos_id)
);

-- One charge run at a time across nodes.
CREATE TABLE billing_lease (
  name     TEXT PRIMARY KEY,
  holder   TEXT NOT NULL,
  until_ms BIGINT NOT NULL
);

-- The open rows of the COS history (current burn) and those ending in a period.
CREATE INDEX account_cos_history_tenant_to ON account_cos_history(tenant_id, to_ms);
