package msglog_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/msglog"
)

func TestRecordFindPrune(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := msglog.New(d, slog.New(slog.NewTextHandler(io.Discard, nil)))
		old := time.Now().Add(-40 * 24 * time.Hour)
		l.Record(&msglog.Entry{At: old, MessageID: "old@x.test", From: "a@x.test", Origin: msglog.Origin{Source: "smtp"},
			Rcpts: []msglog.Rcpt{{Address: "b@x.test", Outcome: msglog.Delivered}}})
		for i := 0; i < 600; i++ { // more than one batch
			l.Record(&msglog.Entry{MessageID: "bulk@x.test", From: "Bulk@X.test", Origin: msglog.Origin{Source: "smtp"}})
		}
		l.Record(&msglog.Entry{MessageID: "m1@x.test", From: "Alice@X.test", Size: 123,
			Origin: msglog.Origin{Source: "submission", ClientIP: "192.0.2.1", HELO: "pc", AuthUser: "alice@x.test", TLS: "TLS 1.3", Checks: "mx; spf=pass"},
			Rcpts: []msglog.Rcpt{
				{Address: "Bob@X.test", Outcome: msglog.Delivered, Detail: "to bob@x.test (INBOX)"},
				{Address: "z@remote.test", Outcome: msglog.Queued, Detail: "for remote.test"},
				{Address: "full@x.test", Outcome: msglog.Refused, Detail: "mailbox full"},
			}})
		l.Close() // flushes
		tests := []struct {
			what string
			want int
		}{
			{"m1@x.test", 1},
			{"<m1@x.test>", 1},
			{"alice@x.test", 1}, // sender, case-insensitive
			{"BOB@x.test", 1},   // recipient
			{"z@remote.test", 1},
			{"b@x.test", 1},
			{"bulk@x.test", 50}, // limited
			{"nobody@x.test", 0},
		}
		l2 := msglog.New(d, nil)
		defer l2.Close()
		for _, tt := range tests {
			es, err := l2.Find(ctx, tt.what, 50)
			if err != nil || len(es) != tt.want {
				t.Errorf("%s: %d entries (%v), want %d", tt.what, len(es), err, tt.want)
			}
		}
		es, _ := l2.Find(ctx, "m1@x.test", 10)
		e := es[0]
		if e.Size != 123 || e.Source != "submission" || e.ClientIP != "192.0.2.1" || e.AuthUser != "alice@x.test" || e.Checks != "mx; spf=pass" ||
			len(e.Rcpts) != 3 || e.Rcpts[0].Address != "bob@x.test" || e.Rcpts[2].Outcome != msglog.Refused || e.Rcpts[2].Detail != "mailbox full" {
			t.Errorf("entry: %+v", e)
		}
		n, err := l2.Prune(ctx, time.Now().Add(-30*24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d (%v), want 1", n, err)
		}
		if es, _ := l2.Find(ctx, "old@x.test", 10); len(es) != 0 {
			t.Errorf("old entry still there")
		}
		var orphans int
		d.QueryRowContext(ctx, `SELECT COUNT(*) FROM message_log_rcpts r WHERE NOT EXISTS (SELECT 1 FROM message_log m WHERE m.id = r.log_id)`).Scan(&orphans)
		if orphans != 0 {
			t.Errorf("%d recipient lines left by the prune", orphans)
		}
	})
}
