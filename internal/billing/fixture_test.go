package billing

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/queue"
)

const testPW = "Strong-Secret-4242"

// clock is a settable clock shared by the directory and billing.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a directory with the credit gate, a mail store with delivery (warnings land in
// mailboxes) and the billing service, on one database, with a settable clock.
type env struct {
	t     testing.TB
	d     *db.DB
	clock *clock
	dir   *directory.Service
	store *mailstore.Store
	bill  *Service
	sys   context.Context
	// sent counts the warnings handed to delivery.
	mu   sync.Mutex
	sent []string
}

// day0 is the first day of the tests: 2026-03-02, a Monday.
var day0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newEnv(tb testing.TB, d *db.DB) *env {
	tb.Helper()
	e := &env{t: tb, d: d, clock: &clock{t: day0}, sys: directory.WithActor(context.Background(), directory.SystemActor("test"))}
	b, err := blob.Open(filepath.Join(tb.TempDir(), "blobs"))
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.store = mailstore.New(d, b, changes.New(), mailstore.Options{Logger: log})
	tb.Cleanup(func() { e.store.Close() })
	e.dir = directory.New(d, auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}), directory.Options{
		OnAccountCreated: mailstore.CreateDefaultMailboxes,
		Credit:           NewGate(d, e.clock.Now),
		Clock:            e.clock.Now,
	})
	dl := deliver.New(e.dir, e.store, queue.New(d, b), "mail.provider.test", log)
	e.bill = New(d, e.dir, Options{Hostname: "mail.provider.test", Clock: e.clock.Now, Logger: log, Node: "test-node",
		Notify: func(ctx context.Context, to string, raw []byte) error {
			e.mu.Lock()
			e.sent = append(e.sent, to+" "+subject(raw))
			e.mu.Unlock()
			errs, err := dl.Deliver(ctx, &deliver.Envelope{From: "", Rcpts: []string{to}, Raw: raw, System: true})
			if err != nil {
				return err
			}
			if len(errs) > 0 && errs[0] != nil {
				return errs[0]
			}
			return nil
		}})
	e.must(e.dir.SeedStandardCOS(e.sys))
	return e
}

func subject(raw []byte) string {
	for _, l := range strings.Split(string(raw), "\r\n") {
		if s, ok := strings.CutPrefix(l, "Subject: "); ok {
			return s
		}
	}
	return ""
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// inbox returns the subjects of the messages in an account's INBOX.
func (e *env) inbox(address string) []string {
	e.t.Helper()
	acc, err := e.dir.GetAccount(e.sys, address)
	e.must(err)
	mb, err := e.store.Mailbox(e.sys, acc.ID, "INBOX")
	e.must(err)
	uids, err := e.store.UIDs(e.sys, mb.ID)
	e.must(err)
	var out []string
	if len(uids) == 0 {
		return nil
	}
	e.must(e.store.Messages(e.sys, mb.ID, uids, mailstore.WithHeader, func(m *mailstore.Message) error {
		out = append(out, subject(m.Header))
		return nil
	}))
	return out
}

func (e *env) tenant(name, contract, contact string, domains ...string) *directory.Tenant {
	e.t.Helper()
	t, err := e.dir.CreateTenant(e.sys, directory.TenantSpec{Name: name, ContactEmail: contact, Contract: contract})
	e.must(err)
	for _, d := range domains {
		_, err := e.dir.AddDomain(e.sys, name, d, directory.DomainOptions{})
		e.must(err)
	}
	return t
}

func (e *env) account(address, cos string) *directory.Account {
	e.t.Helper()
	a, err := e.dir.CreateAccount(e.sys, directory.AccountSpec{Address: address, Password: testPW, COS: cos})
	e.must(err)
	return a
}

func (e *env) price(cos, points, from string) {
	e.t.Helper()
	p, err := ParsePoints(points)
	e.must(err)
	_, err = e.bill.SetPrice(e.sys, cos, p, from)
	e.must(err)
}

func (e *env) verify() {
	e.t.Helper()
	problems, err := e.bill.Verify(e.sys)
	e.must(err)
	for _, p := range problems {
		e.t.Error(p)
	}
}

func (e *env) wallet(tenant string) *Wallet {
	e.t.Helper()
	w, err := e.bill.Balance(e.sys, tenant)
	e.must(err)
	return w
}

func (e *env) run(through string) *RunResult {
	e.t.Helper()
	r, err := e.bill.Run(e.sys, through)
	e.must(err)
	return r
}

// as returns a context acting as an administrator of a role.
func as(role directory.Role, tenantID int64) context.Context {
	return directory.WithActor(context.Background(), directory.Actor{Role: role, ID: 99, Name: "someone", TenantID: tenantID})
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
