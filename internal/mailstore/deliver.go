package mailstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/message"
	"github.com/postamail/posta/internal/search"
)

// Delivery is one message to store in one or more mailboxes. The content is stored once, whatever
// the number of targets.
type Delivery struct {
	Raw    []byte
	Parsed *message.Parsed // parsed from Raw when nil
	// InternalDate defaults to now.
	InternalDate time.Time
	Targets      []Target
}

// Target is one mailbox a delivery goes to.
type Target struct {
	AccountID int64
	// MailboxID selects the mailbox; when 0, Mailbox names it ("" means INBOX).
	MailboxID int64
	Mailbox   string
	Flags     Flags
	Keywords  []string
	// IgnoreQuota stores even over quota (system messages such as quota warnings).
	IgnoreQuota bool
}

// TargetResult is the outcome of one target. Err is ErrOverQuota, ErrNoMailbox, ErrNoAccount or
// ErrAccountClosed when that target alone failed; the others still got the message.
type TargetResult struct {
	Err         error
	MailboxID   int64
	UIDValidity uint32
	UID         uint32
	ModSeq      int64
	// UsedBefore and UsedAfter are the account's usage in bytes around this delivery, and
	// QuotaBytes its limit, so that callers can warn at thresholds.
	UsedBefore, UsedAfter, QuotaBytes int64
}

type commitReq struct {
	d      *Delivery
	meta   []byte
	env    []byte
	header []byte
	words  string // for the full-text index (search.Words)
	ref    blob.Ref
	staged *blob.Staged // nil for a body kept inline (in blob_data)
	res    []TargetResult
	err    error
	done   chan struct{}
}

// Deliver stores d durably and returns one result per target. It returns only after the blob
// and the rows of every successful target are on disk. The error is non-nil only when nothing
// was stored (bad input, I/O or database failure).
func (s *Store) Deliver(ctx context.Context, d *Delivery) ([]TargetResult, error) {
	res, err := s.DeliverMany(ctx, []*Delivery{d})
	if err != nil {
		return nil, err
	}
	return res[0].Results, res[0].Err
}

// DeliveryResult is the outcome of one delivery of DeliverMany.
type DeliveryResult struct {
	Results []TargetResult
	Err     error
}

// DeliverMany stores several messages at once: their blobs are written in parallel and their
// rows committed together (usually in one transaction), so a client appending many messages
// pays for one fsync, not one per message. It returns an error only when nothing could be
// queued; per-delivery failures are in the results.
func (s *Store) DeliverMany(ctx context.Context, ds []*Delivery) ([]DeliveryResult, error) {
	// Blobs are written (and fsync'd) in parallel: one APPEND of many messages waits for the
	// slowest disk write, not for their sum.
	reqs := make([]*commitReq, len(ds))
	errs := make([]error, len(ds))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			reqs[i], errs[i] = s.prepare(ctx, d)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, ErrClosed
	}
	sent := 0
	for _, r := range reqs {
		select {
		case s.reqs <- r:
			sent++
			continue
		case <-ctx.Done():
		}
		break
	}
	s.closeMu.RUnlock()
	// Once queued, a request is committed whatever the caller does: wait for those sent so
	// that the answer given to the client is the truth.
	out := make([]DeliveryResult, len(reqs))
	for i, r := range reqs {
		if i >= sent {
			out[i].Err = ctx.Err()
			continue
		}
		<-r.done
		out[i] = DeliveryResult{Results: r.res, Err: r.err}
	}
	return out, nil
}

// prepare parses (if needed), encodes the metadata and stages the blob of one delivery.
func (s *Store) prepare(ctx context.Context, d *Delivery) (*commitReq, error) {
	if len(d.Targets) == 0 {
		return nil, errors.New("mailstore: delivery without targets")
	}
	if d.Parsed == nil {
		p, err := message.Parse(d.Raw)
		if err != nil {
			return nil, fmt.Errorf("mailstore: parse: %w", err)
		}
		d.Parsed = p
	}
	if d.InternalDate.IsZero() {
		d.InternalDate = time.Now()
	}
	meta, err := json.Marshal(d.Parsed)
	if err != nil {
		return nil, fmt.Errorf("mailstore: encode meta: %w", err)
	}
	header := d.Raw
	if d.Parsed.Body != nil && d.Parsed.Body.BodyStart <= int64(len(d.Raw)) {
		header = d.Raw[:d.Parsed.Body.BodyStart]
	}
	r := &commitReq{d: d, meta: meta, env: d.Parsed.Envelope.AppendBinary(nil), header: header,
		words: search.Words(s.db.Engine, d.Parsed.Text), done: make(chan struct{})}
	if len(d.Raw) <= s.inlineMax {
		// Kept in the database: the commit makes it durable with its rows.
		r.ref = blob.RefOf(d.Raw)
		return r, nil
	}
	// Stage the blob in the caller's goroutine, so that concurrent deliveries write in parallel;
	// the committer makes them durable together.
	staged, err := s.blobs.Stage(ctx, bytes.NewReader(d.Raw))
	if err != nil {
		return nil, fmt.Errorf("mailstore: write blob: %w", err)
	}
	r.ref, r.staged = staged.Ref(), staged
	return r, nil
}

