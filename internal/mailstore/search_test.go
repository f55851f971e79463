package mailstore_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mailstore"
)

func TestTextAndHeaderSearch(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newStore(t, d)
		acc := newAccount(t, d, "s@example.test", 1<<30)
		other := newAccount(t, d, "o@example.test", 1<<30)
		inbox, _ := s.Mailbox(ctx, acc, "INBOX")
		otherInbox, _ := s.Mailbox(ctx, other, "INBOX")
		bodies := []string{"La città di Napoli", "un mare blu", "Niente di speciale", "PERCENT 100% sure_thing"}
		for i, b := range bodies {
			if _, err := s.Append(ctx, acc, inbox.ID, msg(i, b), 0, nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		s.Append(ctx, other, otherInbox.ID, msg(9, "Napoli also here"), 0, nil, time.Now())
		uids := func(m map[uint32]bool) []uint32 { return slices.Sorted(maps.Keys(m)) }
		tests := []struct {
			needle string
			where  int
			want   []uint32
		}{
			{"napoli", 0, []uint32{1}}, // index, case folded, other account's match not returned
			{"TTÀ DI", 0, []uint32{1}}, // non-ASCII, folded
			{"blu", 0, []uint32{2}},    // exactly three characters
			{"di", 0, []uint32{1, 3}},  // shorter than a trigram
			{"100%", 0, []uint32{4}},   // LIKE wildcards are literal
			{"e_t", 0, []uint32{4}},    // "_" is literal too
			{"r_t", 0, nil},
			{"test 2", 1, []uint32{3}}, // header only: Subject
			{"alice@example.test", 3, []uint32{1, 2, 3, 4}},
			{"nowhere", 3, nil},
		}
		for _, tt := range tests {
			where := tt.where
			if where == 0 {
				where = 2 // InBody
			}
			got, err := s.TextMatches(ctx, inbox.ID, tt.needle, where)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(uids(got), tt.want) {
				t.Errorf("%q in %d: %v, want %v", tt.needle, where, uids(got), tt.want)
			}
		}
		got, err := s.HeaderMatches(ctx, inbox.ID, "message-id", "<m2@")
		if err != nil || !slices.Equal(uids(got), []uint32{3}) {
			t.Errorf("header match: %v %v", uids(got), err)
		}
		if got, _ := s.HeaderMatches(ctx, inbox.ID, "X-Missing", ""); len(got) != 0 {
			t.Errorf("missing field matched %v", uids(got))
		}
		if u, err := s.FirstUnseen(ctx, inbox.ID); err != nil || u != 1 {
			t.Errorf("first unseen: %d %v", u, err)
		}
		s.StoreFlags(ctx, acc, inbox.ID, []uint32{1, 2}, mailstore.FlagsAdd, mailstore.FlagSeen, nil, 0)
		if u, err := s.FirstUnseen(ctx, inbox.ID); err != nil || u != 3 {
			t.Errorf("first unseen after \\Seen on 1 and 2: %d %v", u, err)
		}
		rows, err := s.SearchRows(ctx, inbox.ID)
		if err != nil || len(rows) != 4 || rows[0].Subject != "test 0" || rows[0].SentDate.IsZero() || rows[0].From != "Alice <alice@example.test>" {
			t.Fatalf("rows: %+v %v", rows, err)
		}
	})
}

// Envelopes come from the compact column, or from the full metadata for messages stored
// before the column existed.
func TestEnvelopeColumnAndFallback(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newStore(t, d)
		acc := newAccount(t, d, "e@example.test", 1<<30)
		inbox, _ := s.Mailbox(ctx, acc, "INBOX")
		for i := 0; i < 2; i++ {
			if _, err := s.Append(ctx, acc, inbox.ID, msg(i, "x"), 0, nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.ExecContext(ctx, `UPDATE blob_meta SET envelope = NULL WHERE blob_id = (SELECT blob_id FROM messages WHERE uid = 2)`); err != nil {
			t.Fatal(err)
		}
		var subjects []string
		err := s.Messages(ctx, inbox.ID, nil, mailstore.WithEnvelope, func(m *mailstore.Message) error {
			subjects = append(subjects, m.Envelope.Subject+" "+m.Envelope.From[0].Mailbox)
			return nil
		})
		if err != nil || !slices.Equal(subjects, []string{"test 0 alice", "test 1 alice"}) {
			t.Fatalf("%q %v", subjects, err)
		}
	})
}

func TestUIDRuns(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newStore(t, d)
		acc := newAccount(t, d, "r@example.test", 1<<30)
		inbox, _ := s.Mailbox(ctx, acc, "INBOX")
		if runs, err := s.UIDRuns(ctx, inbox.ID); err != nil || len(runs) != 0 {
			t.Fatalf("empty: %v %v", runs, err)
		}
		for i := 0; i < 8; i++ {
			s.Append(ctx, acc, inbox.ID, msg(i, "x"), 0, nil, time.Now())
		}
		if runs, err := s.UIDRuns(ctx, inbox.ID); err != nil || !slices.Equal(runs, [][2]uint32{{1, 8}}) {
			t.Fatalf("without gaps: %v %v", runs, err)
		}
		s.Delete(ctx, acc, inbox.ID, []uint32{3, 6, 7})
		runs, err := s.UIDRuns(ctx, inbox.ID)
		if err != nil || !slices.Equal(runs, [][2]uint32{{1, 2}, {4, 5}, {8, 8}}) {
			t.Fatalf("runs %v %v", runs, err)
		}
		// Five left from 1 to 8: the bounds alone would say 1-8.
		s.Delete(ctx, acc, inbox.ID, []uint32{1, 8})
		if runs, err := s.UIDRuns(ctx, inbox.ID); err != nil || !slices.Equal(runs, [][2]uint32{{2, 2}, {4, 5}}) {
			t.Fatalf("after deleting the ends: %v %v", runs, err)
		}
		if runs, err := s.UIDRuns(ctx, 1<<40); err != nil || runs != nil {
			t.Fatalf("no such mailbox: %v %v", runs, err)
		}
	})
}

