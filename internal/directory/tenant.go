package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/db"
)

// Contracts (PRODUCT C1, C2).
const (
	ContractSubscription = "subscription"
	ContractPayg         = "payg"
)

// Tenant is a customer of the provider.
type Tenant struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	ContactEmail   string `json:"contact_email"`
	Contract       string `json:"contract"`
	Status         string `json:"status"`
	MaxMessageSize int64  `json:"max_message_size,omitempty"`
	// RejectDMARC refuses, at SMTP time, messages to the tenant's addresses that fail DMARC
	// under a p=reject policy; when off they are accepted into Junk (default on).
	RejectDMARC bool `json:"reject_dmarc"`
	// RequireTOTP: the tenant's administrators must log in with a second factor.
	RequireTOTP bool  `json:"require_totp"`
	CreatedAt   int64 `json:"created_at"`
}

// TenantSpec describes a new tenant.
type TenantSpec struct {
	Name           string
	ContactEmail   string
	Contract       string
	MaxMessageSize int64
}

const tenantCols = `id, name, contact_email, contract, status, COALESCE(max_message_size, 0), reject_dmarc, require_totp, created_at`

func scanTenant(sc interface{ Scan(...any) error }) (*Tenant, error) {
	var t Tenant
	err := sc.Scan(&t.ID, &t.Name, &t.ContactEmail, &t.Contract, &t.Status, &t.MaxMessageSize, &t.RejectDMARC, &t.RequireTOTP, &t.CreatedAt)
	return &t, err
}

func validateTenantSpec(spec *TenantSpec) error {
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Name == "" || len(spec.Name) > 200 {
		return invalid("name", "a tenant needs a name of 1 to 200 characters")
	}
	if _, err := strconv.ParseInt(spec.Name, 10, 64); err == nil {
		return invalid("name", "a tenant name cannot be only digits (it would be read as an id)")
	}
	if _, err := mail.ParseAddress(spec.ContactEmail); err != nil || !strings.Contains(spec.ContactEmail, "@") {
		return invalid("contact_email", "contact e-mail %q is not a valid address", spec.ContactEmail)
	}
	switch spec.Contract {
	case ContractSubscription, ContractPayg:
	case "":
		spec.Contract = ContractSubscription
	default:
		return invalid("contract", `contract must be "subscription" or "payg", got %q`, spec.Contract)
	}
	if spec.MaxMessageSize < 0 {
		return invalid("max_message_size", "message size limit cannot be negative")
	}
	return nil
}

// CreateTenant adds a tenant (provider only).
func (s *Service) CreateTenant(ctx context.Context, spec TenantSpec) (*Tenant, error) {
	a, err := authorize(ctx, scope{}, true)
	if err != nil {
		return nil, err
	}
	if err := validateTenantSpec(&spec); err != nil {
		return nil, err
	}
	var id int64
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var mms any
		if spec.MaxMessageSize > 0 {
			mms = spec.MaxMessageSize
		}
		id, err = tx.InsertID(ctx, `INSERT INTO tenants (name, contact_email, contract, status, max_message_size, created_at, updated_at) VALUES (?, ?, ?, 'active', ?, ?, ?)`,
			spec.Name, spec.ContactEmail, spec.Contract, mms, s.now(), s.now())
		if db.IsUniqueViolation(err) {
			return refuse("invalid-argument", "name", "a tenant named %q already exists", spec.Name)
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, a, id, "tenant.create", spec.Name, nil, spec)
	})
	if err != nil {
		return nil, err
	}
	return s.GetTenant(ctx, strconv.FormatInt(id, 10))
}

// GetTenant finds a tenant by id or name.
func (s *Service) GetTenant(ctx context.Context, idOrName string) (*Tenant, error) {
	if _, ok := ActorFrom(ctx); !ok {
		return nil, ErrForbidden
	}
	t, err := getTenant(ctx, s.db, idOrName)
	if err != nil {
		return nil, err
	}
	if _, err := authorize(ctx, scope{tenantID: t.ID}, false); err != nil {
		return nil, hide(err, notFound("no tenant %q", idOrName))
	}
	return t, nil
}

// hide replaces ErrNotFound from authorize with the exact refusal a missing object gets, so
// that the answer for another tenant's object is indistinguishable from a missing one.
func hide(err error, missing error) error {
	if errors.Is(err, ErrNotFound) {
		return missing
	}
	return err
}

