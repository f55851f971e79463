// Package migrate owns the built-in IMAP migration from another provider: migration jobs (one
// source account into one destination account), their encrypted source passwords, the
// pre-flight report (folders, sizes, the mapping, what is too large, whether the quota
// suffices), the copy itself (folder mapping by special use and common names, flags, keywords
// and internal dates preserved, pipelined FETCHes, bounded concurrency, rate limits), the
// records that make a re-run copy only what is new, the runner that leases jobs inside
// `posta serve`, and the per-account report.
//
// It stores messages only through the mailstore (quota, blob deduplication, one transaction per
// batch) and decides nothing about who may do what: the directory authorises every call.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
)

// Job statuses.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusDone      = "done"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// TLS modes of the source connection.
const (
	TLSImplicit = "implicit"
	TLSStartTLS = "starttls"
	TLSNone     = "none"
)

// Options configure the service.
type Options struct {
	// KeyFile holds the key encrypting source passwords (created at first use, mode 0600).
	KeyFile string
	// MaxMessageSize is the node's message size limit, used when neither the destination's
	// class of service nor its tenant sets one.
	MaxMessageSize int64
	Logger         *slog.Logger
	// Dialer dials the source servers; default a net.Dialer with a 30 s timeout.
	Dialer *net.Dialer
	// Registerer receives the migration metrics (messages by outcome, bytes copied); nil: none.
	Registerer prometheus.Registerer
}

// Service creates, lists and runs migration jobs.
type Service struct {
	// messages counts messages by outcome (copied, skipped, failed); bytes counts bytes copied.
	messages *prometheus.CounterVec
	bytes    prometheus.Counter
	db       *db.DB
	dir      *directory.Service
	store    *mailstore.Store
	sealer   *Sealer
	opts     Options
	log      *slog.Logger
	// queued wakes this node's runner when a job is created here, instead of at its next poll.
	queued chan struct{}
}

// New returns the migration service.
func New(d *db.DB, dir *directory.Service, store *mailstore.Store, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 29 << 20
	}
	if opts.Dialer == nil {
		opts.Dialer = &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	}
	s := &Service{db: d, dir: dir, store: store, sealer: NewSealer(opts.KeyFile), opts: opts, log: opts.Logger, queued: make(chan struct{}, 1),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posta_migration_messages_total", Help: "Messages of IMAP migrations, by outcome (copied, skipped, failed)."}, []string{"outcome"}),
		bytes:    prometheus.NewCounter(prometheus.CounterOpts{Name: "posta_migration_bytes_total", Help: "Bytes copied by IMAP migrations."}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(s.messages, s.bytes)
	}
	return s
}

// Request asks for a migration job.
type Request struct {
	Address    string `json:"address"` // the destination account
	SourceHost string `json:"source_host"`
	SourcePort int    `json:"source_port,omitempty"` // default 993 (implicit TLS) or 143
	SourceTLS  string `json:"source_tls,omitempty"`  // implicit (default), starttls, none
	SourceUser string `json:"source_user"`
	// SourceAuthz is the user to act as when SourceUser is an administrator of the source
	// (SASL PLAIN authorisation identity), for servers that support it.
	SourceAuthz    string `json:"source_authz,omitempty"`
	SourcePassword string `json:"source_password"`
	// AllowPlaintext must be set for source_tls "none": the password then crosses the
	// network in clear.
	AllowPlaintext bool `json:"allow_plaintext,omitempty"`
	DryRun         bool `json:"dry_run,omitempty"`
	// Force copies even when the destination's quota is too small for everything.
	Force          bool  `json:"force,omitempty"`
	MaxBytesPerSec int64 `json:"max_bytes_per_sec,omitempty"`
	MaxMsgsPerSec  int   `json:"max_msgs_per_sec,omitempty"`
}

