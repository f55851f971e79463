// Package search owns the full-text index over message text: an FTS5 trigram table on SQLite
// and a pg_trgm index on PostgreSQL, both built from the blob_text table that delivery fills
// (schema in internal/db/migrations). It turns a substring query into SQL that the owner of the
// messages table (mailstore) embeds; it never reads message bodies and holds no state.
package search

import (
	"context"
	"fmt"
	"strings"

	"github.com/postamail/posta/internal/db"
)

// Index adds the texts of the given blobs (rows of blob_text inserted in tx) to the full-text
// index. Called once per committed batch: on SQLite, FTS5 writes an index segment per statement,
// so one statement for many texts keeps the index compact and the insert cheap. PostgreSQL's
// trigram index follows blob_text by itself.
func Index(ctx context.Context, tx *db.Tx, blobIDs []int64) error {
	if len(blobIDs) == 0 || tx.Engine() == db.Postgres {
		return nil
	}
	args := make([]any, len(blobIDs))
	for i, id := range blobIDs {
		args[i] = id
	}
	q := `INSERT INTO blob_fts (rowid, text) SELECT blob_id, text FROM blob_text WHERE blob_id IN (?` + strings.Repeat(", ?", len(blobIDs)-1) + `)`
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("search: index: %w", err)
	}
	return nil
}

// BlobsContaining returns a SQL subquery selecting the ids of the blobs whose text contains
// needle, case-insensitively, and its arguments. It uses the index whenever the needle is long
// enough for trigrams (three characters); shorter needles scan the text table, never bodies.
func BlobsContaining(engine db.Engine, needle string) (string, []any) {
	pattern := "%" + EscapeLike(needle) + "%"
	if engine == db.Postgres {
		return `SELECT blob_id FROM blob_text WHERE text ILIKE ? ESCAPE '\'`, []any{pattern}
	}
	if len([]rune(needle)) >= 3 {
		// A phrase of a trigram table matches as a case-insensitive substring.
		return `SELECT rowid FROM blob_fts WHERE blob_fts MATCH ?`, []any{`"` + strings.ReplaceAll(needle, `"`, `""`) + `"`}
	}
	return `SELECT blob_id FROM blob_text WHERE text LIKE ? ESCAPE '\'`, []any{pattern}
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
