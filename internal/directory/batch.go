package directory

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/postamail/posta/internal/db"
)

// Batches: bulk provisioning (internal/provision) reads a tenant's whole directory once to
// validate a spreadsheet, then applies every change of the file in one transaction, so that an
// import is all or nothing. The rules are the ones the single-object calls enforce (address
// syntax and uniqueness, domain ownership, password policy, quota against usage, contract caps),
// applied to the batch as a whole: caps are checked on the counts the batch leaves behind.

// TenantState is a tenant's directory as one actor sees it: what a spreadsheet is validated
// against. A domain administrator sees only its domains' objects.
type TenantState struct {
	Tenant  *Tenant
	Domains []*Domain
	COS     []*COS
	// Caps are the subscription contract's caps by COS id (a COS without one is not part of the
	// contract); empty for pay-per-use tenants, which have none.
	Caps map[int64]int
	// InUse counts the tenant's accounts that are not closed, by COS id.
	InUse map[int64]int
	// Accounts, Addresses and Lists are keyed by address. Addresses holds every address of the
	// tenant (accounts, aliases, lists).
	Accounts  map[string]*StateAccount
	Addresses map[string]StateAddress
	Lists     map[string]*StateList
	// Restricted is set when the actor sees only some of the tenant's domains (a domain
	// administrator).
	Restricted bool
}

// StateAccount is an account as a spreadsheet row describes it.
type StateAccount struct {
	ID          int64    `json:"id"`
	Address     string   `json:"address"`
	DisplayName string   `json:"display_name"`
	COSID       int64    `json:"cos_id"`
	COS         string   `json:"cos"`
	Status      string   `json:"status"`
	ForwardTo   []string `json:"forward_to"`
	UsedBytes   int64    `json:"used_bytes"`
	Aliases     []string `json:"aliases"` // sorted
	Lists       []string `json:"lists"`   // the lists its own address is a member of, sorted
}

// StateAddress says what an address is: "account", "alias" (Owner is the account's address)
// or "list".
type StateAddress struct {
	Kind  string `json:"kind"`
	Owner string `json:"owner,omitempty"`
}

