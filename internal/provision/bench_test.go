package provision

import (
	"context"
	"fmt"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
)

// bigXLSX is a workbook of n new accounts of Bianchi SpA (pay per use), each with an alias and
// in one of ten lists, passwords left to be generated.
func bigXLSX(tb testing.TB, n int) []byte {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		tb.Fatal(err)
	}
	sw.SetRow("A1", []any{"address", "password", "display name", "COS", "aliases", "distribution lists"})
	for i := range n {
		sw.SetRow(fmt.Sprintf("A%d", i+2), []any{fmt.Sprintf("user%05d@bianchi.it", i), "", fmt.Sprintf("User %d", i),
			"Business Mail 1.000 MB", fmt.Sprintf("u%05d@bianchi.it", i), fmt.Sprintf("team%d@bianchi.it", i%10)})
	}
	if err := sw.Flush(); err != nil {
		tb.Fatal(err)
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func BenchmarkRead20k(b *testing.B) {
	data := bigXLSX(b, MaxRows)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sh, err := Read(data)
		if err != nil || len(sh.Rows) != MaxRows {
			b.Fatal(err)
		}
	}
}

// BenchmarkDryRun10k validates a 10 000-row XLSX (reading included).
func BenchmarkDryRun10k(b *testing.B) {
	data := bigXLSX(b, 10000)
	dbtest.ForEachB(b, func(b *testing.B, d *db.DB) {
		f := setup(b, d)
		for b.Loop() {
			res, err := f.prov.Check(f.sys, "Bianchi SpA", data)
			if err != nil || res.Summary.Create != 10000 {
				b.Fatalf("%v %+v", err, res.Summary)
			}
		}
	})
}

// BenchmarkApply10k imports a 10 000-row XLSX into an empty tenant with the production
// password hashing (argon2id, 19 MiB, 2 passes), which dominates; each iteration on a fresh
// database.
func BenchmarkApply10k(b *testing.B) {
	benchApply(b, auth.DefaultParams())
}

// BenchmarkApply10kFastHash is the same with tiny argon2 parameters: the cost of everything but
// the hashing (reading, validation, the transaction).
func BenchmarkApply10kFastHash(b *testing.B) {
	benchApply(b, auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
}

func benchApply(b *testing.B, p auth.Params, scramIterations ...int) {
	data := bigXLSX(b, 10000)
	for _, engine := range dbtest.Engines() {
		b.Run(engine, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				d := dbtest.Open(b, dbtest.DSN(b, engine))
				h := auth.NewHasher(p)
				if len(scramIterations) > 0 {
					h.SCRAMIterations = scramIterations[0]
				}
				f := setupWith(b, d, h)
				b.StartTimer()
				res, err := f.prov.Import(f.sys, "Bianchi SpA", data, ImportOptions{})
				if err != nil || !res.Applied || res.Summary.Create != 10000 {
					b.Fatalf("%v %+v %s", err, res.Summary, res.Refused)
				}
				b.StopTimer()
				var n int
				d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM accounts WHERE tenant_id = (SELECT id FROM tenants WHERE name = 'Bianchi SpA')`).Scan(&n)
				if n != 10001 {
					b.Fatalf("%d accounts", n)
				}
				_ = directory.StatusActive
				b.StartTimer()
			}
		})
	}
}
