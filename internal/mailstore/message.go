package mailstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"time"

	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/message"
)

// Message is one message row. ID, MailboxID, Header and Meta are loaded only when asked for.
type Message struct {
	ID           int64
	MailboxID    int64
	UID          uint32
	ModSeq       int64
	Flags        Flags
	Keywords     []string
	InternalDate time.Time
	Size         int64
	BlobKey      string
	// CRLFSize is the size with CRLF line endings, the octets a POP3 client is told of and
	// receives; loaded by WithCRLFSize.
	CRLFSize int64

	// Header is the raw top-level header block, including the empty line.
	Header []byte
	// Parsed is the metadata computed at delivery (envelope, body structure, ...); never
	// re-parsed from the body.
	Parsed *message.Parsed
	// Envelope is loaded by WithEnvelope (and WithMeta). It may be shared: do not modify it.
	Envelope *message.Envelope

	blobID int64
}

// FlagNames returns the IMAP names of the message's flags and keywords.
func (m *Message) FlagNames() []string {
	return append(m.Flags.Names(), m.Keywords...)
}

// Fields selects the optional parts of a Message that a read loads.
type Fields int

const (
	WithHeader Fields = 1 << iota
	WithMeta
	WithEnvelope // only the envelope (Envelope), cheaper than WithMeta
	WithBlobKey  // BlobKey, to open the body
	WithCRLFSize // CRLFSize, without decoding the metadata
	WithRowID    // ID and MailboxID (a listing by UID needs neither: two columns fewer per row)

	withBlobID // internal: the blob row id, for the envelope cache
)

// UIDs returns the sorted UIDs of a mailbox: an IMAP session's view is built from it.
func (s *Store) UIDs(ctx context.Context, mailboxID int64) ([]uint32, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid`, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("mailstore: uids: %w", err)
	}
	defer rows.Close()
	out := make([]uint32, 0, 64)
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UIDRuns returns the UIDs of a mailbox as runs of consecutive values [first, last], in order.
// A mailbox without gaps (filled in order, nothing expunged) is answered from the index bounds
// and the mailbox's message counter (kept with the rows by every transaction that changes
// them), read in one statement: no pass over its rows.
func (s *Store) UIDRuns(ctx context.Context, mailboxID int64) ([][2]uint32, error) {
	var lo, hi sql.NullInt64
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT MIN(uid) FROM messages WHERE mailbox_id = ?), (SELECT MAX(uid) FROM messages WHERE mailbox_id = ?),
		msg_count FROM mailboxes WHERE id = ?`, mailboxID, mailboxID, mailboxID).Scan(&lo, &hi, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mailstore: uid runs: %w", err)
	}
	if n == 0 || !lo.Valid {
		return nil, nil
	}
	if hi.Int64-lo.Int64+1 == n {
		return [][2]uint32{{uint32(lo.Int64), uint32(hi.Int64)}}, nil
	}
	uids, err := s.UIDs(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	var out [][2]uint32
	for _, u := range uids {
		if k := len(out); k > 0 && out[k-1][1]+1 == u {
			out[k-1][1] = u
		} else {
			out = append(out, [2]uint32{u, u})
		}
	}
	return out, nil
}

// Messages calls fn for each message of the mailbox whose UID is in uids (sorted ascending), in
// UID order. A nil uids means every message.
func (s *Store) Messages(ctx context.Context, mailboxID int64, uids []uint32, f Fields, fn func(*Message) error) error {
	if f&WithEnvelope != 0 && f&(WithMeta|WithHeader) == 0 {
		return s.messagesWithEnvelopes(ctx, mailboxID, uids, f, fn)
	}
	return s.messages(ctx, mailboxID, uids, f, fn)
}

