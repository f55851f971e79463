package mailstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/message"
)

// msg10KB is a multipart message of about 10 KB.
func msg10KB(i int) []byte {
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 90)
	att := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n", 100)
	return []byte(fmt.Sprintf("From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\nSubject: report %d\r\n"+
		"Message-ID: <b%d@example.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"+
		"--XX\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n%s--XX--\r\n", i, i, body, att))
}

// BenchmarkDeliver10KB stores a parsed 10 KB message into one mailbox, one delivery at a time
// (each is durable on return) and with 8 concurrent deliverers sharing group commits.
func BenchmarkDeliver10KB(b *testing.B) {
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", par), func(b *testing.B) {
			dbtest.ForEachB(b, func(b *testing.B, d *db.DB) {
				ctx := context.Background()
				s := newStore(b, d)
				acc := newAccount(b, d, "bench@x.test", 1<<40)
				raws := make([][]byte, 64)
				parsed := make([]*message.Parsed, len(raws))
				for i := range raws {
					raws[i] = msg10KB(i)
					p, err := message.Parse(raws[i])
					if err != nil {
						b.Fatal(err)
					}
					parsed[i] = p
				}
				var n atomic.Int64
				b.SetBytes(int64(len(raws[0])))
				b.ResetTimer()
				var wg sync.WaitGroup
				for w := 0; w < par; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := int(n.Add(1)) - 1
							if i >= b.N {
								return
							}
							k := i % len(raws)
							// Distinct content per delivery so that every one writes a blob.
							raw := append(append([]byte{}, raws[k]...), fmt.Sprintf("%d\r\n", i)...)
							if _, err := s.Deliver(ctx, &mailstore.Delivery{Raw: raw, Parsed: parsed[k], Targets: []mailstore.Target{{AccountID: acc}}}); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			})
		})
	}
}

// BenchmarkListMetadata10000 reads the metadata rows (flags, size, dates, envelope and body
// structure) of a 10 000-message mailbox, as an IMAP FETCH 1:* of ENVELOPE would.
func BenchmarkListMetadata10000(b *testing.B) {
	dbtest.ForEachB(b, func(b *testing.B, d *db.DB) {
		ctx := context.Background()
		s := newStore(b, d)
		acc := newAccount(b, d, "bench@x.test", 1<<40)
		inbox, err := s.Mailbox(ctx, acc, "INBOX")
		if err != nil {
			b.Fatal(err)
		}
		const n = 10000
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < n; i += 16 {
					if _, err := s.Append(ctx, acc, inbox.ID, msg(i, "short body"), 0, nil, time.Now()); err != nil {
						b.Error(err)
						return
					}
				}
			}(w)
		}
		wg.Wait()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			count := 0
			err := s.Messages(ctx, inbox.ID, nil, mailstore.WithMeta, func(m *mailstore.Message) error {
				count++
				return nil
			})
			if err != nil || count != n {
				b.Fatalf("listed %d, err %v", count, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/list")
	})
}
