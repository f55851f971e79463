package db

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations
var migrationFiles embed.FS

// ErrNewerSchema is returned by Migrate when the database was written by a newer posta.
var ErrNewerSchema = errors.New("database schema is newer than this posta")

type migration struct {
	version int
	name    string
	sql     string
}

func (db *DB) migrations() ([]migration, error) {
	dir := path.Join("migrations", db.Engine.String())
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("db: bad migration file name %s", name)
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("db: migrations are not numbered 1..n: %s", m.name)
		}
	}
	return ms, nil
}

// SchemaVersion returns the version of the schema in the database (0 when empty) and the latest
// version this binary knows.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	ms, err := db.migrations()
	if err != nil {
		return 0, 0, err
	}
	current, err = db.currentVersion(ctx)
	return current, len(ms), err
}

func (db *DB) currentVersion(ctx context.Context) (int, error) {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return 0, fmt.Errorf("db: schema_version: %w", err)
	}
	var v int
	err := db.write.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("db: schema_version: %w", err)
	}
	return v, nil
}

// Migrate brings the schema to the latest version, one transaction per migration. It refuses a
// database whose schema is newer than this binary knows (ErrNewerSchema), so an older posta can
// never write to data it does not understand. On PostgreSQL an advisory lock keeps several nodes
// that start at once from migrating concurrently.
func (db *DB) Migrate(ctx context.Context) (applied int, err error) {
	ms, err := db.migrations()
	if err != nil {
		return 0, err
	}
	if db.Engine == Postgres {
		conn, err := db.write.Conn(ctx)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7470737461)`); err != nil {
			return 0, fmt.Errorf("db: migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7470737461)`)
	}
	cur, err := db.currentVersion(ctx)
	if err != nil {
		return 0, err
	}
	if cur > len(ms) {
		return 0, fmt.Errorf("db: schema version %d, this posta knows up to %d: %w", cur, len(ms), ErrNewerSchema)
	}
	for _, m := range ms[cur:] {
		err := db.WriteTx(ctx, func(tx *Tx) error {
			for _, stmt := range splitStatements(m.sql) {
				if _, err := tx.tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("db: migration %s: %w\n%s", m.name, err, stmt)
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`, m.version, Now())
			return err
		})
		if err != nil {
			return applied, err
		}
		applied++
	}
	return applied, nil
}

// splitStatements splits a migration file on lines that end a statement with ";". Statements
// that contain semicolons inside (triggers) end with a line holding only "-- end".
func splitStatements(s string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if st := strings.TrimSpace(cur.String()); st != "" {
			out = append(out, st)
		}
		cur.Reset()
	}
	inBlock := false
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "-- begin":
			inBlock = true
			continue
		case t == "-- end":
			inBlock = false
			flush()
			continue
		case strings.HasPrefix(t, "--") && !inBlock:
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if !inBlock && strings.HasSuffix(t, ";") {
			flush()
		}
	}
	flush()
	return out
}