// messagesWithEnvelopes serves the commonest bulk read (an IMAP client listing a mailbox) from
// the envelope cache: the message rows are read without touching the metadata table, and only
// envelopes not cached yet are read from it, in one pass.
//
// A listing of nothing but the rows and envelopes comes from the listing cache while the
// mailbox has not changed; a listing of the whole mailbox fills it.
func (s *Store) messagesWithEnvelopes(ctx context.Context, mailboxID int64, uids []uint32, f Fields, fn func(*Message) error) error {
	var ms []*Message
	var missing []int
	add := func(m *Message) error {
		if e, ok := s.envs.get(m.blobID); ok {
			m.Envelope = e
		} else {
			missing = append(missing, len(ms))
		}
		ms = append(ms, m)
		return nil
	}
	var err error
	if f == WithEnvelope {
		err = s.listed(ctx, mailboxID, uids, add)
	} else {
		err = s.messages(ctx, mailboxID, uids, f&^WithEnvelope|withBlobID, add)
	}
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		lo, hi := ms[missing[0]].UID, ms[missing[len(missing)-1]].UID
		rows, err := s.db.QueryContext(ctx, `SELECT m.blob_id, bm.envelope, CASE WHEN bm.envelope IS NULL THEN bm.meta END FROM messages m JOIN blob_meta bm ON bm.blob_id = m.blob_id
			WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ?`, mailboxID, lo, hi)
		if err != nil {
			return fmt.Errorf("mailstore: envelopes: %w", err)
		}
		fetched := map[int64]*message.Envelope{}
		for rows.Next() {
			var id int64
			var env, meta []byte
			if err := rows.Scan(&id, &env, &meta); err != nil {
				rows.Close()
				return err
			}
			e, err := decodeEnvelope(env, meta)
			if err != nil {
				rows.Close()
				return fmt.Errorf("mailstore: blob %d envelope: %w", id, err)
			}
			fetched[id] = e
			s.envs.put(id, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, i := range missing {
			if ms[i].Envelope = fetched[ms[i].blobID]; ms[i].Envelope == nil {
				ms[i].Envelope = &message.Envelope{}
			}
		}
	}
	for _, m := range ms {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// listed calls fn for the messages of the mailbox whose UID is in uids (nil: all), in UID
// order, with their rows and blob ids, from the listing cache when it has the mailbox as it is
// now; otherwise from the database, keeping the rows for the next listing when they are the
// whole mailbox.
func (s *Store) listed(ctx context.Context, mailboxID int64, uids []uint32, fn func(*Message) error) error {
	var uv, modseq, count int64
	if err := s.db.QueryRowContext(ctx, `SELECT uidvalidity, highest_modseq, msg_count FROM mailboxes WHERE id = ?`, mailboxID).Scan(&uv, &modseq, &count); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoMailbox
		}
		return fmt.Errorf("mailstore: listing: %w", err)
	}
	l := s.lists.get(mailboxID, uv, modseq, count)
	if l == nil && uids != nil && int64(len(uids)) < count {
		// A part of a changed mailbox (a client fetching what is new): only that part.
		return s.messages(ctx, mailboxID, uids, withBlobID, fn)
	}
	if l == nil {
		// Rows read after the mailbox row are of its state or a later one: kept under the
		// state read, they are at worst taken for stale once too often.
		l = &listing{uidvalidity: uv, modseq: modseq, count: count, rows: make([]listRow, 0, count)}
		err := s.messages(ctx, mailboxID, nil, withBlobID, func(m *Message) error {
			l.rows = append(l.rows, listRow{uid: m.UID, flags: m.Flags, modseq: m.ModSeq, keywords: m.Keywords,
				idate: m.InternalDate.UnixMilli(), size: m.Size, blobID: m.blobID})
			return nil
		})
		if err != nil {
			return err
		}
		s.lists.put(mailboxID, l)
	}
	wanted := uidFilter{uids: uids}
	for _, r := range l.rows {
		if want, done := wanted.want(r.uid); done {
			break
		} else if !want {
			continue
		}
		m := &Message{UID: r.uid, ModSeq: r.modseq, Flags: r.flags, Keywords: r.keywords,
			InternalDate: time.UnixMilli(r.idate), Size: r.size, blobID: r.blobID}
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

func decodeEnvelope(env, meta []byte) (*message.Envelope, error) {
	if env != nil {
		e := new(message.Envelope)
		return e, e.UnmarshalBinary(env)
	}
	var p message.Parsed
	if err := json.Unmarshal(meta, &p); err != nil {
		return nil, err
	}
	return &p.Envelope, nil
}

func (s *Store) messages(ctx context.Context, mailboxID int64, uids []uint32, f Fields, fn func(*Message) error) error {
	cols, from := `m.uid, m.modseq, m.flags, m.keywords, m.internal_date, m.size`, ` FROM messages m`
	if f&WithRowID != 0 {
		cols += `, m.id, m.mailbox_id`
	}
	if f&(WithBlobKey|WithCRLFSize) != 0 {
		from += ` JOIN blobs b ON b.id = m.blob_id`
	}
	if f&WithBlobKey != 0 {
		cols += `, b.key`
	}
	if f&WithCRLFSize != 0 {
		cols += `, b.crlf_extra`
	}
	if f&withBlobID != 0 {
		cols += `, m.blob_id`
	}
	if f&(WithHeader|WithMeta) != 0 {
		from += ` JOIN blob_meta bm ON bm.blob_id = m.blob_id`
	}
	if f&WithHeader != 0 {
		cols += `, bm.header`
	}
	if f&WithMeta != 0 {
		cols += `, bm.meta`
	}
	q := `SELECT ` + cols + from + ` WHERE m.mailbox_id = ?`
	args := []any{mailboxID}
	if uids != nil {
		if len(uids) == 0 {
			return nil
		}
		q += ` AND m.uid BETWEEN ? AND ?`
		args = append(args, uids[0], uids[len(uids)-1])
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY m.uid`, args...)
	if err != nil {
		return fmt.Errorf("mailstore: messages: %w", err)
	}
	defer rows.Close()
	// The range query may return UIDs not asked for.
	wanted := uidFilter{uids: uids}
	for rows.Next() {
		var m Message
		var kw string
		var idate int64
		var meta []byte
		dst := []any{&m.UID, &m.ModSeq, &m.Flags, &kw, &idate, &m.Size}
		if f&WithRowID != 0 {
			dst = append(dst, &m.ID, &m.MailboxID)
		}
		if f&WithBlobKey != 0 {
			dst = append(dst, &m.BlobKey)
		}
		if f&WithCRLFSize != 0 {
			dst = append(dst, &m.CRLFSize)
		}
		if f&withBlobID != 0 {
			dst = append(dst, &m.blobID)
		}
		if f&WithHeader != 0 {
			dst = append(dst, &m.Header)
		}
		if f&WithMeta != 0 {
			dst = append(dst, &meta)
		}
		if err := rows.Scan(dst...); err != nil {
			return err
		}
		if want, done := wanted.want(m.UID); done {
			break
		} else if !want {
			continue
		}
		m.Keywords = splitKeywords(kw)
		m.InternalDate = time.UnixMilli(idate)
		if f&WithCRLFSize != 0 {
			m.CRLFSize += m.Size // the column scanned into it is the difference
		}
		if meta != nil {
			m.Parsed = new(message.Parsed)
			if err := json.Unmarshal(meta, m.Parsed); err != nil {
				return fmt.Errorf("mailstore: message UID %d meta: %w", m.UID, err)
			}
			m.Envelope = &m.Parsed.Envelope
		}
		if err := fn(&m); err != nil {
			return err
		}
	}
	return rows.Err()
}

// uidFilter picks, from UIDs seen in ascending order, those in a sorted list (nil: every one),
// walking both together.
type uidFilter struct {
	uids []uint32
	j    int
}

// want reports whether uid is in the list, and done whether no UID after it can be.
func (f *uidFilter) want(uid uint32) (want, done bool) {
	if f.uids == nil {
		return true, false
	}
	for f.j < len(f.uids) && f.uids[f.j] < uid {
		f.j++
	}
	if f.j == len(f.uids) {
		return false, true
	}
	return f.uids[f.j] == uid, false
}

// OpenBody opens the raw content of a message for reading: from the database when it is kept
// inline, else from the blob store.
func (s *Store) OpenBody(ctx context.Context, blobKey string) (io.ReadSeekCloser, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT d.data FROM blob_data d JOIN blobs b ON b.id = d.blob_id WHERE b.key = ?`, blobKey).Scan(&data)
	switch {
	case err == nil:
		return nopCloser{bytes.NewReader(data)}, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("mailstore: body: %w", err)
	}
	return s.blobs.Open(ctx, blobKey)
}

// nopCloser is an inline body: nothing to close.
type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// ChangedSince returns the messages of the mailbox whose MODSEQ is above modseq (flags only),
// and the UIDs expunged since then (from tombstones), both in UID order.
func (s *Store) ChangedSince(ctx context.Context, mailboxID, modseq int64) (changed []*Message, vanished []uint32, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, uid, modseq, flags, keywords FROM messages WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`, mailboxID, modseq)
	if err != nil {
		return nil, nil, fmt.Errorf("mailstore: changed: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		m := &Message{MailboxID: mailboxID}
		var kw string
		if err := rows.Scan(&m.ID, &m.UID, &m.ModSeq, &m.Flags, &kw); err != nil {
			return nil, nil, err
		}
		m.Keywords = splitKeywords(kw)
		changed = append(changed, m)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	vrows, err := s.db.QueryContext(ctx, `SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`, mailboxID, modseq)
	if err != nil {
		return nil, nil, fmt.Errorf("mailstore: vanished: %w", err)
	}
	defer vrows.Close()
	for vrows.Next() {
		var u uint32
		if err := vrows.Scan(&u); err != nil {
			return nil, nil, err
		}
		vanished = append(vanished, u)
	}
	return changed, vanished, vrows.Err()
}

// FlagChange is the state of one message after StoreFlags.
type FlagChange struct {
	UID      uint32
	ModSeq   int64
	Flags    Flags
	Keywords []string
}

// StoreFlags changes the flags of the given UIDs (sorted). Messages whose MODSEQ is above
// unchangedSince (when > 0) are left alone and returned in failed (RFC 7162 §3.1.3). Messages
// whose flags do not actually change keep their MODSEQ and are not returned in changed.
func (s *Store) StoreFlags(ctx context.Context, accountID, mailboxID int64, uids []uint32, op FlagOp, flags Flags, keywords []string, unchangedSince int64) (changed []FlagChange, failed []uint32, err error) {
	if len(uids) == 0 {
		return nil, nil, nil
	}
	keywords = normKeywords(keywords)
	var modseq int64
	if len(keywords) == 0 && unchangedSince == 0 {
		changed, modseq, err = s.storeSystemFlags(ctx, accountID, mailboxID, uids, op, flags)
		if err != nil {
			return nil, nil, fmt.Errorf("mailstore: store flags: %w", err)
		}
		if len(changed) > 0 {
			s.bus.Publish(changes.Change{AccountID: accountID, MailboxID: mailboxID, ModSeq: modseq})
		}
		return changed, nil, nil
	}
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		changed, failed, modseq = nil, nil, 0
		rows, err := tx.QueryContext(ctx, `SELECT uid, modseq, flags, keywords FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`,
			mailboxID, uids[0], uids[len(uids)-1])
		if err != nil {
			return err
		}
		type cur struct {
			uid    uint32
			modseq int64
			flags  Flags
			kw     []string
		}
		var todo []cur
		j := 0
		for rows.Next() {
			var c cur
			var kw string
			if err := rows.Scan(&c.uid, &c.modseq, &c.flags, &kw); err != nil {
				rows.Close()
				return err
			}
			for j < len(uids) && uids[j] < c.uid {
				j++
			}
			if j < len(uids) && uids[j] == c.uid {
				c.kw = splitKeywords(kw)
				todo = append(todo, c)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var unseenDelta int64
		for _, c := range todo {
			if unchangedSince > 0 && c.modseq > unchangedSince {
				failed = append(failed, c.uid)
				continue
			}
			nf, nkw := applyFlags(op, c.flags, c.kw, flags, keywords)
			if nf == c.flags && slices.Equal(nkw, c.kw) {
				continue
			}
			if modseq == 0 {
				if modseq, err = bumpModSeq(ctx, tx, accountID); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET flags = ?, keywords = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?`,
				int64(nf), joinKeywords(nkw), modseq, mailboxID, c.uid); err != nil {
				return err
			}
			if c.flags&FlagSeen != 0 && nf&FlagSeen == 0 {
				unseenDelta++
			} else if c.flags&FlagSeen == 0 && nf&FlagSeen != 0 {
				unseenDelta--
			}
			changed = append(changed, FlagChange{UID: c.uid, ModSeq: modseq, Flags: nf, Keywords: nkw})
		}
		if modseq != 0 {
			_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET highest_modseq = ?, unseen_count = unseen_count + ? WHERE id = ?`, modseq, unseenDelta, mailboxID)
		}
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("mailstore: store flags: %w", err)
	}
	if modseq != 0 {
		s.bus.Publish(changes.Change{AccountID: accountID, MailboxID: mailboxID, ModSeq: modseq})
	}
	return changed, failed, nil
}

// storeSystemFlags is StoreFlags for system flags only and no UNCHANGEDSINCE, the common case
// ("mark all read"): a few set-based UPDATEs over runs of UIDs instead of one per message.
func (s *Store) storeSystemFlags(ctx context.Context, accountID, mailboxID int64, uids []uint32, op FlagOp, flags Flags) ([]FlagChange, int64, error) {
	var set, cond string
	var setArgs, condArgs []any
	switch op {
	case FlagsAdd:
		set, setArgs = `flags = flags | ?`, []any{int64(flags)}
		cond, condArgs = `(flags & ?) != ?`, []any{int64(flags), int64(flags)}
	case FlagsRemove:
		set, setArgs = `flags = flags & ?`, []any{int64(^flags & 0xffff)}
		cond, condArgs = `(flags & ?) != 0`, []any{int64(flags)}
	default:
		set, setArgs = `flags = ?, keywords = ''`, []any{int64(flags)}
		cond, condArgs = `(flags != ? OR keywords != '')`, []any{int64(flags)}
	}
	// Runs of consecutive UIDs, up to 50 per statement.
	type run struct{ lo, hi uint32 }
	var runs []run
	for _, u := range uids {
		if n := len(runs); n > 0 && runs[n-1].hi+1 == u {
			runs[n-1].hi = u
		} else {
			runs = append(runs, run{u, u})
		}
	}
	var changed []FlagChange
	var modseq int64
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		changed = changed[:0]
		var err error
		if modseq, err = bumpModSeq(ctx, tx, accountID); err != nil {
			return err
		}
		for len(runs) > 0 {
			batch := runs[:min(len(runs), 50)]
			runs = runs[len(batch):]
			var where strings.Builder
			args := append(append([]any{}, setArgs...), modseq, mailboxID)
			for i, r := range batch {
				if i > 0 {
					where.WriteString(" OR ")
				}
				where.WriteString("uid BETWEEN ? AND ?")
				args = append(args, r.lo, r.hi)
			}
			args = append(args, condArgs...)
			rows, err := tx.QueryContext(ctx, `UPDATE messages SET `+set+`, modseq = ? WHERE mailbox_id = ? AND (`+where.String()+`) AND `+cond+` RETURNING uid, flags, keywords`, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var c FlagChange
				var kw string
				if err := rows.Scan(&c.UID, &c.Flags, &kw); err != nil {
					rows.Close()
					return err
				}
				c.ModSeq, c.Keywords = modseq, splitKeywords(kw)
				changed = append(changed, c)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		if len(changed) == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET highest_modseq = ?, unseen_count = (SELECT COUNT(*) FROM messages WHERE mailbox_id = ? AND (flags & ?) = 0) WHERE id = ?`,
			modseq, mailboxID, int64(FlagSeen), mailboxID)
		return err
	})
	slices.SortFunc(changed, func(a, b FlagChange) int { return int(a.UID) - int(b.UID) })
	return changed, modseq, err
}

