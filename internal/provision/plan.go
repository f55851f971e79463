package provision

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/postamail/posta/internal/directory"
)

// Action is what an import does with a row.
type Action string

const (
	ActCreate    Action = "create"
	ActUpdate    Action = "update"
	ActUnchanged Action = "unchanged"
	ActError     Action = "error"
)

// RowResult is the outcome of one row: in a dry run what would happen, after an import what
// happened.
type RowResult struct {
	Row     int      `json:"row"`
	Address string   `json:"address"`
	Action  Action   `json:"action"`
	Changes []string `json:"changes,omitempty"`
	// Problems say why the row cannot be applied (Action is "error").
	Problems []Problem `json:"errors,omitempty"`
	// Applied is set when the row's changes were written.
	Applied bool `json:"applied"`
	// Password is the password generated for a new account: shown this once, never stored
	// in clear.
	Password string `json:"password,omitempty"`
	// Welcome is "sent" when the welcome message was delivered, else why not.
	Welcome string `json:"welcome,omitempty"`

	batch       *directory.BatchAccount
	generate    bool
	cos         *directory.COS // of a new account
	newLists    []string
	language    string
	displayName string
}

// Summary counts the rows by action.
type Summary struct {
	Rows      int `json:"rows"`
	Create    int `json:"create"`
	Update    int `json:"update"`
	Unchanged int `json:"unchanged"`
	Errors    int `json:"errors"`
}

// CapUse is a class of service the file changes the count of, against the contract's cap.
type CapUse struct {
	COS   string `json:"cos"`
	Cap   int    `json:"cap"` // -1: no cap (pay per use)
	InUse int    `json:"in_use"`
	After int    `json:"after"`
	Over  bool   `json:"over,omitempty"`
}

// Result is a validated file: the diff of a dry run, or the outcome of an import.
type Result struct {
	Tenant  string   `json:"tenant"`
	Format  Format   `json:"format"`
	Columns []string `json:"columns"`
	DryRun  bool     `json:"dry_run"`
	Partial bool     `json:"partial"`
	// Applied is set when the import wrote its changes (all of them, or the valid rows with
	// Partial).
	Applied bool `json:"applied"`
	// Refused says why nothing was written.
	Refused      string       `json:"refused,omitempty"`
	Summary      Summary      `json:"summary"`
	ListsCreated []string     `json:"lists_to_create,omitempty"`
	Caps         []CapUse     `json:"caps,omitempty"`
	Notes        []string     `json:"notes,omitempty"`
	Rows         []*RowResult `json:"rows"`
	// Welcome counts the welcome messages sent.
	Welcome int `json:"welcome_sent,omitempty"`
}

// Checks are the directory's rules a validation applies beyond the tenant's state.
type Checks struct {
	// Policy is the password policy (directory.Service.CheckPasswordPolicy); required.
	Policy func(password string, c *directory.COS, local string) error
	// PasswordsMatch tells which existing accounts already have the password their row
	// names (directory.Service.PasswordsMatch); nil: none do.
	PasswordsMatch func(passwords map[string]string) (map[string]bool, error)
	// Credit asks whether the tenant may add an account of toCOS (fromCOS 0) or move one
	// (directory.Service.CreditAllows); nil: no credit gate.
	Credit func(fromCOS, toCOS int64) error
}

// validator checks a sheet against a tenant's directory.
type validator struct {
	st     *directory.TenantState
	sh     *Sheet
	checks Checks
	rows   []*rowPlan
}

// rowPlan is a row being validated.
type rowPlan struct {
	row      *Row
	res      *RowResult
	address  string
	local    string
	existing *directory.StateAccount
	cos      *directory.COS // named in the row (nil: none, or unchanged)
	password string
	status   string
	forward  []string
	aliases  []string
	lists    []string
	// releases are addresses this row needs that another account of the file gives up
	// (an alias moving from one account to another): address -> current owner.
	releases map[string]string
}

func (p *rowPlan) ok() bool { return len(p.res.Problems) == 0 }

func (v *validator) bad(p *rowPlan, col Column, kind, format string, args ...any) {
	pr := Problem{Row: p.row.Num, Column: col.Key(), Kind: kind, Reason: fmt.Sprintf(format, args...)}
	if v.sh.Letter[col] != "" {
		pr.Cell = v.sh.Letter[col] + strconv.Itoa(p.row.Num)
	}
	p.res.Problems = append(p.res.Problems, pr)
}

