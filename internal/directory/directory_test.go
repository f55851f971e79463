package directory_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
)

// fastHasher is the real hasher with tiny argon2 parameters, so tests stay fast.
func fastHasher() *auth.Hasher {
	h := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	h.SCRAMIterations = 1
	return h
}

const pw = "Correct-Horse-42"

type fixture struct {
	s      *directory.Service
	d      *db.DB
	sys    context.Context
	tenA   *directory.Tenant
	tenB   *directory.Tenant
	adminA context.Context
	adminB context.Context
}

func setup(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	s := directory.New(d, fastHasher(), directory.Options{})
	sys := directory.WithActor(context.Background(), directory.SystemActor("test"))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.SeedStandardCOS(sys))
	f := &fixture{s: s, d: d, sys: sys}
	var err error
	f.tenA, err = s.CreateTenant(sys, directory.TenantSpec{Name: "Rossi Srl", ContactEmail: "boss@rossi.it", Contract: "subscription"})
	must(err)
	f.tenB, err = s.CreateTenant(sys, directory.TenantSpec{Name: "Bianchi SpA", ContactEmail: "boss@bianchi.it", Contract: "payg"})
	must(err)
	_, err = s.AddDomain(sys, "Rossi Srl", "rossi.it", directory.DomainOptions{})
	must(err)
	_, err = s.AddDomain(sys, "Rossi Srl", "rossi.com", directory.DomainOptions{AliasOf: "rossi.it"})
	must(err)
	_, err = s.AddDomain(sys, "Bianchi SpA", "bianchi.it", directory.DomainOptions{CatchAll: "info@bianchi.it"})
	must(err)
	must(s.SetContractCap(sys, "Rossi Srl", "Business Mail 1.000 MB", 3))
	f.adminA = directory.WithActor(context.Background(), directory.Actor{Role: directory.RoleTenantAdmin, Name: "admin@rossi.it", TenantID: f.tenA.ID})
	f.adminB = directory.WithActor(context.Background(), directory.Actor{Role: directory.RoleTenantAdmin, Name: "admin@bianchi.it", TenantID: f.tenB.ID})
	return f
}

func (f *fixture) account(t *testing.T, ctx context.Context, addr, cos string) *directory.Account {
	t.Helper()
	a, err := f.s.CreateAccount(ctx, directory.AccountSpec{Address: addr, Password: pw, COS: cos, DisplayName: addr})
	if err != nil {
		t.Fatalf("create %s: %v", addr, err)
	}
	return a
}

func TestStandardCOS(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		if err := f.s.SeedStandardCOS(f.sys); err != nil {
			t.Fatal(err)
		}
		all, err := f.s.ListCOS(f.sys)
		if err != nil || len(all) != 32 {
			t.Fatalf("%d classes (%v), want 32", len(all), err)
		}
		tests := []struct {
			name     string
			quota    int64
			features []string
		}{
			{"Business Mail 100 MB", 100 << 20, []string{"mail", "contacts"}},
			{"business mail plus 5000 mb", 5000 << 20, []string{"mail", "contacts", "calendar"}},
			{"Standard Suite 10.000 MB", 10000 << 20, []string{"mail", "contacts", "calendar", "briefcase", "sharing"}},
			{"Professional Suite 25.000 MB", 25000 << 20, []string{"mail", "contacts", "calendar", "briefcase", "sharing", "mobile", "outlook"}},
		}
		for _, tt := range tests {
			c, err := f.s.GetCOS(f.sys, tt.name)
			if err != nil || c.QuotaBytes != tt.quota || !slices.Equal(c.FeatureList, tt.features) {
				t.Errorf("%s: %+v %v", tt.name, c, err)
			}
		}
		if _, err := f.s.GetCOS(f.sys, "Gold"); !errors.Is(err, directory.ErrUnknownCOS) {
			t.Errorf("unknown cos: %v", err)
		}
		if _, err := f.s.CreateCOS(f.adminA, directory.COSSpec{Name: "X", QuotaMB: 1}); !errors.Is(err, directory.ErrForbidden) {
			t.Errorf("tenant admin created a COS: %v", err)
		}
		c, err := f.s.CreateCOS(f.sys, directory.COSSpec{Name: "Kiosk 50 MB", QuotaMB: 50, Features: []string{"mail"}, MinPasswordLen: 12})
		if err != nil || c.QuotaBytes != 50<<20 || c.MinPasswordLen != 12 {
			t.Fatalf("custom cos: %+v %v", c, err)
		}
	})
}

