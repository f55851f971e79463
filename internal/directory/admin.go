package directory

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/postamail/posta/internal/db"
)

// Admin is an administrator of the provider, of a tenant, or of some domains of a tenant.
type Admin struct {
	ID       int64    `json:"id"`
	Email    string   `json:"email"`
	Role     Role     `json:"role"`
	TenantID int64    `json:"tenant_id,omitempty"`
	Domains  []string `json:"domains,omitempty"`
}

// AdminSpec describes a new administrator.
type AdminSpec struct {
	Email    string
	Password string
	Role     Role // RoleProvider, RoleTenantAdmin or RoleDomainAdmin
	Tenant   string
	Domains  []string
}

// CreateAdmin adds an administrator. The provider creates any; a tenant administrator creates
// tenant and domain administrators of its own tenant only.
func (s *Service) CreateAdmin(ctx context.Context, spec AdminSpec) (*Admin, error) {
	if _, ok := ActorFrom(ctx); !ok {
		return nil, ErrForbidden
	}
	local, domain, err := NormalizeAddress(spec.Email)
	if err != nil {
		return nil, err
	}
	email := local + "@" + domain
	var tenantID int64
	var domainIDs []int64
	switch spec.Role {
	case RoleProvider:
		if spec.Tenant != "" || len(spec.Domains) > 0 {
			return nil, invalid("tenant", "a provider administrator belongs to no tenant")
		}
	case RoleTenantAdmin, RoleDomainAdmin:
		t, err := getTenant(ctx, s.db, spec.Tenant)
		if err != nil {
			return nil, invalid("tenant", "a %s administrator needs an existing tenant: %v", spec.Role, err)
		}
		tenantID = t.ID
		if spec.Role == RoleDomainAdmin {
			if len(spec.Domains) == 0 {
				return nil, invalid("domains", "a domain administrator needs at least one domain")
			}
			for _, dn := range spec.Domains {
				d, err := getDomain(ctx, s.db, dn)
				if err != nil || d.TenantID != tenantID {
					return nil, refuse("domain-not-owned", "domains", "%q is not a domain of %q", dn, t.Name)
				}
				domainIDs = append(domainIDs, d.ID)
			}
		}
	default:
		return nil, invalid("role", `role must be "provider", "tenant" or "domain", got %q`, spec.Role)
	}
	actor, err := authorize(ctx, scope{tenantID: tenantID}, true)
	if err != nil {
		return nil, hide(err, invalid("tenant", "no tenant %q", spec.Tenant))
	}
	if actor.Role == RoleDomainAdmin {
		return nil, forbidden("a domain administrator cannot create administrators")
	}
	if err := s.hash.CheckPolicy(spec.Password, 12, local); err != nil {
		return nil, refuse("weak-password", "password", "%v", err)
	}
	hash, _, err := s.hash.Hash(spec.Password)
	if err != nil {
		return nil, err
	}
	var id int64
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var tid any
		if tenantID != 0 {
			tid = tenantID
		}
		id, err = tx.InsertID(ctx, `INSERT INTO admins (email, password_hash, role, tenant_id, created_at) VALUES (?, ?, ?, ?, ?)`, email, hash, string(spec.Role), tid, s.now())
		if db.IsUniqueViolation(err) {
			return refuse("address-taken", "email", "an administrator %q already exists", email)
		}
		if err != nil {
			return err
		}
		for _, d := range domainIDs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO admin_domains (admin_id, domain_id) VALUES (?, ?)`, id, d); err != nil {
				return err
			}
		}
		return audit(ctx, tx, actor, tenantID, "admin.create", email, nil, map[string]any{"role": spec.Role, "domains": spec.Domains})
	})
	if err != nil {
		return nil, err
	}
	return s.getAdmin(ctx, email)
}

func (s *Service) getAdmin(ctx context.Context, email string) (*Admin, error) {
	var a Admin
	var tid sql.NullInt64
	var role string
	err := s.db.QueryRowContext(ctx, `SELECT id, email, role, tenant_id FROM admins WHERE email = ?`, strings.ToLower(strings.TrimSpace(email))).Scan(&a.ID, &a.Email, &role, &tid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("no administrator %q", email)
	}
	if err != nil {
		return nil, err
	}
	a.Role, a.TenantID = Role(role), tid.Int64
	rows, err := s.db.QueryContext(ctx, `SELECT d.name FROM admin_domains ad JOIN domains d ON d.id = ad.domain_id WHERE ad.admin_id = ? ORDER BY d.name`, a.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		a.Domains = append(a.Domains, d)
	}
	return &a, rows.Err()
}

// ListAdmins lists the administrators the actor may see.
func (s *Service) ListAdmins(ctx context.Context) ([]*Admin, error) {
	actor, ok := ActorFrom(ctx)
	if !ok {
		return nil, ErrForbidden
	}
	q, args := `SELECT email FROM admins`, []any{}
	switch actor.Role {
	case RoleSystem, RoleProvider:
	case RoleTenantAdmin:
		q, args = q+` WHERE tenant_id = ?`, append(args, actor.TenantID)
	default:
		return nil, ErrForbidden
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY email`, args...)
	if err != nil {
		return nil, err
	}
	var emails []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			rows.Close()
			return nil, err
		}
		emails = append(emails, e)
	}
	rows.Close()
	var out []*Admin
	for _, e := range emails {
		a, err := s.getAdmin(ctx, e)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// RemoveAdmin removes an administrator.
func (s *Service) RemoveAdmin(ctx context.Context, email string) error {
	if _, ok := ActorFrom(ctx); !ok {
		return ErrForbidden
	}
	a, err := s.getAdmin(ctx, email)
	if err != nil {
		return err
	}
	actor, err := authorize(ctx, scope{tenantID: a.TenantID}, true)
	if err != nil {
		return hide(err, notFound("no administrator %q", email))
	}
	if actor.Role == RoleDomainAdmin {
		return forbidden("a domain administrator cannot remove administrators")
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM admins WHERE id = ?`, a.ID); err != nil {
			return err
		}
		return audit(ctx, tx, actor, a.TenantID, "admin.remove", a.Email, a, nil)
	})
}

// AuthenticateAdmin checks an administrator's password and returns the actor it logs in as.
// The caller checks the second factor (AdminTOTP) before giving the actor a session.
func (s *Service) AuthenticateAdmin(ctx context.Context, email, password, remote string) (Actor, error) {
	var hash string
	a, err := s.getAdmin(ctx, email)
	if err == nil {
		err = s.db.QueryRowContext(ctx, `SELECT password_hash FROM admins WHERE id = ?`, a.ID).Scan(&hash)
	}
	if err != nil {
		s.hash.Verify(dummyHash, password)
		return Actor{}, ErrInvalidCredentials
	}
	if ok, err := s.hash.Verify(hash, password); err != nil || !ok {
		return Actor{}, ErrInvalidCredentials
	}
	s.db.ExecContext(ctx, `UPDATE admins SET last_login_at = ? WHERE id = ?`, s.now(), a.ID)
	return s.AdminActor(ctx, a.ID, remote)
}

// AdminActor returns the actor of an administrator by id, as stored now (a web session is
// re-checked on every request: a removed administrator or a changed role takes effect at once).
func (s *Service) AdminActor(ctx context.Context, id int64, remote string) (Actor, error) {
	var email, role string
	var tid sql.NullInt64
	var enrol bool
	err := s.db.QueryRowContext(ctx, `SELECT a.email, a.role, a.tenant_id, `+mustEnrolTOTP+` FROM admins a LEFT JOIN tenants t ON t.id = a.tenant_id WHERE a.id = ?`, id).Scan(&email, &role, &tid, &enrol)
	if errors.Is(err, sql.ErrNoRows) {
		return Actor{}, ErrInvalidCredentials
	}
	if err != nil {
		return Actor{}, err
	}
	actor := Actor{Role: Role(role), ID: id, Name: email, TenantID: tid.Int64, Remote: remote, MustEnrolTOTP: enrol}
	rows, err := s.db.QueryContext(ctx, `SELECT domain_id FROM admin_domains WHERE admin_id = ?`, id)
	if err != nil {
		return Actor{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			return Actor{}, err
		}
		actor.DomainIDs = append(actor.DomainIDs, d)
	}
	return actor, rows.Err()
}

// AdminTOTP returns an administrator's TOTP secret ("" when two-factor login is off).
func (s *Service) AdminTOTP(ctx context.Context, id int64) (string, error) {
	var secret string
	err := s.db.QueryRowContext(ctx, `SELECT totp_secret FROM admins WHERE id = ?`, id).Scan(&secret)
	return secret, err
}

// SetAdminTOTP turns two-factor login on (a base32 secret) or off ("") for an administrator:
// the administrator itself, or whoever may manage it.
func (s *Service) SetAdminTOTP(ctx context.Context, email, secret string) error {
	actor, ok := ActorFrom(ctx)
	if !ok {
		return ErrForbidden
	}
	a, err := s.getAdmin(ctx, email)
	if err != nil {
		return err
	}
	if actor.ID != a.ID || (actor.Role != RoleProvider && actor.Role != RoleTenantAdmin && actor.Role != RoleDomainAdmin) {
		if _, err := authorize(ctx, scope{tenantID: a.TenantID}, true); err != nil {
			return hide(err, notFound("no administrator %q", email))
		}
		if actor.Role == RoleDomainAdmin {
			return forbidden("a domain administrator manages only its own login")
		}
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var before string
		var required bool
		err := tx.QueryRowContext(ctx, `SELECT a.totp_secret, `+totpRequired+` FROM admins a LEFT JOIN tenants t ON t.id = a.tenant_id WHERE a.id = ?`, a.ID).Scan(&before, &required)
		if err != nil {
			return err
		}
		if secret == "" && required && actor.ID == a.ID && actor.Role != RoleSystem {
			// Whoever manages the administrator may still reset a lost second factor: the
			// administrator then enrols again at its next login.
			return refuse("totp-enforced", "", "two-factor login is required for %s and cannot be turned off", a.Email)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE admins SET totp_secret = ? WHERE id = ?`, secret, a.ID); err != nil {
			return err
		}
		return audit(ctx, tx, actor, a.TenantID, "admin.totp", a.Email, map[string]any{"enabled": before != ""}, map[string]any{"enabled": secret != ""})
	})
}