// badErr records a directory refusal on a column.
func (v *validator) badErr(p *rowPlan, col Column, err error) {
	var de *directory.Error
	if errors.As(err, &de) {
		v.bad(p, col, de.Kind, "%s", de.Msg)
		return
	}
	v.bad(p, col, "invalid-argument", "%v", err)
}

// splitList splits a cell of addresses separated by commas, semicolons, spaces or line
// breaks, lower-cased and without repeats.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) }) {
		f = strings.ToLower(f)
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func normAddress(a string) (string, error) {
	l, d, err := directory.NormalizeAddress(a)
	if err != nil {
		return "", err
	}
	return l + "@" + d, nil
}

func domainOf(a string) string { return a[strings.LastIndexByte(a, '@')+1:] }

var statusWords = map[string]string{
	"active": directory.StatusActive, "attivo": directory.StatusActive, "attiva": directory.StatusActive,
	"locked": directory.StatusLocked, "bloccato": directory.StatusLocked, "bloccata": directory.StatusLocked, "sospeso": directory.StatusLocked,
	"closed": directory.StatusClosed, "chiuso": directory.StatusClosed, "chiusa": directory.StatusClosed,
}

var languageWords = map[string]string{
	"it": "it", "ita": "it", "italiano": "it", "italian": "it",
	"en": "en", "eng": "en", "english": "en", "inglese": "en",
}

// yours qualifies "a domain of the tenant" for a domain administrator.
func (v *validator) yours() string {
	if v.st.Restricted {
		return " that you administer"
	}
	return ""
}

// allowedNames lists the classes of service the tenant may use, for messages.
func (v *validator) allowedNames() string {
	var n []string
	for _, c := range v.st.AllowedCOS() {
		n = append(n, c.Name)
	}
	if len(n) == 0 {
		return "none (the contract includes no class of service)"
	}
	if len(n) > 8 {
		return strings.Join(n[:8], ", ") + ", …"
	}
	return strings.Join(n, ", ")
}

