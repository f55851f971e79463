package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
)

const hdr = "address,password,display name,cos,aliases,distribution lists,forwarding,status"

// want is a row's expected outcome: its action, and for an error the kind and column of its
// first problem.
type want struct {
	action Action
	kind   string
	column string
}

func ok(a Action) want             { return want{action: a} }
func bad(kind, column string) want { return want{ActError, kind, column} }

// TestValidator is the table of rules a file is checked against, on every engine.
func TestValidator(t *testing.T) {
	bm, bmp := "Business Mail 1.000 MB", "Business Mail Plus 5.000 MB"
	many := func(prefix string, n int) string {
		var p []string
		for i := range n {
			p = append(p, fmt.Sprintf("%s%d@rossi.it", prefix, i))
		}
		return `"` + strings.Join(p, ", ") + `"`
	}
	cases := []struct {
		name string
		rows []string
		want []want
	}{
		{"new account, password generated", []string{"giulia@rossi.it,,Giulia Neri," + bm + ",,,,"}, []want{ok(ActCreate)}},
		{"new account with everything", []string{"giulia@rossi.it,Strong-Secret-77,Giulia," + bmp + `,"g@rossi.it, g@rossi.com",tutti@rossi.it;ufficio@rossi.it,ext@example.org,locked`}, []want{ok(ActCreate)}},
		{"COS named loosely", []string{"giulia@rossi.it,,,business mail 1000mb,,,,"}, []want{ok(ActCreate)}},
		{"bad address", []string{"giulia@@rossi.it,,," + bm + ",,,,"}, []want{bad("invalid-address", "address")}},
		{"address missing", []string{",,Giulia," + bm + ",,,,"}, []want{bad("invalid-address", "address")}},
		{"domain of another tenant", []string{"x@bianchi.it,,," + bm + ",,,,"}, []want{bad("domain-not-owned", "address")}},
		{"domain not hosted", []string{"x@nowhere.example,,," + bm + ",,,,"}, []want{bad("domain-not-owned", "address")}},
		{"alias domain", []string{"x@rossi.com,,," + bm + ",,,,"}, []want{bad("invalid-address", "address")}},
		{"unknown COS", []string{"x@rossi.it,,,Gold,,,,"}, []want{bad("unknown-cos", "cos")}},
		{"COS not in the contract", []string{"x@rossi.it,,,Standard Suite 1.000 MB,,,,"}, []want{bad("contract-cap-exceeded", "cos")}},
		{"new account without COS", []string{"x@rossi.it,,,,,,,"}, []want{bad("unknown-cos", "cos")}},
		{"short password", []string{"x@rossi.it,short1,," + bm + ",,,,"}, []want{bad("weak-password", "password")}},
		{"password with the address", []string{"xavier@rossi.it,my-xavier-Secret-9,," + bm + ",,,,"}, []want{bad("weak-password", "password")}},
		{"common password", []string{"x@rossi.it,password123,," + bm + ",,,,"}, []want{bad("weak-password", "password")}},
		{"address is an alias", []string{"m.rossi@rossi.it,,," + bm + ",,,,"}, []want{bad("address-taken", "address")}},
		{"address is a list", []string{"tutti@rossi.it,,," + bm + ",,,,"}, []want{bad("address-taken", "address")}},
		{"same address twice", []string{"x@rossi.it,,," + bm + ",,,,", "X@Rossi.it,,," + bm + ",,,,"}, []want{ok(ActCreate), bad("address-taken", "address")}},
		{"alias of another account", []string{"x@rossi.it,,," + bm + ",m.rossi@rossi.it,,,"}, []want{bad("address-taken", "aliases")}},
		{"alias is another row's address", []string{"x@rossi.it,,," + bm + ",y@rossi.it,,,", "y@rossi.it,,," + bm + ",,,,"}, []want{ok(ActCreate), bad("address-taken", "address")}},
		{"alias twice in the file", []string{"x@rossi.it,,," + bm + ",z@rossi.it,,,", "y@rossi.it,,," + bm + ",z@rossi.it,,,"}, []want{ok(ActCreate), bad("address-taken", "aliases")}},
		{"alias is a list", []string{"x@rossi.it,,," + bm + ",tutti@rossi.it,,,"}, []want{bad("invalid-address", "aliases")}},
		{"alias is an account", []string{"x@rossi.it,,," + bm + ",anna@rossi.it,,,"}, []want{bad("invalid-address", "aliases")}},
		{"alias in a foreign domain", []string{"x@rossi.it,,," + bm + ",x@bianchi.it,,,"}, []want{bad("invalid-address", "aliases")}},
		{"alias is the address itself", []string{"x@rossi.it,,," + bm + ",x@rossi.it,,,"}, []want{bad("invalid-address", "aliases")}},
		{"invalid alias", []string{"x@rossi.it,,," + bm + ",not-an-address,,,"}, []want{bad("invalid-address", "aliases")}},
		{"500 aliases", []string{"x@rossi.it,,," + bm + "," + many("a", 500) + ",,,"}, []want{bad("invalid-argument", "aliases")}},
		{"100 aliases", []string{"x@rossi.it,,," + bm + "," + many("a", 100) + ",,,"}, []want{ok(ActCreate)}},
		{"60 lists", []string{"x@rossi.it,,," + bm + ",," + many("l", 60) + ",,"}, []want{bad("invalid-argument", "lists")}},
		{"list that is an account", []string{"x@rossi.it,,," + bm + ",,anna@rossi.it,,"}, []want{bad("address-taken", "lists")}},
		{"list in a foreign domain", []string{"x@rossi.it,,," + bm + ",,team@bianchi.it,,"}, []want{bad("domain-not-owned", "lists")}},
		{"new list named like a new account", []string{"x@rossi.it,,," + bm + ",,y@rossi.it,,", "y@rossi.it,,," + bm + ",,,,"}, []want{bad("address-taken", "lists"), ok(ActCreate)}},
		{"new account closed", []string{"x@rossi.it,,," + bm + ",,,,closed"}, []want{bad("invalid-argument", "status")}},
		{"unknown status", []string{"x@rossi.it,,," + bm + ",,,,sleeping"}, []want{bad("invalid-argument", "status")}},
		{"Italian status", []string{"x@rossi.it,,," + bm + ",,,,bloccato"}, []want{ok(ActCreate)}},
		{"invalid forwarding", []string{"x@rossi.it,,," + bm + ",,,nobody,"}, []want{bad("invalid-address", "forwarding")}},
		{"forwarding to itself", []string{"x@rossi.it,,," + bm + ",,,x@rossi.it,"}, []want{bad("invalid-argument", "forwarding")}},
		{"display name on two lines", []string{"x@rossi.it,,\"Giulia\nNeri\"," + bm + ",,,,"}, []want{bad("invalid-argument", "display_name")}},
		{"control character", []string{"x@rossi.it,,Giu\x01lia," + bm + ",,,,"}, []want{bad("invalid-spreadsheet", "display_name")}},
		{"cap for the whole file", []string{
			"a1@rossi.it,,," + bm + ",,,,", "a2@rossi.it,,," + bm + ",,,,", "a3@rossi.it,,," + bm + ",,,,", "a4@rossi.it,,," + bm + ",,,,"},
			[]want{ok(ActCreate), ok(ActCreate), ok(ActCreate), bad("contract-cap-exceeded", "cos")}},
		{"cap freed by a move in the same file", []string{
			"a1@rossi.it,,," + bm + ",,,,", "a2@rossi.it,,," + bm + ",,,,", "a3@rossi.it,,," + bm + ",,,,", "a4@rossi.it,,," + bm + ",,,,",
			"anna@rossi.it,,," + bmp + ",,,,"},
			[]want{ok(ActCreate), ok(ActCreate), ok(ActCreate), ok(ActCreate), ok(ActUpdate)}},
		{"cap freed by closing", []string{
			"a1@rossi.it,,," + bm + ",,,,", "a2@rossi.it,,," + bm + ",,,,", "a3@rossi.it,,," + bm + ",,,,", "a4@rossi.it,,," + bm + ",,,,",
			"anna@rossi.it,,,,,,,closed"},
			[]want{ok(ActCreate), ok(ActCreate), ok(ActCreate), ok(ActCreate), ok(ActUpdate)}},
		{"existing account unchanged", []string{"mario@rossi.it,,Mario Rossi," + bm + ",m.rossi@rossi.it,tutti@rossi.it,,active"}, []want{ok(ActUnchanged)}},
		{"existing account, blank cells", []string{"mario@rossi.it,,,,m.rossi@rossi.it,tutti@rossi.it,,"}, []want{ok(ActUnchanged)}},
		{"existing account changed", []string{"mario@rossi.it,,Mario R.," + bmp + ",mr@rossi.it,,,"}, []want{ok(ActUpdate)}},
		{"existing account with its own password", []string{"mario@rossi.it," + pw + ",,,m.rossi@rossi.it,tutti@rossi.it,,"}, []want{ok(ActUnchanged)}},
		{"existing account with a new password", []string{"mario@rossi.it,Brand-New-Secret-5,,,m.rossi@rossi.it,tutti@rossi.it,,"}, []want{ok(ActUpdate)}},
		{"alias moves to a new account", []string{"mario@rossi.it,,,,,tutti@rossi.it,,", "x@rossi.it,,," + bm + ",m.rossi@rossi.it,,,"}, []want{ok(ActUpdate), ok(ActCreate)}},
		{"alias becomes an account", []string{"m.rossi@rossi.it,,," + bm + ",,,,", "mario@rossi.it,,,,,tutti@rossi.it,,"}, []want{ok(ActCreate), ok(ActUpdate)}},
	}
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				res, err := f.prov.Check(f.sys, "Rossi Srl", csvOf(append([]string{hdr}, tc.rows...)...))
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Rows) != len(tc.want) {
					t.Fatalf("%d rows, want %d", len(res.Rows), len(tc.want))
				}
				for i, w := range tc.want {
					r := res.Rows[i]
					got := want{action: r.Action}
					if len(r.Problems) > 0 {
						got.kind, got.column = r.Problems[0].Kind, r.Problems[0].Column
					}
					if got != w {
						t.Errorf("row %d: got %+v (%v, changes %v), want %+v", r.Row, got, r.Problems, r.Changes, w)
					}
					if r.Action == ActError && (r.Problems[0].Reason == "" || r.Problems[0].Cell == "") {
						t.Errorf("row %d: problem without reason or cell: %+v", r.Row, r.Problems[0])
					}
				}
				if !res.DryRun || res.Applied {
					t.Fatalf("a check must write nothing: %+v", res)
				}
			})
		}
		// Nothing was written by any of the checks.
		if n := f.count(t, `SELECT COUNT(*) FROM accounts`); n != 3 {
			t.Fatalf("%d accounts after checks", n)
		}
	})
}

