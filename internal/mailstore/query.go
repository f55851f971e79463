package mailstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/search"
)

// CondOp is the kind of a search condition.
type CondOp int

const (
	CondAll          CondOp = iota // every message
	CondAnd                        // all of Kids
	CondOr                         // any of Kids
	CondNot                        // not Kids[0]
	CondFlagSet                    // every flag of Flags set
	CondFlagClear                  // no flag of Flags set
	CondKeyword                    // has keyword Text
	CondContains                   // Field ("from", "to", "cc", "subject") contains Text
	CondText                       // Text in the header (Where&InHeader) or body (Where&InBody)
	CondInternalDate               // internal date in [From, To) (Unix ms; 0 = unbounded)
	CondSentDate                   // Date header in [From, To); messages without one never match
	CondLarger                     // size > Num
	CondSmaller                    // size < Num
	CondUIDs                       // UID in Ranges
	CondModSeq                     // MODSEQ >= Num
)

// Cond is a search condition over a mailbox's messages, evaluated by the database: flags,
// dates, sizes and UIDs on the message rows, addresses and subject on the stored metadata,
// text through the full-text index. Protocol servers translate their own syntax into it.
type Cond struct {
	Op       CondOp
	Kids     []*Cond
	Flags    Flags
	Text     string
	Field    string
	Where    int
	From, To int64
	Num      int64
	Ranges   [][2]uint32
}

// ErrCondUnsupported is returned by Search for a condition the database cannot evaluate
// faithfully (a non-ASCII substring on SQLite, whose LIKE folds ASCII case only); the caller
// evaluates it another way.
var ErrCondUnsupported = errors.New("mailstore: condition not supported by the database")

// Hit is a message a search found.
type Hit struct {
	UID    uint32
	ModSeq int64
}

var containsColumn = map[string]string{"from": "bm.from_addr", "to": "bm.to_addr", "cc": "bm.cc_addr", "subject": "bm.subject"}

func (s *Store) compile(c *Cond, b *strings.Builder, args *[]any) error {
	join := func(op string) error {
		if len(c.Kids) == 0 {
			if op == " AND " {
				b.WriteString("1=1")
			} else {
				b.WriteString("1=0")
			}
			return nil
		}
		b.WriteByte('(')
		for i, k := range c.Kids {
			if i > 0 {
				b.WriteString(op)
			}
			if err := s.compile(k, b, args); err != nil {
				return err
			}
		}
		b.WriteByte(')')
		return nil
	}
	like := search.ContainsFold(s.db.Engine)
	switch c.Op {
	case CondAll:
		b.WriteString("1=1")
	case CondAnd:
		return join(" AND ")
	case CondOr:
		return join(" OR ")
	case CondNot:
		if len(c.Kids) != 1 {
			return fmt.Errorf("mailstore: NOT needs one condition")
		}
		b.WriteString("NOT ")
		b.WriteByte('(')
		if err := s.compile(c.Kids[0], b, args); err != nil {
			return err
		}
		b.WriteByte(')')
	case CondFlagSet:
		b.WriteString("(m.flags & ?) = ?")
		*args = append(*args, int64(c.Flags), int64(c.Flags))
	case CondFlagClear:
		b.WriteString("(m.flags & ?) = 0")
		*args = append(*args, int64(c.Flags))
	case CondKeyword:
		if s.db.Engine == db.SQLite && !isASCII(c.Text) {
			return ErrCondUnsupported
		}
		b.WriteString("(' ' || m.keywords || ' ') " + like + " ? ESCAPE '\\'")
		*args = append(*args, "% "+search.EscapeLike(c.Text)+" %")
	case CondContains:
		col, ok := containsColumn[c.Field]
		if !ok {
			return fmt.Errorf("mailstore: cannot search field %q", c.Field)
		}
		if s.db.Engine == db.SQLite && !isASCII(c.Text) {
			// SQLite's LIKE folds ASCII letters only.
			b.WriteString(db.ContainsFoldFunc + "(" + col + ", ?) = 1")
			*args = append(*args, c.Text)
			return nil
		}
		b.WriteString(col + " " + like + " ? ESCAPE '\\'")
		*args = append(*args, "%"+search.EscapeLike(c.Text)+"%")
	case CondText:
		var parts []string
		if c.Where&InHeader != 0 {
			cond, arg := s.headerContains(c.Text)
			parts, *args = append(parts, cond), append(*args, arg)
		}
		if c.Where&InBody != 0 {
			sub, subArgs := search.BlobsContaining(s.db.Engine, c.Text)
			parts = append(parts, "m.blob_id IN ("+sub+")")
			*args = append(*args, subArgs...)
		}
		if len(parts) == 0 {
			b.WriteString("1=0")
			return nil
		}
		b.WriteString("(" + strings.Join(parts, " OR ") + ")")
	case CondInternalDate, CondSentDate:
		col := "m.internal_date"
		conds := []string{}
		if c.Op == CondSentDate {
			col = "bm.sent_date"
			conds = append(conds, "bm.sent_date <> 0")
		}
		if c.From != 0 {
			conds = append(conds, col+" >= ?")
			*args = append(*args, c.From)
		}
		if c.To != 0 {
			conds = append(conds, col+" < ?")
			*args = append(*args, c.To)
		}
		if len(conds) == 0 {
			conds = append(conds, "1=1")
		}
		b.WriteString("(" + strings.Join(conds, " AND ") + ")")
	case CondLarger:
		b.WriteString("m.size > ?")
		*args = append(*args, c.Num)
	case CondSmaller:
		b.WriteString("m.size < ?")
		*args = append(*args, c.Num)
	case CondModSeq:
		b.WriteString("m.modseq >= ?")
		*args = append(*args, c.Num)
	case CondUIDs:
		if len(c.Ranges) == 0 {
			b.WriteString("1=0")
			return nil
		}
		if len(c.Ranges) > 500 {
			return fmt.Errorf("mailstore: too many UID ranges in one search (%d)", len(c.Ranges))
		}
		b.WriteByte('(')
		for i, r := range c.Ranges {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString("m.uid BETWEEN ? AND ?")
			*args = append(*args, r[0], r[1])
		}
		b.WriteByte(')')
	default:
		return fmt.Errorf("mailstore: unknown search condition %d", c.Op)
	}
	return nil
}

// Search returns the messages of the mailbox that satisfy c, in UID order.
func (s *Store) Search(ctx context.Context, mailboxID int64, c *Cond) ([]Hit, error) {
	var b strings.Builder
	args := []any{mailboxID}
	if err := s.compile(c, &b, &args); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT m.uid, m.modseq FROM messages m JOIN blob_meta bm ON bm.blob_id = m.blob_id WHERE m.mailbox_id = ? AND `+b.String()+` ORDER BY m.uid`, args...)
	if err != nil {
		return nil, fmt.Errorf("mailstore: search: %w", err)
	}
	defer rows.Close()
	var out []Hit
	for rows.Next() {
		var h Hit
		if err := rows.Scan(&h.UID, &h.ModSeq); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// DayBounds returns the Unix-millisecond bounds [start, end) of the UTC day of t, for date
// conditions.
func DayBounds(t time.Time) (int64, int64) {
	y, m, d := t.UTC().Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return start.UnixMilli(), start.AddDate(0, 0, 1).UnixMilli()
}
