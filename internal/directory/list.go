package directory

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/postamail/posta/internal/db"
)

// Who may post to a list (PRODUCT A5).
const (
	PostAnyone  = "anyone"
	PostMembers = "members"
	PostTenant  = "tenant"
)

// List is a distribution list.
type List struct {
	ID         int64    `json:"id"`
	TenantID   int64    `json:"tenant_id"`
	DomainID   int64    `json:"domain_id"`
	Address    string   `json:"address"`
	Name       string   `json:"name"`
	PostPolicy string   `json:"post_policy"`
	Members    []string `json:"members"`
}

// ListSpec describes a new list.
type ListSpec struct {
	Address    string
	Name       string
	PostPolicy string // default members
}

// CreateList creates a distribution list (free of charge).
func (s *Service) CreateList(ctx context.Context, spec ListSpec) (*List, error) {
	if _, ok := ActorFrom(ctx); !ok {
		return nil, ErrForbidden
	}
	local, domain, err := NormalizeAddress(spec.Address)
	if err != nil {
		return nil, err
	}
	address := local + "@" + domain
	d, err := getDomain(ctx, s.db, domain)
	if err != nil {
		return nil, refuse("domain-not-owned", "address", "domain %q is not hosted here", domain)
	}
	actor, err := authorize(ctx, scope{tenantID: d.TenantID, domainID: d.ID}, true)
	if err != nil {
		return nil, hide(err, refuse("domain-not-owned", "address", "domain %q is not hosted here", domain))
	}
	if spec.PostPolicy == "" {
		spec.PostPolicy = PostMembers
	}
	switch spec.PostPolicy {
	case PostAnyone, PostMembers, PostTenant:
	default:
		return nil, invalid("post_policy", `post policy must be "anyone", "members" or "tenant", got %q`, spec.PostPolicy)
	}
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if err := addressFree(ctx, tx, address); err != nil {
			return err
		}
		id, err := tx.InsertID(ctx, `INSERT INTO lists (tenant_id, domain_id, address, name, post_policy, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			d.TenantID, d.ID, address, strings.TrimSpace(spec.Name), spec.PostPolicy, s.now())
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO addresses (address, tenant_id, domain_id, kind, list_id) VALUES (?, ?, ?, 'list', ?)`, address, d.TenantID, d.ID, id); err != nil {
			if db.IsUniqueViolation(err) {
				return refuse("address-taken", "address", "%q is already in use", address)
			}
			return err
		}
		return audit(ctx, tx, actor, d.TenantID, "list.create", address, nil, spec)
	})
	if err != nil {
		return nil, err
	}
	return s.GetList(ctx, address)
}

