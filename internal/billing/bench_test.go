package billing

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
)

// BenchmarkDailyRun measures the daily charge run for 2 000 pay-per-use tenants with 100 000
// accounts in all (50 each, spread over four classes of service, a tenth of them changing class
// during the day): one op is one day charged for every tenant, one transaction per tenant-day.
// Run with -benchtime=3x; POSTA_TEST_POSTGRES_DSN adds PostgreSQL.
func BenchmarkDailyRun(b *testing.B) {
	const tenants, perTenant = 2000, 50
	dbtest.ForEachB(b, func(b *testing.B, d *db.DB) {
		ctx := context.Background()
		sys := directory.WithActor(ctx, directory.SystemActor("bench"))
		clk := &clock{t: day0}
		dir := directory.New(d, nil, directory.Options{Clock: clk.Now})
		if err := dir.SeedStandardCOS(sys); err != nil {
			b.Fatal(err)
		}
		bill := New(d, dir, Options{Clock: clk.Now, Node: "bench", Logger: discardLogger()})
		var cos []int64
		for i, c := range []string{"Business Mail 100 MB", "Business Mail Plus 500 MB", "Standard Suite 2.000 MB", "Professional Suite 5.000 MB"} {
			if _, err := bill.SetPrice(sys, c, MilliPoints(1500*(i+1)), ""); err != nil {
				b.Fatal(err)
			}
			x, _ := dir.GetCOS(sys, c)
			cos = append(cos, x.ID)
		}
		start := time.Now()
		t0 := day0.UnixMilli()
		err := d.WriteTx(ctx, func(tx *db.Tx) error {
			acct := 0
			for i := range tenants {
				tid, err := tx.InsertID(ctx, `INSERT INTO tenants (name, contact_email, contract, status, created_at, updated_at) VALUES (?, ?, 'payg', 'active', ?, ?)`,
					fmt.Sprintf("tenant-%04d", i), fmt.Sprintf("it@t%04d.test", i), t0, t0)
				if err != nil {
					return err
				}
				did, err := tx.InsertID(ctx, `INSERT INTO domains (tenant_id, name, created_at) VALUES (?, ?, ?)`, tid, fmt.Sprintf("t%04d.test", i), t0)
				if err != nil {
					return err
				}
				for j := range perTenant {
					c := cos[acct%len(cos)]
					aid, err := tx.InsertID(ctx, `INSERT INTO accounts (tenant_id, domain_id, address, password_hash, cos_id, status, created_at, updated_at) VALUES (?, ?, ?, 'x', ?, 'active', ?, ?)`,
						tid, did, fmt.Sprintf("u%d@t%04d.test", j, i), c, t0, t0)
					if err != nil {
						return err
					}
					if acct%10 == 0 { // a tenth changed class at noon of the first day
						if _, err := tx.ExecContext(ctx, `INSERT INTO account_cos_history (account_id, tenant_id, cos_id, from_ms, to_ms) VALUES (?, ?, ?, ?, ?)`, aid, tid, cos[(acct+1)%len(cos)], t0, t0+3*3600_000); err != nil {
							return err
						}
						if _, err := tx.ExecContext(ctx, `INSERT INTO account_cos_history (account_id, tenant_id, cos_id, from_ms) VALUES (?, ?, ?, ?)`, aid, tid, c, t0+3*3600_000); err != nil {
							return err
						}
					} else if _, err := tx.ExecContext(ctx, `INSERT INTO account_cos_history (account_id, tenant_id, cos_id, from_ms) VALUES (?, ?, ?, ?)`, aid, tid, c, t0); err != nil {
						return err
					}
					acct++
				}
				// A large opening credit, so that the run does not send warnings.
				if _, err := tx.ExecContext(ctx, `INSERT INTO billing_wallets (tenant_id, balance_mp, last_seq, charged_through, created_at) VALUES (?, ?, 1, ?, ?)`,
					tid, int64(1_000_000*PerPoint), int64(DayOf(day0)-1), t0); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO billing_ledger (tenant_id, seq, kind, amount_mp, balance_after_mp, day, eur_cents, points_per_eur, reference, actor, role, at)
					VALUES (?, 1, 'recharge', ?, ?, ?, 1250000, 80, ?, 'bench', 'system', ?)`, tid, int64(1_000_000*PerPoint), int64(1_000_000*PerPoint), int64(DayOf(day0)), fmt.Sprintf("B%d", tid), t0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: %d tenants, %d accounts set up in %v", d.Engine, tenants, tenants*perTenant, time.Since(start).Round(time.Millisecond))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			clk.Set(day0.Add(time.Duration(i+1)*24*time.Hour + time.Hour))
			t := time.Now()
			r, err := bill.Run(sys, "")
			if err != nil {
				b.Fatal(err)
			}
			if r.Days != tenants {
				b.Fatalf("charged %d tenant-days, want %d", r.Days, tenants)
			}
			b.Logf("%s: day %s charged for %d tenants (%s points) in %v", d.Engine, r.Through, r.Days, r.Charged, time.Since(t).Round(time.Millisecond))
		}
		b.StopTimer()
		if problems, err := verify(ctx, d); err != nil || len(problems) > 0 {
			b.Fatalf("verify: %v %v", err, problems)
		}
	})
}
