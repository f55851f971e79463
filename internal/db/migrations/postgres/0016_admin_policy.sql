-- Administration policy: a tenant may require two-factor login of its administrators (the
-- provider-wide requirement is the setting security.require_totp).
ALTER TABLE tenants ADD COLUMN require_totp BOOLEAN NOT NULL DEFAULT FALSE;
