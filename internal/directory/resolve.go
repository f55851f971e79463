package directory

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
)

// Recipient kinds.
const (
	KindAccount = "account"
	KindAlias   = "alias"
	KindList    = "list"
)

// Recipient is what a local address resolves to.
type Recipient struct {
	Kind     string
	Address  string // the address as resolved (after alias domain and catch-all)
	TenantID int64
	Account  *Account // for accounts and aliases
	List     *List    // for lists
}

// Resolve finds what a recipient address delivers to: the exact address, else the same local
// part in the target of an alias domain, else the domain's catch-all. ErrNotFound for anything
// else. It is the delivery path's lookup and needs no actor.
func (s *Service) Resolve(ctx context.Context, address string) (*Recipient, error) {
	address = strings.ToLower(strings.TrimSpace(address))
	local, domain, ok := strings.Cut(address, "@")
	if !ok || local == "" || domain == "" {
		return nil, ErrNotFound
	}
	if r, err := s.resolveExact(ctx, address); !errors.Is(err, ErrNotFound) {
		return r, err
	}
	var aliasOf, catchAll string
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(p.name, ''), COALESCE(d.catch_all, COALESCE(p.catch_all, '')) FROM domains d LEFT JOIN domains p ON p.id = d.alias_of WHERE d.name = ?`, domain).
		Scan(&aliasOf, &catchAll)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if aliasOf != "" {
		if r, err := s.resolveExact(ctx, local+"@"+aliasOf); !errors.Is(err, ErrNotFound) {
			return r, err
		}
	}
	if catchAll != "" {
		return s.resolveExact(ctx, catchAll)
	}
	return nil, ErrNotFound
}

func (s *Service) resolveExact(ctx context.Context, address string) (*Recipient, error) {
	var kind string
	var tenantID int64
	var accountID, listID sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT kind, tenant_id, account_id, list_id FROM addresses WHERE address = ?`, address).Scan(&kind, &tenantID, &accountID, &listID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	r := &Recipient{Kind: kind, Address: address, TenantID: tenantID}
	if kind == KindList {
		var l List
		err := s.db.QueryRowContext(ctx, `SELECT id, tenant_id, domain_id, address, name, post_policy FROM lists WHERE id = ?`, listID.Int64).
			Scan(&l.ID, &l.TenantID, &l.DomainID, &l.Address, &l.Name, &l.PostPolicy)
		if err != nil {
			return nil, err
		}
		r.List = &l
		return r, nil
	}
	r.Account, err = getAccount(ctx, s.db, strconv.FormatInt(accountID.Int64, 10))
	return r, err
}

// ExpandList flattens a list: every account reached through members, aliases and nested lists
// exactly once, and the external addresses once each. A cycle in stored data cannot loop.
func (s *Service) ExpandList(ctx context.Context, listID int64) (accounts []*Account, external []string, err error) {
	seenList := map[int64]bool{listID: true}
	seenAcc := map[int64]bool{}
	seenExt := map[string]bool{}
	queue := []int64{listID}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		rows, err := s.db.QueryContext(ctx, `SELECT member FROM list_members WHERE list_id = ? ORDER BY member`, id)
		if err != nil {
			return nil, nil, err
		}
		var members []string
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return nil, nil, err
			}
			members = append(members, m)
		}
		rows.Close()
		for _, m := range members {
			r, err := s.Resolve(ctx, m)
			if errors.Is(err, ErrNotFound) {
				local, err := s.IsLocalDomain(ctx, m[strings.LastIndexByte(m, '@')+1:])
				if err != nil {
					return nil, nil, err
				}
				if !local && !seenExt[m] {
					seenExt[m] = true
					external = append(external, m)
				}
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			switch {
			case r.List != nil:
				if !seenList[r.List.ID] {
					seenList[r.List.ID] = true
					queue = append(queue, r.List.ID)
				}
			case r.Account != nil:
				if !seenAcc[r.Account.ID] {
					seenAcc[r.Account.ID] = true
					accounts = append(accounts, r.Account)
				}
			}
		}
	}
	return accounts, external, nil
}

// MayPost reports whether sender may post to the list under its post policy.
func (s *Service) MayPost(ctx context.Context, l *List, sender string) (bool, error) {
	sender = strings.ToLower(strings.TrimSpace(sender))
	switch l.PostPolicy {
	case PostAnyone:
		return true, nil
	case PostTenant:
		var n int
		err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM addresses WHERE address = ? AND tenant_id = ?`, sender, l.TenantID).Scan(&n)
		return n > 0, err
	}
	accounts, external, err := s.ExpandList(ctx, l.ID)
	if err != nil {
		return false, err
	}
	for _, e := range external {
		if e == sender {
			return true, nil
		}
	}
	var senderAccount int64
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(account_id, 0) FROM addresses WHERE address = ?`, sender).Scan(&senderAccount)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, a := range accounts {
		if a.ID == senderAccount {
			return true, nil
		}
	}
	return false, nil
}
