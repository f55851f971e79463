package mailstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mailstore"
)

// newStore opens a store over d with a fresh blob directory.
func newStore(t testing.TB, d *db.DB) *mailstore.Store {
	t.Helper()
	b, err := blob.Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	s := mailstore.New(d, b, changes.New(), mailstore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { s.Close() })
	return s
}

// newAccount inserts the minimal directory rows for one account with the given quota and
// creates its default mailboxes, as the directory does.
func newAccount(t testing.TB, d *db.DB, address string, quota int64) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	err := d.WriteTx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		cos, err := tx.InsertID(ctx, `INSERT INTO cos (name, service_type, quota_bytes, features, protocols, created_at) VALUES (?, 'custom', ?, 1, 255, ?)`, "cos "+address, quota, now)
		if err != nil {
			return err
		}
		ten, err := tx.InsertID(ctx, `INSERT INTO tenants (name, contact_email, contract, status, created_at, updated_at) VALUES (?, 'c@x.test', 'payg', 'active', ?, ?)`, "t "+address, now, now)
		if err != nil {
			return err
		}
		dom, err := tx.InsertID(ctx, `INSERT INTO domains (tenant_id, name, created_at) VALUES (?, ?, ?)`, ten, "d"+fmt.Sprint(ten)+".test", now)
		if err != nil {
			return err
		}
		id, err = tx.InsertID(ctx, `INSERT INTO accounts (tenant_id, domain_id, address, password_hash, cos_id, status, created_at, updated_at) VALUES (?, ?, ?, 'x', ?, 'active', ?, ?)`,
			ten, dom, address, cos, now, now)
		if err != nil {
			return err
		}
		return mailstore.CreateDefaultMailboxes(ctx, tx, id)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func msg(i int, body string) []byte {
	return []byte(fmt.Sprintf("From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: test %d\r\nMessage-ID: <m%d@example.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n%s\r\n", i, i, body))
}

func verifyClean(t *testing.T, s *mailstore.Store) {
	t.Helper()
	problems, err := s.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("store does not verify:\n%v", problems)
	}
}

func TestDefaultMailboxes(t *testing.T) {
	ctx := context.Background()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		s := newStore(t, d)
		acc := newAccount(t, d, "a@x.test", 1<<30)
		mbs, err := s.Mailboxes(ctx, acc)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, m := range mbs {
			got[m.Name] = m.SpecialUse
			if m.UIDValidity == 0 || m.UIDNext != 1 {
				t.Errorf("%s: uidvalidity %d uidnext %d", m.Name, m.UIDValidity, m.UIDNext)
			}
		}
		want := map[string]string{"INBOX": "", "Sent": `\Sent`, "Drafts": `\Drafts`, "Trash": `\Trash`, "Junk": `\Junk`, "Archive": `\Archive`}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("mailboxes %v, want %v", got, want)
		}
		if m, err := s.MailboxBySpecialUse(ctx, acc, mailstore.UseJunk); err != nil || m.Name != "Junk" {
			t.Fatalf("junk: %v %v", m, err)
		}
	})
}