// Expunge removes messages from a mailbox: the given UIDs if uids is non-nil (only those that
// have \Deleted, as UID EXPUNGE requires), else every message with \Deleted. It returns the
// expunged UIDs in order and leaves tombstones for QRESYNC.
func (s *Store) Expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]uint32, error) {
	return s.removeMessages(ctx, accountID, mailboxID, uids, true)
}

// Delete removes the given messages (UIDs sorted) whatever their flags, in one transaction,
// leaving tombstones (POP3 DELE applied at QUIT). It returns the UIDs removed.
func (s *Store) Delete(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]uint32, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	return s.removeMessages(ctx, accountID, mailboxID, uids, false)
}

func (s *Store) removeMessages(ctx context.Context, accountID, mailboxID int64, uids []uint32, onlyDeleted bool) ([]uint32, error) {
	var out []uint32
	var modseq int64
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var err error
		out, modseq, err = removeMessagesTx(ctx, tx, accountID, mailboxID, uids, onlyDeleted)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mailstore: expunge: %w", err)
	}
	if len(out) > 0 {
		s.bus.Publish(changes.Change{AccountID: accountID, MailboxID: mailboxID, ModSeq: modseq})
	}
	return out, nil
}

func removeMessagesTx(ctx context.Context, tx *db.Tx, accountID, mailboxID int64, uids []uint32, onlyDeleted bool) ([]uint32, int64, error) {
	q := `SELECT uid, size, flags, blob_id FROM messages WHERE mailbox_id = ?`
	args := []any{mailboxID}
	if onlyDeleted {
		q += ` AND (flags & ?) <> 0`
		args = append(args, int64(FlagDeleted))
	}
	if uids != nil {
		if len(uids) == 0 {
			return nil, 0, nil
		}
		q += ` AND uid BETWEEN ? AND ?`
		args = append(args, uids[0], uids[len(uids)-1])
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY uid`, args...)
	if err != nil {
		return nil, 0, err
	}
	type victim struct {
		uid    uint32
		size   int64
		flags  Flags
		blobID int64
	}
	var vs []victim
	for rows.Next() {
		var v victim
		if err := rows.Scan(&v.uid, &v.size, &v.flags, &v.blobID); err != nil {
			rows.Close()
			return nil, 0, err
		}
		if uids != nil {
			if _, found := slices.BinarySearch(uids, v.uid); !found {
				continue
			}
		}
		vs = append(vs, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(vs) == 0 {
		return nil, 0, nil
	}
	modseq, err := bumpModSeq(ctx, tx, accountID)
	if err != nil {
		return nil, 0, err
	}
	out := make([]uint32, 0, len(vs))
	var size, unseen int64
	blobRefs := map[int64]int64{}
	for _, v := range vs {
		if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE mailbox_id = ? AND uid = ?`, mailboxID, v.uid); err != nil {
			return nil, 0, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)`, mailboxID, v.uid, modseq); err != nil {
			return nil, 0, err
		}
		out = append(out, v.uid)
		size += v.size
		if v.flags&FlagSeen == 0 {
			unseen++
		}
		blobRefs[v.blobID]++
	}
	for id, n := range blobRefs {
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET refs = refs - ? WHERE id = ?`, n, id); err != nil {
			return nil, 0, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET msg_count = msg_count - ?, unseen_count = unseen_count - ?, msg_size = msg_size - ?, highest_modseq = ? WHERE id = ?`,
		len(out), unseen, size, modseq, mailboxID); err != nil {
		return nil, 0, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE accounts SET used_bytes = used_bytes - ?, used_messages = used_messages - ? WHERE id = ?`, size, len(out), accountID)
	return out, modseq, err
}