// AuditEntry is one recorded change.
type AuditEntry struct {
	At       int64  `json:"at"`
	Actor    string `json:"actor"`
	Role     string `json:"role"`
	TenantID int64  `json:"tenant_id,omitempty"`
	Action   string `json:"action"`
	Target   string `json:"target"`
	Before   string `json:"before,omitempty"`
	After    string `json:"after,omitempty"`
	Remote   string `json:"remote,omitempty"`
}

// ListAudit returns the most recent changes the actor may see, newest first.
func (s *Service) ListAudit(ctx context.Context, tenant string, limit int) ([]AuditEntry, error) {
	actor, ok := ActorFrom(ctx)
	if !ok {
		return nil, ErrForbidden
	}
	q, args := `SELECT at, actor, role, COALESCE(tenant_id, 0), action, target, before, after, remote FROM audit_log WHERE 1 = 1`, []any{}
	switch actor.Role {
	case RoleSystem, RoleProvider:
	case RoleTenantAdmin:
		q, args = q+` AND tenant_id = ?`, append(args, actor.TenantID)
	default:
		return nil, ErrForbidden
	}
	if tenant != "" {
		t, err := s.GetTenant(ctx, tenant)
		if err != nil {
			return nil, err
		}
		q, args = q+` AND tenant_id = ?`, append(args, t.ID)
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.At, &e.Actor, &e.Role, &e.TenantID, &e.Action, &e.Target, &e.Before, &e.After, &e.Remote); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