// AppendMessage is one message of an APPEND.
type AppendMessage struct {
	Raw      []byte
	Flags    Flags
	Keywords []string
	Date     time.Time
}

// Append stores one message in one mailbox (IMAP APPEND).
func (s *Store) Append(ctx context.Context, accountID, mailboxID int64, raw []byte, flags Flags, keywords []string, date time.Time) (TargetResult, error) {
	res, err := s.AppendMany(ctx, accountID, mailboxID, []AppendMessage{{Raw: raw, Flags: flags, Keywords: keywords, Date: date}})
	if err != nil {
		return TargetResult{}, err
	}
	return res[0], res[0].Err
}

// AppendMany stores messages in one mailbox (IMAP MULTIAPPEND), committed together, and returns
// one result per message, in order; a message that could not be stored has its Err set
// (ErrOverQuota...).
func (s *Store) AppendMany(ctx context.Context, accountID, mailboxID int64, msgs []AppendMessage) ([]TargetResult, error) {
	if mailboxID == 0 {
		return nil, ErrNoMailbox
	}
	ds := make([]*Delivery, len(msgs))
	for i, m := range msgs {
		ds[i] = &Delivery{Raw: m.Raw, InternalDate: m.Date, Targets: []Target{{
			AccountID: accountID, MailboxID: mailboxID, Flags: m.Flags, Keywords: m.Keywords,
		}}}
	}
	res, err := s.DeliverMany(ctx, ds)
	if err != nil {
		return nil, err
	}
	out := make([]TargetResult, len(res))
	for i, r := range res {
		switch {
		case r.Err != nil:
			out[i].Err = r.Err
		default:
			out[i] = r.Results[0]
		}
	}
	return out, nil
}

func (s *Store) committer() {
	defer close(s.done)
	for {
		var first *commitReq
		select {
		case first = <-s.reqs:
		case <-s.stop:
			// Drain what was queued before Close.
			for {
				select {
				case r := <-s.reqs:
					s.commitBatch([]*commitReq{r})
				default:
					return
				}
			}
		}
		batch := []*commitReq{first}
	fill:
		for len(batch) < s.maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
	}
}

func (s *Store) commitBatch(batch []*commitReq) {
	ctx := context.Background()
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	if s.obs != nil {
		// Deferred after the answers, so it runs before them: a caller sees its commit counted.
		start := time.Now()
		defer func() { s.obs.Committed(len(batch), time.Since(start)) }()
	}
	staged := make([]*blob.Staged, len(batch))
	for i, r := range batch {
		staged[i] = r.staged
	}
	if err := s.blobs.Sync(ctx, staged...); err != nil {
		for _, r := range batch {
			r.err = fmt.Errorf("mailstore: sync blobs: %w", err)
		}
		return
	}
	var published []changes.Change
	var texts []search.Entry
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		published, texts = published[:0], texts[:0]
		for _, r := range batch {
			if err := applyDelivery(ctx, tx, r, &published, &texts); err != nil {
				return err
			}
		}
		return search.Index(ctx, tx, texts)
	})
	if err != nil && len(batch) > 1 {
		// One bad request must not sink the others: retry each alone.
		s.log.Warn("mailstore: batch commit failed, retrying one by one", "n", len(batch), "err", err)
		for _, r := range batch {
			var one []changes.Change
			var text []search.Entry
			r.err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
				one, text = one[:0], text[:0]
				if err := applyDelivery(ctx, tx, r, &one, &text); err != nil {
					return err
				}
				return search.Index(ctx, tx, text)
			})
			if r.err == nil {
				s.bus.Publish(one...)
			} else {
				r.res = nil
			}
		}
		return
	}
	if err != nil {
		for _, r := range batch {
			r.err, r.res = err, nil
		}
		return
	}
	s.bus.Publish(published...)
}