// CopyResult maps source UIDs to the UIDs of the copies (COPYUID, RFC 4315).
type CopyResult struct {
	UIDValidity uint32
	Src, Dst    []uint32
}

// Copy copies messages (UIDs sorted) to another mailbox of the same account, sharing their
// blobs. With move, the originals are expunged in the same transaction (RFC 6851). The whole copy
// is refused with ErrOverQuota when it does not fit.
func (s *Store) Copy(ctx context.Context, accountID, srcID, dstID int64, uids []uint32, move bool) (*CopyResult, error) {
	if len(uids) == 0 {
		return &CopyResult{}, nil
	}
	var res CopyResult
	var pub []changes.Change
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		res, pub = CopyResult{}, nil
		var uv int64
		err := tx.QueryRowContext(ctx, `SELECT uidvalidity FROM mailboxes WHERE id = ? AND account_id = ?`, dstID, accountID).Scan(&uv)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoMailbox
		}
		if err != nil {
			return err
		}
		res.UIDValidity = uint32(uv)
		rows, err := tx.QueryContext(ctx, `SELECT uid, flags, keywords, internal_date, size, blob_id
			FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`, srcID, uids[0], uids[len(uids)-1])
		if err != nil {
			return err
		}
		type row struct {
			uid                 uint32
			flags               int64
			kw                  string
			idate, size, blobID int64
		}
		var rs []row
		var total int64
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.uid, &r.flags, &r.kw, &r.idate, &r.size, &r.blobID); err != nil {
				rows.Close()
				return err
			}
			if _, found := slices.BinarySearch(uids, r.uid); found {
				rs = append(rs, r)
				total += r.size
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(rs) == 0 {
			return nil
		}
		if !move || srcID == dstID {
			var used, quota int64
			if err := tx.QueryRowContext(ctx, `SELECT a.used_bytes, c.quota_bytes FROM accounts a JOIN cos c ON c.id = a.cos_id WHERE a.id = ?`, accountID).Scan(&used, &quota); err != nil {
				return err
			}
			if used+total > quota {
				return ErrOverQuota
			}
		}
		modseq, err := bumpModSeq(ctx, tx, accountID)
		if err != nil {
			return err
		}
		var first int64
		if err := tx.QueryRowContext(ctx, `UPDATE mailboxes SET uidnext = uidnext + ? WHERE id = ? RETURNING uidnext - ?`, len(rs), dstID, len(rs)).Scan(&first); err != nil {
			return err
		}
		var unseen int64
		for i, r := range rs {
			uid := first + int64(i)
			if _, err := tx.ExecContext(ctx, `INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				dstID, uid, modseq, r.flags, r.kw, r.idate, r.size, r.blobID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE blobs SET refs = refs + 1 WHERE id = ?`, r.blobID); err != nil {
				return err
			}
			if Flags(r.flags)&FlagSeen == 0 {
				unseen++
			}
			res.Src = append(res.Src, r.uid)
			res.Dst = append(res.Dst, uint32(uid))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET msg_count = msg_count + ?, unseen_count = unseen_count + ?, msg_size = msg_size + ?, highest_modseq = ? WHERE id = ?`,
			len(rs), unseen, total, modseq, dstID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET used_bytes = used_bytes + ?, used_messages = used_messages + ? WHERE id = ?`, total, len(rs), accountID); err != nil {
			return err
		}
		pub = append(pub, changes.Change{AccountID: accountID, MailboxID: dstID, ModSeq: modseq})
		if move {
			_, m2, err := removeMessagesTx(ctx, tx, accountID, srcID, res.Src, false)
			if err != nil {
				return err
			}
			pub = append(pub, changes.Change{AccountID: accountID, MailboxID: srcID, ModSeq: m2})
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrOverQuota) || errors.Is(err, ErrNoMailbox) {
			return nil, err
		}
		return nil, fmt.Errorf("mailstore: copy: %w", err)
	}
	s.bus.Publish(pub...)
	return &res, nil
}

// Quota is an account's usage against its class of service.
type Quota struct {
	UsedBytes, LimitBytes int64
	Messages              int64
	LimitMessages         int64 // 0: no cap on the number of messages
}

// Quota returns the account's quota usage.
func (s *Store) Quota(ctx context.Context, accountID int64) (Quota, error) {
	var q Quota
	err := s.db.QueryRowContext(ctx, `SELECT a.used_bytes, c.quota_bytes, a.used_messages, c.max_messages FROM accounts a JOIN cos c ON c.id = a.cos_id WHERE a.id = ?`, accountID).
		Scan(&q.UsedBytes, &q.LimitBytes, &q.Messages, &q.LimitMessages)
	if errors.Is(err, sql.ErrNoRows) {
		return q, ErrNoAccount
	}
	return q, err
}
