// Package db opens the SQL database posta keeps its state in (embedded SQLite by default, PostgreSQL
// when several nodes share the data), applies the embedded, versioned schema migrations, and runs
// transactions. It owns the small dialect differences between the two engines (placeholders, busy
// retries, the writer connection of SQLite) so that every other package writes one portable SQL,
// and the SQL functions SQLite lacks (Unicode case folding, the search index's trigram words).
//
// It must not know about any table but its own schema_version: the schema files are embedded here,
// but the packages that own the tables (directory, mailstore, ...) are the only ones that query them.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names the SQL engine behind a DB.
type Engine int

const (
	SQLite Engine = iota + 1
	Postgres
)

func (e Engine) String() string {
	switch e {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// DB is an open database. Reads go through Read (a pool); writes go through Tx, which on SQLite
// uses a single writer connection so that writers queue in Go instead of spinning on SQLITE_BUSY.
type DB struct {
	Engine Engine
	DSN    string

	read  *sql.DB
	write *sql.DB // same as read on PostgreSQL

	// SQLite: the checkpointer moves the WAL's pages into the database file in the background,
	// so that no commit waits for it (see checkpointer).
	ckpt     *sql.DB
	stopCkpt chan struct{}
	ckptDone chan struct{}
	log      atomic.Pointer[slog.Logger]

	// Prepared statements by query text, per pool (SQLite only: parsing a statement costs as
	// much as running it, and pgx already caches statements on PostgreSQL).
	stmtMu     sync.Mutex
	readStmts  map[string]*sql.Stmt
	writeStmts map[string]*sql.Stmt
	pending    map[string]bool
}

// maxCachedStmts bounds the statement cache; queries beyond it are prepared each time.
const maxCachedStmts = 1000

// stmt returns the cached prepared statement for q on the pool, preparing it if needed, or nil
// when the engine or the cache does not keep one. It must not be called inside a write
// transaction: on SQLite preparing on the write pool would wait for the transaction's own
// connection. The cache lock is never held while preparing: a transaction holding the single
// writer connection may need the lock (txStmt) before it can give the connection back.
func (db *DB) stmt(ctx context.Context, write bool, q string) *sql.Stmt {
	if db.Engine != SQLite {
		return nil
	}
	cache, pool := db.readStmts, db.read
	if write {
		cache, pool = db.writeStmts, db.write
	}
	db.stmtMu.Lock()
	st, ok := cache[q]
	full := len(cache) >= maxCachedStmts
	db.stmtMu.Unlock()
	if ok {
		return st
	}
	if full {
		return nil
	}
	st, err := pool.PrepareContext(ctx, q)
	if err != nil {
		return nil // let the caller run it unprepared and report the error
	}
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if prev, ok := cache[q]; ok {
		st.Close() // another goroutine prepared it meanwhile
		return prev
	}
	cache[q] = st
	return st
}

// txStmt returns the cached write statement for q, for use inside a transaction. A statement
// not yet cached is noted and prepared after the transaction ends.
func (db *DB) txStmt(q string) *sql.Stmt {
	if db.Engine != SQLite {
		return nil
	}
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if st, ok := db.writeStmts[q]; ok {
		return st
	}
	if len(db.writeStmts)+len(db.pending) < maxCachedStmts {
		db.pending[q] = true
	}
	return nil
}

// preparePending prepares the statements transactions asked for.
func (db *DB) preparePending(ctx context.Context) {
	db.stmtMu.Lock()
	var qs []string
	for q := range db.pending {
		qs = append(qs, q)
	}
	clear(db.pending)
	db.stmtMu.Unlock()
	for _, q := range qs {
		db.stmt(ctx, true, q)
	}
}

// Open opens the database named by dsn: "sqlite:PATH" (or a path ending in .db) or
// "postgres://..." / "postgresql://...". It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	}
	return nil, fmt.Errorf("db: unrecognised database %q: expected sqlite:PATH or postgres://", dsn)
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("db: sqlite path is empty")
	}
	// synchronous=FULL: in WAL mode every commit fsyncs the WAL, so a commit is durable when
	// it returns (house rule: nothing acknowledged is lost).
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)", "busy_timeout(10000)",
		"temp_store(MEMORY)", "cache_size(-32000)",
	} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	qr := url.Values{}
	for _, p := range []string{"foreign_keys(ON)", "busy_timeout(10000)", "query_only(ON)", "cache_size(-32000)"} {
		qr.Add("_pragma", p)
	}
	read, err := sql.Open("sqlite", "file:"+path+"?"+qr.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	ckpt, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)
	db := &DB{Engine: SQLite, DSN: "sqlite:" + path, read: read, write: write, ckpt: ckpt,
		stopCkpt: make(chan struct{}), ckptDone: make(chan struct{}),
		readStmts: map[string]*sql.Stmt{}, writeStmts: map[string]*sql.Stmt{}, pending: map[string]bool{}}
	db.log.Store(slog.New(slog.DiscardHandler))
	go db.checkpointer()
	return db, nil
}

// checkpointInterval is how often the checkpointer looks at the WAL.
const checkpointInterval = 200 * time.Millisecond

