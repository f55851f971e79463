package billing

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
)

// TestProperties drives random sequences of account creations, class changes, closures,
// re-openings, deletions, recharges, adjustments and charge runs (repeated, late and out of
// order) over a few tenants, and checks after every step that each balance is the sum of its
// ledger and no tenant-day is charged twice, and at the end that every charge equals an
// independent recomputation from account_cos_history, that every day with something to
// charge was charged, and that the credit gate refused exactly when the grace period was over.
func TestProperties(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4}
	if testing.Short() {
		seeds = seeds[:2]
	}
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		for _, seed := range seeds {
			mode := ModeWholeDay
			if seed%2 == 0 {
				mode = ModeProRata
			}
			t.Run(fmt.Sprintf("seed%d-%s", seed, mode), func(t *testing.T) {
				runProperty(t, dbtest.Open(t, dbtest.DSN(t, d.Engine.String())), seed, mode, 160)
			})
		}
	})
}

type priceRow struct {
	from  Day
	price MilliPoints
}

func runProperty(t *testing.T, d *db.DB, seed uint64, mode string, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	e := newEnv(t, d)
	ctx := e.sys
	_, err := e.bill.SetSetting(ctx, "charge_mode", mode)
	e.must(err)
	_, err = e.bill.SetSetting(ctx, "grace_days", "2")
	e.must(err)
	classes := []string{"Business Mail 100 MB", "Business Mail 500 MB", "Standard Suite 2.000 MB", "Professional Suite 5.000 MB"}
	classID := map[string]int64{}
	prices := map[int64][]priceRow{} // the test's own copy of the price list
	setPrice := func(cos string, mp MilliPoints, from Day) {
		_, err := e.bill.SetPrice(ctx, cos, mp, from.String())
		e.must(err)
		id := classID[cos]
		rows := prices[id]
		for i := range rows {
			if rows[i].from == from {
				rows[i].price = mp
				return
			}
		}
		prices[id] = append(rows, priceRow{from, mp})
	}
	for _, c := range classes {
		cos, err := e.dir.GetCOS(ctx, c)
		e.must(err)
		classID[c] = cos.ID
		setPrice(c, MilliPoints(500+rng.IntN(12000)), e.bill.today())
	}
	type tenant struct {
		name, domain string
		contract     string
		id           int64
	}
	var tenants []tenant
	for i := range 4 {
		contract := directory.ContractPayg
		if i == 3 {
			contract = directory.ContractSubscription
		}
		name := fmt.Sprintf("T%d", i)
		dom := fmt.Sprintf("t%d.test", i)
		tt := e.tenant(name, contract, "boss@"+dom, dom)
		if contract == directory.ContractSubscription {
			for _, c := range classes {
				e.must(e.dir.SetContractCap(ctx, name, c, 1000))
			}
		}
		tenants = append(tenants, tenant{name, dom, contract, tt.ID})
	}
	// Some days start from a recharge so that balances cross zero both ways.
	for _, tt := range tenants[:3] {
		if rng.IntN(2) == 0 {
			_, err := e.bill.Recharge(ctx, RechargeSpec{Tenant: tt.name, EUR: fmt.Sprint(rng.IntN(5) + 1), Reference: fmt.Sprintf("init-%s", tt.name)})
			e.must(err)
		}
	}
	var accounts []string // addresses ever created
	nextAcct, nextRef := 0, 0
	refusals, gateChecks := 0, 0
	for step := range steps {
		tt := tenants[rng.IntN(len(tenants))]
		op := rng.IntN(100)
		switch {
		case op < 25: // create an account
			addr := fmt.Sprintf("u%d@%s", nextAcct, tt.domain)
			nextAcct++
			restricted := tt.contract == directory.ContractPayg && e.wallet(tt.name).Restricted
			_, err := e.dir.CreateAccount(ctx, directory.AccountSpec{Address: addr, Password: testPW, COS: classes[rng.IntN(len(classes))]})
			gateChecks++
			switch {
			case errors.Is(err, directory.ErrInsufficientCredit):
				refusals++
				if !restricted {
					t.Fatalf("step %d: %s refused without being restricted", step, addr)
				}
			case err != nil:
				t.Fatalf("step %d: create %s: %v", step, addr, err)
			default:
				if restricted {
					t.Fatalf("step %d: %s created although the grace period is over", step, addr)
				}
				accounts = append(accounts, addr)
			}
		case op < 45 && len(accounts) > 0: // change class
			addr := accounts[rng.IntN(len(accounts))]
			c := classes[rng.IntN(len(classes))]
			_, err := e.dir.UpdateAccount(ctx, addr, directory.AccountUpdate{COS: &c})
			if err != nil && !errors.Is(err, directory.ErrNotFound) && !errors.Is(err, directory.ErrInsufficientCredit) {
				t.Fatalf("step %d: change %s to %s: %v", step, addr, c, err)
			}
		case op < 52 && len(accounts) > 0: // close or re-open
			addr := accounts[rng.IntN(len(accounts))]
			st := directory.StatusClosed
			if rng.IntN(2) == 0 {
				st = directory.StatusActive
			}
			_, err := e.dir.UpdateAccount(ctx, addr, directory.AccountUpdate{Status: &st})
			if err != nil && !errors.Is(err, directory.ErrNotFound) && !errors.Is(err, directory.ErrInsufficientCredit) {
				t.Fatalf("step %d: status %s of %s: %v", step, st, addr, err)
			}
		case op < 58 && len(accounts) > 0: // delete
			addr := accounts[rng.IntN(len(accounts))]
			if err := e.dir.RemoveAccount(ctx, addr); err != nil && !errors.Is(err, directory.ErrNotFound) {
				t.Fatalf("step %d: remove %s: %v", step, addr, err)
			}
		case op < 66 && tt.contract == directory.ContractPayg: // recharge, sometimes value-dated in the past
			date := ""
			if rng.IntN(3) == 0 {
				date = (e.bill.today() - Day(rng.IntN(4))).String()
			}
			nextRef++
			_, err := e.bill.Recharge(ctx, RechargeSpec{Tenant: tt.name, EUR: fmt.Sprintf("%d.%02d", rng.IntN(8), rng.IntN(100)), Reference: fmt.Sprintf("TRN%06d", nextRef), Date: date})
			if err != nil && kindOf(err) != "invalid-argument" { // 0.00 € is refused
				t.Fatalf("step %d: recharge: %v", step, err)
			}
		case op < 69: // adjustment or refund
			kind := KindAdjustment
			if rng.IntN(2) == 0 {
				kind = KindRefund
			}
			_, err := e.bill.Adjust(ctx, tt.name, kind, MilliPoints(rng.IntN(40000)-20000+1), "test", "")
			e.must(err)
		case op < 72: // a price change from today or later
			c := classes[rng.IntN(len(classes))]
			setPrice(c, MilliPoints(rng.IntN(15000)), e.bill.today()+Day(rng.IntN(3)))
		case op < 88: // a charge run: usually up to yesterday, sometimes an older day, sometimes twice
			through := e.bill.today() - 1
			if rng.IntN(3) == 0 {
				through -= Day(rng.IntN(5))
			}
			for range 1 + rng.IntN(2) {
				if _, err := e.bill.Run(ctx, through.String()); err != nil {
					t.Fatalf("step %d: run through %s: %v", step, through, err)
				}
			}
		default: // time passes: minutes to two days
			e.clock.Add(time.Duration(1+rng.IntN(48*60)) * time.Minute)
		}
		checkLedger(t, e, step)
	}
	// A last run settles every day, then everything is recomputed independently.
	e.clock.Add(24 * time.Hour)
	e.run("")
	checkLedger(t, e, steps)
	for _, tt := range tenants {
		checkCharges(t, e, tt.id, tt.contract, prices, mode)
	}
	t.Logf("%d accounts created, %d of %d creations refused by the credit gate", len(accounts), refusals, gateChecks)
}