func TestDeliverOneBlobManyTargets(t *testing.T) {
	ctx := context.Background()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		s := newStore(t, d)
		var targets []mailstore.Target
		for i := 0; i < 20; i++ {
			targets = append(targets, mailstore.Target{AccountID: newAccount(t, d, fmt.Sprintf("u%d@x.test", i), 1<<20)})
		}
		raw := msg(1, "hello")
		res, err := s.Deliver(ctx, &mailstore.Delivery{Raw: raw, Targets: targets})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil || r.UID != 1 || r.UsedAfter != int64(len(raw)) {
				t.Fatalf("target %d: %+v", i, r)
			}
		}
		var blobs, refs, msgs int
		if err := d.QueryRowContext(ctx, `SELECT COUNT(*), SUM(refs) FROM blobs`).Scan(&blobs, &refs); err != nil {
			t.Fatal(err)
		}
		d.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages`).Scan(&msgs)
		if blobs != 1 || refs != 20 || msgs != 20 {
			t.Fatalf("blobs %d refs %d messages %d; want 1, 20, 20", blobs, refs, msgs)
		}
		var text string
		if err := d.QueryRowContext(ctx, `SELECT text FROM blob_text`).Scan(&text); err != nil || text != "hello\r\n" {
			t.Fatalf("search text %q (%v), want the body once", text, err)
		}
		verifyClean(t, s)
	})
}

func TestDeliverQuotaPerTarget(t *testing.T) {
	ctx := context.Background()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		s := newStore(t, d)
		raw := msg(1, "0123456789")
		small := newAccount(t, d, "small@x.test", int64(len(raw))+5)
		big := newAccount(t, d, "big@x.test", 1<<20)
		tests := []struct {
			name    string
			targets []mailstore.Target
			want    []error
		}{
			{"fits", []mailstore.Target{{AccountID: small}, {AccountID: big}}, []error{nil, nil}},
			{"small full", []mailstore.Target{{AccountID: small}, {AccountID: big}}, []error{mailstore.ErrOverQuota, nil}},
			{"system message ignores quota", []mailstore.Target{{AccountID: small, IgnoreQuota: true}}, []error{nil}},
			{"unknown mailbox", []mailstore.Target{{AccountID: big, Mailbox: "Nope"}}, []error{mailstore.ErrNoMailbox}},
			{"unknown account", []mailstore.Target{{AccountID: 9999}}, []error{mailstore.ErrNoAccount}},
		}
		for _, tt := range tests {
			res, err := s.Deliver(ctx, &mailstore.Delivery{Raw: raw, Targets: tt.targets})
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			for i, r := range res {
				if !errors.Is(r.Err, tt.want[i]) {
					t.Errorf("%s: target %d err %v, want %v", tt.name, i, r.Err, tt.want[i])
				}
			}
		}
		if _, err := s.Append(ctx, small, 0, raw, 0, nil, time.Now()); !errors.Is(err, mailstore.ErrNoMailbox) {
			t.Errorf("append to mailbox 0: %v", err)
		}
		inbox, _ := s.Mailbox(ctx, small, "inbox")
		if _, err := s.Append(ctx, small, inbox.ID, raw, 0, nil, time.Now()); !errors.Is(err, mailstore.ErrOverQuota) {
			t.Errorf("append over quota: %v", err)
		}
		q, err := s.Quota(ctx, small)
		if err != nil || q.Messages != 2 || q.UsedBytes != 2*int64(len(raw)) {
			t.Errorf("quota %+v %v", q, err)
		}
		verifyClean(t, s)
	})
}

func TestGroupCommitConcurrent(t *testing.T) {
	ctx := context.Background()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		s := newStore(t, d)
		acc := newAccount(t, d, "a@x.test", 1<<30)
		const workers, each = 8, 25
		var wg sync.WaitGroup
		var mu sync.Mutex
		var uids []uint32
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					res, err := s.Deliver(ctx, &mailstore.Delivery{Raw: msg(w*1000+i, "x"), Targets: []mailstore.Target{{AccountID: acc}}})
					if err != nil || res[0].Err != nil {
						t.Errorf("deliver: %v %v", err, res)
						return
					}
					mu.Lock()
					uids = append(uids, res[0].UID)
					mu.Unlock()
				}
			}(w)
		}
		wg.Wait()
		slices.Sort(uids)
		for i, u := range uids {
			if u != uint32(i+1) {
				t.Fatalf("uids not dense and unique: %v", uids)
			}
		}
		inbox, _ := s.Mailbox(ctx, acc, "INBOX")
		if inbox.Messages != workers*each || inbox.UIDNext != workers*each+1 || inbox.Unseen != workers*each {
			t.Fatalf("inbox %+v", inbox)
		}
		verifyClean(t, s)
	})
}

func TestFlagsExpungeAndChanges(t *testing.T) {
	ctx := context.Background()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		s := newStore(t, d)
		acc := newAccount(t, d, "a@x.test", 1<<30)
		inbox, _ := s.Mailbox(ctx, acc, "INBOX")
		sub := s.Bus().Subscribe(acc)
		defer sub.Close()
		for i := 1; i <= 5; i++ {
			if _, err := s.Append(ctx, acc, inbox.ID, msg(i, "body"), 0, nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-sub.C:
		default:
			t.Fatal("append did not publish a change")
		}
		before, _ := s.Mailbox(ctx, acc, "INBOX")
		changed, failed, err := s.StoreFlags(ctx, acc, inbox.ID, []uint32{1, 2, 3}, mailstore.FlagsAdd, mailstore.FlagSeen|mailstore.FlagDeleted, []string{"$Label1"}, 0)
		if err != nil || len(changed) != 3 || len(failed) != 0 {
			t.Fatalf("store: %v %v %v", changed, failed, err)
		}
		// Same change again is a no-op: no new modseq.
		again, _, _ := s.StoreFlags(ctx, acc, inbox.ID, []uint32{1, 2, 3}, mailstore.FlagsAdd, mailstore.FlagSeen, nil, 0)
		if len(again) != 0 {
			t.Fatalf("no-op store changed %v", again)
		}
		// UNCHANGEDSINCE below the current modseq fails for those messages.
		_, failed, _ = s.StoreFlags(ctx, acc, inbox.ID, []uint32{1, 4}, mailstore.FlagsAdd, mailstore.FlagFlagged, nil, before.HighestModSeq)
		if !slices.Equal(failed, []uint32{1}) {
			t.Fatalf("unchangedsince failed = %v, want [1]", failed)
		}
		ch, van, err := s.ChangedSince(ctx, inbox.ID, before.HighestModSeq)
		if err != nil || len(ch) != 4 || len(van) != 0 {
			t.Fatalf("changed since: %d %v %v", len(ch), van, err)
		}
		exp, err := s.Expunge(ctx, acc, inbox.ID, []uint32{2, 3, 4})
		if err != nil || !slices.Equal(exp, []uint32{2, 3}) {
			t.Fatalf("uid expunge = %v %v, want [2 3] (4 lacks \\Deleted)", exp, err)
		}
		exp, _ = s.Expunge(ctx, acc, inbox.ID, nil)
		if !slices.Equal(exp, []uint32{1}) {
			t.Fatalf("expunge = %v", exp)
		}
		_, van, _ = s.ChangedSince(ctx, inbox.ID, before.HighestModSeq)
		if !slices.Equal(van, []uint32{1, 2, 3}) {
			t.Fatalf("vanished = %v", van)
		}
		uids, _ := s.UIDs(ctx, inbox.ID)
		if !slices.Equal(uids, []uint32{4, 5}) {
			t.Fatalf("uids = %v", uids)
		}
		var got []string
		err = s.Messages(ctx, inbox.ID, []uint32{5}, mailstore.WithHeader|mailstore.WithMeta, func(m *mailstore.Message) error {
			got = append(got, m.Parsed.Subject)
			if len(m.Header) == 0 || m.Parsed.Envelope.From[0].Mailbox != "alice" {
				t.Errorf("header/meta not loaded: %+v", m)
			}
			return nil
		})
		if err != nil || !slices.Equal(got, []string{"test 5"}) {
			t.Fatalf("messages: %v %v", got, err)
		}
		verifyClean(t, s)
	})
}

func TestCopyMoveAndMailboxes(t *testing.T) {
	ctx := context.Background()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		s := newStore(t, d)
		raw := msg(1, "payload")
		acc := newAccount(t, d, "a@x.test", int64(len(raw))*3)
		inbox, _ := s.Mailbox(ctx, acc, "INBOX")
		for i := 0; i < 2; i++ {
			if _, err := s.Append(ctx, acc, inbox.ID, raw, 0, nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		work, err := s.CreateMailbox(ctx, acc, "Lavoro/Città", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Mailbox(ctx, acc, "Lavoro"); err != nil {
			t.Fatalf("parent not created: %v", err)
		}
		if _, err := s.CreateMailbox(ctx, acc, "Lavoro/Città", ""); !errors.Is(err, mailstore.ErrMailboxExists) {
			t.Fatalf("duplicate create: %v", err)
		}
		if _, err := s.Copy(ctx, acc, inbox.ID, work.ID, []uint32{1, 2}, false); !errors.Is(err, mailstore.ErrOverQuota) {
			t.Fatalf("copy over quota: %v", err)
		}
		res, err := s.Copy(ctx, acc, inbox.ID, work.ID, []uint32{1, 2}, true)
		if err != nil || !slices.Equal(res.Src, []uint32{1, 2}) || !slices.Equal(res.Dst, []uint32{1, 2}) || res.UIDValidity != work.UIDValidity {
			t.Fatalf("move: %+v %v", res, err)
		}
		if uids, _ := s.UIDs(ctx, inbox.ID); len(uids) != 0 {
			t.Fatalf("move left %v in INBOX", uids)
		}
		verifyClean(t, s)
		// A parent with a child stays as a \Noselect placeholder (RFC 9051 §6.3.4), once.
		if err := s.DeleteMailbox(ctx, acc, "Lavoro"); err != nil {
			t.Fatalf("delete parent with child: %v", err)
		}
		if _, err := s.Mailbox(ctx, acc, "Lavoro"); !errors.Is(err, mailstore.ErrNoMailbox) {
			t.Fatalf("a placeholder looked up by name: %v", err)
		}
		if mbs, _ := s.Mailboxes(ctx, acc); !slices.ContainsFunc(mbs, func(m *mailstore.Mailbox) bool { return m.Name == "Lavoro" && m.NoSelect }) {
			t.Fatal("no placeholder listed")
		}
		if err := s.DeleteMailbox(ctx, acc, "Lavoro"); !errors.Is(err, mailstore.ErrCannotDelete) {
			t.Fatalf("delete a placeholder with a child: %v", err)
		}
		verifyClean(t, s)
		if err := s.RenameMailbox(ctx, acc, "Lavoro", "Work"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Mailbox(ctx, acc, "Work/Città"); err != nil {
			t.Fatalf("child not renamed: %v", err)
		}
		if err := s.DeleteMailbox(ctx, acc, "Work/Città"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteMailbox(ctx, acc, "INBOX"); !errors.Is(err, mailstore.ErrCannotDelete) {
			t.Fatalf("delete INBOX: %v", err)
		}
		q, _ := s.Quota(ctx, acc)
		if q.UsedBytes != 0 || q.Messages != 0 {
			t.Fatalf("quota after delete: %+v", q)
		}
		verifyClean(t, s)
		n, err := s.Sweep(ctx, 0)
		if err != nil || n != 1 {
			t.Fatalf("sweep removed %d (%v), want 1 blob", n, err)
		}
	})
}

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"inbox", "INBOX", true},
		{"Inbox/Sub", "INBOX/Sub", true},
		{"Posta in arrivo/Città", "Posta in arrivo/Città", true},
		{"", "", false},
		{"a//b", "", false},
		{"/a", "", false},
		{"a*", "", false},
		{"a\x01", "", false},
	}
	for _, tt := range tests {
		got, err := mailstore.NormalizeName(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, %v", tt.in, got, err)
		}
	}
}
