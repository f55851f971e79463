package pim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/pim"
)

// addressBookFile is an export of n contacts, Google style.
func addressBookFile(n, version int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bench-%d\r\nFN:Persona %d v%d\r\nN:%d;Persona;;;\r\nEMAIL;TYPE=INTERNET:persona%d@example.org\r\nTEL;TYPE=CELL:+39 333 %07d\r\nORG:Azienda %d\r\nNOTE:Nota\\, con virgola\r\nEND:VCARD\r\n", i, i, version, i, i, i, i%50)
	}
	return []byte(b.String())
}

// BenchmarkImportContacts imports a file of 1000 contacts into a fresh address book, then the
// same file changed (1000 updates).
func BenchmarkImportContacts(b *testing.B) {
	first, second := addressBookFile(1000, 1), addressBookFile(1000, 2)
	dbtest.ForEachB(b, func(b *testing.B, d *db.DB) {
		dir := directory.New(d, auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}), directory.Options{})
		sys := directory.WithActor(context.Background(), directory.SystemActor("bench"))
		dir.SeedStandardCOS(sys)
		dir.CreateTenant(sys, directory.TenantSpec{Name: "T", ContactEmail: "it@t.test", Contract: "payg"})
		dir.AddDomain(sys, "T", "t.test", directory.DomainOptions{})
		p := pim.New(d, dir)
		b.SetBytes(int64(len(first)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			addr := fmt.Sprintf("u%d@t.test", i)
			b.StopTimer()
			if _, err := dir.CreateAccount(sys, directory.AccountSpec{Address: addr, Password: "Correct-Horse-42-Battery", COS: "Business Mail 100 MB"}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			for _, data := range [][]byte{first, second} {
				res, err := p.ImportContacts(sys, addr, "", pim.Source{Data: data})
				if err != nil || res.Imported+res.Updated != 1000 {
					b.Fatalf("%+v %v", res, err)
				}
			}
		}
	})
}
