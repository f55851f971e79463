package queue_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

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

// Settle records many outcomes in one transaction: delivered and failed entries leave the
// queue for the log with their attempt, a deferred one waits with its error, and an entry an
// operator deleted meanwhile is skipped without failing the others.
func TestSettle(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b, err := blob.Open(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		q := queue.New(d, b)
		rcpts := []string{"ok@remote.test", "bad@remote.test", "later@remote.test", "gone@remote.test"}
		if err := q.Enqueue(ctx, "a@posta.test", rcpts, []byte("Subject: x\r\nMessage-ID: <s1@posta.test>\r\n\r\nx\r\n"), 0); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		items, err := q.Claim(ctx, now, 10, time.Minute)
		if err != nil || len(items) != 4 {
			t.Fatalf("claim: %d %v", len(items), err)
		}
		id := map[string]int64{}
		for _, it := range items {
			id[it.To] = it.ID
		}
		if err := q.Finish(ctx, id["gone@remote.test"], "deleted", "deleted by admin"); err != nil {
			t.Fatal(err)
		}
		next := now.Add(5 * time.Minute)
		outs := []queue.Outcome{
			{ID: id["ok@remote.test"], Attempt: queue.Attempt{At: 1, Host: "mx", Code: 250, Response: "delivered"}, Status: "delivered", Response: "250 delivered to mx"},
			{ID: id["bad@remote.test"], Attempt: queue.Attempt{At: 1, Host: "mx", Code: 550, Response: "550 5.1.1 no"}, Status: "failed", Response: "550 5.1.1 no"},
			{ID: id["later@remote.test"], Attempt: queue.Attempt{At: 1, Host: "mx", Code: 451, Response: "451 4.3.0 later"}, Status: "deferred", Response: "451 4.3.0 later", Next: next, DelayWarned: true},
			{ID: id["gone@remote.test"], Attempt: queue.Attempt{At: 1, Host: "mx", Code: 250}, Status: "delivered", Response: "250 delivered to mx"},
		}
		if err := q.Settle(ctx, outs); err != nil {
			t.Fatal(err)
		}
		tr, err := q.Trace(ctx, "s1@posta.test", 10)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range tr {
			got[e.To] = fmt.Sprintf("%s %d", e.Status, len(e.Attempts))
		}
		want := map[string]string{"ok@remote.test": "delivered 1", "bad@remote.test": "failed 1", "later@remote.test": "queued 1", "gone@remote.test": "deleted 1"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("trace %v, want %v", got, want)
		}
		det, err := q.Show(ctx, id["later@remote.test"])
		if err != nil || det.Entry.Attempts != 1 || det.LastError != "451 4.3.0 later" || det.NextTry != next.UnixMilli() {
			t.Errorf("deferred entry: %+v %v", det, err)
		}
		if again, err := q.Claim(ctx, next, 10, time.Minute); err != nil || len(again) != 1 || !again[0].DelayWarned {
			t.Errorf("claim after the wait: %+v %v", again, err)
		}
		var refs int
		if err := d.QueryRowContext(ctx, `SELECT refs FROM blobs`).Scan(&refs); err != nil || refs != 1 {
			t.Errorf("blob refs %d %v, want 1 (the deferred entry)", refs, err)
		}
		if err := q.Settle(ctx, []queue.Outcome{{ID: id["later@remote.test"], Status: "bounced"}}); err == nil {
			t.Error("an unknown outcome was accepted")
		}
	})
}
