package queue

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/postamail/posta/internal/db"
)

// ErrNotFound is returned for a queue entry that does not exist (or no longer: delivered,
// failed and deleted entries leave the queue for the log).
var ErrNotFound = errors.New("queue: no such entry")

// Item is a claimed queue entry: what a delivery attempt needs.
type Item struct {
	ID          int64
	BlobID      int64
	BlobKey     string
	From, To    string
	Domain      string
	AccountID   int64
	Attempts    int
	MessageID   string
	CreatedAt   time.Time
	DelayWarned bool
	// RequireTLS is the REQUIRETLS flag of RFC 8689: deliver only over TLS with a verified
	// certificate to a server that takes the flag on.
	RequireTLS bool
}

const itemCols = `id, blob_id, mail_from, rcpt_to, domain, COALESCE(account_id, 0), attempts, message_id, created_at, delay_warned, require_tls`

func scanItem(sc interface{ Scan(...any) error }) (Item, error) {
	var it Item
	var created int64
	err := sc.Scan(&it.ID, &it.BlobID, &it.From, &it.To, &it.Domain, &it.AccountID, &it.Attempts, &it.MessageID, &created, &it.DelayWarned, &it.RequireTLS)
	it.CreatedAt = time.UnixMilli(created)
	return it, err
}

