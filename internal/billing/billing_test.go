package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/xuri/excelize/v2"
)

func TestMoney(t *testing.T) {
	for _, c := range []struct {
		in   string
		want MilliPoints
		ok   bool
	}{
		{"12", 12000, true}, {"0.5", 500, true}, {"1,25", 1250, true}, {"-3.125", -3125, true}, {"+7", 7000, true},
		{"0.0001", 0, false}, {"1e3", 0, false}, {"", 0, false}, {".5", 0, false}, {"5.", 0, false}, {"1 000", 0, false}, {"NaN", 0, false},
	} {
		got, err := ParsePoints(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParsePoints(%q) = %d, %v", c.in, got, err)
		}
	}
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"100", 10000, true}, {"99.90", 9990, true}, {"0,1", 10, true}, {"1234.5", 123450, true},
		{"1.234,56", 0, false}, {"0.001", 0, false}, {"12e2", 0, false}, {"€10", 0, false}, {"99999999999", 0, false},
	} {
		got, err := ParseEUR(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseEUR(%q) = %d, %v", c.in, got, err)
		}
	}
	for m, want := range map[MilliPoints]string{0: "0", 1: "0.001", 1500: "1.5", -2250: "-2.25", 80000: "80", 1234567: "1234.567"} {
		if m.String() != want {
			t.Errorf("%d: %q, want %q", int64(m), m.String(), want)
		}
	}
	if got := eurToPoints(1000, 80); got != 800*PerPoint { // 10 € at 80 points per euro
		t.Errorf("10 € = %s points", got)
	}
	if FormatEUR(9990) != "99.90" || FormatEUR(-5) != "-0.05" {
		t.Error("FormatEUR")
	}
	// Pro rata is exact even where price × milliseconds overflows 64 bits.
	if got := proRata(1_000_000_000, 86_400_000*100_000); got != 1_000_000_000*100_000 {
		t.Errorf("proRata overflow: %d", got)
	}
	if got := proRata(1500, dayMS/2); got != 750 {
		t.Errorf("half a day of 1.5 points: %s", got)
	}
	if d, _ := ParseDay("2026-03-02"); DayOf(day0) != d || d.String() != "2026-03-02" || DayOfMS(d.End()-1) != d || DayOfMS(d.End()) != d+1 {
		t.Error("days")
	}
	if DayOfMS(-1) != -1 {
		t.Error("days before 1970")
	}
	if lo, hi, err := ParseMonth("2026-02"); err != nil || lo.String() != "2026-02-01" || hi.String() != "2026-02-28" {
		t.Errorf("month: %s %s %v", lo, hi, err)
	}
}

func TestWarnLevel(t *testing.T) {
	for _, c := range []struct {
		bal, burn MilliPoints
		want      int
	}{
		{15000, 1000, 0}, {14999, 1000, 1}, {5000, 1000, 1}, {4999, 1000, 2}, {1, 1000, 2}, {0, 1000, 3}, {-5, 0, 3}, {100, 0, 0},
	} {
		if got := warnLevel(c.bal, c.burn, 15); got != c.want {
			t.Errorf("balance %s burn %s: level %d, want %d", c.bal, c.burn, got, c.want)
		}
	}
}

func kindOf(err error) string {
	var de *directory.Error
	if errors.As(err, &de) {
		return de.Kind
	}
	return ""
}

