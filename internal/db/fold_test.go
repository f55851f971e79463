package db_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/postamail/posta/internal/db"
)

func TestContainsFold(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		haystack, needle any
		want             any
	}{
		{"La città di Milano", "CITTÀ DI", int64(1)},
		{"UNIVERSITÀ", "università", int64(1)},
		{"Straße", "STRASSE", int64(0)}, // simple case mapping, as the trigram index folds
		{"ΣΟΦΙΑ", "σοφια", int64(1)},
		{"abc", "abd", int64(0)},
		{"abc", "", int64(1)},
		{[]byte("Bytes Too"), "too", int64(1)},
		{nil, "x", nil},
		{"x", nil, nil},
	} {
		var got any
		if err := d.QueryRowContext(ctx, `SELECT `+db.ContainsFoldFunc+`(?, ?)`, tc.haystack, tc.needle).Scan(&got); err != nil {
			t.Fatalf("%v, %v: %v", tc.haystack, tc.needle, err)
		}
		if got != tc.want {
			t.Errorf("%q contains %q: %v, want %v", tc.haystack, tc.needle, got, tc.want)
		}
	}
}
