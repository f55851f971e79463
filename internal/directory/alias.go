package directory

import (
	"context"
	"strings"

	"github.com/postamail/posta/internal/db"
)

// Alias is an extra address of an account (free of charge, any number).
type Alias struct {
	Address string `json:"address"`
	Account string `json:"account"`
}

// AddAlias adds address as an alias of account. The alias must be in a domain of the account's
// tenant (an alias domain of the tenant is fine) and free.
func (s *Service) AddAlias(ctx context.Context, address, account string) (*Alias, error) {
	acc, err := s.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	local, domain, err := NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	address = local + "@" + domain
	d, err := getDomain(ctx, s.db, domain)
	if err != nil || d.TenantID != acc.TenantID {
		return nil, refuse("domain-not-owned", "address", "domain %q is not a domain of the account's tenant", domain)
	}
	actor, err := authorize(ctx, scope{tenantID: d.TenantID, domainID: d.ID}, true)
	if err != nil {
		return nil, hide(err, refuse("domain-not-owned", "address", "domain %q is not a domain of the account's tenant", domain))
	}
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if err := addressFree(ctx, tx, address); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO addresses (address, tenant_id, domain_id, kind, account_id) VALUES (?, ?, ?, 'alias', ?)`, address, d.TenantID, d.ID, acc.ID); err != nil {
			if db.IsUniqueViolation(err) {
				return refuse("address-taken", "address", "%q is already in use", address)
			}
			return err
		}
		return audit(ctx, tx, actor, d.TenantID, "alias.add", address, nil, map[string]string{"account": acc.Address})
	})
	if err != nil {
		return nil, err
	}
	return &Alias{Address: address, Account: acc.Address}, nil
}

// ListAliases lists the aliases the actor may see: of one account, or of one domain, or all.
func (s *Service) ListAliases(ctx context.Context, account, domain string) ([]Alias, error) {
	actor, ok := ActorFrom(ctx)
	if !ok {
		return nil, ErrForbidden
	}
	q := `SELECT x.address, a.address FROM addresses x JOIN accounts a ON a.id = x.account_id WHERE x.kind = 'alias'`
	var args []any
	switch actor.Role {
	case RoleSystem, RoleProvider:
	case RoleTenantAdmin:
		q, args = q+" AND x.tenant_id = ?", append(args, actor.TenantID)
	case RoleDomainAdmin:
		q, args = q+" AND x.domain_id IN (SELECT domain_id FROM admin_domains WHERE admin_id = ?)", append(args, actor.ID)
	default:
		return nil, ErrForbidden
	}
	if account != "" {
		acc, err := s.GetAccount(ctx, account)
		if err != nil {
			return nil, err
		}
		q, args = q+" AND x.account_id = ?", append(args, acc.ID)
	}
	if domain != "" {
		d, err := s.GetDomain(ctx, domain)
		if err != nil {
			return nil, err
		}
		q, args = q+" AND x.domain_id = ?", append(args, d.ID)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY x.address", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Alias
	for rows.Next() {
		var a Alias
		if err := rows.Scan(&a.Address, &a.Account); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RemoveAlias removes an alias.
func (s *Service) RemoveAlias(ctx context.Context, address string) error {
	address = strings.ToLower(strings.TrimSpace(address))
	if _, ok := ActorFrom(ctx); !ok {
		return ErrForbidden
	}
	var tenantID, domainID, accountID int64
	err := s.db.QueryRowContext(ctx, `SELECT tenant_id, domain_id, account_id FROM addresses WHERE address = ? AND kind = 'alias'`, address).Scan(&tenantID, &domainID, &accountID)
	if err != nil {
		return notFound("no alias %q", address)
	}
	actor, err := authorize(ctx, scope{tenantID: tenantID, domainID: domainID}, true)
	if err != nil {
		return hide(err, notFound("no alias %q", address))
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var target string
		if err := tx.QueryRowContext(ctx, `SELECT address FROM accounts WHERE id = ?`, accountID).Scan(&target); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM addresses WHERE address = ? AND kind = 'alias'`, address); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM list_members WHERE member = ?`, address); err != nil {
			return err
		}
		return audit(ctx, tx, actor, tenantID, "alias.remove", address, map[string]string{"account": target}, nil)
	})
}

// AccountAddresses returns the account's own address and its aliases: what it may send as.
func (s *Service) AccountAddresses(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT address FROM addresses WHERE account_id = ? ORDER BY kind, address`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