// TestLifecycle follows a pay-per-use tenant through prices, recharges, daily charges (twice,
// late, out of order), a COS change, warnings delivered to the contact's mailbox, exhaustion,
// the grace period, the credit gate and a recharge that lifts it; and a subscription tenant that
// is never charged but has the same reports.
func TestLifecycle(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := e.sys
		const bm, plus, pro = "Business Mail 100 MB", "Business Mail Plus 500 MB", "Professional Suite 25.000 MB"
		e.price(bm, "1.5", "")
		e.price(plus, "3", "")
		e.price(pro, "10.25", "")
		beta := e.tenant("Beta", directory.ContractPayg, "cfo@beta.test", "beta.test")
		acme := e.tenant("Acme", directory.ContractSubscription, "it@acme.test", "acme.test")
		e.must(e.dir.SetContractCap(ctx, "Acme", bm, 10))
		e.account("cfo@beta.test", bm)
		e.account("a@beta.test", bm)
		e.account("b@beta.test", plus)
		e.account("x@acme.test", bm)

		// The past is never rewritten.
		if _, err := e.bill.SetPrice(ctx, bm, 2000, "2026-03-01"); kindOf(err) != "invalid-argument" {
			t.Fatalf("price in the past: %v", err)
		}
		// A recharge: 10 € at 80 points per euro.
		m, err := e.bill.Recharge(ctx, RechargeSpec{Tenant: "Beta", EUR: "10", Reference: "CRO-0001"})
		e.must(err)
		if m.Amount != 800*PerPoint || m.BalanceAfter != 800*PerPoint || m.PointsPerEUR != 80 || m.EUR != "10.00" {
			t.Fatalf("recharge: %+v", m)
		}
		if _, err := e.bill.Recharge(ctx, RechargeSpec{Tenant: "Beta", EUR: "10", Reference: "CRO-0001"}); kindOf(err) != "duplicate-reference" {
			t.Fatalf("same reference twice: %v", err)
		}
		if _, err := e.bill.Recharge(ctx, RechargeSpec{Tenant: "Acme", EUR: "10", Reference: "CRO-0002"}); kindOf(err) != "invalid-argument" {
			t.Fatalf("recharge of a subscription: %v", err)
		}
		if _, err := e.bill.Recharge(ctx, RechargeSpec{Tenant: "Beta", EUR: "10.001", Reference: "CRO-0003"}); kindOf(err) != "invalid-argument" {
			t.Fatalf("fractional cents: %v", err)
		}
		w := e.wallet("Beta")
		if w.DailyBurn != 6*PerPoint || w.DaysRemaining != 133 || w.Accounts != 3 || w.WarnState != "ok" || w.BalanceEUR != "10.00" {
			t.Fatalf("wallet: %+v", w)
		}
		// Today cannot be charged: it is not over.
		if _, err := e.bill.Run(ctx, "2026-03-02"); kindOf(err) != "invalid-argument" {
			t.Fatalf("charging today: %v", err)
		}

		// Next day: day 0 is charged once, however often the run runs.
		e.clock.Set(day0.Add(25 * time.Hour)) // 2026-03-03 10:00
		r := e.run("")
		if r.Days != 1 || r.Charged != 6*PerPoint || r.Through.String() != "2026-03-02" {
			t.Fatalf("first run: %+v", r)
		}
		if r := e.run(""); r.Days != 0 {
			t.Fatalf("second run charged again: %+v", r)
		}
		// b moves to Business Mail 100 MB during day 1: whole-day mode charges both classes.
		_, err = e.dir.UpdateAccount(ctx, "b@beta.test", directory.AccountUpdate{COS: ptr(bm)})
		e.must(err)
		// The server is down for three days, then catches up.
		e.clock.Set(day0.Add(4*24*time.Hour + time.Hour)) // 2026-03-06 10:00
		if r := e.run("2026-03-03"); r.Days != 1 || r.Charged != 7500 {
			t.Fatalf("day 1: %+v", r)
		}
		if r := e.run(""); r.Days != 2 || r.Charged != 9000 {
			t.Fatalf("catch-up: %+v", r)
		}
		if r := e.run("2026-03-02"); r.Days != 0 {
			t.Fatalf("out of order: %+v", r)
		}
		e.verify()
		ledger, err := e.bill.Ledger(ctx, "Beta", "", "")
		e.must(err)
		var kinds []string
		for _, m := range ledger {
			kinds = append(kinds, m.Kind+":"+m.Day.String()+":"+m.Amount.String())
		}
		if got := strings.Join(kinds, " "); got != "recharge:2026-03-02:800 charge:2026-03-02:-6 charge:2026-03-03:-7.5 charge:2026-03-04:-4.5 charge:2026-03-05:-4.5" {
			t.Fatalf("ledger: %s", got)
		}
		// The database refuses a second charge of a day and any change of the ledger.
		_, err = d.ExecContext(context.Background(), `INSERT INTO billing_ledger (tenant_id, seq, kind, amount_mp, balance_after_mp, day, charge_day, actor, role, at) VALUES (?, 99, 'charge', -1, 0, 20514, 20514, 'x', 'x', 0)`, beta.ID)
		if !db.IsUniqueViolation(err) {
			t.Fatalf("double charge: %v", err)
		}
		if _, err := d.ExecContext(context.Background(), `UPDATE billing_ledger SET amount_mp = 0`); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("ledger update: %v", err)
		}
		if _, err := d.ExecContext(context.Background(), `DELETE FROM billing_ledger`); err == nil {
			t.Fatal("ledger delete allowed")
		}

		// The subscription tenant is not charged, but its usage is reported.
		if ms, _ := e.bill.Ledger(ctx, "Acme", "", ""); len(ms) != 0 {
			t.Fatalf("subscription charged: %v", ms)
		}
		u, err := e.bill.UsageFor(ctx, "Acme", ByDay, "2026-03-02", "2026-03-05")
		e.must(err)
		if u.Total != 4*1500 || u.Charged != nil || len(u.Rows) != 4 {
			t.Fatalf("subscription usage: %+v", u)
		}
		if w := e.wallet("Acme"); w.Charged || w.DailyBurn != 1500 {
			t.Fatalf("subscription wallet: %+v", w)
		}
		u, err = e.bill.UsageFor(ctx, "Beta", ByCOS, "2026-03-02", "2026-03-05")
		e.must(err)
		if len(u.Rows) != 2 || u.Total != 22500 || *u.Charged != 22500 {
			t.Fatalf("by cos: %+v", u)
		}
		u, err = e.bill.UsageFor(ctx, "Beta", ByAccount, "2026-03-02", "2026-03-05")
		e.must(err)
		if len(u.Rows) != 4 || u.Rows[1].Account != "b@beta.test" || u.Rows[1].AccountDays != "3" {
			t.Fatalf("by account: %+v", u.Rows)
		}
		var csv bytes.Buffer
		e.must(WriteUsageCSV(&csv, u))
		if !strings.Contains(csv.String(), "b@beta.test,Business Mail 100 MB,3,4.5") {
			t.Fatalf("csv: %s", csv.String())
		}

		// Warnings: an adjustment leaves 57.5 points at 4.5 a day (12 days): the contact is
		// warned once; then below 5 days; then at zero.
		_, err = e.bill.Adjust(ctx, "Beta", KindAdjustment, -720*PerPoint, "correction", "")
		e.must(err)
		if got := e.inbox("cfo@beta.test"); len(got) != 1 || !strings.Contains(got[0], "Credit running low") {
			t.Fatalf("first warning: %q", got)
		}
		for i := 0; i < 14; i++ {
			e.clock.Add(24 * time.Hour)
			e.run("")
			e.run("") // twice: each warning still once
		}
		got := e.inbox("cfo@beta.test")
		if len(got) != 3 || !strings.Contains(got[1], "Credit running low") || !strings.Contains(got[2], "Credit exhausted") {
			t.Fatalf("warnings: %q", got)
		}
		w = e.wallet("Beta")
		if w.Balance > 0 || w.DepletedSince == nil || w.Restricted || w.WarnState != "exhausted" {
			t.Fatalf("exhausted wallet: %+v", w)
		}
		// Within the grace period accounts may still be added.
		e.account("c@beta.test", bm)
		e.clock.Set(w.GraceUntil.Time().Add(time.Hour))
		if w := e.wallet("Beta"); !w.Restricted {
			t.Fatalf("after grace: %+v", w)
		}
		_, err = e.dir.CreateAccount(ctx, directory.AccountSpec{Address: "d@beta.test", Password: testPW, COS: bm})
		if !errors.Is(err, directory.ErrInsufficientCredit) {
			t.Fatalf("new account after grace: %v", err)
		}
		_, err = e.dir.UpdateAccount(ctx, "a@beta.test", directory.AccountUpdate{COS: ptr(pro)})
		if !errors.Is(err, directory.ErrInsufficientCredit) {
			t.Fatalf("upgrade after grace: %v", err)
		}
		if ch, err := e.dir.PreviewCOSChange(ctx, "a@beta.test", pro); err != nil || !ch.Refused {
			t.Fatalf("preview of an upgrade: %+v %v", ch, err)
		}
		// Moving down, and the other tenant, are not affected; nothing is deleted.
		_, err = e.dir.UpdateAccount(ctx, "c@beta.test", directory.AccountUpdate{COS: ptr("Business Mail 200 MB")})
		e.must(err)
		e.account("y@acme.test", bm)
		if _, err := e.dir.GetAccount(ctx, "a@beta.test"); err != nil {
			t.Fatal(err)
		}
		// A recharge lifts the limits and re-arms the warnings.
		_, err = e.bill.Recharge(ctx, RechargeSpec{Tenant: "Beta", EUR: "100", Reference: "TRN-2026-0042"})
		e.must(err)
		w = e.wallet("Beta")
		if w.Restricted || w.DepletedSince != nil || w.WarnLevel != 0 {
			t.Fatalf("after recharge: %+v", w)
		}
		e.account("d@beta.test", bm)
		e.verify()

		// Statement of March.
		st, err := e.bill.StatementFor(ctx, "Beta", "2026-03")
		e.must(err)
		if st.Opening != 0 || st.Closing != st.Opening+st.Recharged-st.Charged+st.Adjusted+st.Refunded || st.RechargedEUR != "110.00" || len(st.ByCOS) == 0 {
			t.Fatalf("statement: %+v", st)
		}
		var ledgerSum MilliPoints
		all, _ := e.bill.Ledger(ctx, "Beta", "", "2026-03-31")
		for _, m := range all {
			ledgerSum += m.Amount
		}
		if st.Closing != ledgerSum {
			t.Fatalf("closing %s, ledger to the end of March %s", st.Closing, ledgerSum)
		}
		if _, balance, err := e.bill.History(ctx, "Beta", 30); err != nil || balance[len(balance)-1].Value != e.wallet("Beta").Balance {
			t.Fatalf("balance history: %v %v", balance, err)
		}
		_ = acme
	})
}