func TestValidatorPayPerUse(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		// No caps for pay per use: any class of service.
		res, err := f.prov.Check(f.sys, "Bianchi SpA", csvOf(hdr, "a@bianchi.it,,,Professional Suite 25.000 MB,,,,", "b@bianchi.it,,,Business Mail 100 MB,,,,"))
		if err != nil || res.Summary.Create != 2 || res.Caps[0].Cap != -1 {
			t.Fatalf("%v %+v %+v", err, res.Summary, res.Caps)
		}
		// A smaller quota than the mailbox uses.
		if _, err := d.ExecContext(context.Background(), `UPDATE accounts SET used_bytes = ? WHERE address = 'luca@bianchi.it'`, 150*directory.MB); err != nil {
			t.Fatal(err)
		}
		res, err = f.prov.Check(f.sys, "Bianchi SpA", csvOf("address,cos", "luca@bianchi.it,Business Mail 100 MB", "luca2@bianchi.it,Business Mail 100 MB"))
		if err != nil || res.Rows[0].Action != ActUnchanged {
			t.Fatalf("%v %+v", err, res.Rows[0])
		}
		res, err = f.prov.Check(f.sys, "Bianchi SpA", csvOf("address,cos", "luca@bianchi.it,Business Mail 100 MB", "luca@bianchi.it,x"))
		if err != nil || res.Rows[1].Action != ActError {
			t.Fatalf("%v %+v", err, res.Rows)
		}
		if _, err := d.ExecContext(context.Background(), `UPDATE accounts SET cos_id = (SELECT id FROM cos WHERE name = 'Business Mail 200 MB') WHERE address = 'luca@bianchi.it'`); err != nil {
			t.Fatal(err)
		}
		res, err = f.prov.Check(f.sys, "Bianchi SpA", csvOf("address,cos", "luca@bianchi.it,Business Mail 100 MB"))
		if err != nil || res.Rows[0].Action != ActError || res.Rows[0].Problems[0].Kind != "quota-below-usage" {
			t.Fatalf("%v %+v", err, res.Rows[0])
		}
	})
}

