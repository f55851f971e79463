package mailstore_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mailstore"
)

// commits records what the store reports of its group commits.
type commits struct {
	mu    sync.Mutex
	sizes []int
	took  []time.Duration
}

func (c *commits) Committed(n int, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sizes = append(c.sizes, n)
	c.took = append(c.took, took)
}

// seen returns how many commits were reported, the deliveries they carried and their longest
// duration.
func (c *commits) seen() (n, deliveries int, longest time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.sizes {
		deliveries += s
		longest = max(longest, c.took[i])
	}
	return len(c.sizes), deliveries, longest
}

// Every group commit is observed once, with the number of deliveries it carried and its
// duration, before the callers get their answer.
func TestCommitObserved(t *testing.T) {
	ctx := context.Background()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		b, err := blob.Open(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		obs := &commits{}
		s := mailstore.New(d, b, changes.New(), mailstore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Observer: obs})
		defer s.Close()
		acc := newAccount(t, d, "a@x.test", 1<<30)
		full := newAccount(t, d, "full@x.test", 10)

		// One delivery to two mailboxes, one of them over quota: one commit of one delivery.
		start := time.Now()
		if _, err := s.Deliver(ctx, &mailstore.Delivery{Raw: msg(1, "x"), Targets: []mailstore.Target{{AccountID: acc}, {AccountID: full}}}); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if n, deliveries, longest := obs.seen(); n != 1 || deliveries != 1 || longest <= 0 || longest > took {
			t.Fatalf("after one delivery: %d commits of %d deliveries, longest %v; want 1 of 1 in (0, %v]", n, deliveries, longest, took)
		}

		// Seven messages appended at once: committed in one or more batches, all counted.
		msgs := make([]mailstore.AppendMessage, 7)
		for i := range msgs {
			msgs[i] = mailstore.AppendMessage{Raw: msg(10+i, "y")}
		}
		inbox, err := s.Mailbox(ctx, acc, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendMany(ctx, acc, inbox.ID, msgs); err != nil {
			t.Fatal(err)
		}
		if n, deliveries, _ := obs.seen(); deliveries != 8 || n < 2 || n > 8 {
			t.Fatalf("after 8 deliveries: %d commits of %d deliveries in all", n, deliveries)
		}
	})
}
