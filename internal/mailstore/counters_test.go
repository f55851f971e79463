package mailstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mailstore"
)

// TestMailboxCounters: a mailbox's counters (messages, unseen, size) equal what its rows say
// after every kind of change: delivery, APPEND, flags, COPY, MOVE, EXPUNGE, deletion of a
// message, renaming INBOX. SELECT and STATUS answer from the counters.
func TestMailboxCounters(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newStore(t, d)
		acc := newAccount(t, d, "counters@x.test", 1<<30)
		inbox, err := s.Mailbox(ctx, acc, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.CreateMailbox(ctx, acc, "Archivio", "")
		if err != nil {
			t.Fatal(err)
		}
		ids := []int64{inbox.ID, other.ID}
		check := func(step string) {
			t.Helper()
			for _, id := range ids {
				mb, err := s.MailboxByID(ctx, acc, id)
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				var n, unseen, size int64
				err = d.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN flags & ? = 0 THEN 1 ELSE 0 END), 0), COALESCE(SUM(size), 0) FROM messages WHERE mailbox_id = ?`,
					int64(mailstore.FlagSeen), id).Scan(&n, &unseen, &size)
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if mb.Messages != n || mb.Unseen != unseen || mb.Size != size {
					t.Errorf("%s, %s: counters %d messages, %d unseen, %d bytes; rows %d, %d, %d", step, mb.Name, mb.Messages, mb.Unseen, mb.Size, n, unseen, size)
				}
			}
		}
		uids := func(id int64) []uint32 {
			t.Helper()
			u, err := s.UIDs(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		for i := range 6 {
			raw := []byte(fmt.Sprintf("From: a@example.org\r\nSubject: %d\r\nMessage-ID: <c%d@example.org>\r\n\r\n%s\r\n", i, i, make([]byte, 100*i)))
			if _, err := s.Append(ctx, acc, inbox.ID, raw, 0, nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Deliver(ctx, &mailstore.Delivery{Raw: []byte("Subject: delivered\r\n\r\nhi\r\n"), Targets: []mailstore.Target{{AccountID: acc}}}); err != nil {
			t.Fatal(err)
		}
		check("appended and delivered")
		u := uids(inbox.ID)
		if _, _, err := s.StoreFlags(ctx, acc, inbox.ID, u[:3], mailstore.FlagsAdd, mailstore.FlagSeen, nil, 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.StoreFlags(ctx, acc, inbox.ID, u[1:2], mailstore.FlagsRemove, mailstore.FlagSeen, nil, 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.StoreFlags(ctx, acc, inbox.ID, u[5:], mailstore.FlagsReplace, mailstore.FlagSeen|mailstore.FlagDeleted, nil, 0); err != nil {
			t.Fatal(err)
		}
		check("flags")
		if _, err := s.Copy(ctx, acc, inbox.ID, other.ID, u[:2], false); err != nil {
			t.Fatal(err)
		}
		check("copied")
		if _, err := s.Copy(ctx, acc, inbox.ID, other.ID, u[2:4], true); err != nil {
			t.Fatal(err)
		}
		check("moved")
		if _, err := s.Expunge(ctx, acc, inbox.ID, uids(inbox.ID)); err != nil {
			t.Fatal(err)
		}
		check("expunged")
		if _, err := s.Delete(ctx, acc, other.ID, uids(other.ID)[:1]); err != nil {
			t.Fatal(err)
		}
		check("deleted")
		if err := s.RenameMailbox(ctx, acc, "INBOX", "Vecchia INBOX"); err != nil {
			t.Fatal(err)
		}
		renamed, err := s.Mailbox(ctx, acc, "Vecchia INBOX")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, renamed.ID)
		check("INBOX renamed")
	})
}