// checkRow validates what a row says on its own against the directory.
func (v *validator) checkRow(p *rowPlan) {
	st, sh, cells := v.st, v.sh, &p.row.Cells
	p.res.Problems = append(p.res.Problems, p.row.Problems...)
	// Address.
	raw := cells[ColAddress]
	if raw == "" {
		if cellProblem(p, ColAddress) {
			return
		}
		v.bad(p, ColAddress, "invalid-address", "the address is missing")
		return
	}
	addr, err := normAddress(raw)
	if err != nil {
		v.badErr(p, ColAddress, err)
		return
	}
	p.address, p.res.Address = addr, addr
	p.local, _, _ = strings.Cut(addr, "@")
	d := st.Domain(domainOf(addr))
	switch {
	case d == nil:
		v.bad(p, ColAddress, "domain-not-owned", "%q is not a domain of %q%s", domainOf(addr), st.Tenant.Name, v.yours())
		return
	case d.AliasOf != "":
		v.bad(p, ColAddress, "invalid-address", "%q is an alias domain of %q: use the address in %q", d.Name, d.AliasOf, d.AliasOf)
		return
	}
	p.existing = st.Accounts[addr]
	if p.existing == nil {
		if a, ok := st.Addresses[addr]; ok {
			switch {
			case a.Kind == "alias" && a.Owner != "":
				p.releases = map[string]string{addr: a.Owner}
			case a.Kind == "alias":
				v.bad(p, ColAddress, "address-taken", "%q is already an alias of another account", addr)
			case a.Kind == "list":
				v.bad(p, ColAddress, "address-taken", "%q is a distribution list", addr)
			default:
				v.bad(p, ColAddress, "address-taken", "%q is already in use", addr)
			}
		}
	}
	create := p.existing == nil
	// Class of service.
	if name := cells[ColCOS]; name != "" {
		c := st.FindCOS(name)
		switch {
		case c == nil:
			v.bad(p, ColCOS, "unknown-cos", "no class of service named %q; %s may use: %s", name, st.Tenant.Name, v.allowedNames())
		case !st.COSAllowed(c) && (create || c.ID != p.existing.COSID):
			v.bad(p, ColCOS, "contract-cap-exceeded", "the contract of %q includes no accounts of %q; it may use: %s", st.Tenant.Name, c.Name, v.allowedNames())
		default:
			p.cos = c
			if !create && c.ID != p.existing.COSID && c.QuotaBytes < p.existing.UsedBytes {
				v.bad(p, ColCOS, "quota-below-usage", "%q has a quota of %d MB but the account uses %.1f MB",
					c.Name, c.QuotaBytes/directory.MB, float64(p.existing.UsedBytes)/directory.MB)
			}
		}
	} else if create && !cellProblem(p, ColCOS) {
		v.bad(p, ColCOS, "unknown-cos", "a new account needs a class of service; %s may use: %s", st.Tenant.Name, v.allowedNames())
	}
	// Password.
	if pw := p.row.Cells[ColPassword]; pw != "" {
		c := p.cos
		if c == nil && !create {
			for _, x := range st.COS {
				if x.ID == p.existing.COSID {
					c = x
				}
			}
		}
		if c != nil || !create {
			if err := v.checks.Policy(pw, c, p.local); err != nil {
				v.badErr(p, ColPassword, err)
			}
		}
		p.password = pw
	}
	// Display name.
	if n := cells[ColDisplayName]; utf8.RuneCountInString(n) > 200 || strings.ContainsAny(n, "\r\n") {
		v.bad(p, ColDisplayName, "invalid-argument", "the display name must be one line of at most 200 characters")
	}
	// Status.
	if s := strings.ToLower(cells[ColStatus]); s != "" {
		p.status = statusWords[s]
		switch {
		case p.status == "":
			v.bad(p, ColStatus, "invalid-argument", "status must be active, locked or closed, got %q", cells[ColStatus])
		case create && p.status == directory.StatusClosed:
			v.bad(p, ColStatus, "invalid-argument", "a new account cannot be closed: leave the row out, or use active or locked")
		}
	}
	// Language of the welcome message.
	if l := strings.ToLower(cells[ColLanguage]); l != "" {
		if p.res.language = languageWords[l]; p.res.language == "" {
			v.bad(p, ColLanguage, "invalid-argument", "language must be it or en, got %q", cells[ColLanguage])
		}
	}
	// Forwarding.
	if sh.Has[ColForwarding] {
		p.forward = []string{}
		for _, f := range splitList(cells[ColForwarding]) {
			a, err := normAddress(f)
			if err != nil {
				v.bad(p, ColForwarding, "invalid-address", "forwarding address %q is not valid", f)
				continue
			}
			if a == addr {
				v.bad(p, ColForwarding, "invalid-argument", "an account cannot forward to itself")
				continue
			}
			p.forward = append(p.forward, a)
		}
		if len(p.forward) > 20 {
			v.bad(p, ColForwarding, "invalid-argument", "%d forwarding addresses; at most 20", len(p.forward))
		}
	}
	// Aliases.
	if sh.Has[ColAliases] {
		list := splitList(cells[ColAliases])
		p.aliases = []string{}
		if len(list) > MaxAliasesPerRow {
			v.bad(p, ColAliases, "invalid-argument", "%d aliases; at most %d in one row", len(list), MaxAliasesPerRow)
			list = nil
		}
		bad := 0
		report := func(format string, args ...any) {
			if bad++; bad <= 5 {
				v.bad(p, ColAliases, "invalid-address", format, args...)
			}
		}
		for _, al := range list {
			a, err := normAddress(al)
			if err != nil {
				report("alias %q is not a valid address", al)
				continue
			}
			switch x, used := st.Addresses[a]; {
			case st.Domain(domainOf(a)) == nil:
				report("alias %q: %q is not a domain of %q%s", a, domainOf(a), st.Tenant.Name, v.yours())
				continue
			case a == addr:
				report("alias %q is the account's own address", a)
				continue
			case used && x.Kind == "alias" && x.Owner == addr:
			case used && x.Kind == "alias" && x.Owner != "":
				if p.releases == nil {
					p.releases = map[string]string{}
				}
				p.releases[a] = x.Owner
			case used && x.Kind == "list":
				report("alias %q is a distribution list", a)
				continue
			case used:
				report("alias %q is already in use by an account", a)
				continue
			}
			p.aliases = append(p.aliases, a)
		}
		if bad > 5 {
			v.bad(p, ColAliases, "invalid-address", "and %d more invalid aliases", bad-5)
		}
	}
	// Distribution lists.
	if sh.Has[ColLists] {
		list := splitList(cells[ColLists])
		p.lists = []string{}
		if len(list) > MaxListsPerRow {
			v.bad(p, ColLists, "invalid-argument", "%d lists; at most %d in one row", len(list), MaxListsPerRow)
			list = nil
		}
		for _, l := range list {
			a, err := normAddress(l)
			if err != nil {
				v.bad(p, ColLists, "invalid-address", "list %q is not a valid address", l)
				continue
			}
			if st.Domain(domainOf(a)) == nil {
				v.bad(p, ColLists, "domain-not-owned", "list %q: %q is not a domain of %q%s", a, domainOf(a), st.Tenant.Name, v.yours())
				continue
			}
			if x, used := st.Addresses[a]; used && x.Kind != "list" {
				v.bad(p, ColLists, "address-taken", "%q is an %s, not a distribution list", a, x.Kind)
				continue
			}
			if x, used := st.Addresses[a]; used && x.Kind == "list" && st.Lists[a] == nil {
				v.bad(p, ColLists, "domain-not-owned", "list %q is not in a domain you administer", a)
				continue
			}
			p.lists = append(p.lists, a)
		}
	}
}

