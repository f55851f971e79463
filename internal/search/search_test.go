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
		9: "ΣΟΦΙΑ manda 😀 a tutti",
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
		{"σοφ", []int64{9}},
		{"σοφία", nil},
		{"😀 a t", []int64{9}},
	}
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var ids []int64
		err := d.WriteTx(ctx, func(tx *db.Tx) error {
			var entries []search.Entry
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
				entries = append(entries, search.Entry{BlobID: id, Words: search.Words(d.Engine, text)})
			}
			return search.Index(ctx, tx, entries)
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
		// A text deleted leaves the index with it.
		if _, err := d.ExecContext(ctx, `DELETE FROM blob_text WHERE blob_id = ?`, ids[0]); err != nil {
			t.Fatal(err)
		}
		q, args := search.BlobsContaining(d.Engine, "riunione")
		var n int
		if err := d.QueryRowContext(ctx, `SELECT count(*) FROM (`+q+`) AS hits`, args...).Scan(&n); err != nil || n != 0 {
			t.Errorf("after deleting its text, %d texts hold %q (%v)", n, "riunione", err)
		}
		if d.Engine == db.SQLite {
			if err := d.QueryRowContext(ctx, `SELECT count(*) FROM blob_fts WHERE blob_fts MATCH ?`, db.TrigramWord("riu")).Scan(&n); err != nil || n != 0 {
				t.Errorf("after deleting its text, the index holds it %d times (%v)", n, err)
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

// TestMerge: the index is written a segment per commit and never merged inside them; Merge
// folds the segments together in steps, reports when nothing is left, and searches answer the
// same before and after.
func TestMerge(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if d.Engine != db.SQLite {
			if more, err := search.Merge(ctx, d); more || err != nil {
				t.Fatalf("PostgreSQL: more %v, err %v", more, err)
			}
			return
		}
		for i := range 40 {
			err := d.WriteTx(ctx, func(tx *db.Tx) error {
				var id int64
				if err := tx.QueryRowContext(ctx, `INSERT INTO blobs (key, size, refs, created_at) VALUES (?, 1, 1, 0) RETURNING id`,
					fmt.Sprintf("merge-%d", i)).Scan(&id); err != nil {
					return err
				}
				text := fmt.Sprintf("messaggio numero %d della prova di fusione", i)
				if i%10 == 0 {
					text += " parolarara"
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO blob_text (blob_id, text) VALUES (?, ?)`, id, text); err != nil {
					return err
				}
				return search.Index(ctx, tx, []search.Entry{{BlobID: id, Words: search.Words(d.Engine, text)}})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		segments := func() int {
			var n int
			if err := d.QueryRowContext(ctx, `SELECT count(DISTINCT segid) FROM blob_fts_idx`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		hits := func() int {
			q, args := search.BlobsContaining(d.Engine, "PAROLARARA")
			var n int
			if err := d.QueryRowContext(ctx, `SELECT count(*) FROM (`+q+`)`, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		var automerge int
		if err := d.QueryRowContext(ctx, `SELECT v FROM blob_fts_config WHERE k = 'automerge'`).Scan(&automerge); err != nil || automerge != 0 {
			t.Fatalf("automerge %d (%v): the commits merge segments themselves", automerge, err)
		}
		before := segments()
		if before < 5 {
			t.Fatalf("%d segments before merging: the commits merged them", before)
		}
		if n := hits(); n != 4 {
			t.Fatalf("%d hits before merging, want 4", n)
		}
		rounds := 0
		for more := true; more; rounds++ {
			var err error
			if more, err = search.Merge(ctx, d); err != nil {
				t.Fatal(err)
			}
			if rounds > 100 {
				t.Fatal("Merge never reports that it is done")
			}
		}
		if n := segments(); n > 2 {
			t.Errorf("%d segments after merging, %d before", n, before)
		}
		if n := hits(); n != 4 {
			t.Errorf("%d hits after merging, want 4", n)
		}
	})
}

// TestUpgradeTo0023: a SQLite database indexed by FTS5's trigram tokenizer (migrations 0021 and
// 0022) gets, from migration 0023, an index of posta's words for every text it holds, which
// answers searches and forgets deleted texts.
func TestUpgradeTo0023(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, dbtest.DSN(t, "sqlite"))
	texts := []string{"Fattura di novembre per la ditta Rossi", "CITTÀ di Milano", "nulla da vedere qui"}
	var ids []int64
	err := d.WriteTx(ctx, func(tx *db.Tx) error {
		for i, text := range texts {
			var id int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO blobs (key, size, refs, created_at) VALUES (?, 1, 1, 0) RETURNING id`, fmt.Sprint("upgrade-", i)).Scan(&id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO blob_text (blob_id, text) VALUES (?, ?)`, id, text); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The index as migrations 0021 and 0022 left it, filled by the tokenizer.
	for _, q := range []string{
		`DROP TRIGGER blob_text_ad`,
		`DROP TABLE blob_fts`,
		`CREATE VIRTUAL TABLE blob_fts USING fts5(text, content='blob_text', content_rowid='blob_id', tokenize='trigram', detail='none')`,
		`INSERT INTO blob_fts(blob_fts) VALUES ('rebuild')`,
		`INSERT INTO blob_fts(blob_fts, rank) VALUES ('automerge', 0)`,
		`CREATE TRIGGER blob_text_ad AFTER DELETE ON blob_text BEGIN INSERT INTO blob_fts(blob_fts, rowid, text) VALUES ('delete', old.blob_id, old.text); END`,
		`DELETE FROM schema_version WHERE version >= 23`,
	} {
		if _, err := d.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if n, err := d.Migrate(ctx); err != nil || n < 1 {
		t.Fatalf("migrate: %d applied, %v", n, err)
	}
	find := func(needle string) []int64 {
		t.Helper()
		q, args := search.BlobsContaining(d.Engine, needle)
		rows, err := d.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		return got
	}
	for needle, want := range map[string][]int64{"rossi": {ids[0]}, "città di": {ids[1]}, "ttà": {ids[1]}, "vedere": {ids[2]}, "roma": nil} {
		if got := find(needle); !slices.Equal(got, want) {
			t.Errorf("%q after the upgrade: %v, want %v", needle, got, want)
		}
	}
	if _, err := d.ExecContext(ctx, `DELETE FROM blob_text WHERE blob_id = ?`, ids[1]); err != nil {
		t.Fatal(err)
	}
	if got := find("ttà"); got != nil {
		t.Errorf("a deleted text is still found: %v", got)
	}
}