// TestValidatorSuspendedTenant: a suspended tenant gets no new accounts; changes still go.
func TestValidatorSuspendedTenant(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		s := "suspended"
		if _, err := f.dir.UpdateTenant(f.sys, "Rossi Srl", directory.TenantUpdate{Status: &s}); err != nil {
			t.Fatal(err)
		}
		res, err := f.prov.Check(f.sys, "Rossi Srl", csvOf("address,display name,cos", "new@rossi.it,N,Business Mail 1.000 MB", "mario@rossi.it,M,"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Rows[0].Action != ActError || res.Rows[0].Problems[0].Kind != "tenant-suspended" || res.Rows[1].Action != ActUpdate {
			t.Fatalf("%+v %+v", res.Rows[0], res.Rows[1])
		}
	})
}

// TestValidatorRoles: the actor's rights bound what a file may touch.
func TestValidatorRoles(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		_, err := f.dir.AddDomain(f.sys, "Rossi Srl", "verdi.it", directory.DomainOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rossi, _ := f.dir.GetTenant(f.sys, "Rossi Srl")
		actor := func(spec directory.AdminSpec) context.Context {
			t.Helper()
			spec.Password = "Admin-Password-4242"
			if _, err := f.dir.CreateAdmin(f.sys, spec); err != nil {
				t.Fatal(err)
			}
			a, err := f.dir.AuthenticateAdmin(context.Background(), spec.Email, spec.Password, "test")
			if err != nil {
				t.Fatal(err)
			}
			return directory.WithActor(context.Background(), a)
		}
		domAdmin := actor(directory.AdminSpec{Email: "dom@verdi.it", Role: directory.RoleDomainAdmin, Tenant: "Rossi Srl", Domains: []string{"verdi.it"}})
		otherAdmin := actor(directory.AdminSpec{Email: "boss@bianchi.it", Role: directory.RoleTenantAdmin, Tenant: "Bianchi SpA"})
		user := directory.WithActor(context.Background(), directory.Actor{Role: directory.RoleUser, ID: 1, AccountID: 1, Name: "mario@rossi.it", TenantID: rossi.ID})
		data := csvOf("address,cos", "a@verdi.it,Business Mail 1.000 MB", "b@rossi.it,Business Mail 1.000 MB")
		// Another tenant's administrator learns nothing: the tenant does not exist for it.
		if _, err := f.prov.Check(otherAdmin, "Rossi Srl", data); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("other tenant's admin: %v", err)
		}
		if _, err := f.prov.Check(user, "Rossi Srl", data); !errors.Is(err, directory.ErrForbidden) {
			t.Fatalf("mailbox user: %v", err)
		}
		if _, err := f.prov.Export(otherAdmin, "Rossi Srl", CSV, "en"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("other tenant's export: %v", err)
		}
		// A domain administrator may provision its domains only.
		res, err := f.prov.Import(domAdmin, "Rossi Srl", data, ImportOptions{Partial: true})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Applied || res.Rows[0].Action != ActCreate || !res.Rows[0].Applied || res.Rows[1].Problems[0].Kind != "domain-not-owned" {
			t.Fatalf("%+v / %+v / %+v", res, res.Rows[0], res.Rows[1])
		}
		// Its export holds its domains' accounts only.
		out, err := f.prov.Export(domAdmin, "Rossi Srl", CSV, "en")
		if err != nil || !strings.Contains(string(out), "a@verdi.it") || strings.Contains(string(out), "mario@rossi.it") {
			t.Fatalf("%v\n%s", err, out)
		}
	})
}

