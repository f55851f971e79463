package smtpserver

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
)

// TestQueueFailsAfterLocalCopy: a submitted message for a local and a remote recipient, whose
// remote part the outbound queue refuses after the local copy is stored, is accepted (250: a
// retry would store the local copy again), and the sender gets a delivery status notification
// naming the remote recipient alone.
func TestQueueFailsAfterLocalCopy(t *testing.T) {
	e := setup(t)
	ctx := directory.WithActor(context.Background(), directory.SystemActor("test"))
	if _, err := e.store.DB().ExecContext(ctx, `ALTER TABLE queue RENAME TO queue_away`); err != nil {
		t.Fatal(err)
	}
	r := converse(t, e.sub, "EHLO c", "AUTH PLAIN "+plain("mario@x.test", testPW), "MAIL FROM:<mario@x.test>",
		"RCPT TO:<luigi@small.test>", "RCPT TO:<friend@example.org>", "DATA",
		"From: <mario@x.test>\r\nSubject: per due\r\n\r\nciao\r\n.")
	if got := r[len(r)-1]; !strings.HasPrefix(got, "250 ") {
		t.Fatalf("DATA: %q", got)
	}
	messages := func(addr string) []string {
		t.Helper()
		acc, err := e.dir.GetAccount(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		inbox, err := e.store.Mailbox(ctx, acc.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		err = e.store.Messages(ctx, inbox.ID, nil, mailstore.WithBlobKey, func(m *mailstore.Message) error {
			b, err := e.store.OpenBody(ctx, m.BlobKey)
			if err != nil {
				return err
			}
			defer b.Close()
			raw, err := io.ReadAll(b)
			out = append(out, string(raw))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if h := messages("luigi@small.test"); len(h) != 1 || !strings.Contains(h[0], "per due") {
		t.Errorf("the local recipient holds %q, want the message once", h)
	}
	h := messages("mario@x.test")
	if len(h) != 1 || !strings.Contains(h[0], "Undelivered Mail") || !strings.Contains(h[0], "<friend@example.org>: 451 4.3.0") || strings.Contains(h[0], "<luigi@small.test>:") {
		t.Fatalf("the sender holds %q, want one delivery status notification naming the remote recipient alone", h)
	}
}
