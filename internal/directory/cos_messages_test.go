package directory_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
)

// TestCOSMessageCap: a class of service may cap the messages an account keeps; the cap is
// validated, read back with the accounts, and a move to a class whose cap is below what the
// account keeps is refused like a quota below usage.
func TestCOSMessageCap(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		for _, bad := range []int64{-1, 1_000_000_001} {
			if _, err := f.s.CreateCOS(f.sys, directory.COSSpec{Name: "Bad", QuotaMB: 10, MaxMessages: bad}); !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("cap %d: %v", bad, err)
			}
		}
		c, err := f.s.CreateCOS(f.sys, directory.COSSpec{Name: "Few", QuotaMB: 2000, ServiceType: "business-mail", MaxMessages: 100})
		if err != nil || c.MaxMessages != 100 {
			t.Fatalf("create: %+v %v", c, err)
		}
		if c, _ := f.s.GetCOS(f.sys, "Few"); c.MaxMessages != 100 {
			t.Fatalf("read back: %+v", c)
		}
		f.account(t, f.adminB, "big@bianchi.it", "Business Mail 1.000 MB")
		d.ExecContext(context.Background(), `UPDATE accounts SET used_messages = 150 WHERE address = 'big@bianchi.it'`)
		few := "Few"
		p, err := f.s.PreviewCOSChange(f.adminB, "big@bianchi.it", few)
		if err != nil || !p.Refused || !strings.Contains(p.Reason, "allows 100 messages but the account keeps 150") {
			t.Fatalf("preview: %+v %v", p, err)
		}
		if _, err := f.s.UpdateAccount(f.adminB, "big@bianchi.it", directory.AccountUpdate{COS: &few}); !errors.Is(err, directory.ErrQuotaBelowUsage) {
			t.Fatalf("move below the cap: %v", err)
		}
		d.ExecContext(context.Background(), `UPDATE accounts SET used_messages = 99 WHERE address = 'big@bianchi.it'`)
		a, err := f.s.UpdateAccount(f.adminB, "big@bianchi.it", directory.AccountUpdate{COS: &few})
		if err != nil || a.MaxMessages != 100 || a.UsedMessages != 99 {
			t.Fatalf("move under the cap: %+v %v", a, err)
		}
	})
}