// TestImport covers applying: all or nothing, partial, idempotence, updates, passwords,
// aliases moving, lists, the report and the audit log.
func TestImport(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := f.sys
		accounts := func() int { return f.count(t, `SELECT COUNT(*) FROM accounts`) }
		bad := csvOf(hdr,
			"giulia@rossi.it,,Giulia Neri,Business Mail 1.000 MB,\"g.neri@rossi.it, giulia@rossi.com\",tutti@rossi.it;ufficio@rossi.it,,",
			"paolo@rossi.it,,Paolo,Gold,,,,")
		res, err := f.prov.Import(ctx, "Rossi Srl", bad, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied || res.Refused == "" || res.Rows[0].Applied || res.Rows[0].Password != "" || accounts() != 3 {
			t.Fatalf("all or nothing: %+v", res)
		}
		// Partial: the valid row goes in, with its aliases and lists (one created).
		res, err = f.prov.Import(ctx, "Rossi Srl", bad, ImportOptions{Partial: true, Welcome: true})
		if err != nil {
			t.Fatal(err)
		}
		g := res.Rows[0]
		if !res.Applied || !g.Applied || g.Password == "" || res.Rows[1].Applied || accounts() != 4 {
			t.Fatalf("partial: %+v %+v", res, g)
		}
		if _, err := f.dir.Authenticate(ctx, "giulia@rossi.it", g.Password); err != nil {
			t.Fatalf("generated password: %v", err)
		}
		if _, err := f.dir.Authenticate(ctx, "giulia@rossi.com", g.Password); err != nil {
			t.Fatalf("login with the alias in the alias domain: %v", err)
		}
		l, err := f.dir.GetList(ctx, "ufficio@rossi.it")
		if err != nil || !slices.Contains(l.Members, "giulia@rossi.it") {
			t.Fatalf("new list: %v %+v", err, l)
		}
		if !slices.Equal(f.sent.to, []string{"giulia@rossi.it"}) || g.Welcome != "sent" {
			t.Fatalf("welcome: %v %q", f.sent.to, g.Welcome)
		}
		if n := f.count(t, `SELECT COUNT(*) FROM mailboxes m JOIN accounts a ON a.id = m.account_id WHERE a.address = 'giulia@rossi.it'`); n != 6 {
			t.Fatalf("%d mailboxes", n)
		}
		if n := f.count(t, `SELECT COUNT(*) FROM audit_log WHERE action IN ('account.create', 'alias.add', 'list.create', 'list.member.add', 'provision.import')`); n < 7 {
			t.Fatalf("%d audit rows", n)
		}
		// The same file again changes nothing (the bad row is still bad).
		res, err = f.prov.Import(ctx, "Rossi Srl", bad, ImportOptions{Partial: true})
		if err != nil || res.Rows[0].Action != ActUnchanged || res.Summary.Create+res.Summary.Update != 0 {
			t.Fatalf("re-run: %v %+v", err, res.Rows[0])
		}
		// Export, import again: nothing changes.
		exp, err := f.prov.Export(ctx, "Rossi Srl", XLSX, "it")
		if err != nil {
			t.Fatal(err)
		}
		res, err = f.prov.Import(ctx, "Rossi Srl", exp, ImportOptions{})
		if err != nil || res.Summary.Unchanged != 3 || res.Summary.Rows != 3 || res.Applied {
			t.Fatalf("export round trip: %v %+v", err, res.Summary)
		}
		// A changed row updates COS, name, aliases and lists, not the password.
		res, err = f.prov.Import(ctx, "Rossi Srl", csvOf(hdr, "giulia@rossi.it,,Giulia N.,Business Mail Plus 5.000 MB,g.neri@rossi.it,tutti@rossi.it,,"), ImportOptions{})
		if err != nil || !res.Applied || res.Rows[0].Action != ActUpdate {
			t.Fatalf("update: %v %+v", err, res)
		}
		a, _ := f.dir.GetAccount(ctx, "giulia@rossi.it")
		if a.COS != "Business Mail Plus 5.000 MB" || a.DisplayName != "Giulia N." {
			t.Fatalf("%+v", a)
		}
		if al, _ := f.dir.ListAliases(ctx, "giulia@rossi.it", ""); len(al) != 1 || al[0].Address != "g.neri@rossi.it" {
			t.Fatalf("aliases %+v", al)
		}
		if l, _ := f.dir.GetList(ctx, "ufficio@rossi.it"); slices.Contains(l.Members, "giulia@rossi.it") {
			t.Fatalf("still in ufficio: %+v", l)
		}
		if _, err := f.dir.Authenticate(ctx, "giulia@rossi.it", g.Password); err != nil {
			t.Fatalf("password changed by an update without one: %v", err)
		}
		// A password given changes it; the same file again is unchanged.
		withPW := csvOf("address,password", "giulia@rossi.it,Brand-New-Secret-5")
		if res, err = f.prov.Import(ctx, "Rossi Srl", withPW, ImportOptions{}); err != nil || res.Rows[0].Action != ActUpdate {
			t.Fatalf("%v %+v", err, res.Rows[0])
		}
		if _, err := f.dir.Authenticate(ctx, "giulia@rossi.it", "Brand-New-Secret-5"); err != nil {
			t.Fatal(err)
		}
		if res, err = f.prov.Import(ctx, "Rossi Srl", withPW, ImportOptions{}); err != nil || res.Rows[0].Action != ActUnchanged {
			t.Fatalf("%v %+v", err, res.Rows[0])
		}
		// An alias moves from one account to another in one file, and another becomes an account.
		res, err = f.prov.Import(ctx, "Rossi Srl", csvOf("address,cos,aliases",
			"anna@rossi.it,,g.neri@rossi.it",
			"giulia@rossi.it,,",
			"m.rossi@rossi.it,Business Mail 1.000 MB,",
			"mario@rossi.it,,"), ImportOptions{})
		if err != nil || !res.Applied {
			t.Fatalf("moves: %v %+v %v", err, res, res.Problems())
		}
		if al, _ := f.dir.ListAliases(ctx, "anna@rossi.it", ""); len(al) != 1 || al[0].Address != "g.neri@rossi.it" {
			t.Fatalf("anna's aliases %+v", al)
		}
		if _, err := f.dir.GetAccount(ctx, "m.rossi@rossi.it"); err != nil {
			t.Fatal(err)
		}
		// Closing and re-opening follow the class-of-service history.
		if res, err = f.prov.Import(ctx, "Rossi Srl", csvOf("address,status", "anna@rossi.it,closed"), ImportOptions{}); err != nil || !res.Applied {
			t.Fatalf("%v %+v", err, res)
		}
		if n := f.count(t, `SELECT COUNT(*) FROM account_cos_history h JOIN accounts a ON a.id = h.account_id WHERE a.address = 'anna@rossi.it' AND h.to_ms IS NULL`); n != 0 {
			t.Fatalf("closed account still billed: %d open periods", n)
		}
		if res, err = f.prov.Import(ctx, "Rossi Srl", csvOf("address,status", "anna@rossi.it,active"), ImportOptions{}); err != nil || !res.Applied {
			t.Fatalf("%v %+v", err, res)
		}
		if n := f.count(t, `SELECT COUNT(*) FROM account_cos_history h JOIN accounts a ON a.id = h.account_id WHERE a.address = 'anna@rossi.it' AND h.to_ms IS NULL`); n != 1 {
			t.Fatalf("re-opened: %d open periods", n)
		}
	})
}

