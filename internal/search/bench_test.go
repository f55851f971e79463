package search_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/postamail/posta/internal/corpus"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/search"
)

// BenchmarkIndex stores and indexes texts of 15 KB (corpus's, with about as many distinct
// trigrams as natural text), some per write
// transaction, and then merges the index's segments: the whole cost per text (ns/op), by texts
// per transaction.
func BenchmarkIndex(b *testing.B) {
	c, r := corpus.New(), rand.New(rand.NewPCG(3, 4))
	texts := make([]string, 200)
	for i := range texts {
		texts[i] = c.Text(r, 15000)
	}
	for _, batch := range []int{20, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			d := dbtest.Open(b, dbtest.DSN(b, "sqlite"))
			index := func(texts []string) {
				err := d.WriteTx(ctx, func(tx *db.Tx) error {
					entries := make([]search.Entry, len(texts))
					for i, text := range texts {
						e := &entries[i]
						if err := tx.QueryRowContext(ctx, `INSERT INTO blobs (key, size, refs, created_at) VALUES (hex(randomblob(16)), 1, 1, 0) RETURNING id`).Scan(&e.BlobID); err != nil {
							return err
						}
						if _, err := tx.ExecContext(ctx, `INSERT INTO blob_text (blob_id, text) VALUES (?, ?)`, e.BlobID, text); err != nil {
							return err
						}
						e.Words = search.Words(d.Engine, text)
					}
					return search.Index(ctx, tx, entries)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			var pending []string
			for i := 0; b.Loop(); i++ {
				if pending = append(pending, texts[i%len(texts)]); len(pending) == batch {
					index(pending)
					pending = pending[:0]
				}
			}
			if len(pending) > 0 {
				index(pending)
			}
			for more := true; more; {
				var err error
				if more, err = search.Merge(ctx, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