// Job is a migration job and its progress.
type Job struct {
	ID         int64  `json:"id"`
	TenantID   int64  `json:"tenant_id"`
	AccountID  int64  `json:"account_id"`
	Address    string `json:"address"`
	Status     string `json:"status"`
	Phase      string `json:"phase,omitempty"`
	DryRun     bool   `json:"dry_run"`
	Force      bool   `json:"force"`
	SourceHost string `json:"source_host"`
	SourcePort int    `json:"source_port"`
	SourceTLS  string `json:"source_tls"`
	SourceUser string `json:"source_user"`
	// SourceAuthz is the authorisation identity (admin login acting as a user).
	SourceAuthz    string `json:"source_authz,omitempty"`
	MaxBytesPerSec int64  `json:"max_bytes_per_sec,omitempty"`
	MaxMsgsPerSec  int    `json:"max_msgs_per_sec,omitempty"`
	CreatedBy      string `json:"created_by"`
	CreatedAt      int64  `json:"created_at"`
	StartedAt      int64  `json:"started_at,omitempty"`
	FinishedAt     int64  `json:"finished_at,omitempty"`
	Attempts       int    `json:"attempts"`
	CancelAsked    bool   `json:"cancel_requested,omitempty"`
	Progress
	// ErrorKind is a stable name of why the job failed (source-login-failed, quota-insufficient,
	// source-unreachable, ...); Error says it for people.
	ErrorKind string `json:"error_kind,omitempty"`
	Error     string `json:"error,omitempty"`
	// RatePerSec and ETASeconds are computed from the progress of a running job.
	RateBytesPerSec int64   `json:"rate_bytes_per_sec,omitempty"`
	RateMsgsPerSec  float64 `json:"rate_msgs_per_sec,omitempty"`
	ETASeconds      int64   `json:"eta_seconds,omitempty"`

	plan        string
	secret      []byte
	lockedUntil int64
}

// Progress counts a job's work.
type Progress struct {
	MsgsTotal   int64 `json:"messages_total"`
	BytesTotal  int64 `json:"bytes_total"`
	MsgsDone    int64 `json:"messages_done"`
	BytesDone   int64 `json:"bytes_done"`
	Copied      int64 `json:"copied"`
	CopiedBytes int64 `json:"copied_bytes"`
	Skipped     int64 `json:"skipped"`
	Failed      int64 `json:"failed"`
	FlagsSynced int64 `json:"flags_synced"`
}

const jobCols = `id, tenant_id, account_id, address, status, phase, dry_run, force_quota, source_host, source_port, source_tls, source_user, source_authz,
	max_bytes_per_sec, max_msgs_per_sec, created_by, created_at, started_at, finished_at, attempts, cancel_requested,
	msgs_total, bytes_total, msgs_done, bytes_done, copied, copied_bytes, skipped, failed, flags_synced, error_kind, error, plan, secret, locked_until`

func scanJob(sc interface{ Scan(...any) error }) (*Job, error) {
	var j Job
	err := sc.Scan(&j.ID, &j.TenantID, &j.AccountID, &j.Address, &j.Status, &j.Phase, &j.DryRun, &j.Force, &j.SourceHost, &j.SourcePort, &j.SourceTLS,
		&j.SourceUser, &j.SourceAuthz, &j.MaxBytesPerSec, &j.MaxMsgsPerSec, &j.CreatedBy, &j.CreatedAt, &j.StartedAt, &j.FinishedAt, &j.Attempts,
		&j.CancelAsked, &j.MsgsTotal, &j.BytesTotal, &j.MsgsDone, &j.BytesDone, &j.Copied, &j.CopiedBytes, &j.Skipped, &j.Failed, &j.FlagsSynced,
		&j.ErrorKind, &j.Error, &j.plan, &j.secret, &j.lockedUntil)
	if err != nil {
		return nil, err
	}
	j.computeRate(time.Now())
	return &j, nil
}

// computeRate fills the rate and the estimated time left of a running job.
func (j *Job) computeRate(now time.Time) {
	if j.Status != StatusRunning || j.StartedAt == 0 || j.Phase != "copy" {
		return
	}
	secs := now.Sub(time.UnixMilli(j.StartedAt)).Seconds()
	if secs < 1 || j.MsgsDone == 0 {
		return
	}
	j.RateBytesPerSec = int64(float64(j.BytesDone) / secs)
	j.RateMsgsPerSec = float64(j.MsgsDone) / secs
	if left := j.MsgsTotal - j.MsgsDone; left > 0 {
		j.ETASeconds = int64(float64(left) / j.RateMsgsPerSec)
	}
}