// cellProblem reports whether the row already has a problem for the column's cell (a formula,
// a date), so that no second message is added for the same cell.
func cellProblem(p *rowPlan, col Column) bool {
	for _, pr := range p.row.Problems {
		if pr.Column == col.Key() {
			return true
		}
	}
	return false
}

// claim is the first row of the file using an address.
type claim struct {
	row  int
	kind string // "account" or "alias"
}

// crossCheck finds what clashes between rows: the same address twice, an alias that is
// another row's address, a list to create that is an account; and moved aliases whose owner
// does not give them up.
func (v *validator) crossCheck() {
	claims := map[string]claim{}
	byAddr := map[string]*rowPlan{}
	for _, p := range v.rows {
		if p.address == "" {
			continue
		}
		if c, ok := claims[p.address]; ok {
			v.bad(p, ColAddress, "address-taken", "%q is also in row %d (as %s)", p.address, c.row, article(c.kind))
		} else {
			claims[p.address] = claim{p.row.Num, "account"}
			byAddr[p.address] = p
		}
		for _, a := range p.aliases {
			if c, ok := claims[a]; ok {
				v.bad(p, ColAliases, "address-taken", "alias %q is also in row %d (as %s)", a, c.row, article(c.kind))
				continue
			}
			claims[a] = claim{p.row.Num, "alias"}
		}
	}
	for _, p := range v.rows {
		for a, owner := range p.releases {
			o := byAddr[owner]
			gives := o != nil && o != p && o.ok() && v.sh.Has[ColAliases] && !slices.Contains(o.aliases, a)
			if !gives {
				col := ColAliases
				if a == p.address {
					col = ColAddress
				}
				v.bad(p, col, "address-taken", "%q is an alias of %s; to move it, list %s in this file without it", a, owner, owner)
			}
		}
		for _, l := range p.lists {
			if v.st.Lists[l] != nil {
				continue
			}
			if c, ok := claims[l]; ok {
				v.bad(p, ColLists, "address-taken", "%q is %s in row %d, not a distribution list", l, article(c.kind), c.row)
			}
		}
	}
}

func article(kind string) string {
	if kind == "alias" {
		return "an alias"
	}
	return "an account"
}

