package e2e

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"testing"

	_ "modernc.org/sqlite"
)

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// sqlite runs one statement on an installation's database behind posta's back, to set up
// states the CLI must refuse.
func sqlite(t *testing.T, path, stmt string) {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.ExecContext(context.Background(), stmt); err != nil {
		t.Fatal(err)
	}
}