// StateList is a distribution list with its direct members.
type StateList struct {
	ID      int64    `json:"id"`
	Address string   `json:"address"`
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// FindCOS finds a class of service by name, tolerant of case, spaces and thousands separators
// like GetCOS; nil when there is none.
func (st *TenantState) FindCOS(name string) *COS {
	want := normalizeCOSName(name)
	for _, c := range st.COS {
		if normalizeCOSName(c.Name) == want {
			return c
		}
	}
	return nil
}

// COSAllowed reports whether the tenant's contract lets it have accounts of c: any class for
// pay-per-use, the classes with a cap for a subscription.
func (st *TenantState) COSAllowed(c *COS) bool {
	if st.Tenant.Contract != ContractSubscription {
		return true
	}
	_, ok := st.Caps[c.ID]
	return ok
}

// AllowedCOS lists the classes of service the tenant may use, in the price list's order.
func (st *TenantState) AllowedCOS() []*COS {
	var out []*COS
	for _, c := range st.COS {
		if st.COSAllowed(c) {
			out = append(out, c)
		}
	}
	return out
}

// Domain returns the tenant's domain named name (as the actor sees them), or nil.
func (st *TenantState) Domain(name string) *Domain {
	for _, d := range st.Domains {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// BatchState reads the tenant's directory for validating a batch.
func (s *Service) BatchState(ctx context.Context, tenant string) (*TenantState, error) {
	t, err := s.GetTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	actor, _ := ActorFrom(ctx)
	st := &TenantState{Tenant: t, Caps: map[int64]int{}, InUse: map[int64]int{}, Accounts: map[string]*StateAccount{},
		Addresses: map[string]StateAddress{}, Lists: map[string]*StateList{}}
	tid := strconv.FormatInt(t.ID, 10)
	if st.Domains, err = s.ListDomains(ctx, tid); err != nil {
		return nil, err
	}
	visible := map[int64]bool{}
	for _, d := range st.Domains {
		visible[d.ID] = true
	}
	sees := func(domainID int64) bool { return actor.Role != RoleDomainAdmin || visible[domainID] }
	st.Restricted = actor.Role == RoleDomainAdmin
	if st.COS, err = s.ListCOS(ctx); err != nil {
		return nil, err
	}
	cosName := map[int64]string{}
	for _, c := range st.COS {
		cosName[c.ID] = c.Name
	}
	scan := func(q string, args []any, fn func(rows interface{ Scan(...any) error }) error) error {
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("directory: batch state: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := fn(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	if t.Contract == ContractSubscription {
		err = scan(`SELECT cos_id, max_accounts FROM contract_caps WHERE tenant_id = ?`, []any{t.ID}, func(r interface{ Scan(...any) error }) error {
			var id int64
			var n int
			if err := r.Scan(&id, &n); err != nil {
				return err
			}
			st.Caps[id] = n
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err = scan(`SELECT cos_id, COUNT(*) FROM accounts WHERE tenant_id = ? AND status <> 'closed' GROUP BY cos_id`, []any{t.ID}, func(r interface{ Scan(...any) error }) error {
		var id int64
		var n int
		if err := r.Scan(&id, &n); err != nil {
			return err
		}
		st.InUse[id] = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	byID := map[int64]*StateAccount{}
	err = scan(`SELECT id, domain_id, address, display_name, cos_id, status, forward_to, used_bytes FROM accounts WHERE tenant_id = ?`, []any{t.ID},
		func(r interface{ Scan(...any) error }) error {
			var a StateAccount
			var domainID int64
			var fwd string
			if err := r.Scan(&a.ID, &domainID, &a.Address, &a.DisplayName, &a.COSID, &a.Status, &fwd, &a.UsedBytes); err != nil {
				return err
			}
			if !sees(domainID) {
				return nil
			}
			a.COS = cosName[a.COSID]
			a.ForwardTo = []string{}
			if fwd != "" {
				a.ForwardTo = strings.Split(fwd, ",")
			}
			a.Aliases, a.Lists = []string{}, []string{}
			st.Accounts[a.Address] = &a
			byID[a.ID] = &a
			return nil
		})
	if err != nil {
		return nil, err
	}
	ownerOf := map[int64]string{}
	for _, a := range st.Accounts {
		ownerOf[a.ID] = a.Address
	}
	err = scan(`SELECT x.address, x.kind, x.domain_id, COALESCE(x.account_id, 0), COALESCE(a.address, '') FROM addresses x LEFT JOIN accounts a ON a.id = x.account_id WHERE x.tenant_id = ?`, []any{t.ID},
		func(r interface{ Scan(...any) error }) error {
			var address, kind, owner string
			var domainID, accountID int64
			if err := r.Scan(&address, &kind, &domainID, &accountID, &owner); err != nil {
				return err
			}
			sa := StateAddress{Kind: kind}
			if kind == "alias" {
				sa.Owner = owner
				if a := byID[accountID]; a != nil {
					a.Aliases = append(a.Aliases, address)
				}
			}
			// Every address of the tenant counts for clashes, whoever may see it.
			st.Addresses[address] = sa
			return nil
		})
	if err != nil {
		return nil, err
	}
	listByID := map[int64]*StateList{}
	err = scan(`SELECT id, domain_id, address, name FROM lists WHERE tenant_id = ?`, []any{t.ID}, func(r interface{ Scan(...any) error }) error {
		var l StateList
		var domainID int64
		if err := r.Scan(&l.ID, &domainID, &l.Address, &l.Name); err != nil {
			return err
		}
		if !sees(domainID) {
			return nil
		}
		l.Members = []string{}
		st.Lists[l.Address] = &l
		listByID[l.ID] = &l
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = scan(`SELECT m.list_id, m.member FROM list_members m JOIN lists l ON l.id = m.list_id WHERE l.tenant_id = ? ORDER BY m.member`, []any{t.ID},
		func(r interface{ Scan(...any) error }) error {
			var id int64
			var member string
			if err := r.Scan(&id, &member); err != nil {
				return err
			}
			l := listByID[id]
			if l == nil {
				return nil
			}
			l.Members = append(l.Members, member)
			if a := st.Accounts[member]; a != nil {
				a.Lists = append(a.Lists, l.Address)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	for _, a := range st.Accounts {
		slices.Sort(a.Aliases)
		slices.Sort(a.Lists)
	}
	return st, nil
}

// CheckPasswordPolicy applies the password policy of class c to a password for the address
// with local part local (what CreateAccount and SetPassword enforce).
func (s *Service) CheckPasswordPolicy(password string, c *COS, local string) error {
	minLen := 0
	if c != nil {
		minLen = c.MinPasswordLen
	}
	if err := s.hash.CheckPolicy(password, minLen, local); err != nil {
		return refuse("weak-password", "password", "%v", err)
	}
	return nil
}

// parallel runs fn(i) for i in [0, n) on every core.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	next := make(chan int)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if errs[w] == nil {
					errs[w] = fn(i)
				}
			}
		}()
	}
	var err error
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	return errors.Join(append(errs, err)...)
}

// PasswordsMatch tells, for each address of the tenant's accounts in passwords, whether the
// account's password already is the one given (so that re-running an import that names
// passwords changes nothing). The checks run in parallel on every core; addresses that are not
// accounts of the tenant are left out. Only an actor who may change the accounts may ask.
func (s *Service) PasswordsMatch(ctx context.Context, tenant string, passwords map[string]string) (map[string]bool, error) {
	t, err := s.GetTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	type item struct {
		address, hash, password string
		domainID                int64
	}
	var items []item
	for addr, pw := range passwords {
		var it item
		err := s.db.QueryRowContext(ctx, `SELECT password_hash, domain_id FROM accounts WHERE address = ? AND tenant_id = ?`, addr, t.ID).Scan(&it.hash, &it.domainID)
		if err != nil {
			continue
		}
		if _, err := authorize(ctx, scope{tenantID: t.ID, domainID: it.domainID}, true); err != nil {
			continue
		}
		it.address, it.password = addr, pw
		items = append(items, it)
	}
	ok := make([]bool, len(items))
	err = parallel(ctx, len(items), func(i int) error {
		match, _ := s.hash.Verify(items[i].hash, items[i].password)
		ok[i] = match
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(items))
	for i, it := range items {
		out[it.address] = ok[i]
	}
	return out, nil
}

// Batch is a set of changes to one tenant's directory, applied in one transaction.
type Batch struct {
	Tenant   string
	Lists    []BatchList    // lists to create (before accounts join them)
	Accounts []BatchAccount // accounts to create or change, in order
	// Source names the batch in the audit log (a file name).
	Source string
}

// BatchList is a list to create.
type BatchList struct {
	Ref     int // the caller's reference (a row number), returned in errors
	Address string
	Name    string
}

// BatchAccount is an account to create, or the changes to an existing one; nil fields and
// empty slices are left alone.
type BatchAccount struct {
	Ref    int
	Create bool
	// Address is the account's address.
	Address string
	// Password is required to create; when changing, "" leaves the password alone.
	Password      string
	DisplayName   *string
	COS           *string
	Status        *string
	ForwardTo     *[]string
	AddAliases    []string
	RemoveAliases []string
	JoinLists     []string // lists of the tenant the account's address becomes a member of
	LeaveLists    []string
}

// BatchError is a refusal of one item of a batch: Ref is the item's reference (0 for the
// batch as a whole, e.g. a contract cap).
type BatchError struct {
	Ref int
	Err error
}

func (e *BatchError) Error() string {
	if e.Ref == 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("row %d: %v", e.Ref, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// BatchResult is what a batch did.
type BatchResult struct {
	Created      int `json:"created"`
	Updated      int `json:"updated"`
	ListsCreated int `json:"lists_created"`
}

// ApplyBatch applies b in one transaction: every item or none. Each item is checked like the
// single-object call would (authorisation per domain, address syntax and uniqueness, password
// policy of the class, quota against usage, the credit gate of pay-per-use tenants), passwords
// are hashed beforehand in parallel on every core, and the contract caps are checked on the
// counts the whole batch leaves behind. Inside the transaction, existing accounts first give up
// the aliases and list memberships they lose (so that an alias may move to another account of
// the batch, or become an account), then accounts are created and changed, then aliases and
// memberships added; rows are written many per statement. A refusal is a *BatchError naming the
// item.
func (s *Service) ApplyBatch(ctx context.Context, b *Batch) (*BatchResult, error) {
	actor, ok := ActorFrom(ctx)
	if !ok {
		return nil, ErrForbidden
	}
	t, err := s.GetTenant(ctx, b.Tenant)
	if err != nil {
		return nil, err
	}
	fail := func(ref int, err error) error { return &BatchError{Ref: ref, Err: err} }

	domains := map[string]*Domain{}
	domainOf := func(address, field string) (*Domain, error) {
		_, dn, _ := strings.Cut(address, "@")
		d, ok := domains[dn]
		if !ok {
			d, _ = getDomain(ctx, s.db, dn)
			domains[dn] = d
		}
		missing := refuse("domain-not-owned", field, "domain %q is not a domain of %q", dn, t.Name)
		if d == nil || d.TenantID != t.ID {
			return nil, missing
		}
		if _, err := authorize(ctx, scope{tenantID: t.ID, domainID: d.ID}, true); err != nil {
			return nil, hide(err, missing)
		}
		return d, nil
	}
	cosCache := map[string]*COS{}
	cosOf := func(name string) (*COS, error) {
		if c, ok := cosCache[name]; ok {
			return c, nil
		}
		c, err := getCOS(ctx, s.db, name)
		if err != nil {
			return nil, err
		}
		cosCache[name] = c
		return c, nil
	}
	norm := func(addr, field string) (string, error) {
		l, d, err := NormalizeAddress(addr)
		if err != nil {
			var de *Error
			if errors.As(err, &de) {
				return "", refuse(de.Kind, field, "%s", de.Msg)
			}
			return "", err
		}
		return l + "@" + d, nil
	}

	// Check every item before anything is hashed or written.
	type prepared struct {
		acc      BatchAccount
		domain   *Domain
		cos      *COS // the new class (create or change)
		hash     string
		scram    string
		forward  string
		aliasDom []*Domain
		id       int64    // the account's id, once known
		cur      *Account // an existing account as the batch found it
	}
	lists := make([]BatchList, len(b.Lists))
	listDomains := make([]*Domain, len(b.Lists))
	for i, l := range b.Lists {
		addr, err := norm(l.Address, "lists")
		if err != nil {
			return nil, fail(l.Ref, err)
		}
		d, err := domainOf(addr, "lists")
		if err != nil {
			return nil, fail(l.Ref, err)
		}
		lists[i], listDomains[i] = BatchList{Ref: l.Ref, Address: addr, Name: strings.TrimSpace(l.Name)}, d
	}
	preps := make([]prepared, len(b.Accounts))
	creates := 0
	for i := range b.Accounts {
		p := &preps[i]
		p.acc = b.Accounts[i]
		acc := &p.acc
		acc.AddAliases, acc.RemoveAliases = slices.Clone(acc.AddAliases), slices.Clone(acc.RemoveAliases)
		acc.JoinLists, acc.LeaveLists = slices.Clone(acc.JoinLists), slices.Clone(acc.LeaveLists)
		if acc.Address, err = norm(acc.Address, "address"); err != nil {
			return nil, fail(acc.Ref, err)
		}
		if p.domain, err = domainOf(acc.Address, "address"); err != nil {
			return nil, fail(acc.Ref, err)
		}
		if acc.Create && p.domain.AliasOf != "" {
			return nil, fail(acc.Ref, refuse("invalid-address", "address", "%q is an alias of %q: create the account there", p.domain.Name, p.domain.AliasOf))
		}
		if acc.COS != nil {
			if p.cos, err = cosOf(*acc.COS); err != nil {
				return nil, fail(acc.Ref, err)
			}
		} else if acc.Create {
			return nil, fail(acc.Ref, invalid("cos", "a new account needs a class of service"))
		}
		if acc.Create {
			creates++
			status := StatusActive
			if acc.Status != nil && *acc.Status != "" {
				status = *acc.Status
			}
			if status != StatusActive && status != StatusLocked {
				return nil, fail(acc.Ref, invalid("status", `a new account's status must be "active" or "locked", got %q`, status))
			}
			acc.Status = &status
			if acc.Password == "" {
				return nil, fail(acc.Ref, refuse("weak-password", "password", "a new account needs a password"))
			}
		} else if acc.Status != nil {
			switch *acc.Status {
			case StatusActive, StatusLocked, StatusClosed:
			default:
				return nil, fail(acc.Ref, invalid("status", `status must be "active", "locked" or "closed", got %q`, *acc.Status))
			}
		}
		if acc.Password != "" {
			c := p.cos
			if c == nil {
				var cosID int64
				if err := s.db.QueryRowContext(ctx, `SELECT cos_id FROM accounts WHERE address = ?`, acc.Address).Scan(&cosID); err != nil {
					return nil, fail(acc.Ref, notFound("no account %q", acc.Address))
				}
				if c, err = cosOf(strconv.FormatInt(cosID, 10)); err != nil {
					return nil, fail(acc.Ref, err)
				}
			}
			local, _, _ := strings.Cut(acc.Address, "@")
			if err := s.CheckPasswordPolicy(acc.Password, c, local); err != nil {
				return nil, fail(acc.Ref, err)
			}
		}
		if acc.DisplayName != nil {
			n := strings.TrimSpace(*acc.DisplayName)
			if len(n) > 200 || strings.ContainsAny(n, "\r\n") {
				return nil, fail(acc.Ref, invalid("display_name", "display name must be one line of at most 200 characters"))
			}
			acc.DisplayName = &n
		}
		if acc.ForwardTo != nil {
			var clean []string
			for _, f := range *acc.ForwardTo {
				if strings.TrimSpace(f) == "" {
					continue
				}
				a, err := norm(f, "forward_to")
				if err != nil {
					return nil, fail(acc.Ref, refuse("invalid-address", "forward_to", "forwarding address %q is not valid", f))
				}
				if a == acc.Address {
					return nil, fail(acc.Ref, invalid("forward_to", "an account cannot forward to itself"))
				}
				clean = append(clean, a)
			}
			if len(clean) > 20 {
				return nil, fail(acc.Ref, invalid("forward_to", "at most 20 forwarding addresses"))
			}
			p.forward = strings.Join(clean, ",")
		}
		for j, al := range acc.AddAliases {
			if acc.AddAliases[j], err = norm(al, "aliases"); err != nil {
				return nil, fail(acc.Ref, err)
			}
			d, err := domainOf(acc.AddAliases[j], "aliases")
			if err != nil {
				return nil, fail(acc.Ref, err)
			}
			p.aliasDom = append(p.aliasDom, d)
		}
		for j := range acc.RemoveAliases {
			acc.RemoveAliases[j] = strings.ToLower(strings.TrimSpace(acc.RemoveAliases[j]))
		}
		for j, l := range acc.JoinLists {
			if acc.JoinLists[j], err = norm(l, "lists"); err != nil {
				return nil, fail(acc.Ref, err)
			}
		}
		for j := range acc.LeaveLists {
			acc.LeaveLists[j] = strings.ToLower(strings.TrimSpace(acc.LeaveLists[j]))
		}
	}
	if len(lists) == 0 && len(preps) == 0 {
		return &BatchResult{}, nil
	}

	// Hash outside the transaction, on every core: argon2id is deliberately slow.
	var toHash []int
	for i := range preps {
		if preps[i].acc.Password != "" {
			toHash = append(toHash, i)
		}
	}
	err = parallel(ctx, len(toHash), func(k int) error {
		p := &preps[toHash[k]]
		var err error
		p.hash, p.scram, err = s.hash.Hash(p.acc.Password)
		return err
	})
	if err != nil {
		return nil, err
	}

	var res BatchResult
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		res = BatchResult{}
		var audits [][]any
		name := actor.Name
		if name == "" {
			name = string(actor.Role)
		}
		logged := func(action, target string, before, after any) {
			enc := func(v any) string {
				if v == nil {
					return ""
				}
				b, _ := json.Marshal(v)
				return string(b)
			}
			audits = append(audits, []any{db.Now(), name, string(actor.Role), t.ID, action, target, enc(before), enc(after), actor.Remote})
		}
		if err := lockTenant(ctx, tx, t.ID); err != nil {
			return err
		}
		cur, err := getTenant(ctx, tx, strconv.FormatInt(t.ID, 10))
		if err != nil {
			return err
		}
		if creates > 0 && cur.Status != "active" {
			return fail(0, refuse("tenant-suspended", "", "tenant %q is suspended: no new accounts", cur.Name))
		}
		countByCOS := func() (map[int64]int, error) {
			rows, err := tx.QueryContext(ctx, `SELECT cos_id, COUNT(*) FROM accounts WHERE tenant_id = ? AND status <> 'closed' GROUP BY cos_id`, t.ID)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			m := map[int64]int{}
			for rows.Next() {
				var id int64
				var n int
				if err := rows.Scan(&id, &n); err != nil {
					return nil, err
				}
				m[id] = n
			}
			return m, rows.Err()
		}
		before, err := countByCOS()
		if err != nil {
			return err
		}
		// taken refuses the first address of addrs already in use (refs name their items).
		taken := func(addrs []string, refs []int, field string) error {
			used, err := addressesInUse(ctx, tx, addrs)
			if err != nil {
				return err
			}
			for i, a := range addrs {
				if used[a] {
					return fail(refs[i], refuse("address-taken", field, "%q is already in use", a))
				}
			}
			return nil
		}
		now := s.now()

		// Lists to create.
		listIDs := map[string]int64{}
		listAddr := map[int64]string{}
		if len(lists) > 0 {
			addrs, refs := make([]string, len(lists)), make([]int, len(lists))
			for i, l := range lists {
				addrs[i], refs[i] = l.Address, l.Ref
			}
			if err := taken(addrs, refs, "lists"); err != nil {
				return err
			}
		}
		for i, l := range lists {
			d := listDomains[i]
			id, err := tx.InsertID(ctx, `INSERT INTO lists (tenant_id, domain_id, address, name, post_policy, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				t.ID, d.ID, l.Address, l.Name, PostMembers, now)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO addresses (address, tenant_id, domain_id, kind, list_id) VALUES (?, ?, ?, 'list', ?)`, l.Address, t.ID, d.ID, id); err != nil {
				return err
			}
			logged("list.create", l.Address, nil, map[string]string{"name": l.Name, "post_policy": PostMembers, "source": b.Source})
			listIDs[l.Address], listAddr[id] = id, l.Address
			res.ListsCreated++
		}
		listOf := func(ref int, address string) (int64, error) {
			if id, ok := listIDs[address]; ok {
				return id, nil
			}
			l, err := getList(ctx, tx, address)
			if err != nil || l.TenantID != t.ID {
				return 0, fail(ref, refuse("not-found", "lists", "no list %q", address))
			}
			if _, err := authorize(ctx, scope{tenantID: t.ID, domainID: l.DomainID}, true); err != nil {
				return 0, fail(ref, hide(err, refuse("not-found", "lists", "no list %q", address)))
			}
			listIDs[address], listAddr[l.ID] = l.ID, address
			return l.ID, nil
		}

		// Phase 1: what existing accounts give up (aliases, list memberships), so that an alias
		// may move to another account of the batch, or become an account itself.
		for i := range preps {
			p := &preps[i]
			acc := &p.acc
			if acc.Create {
				continue
			}
			cur, err := getAccount(ctx, tx, acc.Address)
			if err != nil || cur.TenantID != t.ID {
				return fail(acc.Ref, notFound("no account %q", acc.Address))
			}
			p.id, p.cur = cur.ID, cur
			for _, al := range acc.RemoveAliases {
				r, err := tx.ExecContext(ctx, `DELETE FROM addresses WHERE address = ? AND kind = 'alias' AND account_id = ?`, al, p.id)
				if err != nil {
					return err
				}
				if n, _ := r.RowsAffected(); n == 0 {
					return fail(acc.Ref, refuse("not-found", "aliases", "%q is not an alias of %q", al, acc.Address))
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM list_members WHERE member = ?`, al); err != nil {
					return err
				}
				logged("alias.remove", al, map[string]string{"account": acc.Address}, nil)
			}
			for _, l := range acc.LeaveLists {
				lid, err := listOf(acc.Ref, l)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM list_members WHERE list_id = ? AND member = ?`, lid, acc.Address); err != nil {
					return err
				}
				logged("list.member.remove", l, map[string]string{"member": acc.Address}, nil)
			}
		}

		// Phase 2: accounts created, many per statement, and changed.
		var newAddrs []string
		var newRefs []int
		var newRows [][]any
		newIdx := map[string]int{}
		for i := range preps {
			p := &preps[i]
			acc := &p.acc
			if !acc.Create {
				continue
			}
			name := ""
			if acc.DisplayName != nil {
				name = *acc.DisplayName
			}
			newAddrs, newRefs = append(newAddrs, acc.Address), append(newRefs, acc.Ref)
			newRows = append(newRows, []any{t.ID, p.domain.ID, acc.Address, p.hash, p.scram, name, p.cos.ID, *acc.Status, p.forward, now, now})
			newIdx[acc.Address] = i
		}
		credit := map[[2]int64]bool{}
		askCredit := func(ref int, from, to int64) error {
			if credit[[2]int64{from, to}] {
				return nil
			}
			if err := s.checkCredit(ctx, t.ID, from, to); err != nil {
				return fail(ref, err)
			}
			credit[[2]int64{from, to}] = true
			return nil
		}
		if len(newRows) > 0 {
			if err := taken(newAddrs, newRefs, "address"); err != nil {
				return err
			}
			for _, i := range newIdx {
				if err := askCredit(preps[i].acc.Ref, 0, preps[i].cos.ID); err != nil {
					return err
				}
			}
			err := bulk(ctx, tx, `INSERT INTO accounts (tenant_id, domain_id, address, password_hash, scram, display_name, cos_id, status, forward_to, created_at, updated_at) VALUES `,
				` RETURNING id, address`, newRows, func(r *sql.Rows) error {
					var id int64
					var addr string
					if err := r.Scan(&id, &addr); err != nil {
						return err
					}
					preps[newIdx[addr]].id = id
					return nil
				})
			if err != nil {
				return err
			}
			ids := make([]int64, 0, len(newRows))
			var addrRows, histRows [][]any
			for i := range preps {
				p := &preps[i]
				if !p.acc.Create {
					continue
				}
				if p.id == 0 {
					return fmt.Errorf("directory: batch: no id returned for %s", p.acc.Address)
				}
				ids = append(ids, p.id)
				addrRows = append(addrRows, []any{p.acc.Address, t.ID, p.domain.ID, "account", p.id})
				histRows = append(histRows, []any{p.id, t.ID, p.cos.ID, now})
				after := map[string]any{"display_name": newRows[len(ids)-1][5], "cos": p.cos.Name, "status": *p.acc.Status, "source": b.Source}
				if p.forward != "" {
					after["forward_to"] = p.forward
				}
				logged("account.create", p.acc.Address, nil, after)
			}
			if err := bulk(ctx, tx, `INSERT INTO addresses (address, tenant_id, domain_id, kind, account_id) VALUES `, "", addrRows, nil); err != nil {
				return err
			}
			if err := bulk(ctx, tx, `INSERT INTO account_cos_history (account_id, tenant_id, cos_id, from_ms) VALUES `, "", histRows, nil); err != nil {
				return err
			}
			switch {
			case s.opts.OnAccountsCreated != nil:
				if err := s.opts.OnAccountsCreated(ctx, tx, ids); err != nil {
					return err
				}
			case s.opts.OnAccountCreated != nil:
				for _, id := range ids {
					if err := s.opts.OnAccountCreated(ctx, tx, id); err != nil {
						return err
					}
				}
			}
			res.Created = len(ids)
		}
		for i := range preps {
			p := &preps[i]
			acc := &p.acc
			if acc.Create {
				continue
			}
			cur, id := p.cur, p.id
			sets := []string{"updated_at = ?"}
			args := []any{now}
			before, after := map[string]any{}, map[string]any{"source": b.Source}
			if acc.DisplayName != nil && *acc.DisplayName != cur.DisplayName {
				sets, args = append(sets, "display_name = ?"), append(args, *acc.DisplayName)
				before["display_name"], after["display_name"] = cur.DisplayName, *acc.DisplayName
			}
			status := cur.Status
			if acc.Status != nil && *acc.Status != cur.Status {
				status = *acc.Status
				sets, args = append(sets, "status = ?"), append(args, status)
				before["status"], after["status"] = cur.Status, status
			}
			cosID := cur.COSID
			if p.cos != nil && p.cos.ID != cur.COSID {
				if p.cos.QuotaBytes < cur.UsedBytes {
					return fail(acc.Ref, refuse("quota-below-usage", "cos", "%q has a quota of %d MB but the account uses %.1f MB",
						p.cos.Name, p.cos.QuotaBytes/MB, float64(cur.UsedBytes)/MB))
				}
				if p.cos.MaxMessages > 0 && p.cos.MaxMessages < cur.UsedMessages {
					return fail(acc.Ref, refuse("quota-below-usage", "cos", "%q allows %d messages but the account keeps %d",
						p.cos.Name, p.cos.MaxMessages, cur.UsedMessages))
				}
				cosID = p.cos.ID
				sets, args = append(sets, "cos_id = ?"), append(args, cosID)
				before["cos"], after["cos"] = cur.COS, p.cos.Name
			}
			wasOpen, isOpen := cur.Status != StatusClosed, status != StatusClosed
			switch {
			case isOpen && !wasOpen:
				err = askCredit(acc.Ref, 0, cosID)
			case isOpen && cosID != cur.COSID:
				err = askCredit(acc.Ref, cur.COSID, cosID)
			}
			if err != nil {
				return err
			}
			if acc.ForwardTo != nil && p.forward != strings.Join(cur.ForwardTo, ",") {
				sets, args = append(sets, "forward_to = ?"), append(args, p.forward)
				before["forward_to"], after["forward_to"] = strings.Join(cur.ForwardTo, ","), p.forward
			}
			if p.hash != "" {
				sets, args = append(sets, "password_hash = ?", "scram = ?"), append(args, p.hash, p.scram)
				after["password"] = "changed"
			}
			if len(sets) == 1 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...); err != nil {
				return err
			}
			// The class-of-service history follows the class and whether the account is open.
			if wasOpen && (!isOpen || cosID != cur.COSID) {
				if _, err := tx.ExecContext(ctx, `UPDATE account_cos_history SET to_ms = ? WHERE account_id = ? AND to_ms IS NULL`, now, id); err != nil {
					return err
				}
			}
			if isOpen && (!wasOpen || cosID != cur.COSID) {
				if _, err := tx.ExecContext(ctx, `INSERT INTO account_cos_history (account_id, tenant_id, cos_id, from_ms) VALUES (?, ?, ?, ?)`, id, t.ID, cosID, now); err != nil {
					return err
				}
			}
			logged("account.update", acc.Address, before, after)
			res.Updated++
		}

		// Phase 3: aliases and list memberships added, many per statement.
		var aliasAddrs []string
		var aliasRefs []int
		var aliasRows, memberRows [][]any
		for i := range preps {
			p := &preps[i]
			for j, al := range p.acc.AddAliases {
				aliasAddrs, aliasRefs = append(aliasAddrs, al), append(aliasRefs, p.acc.Ref)
				aliasRows = append(aliasRows, []any{al, t.ID, p.aliasDom[j].ID, "alias", p.id})
				logged("alias.add", al, nil, map[string]string{"account": p.acc.Address})
			}
			for _, l := range p.acc.JoinLists {
				lid, err := listOf(p.acc.Ref, l)
				if err != nil {
					return err
				}
				memberRows = append(memberRows, []any{lid, p.acc.Address})
			}
		}
		if len(aliasRows) > 0 {
			if err := taken(aliasAddrs, aliasRefs, "aliases"); err != nil {
				return err
			}
			if err := bulk(ctx, tx, `INSERT INTO addresses (address, tenant_id, domain_id, kind, account_id) VALUES `, "", aliasRows, nil); err != nil {
				return err
			}
		}
		err = bulk(ctx, tx, `INSERT INTO list_members (list_id, member) VALUES `, ` ON CONFLICT (list_id, member) DO NOTHING RETURNING list_id, member`, memberRows,
			func(r *sql.Rows) error {
				var lid int64
				var member string
				if err := r.Scan(&lid, &member); err != nil {
					return err
				}
				logged("list.member.add", listAddr[lid], nil, map[string]string{"member": member})
				return nil
			})
		if err != nil {
			return err
		}

		// The contract's caps, on what the whole batch leaves behind.
		after, err := countByCOS()
		if err != nil {
			return err
		}
		if cur.Contract == ContractSubscription {
			for cosID, n := range after {
				if n <= before[cosID] {
					continue
				}
				c, err := cosOf(strconv.FormatInt(cosID, 10))
				if err != nil {
					return err
				}
				var max int
				err = tx.QueryRowContext(ctx, `SELECT max_accounts FROM contract_caps WHERE tenant_id = ? AND cos_id = ?`, t.ID, cosID).Scan(&max)
				if err != nil {
					return fail(0, refuse("contract-cap-exceeded", "cos", "the contract of %q includes no accounts of %q", cur.Name, c.Name))
				}
				if n > max {
					return fail(0, refuse("contract-cap-exceeded", "cos", "contract allows %d accounts of %q; %d in use, the batch would make %d",
						max, c.Name, before[cosID], n))
				}
			}
		}
		logged("provision.import", b.Source, nil, res)
		return bulk(ctx, tx, `INSERT INTO audit_log (at, actor, role, tenant_id, action, target, before, after, remote) VALUES `, "", audits, nil)
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// bulk runs head followed by one "(?, ...)" per row and tail, many rows per statement; scan,
// when set, reads the rows each statement returns.
func bulk(ctx context.Context, tx *db.Tx, head, tail string, rows [][]any, scan func(*sql.Rows) error) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows[0])
	per := max(1, min(500, 4000/n))
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		var q strings.Builder
		q.WriteString(head)
		args := make([]any, 0, len(chunk)*n)
		for i, r := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(tuple)
			args = append(args, r...)
		}
		q.WriteString(tail)
		if scan == nil {
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return fmt.Errorf("directory: batch: %w", err)
			}
			continue
		}
		rs, err := tx.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return fmt.Errorf("directory: batch: %w", err)
		}
		for rs.Next() {
			if err := scan(rs); err != nil {
				rs.Close()
				return err
			}
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
	}
	return nil
}

// addressesInUse tells which of addrs exist in the addresses table.
func addressesInUse(ctx context.Context, q db.Querier, addrs []string) (map[string]bool, error) {
	used := map[string]bool{}
	for start := 0; start < len(addrs); start += 500 {
		chunk := addrs[start:min(start+500, len(addrs))]
		args := make([]any, len(chunk))
		for i, a := range chunk {
			args[i] = a
		}
		rows, err := q.QueryContext(ctx, `SELECT address FROM addresses WHERE address IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ")+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				rows.Close()
				return nil, err
			}
			used[a] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return used, nil
}

// CreditAllows asks the credit gate of pay-per-use tenants, when there is one, whether the
// tenant may add an account of toCOS (fromCOS 0) or move one from fromCOS to toCOS: what
// creating or changing an account asks, for a dry run to tell beforehand.
func (s *Service) CreditAllows(ctx context.Context, tenantID, fromCOS, toCOS int64) error {
	return s.checkCredit(ctx, tenantID, fromCOS, toCOS)
}