// sourceKey names a source account in the records of copied messages.
func (j *Job) sourceKey() string {
	u := j.SourceUser
	if j.SourceAuthz != "" {
		u = j.SourceAuthz
	}
	return strings.ToLower(j.SourceHost) + ":" + strconv.Itoa(j.SourcePort) + "/" + u
}

// Finished reports whether the job has ended.
func (j *Job) Finished() bool {
	return j.Status == StatusDone || j.Status == StatusFailed || j.Status == StatusCancelled
}

func invalid(field, format string, args ...any) error {
	return &directory.Error{Kind: "invalid-argument", Field: field, Msg: fmt.Sprintf(format, args...)}
}

// check validates a request and fills its defaults.
func (r *Request) check() error {
	r.SourceHost = strings.TrimSpace(r.SourceHost)
	r.Address = strings.TrimSpace(r.Address)
	switch {
	case r.Address == "":
		return invalid("address", "the destination address is required")
	case r.SourceHost == "" || strings.ContainsAny(r.SourceHost, " /\t\r\n@"):
		return invalid("source_host", "the source host is required: a host name or an IP address, without scheme or port")
	case r.SourceUser == "" || strings.ContainsAny(r.SourceUser, "\r\n\x00"):
		return invalid("source_user", "the source user is required")
	case r.SourcePassword == "" || strings.ContainsAny(r.SourcePassword, "\r\n\x00"):
		return invalid("source_password", "the source password is required (one line)")
	case strings.ContainsAny(r.SourceAuthz, "\r\n\x00"):
		return invalid("source_authz", "the authorisation identity must be one line")
	case r.MaxBytesPerSec < 0 || r.MaxMsgsPerSec < 0:
		return invalid("max_bytes_per_sec", "rate limits cannot be negative")
	}
	switch r.SourceTLS {
	case "":
		r.SourceTLS = TLSImplicit
	case TLSImplicit, TLSStartTLS:
	case TLSNone:
		if !r.AllowPlaintext {
			return invalid("source_tls", "source_tls none sends the source password in clear: allow it explicitly (allow_plaintext, --allow-plaintext)")
		}
	default:
		return invalid("source_tls", "source_tls must be implicit, starttls or none, got %q", r.SourceTLS)
	}
	if r.SourcePort == 0 {
		r.SourcePort = 143
		if r.SourceTLS == TLSImplicit {
			r.SourcePort = 993
		}
	}
	if r.SourcePort < 1 || r.SourcePort > 65535 {
		return invalid("source_port", "source_port must be between 1 and 65535, got %d", r.SourcePort)
	}
	return nil
}

// manageable returns the destination account when the actor may change it: administrators of
// its tenant (or of its domain) and the provider. Another tenant's account is "not found".
func (s *Service) manageable(ctx context.Context, idOrAddress string) (*directory.Account, error) {
	actor, ok := directory.ActorFrom(ctx)
	if !ok || actor.Role == directory.RoleUser {
		return nil, &directory.Error{Kind: "forbidden", Msg: "only administrators may run migrations"}
	}
	return s.dir.GetAccount(ctx, idOrAddress)
}