func getList(ctx context.Context, q db.Querier, address string) (*List, error) {
	var l List
	err := q.QueryRowContext(ctx, `SELECT id, tenant_id, domain_id, address, name, post_policy FROM lists WHERE address = ?`, strings.ToLower(strings.TrimSpace(address))).
		Scan(&l.ID, &l.TenantID, &l.DomainID, &l.Address, &l.Name, &l.PostPolicy)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("no list %q", address)
	}
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT member FROM list_members WHERE list_id = ? ORDER BY member`, l.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	l.Members = []string{}
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, err
		}
		l.Members = append(l.Members, m)
	}
	return &l, rows.Err()
}

// GetList returns a list with its direct members.
func (s *Service) GetList(ctx context.Context, address string) (*List, error) {
	if _, ok := ActorFrom(ctx); !ok {
		return nil, ErrForbidden
	}
	l, err := getList(ctx, s.db, address)
	if err != nil {
		return nil, err
	}
	if _, err := authorize(ctx, scope{tenantID: l.TenantID, domainID: l.DomainID}, false); err != nil {
		return nil, hide(err, notFound("no list %q", address))
	}
	return l, nil
}

// ListLists returns the lists the actor may see (without members).
func (s *Service) ListLists(ctx context.Context, domain string) ([]*List, error) {
	actor, ok := ActorFrom(ctx)
	if !ok {
		return nil, ErrForbidden
	}
	q, args := `SELECT address FROM lists WHERE 1 = 1`, []any{}
	switch actor.Role {
	case RoleSystem, RoleProvider:
	case RoleTenantAdmin:
		q, args = q+" AND tenant_id = ?", append(args, actor.TenantID)
	case RoleDomainAdmin:
		q, args = q+" AND domain_id IN (SELECT domain_id FROM admin_domains WHERE admin_id = ?)", append(args, actor.ID)
	default:
		return nil, ErrForbidden
	}
	if domain != "" {
		d, err := s.GetDomain(ctx, domain)
		if err != nil {
			return nil, err
		}
		q, args = q+" AND domain_id = ?", append(args, d.ID)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY address", args...)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			rows.Close()
			return nil, err
		}
		addrs = append(addrs, a)
	}
	rows.Close()
	out := make([]*List, 0, len(addrs))
	for _, a := range addrs {
		l, err := getList(ctx, s.db, a)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// AddListMember adds a member: a local address of the same tenant (account, alias or another
// list, for nesting) or an external address. A list that would contain itself, directly or
// through other lists, is refused (list-loop).
func (s *Service) AddListMember(ctx context.Context, list, member string) error {
	l, err := s.GetList(ctx, list)
	if err != nil {
		return err
	}
	actor, err := authorize(ctx, scope{tenantID: l.TenantID, domainID: l.DomainID}, true)
	if err != nil {
		return err
	}
	local, domain, err := NormalizeAddress(member)
	if err != nil {
		return err
	}
	member = local + "@" + domain
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var kind string
		var tenantID int64
		var memberList sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT kind, tenant_id, list_id FROM addresses WHERE address = ?`, member).Scan(&kind, &tenantID, &memberList)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			var hosted int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM domains WHERE name = ?`, domain).Scan(&hosted); err != nil {
				return err
			}
			if hosted > 0 {
				return refuse("invalid-address", "member", "%q does not exist in a hosted domain", member)
			}
		case err != nil:
			return err
		case tenantID != l.TenantID:
			// A local address of another tenant behaves as external mail, but must not reveal
			// that it exists: refuse like a missing one.
			return refuse("invalid-address", "member", "%q does not exist in a hosted domain", member)
		case kind == "list":
			if memberList.Int64 == l.ID {
				return refuse("list-loop", "member", "a list cannot contain itself")
			}
			loop, err := reaches(ctx, tx, memberList.Int64, l.ID)
			if err != nil {
				return err
			}
			if loop {
				return refuse("list-loop", "member", "adding %q to %q would create a loop", member, l.Address)
			}
		}
		before, err := getList(ctx, tx, l.Address)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO list_members (list_id, member) VALUES (?, ?)`, l.ID, member)
		if db.IsUniqueViolation(err) {
			return refuse("invalid-argument", "member", "%q is already a member of %q", member, l.Address)
		}
		if err != nil {
			return err
		}
		return auditMembers(ctx, tx, actor, before, "list.member.add", member)
	})
}

// reaches reports whether list from contains list target, directly or through nested lists.
func reaches(ctx context.Context, q db.Querier, from, target int64) (bool, error) {
	seen := map[int64]bool{from: true}
	queue := []int64{from}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		rows, err := q.QueryContext(ctx, `SELECT a.list_id FROM list_members m JOIN addresses a ON a.address = m.member WHERE m.list_id = ? AND a.kind = 'list'`, id)
		if err != nil {
			return false, err
		}
		var next []int64
		for rows.Next() {
			var n int64
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return false, err
			}
			next = append(next, n)
		}
		rows.Close()
		for _, n := range next {
			if n == target {
				return true, nil
			}
			if !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	return false, nil
}

// RemoveListMember removes a member.
func (s *Service) RemoveListMember(ctx context.Context, list, member string) error {
	l, err := s.GetList(ctx, list)
	if err != nil {
		return err
	}
	actor, err := authorize(ctx, scope{tenantID: l.TenantID, domainID: l.DomainID}, true)
	if err != nil {
		return err
	}
	member = strings.ToLower(strings.TrimSpace(member))
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		before, err := getList(ctx, tx, l.Address)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM list_members WHERE list_id = ? AND member = ?`, l.ID, member)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("%q is not a member of %q", member, l.Address)
		}
		return auditMembers(ctx, tx, actor, before, "list.member.remove", member)
	})
}

// RemoveList deletes a list (and its memberships in other lists).
func (s *Service) RemoveList(ctx context.Context, list string) error {
	l, err := s.GetList(ctx, list)
	if err != nil {
		return err
	}
	actor, err := authorize(ctx, scope{tenantID: l.TenantID, domainID: l.DomainID}, true)
	if err != nil {
		return err
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM list_members WHERE member = ?`, l.Address); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM addresses WHERE list_id = ?`, l.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM lists WHERE id = ?`, l.ID); err != nil {
			return err
		}
		return audit(ctx, tx, actor, l.TenantID, "list.remove", l.Address, l, nil)
	})
}

// auditMembers records a change of a list's members: the members before (as in before) and
// after (as now in tx), and the member added or removed.
func auditMembers(ctx context.Context, tx *db.Tx, actor Actor, before *List, action, member string) error {
	after, err := getList(ctx, tx, before.Address)
	if err != nil {
		return err
	}
	return audit(ctx, tx, actor, before.TenantID, action, before.Address,
		map[string]any{"members": before.Members}, map[string]any{"member": member, "members": after.Members})
}
