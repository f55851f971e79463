package imapserver

import (
	"context"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/imapwire"
)

// qresyncParams is SELECT's QRESYNC parameter (RFC 7162 §3.2.5).
type qresyncParams struct {
	uidValidity uint32
	modseq      int64
	known       *imapwire.SeqSet // the client's known UIDs, if given
}

func parseQresync(p *imapwire.Parser) (*qresyncParams, error) {
	q := &qresyncParams{}
	if err := p.Expect('('); err != nil {
		return nil, err
	}
	var err error
	if q.uidValidity, err = p.Number(); err != nil {
		return nil, err
	}
	if err := p.SP(); err != nil {
		return nil, err
	}
	if q.modseq, err = p.Number64(); err != nil {
		return nil, err
	}
	if p.Consume(' ') {
		if p.Peek() != '(' {
			set, err := p.SeqSet()
			if err != nil {
				return nil, err
			}
			q.known = &set
			p.Consume(' ')
		}
		if p.Peek() == '(' {
			// Sequence match data: an optimisation for the server; the known UIDs or the
			// full tombstone list give the same answer.
			if err := p.List(func() error { _, err := p.SeqSet(); return err }); err != nil {
				return nil, err
			}
		}
	}
	return q, p.Expect(')')
}

// qresyncReplay sends what changed since the client's MODSEQ: VANISHED (EARLIER) for expunged
// UIDs, FETCH for changed messages.
func (s *session) qresyncReplay(ctx context.Context, q *qresyncParams) error {
	return s.changedSince(ctx, q.modseq, q.known, true)
}

// changedSince reports the UIDs (of known, when given) expunged after modseq as VANISHED
// (EARLIER) and, with fetches, the messages changed after it as FETCH (UID FLAGS MODSEQ).
func (s *session) changedSince(ctx context.Context, modseq int64, known *imapwire.SeqSet, fetches bool) error {
	v := s.sel
	changed, gone, err := s.srv.store.ChangedSince(ctx, v.mb.ID, modseq)
	if err != nil {
		return err
	}
	{
		var early []uint32
		for _, u := range gone {
			if v.seqOf(u) > 0 {
				continue // still in this session's view; reported by a later EXPUNGE
			}
			if known != nil && !inSet(*known, u) {
				continue
			}
			early = append(early, u)
		}
		if len(early) > 0 {
			s.untagged("VANISHED (EARLIER) %s", imapwire.FormatSet(early))
		}
	}
	if !fetches {
		return nil // FETCH CHANGEDSINCE writes its own FETCH responses
	}
	for _, m := range changed {
		seq := v.seqOf(m.UID)
		if seq == 0 {
			continue
		}
		s.untagged("%d FETCH (UID %d FLAGS (%s) MODSEQ (%d))", seq, m.UID, strings.Join(m.FlagNames(), " "), m.ModSeq)
	}
	return nil
}

func inSet(set imapwire.SeqSet, u uint32) bool {
	for _, r := range set.Resolve(^uint32(0)) {
		if u >= r.Start && u <= r.Stop {
			return true
		}
	}
	return false
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
