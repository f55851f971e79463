package directory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
)

// TestSendingStats: counters of today and of the period per account, within the caller's
// tenant only, with the class of service's daily limit.
func TestSendingStats(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		ctx := context.Background()
		mario := f.account(t, f.sys, "mario@rossi.it", "Business Mail 1.000 MB")
		anna := f.account(t, f.sys, "anna@rossi.it", "Business Mail 1.000 MB")
		luca := f.account(t, f.sys, "luca@bianchi.it", "Business Mail 1.000 MB")
		// Yesterday's sends, written as the counter does for another day.
		yesterday := time.Now().UnixMilli()/86_400_000 - 1
		if _, err := d.ExecContext(ctx, `INSERT INTO account_sends (account_id, day, messages, recipients) VALUES (?, ?, 7, 70), (?, ?, 9, 9)`,
			anna.ID, yesterday, anna.ID, yesterday-10); err != nil {
			t.Fatal(err)
		}
		if _, err := d.ExecContext(ctx, `UPDATE cos SET send_per_day = 500 WHERE name = 'Business Mail 1.000 MB'`); err != nil {
			t.Fatal(err)
		}
		for _, s := range []struct {
			id    int64
			rcpts int
		}{{mario.ID, 3}, {mario.ID, 1}, {anna.ID, 2}, {luca.ID, 5}} {
			if err := f.s.RecordSend(ctx, s.id, s.rcpts); err != nil {
				t.Fatal(err)
			}
		}
		stats, err := f.s.SendingStats(f.adminA, "", 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(stats) != 2 || stats[0].Address != "mario@rossi.it" || stats[0].Today != 2 || stats[0].TodayRecipients != 4 || stats[0].Period != 2 ||
			stats[1].Address != "anna@rossi.it" || stats[1].Today != 1 || stats[1].TodayRecipients != 2 || stats[1].Period != 8 || stats[1].PeriodRecipients != 72 {
			t.Fatalf("tenant A: %+v", stats)
		}
		if stats[0].LimitPerDay != 500 {
			t.Errorf("daily limit %d, want 500", stats[0].LimitPerDay)
		}
		if b, err := f.s.SendingStats(f.adminB, "", 7); err != nil || len(b) != 1 || b[0].Address != "luca@bianchi.it" {
			t.Errorf("tenant B: %+v %v", b, err)
		}
		if _, err := f.s.SendingStats(f.adminB, "Rossi Srl", 7); err == nil {
			t.Error("tenant B read tenant A's counters")
		}
		if all, err := f.s.SendingStats(f.sys, "", 1); err != nil || len(all) != 3 {
			t.Errorf("provider: %+v %v", all, err)
		}
		var de *directory.Error
		if _, err := f.s.SendingStats(f.sys, "", 0); !errors.As(err, &de) || de.Field != "days" {
			t.Errorf("days 0: %v", err)
		}
	})
}
