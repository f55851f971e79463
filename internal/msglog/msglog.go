// Package msglog keeps the message log: one entry per message accepted for delivery, saying
// where it came from (protocol, client address, HELO name, authenticated user, TLS, the results
// of the inbound checks) and, per recipient, what became of it (delivered to a mailbox, queued
// for a remote server, refused and why). With the outbound queue's attempts it answers
// "what happened to this message" (posta trace).
//
// Entries are written in the background, in batches, after the message is stored: the log is
// a record, not part of delivery, so it never slows a delivery down or makes one fail; entries
// still in memory at a crash are lost, and Record drops entries (and counts them) when the
// writer falls far behind. The package owns the message_log tables and touches nothing else.
package msglog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postamail/posta/internal/db"
)

// Outcomes of a recipient.
const (
	Delivered = "delivered" // stored in a local mailbox
	Queued    = "queued"    // handed to the outbound queue
	Refused   = "refused"   // not delivered; Detail says why
)

// Entry is one accepted message.
type Entry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id,omitempty"` // without angle brackets
	From      string    `json:"from"`                 // reverse path; "" is the null sender
	Size      int64     `json:"size"`
	Origin
	Rcpts []Rcpt `json:"recipients"`
}

// Origin is where a message came from.
type Origin struct {
	// Source is "smtp" (the MX), "submission", or "system" (messages posta writes itself).
	Source   string `json:"source"`
	Session  string `json:"session,omitempty"`
	ClientIP string `json:"client_ip,omitempty"`
	HELO     string `json:"helo,omitempty"`
	AuthUser string `json:"auth_user,omitempty"`
	TLS      string `json:"tls,omitempty"`    // "TLS1.3 TLS_AES_128_GCM_SHA256", or ""
	Checks   string `json:"checks,omitempty"` // the Authentication-Results field value; "dnsbl=listed (ZONE)" for a listed client
}

// Rcpt is what became of one recipient. A recipient reached through a list or a forwarding
// address has its own line, whose Detail names how it was reached.
type Rcpt struct {
	Address string `json:"address"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// Log records and finds entries.
type Log struct {
	db      *db.DB
	log     *slog.Logger
	ch      chan *Entry
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	dropped atomic.Int64
}

// queueLen bounds the entries waiting for the writer; batch bounds one write transaction, and
// linger is how long the writer gathers entries for it after the first: the log shares
// SQLite's single writer with deliveries, and one transaction of many entries every linger
// holds it (and fsyncs) far less than one per message.
const (
	queueLen = 8192
	batch    = 256
	linger   = 100 * time.Millisecond
)

// New returns a log writing to d; Close flushes and stops its writer.
func New(d *db.DB, logger *slog.Logger) *Log {
	if logger == nil {
		logger = slog.Default()
	}
	l := &Log{db: d, log: logger, ch: make(chan *Entry, queueLen), stop: make(chan struct{}), done: make(chan struct{})}
	go l.writer()
	return l
}

// Record queues e for writing. It never blocks: when the writer is far behind, e is dropped
// and counted (Dropped).
func (l *Log) Record(e *Entry) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	select {
	case l.ch <- e:
	default:
		if l.dropped.Add(1)%1000 == 1 {
			l.log.Warn("msglog: writer behind, entries dropped", "dropped", l.dropped.Load())
		}
	}
}

// Dropped returns how many entries were dropped since start.
func (l *Log) Dropped() int64 { return l.dropped.Load() }

// Close writes the entries still queued and stops the writer.
func (l *Log) Close() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

func (l *Log) writer() {
	defer close(l.done)
	for {
		var first *Entry
		select {
		case first = <-l.ch:
		case <-l.stop:
			for {
				es := l.drain(nil)
				if len(es) == 0 {
					return
				}
				l.write(es)
			}
		}
		l.write(l.gather(first))
	}
}

// gather collects entries after first until a batch is full, linger has passed, or the log
// is closing.
func (l *Log) gather(first *Entry) []*Entry {
	es := []*Entry{first}
	t := time.NewTimer(linger)
	defer t.Stop()
	for len(es) < batch {
		select {
		case e := <-l.ch:
			es = append(es, e)
		case <-t.C:
			return es
		case <-l.stop:
			return l.drain(es)
		}
	}
	return es
}

// drain appends the entries waiting, up to a batch.
func (l *Log) drain(es []*Entry) []*Entry {
	for len(es) < batch {
		select {
		case e := <-l.ch:
			es = append(es, e)
		default:
			return es
		}
	}
	return es
}

func (l *Log) write(es []*Entry) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.insert(ctx, es); err != nil {
		l.log.Error("msglog: write", "entries", len(es), "err", err)
	}
}

func (l *Log) insert(ctx context.Context, es []*Entry) error {
	return l.db.WriteTx(ctx, func(tx *db.Tx) error {
		for _, e := range es {
			id, err := tx.InsertID(ctx, `INSERT INTO message_log (at, message_id, mail_from, size, source, session, client_ip, helo, auth_user, tls, checks)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.At.UnixMilli(), e.MessageID, strings.ToLower(e.From), e.Size, e.Source, e.Session,
				e.ClientIP, e.HELO, e.AuthUser, e.TLS, e.Checks)
			if err != nil {
				return err
			}
			for i, r := range e.Rcpts {
				if _, err := tx.ExecContext(ctx, `INSERT INTO message_log_rcpts (log_id, pos, rcpt, outcome, detail) VALUES (?, ?, ?, ?, ?)`,
					id, i, strings.ToLower(r.Address), r.Outcome, r.Detail); err != nil {
					return err
				}
			}
			e.ID = id
		}
		return nil
	})
}

