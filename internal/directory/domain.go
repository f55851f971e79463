package directory

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/postamail/posta/internal/db"
)

// Domain is a mail domain of a tenant.
type Domain struct {
	ID        int64  `json:"id"`
	TenantID  int64  `json:"tenant_id"`
	Tenant    string `json:"tenant"`
	Name      string `json:"name"`
	AliasOf   string `json:"alias_of,omitempty"`
	CatchAll  string `json:"catch_all,omitempty"`
	CreatedAt int64  `json:"created_at"`
}

const domainCols = `d.id, d.tenant_id, t.name, d.name, COALESCE(p.name, ''), COALESCE(d.catch_all, ''), d.created_at`
const domainFrom = ` FROM domains d JOIN tenants t ON t.id = d.tenant_id LEFT JOIN domains p ON p.id = d.alias_of`

func scanDomain(sc interface{ Scan(...any) error }) (*Domain, error) {
	var d Domain
	err := sc.Scan(&d.ID, &d.TenantID, &d.Tenant, &d.Name, &d.AliasOf, &d.CatchAll, &d.CreatedAt)
	return &d, err
}

// NormalizeDomain lowercases a domain name and checks its syntax (ASCII labels; internationalised
// names must be given in their xn-- form).
func NormalizeDomain(name string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if len(d) == 0 || len(d) > 253 || !strings.Contains(d, ".") {
		return "", refuse("invalid-address", "domain", "%q is not a valid domain name", name)
	}
	for _, l := range strings.Split(d, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", refuse("invalid-address", "domain", "%q is not a valid domain name", name)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return "", refuse("invalid-address", "domain", "%q is not a valid domain name (use the xn-- form for international names)", name)
			}
		}
	}
	return d, nil
}

// NormalizeAddress lowercases an address and checks it: a dot-atom local part of at most 64
// octets (UTF-8 letters allowed, RFC 6531) and a valid domain.
func NormalizeAddress(addr string) (local, domain string, err error) {
	a := strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return "", "", refuse("invalid-address", "address", "%q is not a valid e-mail address", addr)
	}
	local = a[:at]
	domain, err = NormalizeDomain(a[at+1:])
	if err != nil {
		return "", "", refuse("invalid-address", "address", "%q is not a valid e-mail address: bad domain", addr)
	}
	if len(local) > 64 || !utf8.ValidString(local) || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "", "", refuse("invalid-address", "address", "%q is not a valid e-mail address: bad local part", addr)
	}
	for _, r := range local {
		if r < 0x80 {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(".!#$%&'*+-/=?^_`{|}~", r)) {
				return "", "", refuse("invalid-address", "address", "%q is not a valid e-mail address: %q not allowed in the local part", addr, r)
			}
		} else if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return "", "", refuse("invalid-address", "address", "%q is not a valid e-mail address: %q not allowed in the local part", addr, r)
		}
	}
	return local, domain, nil
}

// DomainOptions are the optional settings of a domain.
type DomainOptions struct {
	AliasOf  string // the domain this one is an alias of
	CatchAll string // address that receives mail for unknown local parts
}

// AddDomain adds a domain to a tenant.
func (s *Service) AddDomain(ctx context.Context, tenant, name string, o DomainOptions) (*Domain, error) {
	if _, ok := ActorFrom(ctx); !ok {
		return nil, ErrForbidden
	}
	t, err := getTenant(ctx, s.db, tenant)
	if err != nil {
		return nil, err
	}
	a, err := authorize(ctx, scope{tenantID: t.ID}, true)
	if err != nil {
		return nil, hide(err, notFound("no tenant %q", tenant))
	}
	if a.Role == RoleDomainAdmin {
		return nil, forbidden("a domain administrator cannot add domains")
	}
	name, err = NormalizeDomain(name)
	if err != nil {
		return nil, err
	}
	var id int64
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var aliasOf any
		if o.AliasOf != "" {
			target, err := getDomain(ctx, tx, o.AliasOf)
			if err != nil || target.TenantID != t.ID {
				return refuse("domain-not-owned", "alias_of", "%q is not a domain of %q", o.AliasOf, t.Name)
			}
			if target.AliasOf != "" {
				return invalid("alias_of", "%q is itself an alias of %q; point to %q", target.Name, target.AliasOf, target.AliasOf)
			}
			aliasOf = target.ID
		}
		var catchAll any
		if o.CatchAll != "" {
			l, d, err := NormalizeAddress(o.CatchAll)
			if err != nil {
				return err
			}
			catchAll = l + "@" + d
		}
		id, err = tx.InsertID(ctx, `INSERT INTO domains (tenant_id, name, alias_of, catch_all, created_at) VALUES (?, ?, ?, ?, ?)`,
			t.ID, name, aliasOf, catchAll, s.now())
		if db.IsUniqueViolation(err) {
			return refuse("address-taken", "name", "domain %q is already hosted here", name)
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, a, t.ID, "domain.add", name, nil, o)
	})
	if err != nil {
		return nil, err
	}
	return getDomain(ctx, s.db, strconv.FormatInt(id, 10))
}

