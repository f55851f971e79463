package mailstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/message"
	"github.com/postamail/posta/internal/search"
)

// SearchRow is what a search or sort sees of a message: the columns stored at delivery, never
// the body.
type SearchRow struct {
	UID          uint32
	ModSeq       int64
	Flags        Flags
	Keywords     []string
	InternalDate time.Time
	SentDate     time.Time // zero when the message has no valid Date
	Size         int64
	Subject      string
	From, To, Cc string // "Name <mailbox@host>, ..."
	MessageID    string
}

// SearchRows returns every message of the mailbox in UID order, with the columns searches
// and sorts are evaluated on.
func (s *Store) SearchRows(ctx context.Context, mailboxID int64) ([]SearchRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.uid, m.modseq, m.flags, m.keywords, m.internal_date, bm.sent_date, m.size, bm.subject, bm.from_addr, bm.to_addr, bm.cc_addr, bm.message_id
		FROM messages m JOIN blob_meta bm ON bm.blob_id = m.blob_id WHERE m.mailbox_id = ? ORDER BY m.uid`, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("mailstore: search rows: %w", err)
	}
	defer rows.Close()
	out := make([]SearchRow, 0, 256)
	for rows.Next() {
		var r SearchRow
		var kw string
		var idate, sdate int64
		if err := rows.Scan(&r.UID, &r.ModSeq, &r.Flags, &kw, &idate, &sdate, &r.Size, &r.Subject, &r.From, &r.To, &r.Cc, &r.MessageID); err != nil {
			return nil, err
		}
		r.Keywords = splitKeywords(kw)
		r.InternalDate = time.UnixMilli(idate)
		if sdate != 0 {
			r.SentDate = time.UnixMilli(sdate)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Where a text search looks.
const (
	InHeader = 1 << iota // the raw header block
	InBody               // the decoded body text (the full-text index)
)

// TextMatches returns the UIDs of the mailbox's messages whose header (where&InHeader) or
// body text (where&InBody) contains needle, case-insensitively. Bodies are searched through
// the full-text index, headers through the stored header block; no message body is read.
func (s *Store) TextMatches(ctx context.Context, mailboxID int64, needle string, where int) (map[uint32]bool, error) {
	var conds []string
	args := []any{mailboxID}
	if where&InHeader != 0 {
		cond, arg := s.headerContains(needle)
		conds, args = append(conds, cond), append(args, arg)
	}
	if where&InBody != 0 {
		sub, subArgs := search.BlobsContaining(s.db.Engine, needle)
		conds = append(conds, "m.blob_id IN ("+sub+")")
		args = append(args, subArgs...)
	}
	return s.uidSet(ctx, `SELECT m.uid FROM messages m JOIN blob_meta bm ON bm.blob_id = m.blob_id WHERE m.mailbox_id = ? AND (`+strings.Join(conds, " OR ")+`)`, args...)
}

// headerContains is the SQL condition "the stored header block of bm contains needle, ignoring
// case" and its argument. SQLite's LIKE folds ASCII letters only: a needle beyond ASCII is
// checked by the Unicode-folding function instead.
func (s *Store) headerContains(needle string) (string, any) {
	switch {
	case s.db.Engine == db.Postgres:
		return `encode(bm.header, 'escape') ILIKE ? ESCAPE '\'`, "%" + search.EscapeLike(needle) + "%"
	case !isASCII(needle):
		return db.ContainsFoldFunc + `(CAST(bm.header AS TEXT), ?) = 1`, needle
	}
	return `CAST(bm.header AS TEXT) LIKE ? ESCAPE '\'`, "%" + search.EscapeLike(needle) + "%"
}

// HeaderMatches returns the UIDs of messages with a header field named field whose value
// (unfolded, encoded words decoded) contains value, case-insensitively; an empty value matches
// every message that has the field.
func (s *Store) HeaderMatches(ctx context.Context, mailboxID int64, field, value string) (map[uint32]bool, error) {
	// The stored header block narrows the candidates; each is then checked field by field.
	cond, arg := s.headerContains(field)
	rows, err := s.db.QueryContext(ctx, `SELECT m.uid, bm.header FROM messages m JOIN blob_meta bm ON bm.blob_id = m.blob_id WHERE m.mailbox_id = ? AND `+cond, mailboxID, arg)
	if err != nil {
		return nil, fmt.Errorf("mailstore: header search: %w", err)
	}
	defer rows.Close()
	out := map[uint32]bool{}
	value = strings.ToLower(value)
	for rows.Next() {
		var uid uint32
		var hdr []byte
		if err := rows.Scan(&uid, &hdr); err != nil {
			return nil, err
		}
		h, _ := message.ParseHeader(hdr)
		for _, v := range h.Values(field) {
			if strings.Contains(strings.ToLower(message.DecodeHeaderValue(v)), value) {
				out[uid] = true
				break
			}
		}
	}
	return out, rows.Err()
}

func (s *Store) uidSet(ctx context.Context, q string, args ...any) (map[uint32]bool, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("mailstore: search: %w", err)
	}
	defer rows.Close()
	out := map[uint32]bool{}
	for rows.Next() {
		var uid uint32
		if err := rows.Scan(&uid); err != nil {
			return nil, err
		}
		out[uid] = true
	}
	return out, rows.Err()
}

// FirstUnseen returns the lowest UID without \Seen in the mailbox, or 0.
func (s *Store) FirstUnseen(ctx context.Context, mailboxID int64) (uint32, error) {
	var uid uint32
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MIN(uid), 0) FROM messages WHERE mailbox_id = ? AND (flags & ?) = 0`, mailboxID, int64(FlagSeen)).Scan(&uid)
	return uid, err
}