// Find returns the entries, newest first, of the messages whose Message-ID is what (angle
// brackets optional) or that were sent from or to the address what.
func (l *Log) Find(ctx context.Context, what string, limit int) ([]*Entry, error) {
	what = strings.Trim(strings.TrimSpace(what), "<>")
	if limit <= 0 {
		limit = 50
	}
	addr := strings.ToLower(what)
	rows, err := l.db.QueryContext(ctx, `SELECT id, at, message_id, mail_from, size, source, session, client_ip, helo, auth_user, tls, checks
		FROM message_log WHERE message_id = ? OR mail_from = ? OR id IN (SELECT log_id FROM message_log_rcpts WHERE rcpt = ?)
		ORDER BY at DESC, id DESC LIMIT ?`, what, addr, addr, limit)
	if err != nil {
		return nil, fmt.Errorf("msglog: find: %w", err)
	}
	var out []*Entry
	for rows.Next() {
		e := &Entry{Rcpts: []Rcpt{}}
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.MessageID, &e.From, &e.Size, &e.Source, &e.Session, &e.ClientIP, &e.HELO, &e.AuthUser, &e.TLS, &e.Checks); err != nil {
			rows.Close()
			return nil, err
		}
		e.At = time.UnixMilli(at)
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, e := range out {
		rr, err := l.db.QueryContext(ctx, `SELECT rcpt, outcome, detail FROM message_log_rcpts WHERE log_id = ? ORDER BY pos`, e.ID)
		if err != nil {
			return nil, fmt.Errorf("msglog: find: %w", err)
		}
		for rr.Next() {
			var r Rcpt
			if err := rr.Scan(&r.Address, &r.Outcome, &r.Detail); err != nil {
				rr.Close()
				return nil, err
			}
			e.Rcpts = append(e.Rcpts, r)
		}
		rr.Close()
		if err := rr.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Prune removes the entries older than before and returns how many.
func (l *Log) Prune(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := l.db.WriteTx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM message_log WHERE at < ?`, before.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("msglog: prune: %w", err)
	}
	return n, nil
}
