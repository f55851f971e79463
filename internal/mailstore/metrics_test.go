package mailstore_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/observe"
)

// histogram returns the number of observations of a histogram without labels and their sum.
func histogram(t *testing.T, h prometheus.Histogram) (count uint64, sum float64) {
	t.Helper()
	r := prometheus.NewPedanticRegistry()
	r.MustRegister(h)
	mfs, err := r.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gather: %v, %d families", err, len(mfs))
	}
	s := mfs[0].GetMetric()[0].GetHistogram()
	return s.GetSampleCount(), s.GetSampleSum()
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
		m := observe.NewMetrics()
		s := mailstore.New(d, b, changes.New(), mailstore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Observer: m})
		defer s.Close()
		acc := newAccount(t, d, "a@x.test", 1<<30)
		full := newAccount(t, d, "full@x.test", 10)

		// One delivery to two mailboxes, one of them over quota: one commit of one delivery.
		start := time.Now()
		if _, err := s.Deliver(ctx, &mailstore.Delivery{Raw: msg(1, "x"), Targets: []mailstore.Target{{AccountID: acc}, {AccountID: full}}}); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start).Seconds()
		if n, sum := histogram(t, m.CommitBatch); n != 1 || sum != 1 {
			t.Fatalf("after one delivery: %d commits of %v deliveries, want 1 of 1", n, sum)
		}
		if n, sum := histogram(t, m.CommitSeconds); n != 1 || sum <= 0 || sum > took {
			t.Fatalf("after one delivery: %d durations summing %vs, want 1 in (0, %v]", n, sum, took)
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
		n, sum := histogram(t, m.CommitBatch)
		if sum != 8 || n < 2 || n > 8 {
			t.Fatalf("after 8 deliveries: %d commits of %v deliveries in all", n, sum)
		}
		if nd, _ := histogram(t, m.CommitSeconds); nd != n {
			t.Fatalf("%d commit durations for %d commits", nd, n)
		}
	})
}
