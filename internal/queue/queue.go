// Package queue owns the outbound queue: messages accepted for remote recipients, stored durably
// (a row per recipient, the body in the blob store) before the server answers 250, so nothing
// accepted is lost. Delivery to remote servers (MX resolution, retries, DSNs) builds on these
// rows; this package must not speak SMTP itself.
package queue

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/message"
)

// Queue is the outbound queue.
type Queue struct {
	db    *db.DB
	blobs *blob.Store
}

// New returns the queue over d, keeping bodies in b.
func New(d *db.DB, b *blob.Store) *Queue { return &Queue{db: d, blobs: b} }

// Enqueue stores raw for the given remote recipients durably: the blob is fsync'd first, then
// one transaction inserts a row per recipient and counts their blob references. accountID is
// the sending account (0 for forwarded or system mail).
func (q *Queue) Enqueue(ctx context.Context, from string, rcpts []string, raw []byte, accountID int64) error {
	return q.EnqueueRequireTLS(ctx, from, rcpts, raw, accountID, false)
}

// EnqueueRequireTLS is Enqueue for a message that may carry the REQUIRETLS flag (RFC 8689):
// the flag stays with every recipient's row, and delivery honours it.
func (q *Queue) EnqueueRequireTLS(ctx context.Context, from string, rcpts []string, raw []byte, accountID int64, requireTLS bool) error {
	if len(rcpts) == 0 {
		return nil
	}
	ref, err := q.blobs.Put(ctx, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("queue: store body: %w", err)
	}
	now := time.Now().UnixMilli()
	var acc any
	if accountID != 0 {
		acc = accountID
	}
	h, _ := message.ParseHeader(raw)
	msgID := message.NormalizeMessageID(h.Get("Message-ID"))
	return q.db.WriteTx(ctx, func(tx *db.Tx) error {
		var blobID int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO blobs (key, size, refs, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET refs = blobs.refs + excluded.refs RETURNING id`, ref.Key, ref.Size, len(rcpts), now).Scan(&blobID); err != nil {
			return fmt.Errorf("queue: blob row: %w", err)
		}
		for _, r := range rcpts {
			domain := r[strings.LastIndexByte(r, '@')+1:]
			if _, err := tx.ExecContext(ctx, `INSERT INTO queue (blob_id, mail_from, rcpt_to, domain, account_id, status, next_attempt_at, created_at, message_id, require_tls)
				VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`, blobID, from, r, strings.ToLower(domain), acc, now, now, msgID, requireTLS); err != nil {
				return fmt.Errorf("queue: insert: %w", err)
			}
		}
		return nil
	})
}

// Entry is one queued recipient.
type Entry struct {
	ID        int64  `json:"id"`
	From      string `json:"from"`
	To        string `json:"to"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
	Size      int64  `json:"size"`
	CreatedAt int64  `json:"created_at"`
}

// List returns queued entries, oldest first.
func (q *Queue) List(ctx context.Context, limit int) ([]Entry, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.db.QueryContext(ctx, `SELECT q.id, q.mail_from, q.rcpt_to, q.status, q.attempts, q.last_error, b.size, q.created_at
		FROM queue q JOIN blobs b ON b.id = q.blob_id ORDER BY q.id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.ID, &e.From, &e.To, &e.Status, &e.Attempts, &e.LastError, &e.Size, &e.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
