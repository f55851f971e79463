-- Messages and recipients each account submitted per UTC day, for the class of service's
-- sending limits (and the console's outbound counters).
CREATE TABLE account_sends (
  account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  day        BIGINT NOT NULL,
  messages   BIGINT NOT NULL DEFAULT 0,
  recipients BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, day)
);