// TestReportAndTemplate: the report holds the generated passwords; the template and the export
// read back.
func TestReportAndTemplate(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		res, err := f.prov.Import(f.sys, "Rossi Srl", csvOf("address,cos", "new@rossi.it,Business Mail 1.000 MB", "bad@rossi.it,Gold"), ImportOptions{Partial: true})
		if err != nil {
			t.Fatal(err)
		}
		pw := res.Rows[0].Password
		for _, fm := range []Format{XLSX, CSV} {
			rep, err := res.Report(fm, "it")
			if err != nil {
				t.Fatal(err)
			}
			text := string(rep)
			if fm == XLSX {
				x, err := excelize.OpenReader(strings.NewReader(text))
				if err != nil {
					t.Fatal(err)
				}
				rows, _ := x.GetRows("Rapporto")
				text = fmt.Sprint(rows)
				if sum, _ := x.GetRows("Summary"); len(sum) < 5 {
					t.Fatalf("summary %v", sum)
				}
			}
			if !strings.Contains(text, pw) || !strings.Contains(text, "Gold") || !strings.Contains(text, "created") {
				t.Fatalf("%s report: %s", fm, text)
			}
		}
		tpl, err := f.prov.Template(f.sys, "Rossi Srl", XLSX, "en")
		if err != nil {
			t.Fatal(err)
		}
		x, err := excelize.OpenReader(strings.NewReader(string(tpl)))
		if err != nil {
			t.Fatal(err)
		}
		if s := x.GetSheetList(); !slices.Equal(s, []string{"Accounts", "Domains and COS"}) {
			t.Fatalf("sheets %v", s)
		}
		info, _ := x.GetRows("Domains and COS")
		flat := fmt.Sprint(info)
		if !strings.Contains(flat, "rossi.it") || !strings.Contains(flat, "Business Mail Plus 5.000 MB") || strings.Contains(flat, "Standard Suite") {
			t.Fatalf("info sheet %v", info)
		}
		if _, err := Read(tpl); err == nil || !strings.Contains(err.Error(), "no accounts") {
			t.Fatalf("empty template read: %v", err)
		}
		// The template filled in by a program reads and imports.
		x.SetSheetRow("Accounts", "A2", &[]any{"filled@rossi.it", "", "Filled", "Business Mail Plus 5.000 MB"})
		buf, _ := x.WriteToBuffer()
		res, err = f.prov.Import(f.sys, "Rossi Srl", buf.Bytes(), ImportOptions{})
		if err != nil || !res.Applied || res.Summary.Create != 1 {
			t.Fatalf("%v %+v %v", err, res.Summary, res.Problems())
		}
		csvTpl, _ := f.prov.Template(f.sys, "Rossi Srl", CSV, "it")
		if !strings.HasPrefix(string(csvTpl), "\ufeffindirizzo;password;nome visualizzato;COS") {
			t.Fatalf("%q", csvTpl)
		}
	})
}

