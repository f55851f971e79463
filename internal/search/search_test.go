package search_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/search"
)

// TestBlobsContaining: the subquery finds exactly the texts that contain the needle as a
// substring, ignoring case (Unicode letters too), on both engines: through the index for
// needles of three characters or more, by a scan of the text table for shorter ones. Texts that
// hold all of a needle's trigrams but not the needle must not match.
func TestBlobsContaining(t *testing.T) {
	texts := []string{
		1: "La riunione è fissata a Milano, nella sede di via Roma.",
		2: "UNIVERSITÀ DEGLI STUDI: iscrizioni aperte",
		3: "the lazy dog sleeps; the quick brown fox jumps",
		4: "brown quick: the fox is quick and brown", // every trigram of "quick brown", not the phrase
		5: `Sconto del 50% su "tutto" il_catalogo`,
		6: "abcdefghijklmnopqrstuvwxyz0123456789 la città",
		7: "Fattura n. 2024/118 — importo € 1.250,00",
		8: "codice abca, poi cab", // every trigram of "abcab" (abc bca cab), not "abcab"
	}
	tests := []struct {
		needle string
		want   []int64
	}{
		{"milano", []int64{1}},
		{"MILANO, NELLA", []int64{1}},
		{"università", []int64{2}},
		{"Università degli", []int64{2}},
		{"quick brown", []int64{3}},
		{"the", []int64{3, 4}},
		{"fox", []int64{3, 4}},
		{"50%", []int64{5}},
		{"0% s", []int64{5}},
		{`"tutto"`, []int64{5}},
		{"il_cat", []int64{5}},
		{"il%cat", nil},
		{"abcdefghijklmnopqrstuvwxyz0123456789", []int64{6}},
		{"abcdefghijklmnopqrstuvwxyz012345678X", nil},
		{"ttà", []int64{6}},
		{"CITTÀ", []int64{6}},
		{"€ 1.250", []int64{7}},
		{"la", []int64{1, 3, 6}},
		{"ü", nil},
		{"zzz", nil},
		{"abcab", nil},
		{"abca, p", []int64{8}},
	}
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var ids []int64
		err := d.WriteTx(ctx, func(tx *db.Tx) error {
			for i, text := range texts {
				if text == "" {
					continue
				}
				var id int64
				if err := tx.QueryRowContext(ctx, `INSERT INTO blobs (key, size, refs, created_at) VALUES (?, ?, 1, 0) RETURNING id`,
					fmt.Sprintf("search-test-%d", i), len(text)).Scan(&id); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO blob_text (blob_id, text) VALUES (?, ?)`, id, text); err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return search.Index(ctx, tx, ids)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			q, args := search.BlobsContaining(d.Engine, tc.needle)
			rows, err := d.QueryContext(ctx, q, args...)
			if err != nil {
				t.Fatalf("%q: %v\n%s", tc.needle, err, q)
			}
			var got []int64
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				got = append(got, int64(slices.Index(ids, id)+1)) // the position in texts
			}
			rows.Close()
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%q: texts %v, want %v", tc.needle, got, tc.want)
			}
		}
	})
}

func TestEscapeLike(t *testing.T) {
	for in, want := range map[string]string{`50%`: `50\%`, `a_b`: `a\_b`, `c:\dir`: `c:\\dir`, "plain": "plain"} {
		if got := search.EscapeLike(in); got != want {
			t.Errorf("EscapeLike(%q) = %q, want %q", in, got, want)
		}
	}
}
