package mailstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mailstore"
)

// TestListingFollowsChanges: a metadata listing (rows and envelopes) of a whole mailbox is kept
// for the next one, and every change to the mailbox — flags, keywords, new mail, expunge, a
// copy in — shows in the listings after it, whole or in part.
func TestListingFollowsChanges(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newStore(t, d)
		acc := newAccount(t, d, "list@x.test", 1<<30)
		inbox, err := s.Mailbox(ctx, acc, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		other, err := s.CreateMailbox(ctx, acc, "Other", "")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, err := s.Append(ctx, acc, inbox.ID, msg(i, "body"), 0, nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Append(ctx, acc, other.ID, msg(99, "elsewhere"), 0, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		// With WithRowID the listing is read from the database, never from the cache: the truth.
		listWith := func(f mailstore.Fields, uids []uint32) string {
			t.Helper()
			var out []string
			err := s.Messages(ctx, inbox.ID, uids, f, func(m *mailstore.Message) error {
				out = append(out, fmt.Sprintf("%d%v%s", m.UID, m.FlagNames(), m.Envelope.Subject))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprint(out)
		}
		list := func(uids []uint32) string { return listWith(mailstore.WithEnvelope, uids) }
		truth := func(uids []uint32) string { return listWith(mailstore.WithEnvelope|mailstore.WithRowID, uids) }
		check := func(step string) {
			t.Helper()
			for _, uids := range [][]uint32{nil, {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}, {100}} {
				for range 2 { // the second listing comes from the cache when the first filled it
					if got, want := list(uids), truth(uids); got != want {
						t.Fatalf("%s, UIDs %v: listed %s, want %s", step, uids, got, want)
					}
				}
			}
		}
		check("appended")
		if _, _, err := s.StoreFlags(ctx, acc, inbox.ID, []uint32{2}, mailstore.FlagsAdd, mailstore.FlagSeen, nil, 0); err != nil {
			t.Fatal(err)
		}
		check("flag added")
		if _, _, err := s.StoreFlags(ctx, acc, inbox.ID, []uint32{3}, mailstore.FlagsAdd, 0, []string{"$Label1"}, 0); err != nil {
			t.Fatal(err)
		}
		check("keyword added")
		if _, err := s.Append(ctx, acc, inbox.ID, msg(6, "new"), 0, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		check("new message")
		if _, _, err := s.StoreFlags(ctx, acc, inbox.ID, []uint32{4}, mailstore.FlagsAdd, mailstore.FlagDeleted, nil, 0); err != nil {
			t.Fatal(err)
		}
		if gone, err := s.Expunge(ctx, acc, inbox.ID, []uint32{4}); err != nil || !slices.Equal(gone, []uint32{4}) {
			t.Fatalf("expunge: %v %v", gone, err)
		}
		check("expunged")
		if _, err := s.Copy(ctx, acc, other.ID, inbox.ID, []uint32{1}, false); err != nil {
			t.Fatal(err)
		}
		check("copied in")
		if got := list(nil); got == "[]" {
			t.Fatal("empty listing")
		}
	})
}