func ptr[T any](v T) *T { return &v }

func TestWebhook(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.tenant("Beta", directory.ContractPayg, "cfo@beta.test", "beta.test")
		body := []byte(`{"tenant":"Beta","amount_eur":"25.50","reference":"pay_123"}`)
		if _, err := e.bill.Webhook(context.Background(), body, Sign("x", body), "192.0.2.1"); kindOf(err) != "webhook-disabled" {
			t.Fatalf("no secret: %v", err)
		}
		secret, err := e.bill.RotateWebhookSecret(e.sys)
		e.must(err)
		if _, err := e.bill.Webhook(context.Background(), body, Sign("wrong", body), "192.0.2.1"); kindOf(err) != "invalid-signature" {
			t.Fatalf("wrong signature: %v", err)
		}
		if _, err := e.bill.Webhook(context.Background(), body, "", "192.0.2.1"); kindOf(err) != "invalid-signature" {
			t.Fatalf("no signature: %v", err)
		}
		m, err := e.bill.Webhook(context.Background(), body, Sign(secret, body), "192.0.2.1")
		e.must(err)
		if m.Amount != 2040*PerPoint || m.Duplicate || m.Actor != "payment-webhook" {
			t.Fatalf("payment: %+v", m)
		}
		// A replay (or a retry) credits nothing more.
		m2, err := e.bill.Webhook(context.Background(), body, Sign(secret, body), "192.0.2.1")
		e.must(err)
		if !m2.Duplicate || m2.ID != m.ID {
			t.Fatalf("replay: %+v", m2)
		}
		if w := e.wallet("Beta"); w.Balance != 2040*PerPoint {
			t.Fatalf("balance after replay: %s", w.Balance)
		}
		// The same reference with another amount is refused; a tampered body fails the signature.
		other := []byte(`{"tenant":"Beta","amount_eur":"99","reference":"pay_123"}`)
		if _, err := e.bill.Webhook(context.Background(), other, Sign(secret, other), ""); kindOf(err) != "duplicate-reference" {
			t.Fatalf("same reference, other amount: %v", err)
		}
		if _, err := e.bill.Webhook(context.Background(), other, Sign(secret, body), ""); kindOf(err) != "invalid-signature" {
			t.Fatalf("tampered: %v", err)
		}
		bad := []byte(`{"tenant":"Beta","amount_eur":25.5,"reference":"pay_124"}`)
		if _, err := e.bill.Webhook(context.Background(), bad, Sign(secret, bad), ""); kindOf(err) != "invalid-argument" {
			t.Fatalf("amount as a JSON number: %v", err)
		}
		e.verify()
	})
}

