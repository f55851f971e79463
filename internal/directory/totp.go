package directory

import (
	"context"

	"github.com/postamail/posta/internal/db"
)

// settingRequireTOTP is the provider-wide requirement of two-factor login for every
// administrator ("on" or absent).
const settingRequireTOTP = "security.require_totp"

// totpRequired is true, for a row of admins a LEFT JOIN tenants t, when the provider or the
// administrator's tenant requires two-factor login; mustEnrolTOTP when, in addition, the
// administrator has not turned it on.
const (
	totpRequired  = `(COALESCE(t.require_totp, FALSE) OR EXISTS (SELECT 1 FROM settings WHERE key = '` + settingRequireTOTP + `' AND value = 'on'))`
	mustEnrolTOTP = `(a.totp_secret = '' AND ` + totpRequired + `)`
)

// TOTPRequired says whether two-factor login is required of every administrator (tenant "")
// or of the administrators of a tenant (a tenant's own flag; the provider-wide requirement
// applies on top of it). Any administrator may read the provider-wide flag.
func (s *Service) TOTPRequired(ctx context.Context, tenant string) (bool, error) {
	a, ok := ActorFrom(ctx)
	if !ok || a.Role == RoleUser {
		return false, ErrForbidden
	}
	if tenant != "" {
		t, err := s.GetTenant(ctx, tenant)
		if err != nil {
			return false, err
		}
		return t.RequireTOTP, nil
	}
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(value), '') FROM settings WHERE key = ?`, settingRequireTOTP).Scan(&v)
	return v == "on", err
}

// SetTOTPRequired requires two-factor login (or stops requiring it) of every administrator
// (tenant "", the provider only) or of a tenant's administrators (the provider or the tenant's
// own administrators). An administrator without a second factor then logs in to a session
// that can only turn it on.
func (s *Service) SetTOTPRequired(ctx context.Context, tenant string, on bool) error {
	if _, ok := ActorFrom(ctx); !ok {
		return ErrForbidden
	}
	if tenant == "" {
		actor, err := authorize(ctx, scope{}, true)
		if err != nil {
			return err
		}
		before, err := s.TOTPRequired(ctx, "")
		if err != nil {
			return err
		}
		return s.db.WriteTx(ctx, func(tx *db.Tx) error {
			var err error
			if on {
				_, err = tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, 'on') ON CONFLICT (key) DO UPDATE SET value = excluded.value`, settingRequireTOTP)
			} else {
				_, err = tx.ExecContext(ctx, `DELETE FROM settings WHERE key = ?`, settingRequireTOTP)
			}
			if err != nil {
				return err
			}
			return audit(ctx, tx, actor, 0, "security.require_totp", "provider", map[string]any{"required": before}, map[string]any{"required": on})
		})
	}
	t, err := getTenant(ctx, s.db, tenant)
	if err != nil {
		return err
	}
	actor, err := authorize(ctx, scope{tenantID: t.ID}, true)
	if err != nil {
		return hide(err, notFound("no tenant %q", tenant))
	}
	if actor.Role == RoleDomainAdmin {
		return forbidden("a domain administrator cannot change the tenant's login policy")
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE tenants SET require_totp = ?, updated_at = ? WHERE id = ?`, on, s.now(), t.ID); err != nil {
			return err
		}
		return audit(ctx, tx, actor, t.ID, "tenant.require_totp", t.Name, map[string]any{"required": t.RequireTOTP}, map[string]any{"required": on})
	})
}