// searchUIDs runs a search and returns the UIDs found, in order.
func searchUIDs(t *testing.T, s *mailstore.Store, mailboxID int64, c *mailstore.Cond) []uint32 {
	t.Helper()
	hits, err := s.Search(context.Background(), mailboxID, c)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint32
	for _, h := range hits {
		got = append(got, h.UID)
	}
	return got
}

func TestSearchConditions(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newStore(t, d)
		acc := newAccount(t, d, "q@example.test", 1<<30)
		inbox, _ := s.Mailbox(ctx, acc, "INBOX")
		for i := 0; i < 6; i++ {
			s.Append(ctx, acc, inbox.ID, msg(i, fmt.Sprintf("body %d Città", i)), 0, []string{"$Tag" + fmt.Sprint(i%2)}, time.UnixMilli(int64(1000+i)))
		}
		s.StoreFlags(ctx, acc, inbox.ID, []uint32{2, 4}, mailstore.FlagsAdd, mailstore.FlagSeen, nil, 0)
		seen := &mailstore.Cond{Op: mailstore.CondFlagSet, Flags: mailstore.FlagSeen}
		tests := []struct {
			name string
			c    *mailstore.Cond
			want []uint32
		}{
			{"all", &mailstore.Cond{Op: mailstore.CondAll}, []uint32{1, 2, 3, 4, 5, 6}},
			{"seen", seen, []uint32{2, 4}},
			{"not seen", &mailstore.Cond{Op: mailstore.CondNot, Kids: []*mailstore.Cond{seen}}, []uint32{1, 3, 5, 6}},
			{"keyword", &mailstore.Cond{Op: mailstore.CondKeyword, Text: "$tag1"}, []uint32{2, 4, 6}},
			{"subject", &mailstore.Cond{Op: mailstore.CondContains, Field: "subject", Text: "TEST 3"}, []uint32{4}},
			{"from or uid", &mailstore.Cond{Op: mailstore.CondOr, Kids: []*mailstore.Cond{
				{Op: mailstore.CondContains, Field: "from", Text: "nobody"}, {Op: mailstore.CondUIDs, Ranges: [][2]uint32{{5, 6}}}}}, []uint32{5, 6}},
			{"body text", &mailstore.Cond{Op: mailstore.CondText, Text: "body 5", Where: mailstore.InBody}, []uint32{6}},
			{"internal date", &mailstore.Cond{Op: mailstore.CondInternalDate, From: 1002, To: 1004}, []uint32{3, 4}},
			{"sent date", &mailstore.Cond{Op: mailstore.CondSentDate, To: 1}, nil},
			{"size", &mailstore.Cond{Op: mailstore.CondAnd, Kids: []*mailstore.Cond{{Op: mailstore.CondLarger, Num: 10}, {Op: mailstore.CondModSeq, Num: 1}}}, []uint32{1, 2, 3, 4, 5, 6}},
		}
		for _, tt := range tests {
			if got := searchUIDs(t, s, inbox.ID, tt.c); !slices.Equal(got, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			}
		}
	})
}

// TestSearchFoldsUnicode: substrings beyond ASCII match whatever their case, in a decoded
// header field (the subject, written raw in UTF-8 or as an encoded word) and, on SQLite, in the
// raw header block, whose LIKE folds ASCII letters only. On PostgreSQL the raw block is searched
// with its bytes beyond ASCII escaped: a needle beyond ASCII finds nothing there.
func TestSearchFoldsUnicode(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newStore(t, d)
		acc := newAccount(t, d, "u@example.test", 1<<30)
		inbox, _ := s.Mailbox(ctx, acc, "INBOX")
		for _, subject := range []string{"Riunione a Città di Castello", "=?utf-8?q?Gita_in_CITT=C3=80?=", "Nulla da vedere"} {
			raw := []byte("From: a@example.test\r\nSubject: " + subject + "\r\n\r\ncorpo\r\n")
			if _, err := s.Append(ctx, acc, inbox.ID, raw, 0, nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		headerHits := []uint32{1}
		if d.Engine == db.Postgres {
			headerHits = nil
		}
		for _, tt := range []struct {
			name string
			c    *mailstore.Cond
			want []uint32
		}{
			{"subject", &mailstore.Cond{Op: mailstore.CondContains, Field: "subject", Text: "CITTÀ"}, []uint32{1, 2}},
			{"subject, lower case", &mailstore.Cond{Op: mailstore.CondContains, Field: "subject", Text: "città"}, []uint32{1, 2}},
			{"subject, not there", &mailstore.Cond{Op: mailstore.CondContains, Field: "subject", Text: "ÀÀ"}, nil},
			{"raw header", &mailstore.Cond{Op: mailstore.CondText, Text: "CITTÀ DI", Where: mailstore.InHeader}, headerHits},
		} {
			if got := searchUIDs(t, s, inbox.ID, tt.c); !slices.Equal(got, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			}
		}
		got, err := s.TextMatches(ctx, inbox.ID, "città di", mailstore.InHeader)
		if err != nil || len(got) != len(headerHits) {
			t.Errorf("TextMatches in headers: %v %v, want %v", got, err, headerHits)
		}
	})
}
