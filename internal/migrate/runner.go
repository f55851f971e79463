package migrate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
)

// RunnerOptions tune the runner.
type RunnerOptions struct {
	Jobs     int           // jobs (accounts) run at once; default 4
	Folders  int           // folders copied at once within a job; default 3
	Batch    int           // messages per FETCH; default 50
	Depth    int           // FETCHes sent ahead of the one being stored; default 2
	Lease    time.Duration // how long a claimed job is ours without a heartbeat; default 60 s
	Poll     time.Duration // how often to look for queued jobs (those created on this node wake it at once); default 2 s
	Attempts int           // attempts before a job that keeps failing (network) fails; default 5
	// TLSConfig replaces the verification of source certificates (tests only).
	TLSConfig *tls.Config
}

func (o *RunnerOptions) defaults() {
	if o.Jobs <= 0 {
		o.Jobs = 4
	}
	if o.Folders <= 0 {
		o.Folders = 3
	}
	if o.Batch <= 0 {
		o.Batch = 50
	}
	if o.Depth <= 0 {
		o.Depth = 2
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
}

// Run claims queued jobs and runs them until ctx is done. A job is leased: its runner renews
// the lease while it works, and a job whose runner died (its lease ran out) is claimed again
// and resumes where it stopped. When ctx ends, running jobs are put back in the queue.
func (s *Service) Run(ctx context.Context, o RunnerOptions) {
	o.defaults()
	slots := make(chan struct{}, o.Jobs)
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(o.Poll)
	defer t.Stop()
	wake := make(chan struct{}, 1)
	for {
		free := o.Jobs - len(slots)
		if free > 0 {
			jobs, err := s.claim(ctx, time.Now(), free, o.Lease)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("migration: claim", "err", err)
			}
			for _, j := range jobs {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() {
						<-slots
						select {
						case wake <- struct{}{}:
						default:
						}
					}()
					s.runJob(ctx, j, o)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		case <-s.queued:
		}
	}
}

// claim leases up to limit jobs that are queued or whose lease ran out.
func (s *Service) claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*Job, error) {
	skip := ""
	if s.db.Engine == db.Postgres {
		skip = " FOR UPDATE SKIP LOCKED"
	}
	var jobs []*Job
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		jobs = jobs[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE migration_jobs SET locked_until = ?, status = 'running', attempts = attempts + 1,
			started_at = CASE WHEN started_at = 0 THEN ? ELSE started_at END
			WHERE id IN (SELECT id FROM migration_jobs WHERE status IN ('queued', 'running') AND locked_until < ? ORDER BY id LIMIT ?`+skip+`)
			RETURNING `+jobCols, now.Add(lease).UnixMilli(), now.UnixMilli(), now.UnixMilli(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	return jobs, err
}

// runJob runs one claimed job to its end, or until ctx ends (then it goes back to the queue).
func (s *Service) runJob(ctx context.Context, j *Job, o RunnerOptions) {
	log := s.log.With("job", j.ID, "account", j.Address)
	if j.CancelAsked {
		s.finish(j, StatusCancelled, nil)
		return
	}
	password, err := s.sealer.Open(j.secret, j.ID)
	if err != nil || j.secret == nil {
		if err == nil {
			err = errors.New("the job has no source password")
		}
		s.finish(j, StatusFailed, &JobError{Kind: "secret-unavailable", Msg: err.Error(), Permanent: true})
		return
	}
	actx := directory.WithActor(ctx, directory.SystemActor("migration"))
	acc, err := s.dir.GetAccount(actx, fmt.Sprint(j.AccountID))
	if err != nil {
		s.finish(j, StatusFailed, &JobError{Kind: "destination-missing", Msg: "the destination account is gone: " + err.Error(), Permanent: true})
		return
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &run{s: s, job: j, acc: acc, source: j.sourceKey(), parallel: o.Folders, batch: o.Batch, depth: o.Depth,
		lim: &limiter{start: time.Now(), maxBytes: j.MaxBytesPerSec, maxMsgs: j.MaxMsgsPerSec},
		cfg: sourceConfig{Host: j.SourceHost, Port: j.SourcePort, TLS: j.SourceTLS, User: j.SourceUser, Authz: j.SourceAuthz, Password: password, TLSConfig: o.TLSConfig}}
	// Earlier attempts' items are found again by this one.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM migration_items WHERE job_id = ?`, j.ID); err != nil {
		log.Warn("migration: clear items", "err", err)
	}
	r.copied.Store(j.Copied)
	r.copiedBytes.Store(j.CopiedBytes)
	phase := make(chan string, 4)
	hbDone := make(chan struct{})
	lost := errors.New("lease lost")
	cancelled := errors.New("cancelled")
	go func() {
		defer close(hbDone)
		t := time.NewTicker(min(o.Lease/3, time.Second))
		defer t.Stop()
		cur := ""
		until := j.lockedUntil
		for {
			select {
			case <-jctx.Done():
				return
			case p := <-phase:
				cur = p
			case <-t.C:
			}
			next := time.Now().Add(o.Lease).UnixMilli()
			var cancelAsked bool
			err := s.db.WriteTx(context.WithoutCancel(jctx), func(tx *db.Tx) error {
				res, err := tx.ExecContext(jctx, `UPDATE migration_jobs SET locked_until = ?, phase = CASE WHEN ? = '' THEN phase ELSE ? END,
					msgs_done = ?, bytes_done = ?, copied = ?, copied_bytes = ?, skipped = ?, failed = ?, flags_synced = ?
					WHERE id = ? AND locked_until = ?`, next, cur, cur, r.done.Load(), r.doneBytes.Load(), r.copied.Load(), r.copiedBytes.Load(),
					r.skipped.Load(), r.failed.Load(), r.flagsSynced.Load(), j.ID, until)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					return lost
				}
				return tx.QueryRowContext(jctx, `SELECT cancel_requested FROM migration_jobs WHERE id = ?`, j.ID).Scan(&cancelAsked)
			})
			switch {
			case errors.Is(err, lost):
				cancel(lost)
				return
			case err != nil:
				if jctx.Err() == nil {
					log.Warn("migration: heartbeat", "err", err)
				}
			default:
				until = next
				j.lockedUntil = next
			}
			if cancelAsked {
				cancel(cancelled)
				return
			}
		}
	}()
	err = r.execute(jctx, func(p string) {
		select {
		case phase <- p:
		default:
		}
	})
	cause := context.Cause(jctx)
	cancel(nil)
	<-hbDone
	j.Copied, j.CopiedBytes, j.Skipped, j.Failed, j.FlagsSynced = r.copied.Load(), r.copiedBytes.Load(), r.skipped.Load(), r.failed.Load(), r.flagsSynced.Load()
	j.MsgsDone, j.BytesDone = r.done.Load(), r.doneBytes.Load()
	switch {
	case errors.Is(cause, lost):
		log.Warn("migration: lease lost; another runner has the job")
	case errors.Is(cause, cancelled):
		s.finish(j, StatusCancelled, nil)
	case ctx.Err() != nil:
		// Shutting down: back to the queue, to resume at the next start.
		s.release(j)
	case err == nil:
		s.finish(j, StatusDone, nil)
		log.Info("migration done", "copied", j.Copied, "bytes", j.CopiedBytes, "skipped", j.Skipped, "failed", j.Failed, "flags_synced", j.FlagsSynced)
	default:
		var je *JobError
		if !errors.As(err, &je) {
			je = &JobError{Kind: "internal", Msg: err.Error(), Err: err}
		}
		if !je.Permanent && j.Attempts < o.Attempts {
			log.Warn("migration attempt failed; will retry", "attempt", j.Attempts, "err", err)
			s.retryLater(j, je, time.Duration(j.Attempts)*10*time.Second)
			return
		}
		log.Warn("migration failed", "kind", je.Kind, "err", err)
		s.finish(j, StatusFailed, je)
	}
}