// TestApplyBatchAtomic: when the directory refuses an item inside the transaction, nothing of
// the batch is written.
func TestApplyBatchAtomic(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		cos := "Business Mail 1.000 MB"
		b := &directory.Batch{Tenant: "Rossi Srl", Lists: []directory.BatchList{{Ref: 2, Address: "nuova@rossi.it"}}, Accounts: []directory.BatchAccount{
			{Ref: 2, Create: true, Address: "one@rossi.it", Password: pw, COS: &cos, JoinLists: []string{"nuova@rossi.it"}},
			{Ref: 3, Create: true, Address: "two@rossi.it", Password: pw, COS: &cos, AddAliases: []string{"m.rossi@rossi.it"}},
		}}
		_, err := f.dir.ApplyBatch(f.sys, b)
		var be *directory.BatchError
		if !errors.As(err, &be) || be.Ref != 3 || !errors.Is(err, directory.ErrAddressTaken) {
			t.Fatalf("%v", err)
		}
		if n := f.count(t, `SELECT COUNT(*) FROM addresses WHERE address IN ('one@rossi.it', 'nuova@rossi.it', 'two@rossi.it')`); n != 0 {
			t.Fatalf("%d addresses written by a refused batch", n)
		}
		// Caps on the batch as a whole.
		b.Lists = nil
		b.Accounts = nil
		for i := range 4 {
			b.Accounts = append(b.Accounts, directory.BatchAccount{Ref: i + 2, Create: true, Address: fmt.Sprintf("c%d@rossi.it", i), Password: pw, COS: &cos})
		}
		_, err = f.dir.ApplyBatch(f.sys, b)
		if !errors.As(err, &be) || be.Ref != 0 || !errors.Is(err, directory.ErrCapExceeded) {
			t.Fatalf("%v", err)
		}
		if n := f.count(t, `SELECT COUNT(*) FROM accounts`); n != 3 {
			t.Fatalf("%d accounts", n)
		}
	})
}