// applyDelivery inserts one request's targets inside tx, recording per-target refusals in
// r.res, and adds the blob to texts when its text is new (to be indexed with the batch). It
// returns an error only for database failures.
func applyDelivery(ctx context.Context, tx *db.Tx, r *commitReq, published *[]changes.Change, texts *[]search.Entry) error {
	d := r.d
	size := int64(len(d.Raw))
	ref := r.ref
	var blobID int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO blobs (key, size, refs, created_at, crlf_extra) VALUES (?, ?, 0, ?, ?)
		ON CONFLICT (key) DO UPDATE SET refs = blobs.refs, crlf_extra = excluded.crlf_extra RETURNING id`, ref.Key, ref.Size, db.Now(), d.Parsed.CRLFExtra).Scan(&blobID); err != nil {
		return fmt.Errorf("mailstore: blob row: %w", err)
	}
	if r.staged == nil {
		// Even when the content exists as a file already, the copy here makes this message
		// independent of that file, which a concurrent sweep may be removing.
		if _, err := tx.ExecContext(ctx, `INSERT INTO blob_data (blob_id, data) VALUES (?, ?) ON CONFLICT (blob_id) DO NOTHING`, blobID, d.Raw); err != nil {
			return fmt.Errorf("mailstore: blob data: %w", err)
		}
	}
	p := d.Parsed
	// The search text is kept once per distinct body, computed by the parse done at delivery.
	res, err := tx.ExecContext(ctx, `INSERT INTO blob_text (blob_id, text) VALUES (?, ?) ON CONFLICT (blob_id) DO NOTHING`, blobID, p.Text)
	if err != nil {
		return fmt.Errorf("mailstore: blob text: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		*texts = append(*texts, search.Entry{BlobID: blobID, Words: r.words})
	}
	var sentDate int64
	if !p.Date.IsZero() {
		sentDate = p.Date.UnixMilli()
	}
	// And so is what was computed from the content: once per blob, shared by every copy.
	if _, err := tx.ExecContext(ctx, `INSERT INTO blob_meta (blob_id, sent_date, subject, from_addr, to_addr, cc_addr, message_id, envelope, header, meta)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (blob_id) DO NOTHING`,
		blobID, sentDate, p.Subject, addrText(p.Envelope.From), addrText(p.Envelope.To), addrText(p.Envelope.Cc), p.MessageID, r.env, r.header, r.meta); err != nil {
		return fmt.Errorf("mailstore: blob metadata: %w", err)
	}
	r.res = make([]TargetResult, len(d.Targets))
	stored := 0
	for i, t := range d.Targets {
		res := &r.res[i]
		var used, quota, msgs, maxMsgs int64
		var status string
		err := tx.QueryRowContext(ctx, `SELECT a.used_bytes, c.quota_bytes, a.used_messages, c.max_messages, a.status FROM accounts a JOIN cos c ON c.id = a.cos_id WHERE a.id = ?`,
			t.AccountID).Scan(&used, &quota, &msgs, &maxMsgs, &status)
		if errors.Is(err, sql.ErrNoRows) {
			res.Err = ErrNoAccount
			continue
		}
		if err != nil {
			return err
		}
		res.UsedBefore, res.UsedAfter, res.QuotaBytes = used, used, quota
		if status == "closed" {
			res.Err = ErrAccountClosed
			continue
		}
		if !t.IgnoreQuota && (used+size > quota || maxMsgs > 0 && msgs >= maxMsgs) {
			res.Err = ErrOverQuota
			continue
		}
		mbq, arg := `SELECT id FROM mailboxes WHERE account_id = ? AND id = ?`, any(t.MailboxID)
		if t.MailboxID == 0 {
			name := t.Mailbox
			if name == "" {
				name = Inbox
			}
			if name, err = NormalizeName(name); err != nil {
				res.Err = err
				continue
			}
			mbq, arg = `SELECT id FROM mailboxes WHERE account_id = ? AND name = ?`, name
		}
		var mbID int64
		err = tx.QueryRowContext(ctx, mbq, t.AccountID, arg).Scan(&mbID)
		if errors.Is(err, sql.ErrNoRows) {
			res.Err = ErrNoMailbox
			continue
		}
		if err != nil {
			return err
		}
		var modseq int64
		if err := tx.QueryRowContext(ctx, `UPDATE accounts SET modseq = modseq + 1, used_bytes = used_bytes + ?, used_messages = used_messages + 1 WHERE id = ? RETURNING modseq`,
			size, t.AccountID).Scan(&modseq); err != nil {
			return err
		}
		unseen := 1
		if t.Flags&FlagSeen != 0 {
			unseen = 0
		}
		var uid, uv int64
		if err := tx.QueryRowContext(ctx, `UPDATE mailboxes SET uidnext = uidnext + 1, msg_count = msg_count + 1, unseen_count = unseen_count + ?,
			msg_size = msg_size + ?, highest_modseq = ? WHERE id = ? RETURNING uidnext - 1, uidvalidity`, unseen, size, modseq, mbID).Scan(&uid, &uv); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			mbID, uid, modseq, int64(t.Flags), joinKeywords(normKeywords(t.Keywords)), d.InternalDate.UnixMilli(), size, blobID); err != nil {
			return fmt.Errorf("mailstore: insert message: %w", err)
		}
		*res = TargetResult{MailboxID: mbID, UIDValidity: uint32(uv), UID: uint32(uid), ModSeq: modseq,
			UsedBefore: used, UsedAfter: used + size, QuotaBytes: quota}
		*published = append(*published, changes.Change{AccountID: t.AccountID, MailboxID: mbID, ModSeq: modseq})
		stored++
	}
	if stored > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET refs = refs + ? WHERE id = ?`, stored, blobID); err != nil {
			return err
		}
	}
	return nil
}

// addrText renders envelope addresses as searchable text: "Name <mailbox@host>, ...".
func addrText(as []message.Address) string {
	var b strings.Builder
	for _, a := range as {
		if a.Host == "" {
			continue // group markers
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if a.Name != "" {
			b.WriteString(a.Name)
			b.WriteString(" <")
		}
		b.WriteString(a.Mailbox)
		b.WriteByte('@')
		b.WriteString(a.Host)
		if a.Name != "" {
			b.WriteByte('>')
		}
	}
	return b.String()
}
