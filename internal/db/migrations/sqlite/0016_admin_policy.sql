-- Administration policy: a tenant may require two-factor login of its administrators (the
-- provider-wide requirement is the setting security.require_totp).
ALTER TABLE tenants ADD COLUMN require_totp BOOLEAN NOT NULL DEFAULT FALSE;

-- A mailbox deleted while it has children stays as a \Noselect placeholder of the hierarchy
-- (RFC 9051 §6.3.4): no messages, not selectable, removed by a DELETE once it has no children.
ALTER TABLE mailboxes ADD COLUMN noselect BOOLEAN NOT NULL DEFAULT FALSE;

-- A class of service may cap the number of messages of an account (0: no cap; RFC 9208
-- MESSAGE resource).
ALTER TABLE cos ADD COLUMN max_messages BIGINT NOT NULL DEFAULT 0;
