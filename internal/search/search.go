// Package search owns the full-text index over message text: an FTS5 table of trigram words
// (db.TrigramString) on SQLite and a pg_trgm index on PostgreSQL, both built from the
// blob_text table that delivery fills (schema in internal/db/migrations). It turns a substring
// query into SQL that the owner of the messages table (mailstore) embeds, and merges the SQLite
// index's segments in the background (MergeLoop, run by the server); it never reads message
// bodies and holds no state.
package search

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postamail/posta/internal/db"
)

// Words is what the index holds for a text on the engine: on SQLite the words of its distinct
// trigrams (db.TrigramString), on PostgreSQL nothing (its trigram index follows blob_text by
// itself). Delivery computes it before its write transaction, in parallel with the others.
func Words(engine db.Engine, text string) string {
	if engine == db.Postgres {
		return ""
	}
	return db.TrigramString(text)
}

// Entry is a text to index: its blob and its Words.
type Entry struct {
	BlobID int64
	Words  string
}

// indexChunk bounds the rows of one INSERT (two variables each).
const indexChunk = 500

// Index adds texts (rows of blob_text inserted in tx) to the full-text index. Called once per
// committed batch: on SQLite, FTS5 writes an index segment per transaction, so one transaction
// for many texts keeps the index compact and the insert cheap. PostgreSQL needs nothing.
func Index(ctx context.Context, tx *db.Tx, texts []Entry) error {
	if tx.Engine() == db.Postgres {
		return nil
	}
	for len(texts) > 0 {
		n := min(len(texts), indexChunk)
		args := make([]any, 0, 2*n)
		for _, e := range texts[:n] {
			args = append(args, e.BlobID, e.Words)
		}
		q := `INSERT INTO blob_fts (rowid, grams) VALUES (?, ?)` + strings.Repeat(", (?, ?)", n-1)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("search: index: %w", err)
		}
		texts = texts[n:]
	}
	return nil
}

// BlobsContaining returns a SQL subquery selecting the ids of the blobs whose text contains
// needle, case-insensitively, and its arguments. It uses the index whenever the needle is long
// enough for trigrams (three characters); shorter needles scan the text table, never bodies.
//
// The SQLite index keeps which texts hold each trigram, not where (detail=none: a tenth of the
// size, and a fraction of the work at every delivery), so a longer needle selects the texts
// holding all of its trigrams and then checks those for the substring itself. A needle of
// exactly three characters is one trigram, which the index answers exactly.
func BlobsContaining(engine db.Engine, needle string) (string, []any) {
	if engine == db.Postgres {
		return `SELECT blob_id FROM blob_text WHERE text ILIKE ? ESCAPE '\'`, []any{"%" + EscapeLike(needle) + "%"}
	}
	grams := trigrams(needle)
	switch {
	case len(grams) == 0:
		return `SELECT blob_id FROM blob_text WHERE text LIKE ? ESCAPE '\'`, []any{"%" + EscapeLike(needle) + "%"}
	case utf8.RuneCountInString(needle) == 3:
		return `SELECT rowid FROM blob_fts WHERE blob_fts MATCH ?`, []any{ftsTerms(grams)}
	}
	return `SELECT t.blob_id FROM blob_text t WHERE t.blob_id IN (SELECT rowid FROM blob_fts WHERE blob_fts MATCH ?) AND ` +
		db.ContainsFoldFunc + `(t.text, ?) = 1`, []any{ftsTerms(grams), needle}
}

// maxTrigrams bounds the terms of an index query: more only narrow the candidates a little
// further, and the substring check is exact anyway.
const maxTrigrams = 16

// trigrams returns distinct three-character windows of s, spread over all of s when there are
// more than maxTrigrams. They are not case folded here: their index words are.
func trigrams(s string) []string {
	r := []rune(s)
	n := len(r) - 2
	if n < 1 {
		return nil
	}
	step := 1
	if n > maxTrigrams {
		step = (n + maxTrigrams - 1) / maxTrigrams
	}
	seen := map[string]bool{}
	var out []string
	for i := 0; i < n; i += step {
		if g := string(r[i : i+3]); !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	if g := string(r[n-1:]); !seen[g] {
		out = append(out, g) // the end of the needle always counts
	}
	return out
}

// ftsTerms is an FTS5 query matching texts that hold every trigram: their index words, which
// are ASCII letters and digits, joined by AND.
func ftsTerms(grams []string) string {
	q := make([]string, len(grams))
	for i, g := range grams {
		q[i] = db.TrigramWord(g)
	}
	return strings.Join(q, " AND ")
}

// EscapeLike escapes the LIKE wildcards of s with a backslash (used with ESCAPE '\').
func EscapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// ContainsFold is a case-insensitive LIKE operator for text columns on the engine: SQLite's
// LIKE folds ASCII case, PostgreSQL needs ILIKE.
func ContainsFold(engine db.Engine) string {
	if engine == db.Postgres {
		return "ILIKE"
	}
	return "LIKE"
}

// Merging of the SQLite index. FTS5 writes a segment per commit and, left to itself, merges
// segments inside the commits that cross its thresholds: every few hundred deliveries one
// commit took 50 to 250 ms, and every delivery waiting on it with it. The index is created
// with automerge off (migration 0022); Merge does that work instead, in bounded steps between
// commits.
const (
	// mergePages bounds the leaf pages one step writes: a few milliseconds of the writer.
	mergePages = 32
	// mergeSteps bounds the steps of one round, so that a round after a large import does not
	// take the writer for long; the next round goes on.
	mergeSteps = 50
)

// Merge runs one round of index merging on SQLite: steps of at most mergePages pages, each
// in its own write transaction, until FTS5 has nothing left to merge or mergeSteps were taken.
// It reports whether work remains. PostgreSQL needs none.
func Merge(ctx context.Context, d *db.DB) (more bool, err error) {
	if d.Engine != db.SQLite {
		return false, nil
	}
	for range mergeSteps {
		var worked bool
		err := d.WriteTx(ctx, func(tx *db.Tx) error {
			var before, after int64
			if err := tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&before); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO blob_fts(blob_fts, rank) VALUES ('merge', ?)`, mergePages); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&after); err != nil {
				return err
			}
			worked = after-before >= 2 // FTS5's own test of "no work done"
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("search: merge: %w", err)
		}
		if !worked {
			return false, nil
		}
	}
	return true, nil
}

// MergeLoop runs Merge every interval (at once again while work remains) until ctx ends,
// logging failures.
func MergeLoop(ctx context.Context, d *db.DB, interval time.Duration, log *slog.Logger) {
	if d.Engine != db.SQLite {
		return
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		more, err := Merge(ctx, d)
		if err != nil && ctx.Err() == nil {
			log.Error("search: index merge failed", "err", err)
		}
		next := interval
		if more {
			next = 0
		}
		t.Reset(next)
	}
}
