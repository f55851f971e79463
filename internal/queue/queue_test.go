package queue_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/queue"
)

// An entry's id is never handed out again, even after the queue empties: the log and the
// attempts are keyed by it.
func TestIDsNotReused(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b, err := blob.Open(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		q := queue.New(d, b)
		var last int64
		for i := range 3 {
			if err := q.EnqueueRequireTLS(ctx, "a@posta.test", []string{"b@remote.test"}, []byte("Subject: x\r\n\r\nx\r\n"), 0, i == 1); err != nil {
				t.Fatal(err)
			}
			list, err := q.List(ctx, 10)
			if err != nil || len(list) != 1 || list[0].ID <= last {
				t.Fatalf("round %d: %+v %v (last id %d)", i, list, err, last)
			}
			last = list[0].ID
			det, err := q.Show(ctx, last)
			if err != nil || det.RequireTLS != (i == 1) {
				t.Fatalf("round %d: show %+v %v", i, det, err)
			}
			if err := q.RecordAttempt(ctx, last, queue.Attempt{At: 1, Host: "h", Policy: "dane", TLSResult: "verified (DANE-EE 3 1 1)", Code: 250}); err != nil {
				t.Fatal(err)
			}
			if err := q.Finish(ctx, last, "delivered", "250 ok"); err != nil {
				t.Fatalf("round %d: finish: %v", i, err)
			}
			tr, err := q.Trace(ctx, "b@remote.test", 10)
			if err != nil || len(tr) != i+1 || len(tr[0].Attempts) != 1 || tr[0].Attempts[0].Policy != "dane" {
				t.Fatalf("round %d: trace %+v %v", i, tr, err)
			}
		}
	})
}