// checkpointer copies committed pages from the WAL into the database file (a PASSIVE
// checkpoint, which never waits for readers nor blocks the writer) every checkpointInterval,
// on a connection of its own. SQLite would otherwise do it inside the commit that crosses
// 1 000 WAL pages, and every deliverer waiting on that commit would wait for the copy and its
// fsync too. Once a checkpoint has copied everything, the next write starts the WAL over.
func (db *DB) checkpointer() {
	defer close(db.ckptDone)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-db.stopCkpt:
			return
		case <-t.C:
		}
		var busy, frames, done int64
		err := db.ckpt.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done)
		if err != nil && !failing {
			db.log.Load().Error("db: checkpoint of the SQLite WAL failed", "err", err)
		}
		failing = err != nil
	}
}

// SetLogger sets where the database reports background failures (SQLite checkpoints).
func (db *DB) SetLogger(l *slog.Logger) { db.log.Store(l) }

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open postgres: %w", err)
	}
	pool.SetMaxOpenConns(32)
	pool.SetMaxIdleConns(16)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: open postgres: %w", err)
	}
	return &DB{Engine: Postgres, DSN: dsn, read: pool, write: pool}, nil
}

// Close closes every connection.
func (db *DB) Close() error {
	if db.ckpt != nil {
		close(db.stopCkpt)
		<-db.ckptDone
		db.ckpt.Close()
	}
	db.stmtMu.Lock()
	for _, m := range []map[string]*sql.Stmt{db.readStmts, db.writeStmts} {
		for _, st := range m {
			st.Close()
		}
	}
	db.stmtMu.Unlock()
	err := db.read.Close()
	if db.write != db.read {
		err = errors.Join(err, db.write.Close())
	}
	return err
}

// Rebind rewrites the portable "?" placeholders of q into the engine's own ($1, $2, ... on
// PostgreSQL). Question marks inside single-quoted literals are left alone.
func (db *DB) Rebind(q string) string {
	if db.Engine != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n, inQuote := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
		case c == '?' && !inQuote:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Querier is what both *DB (reads) and *Tx offer.
type Querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// QueryContext runs a read query on the reader pool.
func (db *DB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := db.stmt(ctx, false, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.read.QueryContext(ctx, db.Rebind(q), args...)
}

// QueryRowContext runs a read query returning one row on the reader pool.
func (db *DB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := db.stmt(ctx, false, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.read.QueryRowContext(ctx, db.Rebind(q), args...)
}

// ExecContext runs one statement on the writer, outside any explicit transaction.
func (db *DB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := db.stmt(ctx, true, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return db.write.ExecContext(ctx, db.Rebind(q), args...)
}

// Tx is a write transaction. Its methods take portable "?" queries.
type Tx struct {
	tx *sql.Tx
	db *DB
}

// Engine is the engine of the database the transaction runs on.
func (tx *Tx) Engine() Engine { return tx.db.Engine }

func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := tx.db.txStmt(q); st != nil {
		return tx.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.tx.QueryContext(ctx, tx.db.Rebind(q), args...)
}

func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := tx.db.txStmt(q); st != nil {
		return tx.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.tx.QueryRowContext(ctx, tx.db.Rebind(q), args...)
}

func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := tx.db.txStmt(q); st != nil {
		return tx.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.tx.ExecContext(ctx, tx.db.Rebind(q), args...)
}

// InsertID runs an INSERT ... RETURNING id statement and returns the id.
func (tx *Tx) InsertID(ctx context.Context, q string, args ...any) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, q+" RETURNING id", args...).Scan(&id)
	return id, err
}

// WriteTx runs fn in a write transaction and commits it; any error from fn, or a panic, rolls it
// back. On PostgreSQL, a serialization failure or deadlock is retried a few times; fn must
// therefore be safe to run again (it must not have side effects outside the transaction).
func (db *DB) WriteTx(ctx context.Context, fn func(*Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.writeTxOnceAndPrepare(ctx, fn)
		if err == nil || attempt >= 4 || !db.retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
}

func (db *DB) writeTxOnce(ctx context.Context, fn func(*Tx) error) (err error) {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	tx := &Tx{tx: sqlTx, db: db}
	defer func() {
		if p := recover(); p != nil {
			sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			sqlTx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = sqlTx.Commit(); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

func (db *DB) writeTxOnceAndPrepare(ctx context.Context, fn func(*Tx) error) error {
	err := db.writeTxOnce(ctx, fn)
	if db.Engine == SQLite {
		db.preparePending(ctx)
	}
	return err
}

func (db *DB) retryable(err error) bool {
	if db.Engine == Postgres {
		s := err.Error()
		return strings.Contains(s, "SQLSTATE 40001") || strings.Contains(s, "SQLSTATE 40P01")
	}
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY)
}

// IsUniqueViolation reports whether err is a unique-constraint violation on either engine.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return strings.Contains(err.Error(), "SQLSTATE 23505")
}

// IsForeignKeyViolation reports whether err is a foreign-key violation on either engine.
func IsForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return strings.Contains(err.Error(), "SQLSTATE 23503")
}

// Now is the time format posta stores: Unix milliseconds, portable across engines.
func Now() int64 { return time.Now().UnixMilli() }
