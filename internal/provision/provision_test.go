package provision

import (
	"context"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/autoconfig"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
)

const pw = "Correct-Horse-42"

// fastHasher is the real hasher with tiny argon2 parameters, so tests stay fast.
func fastHasher() *auth.Hasher {
	h := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	h.SCRAMIterations = 1
	return h
}

// fixture is a directory with two tenants:
//
//	Rossi Srl (subscription; caps: Business Mail 1.000 MB 5, Business Mail Plus 5.000 MB 3):
//	  rossi.it, rossi.com (alias of rossi.it); mario@rossi.it (Business Mail 1.000 MB) with alias
//	  m.rossi@rossi.it, member of tutti@rossi.it; anna@rossi.it (Business Mail 1.000 MB)
//	Bianchi SpA (pay per use): bianchi.it; luca@bianchi.it
type fixture struct {
	dir  *directory.Service
	d    *db.DB
	sys  context.Context
	prov *Service
	sent *fakeSender
}

type fakeSender struct{ to []string }

func (f *fakeSender) Deliver(ctx context.Context, env *deliver.Envelope) ([]error, error) {
	f.to = append(f.to, env.Rcpts...)
	return nil, nil
}

func setup(t testing.TB, d *db.DB) *fixture {
	t.Helper()
	return setupWith(t, d, fastHasher())
}

func setupWith(t testing.TB, d *db.DB, h *auth.Hasher) *fixture {
	t.Helper()
	dir := directory.New(d, h, directory.Options{OnAccountCreated: mailstore.CreateDefaultMailboxes, OnAccountsCreated: mailstore.CreateDefaultMailboxesMany})
	f := &fixture{dir: dir, d: d, sys: directory.WithActor(context.Background(), directory.SystemActor("test")), sent: &fakeSender{}}
	f.prov = New(dir, Options{Sender: f.sent})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(dir.SeedStandardCOS(f.sys))
	_, err := dir.CreateTenant(f.sys, directory.TenantSpec{Name: "Rossi Srl", ContactEmail: "it@rossi.it", Contract: directory.ContractSubscription})
	must(err)
	_, err = dir.CreateTenant(f.sys, directory.TenantSpec{Name: "Bianchi SpA", ContactEmail: "it@bianchi.it", Contract: directory.ContractPayg})
	must(err)
	_, err = dir.AddDomain(f.sys, "Rossi Srl", "rossi.it", directory.DomainOptions{})
	must(err)
	_, err = dir.AddDomain(f.sys, "Rossi Srl", "rossi.com", directory.DomainOptions{AliasOf: "rossi.it"})
	must(err)
	_, err = dir.AddDomain(f.sys, "Bianchi SpA", "bianchi.it", directory.DomainOptions{})
	must(err)
	must(dir.SetContractCap(f.sys, "Rossi Srl", "Business Mail 1.000 MB", 5))
	must(dir.SetContractCap(f.sys, "Rossi Srl", "Business Mail Plus 5.000 MB", 3))
	for _, a := range []directory.AccountSpec{
		{Address: "mario@rossi.it", Password: pw, DisplayName: "Mario Rossi", COS: "Business Mail 1.000 MB"},
		{Address: "anna@rossi.it", Password: pw, DisplayName: "Anna Verdi", COS: "Business Mail 1.000 MB"},
		{Address: "luca@bianchi.it", Password: pw, DisplayName: "Luca", COS: "Business Mail 100 MB"},
	} {
		_, err = dir.CreateAccount(f.sys, a)
		must(err)
	}
	_, err = dir.AddAlias(f.sys, "m.rossi@rossi.it", "mario@rossi.it")
	must(err)
	_, err = dir.CreateList(f.sys, directory.ListSpec{Address: "tutti@rossi.it"})
	must(err)
	must(dir.AddListMember(f.sys, "tutti@rossi.it", "mario@rossi.it"))
	return f
}

// csvOf joins lines into a CSV file.
func csvOf(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

// count runs a COUNT query.
func (f *fixture) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := f.d.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func autoconfigSettings() autoconfig.Settings {
	return autoconfig.Settings{Hostname: "mail.example.test", IMAP: 143, IMAPS: 993, POP3: 110, POP3S: 995, Submission: 587, Submissions: 465, HTTPS: 443}
}