func getTenant(ctx context.Context, q db.Querier, idOrName string) (*Tenant, error) {
	var row *sql.Row
	if id, err := strconv.ParseInt(idOrName, 10, 64); err == nil {
		row = q.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = ?`, id)
	} else {
		row = q.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE LOWER(name) = LOWER(?)`, strings.TrimSpace(idOrName))
	}
	t, err := scanTenant(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("no tenant %q", idOrName)
	}
	return t, err
}

// ListTenants lists the tenants the actor may see.
func (s *Service) ListTenants(ctx context.Context) ([]*Tenant, error) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return nil, ErrForbidden
	}
	q, args := `SELECT `+tenantCols+` FROM tenants ORDER BY name`, []any{}
	switch a.Role {
	case RoleSystem, RoleProvider:
	case RoleTenantAdmin, RoleDomainAdmin:
		q, args = `SELECT `+tenantCols+` FROM tenants WHERE id = ?`, []any{a.TenantID}
	default:
		return nil, ErrForbidden
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TenantUpdate changes a tenant; nil fields are left alone.
type TenantUpdate struct {
	Name           *string
	ContactEmail   *string
	Contract       *string
	Status         *string
	MaxMessageSize *int64
	RejectDMARC    *bool
}

// UpdateTenant changes a tenant (provider only).
func (s *Service) UpdateTenant(ctx context.Context, idOrName string, u TenantUpdate) (*Tenant, error) {
	a, err := authorize(ctx, scope{}, true)
	if err != nil {
		return nil, err
	}
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		t, err := getTenant(ctx, tx, idOrName)
		if err != nil {
			return err
		}
		before := *t
		spec := TenantSpec{Name: t.Name, ContactEmail: t.ContactEmail, Contract: t.Contract, MaxMessageSize: t.MaxMessageSize}
		if u.Name != nil {
			spec.Name = *u.Name
		}
		if u.ContactEmail != nil {
			spec.ContactEmail = *u.ContactEmail
		}
		if u.Contract != nil {
			spec.Contract = *u.Contract
		}
		if u.MaxMessageSize != nil {
			spec.MaxMessageSize = *u.MaxMessageSize
		}
		if err := validateTenantSpec(&spec); err != nil {
			return err
		}
		status := t.Status
		if u.Status != nil {
			if *u.Status != "active" && *u.Status != "suspended" {
				return invalid("status", `status must be "active" or "suspended", got %q`, *u.Status)
			}
			status = *u.Status
		}
		var mms any
		if spec.MaxMessageSize > 0 {
			mms = spec.MaxMessageSize
		}
		rejectDMARC := t.RejectDMARC
		if u.RejectDMARC != nil {
			rejectDMARC = *u.RejectDMARC
		}
		_, err = tx.ExecContext(ctx, `UPDATE tenants SET name = ?, contact_email = ?, contract = ?, status = ?, max_message_size = ?, reject_dmarc = ?, updated_at = ? WHERE id = ?`,
			spec.Name, spec.ContactEmail, spec.Contract, status, mms, rejectDMARC, s.now(), t.ID)
		if db.IsUniqueViolation(err) {
			return refuse("invalid-argument", "name", "a tenant named %q already exists", spec.Name)
		}
		if err != nil {
			return err
		}
		after, err := getTenant(ctx, tx, strconv.FormatInt(t.ID, 10))
		if err != nil {
			return err
		}
		idOrName = strconv.FormatInt(t.ID, 10)
		return audit(ctx, tx, a, t.ID, "tenant.update", t.Name, before, after)
	})
	if err != nil {
		return nil, err
	}
	return getTenant(ctx, s.db, idOrName)
}

// RejectsDMARC reports whether the tenant refuses messages that fail DMARC under a p=reject
// policy at SMTP time. It is asked by the MX for a recipient's tenant, like Resolve, without an
// actor; an unknown tenant gets the default, true.
func (s *Service) RejectsDMARC(ctx context.Context, tenantID int64) (bool, error) {
	var on bool
	err := s.db.QueryRowContext(ctx, `SELECT reject_dmarc FROM tenants WHERE id = ?`, tenantID).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("directory: DMARC setting of tenant %d: %w", tenantID, err)
	}
	return on, nil
}

