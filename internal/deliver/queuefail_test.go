package deliver_test

import (
	"errors"
	"testing"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
)

// TestQueueFailsAfterLocalDelivery: when the outbound queue refuses a message already stored
// for local recipients, Deliver does not fail it whole (a new try would store the local copies
// again): the recipients that had only the queue fail with ErrNotQueued, the others are
// delivered once. With no local copy stored, the whole message fails, to be tried again.
func TestQueueFailsAfterLocalDelivery(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx := f.ctx
		yes, no := true, false
		for _, a := range []struct {
			addr string
			fwd  []string
			keep *bool
		}{
			{"alice@x.test", nil, nil},
			{"away@x.test", []string{"away@example.org"}, &no},
			{"both@x.test", []string{"both@example.org"}, &yes},
		} {
			_, err := f.dir.CreateAccount(ctx, directory.AccountSpec{Address: a.addr, Password: "Correct-Horse-42", COS: "Business Mail 100 MB"})
			must(t, err)
			if a.fwd != nil {
				_, err := f.dir.UpdateAccount(ctx, a.addr, directory.AccountUpdate{ForwardTo: &a.fwd, ForwardKeep: a.keep})
				must(t, err)
			}
		}
		// The queue's table gone: every enqueue fails as a database would.
		_, err := d.ExecContext(ctx, `ALTER TABLE queue RENAME TO queue_away`)
		must(t, err)

		raw := []byte("From: <a@example.org>\r\nSubject: q\r\nMessage-ID: <q@example.org>\r\n\r\nbody\r\n")
		rcpts := []string{"alice@x.test", "friend@example.org", "away@x.test", "both@x.test"}
		errs, err := f.dl.Deliver(ctx, &deliver.Envelope{From: "a@example.org", Rcpts: rcpts, Raw: raw})
		if err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		for i, want := range []bool{false, true, true, false} {
			if got := errors.Is(errs[i], deliver.ErrNotQueued); got != want || (!want && errs[i] != nil) {
				t.Errorf("%s: %v, want ErrNotQueued %v", rcpts[i], errs[i], want)
			}
		}
		count := func(addr string) int {
			t.Helper()
			acc, err := f.dir.GetAccount(ctx, addr)
			must(t, err)
			inbox, err := f.st.Mailbox(ctx, acc.ID, "INBOX")
			must(t, err)
			n := 0
			must(t, f.st.Messages(ctx, inbox.ID, nil, 0, func(*mailstore.Message) error { n++; return nil }))
			return n
		}
		for addr, want := range map[string]int{"alice@x.test": 1, "both@x.test": 1, "away@x.test": 0} {
			if n := count(addr); n != want {
				t.Errorf("%s holds %d messages, want %d", addr, n, want)
			}
		}

		// Remote recipients only: nothing stored, the whole message fails.
		if _, err := f.dl.Deliver(ctx, &deliver.Envelope{From: "a@example.org", Rcpts: []string{"friend@example.org", "away@x.test"}, Raw: raw}); err == nil {
			t.Error("a message for the queue alone was accepted without the queue")
		}
	})
}
