package db_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
)

func TestMigrateIdempotentAndRefusesNewer(t *testing.T) {
	ctx := context.Background()
	for engine, dsn := range dbtest.DSNs(t) {
		t.Run(engine, func(t *testing.T) {
			d := dbtest.Open(t, dsn)
			n, err := d.Migrate(ctx)
			if err != nil || n != 0 {
				t.Fatalf("second migrate applied %d, err %v; want 0, nil", n, err)
			}
			cur, latest, err := d.SchemaVersion(ctx)
			if err != nil || cur != latest || cur < 1 {
				t.Fatalf("version %d/%d err %v", cur, latest, err)
			}
			if _, err := d.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`, latest+1, db.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Migrate(ctx); !errors.Is(err, db.ErrNewerSchema) {
				t.Fatalf("migrate on newer schema: %v, want ErrNewerSchema", err)
			}
		})
	}
}

func TestWriteTxRollsBackAndClassifiesErrors(t *testing.T) {
	ctx := context.Background()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		boom := errors.New("boom")
		err := d.WriteTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)`, "a", "1"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		var n int
		if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("rolled back tx left %d rows (%v)", n, err)
		}
		insert := func() error {
			return d.WriteTx(ctx, func(tx *db.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)`, "k", "v")
				return err
			})
		}
		if err := insert(); err != nil {
			t.Fatal(err)
		}
		if err := insert(); !db.IsUniqueViolation(err) {
			t.Fatalf("duplicate insert: %v, want unique violation", err)
		}
		err = d.WriteTx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO domains (tenant_id, name, created_at) VALUES (?, ?, ?)`, 999, "x.test", db.Now())
			return err
		})
		if !db.IsForeignKeyViolation(err) {
			t.Fatalf("fk insert: %v, want foreign key violation", err)
		}
	})
}

func TestRebind(t *testing.T) {
	pg := &db.DB{Engine: db.Postgres}
	lite := &db.DB{Engine: db.SQLite}
	tests := []struct{ in, pg string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"x = '?' AND y = ?", "x = '?' AND y = $1"},
	}
	for _, tt := range tests {
		if got := pg.Rebind(tt.in); got != tt.pg {
			t.Errorf("pg Rebind(%q) = %q, want %q", tt.in, got, tt.pg)
		}
		if got := lite.Rebind(tt.in); got != tt.in {
			t.Errorf("sqlite Rebind(%q) = %q", tt.in, got)
		}
	}
}

func TestOpenRejectsUnknownDSN(t *testing.T) {
	if _, err := db.Open(context.Background(), "mysql://x"); err == nil {
		t.Fatal("want error for mysql DSN")
	}
}

// Transactions that meet statements not yet prepared, racing with each other and with plain
// writes, must all finish: the statement cache once held its lock while waiting for the single
// SQLite writer connection that a transaction needing the same lock was holding.
func TestConcurrentWritesWithFreshStatements(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					// A distinct query text each round, so every transaction finds an
					// unprepared statement and leaves one pending.
					q := fmt.Sprintf(`INSERT INTO settings (key, value) VALUES (?, ?) /* %d-%d */`, g, i)
					err := d.WriteTx(ctx, func(tx *db.Tx) error {
						var n int
						if err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM settings /* %d */`, i)).Scan(&n); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, q, fmt.Sprintf("tx-%d-%d", g, i), "v")
						return err
					})
					if err == nil {
						_, err = d.ExecContext(ctx, fmt.Sprintf(`INSERT INTO settings (key, value) VALUES (?, ?) /* plain %d */`, i), fmt.Sprintf("plain-%d-%d", g, i), "v")
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var n int
		if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings`).Scan(&n); err != nil || n != 8*25*2 {
			t.Fatalf("%d rows (%v), want %d", n, err, 8*25*2)
		}
	})
}

// TestCheckpointInBackground: with SQLite, commits do not copy the WAL into the database file
// themselves; the checkpointer does, soon after, so the file grows and the WAL stays bounded.
func TestCheckpointInBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ck.db")
	d, err := db.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.WriteTx(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE big (v BLOB)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	chunk := make([]byte, 64<<10)
	for range 64 { // 4 MiB in 64 commits
		if err := d.WriteTx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO big (v) VALUES (?)`, chunk)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() >= before.Size()+4<<20 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes after 4 MiB committed (%d before): nothing checkpointed", st.Size(), before.Size())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