// checkCaps applies the contract's caps to the file as a whole: the rows that add an account
// to a class of service, in file order, until the cap is reached, after the rows that free one.
// It returns the use of every class the file changes.
func (v *validator) checkCaps() []CapUse {
	st := v.st
	credit := map[[2]int64]error{}
	askCredit := func(from, to int64) error {
		if v.checks.Credit == nil {
			return nil
		}
		k := [2]int64{from, to}
		if err, ok := credit[k]; ok {
			return err
		}
		err := v.checks.Credit(from, to)
		credit[k] = err
		return err
	}
	inc := func(p *rowPlan) (add, sub int64) {
		newCOS := int64(0)
		if p.cos != nil {
			newCOS = p.cos.ID
		}
		if p.existing == nil {
			return newCOS, 0
		}
		old, oldOpen := p.existing.COSID, p.existing.Status != directory.StatusClosed
		if newCOS == 0 {
			newCOS = old
		}
		newOpen := oldOpen
		if p.status != "" {
			newOpen = p.status != directory.StatusClosed
		}
		if newCOS == old && newOpen == oldOpen {
			return 0, 0
		}
		if oldOpen {
			sub = old
		}
		if newOpen {
			add = newCOS
		}
		return add, sub
	}
	freed := map[int64]int{}
	for _, p := range v.rows {
		if p.ok() {
			if _, sub := inc(p); sub != 0 {
				freed[sub]++
			}
		}
	}
	used := map[int64]int{}
	touched := map[int64]bool{}
	for id := range freed {
		touched[id] = true
	}
	over := map[int64]bool{}
	suspended := st.Tenant.Status != "active"
	for _, p := range v.rows {
		if !p.ok() {
			continue
		}
		if suspended && p.existing == nil {
			v.bad(p, ColAddress, "tenant-suspended", "tenant %q is suspended: no new accounts", st.Tenant.Name)
			continue
		}
		add, sub := inc(p)
		if add == 0 {
			continue
		}
		touched[add] = true
		if err := askCredit(sub, add); err != nil {
			v.badErr(p, ColCOS, err)
			continue
		}
		if st.Tenant.Contract != directory.ContractSubscription {
			used[add]++
			continue
		}
		capN, ok := st.Caps[add]
		if !ok {
			capN = 0
		}
		if st.InUse[add]-freed[add]+used[add]+1 > capN {
			over[add] = true
			name := ""
			for _, c := range st.COS {
				if c.ID == add {
					name = c.Name
				}
			}
			v.bad(p, ColCOS, "contract-cap-exceeded", "the contract allows %d accounts of %q: %d in use and %d more in earlier rows of this file; this row would exceed the cap",
				capN, name, st.InUse[add]-freed[add], used[add])
			continue
		}
		used[add]++
	}
	var out []CapUse
	for _, c := range st.COS {
		if !touched[c.ID] {
			continue
		}
		u := CapUse{COS: c.Name, Cap: -1, InUse: st.InUse[c.ID], After: st.InUse[c.ID] - freed[c.ID] + used[c.ID], Over: over[c.ID]}
		if st.Tenant.Contract == directory.ContractSubscription {
			u.Cap = st.Caps[c.ID]
		}
		out = append(out, u)
	}
	return out
}

