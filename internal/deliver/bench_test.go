package deliver_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
)

// BenchmarkDeliver8KB is local delivery of one 8 KB message, as the SMTP server hands it
// over: to 1 recipient, and to 20 in the same message (one parse, 20 mailboxes), on SQLite and
// (with POSTA_TEST_POSTGRES_DSN) PostgreSQL. ns/op is per message.
func BenchmarkDeliver8KB(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("rcpts=%d", n), func(b *testing.B) {
			dbtest.ForEachB(b, func(b *testing.B, d *db.DB) {
				f := newFixture(b, d)
				ctx, dir, dl := f.ctx, f.dir, f.dl
				rcpts := make([]string, n)
				for i := range rcpts {
					rcpts[i] = fmt.Sprintf("u%d@x.test", i+1)
					_, err := dir.CreateAccount(ctx, directory.AccountSpec{Address: rcpts[i], Password: "Correct-Horse-42", COS: "Business Mail 25.000 MB"})
					must(b, err)
				}
				raw := []byte("From: <a@example.org>\r\nTo: <u1@x.test>\r\nSubject: bench\r\nMessage-ID: <b@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" +
					strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do\r\n", 8192/63))
				header := []byte("Received: from client.example.org (127.0.0.1) by mx.test with ESMTP; Wed, 2 Dec 2026 10:00:00 +0000\r\n")
				b.SetBytes(int64(len(raw)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					errs, err := dl.Deliver(ctx, &deliver.Envelope{From: "a@example.org", Rcpts: rcpts, Header: header, Raw: raw})
					if err != nil {
						b.Fatal(err)
					}
					for _, e := range errs {
						if e != nil {
							b.Fatal(e)
						}
					}
				}
			})
		})
	}
}