func TestWelcomeMessage(t *testing.T) {
	s := autoconfigSettings()
	for _, lang := range []string{"it", "en"} {
		msg := string(WelcomeMessage(s, "nicolo@rossi.it", "Nicolò Rossi, jr", lang, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
		for _, w := range []string{"To: =?utf-8?b?Tmljb2zDsiBSb3NzaSwganI=?= <nicolo@rossi.it>", "mail.example.test", "993 (SSL/TLS)", "143 (STARTTLS)",
			"995 (SSL/TLS)", "110 (STARTTLS)", "465 (SSL/TLS)", "587 (STARTTLS)", "https://mail.example.test/", "Auto-Submitted: auto-generated"} {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q missing in\n%s", lang, w, msg)
			}
		}
		if lang == "it" && !strings.Contains(msg, "Posta in uscita") || lang == "en" && !strings.Contains(msg, "Outgoing mail") {
			t.Errorf("%s: wrong language\n%s", lang, msg)
		}
		if strings.Contains(msg, "\n") && strings.Count(msg, "\r\n") != strings.Count(msg, "\n") {
			t.Errorf("bare LF in the message")
		}
	}
}

// refuseGate is a credit gate that refuses one class of service.
type refuseGate struct{ cos int64 }

func (g refuseGate) CheckCredit(ctx context.Context, tenantID, fromCOS, toCOS int64) error {
	if toCOS == g.cos {
		return &directory.Error{Kind: "insufficient-credit", Field: "cos", Msg: "the wallet is empty"}
	}
	return nil
}

// TestCreditGate: the credit of pay-per-use tenants is asked for the file (the dry run tells)
// and again when it is applied.
func TestCreditGate(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		c, err := f.dir.GetCOS(f.sys, "Professional Suite 1.000 MB")
		if err != nil {
			t.Fatal(err)
		}
		dir := directory.New(d, fastHasher(), directory.Options{Credit: refuseGate{c.ID}, OnAccountsCreated: mailstore.CreateDefaultMailboxesMany})
		prov := New(dir, Options{})
		data := csvOf("address,cos", "ok@bianchi.it,Business Mail 100 MB", "pro@bianchi.it,Professional Suite 1.000 MB", "luca@bianchi.it,Professional Suite 1.000 MB")
		res, err := prov.Check(f.sys, "Bianchi SpA", data)
		if err != nil {
			t.Fatal(err)
		}
		if res.Rows[0].Action != ActCreate || res.Rows[1].Problems[0].Kind != "insufficient-credit" || res.Rows[2].Problems[0].Kind != "insufficient-credit" {
			t.Fatalf("%+v %+v %+v", res.Rows[0], res.Rows[1], res.Rows[2])
		}
		cos := c.Name
		_, err = dir.ApplyBatch(f.sys, &directory.Batch{Tenant: "Bianchi SpA", Accounts: []directory.BatchAccount{{Ref: 7, Create: true, Address: "pro@bianchi.it", Password: pw, COS: &cos}}})
		var be *directory.BatchError
		if !errors.As(err, &be) || be.Ref != 7 || !strings.Contains(err.Error(), "wallet is empty") {
			t.Fatalf("%v", err)
		}
		res, err = prov.Import(f.sys, "Bianchi SpA", data, ImportOptions{Partial: true})
		if err != nil || !res.Applied || res.Summary.Create != 1 {
			t.Fatalf("%v %+v", err, res.Summary)
		}
	})
}