func getDomain(ctx context.Context, q db.Querier, idOrName string) (*Domain, error) {
	var row *sql.Row
	if id, err := strconv.ParseInt(idOrName, 10, 64); err == nil {
		row = q.QueryRowContext(ctx, `SELECT `+domainCols+domainFrom+` WHERE d.id = ?`, id)
	} else {
		row = q.QueryRowContext(ctx, `SELECT `+domainCols+domainFrom+` WHERE d.name = ?`, strings.TrimSuffix(strings.ToLower(strings.TrimSpace(idOrName)), "."))
	}
	d, err := scanDomain(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("no domain %q", idOrName)
	}
	return d, err
}

// GetDomain finds a domain by id or name.
func (s *Service) GetDomain(ctx context.Context, idOrName string) (*Domain, error) {
	if _, ok := ActorFrom(ctx); !ok {
		return nil, ErrForbidden
	}
	d, err := getDomain(ctx, s.db, idOrName)
	if err != nil {
		return nil, err
	}
	if _, err := authorize(ctx, scope{tenantID: d.TenantID, domainID: d.ID}, false); err != nil {
		return nil, hide(err, notFound("no domain %q", idOrName))
	}
	return d, nil
}

// ListDomains lists the domains the actor may see, of one tenant when tenant is not empty.
func (s *Service) ListDomains(ctx context.Context, tenant string) ([]*Domain, error) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return nil, ErrForbidden
	}
	q, args := `SELECT `+domainCols+domainFrom, []any{}
	var where []string
	if tenant != "" {
		t, err := s.GetTenant(ctx, tenant)
		if err != nil {
			return nil, err
		}
		where, args = append(where, "d.tenant_id = ?"), append(args, t.ID)
	}
	switch a.Role {
	case RoleSystem, RoleProvider:
	case RoleTenantAdmin:
		where, args = append(where, "d.tenant_id = ?"), append(args, a.TenantID)
	case RoleDomainAdmin:
		where, args = append(where, "d.id IN (SELECT domain_id FROM admin_domains WHERE admin_id = ?)"), append(args, a.ID)
	default:
		return nil, ErrForbidden
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY d.name", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Domain
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RemoveDomain removes a domain with no accounts, aliases, lists or alias domains left.
func (s *Service) RemoveDomain(ctx context.Context, name string) error {
	d, err := s.GetDomain(ctx, name)
	if err != nil {
		return err
	}
	a, err := authorize(ctx, scope{tenantID: d.TenantID}, true)
	if err != nil {
		return err
	}
	if a.Role == RoleDomainAdmin {
		return forbidden("a domain administrator cannot remove domains")
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var addrs, aliases int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM addresses WHERE domain_id = ?`, d.ID).Scan(&addrs); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM domains WHERE alias_of = ?`, d.ID).Scan(&aliases); err != nil {
			return err
		}
		if addrs > 0 || aliases > 0 {
			return refuse("domain-in-use", "name", "domain %q still has %d addresses and %d alias domains; remove them first", d.Name, addrs, aliases)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM admin_domains WHERE domain_id = ?`, d.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM domains WHERE id = ?`, d.ID); err != nil {
			return err
		}
		return audit(ctx, tx, a, d.TenantID, "domain.remove", d.Name, d, nil)
	})
}

// IsLocalDomain reports whether mail for domain is accepted here (hosted or alias domain).
func (s *Service) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM domains WHERE name = ?`, strings.ToLower(domain)).Scan(&n)
	return n > 0, err
}