// finish ends a job: its counters, its outcome, and the source password erased.
func (s *Service) finish(j *Job, status string, je *JobError) {
	kind, msg := "", ""
	if je != nil {
		kind, msg = je.Kind, je.Msg
	}
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, `UPDATE migration_jobs SET status = ?, error_kind = ?, error = ?, secret = NULL, finished_at = ?, locked_until = 0,
		msgs_done = ?, bytes_done = ?, copied = ?, copied_bytes = ?, skipped = ?, failed = ?, flags_synced = ?, phase = ''
		WHERE id = ?`, status, kind, msg, db.Now(), j.MsgsDone, j.BytesDone, j.Copied, j.CopiedBytes, j.Skipped, j.Failed, j.FlagsSynced, j.ID); err != nil {
		s.log.Error("migration: finish job", "job", j.ID, "err", err)
	}
}

// release puts a job back in the queue (the node is stopping), keeping its password.
func (s *Service) release(j *Job) {
	if _, err := s.db.ExecContext(context.Background(), `UPDATE migration_jobs SET status = 'queued', locked_until = 0,
		copied = ?, copied_bytes = ? WHERE id = ? AND locked_until = ?`, j.Copied, j.CopiedBytes, j.ID, j.lockedUntil); err != nil {
		s.log.Error("migration: release job", "job", j.ID, "err", err)
	}
}

// retryLater queues a job again after a delay, saying why the last attempt failed.
func (s *Service) retryLater(j *Job, je *JobError, d time.Duration) {
	if _, err := s.db.ExecContext(context.Background(), `UPDATE migration_jobs SET status = 'queued', locked_until = ?, error_kind = ?, error = ?,
		copied = ?, copied_bytes = ? WHERE id = ?`, time.Now().Add(d).UnixMilli(), je.Kind, je.Msg, j.Copied, j.CopiedBytes, j.ID); err != nil {
		s.log.Error("migration: requeue job", "job", j.ID, "err", err)
	}
}