// diff decides a valid row's action and changes, and builds its batch item. matches tells
// whether the password named for an existing account is already its password.
func (v *validator) diff(p *rowPlan, matches bool) {
	res, cells := p.res, &p.row.Cells
	b := &directory.BatchAccount{Ref: p.row.Num, Address: p.address}
	res.displayName = cells[ColDisplayName]
	if p.existing == nil {
		b.Create = true
		res.cos = p.cos
		name := p.cos.Name
		b.COS = &name
		dn := cells[ColDisplayName]
		b.DisplayName = &dn
		status := directory.StatusActive
		if p.status != "" {
			status = p.status
		}
		b.Status = &status
		if p.forward != nil {
			fw := p.forward
			b.ForwardTo = &fw
		}
		b.AddAliases = p.aliases
		b.JoinLists = p.lists
		b.Password = p.password
		res.Action = ActCreate
		res.Changes = append(res.Changes, "new account: "+name)
		if p.password == "" {
			res.generate = true
			res.Changes = append(res.Changes, "password generated")
		}
		if len(p.aliases) > 0 {
			res.Changes = append(res.Changes, "aliases: "+strings.Join(p.aliases, ", "))
		}
		if len(p.lists) > 0 {
			res.Changes = append(res.Changes, "lists: "+strings.Join(p.lists, ", "))
		}
		if len(p.forward) > 0 {
			res.Changes = append(res.Changes, "forwarding: "+strings.Join(p.forward, ", "))
		}
		if status != directory.StatusActive {
			res.Changes = append(res.Changes, "status: "+status)
		}
	} else {
		e := p.existing
		if res.displayName == "" {
			res.displayName = e.DisplayName
		}
		if dn := cells[ColDisplayName]; dn != "" && dn != e.DisplayName {
			b.DisplayName = &dn
			res.Changes = append(res.Changes, fmt.Sprintf("display name: %q → %q", e.DisplayName, dn))
		}
		if p.cos != nil && p.cos.ID != e.COSID {
			name := p.cos.Name
			b.COS = &name
			res.Changes = append(res.Changes, fmt.Sprintf("COS: %s → %s", e.COS, name))
		}
		if p.status != "" && p.status != e.Status {
			s := p.status
			b.Status = &s
			res.Changes = append(res.Changes, fmt.Sprintf("status: %s → %s", e.Status, s))
		}
		if p.forward != nil && !sameSet(p.forward, e.ForwardTo) {
			fw := p.forward
			b.ForwardTo = &fw
			res.Changes = append(res.Changes, fmt.Sprintf("forwarding: %s → %s", listOrNone(e.ForwardTo), listOrNone(fw)))
		}
		if p.password != "" && !matches {
			b.Password = p.password
			res.Changes = append(res.Changes, "password changed")
		}
		if p.aliases != nil {
			b.AddAliases, b.RemoveAliases = minus(p.aliases, e.Aliases), minus(e.Aliases, p.aliases)
			if ch := plusMinus(b.AddAliases, b.RemoveAliases); ch != "" {
				res.Changes = append(res.Changes, "aliases: "+ch)
			}
		}
		if p.lists != nil {
			b.JoinLists, b.LeaveLists = minus(p.lists, e.Lists), minus(e.Lists, p.lists)
			if ch := plusMinus(b.JoinLists, b.LeaveLists); ch != "" {
				res.Changes = append(res.Changes, "lists: "+ch)
			}
		}
		res.Action = ActUpdate
		if len(res.Changes) == 0 {
			res.Action = ActUnchanged
			return
		}
	}
	for _, l := range p.lists {
		if v.st.Lists[l] == nil {
			res.newLists = append(res.newLists, l)
		}
	}
	res.batch = b
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// minus returns the items of a not in b.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func plusMinus(add, remove []string) string {
	var parts []string
	for _, a := range add {
		parts = append(parts, "+"+a)
	}
	for _, r := range remove {
		parts = append(parts, "-"+r)
	}
	return strings.Join(parts, ", ")
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "(none)"
	}
	return strings.Join(l, ", ")
}

// Validate checks every row of sh against the tenant's directory st and the checks, and
// returns the diff: each row to create, update, leave unchanged, or refuse with its problems.
func Validate(st *directory.TenantState, sh *Sheet, checks Checks) (*Result, error) {
	v := &validator{st: st, sh: sh, checks: checks}
	res := &Result{Tenant: st.Tenant.Name, Format: sh.Format, Columns: sh.Columns(), Notes: sh.Notes}
	for i := range sh.Rows {
		p := &rowPlan{row: &sh.Rows[i], res: &RowResult{Row: sh.Rows[i].Num}}
		v.checkRow(p)
		v.rows = append(v.rows, p)
	}
	v.crossCheck()
	res.Caps = v.checkCaps()
	check := map[string]string{}
	for _, p := range v.rows {
		if p.ok() && p.existing != nil && p.password != "" {
			check[p.address] = p.password
		}
	}
	matches := map[string]bool{}
	if len(check) > 0 && checks.PasswordsMatch != nil {
		var err error
		if matches, err = checks.PasswordsMatch(check); err != nil {
			return nil, err
		}
	}
	seenList := map[string]bool{}
	for _, p := range v.rows {
		if !p.ok() {
			p.res.Action = ActError
		} else {
			v.diff(p, matches[p.address])
			for _, l := range p.res.newLists {
				if !seenList[l] {
					seenList[l] = true
					res.ListsCreated = append(res.ListsCreated, l)
				}
			}
		}
		res.Rows = append(res.Rows, p.res)
	}
	res.count()
	return res, nil
}

// count recomputes the summary.
func (r *Result) count() {
	r.Summary = Summary{Rows: len(r.Rows)}
	for _, row := range r.Rows {
		switch row.Action {
		case ActCreate:
			r.Summary.Create++
		case ActUpdate:
			r.Summary.Update++
		case ActUnchanged:
			r.Summary.Unchanged++
		case ActError:
			r.Summary.Errors++
		}
	}
}

// Problems lists every row's problems, in row order.
func (r *Result) Problems() []Problem {
	var out []Problem
	for _, row := range r.Rows {
		out = append(out, row.Problems...)
	}
	return out
}