// Create queues a migration job. The source password is encrypted before it is stored.
func (s *Service) Create(ctx context.Context, r Request) (*Job, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	acc, err := s.manageable(ctx, r.Address)
	if err != nil {
		return nil, err
	}
	if acc.Status == directory.StatusClosed {
		return nil, invalid("address", "the account %s is closed", acc.Address)
	}
	actor, _ := directory.ActorFrom(ctx)
	var id int64
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var err error
		id, err = tx.InsertID(ctx, `INSERT INTO migration_jobs (tenant_id, account_id, address, status, dry_run, force_quota, source_host, source_port, source_tls,
			source_user, source_authz, max_bytes_per_sec, max_msgs_per_sec, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			acc.TenantID, acc.ID, acc.Address, StatusQueued, r.DryRun, r.Force, r.SourceHost, r.SourcePort, r.SourceTLS, r.SourceUser, r.SourceAuthz,
			r.MaxBytesPerSec, r.MaxMsgsPerSec, actor.Name, db.Now())
		if err != nil {
			return err
		}
		sealed, err := s.sealer.Seal(r.SourcePassword, id)
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `UPDATE migration_jobs SET secret = ? WHERE id = ?`, sealed, id); err != nil {
			return err
		}
		return directory.WriteAudit(ctx, tx, acc.TenantID, "migration.create", acc.Address, nil, map[string]any{
			"job": id, "source_host": r.SourceHost, "source_port": r.SourcePort, "source_tls": r.SourceTLS, "source_user": r.SourceUser,
			"source_authz": r.SourceAuthz, "dry_run": r.DryRun, "force": r.Force})
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: create job: %w", err)
	}
	s.log.Info("migration job queued", "job", id, "account", acc.Address, "source", r.SourceHost, "source_user", r.SourceUser, "by", actor.Name, "dry_run", r.DryRun)
	select {
	case s.queued <- struct{}{}:
	default:
	}
	return s.load(ctx, id)
}

func (s *Service) load(ctx context.Context, id int64) (*Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobCols+` FROM migration_jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &directory.Error{Kind: "not-found", Msg: fmt.Sprintf("no migration job %d", id)}
	}
	return j, err
}

// Get returns a job the actor may see.
func (s *Service) Get(ctx context.Context, id int64) (*Job, error) {
	j, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.manageable(ctx, strconv.FormatInt(j.AccountID, 10)); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return nil, &directory.Error{Kind: "not-found", Msg: fmt.Sprintf("no migration job %d", id)}
		}
		return nil, err
	}
	return j, nil
}

// Filter selects jobs to list.
type Filter struct {
	Tenant string // name or id; "" for every tenant the actor sees
	Status string
	Limit  int // default 200, at most 1000
}

// List returns the jobs the actor may see, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]*Job, error) {
	actor, ok := directory.ActorFrom(ctx)
	if !ok || actor.Role == directory.RoleUser {
		return nil, &directory.Error{Kind: "forbidden", Msg: "only administrators may see migrations"}
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 200
	}
	q := `SELECT ` + jobCols + ` FROM migration_jobs WHERE 1 = 1`
	var args []any
	if f.Tenant != "" {
		t, err := s.dir.GetTenant(ctx, f.Tenant)
		if err != nil {
			return nil, err
		}
		q += ` AND tenant_id = ?`
		args = append(args, t.ID)
	} else if actor.Role == directory.RoleTenantAdmin || actor.Role == directory.RoleDomainAdmin {
		q += ` AND tenant_id = ?`
		args = append(args, actor.TenantID)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var all []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if actor.Role != directory.RoleDomainAdmin {
		return all, nil
	}
	// A domain administrator sees the jobs of its domains' accounts only.
	out := all[:0]
	for _, j := range all {
		if _, err := s.manageable(ctx, strconv.FormatInt(j.AccountID, 10)); err == nil {
			out = append(out, j)
		}
	}
	return out, nil
}

// Cancel stops a job: a queued job ends at once, a running one at its next check (within
// seconds); what was copied stays, and a new job resumes from there.
func (s *Service) Cancel(ctx context.Context, id int64) (*Job, error) {
	j, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.Finished() {
		return nil, &directory.Error{Kind: "job-finished", Msg: fmt.Sprintf("migration job %d has already ended (%s)", id, j.Status)}
	}
	now := db.Now()
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE migration_jobs SET status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
			finished_at = CASE WHEN status = 'queued' THEN ? ELSE finished_at END, secret = CASE WHEN status = 'queued' THEN NULL ELSE secret END,
			cancel_requested = TRUE WHERE id = ?`, now, id); err != nil {
			return err
		}
		return directory.WriteAudit(ctx, tx, j.TenantID, "migration.cancel", j.Address, nil, map[string]any{"job": id})
	})
	if err != nil {
		return nil, err
	}
	return s.load(ctx, id)
}