// Claim leases up to limit due entries to the caller until now+lease, oldest first. On
// PostgreSQL several nodes claim concurrently without blocking each other (SKIP LOCKED); an
// entry whose lease ran out (its node died mid-attempt) is due again.
func (q *Queue) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Item, error) {
	skip := ""
	if q.db.Engine == db.Postgres {
		skip = " FOR UPDATE SKIP LOCKED"
	}
	var items []Item
	err := q.db.WriteTx(ctx, func(tx *db.Tx) error {
		items = items[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE queue SET locked_until = ? WHERE id IN (SELECT id FROM queue WHERE status = 'queued' AND next_attempt_at <= ? AND locked_until < ?
			ORDER BY next_attempt_at LIMIT ?`+skip+`) RETURNING `+itemCols, now.Add(lease).UnixMilli(), now.UnixMilli(), now.UnixMilli(), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			it, err := scanItem(rows)
			if err != nil {
				rows.Close()
				return err
			}
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// RETURNING gives the rows in no particular order: oldest first, as promised.
		slices.SortFunc(items, func(a, b Item) int { return cmp.Compare(a.ID, b.ID) })
		return blobKeys(ctx, tx, items)
	})
	if err != nil {
		return nil, fmt.Errorf("queue: claim: %w", err)
	}
	return items, nil
}

// blobKeys fills in the blob keys of claimed items with one query.
func blobKeys(ctx context.Context, tx *db.Tx, items []Item) error {
	if len(items) == 0 {
		return nil
	}
	keys := map[int64]string{}
	var args []any
	for _, it := range items {
		if _, ok := keys[it.BlobID]; !ok {
			keys[it.BlobID] = ""
			args = append(args, it.BlobID)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, key FROM blobs WHERE id IN (?`+strings.Repeat(", ?", len(args)-1)+`)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(&id, &key); err != nil {
			return err
		}
		keys[id] = key
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range items {
		if items[i].BlobKey = keys[items[i].BlobID]; items[i].BlobKey == "" {
			return fmt.Errorf("entry %d: blob %d missing", items[i].ID, items[i].BlobID)
		}
	}
	return nil
}

// Open opens the body of a claimed entry.
func (q *Queue) Open(ctx context.Context, it Item) (io.ReadSeekCloser, error) {
	return q.blobs.Open(ctx, it.BlobKey)
}

// Attempt is one delivery attempt as recorded.
type Attempt struct {
	At   int64  `json:"at"`
	Host string `json:"host"`
	TLS  string `json:"tls,omitempty"` // negotiated version and cipher; "" in clear
	// Policy is the TLS policy that applied: "none" (no connection made), "opportunistic",
	// "mta-sts-testing", "mta-sts-enforce", "dane", "requiretls" or "route" (a configured
	// route).
	Policy string `json:"policy,omitempty"`
	// TLSResult is what the certificate check found: "verified (…)", "not verified: …",
	// "failed: …" (the policy refused the server), or "" when nothing was checked.
	TLSResult string `json:"tls_result,omitempty"`
	Code      int    `json:"code"`
	Response  string `json:"response"`
}

// RecordAttempt notes an attempt and the remote server's answer (for tracing).
func (q *Queue) RecordAttempt(ctx context.Context, id int64, a Attempt) error {
	_, err := q.db.ExecContext(ctx, `INSERT INTO queue_attempts (queue_id, at, host, tls, policy, tls_result, code, response) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		id, a.At, a.Host, a.TLS, a.Policy, truncate(a.TLSResult, 500), a.Code, truncate(a.Response, 1000))
	return err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Defer puts a claimed entry back for a later attempt.
func (q *Queue) Defer(ctx context.Context, it Item, next time.Time, response string, delayWarned bool) error {
	_, err := q.db.ExecContext(ctx, `UPDATE queue SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, locked_until = 0, delay_warned = ? WHERE id = ?`,
		next.UnixMilli(), truncate(response, 1000), delayWarned, it.ID)
	return err
}

// Finish takes an entry out of the queue with its final status ("delivered", "failed" or
// "deleted"): the log keeps the outcome, the body's reference is released.
func (q *Queue) Finish(ctx context.Context, id int64, status, response string) error {
	err := q.db.WriteTx(ctx, func(tx *db.Tx) error { return finishTx(ctx, tx, id, status, response) })
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("queue: finish %d: %w", id, err)
	}
	return err
}

func finishTx(ctx context.Context, tx *db.Tx, id int64, status, response string) error {
	var blobID int64
	err := tx.QueryRowContext(ctx, `SELECT blob_id FROM queue WHERE id = ?`, id).Scan(&blobID)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue_log (queue_id, mail_from, rcpt_to, message_id, account_id, status, attempts, response, created_at, finished_at)
		SELECT id, mail_from, rcpt_to, message_id, account_id, ?, attempts + CASE WHEN ? = 'deleted' THEN 0 ELSE 1 END, ?, created_at, ? FROM queue WHERE id = ?`,
		status, status, truncate(response, 1000), time.Now().UnixMilli(), id); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM queue WHERE id = ?`, id); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE blobs SET refs = refs - 1 WHERE id = ?`, blobID)
	return err
}

// Outcome is the result of one attempt for a claimed entry, as Settle records it.
type Outcome struct {
	ID      int64
	Attempt Attempt
	// Status is "delivered" or "failed" (the entry leaves the queue for the log) or "deferred"
	// (it waits until Next).
	Status      string
	Response    string
	Next        time.Time // deferred: when to try again
	DelayWarned bool      // deferred: the sender has been told of the delay
}

// Settle records the outcomes of many attempts in one transaction (one commit, one fsync)
// with a few statements per batch, not per entry: each attempt is logged and its entry
// finished or deferred. An entry that left the queue meanwhile (deleted by an operator) is
// skipped.
func (q *Queue) Settle(ctx context.Context, outs []Outcome) error {
	for _, o := range outs {
		if o.Status != "delivered" && o.Status != "failed" && o.Status != "deferred" {
			return fmt.Errorf("queue: settle: entry %d: unknown outcome %q", o.ID, o.Status)
		}
	}
	if len(outs) == 0 {
		return nil
	}
	err := q.db.WriteTx(ctx, func(tx *db.Tx) error {
		for len(outs) > 0 {
			n := min(len(outs), settleChunk)
			if err := settleChunkTx(ctx, tx, outs[:n]); err != nil {
				return err
			}
			outs = outs[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: settle: %w", err)
	}
	return nil
}

// settleChunk bounds the entries of one statement (8 parameters each for the attempts).
const settleChunk = 500

func settleChunkTx(ctx context.Context, tx *db.Tx, outs []Outcome) error {
	var rows strings.Builder
	args := make([]any, 0, 8*len(outs))
	for i, o := range outs {
		if i > 0 {
			rows.WriteString(", ")
		}
		rows.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
		a := o.Attempt
		args = append(args, o.ID, a.At, a.Host, a.TLS, a.Policy, truncate(a.TLSResult, 500), a.Code, truncate(a.Response, 1000))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue_attempts (queue_id, at, host, tls, policy, tls_result, code, response) VALUES `+rows.String(), args...); err != nil {
		return fmt.Errorf("attempts: %w", err)
	}
	rows.Reset()
	var finished []any // (id, status, response) triples
	var ids []any
	for _, o := range outs {
		if o.Status == "deferred" {
			if _, err := tx.ExecContext(ctx, `UPDATE queue SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, locked_until = 0, delay_warned = ? WHERE id = ?`,
				o.Next.UnixMilli(), truncate(o.Response, 1000), o.DelayWarned, o.ID); err != nil {
				return fmt.Errorf("defer %d: %w", o.ID, err)
			}
			continue
		}
		if len(ids) > 0 {
			rows.WriteString(", ")
		}
		rows.WriteString("(CAST(? AS BIGINT), ?, ?)")
		finished = append(finished, o.ID, o.Status, truncate(o.Response, 1000))
		ids = append(ids, o.ID)
	}
	if len(ids) == 0 {
		return nil
	}
	in := "(?" + strings.Repeat(", ?", len(ids)-1) + ")"
	// The columns of a VALUES list are column1, column2, ... on both engines.
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue_log (queue_id, mail_from, rcpt_to, message_id, account_id, status, attempts, response, created_at, finished_at)
		SELECT q.id, q.mail_from, q.rcpt_to, q.message_id, q.account_id, v.column2, q.attempts + 1, v.column3, q.created_at, ?
		FROM queue q JOIN (VALUES `+rows.String()+`) AS v ON v.column1 = q.id`, append([]any{time.Now().UnixMilli()}, finished...)...); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE blobs SET refs = refs - (SELECT COUNT(*) FROM queue q WHERE q.blob_id = blobs.id AND q.id IN `+in+`)
		WHERE id IN (SELECT blob_id FROM queue WHERE id IN `+in+`)`, append(ids, ids...)...); err != nil {
		return fmt.Errorf("blob references: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM queue WHERE id IN `+in, ids...); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// Hold stops delivery attempts of an entry until Release.
func (q *Queue) Hold(ctx context.Context, id int64, reason string) error {
	return q.set(ctx, id, `status = 'held', hold_reason = ?`, reason)
}

// Release puts a held entry back in the queue, due now.
func (q *Queue) Release(ctx context.Context, id int64) error {
	return q.set(ctx, id, `status = 'queued', hold_reason = '', next_attempt_at = ?`, time.Now().UnixMilli())
}

// RetryNow makes an entry due now.
func (q *Queue) RetryNow(ctx context.Context, id int64) error {
	return q.set(ctx, id, `next_attempt_at = ?, locked_until = 0`, time.Now().UnixMilli())
}

func (q *Queue) set(ctx context.Context, id int64, set string, args ...any) error {
	res, err := q.db.ExecContext(ctx, `UPDATE queue SET `+set+` WHERE id = ?`, append(args, id)...)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Detail is an entry with its attempts.
type Detail struct {
	Entry
	Domain     string    `json:"domain"`
	MessageID  string    `json:"message_id,omitempty"`
	NextTry    int64     `json:"next_attempt_at,omitempty"`
	HoldReason string    `json:"hold_reason,omitempty"`
	RequireTLS bool      `json:"require_tls,omitempty"`
	Attempts   []Attempt `json:"attempt_log"`
}

// Show returns one entry with its attempts.
func (q *Queue) Show(ctx context.Context, id int64) (*Detail, error) {
	var d Detail
	err := q.db.QueryRowContext(ctx, `SELECT q.id, q.mail_from, q.rcpt_to, q.status, q.attempts, q.last_error, b.size, q.created_at, q.domain, q.message_id, q.next_attempt_at, q.hold_reason, q.require_tls
		FROM queue q JOIN blobs b ON b.id = q.blob_id WHERE q.id = ?`, id).Scan(&d.ID, &d.From, &d.To, &d.Status, &d.Entry.Attempts, &d.LastError, &d.Size, &d.CreatedAt,
		&d.Domain, &d.MessageID, &d.NextTry, &d.HoldReason, &d.RequireTLS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if d.Attempts, err = q.attempts(ctx, id); err != nil {
		return nil, err
	}
	return &d, nil
}

func (q *Queue) attempts(ctx context.Context, id int64) ([]Attempt, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT at, host, tls, policy, tls_result, code, response FROM queue_attempts WHERE queue_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Attempt{}
	for rows.Next() {
		var a Attempt
		if err := rows.Scan(&a.At, &a.Host, &a.TLS, &a.Policy, &a.TLSResult, &a.Code, &a.Response); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// TraceEntry is what happened to one recipient of a message sent out.
type TraceEntry struct {
	QueueID   int64     `json:"queue_id"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	MessageID string    `json:"message_id,omitempty"`
	Status    string    `json:"status"` // queued, held, delivered, failed, deleted
	Response  string    `json:"response,omitempty"`
	CreatedAt int64     `json:"created_at"`
	Finished  int64     `json:"finished_at,omitempty"`
	Attempts  []Attempt `json:"attempts"`
}

// Trace finds the outbound deliveries of a message (by Message-ID) or of an address (as sender
// or recipient), live or finished, newest first, with every attempt.
func (q *Queue) Trace(ctx context.Context, what string, limit int) ([]TraceEntry, error) {
	what = strings.Trim(strings.TrimSpace(what), "<>")
	if limit <= 0 {
		limit = 50
	}
	rows, err := q.db.QueryContext(ctx, `SELECT id, mail_from, rcpt_to, message_id, status, last_error, created_at, 0 FROM queue WHERE message_id = ? OR rcpt_to = ? OR mail_from = ?
		UNION ALL SELECT queue_id, mail_from, rcpt_to, message_id, status, response, created_at, finished_at FROM queue_log WHERE message_id = ? OR rcpt_to = ? OR mail_from = ?
		ORDER BY 7 DESC LIMIT ?`, what, strings.ToLower(what), strings.ToLower(what), what, strings.ToLower(what), strings.ToLower(what), limit)
	if err != nil {
		return nil, fmt.Errorf("queue: trace: %w", err)
	}
	var out []TraceEntry
	for rows.Next() {
		var e TraceEntry
		if err := rows.Scan(&e.QueueID, &e.From, &e.To, &e.MessageID, &e.Status, &e.Response, &e.CreatedAt, &e.Finished); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Attempts, err = q.attempts(ctx, out[i].QueueID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Operate applies an operator's action to an entry: "retry", "hold" (with reason), "release"
// or "delete" (recorded in the log as deleted by who, with reason). It returns the entry's
// state before and after (nil after a delete), for the audit log.
func (q *Queue) Operate(ctx context.Context, id int64, verb, reason, who string) (before, after map[string]any, err error) {
	d, err := q.Show(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	switch verb {
	case "retry":
		err = q.RetryNow(ctx, id)
	case "hold":
		err = q.Hold(ctx, id, reason)
	case "release":
		err = q.Release(ctx, id)
	case "delete":
		msg := "deleted by " + who
		if reason != "" {
			msg += ": " + reason
		}
		err = q.Finish(ctx, id, "deleted", msg)
	default:
		return nil, nil, fmt.Errorf("queue: unknown action %q", verb)
	}
	if err != nil {
		return nil, nil, err
	}
	if verb == "delete" {
		return operatorState(d), nil, nil
	}
	a, err := q.Show(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return operatorState(d), operatorState(a), nil
}

func operatorState(d *Detail) map[string]any {
	return map[string]any{"from": d.From, "to": d.To, "status": d.Status, "hold_reason": d.HoldReason, "next_attempt_at": d.NextTry}
}