// checkLedger: every balance is the sum of its ledger, and no tenant-day is charged twice.
func checkLedger(t *testing.T, e *env, step int) {
	t.Helper()
	problems, err := verify(context.Background(), e.d)
	e.must(err)
	if len(problems) > 0 {
		t.Fatalf("step %d: %v", step, problems)
	}
	var dup int
	e.must(e.d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM (SELECT tenant_id, charge_day FROM billing_ledger WHERE kind = 'charge'
		GROUP BY tenant_id, charge_day HAVING COUNT(*) > 1) x`).Scan(&dup))
	if dup > 0 {
		t.Fatalf("step %d: %d tenant-days charged twice", step, dup)
	}
	rows, err := e.d.QueryContext(context.Background(), `SELECT w.tenant_id, w.balance_mp, COALESCE((SELECT SUM(l.amount_mp) FROM billing_ledger l WHERE l.tenant_id = w.tenant_id), 0) FROM billing_wallets w`)
	e.must(err)
	defer rows.Close()
	for rows.Next() {
		var id, bal, sum int64
		e.must(rows.Scan(&id, &bal, &sum))
		if bal != sum {
			t.Fatalf("step %d: tenant %d balance %d, ledger sum %d", step, id, bal, sum)
		}
	}
}

// checkCharges recomputes, from the raw COS history and the test's own copy of the price
// list, what each day since the tenant's creation should have cost, and compares it with the
// ledger: equal for pay-per-use tenants (and no charge on a day that costs nothing), nothing at
// all for subscription tenants.
func checkCharges(t *testing.T, e *env, tenantID int64, contract string, prices map[int64][]priceRow, mode string) {
	t.Helper()
	ctx := context.Background()
	type hist struct {
		account, cos, from, to int64
	}
	var hs []hist
	rows, err := e.d.QueryContext(ctx, `SELECT account_id, cos_id, from_ms, COALESCE(to_ms, -1) FROM account_cos_history WHERE tenant_id = ?`, tenantID)
	e.must(err)
	for rows.Next() {
		var h hist
		e.must(rows.Scan(&h.account, &h.cos, &h.from, &h.to))
		hs = append(hs, h)
	}
	rows.Close()
	charged := map[int64]int64{}
	rows, err = e.d.QueryContext(ctx, `SELECT charge_day, amount_mp FROM billing_ledger WHERE tenant_id = ? AND kind = 'charge'`, tenantID)
	e.must(err)
	for rows.Next() {
		var d, a int64
		e.must(rows.Scan(&d, &a))
		charged[d] = -a
	}
	rows.Close()
	var created, through int64
	e.must(e.d.QueryRowContext(ctx, `SELECT t.created_at, w.charged_through FROM tenants t JOIN billing_wallets w ON w.tenant_id = t.id WHERE t.id = ?`, tenantID).Scan(&created, &through))
	if contract != directory.ContractPayg {
		if len(charged) > 0 {
			t.Fatalf("subscription tenant %d charged: %v", tenantID, charged)
		}
		return
	}
	if want := int64(DayOf(e.clock.Now())) - 1; through != want {
		t.Fatalf("tenant %d settled through day %d, want %d", tenantID, through, want)
	}
	priceOn := func(cos, day int64) int64 {
		var best int64 = -1 << 62
		var p int64
		for _, r := range prices[cos] {
			if int64(r.from) <= day && int64(r.from) > best {
				best, p = int64(r.from), int64(r.price)
			}
		}
		return p
	}
	days := 0
	for day := created / 86_400_000; day <= through; day++ {
		start, end := day*86_400_000, (day+1)*86_400_000
		present := map[[2]int64]bool{} // (cos, account)
		ms := map[int64]int64{}        // cos → active milliseconds
		for _, h := range hs {
			to := h.to
			if to < 0 {
				to = end
			}
			lo, hi := max(h.from, start), min(to, end)
			if hi > lo {
				present[[2]int64{h.cos, h.account}] = true
				ms[h.cos] += hi - lo
			}
		}
		var want int64
		if mode == ModeProRata {
			for cos, m := range ms {
				v := new(big.Int).Mul(big.NewInt(priceOn(cos, day)), big.NewInt(m))
				want += v.Div(v, big.NewInt(86_400_000)).Int64()
			}
		} else {
			for k := range present {
				want += priceOn(k[0], day)
			}
		}
		if charged[day] != want {
			t.Errorf("tenant %d day %s: charged %s, recomputed %s", tenantID, Day(day), MilliPoints(charged[day]), MilliPoints(want))
		}
		days++
	}
	for d := range charged {
		if d > through || d < created/86_400_000 {
			t.Errorf("tenant %d charged for day %s outside %s..%s", tenantID, Day(d), DayOfMS(created), Day(through))
		}
	}
	t.Logf("tenant %d: %d days checked, %d charged", tenantID, days, len(charged))
}