// TestAuthorisation: the provider may do everything; a tenant administrator may read its own
// tenant's credit and nothing else; nobody else may do anything.
func TestAuthorisation(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		beta := e.tenant("Beta", directory.ContractPayg, "cfo@beta.test", "beta.test")
		acme := e.tenant("Acme", directory.ContractPayg, "it@acme.test", "acme.test")
		_, err := e.bill.Recharge(e.sys, RechargeSpec{Tenant: "Acme", EUR: "5", Reference: "R1"})
		e.must(err)
		betaAdmin := as(directory.RoleTenantAdmin, beta.ID)
		if _, err := e.bill.Balance(betaAdmin, "Beta"); err != nil {
			t.Fatalf("own balance: %v", err)
		}
		for name, call := range map[string]func(ctx context.Context) error{
			"balance":   func(ctx context.Context) error { _, err := e.bill.Balance(ctx, "Acme"); return err },
			"ledger":    func(ctx context.Context) error { _, err := e.bill.Ledger(ctx, "Acme", "", ""); return err },
			"usage":     func(ctx context.Context) error { _, err := e.bill.UsageFor(ctx, "Acme", "", "", ""); return err },
			"statement": func(ctx context.Context) error { _, err := e.bill.StatementFor(ctx, "Acme", "2026-03"); return err },
			"history":   func(ctx context.Context) error { _, _, err := e.bill.History(ctx, "Acme", 10); return err },
		} {
			if err := call(betaAdmin); kindOf(err) != "not-found" {
				t.Errorf("%s of another tenant: %v", name, err)
			}
			if err := call(as(directory.RoleDomainAdmin, acme.ID)); kindOf(err) != "forbidden" {
				t.Errorf("%s as a domain admin: %v", name, err)
			}
			if err := call(as(directory.RoleUser, acme.ID)); kindOf(err) != "forbidden" {
				t.Errorf("%s as a user: %v", name, err)
			}
			if err := call(context.Background()); kindOf(err) != "forbidden" {
				t.Errorf("%s without an actor: %v", name, err)
			}
			if err := call(as(directory.RoleProvider, 0)); err != nil {
				t.Errorf("%s as the provider: %v", name, err)
			}
		}
		for name, call := range map[string]func(ctx context.Context) error{
			"recharge": func(ctx context.Context) error {
				_, err := e.bill.Recharge(ctx, RechargeSpec{Tenant: "Beta", EUR: "5", Reference: "R2"})
				return err
			},
			"adjust": func(ctx context.Context) error {
				_, err := e.bill.Adjust(ctx, "Beta", KindAdjustment, 1000, "gift", "")
				return err
			},
			"price": func(ctx context.Context) error {
				_, err := e.bill.SetPrice(ctx, "Business Mail 100 MB", 1000, "")
				return err
			},
			"run":      func(ctx context.Context) error { _, err := e.bill.Run(ctx, ""); return err },
			"settings": func(ctx context.Context) error { _, err := e.bill.SetSetting(ctx, "warn_days", "10"); return err },
			"secret":   func(ctx context.Context) error { _, err := e.bill.RotateWebhookSecret(ctx); return err },
			"verify":   func(ctx context.Context) error { _, err := e.bill.Verify(ctx); return err },
		} {
			if err := call(betaAdmin); kindOf(err) != "forbidden" {
				t.Errorf("%s as a tenant admin: %v", name, err)
			}
			if err := call(as(directory.RoleProvider, 0)); err != nil {
				t.Errorf("%s as the provider: %v", name, err)
			}
		}
		if _, err := e.bill.Prices(betaAdmin); err != nil {
			t.Errorf("price list as a tenant admin: %v", err)
		}
		if _, err := e.bill.Prices(as(directory.RoleUser, beta.ID)); kindOf(err) != "forbidden" {
			t.Errorf("price list as a user: %v", err)
		}
	})
}