// SetContractCap sets how many accounts of a class of service a subscription tenant may have
// (provider only). max < 0 removes the cap. Lowering below the accounts in use is refused.
func (s *Service) SetContractCap(ctx context.Context, tenant, cos string, max int) error {
	a, err := authorize(ctx, scope{}, true)
	if err != nil {
		return err
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		t, err := getTenant(ctx, tx, tenant)
		if err != nil {
			return err
		}
		c, err := getCOS(ctx, tx, cos)
		if err != nil {
			return err
		}
		var before any
		var prev int
		err = tx.QueryRowContext(ctx, `SELECT max_accounts FROM contract_caps WHERE tenant_id = ? AND cos_id = ?`, t.ID, c.ID).Scan(&prev)
		switch {
		case err == nil:
			before = map[string]int{"max_accounts": prev}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if max < 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM contract_caps WHERE tenant_id = ? AND cos_id = ?`, t.ID, c.ID)
			if err == nil {
				err = audit(ctx, tx, a, t.ID, "contract.cap.remove", c.Name, before, map[string]any{"max_accounts": nil})
			}
			return err
		}
		inUse, err := countInCOS(ctx, tx, t.ID, c.ID)
		if err != nil {
			return err
		}
		if inUse > max {
			return refuse("contract-cap-exceeded", "max_accounts", "cannot lower the cap of %q to %d: %d accounts use it", c.Name, max, inUse)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO contract_caps (tenant_id, cos_id, max_accounts) VALUES (?, ?, ?)
			ON CONFLICT (tenant_id, cos_id) DO UPDATE SET max_accounts = excluded.max_accounts`, t.ID, c.ID, max)
		if err != nil {
			return err
		}
		return audit(ctx, tx, a, t.ID, "contract.cap.set", c.Name, before, map[string]int{"max_accounts": max})
	})
}

func countInCOS(ctx context.Context, q db.Querier, tenantID, cosID int64) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE tenant_id = ? AND cos_id = ? AND status <> 'closed'`, tenantID, cosID).Scan(&n)
	return n, err
}

// checkCap enforces a subscription tenant's cap for one more account of cos. Caps apply to
// subscription contracts only; a class without a cap row is not part of the contract.
func checkCap(ctx context.Context, tx *db.Tx, t *Tenant, c *COS) error {
	if t.Contract != ContractSubscription {
		return nil
	}
	var max int
	err := tx.QueryRowContext(ctx, `SELECT max_accounts FROM contract_caps WHERE tenant_id = ? AND cos_id = ?`, t.ID, c.ID).Scan(&max)
	if errors.Is(err, sql.ErrNoRows) {
		return refuse("contract-cap-exceeded", "cos", "the contract of %q includes no accounts of %q", t.Name, c.Name)
	}
	if err != nil {
		return err
	}
	n, err := countInCOS(ctx, tx, t.ID, c.ID)
	if err != nil {
		return err
	}
	if n >= max {
		return refuse("contract-cap-exceeded", "cos", "contract allows %d accounts of %q; %d in use", max, c.Name, n)
	}
	return nil
}

// lockTenant serialises the cap checks of one tenant: on PostgreSQL with a row lock, on SQLite
// by the single writer connection.
func lockTenant(ctx context.Context, tx *db.Tx, tenantID int64) error {
	if tx.Engine() != db.Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT id FROM tenants WHERE id = ? FOR UPDATE`, tenantID)
	return err
}

// COSUsage is one line of a tenant's usage against its contract.
type COSUsage struct {
	COS   string `json:"cos"`
	Cap   int    `json:"cap"` // -1: no cap
	InUse int    `json:"in_use"`
}

// Usage returns, per class of service, the tenant's accounts in use and its contract cap.
func (s *Service) Usage(ctx context.Context, tenant string) ([]COSUsage, error) {
	t, err := s.GetTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT c.name, COALESCE(cc.max_accounts, -1),
		(SELECT COUNT(*) FROM accounts a WHERE a.tenant_id = ? AND a.cos_id = c.id AND a.status <> 'closed')
		FROM cos c LEFT JOIN contract_caps cc ON cc.cos_id = c.id AND cc.tenant_id = ?
		WHERE cc.tenant_id IS NOT NULL OR EXISTS (SELECT 1 FROM accounts a WHERE a.tenant_id = ? AND a.cos_id = c.id)
		ORDER BY c.service_type, c.quota_bytes`, t.ID, t.ID, t.ID)
	if err != nil {
		return nil, fmt.Errorf("directory: usage: %w", err)
	}
	defer rows.Close()
	var out []COSUsage
	for rows.Next() {
		var u COSUsage
		if err := rows.Scan(&u.COS, &u.Cap, &u.InUse); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
