package deliver_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/queue"
)

// fixture is a deliverer over a fresh store and directory, with the standard classes of
// service and a tenant "t" hosting x.test.
type fixture struct {
	ctx context.Context // the system as actor
	dir *directory.Service
	st  *mailstore.Store
	dl  *deliver.Deliverer
}

func newFixture(tb testing.TB, d *db.DB) *fixture {
	tb.Helper()
	ctx := directory.WithActor(context.Background(), directory.SystemActor("test"))
	bs, err := blob.Open(filepath.Join(tb.TempDir(), "blobs"))
	must(tb, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := mailstore.New(d, bs, changes.New(), mailstore.Options{Logger: log})
	tb.Cleanup(func() { st.Close() })
	dir := directory.New(d, auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		directory.Options{OnAccountCreated: mailstore.CreateDefaultMailboxes})
	must(tb, dir.SeedStandardCOS(ctx))
	_, err = dir.CreateTenant(ctx, directory.TenantSpec{Name: "t", ContactEmail: "c@x.test", Contract: "payg"})
	must(tb, err)
	_, err = dir.AddDomain(ctx, "t", "x.test", directory.DomainOptions{})
	must(tb, err)
	return &fixture{ctx: ctx, dir: dir, st: st, dl: deliver.New(dir, st, queue.New(d, bs), "mx.test", log)}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