// TestLease: while another node holds the lease, a run is refused; an expired lease is taken.
func TestLease(t *testing.T) {
	d := dbtest.Open(t, dbtest.DSN(t, "sqlite"))
	e := newEnv(t, d)
	other := New(d, e.dir, Options{Clock: e.clock.Now, Node: "other-node"})
	e.clock.Add(24 * time.Hour)
	ok, err := other.acquireLease(context.Background())
	if err != nil || !ok {
		t.Fatalf("other node: %v %v", ok, err)
	}
	if _, err := e.bill.Run(e.sys, ""); kindOf(err) != "charge-run-busy" {
		t.Fatalf("run while leased: %v", err)
	}
	e.clock.Add(leaseTTL + time.Second)
	if _, err := e.bill.Run(e.sys, ""); err != nil {
		t.Fatalf("run after the lease expired: %v", err)
	}
	if ok, _ := other.acquireLease(context.Background()); !ok {
		t.Fatal("the lease was not released")
	}
}

// TestPriceChangeAndProRata: a future price applies from its day only; pro-rata mode charges the
// time each class was held.
func TestPriceChangeAndProRata(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := e.sys
		e.price("Business Mail 100 MB", "2", "")
		e.price("Business Mail 100 MB", "4", "2026-03-04")
		e.price("Business Mail 200 MB", "8", "")
		_, err := e.bill.SetSetting(ctx, "charge_mode", ModeProRata)
		e.must(err)
		e.tenant("Beta", directory.ContractPayg, "cfo@beta.test", "beta.test")
		e.clock.Set(time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC))
		e.account("a@beta.test", "Business Mail 100 MB") // 18 hours on day 0
		e.clock.Set(time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC))
		_, err = e.dir.UpdateAccount(ctx, "a@beta.test", directory.AccountUpdate{COS: ptr("Business Mail 200 MB")})
		e.must(err)
		e.clock.Set(time.Date(2026, 3, 4, 18, 0, 0, 0, time.UTC))
		_, err = e.dir.UpdateAccount(ctx, "a@beta.test", directory.AccountUpdate{COS: ptr("Business Mail 100 MB")})
		e.must(err)
		e.clock.Set(time.Date(2026, 3, 6, 1, 0, 0, 0, time.UTC))
		e.run("")
		ms, err := e.bill.Ledger(ctx, "Beta", "", "")
		e.must(err)
		var got []string
		for _, m := range ms {
			got = append(got, m.Amount.String())
		}
		// day 0: 18 h × 2 = 1.5; day 1: 12 h × 2 + 12 h × 8 = 5; day 2: 18 h × 8 + 6 h × 4 = 7;
		// day 3: 24 h × 4 = 4.
		if strings.Join(got, " ") != "-1.5 -5 -7 -4" {
			t.Fatalf("pro-rata charges: %v", got)
		}
		e.verify()
	})
}