func TestAccountRules(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		f.account(t, f.adminA, "Mario@Rossi.it", "Business Mail 1.000 MB")
		if _, err := f.s.AddAlias(f.adminA, "info@rossi.it", "mario@rossi.it"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.CreateList(f.adminA, directory.ListSpec{Address: "tutti@rossi.it"}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			spec directory.AccountSpec
			want error
			msg  string
		}{
			{"duplicate account", directory.AccountSpec{Address: "mario@rossi.it", Password: pw, COS: "Business Mail 1.000 MB"}, directory.ErrAddressTaken, "already in use by an account"},
			{"taken by alias", directory.AccountSpec{Address: "info@rossi.it", Password: pw, COS: "Business Mail 1.000 MB"}, directory.ErrAddressTaken, "alias"},
			{"taken by list", directory.AccountSpec{Address: "tutti@rossi.it", Password: pw, COS: "Business Mail 1.000 MB"}, directory.ErrAddressTaken, "distribution list"},
			{"invalid address", directory.AccountSpec{Address: "mario..x@rossi.it", Password: pw, COS: "Business Mail 1.000 MB"}, directory.ErrInvalidAddress, "local part"},
			{"no at", directory.AccountSpec{Address: "mario", Password: pw, COS: "Business Mail 1.000 MB"}, directory.ErrInvalidAddress, "not a valid"},
			{"other tenant's domain", directory.AccountSpec{Address: "x@bianchi.it", Password: pw, COS: "Business Mail 1.000 MB"}, directory.ErrDomainNotOwned, "not hosted"},
			{"unhosted domain", directory.AccountSpec{Address: "x@nowhere.test", Password: pw, COS: "Business Mail 1.000 MB"}, directory.ErrDomainNotOwned, "not hosted"},
			{"alias domain", directory.AccountSpec{Address: "x@rossi.com", Password: pw, COS: "Business Mail 1.000 MB"}, directory.ErrInvalidAddress, "alias of"},
			{"unknown cos", directory.AccountSpec{Address: "x@rossi.it", Password: pw, COS: "Gold"}, directory.ErrUnknownCOS, "Gold"},
			{"weak password", directory.AccountSpec{Address: "x@rossi.it", Password: "short", COS: "Business Mail 1.000 MB"}, directory.ErrWeakPassword, "at least 10"},
			{"cos not in contract", directory.AccountSpec{Address: "x@rossi.it", Password: pw, COS: "Business Mail 100 MB"}, directory.ErrCapExceeded, "includes no accounts"},
		}
		for _, tt := range tests {
			_, err := f.s.CreateAccount(f.adminA, tt.spec)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("%s: %v, want %v containing %q", tt.name, err, tt.want, tt.msg)
			}
		}
		var n int
		d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM accounts`).Scan(&n)
		if n != 1 {
			t.Fatalf("%d accounts after refusals, want 1 (nothing written)", n)
		}
		// Cap: 3 allowed, one in use.
		f.account(t, f.adminA, "b@rossi.it", "Business Mail 1.000 MB")
		f.account(t, f.adminA, "c@rossi.it", "Business Mail 1.000 MB")
		_, err := f.s.CreateAccount(f.adminA, directory.AccountSpec{Address: "d@rossi.it", Password: pw, COS: "Business Mail 1.000 MB"})
		if !errors.Is(err, directory.ErrCapExceeded) || err.Error() != `contract allows 3 accounts of "Business Mail 1.000 MB"; 3 in use` {
			t.Fatalf("cap: %v", err)
		}
		if err := f.s.SetContractCap(f.sys, "Rossi Srl", "Business Mail 1.000 MB", 2); !errors.Is(err, directory.ErrCapExceeded) {
			t.Fatalf("lowering cap below use: %v", err)
		}
		if err := f.s.SetContractCap(f.adminA, "Rossi Srl", "Business Mail 1.000 MB", 10); !errors.Is(err, directory.ErrForbidden) {
			t.Fatalf("tenant admin raised its own cap: %v", err)
		}
		// Pay-per-use tenants have no caps.
		for i := 0; i < 5; i++ {
			f.account(t, f.adminB, fmt.Sprintf("u%d@bianchi.it", i), "Business Mail 100 MB")
		}
		u, err := f.s.Usage(f.adminA, "Rossi Srl")
		if err != nil || len(u) != 1 || u[0].Cap != 3 || u[0].InUse != 3 {
			t.Fatalf("usage %+v %v", u, err)
		}
	})
}

func TestConcurrentCreationsAtTheCap(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, capped := 0, 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := f.s.CreateAccount(f.adminA, directory.AccountSpec{Address: fmt.Sprintf("p%d@rossi.it", i), Password: pw, COS: "Business Mail 1.000 MB"})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, directory.ErrCapExceeded):
					capped++
				default:
					t.Errorf("create: %v", err)
				}
			}(i)
		}
		wg.Wait()
		if ok != 3 || capped != 5 {
			t.Fatalf("%d created, %d capped; want 3 and 5", ok, capped)
		}
	})
}

func TestCOSChange(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		f.account(t, f.adminB, "big@bianchi.it", "Business Mail 1.000 MB")
		d.ExecContext(context.Background(), `UPDATE accounts SET used_bytes = ? WHERE address = 'big@bianchi.it'`, 300<<20)
		down := "Business Mail 200 MB"
		p, err := f.s.PreviewCOSChange(f.adminB, "big@bianchi.it", down)
		if err != nil || !p.Refused || !strings.Contains(p.Reason, "quota of 200 MB but the account uses 300.0 MB") {
			t.Fatalf("preview: %+v %v", p, err)
		}
		if _, err := f.s.UpdateAccount(f.adminB, "big@bianchi.it", directory.AccountUpdate{COS: &down}); !errors.Is(err, directory.ErrQuotaBelowUsage) {
			t.Fatalf("downgrade below usage: %v", err)
		}
		up := "Professional Suite 2.000 MB"
		p, _ = f.s.PreviewCOSChange(f.adminB, "big@bianchi.it", up)
		if p.Refused || !slices.Equal(p.FeaturesGained, []string{"calendar", "briefcase", "sharing", "mobile", "outlook"}) {
			t.Fatalf("preview up: %+v", p)
		}
		a, err := f.s.UpdateAccount(f.adminB, "big@bianchi.it", directory.AccountUpdate{COS: &up})
		if err != nil || a.COS != up || a.QuotaBytes != 2000<<20 {
			t.Fatalf("upgrade: %+v %v", a, err)
		}
		var intervals, open int
		d.QueryRowContext(context.Background(), `SELECT COUNT(*), SUM(CASE WHEN to_ms IS NULL THEN 1 ELSE 0 END) FROM account_cos_history WHERE account_id = ?`, a.ID).Scan(&intervals, &open)
		if intervals != 2 || open != 1 {
			t.Fatalf("history: %d intervals, %d open", intervals, open)
		}
	})
}

func TestListsAndResolve(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := f.adminA
		for _, a := range []string{"x@rossi.it", "y@rossi.it"} {
			f.account(t, ctx, a, "Business Mail 1.000 MB")
		}
		for _, l := range []string{"a@rossi.it", "b@rossi.it", "c@rossi.it"} {
			if _, err := f.s.CreateList(ctx, directory.ListSpec{Address: l, PostPolicy: "anyone"}); err != nil {
				t.Fatal(err)
			}
		}
		f.s.AddAlias(ctx, "ics@rossi.it", "x@rossi.it")
		add := func(list, member string) error { return f.s.AddListMember(ctx, list, member) }
		for _, m := range [][2]string{{"a@rossi.it", "b@rossi.it"}, {"a@rossi.it", "c@rossi.it"}, {"b@rossi.it", "x@rossi.it"}, {"c@rossi.it", "ics@rossi.it"},
			{"c@rossi.it", "y@rossi.it"}, {"b@rossi.it", "friend@example.org"}, {"c@rossi.it", "Friend@example.org"}} {
			if err := add(m[0], m[1]); err != nil {
				t.Fatalf("add %v: %v", m, err)
			}
		}
		for _, tt := range []struct{ list, member, msg string }{
			{"b@rossi.it", "a@rossi.it", "loop"},
			{"a@rossi.it", "a@rossi.it", "itself"},
		} {
			if err := add(tt.list, tt.member); !errors.Is(err, directory.ErrListLoop) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("add %s to %s: %v", tt.member, tt.list, err)
			}
		}
		if err := add("a@rossi.it", "ghost@rossi.it"); !errors.Is(err, directory.ErrInvalidAddress) {
			t.Errorf("unknown local member: %v", err)
		}
		if err := add("a@rossi.it", "u1@bianchi.it"); !errors.Is(err, directory.ErrInvalidAddress) {
			t.Errorf("other tenant's address as member: %v", err)
		}
		r, err := f.s.Resolve(context.Background(), "A@rossi.it")
		if err != nil || r.List == nil {
			t.Fatal(err)
		}
		accs, ext, err := f.s.ExpandList(context.Background(), r.List.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range accs {
			got = append(got, a.Address)
		}
		slices.Sort(got)
		if !slices.Equal(got, []string{"x@rossi.it", "y@rossi.it"}) || !slices.Equal(ext, []string{"friend@example.org"}) {
			t.Fatalf("expand: %v %v (x must appear once through b and through its alias in c)", got, ext)
		}
		// A cycle forced into the database still terminates.
		lc, _ := f.s.GetList(ctx, "c@rossi.it")
		d.ExecContext(context.Background(), `INSERT INTO list_members (list_id, member) VALUES (?, 'a@rossi.it')`, lc.ID)
		if accs, _, err := f.s.ExpandList(context.Background(), r.List.ID); err != nil || len(accs) != 2 {
			t.Fatalf("expand with stored cycle: %d %v", len(accs), err)
		}
		// Resolution through alias domains and catch-all.
		res := []struct{ in, kind, addr string }{
			{"x@rossi.com", "account", "x@rossi.it"},
			{"ics@rossi.com", "alias", "ics@rossi.it"},
			{"nobody@bianchi.it", "", ""},
		}
		f.account(t, f.adminB, "info@bianchi.it", "Business Mail 100 MB")
		res[2] = struct{ in, kind, addr string }{"nobody@bianchi.it", "account", "info@bianchi.it"}
		for _, tt := range res {
			r, err := f.s.Resolve(context.Background(), tt.in)
			if err != nil || r.Kind != tt.kind || r.Address != tt.addr {
				t.Errorf("Resolve(%s) = %+v %v", tt.in, r, err)
			}
		}
		for _, a := range []string{"nobody@rossi.it", "x@nowhere.test", "garbage"} {
			if _, err := f.s.Resolve(context.Background(), a); !errors.Is(err, directory.ErrNotFound) {
				t.Errorf("Resolve(%s) = %v, want not found", a, err)
			}
		}
	})
}

// TestTenantIsolation checks that tenant B's administrator can neither see nor change anything
// of tenant A, and gets the same answer as for something that does not exist.
func TestTenantIsolation(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		acc := f.account(t, f.adminA, "mario@rossi.it", "Business Mail 1.000 MB")
		f.s.AddAlias(f.adminA, "info@rossi.it", "mario@rossi.it")
		f.s.CreateList(f.adminA, directory.ListSpec{Address: "tutti@rossi.it"})
		b := f.adminB
		name := "hacked"
		checks := []struct {
			name string
			err  error
		}{
			{"get tenant by name", second(f.s.GetTenant(b, "Rossi Srl"))},
			{"get tenant by id", second(f.s.GetTenant(b, fmt.Sprint(f.tenA.ID)))},
			{"usage", second(f.s.Usage(b, "Rossi Srl"))},
			{"get domain", second(f.s.GetDomain(b, "rossi.it"))},
			{"add domain", second(f.s.AddDomain(b, "Rossi Srl", "evil.it", directory.DomainOptions{}))},
			{"remove domain", f.s.RemoveDomain(b, "rossi.it")},
			{"get account", second(f.s.GetAccount(b, "mario@rossi.it"))},
			{"get account by id", second(f.s.GetAccount(b, fmt.Sprint(acc.ID)))},
			{"update account", second(f.s.UpdateAccount(b, "mario@rossi.it", directory.AccountUpdate{DisplayName: &name}))},
			{"password", f.s.SetPassword(b, "mario@rossi.it", "Another-Pass-99")},
			{"remove account", f.s.RemoveAccount(b, "mario@rossi.it")},
			{"create account", second(f.s.CreateAccount(b, directory.AccountSpec{Address: "z@rossi.it", Password: pw, COS: "Business Mail 1.000 MB"}))},
			{"alias to A's account", second(f.s.AddAlias(b, "x@bianchi.it", "mario@rossi.it"))},
			{"remove alias", f.s.RemoveAlias(b, "info@rossi.it")},
			{"get list", second(f.s.GetList(b, "tutti@rossi.it"))},
			{"add member", f.s.AddListMember(b, "tutti@rossi.it", "spy@example.org")},
			{"remove list", f.s.RemoveList(b, "tutti@rossi.it")},
			{"list accounts of A", third(f.s.ListAccounts(b, directory.AccountFilter{Tenant: "Rossi Srl"}))},
			{"audit of A", second(f.s.ListAudit(b, "Rossi Srl", 10))},
		}
		for _, c := range checks {
			if !errors.Is(c.err, directory.ErrNotFound) && !errors.Is(c.err, directory.ErrDomainNotOwned) && !errors.Is(c.err, directory.ErrForbidden) {
				t.Errorf("%s: %v, want not found / not owned / forbidden", c.name, c.err)
			}
		}
		// Messages for A's existing objects equal those for missing ones.
		_, e1 := f.s.GetAccount(b, "mario@rossi.it")
		_, e2 := f.s.GetAccount(b, "nobody@rossi.it")
		if strings.Replace(e1.Error(), "mario", "nobody", 1) != e2.Error() {
			t.Errorf("existence leaks: %q vs %q", e1, e2)
		}
		ts, _ := f.s.ListTenants(b)
		accs, total, _ := f.s.ListAccounts(b, directory.AccountFilter{})
		doms, _ := f.s.ListDomains(b, "")
		als, _ := f.s.ListAliases(b, "", "")
		lists, _ := f.s.ListLists(b, "")
		audit, _ := f.s.ListAudit(b, "", 100)
		if len(ts) != 1 || ts[0].ID != f.tenB.ID || len(accs) != 0 || total != 0 || len(doms) != 1 || len(als) != 0 || len(lists) != 0 {
			t.Errorf("B sees: tenants %d accounts %d/%d domains %d aliases %d lists %d", len(ts), len(accs), total, len(doms), len(als), len(lists))
		}
		for _, e := range audit {
			if e.TenantID != f.tenB.ID {
				t.Errorf("B sees audit of tenant %d: %+v", e.TenantID, e)
			}
		}
		if _, err := f.s.GetTenant(context.Background(), "Rossi Srl"); !errors.Is(err, directory.ErrForbidden) {
			t.Errorf("no actor: %v", err)
		}
		// A is untouched.
		a, _ := f.s.GetAccount(f.adminA, "mario@rossi.it")
		if a.DisplayName == name {
			t.Fatal("B changed A's account")
		}
	})
}

func second[T any](_ T, err error) error            { return err }
func third[T any, U any](_ T, _ U, err error) error { return err }

func TestAuditAndAuthenticate(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		f.account(t, f.adminA, "mario@rossi.it", "Business Mail 1.000 MB")
		f.s.AddAlias(f.adminA, "info@rossi.it", "mario@rossi.it")
		newName := "Mario Rossi"
		if _, err := f.s.UpdateAccount(f.adminA, "mario@rossi.it", directory.AccountUpdate{DisplayName: &newName}); err != nil {
			t.Fatal(err)
		}
		entries, err := f.s.ListAudit(f.adminA, "", 10)
		if err != nil || len(entries) < 3 {
			t.Fatalf("audit %v %v", entries, err)
		}
		last := entries[0]
		if last.Action != "account.update" || last.Actor != "admin@rossi.it" || !strings.Contains(last.After, "Mario Rossi") || !strings.Contains(last.Before, "mario@rossi.it") {
			t.Fatalf("audit entry %+v", last)
		}
		var leaked int
		d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_log WHERE before LIKE '%argon2%' OR after LIKE '%argon2%' OR after LIKE ?`, "%"+pw+"%").Scan(&leaked)
		if leaked != 0 {
			t.Fatal("audit log holds a password or hash")
		}
		for _, tt := range []struct {
			login, pass string
			ok          bool
		}{
			{"mario@rossi.it", pw, true}, {"MARIO@rossi.it", pw, true}, {"info@rossi.it", pw, true},
			{"mario@rossi.it", "wrong-password", false}, {"ghost@rossi.it", pw, false},
		} {
			a, err := f.s.Authenticate(context.Background(), tt.login, tt.pass)
			if (err == nil) != tt.ok || (!tt.ok && !errors.Is(err, directory.ErrInvalidCredentials)) {
				t.Errorf("Authenticate(%s) = %v, %v", tt.login, a, err)
			}
		}
		locked := "locked"
		f.s.UpdateAccount(f.adminA, "mario@rossi.it", directory.AccountUpdate{Status: &locked})
		if _, err := f.s.Authenticate(context.Background(), "mario@rossi.it", pw); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Errorf("locked account logged in: %v", err)
		}
		if _, err := f.s.CreateAdmin(f.sys, directory.AdminSpec{Email: "boss@rossi.it", Password: "Tenant-Admin-Pass-1", Role: directory.RoleTenantAdmin, Tenant: "Rossi Srl"}); err != nil {
			t.Fatal(err)
		}
		actor, err := f.s.AuthenticateAdmin(context.Background(), "boss@rossi.it", "Tenant-Admin-Pass-1", "127.0.0.1")
		if err != nil || actor.Role != directory.RoleTenantAdmin || actor.TenantID != f.tenA.ID {
			t.Fatalf("admin login: %+v %v", actor, err)
		}
		if _, err := f.s.CreateAdmin(f.adminB, directory.AdminSpec{Email: "evil@bianchi.it", Password: "Tenant-Admin-Pass-1", Role: directory.RoleTenantAdmin, Tenant: "Rossi Srl"}); err == nil {
			t.Fatal("tenant B created an admin of tenant A")
		}
	})
}

func BenchmarkCreateAccounts(b *testing.B) {
	dbtest.ForEachB(b, func(b *testing.B, d *db.DB) {
		s := directory.New(d, fastHasher(), directory.Options{})
		sys := directory.WithActor(context.Background(), directory.SystemActor("bench"))
		s.SeedStandardCOS(sys)
		s.CreateTenant(sys, directory.TenantSpec{Name: "Bench", ContactEmail: "b@bench.test", Contract: "payg"})
		s.AddDomain(sys, "Bench", "bench.test", directory.DomainOptions{})
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.CreateAccount(sys, directory.AccountSpec{Address: fmt.Sprintf("u%d@bench.test", i), Password: pw, COS: "Business Mail 100 MB"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
