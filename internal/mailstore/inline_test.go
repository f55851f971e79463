package mailstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mailstore"
)

// TestInlineBodies: bodies up to the inline limit are kept in the database and have no file,
// larger ones are files; both read back byte for byte, verify, and go with a sweep once
// expunged. A body that exists as a file already gets its inline copy too, so that it does not
// depend on the file.
func TestInlineBodies(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b, err := blob.Open(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		s := mailstore.New(d, b, changes.New(), mailstore.Options{InlineMax: 4096, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		defer s.Close()
		acc := newAccount(t, d, "inline@x.test", 1<<30)
		inbox, err := s.Mailbox(ctx, acc, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			raw    []byte
			isFile bool
		}{
			{"small", msg(1, "short"), false},
			{"at the limit", nil, false},
			{"above the limit", msg(3, strings.Repeat("x", 5000)), true},
		}
		base := msg(2, "")
		tests[1].raw = msg(2, strings.Repeat("y", 4096-len(base)))
		if len(tests[1].raw) != 4096 {
			t.Fatalf("at the limit: %d bytes", len(tests[1].raw))
		}
		var uids []uint32
		for _, tc := range tests {
			res, err := s.Append(ctx, acc, inbox.ID, tc.raw, 0, nil, time.Now())
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			uids = append(uids, res.UID)
			key := blob.RefOf(tc.raw).Key
			_, statErr := b.Stat(ctx, key)
			if isFile := statErr == nil; isFile != tc.isFile {
				t.Errorf("%s: file %v, want %v (%v)", tc.name, isFile, tc.isFile, statErr)
			}
			r, err := s.OpenBody(ctx, key)
			if err != nil {
				t.Fatalf("%s: open: %v", tc.name, err)
			}
			got, _ := io.ReadAll(r)
			r.Close()
			if !bytes.Equal(got, tc.raw) {
				t.Errorf("%s: body differs", tc.name)
			}
		}
		verifyClean(t, s)

		// A body stored as a file first (as the outbound queue does), then delivered: readable
		// after its file is gone.
		shared := msg(4, "queued and delivered")
		ref, err := b.Put(ctx, bytes.NewReader(shared))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.ExecContext(ctx, `INSERT INTO blobs (key, size, refs, created_at) VALUES (?, ?, 0, ?)`, ref.Key, ref.Size, db.Now()); err != nil {
			t.Fatal(err)
		}
		res, err := s.Append(ctx, acc, inbox.ID, shared, 0, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, res.UID)
		if err := b.Remove(ctx, ref.Key); err != nil {
			t.Fatal(err)
		}
		r, err := s.OpenBody(ctx, ref.Key)
		if err != nil {
			t.Fatalf("body whose file is gone: %v", err)
		}
		r.Close()
		verifyClean(t, s)

		if _, err := s.Delete(ctx, acc, inbox.ID, uids); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Sweep(ctx, 0); err != nil || n != 4 {
			t.Fatalf("sweep removed %d (%v), want 4", n, err)
		}
		for _, tc := range tests {
			if _, err := s.OpenBody(ctx, blob.RefOf(tc.raw).Key); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("%s after the sweep: %v", tc.name, err)
			}
		}
		verifyClean(t, s)
	})
}

// TestMessageCapInCommit: the class of service's message cap holds inside the commit, so
// deliveries arriving together cannot pass it.
func TestMessageCapInCommit(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newStore(t, d)
		acc := newAccount(t, d, "cap@x.test", 1<<30)
		if _, err := d.ExecContext(ctx, `UPDATE cos SET max_messages = 3 WHERE id = (SELECT cos_id FROM accounts WHERE id = ?)`, acc); err != nil {
			t.Fatal(err)
		}
		ds := make([]*mailstore.Delivery, 5)
		for i := range ds {
			ds[i] = &mailstore.Delivery{Raw: msg(i, "capped"), Targets: []mailstore.Target{{AccountID: acc}}}
		}
		res, err := s.DeliverMany(ctx, ds)
		if err != nil {
			t.Fatal(err)
		}
		stored, over := 0, 0
		for _, r := range res {
			switch {
			case r.Err != nil:
				t.Fatal(r.Err)
			case r.Results[0].Err == nil:
				stored++
			case errors.Is(r.Results[0].Err, mailstore.ErrOverQuota):
				over++
			default:
				t.Fatal(r.Results[0].Err)
			}
		}
		if stored != 3 || over != 2 {
			t.Fatalf("%d stored, %d over the cap; want 3 and 2", stored, over)
		}
		// A system message (IgnoreQuota) still gets in.
		r, err := s.Deliver(ctx, &mailstore.Delivery{Raw: msg(9, "warning"), Targets: []mailstore.Target{{AccountID: acc, IgnoreQuota: true}}})
		if err != nil || r[0].Err != nil {
			t.Fatalf("system message: %v %v", err, r)
		}
		verifyClean(t, s)
	})
}