// TestClosedAccounts: a closed account is not charged, even when its class of service is
// changed while closed, and a re-opened one is charged once per class.
func TestClosedAccounts(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := e.sys
		e.price("Business Mail 100 MB", "1", "")
		e.price("Business Mail 200 MB", "2", "")
		e.tenant("Beta", directory.ContractPayg, "cfo@beta.test", "beta.test")
		e.account("a@beta.test", "Business Mail 100 MB")
		e.clock.Add(24 * time.Hour) // day 1
		_, err := e.dir.UpdateAccount(ctx, "a@beta.test", directory.AccountUpdate{Status: ptr(directory.StatusClosed)})
		e.must(err)
		e.clock.Add(time.Hour)
		_, err = e.dir.UpdateAccount(ctx, "a@beta.test", directory.AccountUpdate{COS: ptr("Business Mail 200 MB")})
		e.must(err)
		e.clock.Add(24 * time.Hour) // day 2: closed all day
		e.clock.Add(24 * time.Hour) // day 3: re-opened in the new class, with a change back
		_, err = e.dir.UpdateAccount(ctx, "a@beta.test", directory.AccountUpdate{Status: ptr(directory.StatusActive), COS: ptr("Business Mail 100 MB")})
		e.must(err)
		var open int
		e.must(d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM account_cos_history WHERE to_ms IS NULL`).Scan(&open))
		if open != 1 {
			t.Fatalf("%d open history rows, want 1", open)
		}
		e.clock.Add(24 * time.Hour)
		e.run("")
		ms, err := e.bill.Ledger(ctx, "Beta", "", "")
		e.must(err)
		var got []string
		for _, m := range ms {
			got = append(got, m.Day.String()+":"+m.Amount.String())
		}
		// Day 0 and day 1 (closed during the day) in 100 MB; nothing on day 2; day 3 in 100 MB.
		if strings.Join(got, " ") != "2026-03-02:-1 2026-03-03:-1 2026-03-05:-1" {
			t.Fatalf("charges: %v", got)
		}
	})
}

func TestExports(t *testing.T) {
	day := Day(20514)
	ch := MilliPoints(1500)
	u := &Usage{By: ByDay, Rows: []UsageRow{{Day: &day, Accounts: 1, AccountDays: "1", Amount: 1500, Charged: &ch}}}
	var csvBuf, xBuf bytes.Buffer
	if err := WriteUsageCSV(&csvBuf, u); err != nil {
		t.Fatal(err)
	}
	if csvBuf.String() != "day,accounts,account_days,amount_points,charged_points\n2026-03-02,1,1,1.5,1.5\n" {
		t.Fatalf("csv: %q", csvBuf.String())
	}
	ms := []Movement{{Seq: 1, Day: day, Kind: KindRecharge, Amount: 800000, BalanceAfter: 800000, EUR: "10.00", PointsPerEUR: 80, Reference: "=HYPERLINK(1)", Actor: "x"}}
	csvBuf.Reset()
	e := WriteLedgerCSV(&csvBuf, ms)
	if e != nil || !strings.Contains(csvBuf.String(), ",'=HYPERLINK(1),") {
		t.Fatalf("formula not neutralised: %s", csvBuf.String())
	}
	if err := WriteUsageXLSX(&xBuf, u); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&xBuf)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows("Usage")
	if err != nil || len(rows) != 2 || rows[1][0] != "2026-03-02" || rows[1][3] != "1.5" {
		t.Fatalf("xlsx: %v %v", rows, err)
	}
	xBuf.Reset()
	if err := WriteLedgerXLSX(&xBuf, ms); err != nil {
		t.Fatal(err)
	}
}

// TestAuditRows: what billing changes is in the audit log as JSON that reads back, whatever
// the reason or reference holds (quotes, tabs, control characters, accents).
func TestAuditRows(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.tenant("Beta", directory.ContractPayg, "cfo@beta.test", "beta.test")
		reason := "rimborso \"speciale\"\tcittà \x01 fine"
		_, err := e.bill.Adjust(e.sys, "Beta", KindRefund, 250*PerPoint, reason, `rif. "7"`)
		e.must(err)
		_, err = e.bill.Recharge(e.sys, RechargeSpec{Tenant: "Beta", EUR: "5", Reference: `bonifico "n. 9", città`})
		e.must(err)
		for action, want := range map[string]map[string]string{
			"billing." + KindRefund: {"reason": reason, "points": "250"},
			"billing.recharge":      {"reference": `bonifico "n. 9", città`, "eur": "5.00"},
		} {
			var after string
			if err := d.QueryRowContext(context.Background(), `SELECT after FROM audit_log WHERE action = ?`, action).Scan(&after); err != nil {
				t.Fatalf("%s: %v", action, err)
			}
			var got map[string]string
			if err := json.Unmarshal([]byte(after), &got); err != nil {
				t.Fatalf("%s: not JSON (%v): %s", action, err, after)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %s = %q, want %q", action, k, got[k], v)
				}
			}
		}
	})
}
