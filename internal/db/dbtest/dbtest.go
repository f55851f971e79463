// Package dbtest gives tests a fresh, migrated database on every engine that is available:
// SQLite always, PostgreSQL when POSTA_TEST_POSTGRES_DSN names a server where the test may create
// databases. It is the base of the store conformance suite: a test written once with ForEach runs
// against both engines. It is for tests only.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/postamail/posta/internal/db"
)

// EnvPostgres names the environment variable holding an administrative PostgreSQL DSN.
const EnvPostgres = "POSTA_TEST_POSTGRES_DSN"

// Engines returns the engines under test: sqlite always, postgres when EnvPostgres is set.
func Engines() []string {
	if os.Getenv(EnvPostgres) != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// DSN returns a DSN naming a new empty database of the engine, dropped when the test ends.
func DSN(t testing.TB, engine string) string {
	t.Helper()
	if engine == "postgres" {
		return NewPostgresDB(t, os.Getenv(EnvPostgres))
	}
	return "sqlite:" + filepath.Join(t.TempDir(), "posta.db")
}

// DSNs returns, for each engine under test, a DSN naming a new empty database that is dropped
// when the test ends.
func DSNs(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range Engines() {
		out[e] = DSN(t, e)
	}
	return out
}

// ForEachB runs a benchmark once per engine, each run (Go calls a benchmark function several
// times to size b.N) with a fresh migrated database.
func ForEachB(b *testing.B, fn func(b *testing.B, d *db.DB)) {
	for _, engine := range Engines() {
		b.Run(engine, func(b *testing.B) {
			fn(b, Open(b, DSN(b, engine)))
		})
	}
}

// NewPostgresDB creates an empty database on the server named by admin and returns its DSN.
func NewPostgresDB(t testing.TB, admin string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "posta_test_" + hex.EncodeToString(b)
	adm, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer adm.Close()
	if _, err := adm.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("postgres: create database: %v", err)
	}
	t.Cleanup(func() {
		adm, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer adm.Close()
		adm.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("postgres dsn: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// ForEach runs fn as a subtest once per engine, each with a fresh migrated database.
func ForEach(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	for engine, dsn := range DSNs(t) {
		t.Run(engine, func(t *testing.T) {
			fn(t, Open(t, dsn))
		})
	}
}

// Open opens and migrates the database at dsn, closing it when the test ends.
func Open(t testing.TB, dsn string) *db.DB {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return d
}
