package imapserver

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postamail/posta/internal/imapwire"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/message"
)

// matcher evaluates a SEARCH key tree over the stored columns of each message; text and
// header keys are answered up front by the store (the full-text index and the stored header
// blocks), never by reading bodies.
type matcher struct {
	v      *view
	sets   map[*imapwire.SearchKey]map[uint32]bool
	uidMax uint32
	now    time.Time
	modseq bool // a MODSEQ key was used: the answer carries the highest MODSEQ
}

func (s *session) newMatcher(ctx context.Context, key *imapwire.SearchKey) (*matcher, error) {
	m := &matcher{v: s.sel, sets: map[*imapwire.SearchKey]map[uint32]bool{}, uidMax: s.sel.maxUID(), now: time.Now()}
	var walk func(k *imapwire.SearchKey) error
	walk = func(k *imapwire.SearchKey) error {
		var set map[uint32]bool
		var err error
		switch k.Op {
		case "TEXT":
			set, err = s.srv.store.TextMatches(ctx, s.sel.mb.ID, k.Str, mailstore.InHeader|mailstore.InBody)
		case "BODY":
			set, err = s.srv.store.TextMatches(ctx, s.sel.mb.ID, k.Str, mailstore.InBody)
		case "HEADER":
			set, err = s.srv.store.HeaderMatches(ctx, s.sel.mb.ID, k.Str, k.Value)
		case "BCC":
			set, err = s.srv.store.HeaderMatches(ctx, s.sel.mb.ID, "Bcc", k.Str)
		case "MODSEQ":
			m.modseq = true
		}
		if err != nil {
			return err
		}
		if set != nil {
			m.sets[k] = set
		}
		for _, c := range k.Kids {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return m, walk(key)
}

func day(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

func containsFold(hay, needle string) bool {
	return strings.Contains(strings.ToLower(hay), strings.ToLower(needle))
}

func (m *matcher) match(k *imapwire.SearchKey, r *mailstore.SearchRow, seq int) bool {
	switch k.Op {
	case "AND":
		for _, c := range k.Kids {
			if !m.match(c, r, seq) {
				return false
			}
		}
		return true
	case "OR":
		return m.match(k.Kids[0], r, seq) || m.match(k.Kids[1], r, seq)
	case "NOT":
		return !m.match(k.Kids[0], r, seq)
	case "ALL", "OLD", "SAVEDATESUPPORTED":
		return true
	case "NEW", "RECENT", "EMAILID", "THREADID":
		return false
	case "ANSWERED":
		return r.Flags&mailstore.FlagAnswered != 0
	case "UNANSWERED":
		return r.Flags&mailstore.FlagAnswered == 0
	case "DELETED":
		return r.Flags&mailstore.FlagDeleted != 0
	case "UNDELETED":
		return r.Flags&mailstore.FlagDeleted == 0
	case "DRAFT":
		return r.Flags&mailstore.FlagDraft != 0
	case "UNDRAFT":
		return r.Flags&mailstore.FlagDraft == 0
	case "FLAGGED":
		return r.Flags&mailstore.FlagFlagged != 0
	case "UNFLAGGED":
		return r.Flags&mailstore.FlagFlagged == 0
	case "SEEN":
		return r.Flags&mailstore.FlagSeen != 0
	case "UNSEEN":
		return r.Flags&mailstore.FlagSeen == 0
	case "KEYWORD", "UNKEYWORD":
		has := false
		if f, ok := mailstore.ParseFlag(k.Str); ok {
			has = r.Flags&f != 0
		} else {
			for _, kw := range r.Keywords {
				has = has || strings.EqualFold(kw, k.Str)
			}
		}
		return has == (k.Op == "KEYWORD")
	case "FROM":
		return containsFold(r.From, k.Str)
	case "TO":
		return containsFold(r.To, k.Str)
	case "CC":
		return containsFold(r.Cc, k.Str)
	case "SUBJECT":
		return containsFold(r.Subject, k.Str)
	case "TEXT", "BODY", "HEADER", "BCC":
		return m.sets[k][r.UID]
	case "BEFORE", "SAVEDBEFORE":
		return day(r.InternalDate).Before(k.Date)
	case "ON", "SAVEDON":
		return day(r.InternalDate).Equal(k.Date)
	case "SINCE", "SAVEDSINCE":
		return !day(r.InternalDate).Before(k.Date)
	case "SENTBEFORE":
		return !r.SentDate.IsZero() && day(r.SentDate).Before(k.Date)
	case "SENTON":
		return !r.SentDate.IsZero() && day(r.SentDate).Equal(k.Date)
	case "SENTSINCE":
		return !r.SentDate.IsZero() && !day(r.SentDate).Before(k.Date)
	case "LARGER":
		return r.Size > k.Num
	case "SMALLER":
		return r.Size < k.Num
	case "OLDER":
		return m.now.Sub(r.InternalDate) >= time.Duration(k.Num)*time.Second
	case "YOUNGER":
		return m.now.Sub(r.InternalDate) <= time.Duration(k.Num)*time.Second
	case "MODSEQ":
		return r.ModSeq >= k.Num
	case "UID":
		return inResolved(k.Set, m.v, true, r.UID)
	case "SEQ":
		return inResolved(k.Set, m.v, false, uint32(seq))
	}
	return false
}

func inResolved(set imapwire.SeqSet, v *view, uid bool, n uint32) bool {
	if set.Saved {
		return uid && slices.Contains(v.saved, n) || !uid && slices.Contains(v.saved, v.uids.At(int(n)))
	}
	max := v.maxUID()
	if !uid {
		max = uint32(v.uids.Len())
	}
	for _, r := range set.Resolve(max) {
		if n >= r.Start && n <= r.Stop {
			return true
		}
	}
	return false
}

// searchRows runs a search and returns the matching rows in UID order, with their sequence
// numbers.
func (s *session) searchRows(ctx context.Context, req *imapwire.SearchRequest) ([]mailstore.SearchRow, []int, *matcher, error) {
	switch req.Charset {
	case "", "UTF-8", "US-ASCII":
	default:
		return nil, nil, nil, no("BADCHARSET (UTF-8 US-ASCII)", "Charset %s is not supported", truncate(req.Charset, 30))
	}
	m, err := s.newMatcher(ctx, req.Key)
	if err != nil {
		return nil, nil, nil, err
	}
	rows, err := s.srv.store.SearchRows(ctx, s.sel.mb.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	var out []mailstore.SearchRow
	var seqs []int
	for i := range rows {
		seq := s.sel.seqOf(rows[i].UID)
		if seq == 0 {
			continue // not yet (or no longer) in this session's view
		}
		if m.match(req.Key, &rows[i], seq) {
			out = append(out, rows[i])
			seqs = append(seqs, seq)
		}
	}
	return out, seqs, m, nil
}

// toCond translates a SEARCH key into a condition the database evaluates; ok is false for
// keys it cannot (HEADER and BCC, checked field by field), which the matcher evaluates instead.
func (s *session) toCond(k *imapwire.SearchKey, now time.Time) (c *mailstore.Cond, ok bool) {
	v := s.sel
	none := &mailstore.Cond{Op: mailstore.CondNot, Kids: []*mailstore.Cond{{Op: mailstore.CondAll}}}
	flag := map[string]mailstore.Flags{"ANSWERED": mailstore.FlagAnswered, "DELETED": mailstore.FlagDeleted,
		"DRAFT": mailstore.FlagDraft, "FLAGGED": mailstore.FlagFlagged, "SEEN": mailstore.FlagSeen}
	kids := func() ([]*mailstore.Cond, bool) {
		var out []*mailstore.Cond
		for _, kid := range k.Kids {
			c, ok := s.toCond(kid, now)
			if !ok {
				return nil, false
			}
			out = append(out, c)
		}
		return out, true
	}
	switch op := k.Op; op {
	case "AND", "OR", "NOT":
		ks, ok := kids()
		if !ok {
			return nil, false
		}
		return &mailstore.Cond{Op: map[string]mailstore.CondOp{"AND": mailstore.CondAnd, "OR": mailstore.CondOr, "NOT": mailstore.CondNot}[op], Kids: ks}, true
	case "ALL", "OLD", "SAVEDATESUPPORTED":
		return &mailstore.Cond{Op: mailstore.CondAll}, true
	case "NEW", "RECENT", "EMAILID", "THREADID":
		return none, true
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN":
		return &mailstore.Cond{Op: mailstore.CondFlagSet, Flags: flag[op]}, true
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		return &mailstore.Cond{Op: mailstore.CondFlagClear, Flags: flag[op[2:]]}, true
	case "KEYWORD", "UNKEYWORD":
		c := &mailstore.Cond{Op: mailstore.CondKeyword, Text: strings.ToLower(k.Str)}
		if f, ok := mailstore.ParseFlag(k.Str); ok {
			c = &mailstore.Cond{Op: mailstore.CondFlagSet, Flags: f}
		}
		if op == "UNKEYWORD" {
			c = &mailstore.Cond{Op: mailstore.CondNot, Kids: []*mailstore.Cond{c}}
		}
		return c, true
	case "FROM", "TO", "CC", "SUBJECT":
		return &mailstore.Cond{Op: mailstore.CondContains, Field: strings.ToLower(op), Text: k.Str}, true
	case "TEXT":
		return &mailstore.Cond{Op: mailstore.CondText, Text: k.Str, Where: mailstore.InHeader | mailstore.InBody}, true
	case "BODY":
		return &mailstore.Cond{Op: mailstore.CondText, Text: k.Str, Where: mailstore.InBody}, true
	case "BEFORE", "ON", "SINCE", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		start, end := mailstore.DayBounds(k.Date)
		c := &mailstore.Cond{Op: mailstore.CondInternalDate}
		if strings.HasPrefix(op, "SENT") {
			c.Op = mailstore.CondSentDate
		}
		switch {
		case strings.HasSuffix(op, "BEFORE"):
			c.To = start
		case strings.HasSuffix(op, "ON"):
			c.From, c.To = start, end
		default:
			c.From = start
		}
		return c, true
	case "LARGER":
		return &mailstore.Cond{Op: mailstore.CondLarger, Num: k.Num}, true
	case "SMALLER":
		return &mailstore.Cond{Op: mailstore.CondSmaller, Num: k.Num}, true
	case "OLDER":
		return &mailstore.Cond{Op: mailstore.CondInternalDate, To: now.Add(-time.Duration(k.Num)*time.Second).UnixMilli() + 1}, true
	case "YOUNGER":
		return &mailstore.Cond{Op: mailstore.CondInternalDate, From: now.Add(-time.Duration(k.Num) * time.Second).UnixMilli()}, true
	case "MODSEQ":
		return &mailstore.Cond{Op: mailstore.CondModSeq, Num: k.Num}, true
	case "UID", "SEQ":
		var uids []uint32
		if k.Set.Saved {
			uids, _ = v.resolve(k.Set, true)
		} else if op == "UID" {
			uids, _ = v.resolve(k.Set, true)
		} else {
			n := uint32(v.uids.Len())
			for _, r := range k.Set.Resolve(n) {
				if r.Start > n {
					continue
				}
				uids = v.uids.Between(uids, v.uids.At(int(r.Start)), v.uids.At(int(min(r.Stop, n))))
			}
		}
		var ranges [][2]uint32
		for _, u := range uids {
			if l := len(ranges); l > 0 && ranges[l-1][1]+1 == u {
				ranges[l-1][1] = u
			} else {
				ranges = append(ranges, [2]uint32{u, u})
			}
		}
		if len(ranges) > 500 {
			return nil, false
		}
		return &mailstore.Cond{Op: mailstore.CondUIDs, Ranges: ranges}, true
	}
	return nil, false
}

// hits runs a search in the database when every key translates, else through the matcher;
// either way only messages in this session's view count.
func (s *session) hits(ctx context.Context, req *imapwire.SearchRequest) (uids []uint32, seqs []int, highest int64, withModSeq bool, err error) {
	if c, ok := s.toCond(req.Key, time.Now()); ok && (req.Charset == "" || req.Charset == "UTF-8" || req.Charset == "US-ASCII") {
		found, err := s.srv.store.Search(ctx, s.sel.mb.ID, c)
		switch {
		case err == nil:
			for _, h := range found {
				if seq := s.sel.seqOf(h.UID); seq > 0 {
					uids, seqs = append(uids, h.UID), append(seqs, seq)
					highest = max(highest, h.ModSeq)
				}
			}
			return uids, seqs, highest, hasModSeq(req.Key), nil
		case !errors.Is(err, mailstore.ErrCondUnsupported):
			return nil, nil, 0, false, err
		}
	}
	rows, seqs, m, err := s.searchRows(ctx, req)
	if err != nil {
		return nil, nil, 0, false, err
	}
	for i := range rows {
		uids = append(uids, rows[i].UID)
		highest = max(highest, rows[i].ModSeq)
	}
	return uids, seqs, highest, m.modseq, nil
}

func hasModSeq(k *imapwire.SearchKey) bool {
	if k.Op == "MODSEQ" {
		return true
	}
	for _, c := range k.Kids {
		if hasModSeq(c) {
			return true
		}
	}
	return false
}

func cmdSearch(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	req, err := p.Search()
	if err != nil {
		return err
	}
	uidCmd := s.cmd == "UID SEARCH"
	uids, seqs, highest, withModSeq, err := s.hits(ctx, req)
	if err != nil {
		return err
	}
	nums := make([]uint32, len(uids))
	for i := range uids {
		nums[i] = uint32(seqs[i])
		if uidCmd {
			nums[i] = uids[i]
		}
	}
	if !req.ReturnGiven {
		s.w.WriteString("* SEARCH")
		for _, n := range nums {
			s.w.WriteString(" " + strconv.FormatUint(uint64(n), 10))
		}
		if withModSeq && len(nums) > 0 {
			s.w.WriteString(" (MODSEQ " + strconv.FormatInt(highest, 10) + ")")
		}
		s.w.WriteString("\r\n")
		return nil
	}
	opts := req.Return
	if len(opts) == 0 {
		opts = []string{"ALL"}
	}
	if slices.Contains(opts, "SAVE") {
		s.sel.saved = append(s.sel.saved[:0], uids...)
		if len(opts) == 1 {
			return nil
		}
	}
	s.w.WriteString(`* ESEARCH (TAG "` + tag + `")`)
	if uidCmd {
		s.w.WriteString(" UID")
	}
	if len(nums) > 0 {
		sorted := slices.Clone(nums)
		slices.Sort(sorted)
		for _, o := range opts {
			switch o {
			case "MIN":
				s.w.WriteString(" MIN " + strconv.FormatUint(uint64(sorted[0]), 10))
			case "MAX":
				s.w.WriteString(" MAX " + strconv.FormatUint(uint64(sorted[len(sorted)-1]), 10))
			case "ALL":
				s.w.WriteString(" ALL " + imapwire.FormatSet(sorted))
			}
		}
		if withModSeq {
			s.w.WriteString(" MODSEQ " + strconv.FormatInt(highest, 10))
		}
	}
	if slices.Contains(opts, "COUNT") {
		s.w.WriteString(" COUNT " + strconv.Itoa(len(nums)))
	}
	s.w.WriteString("\r\n")
	return nil
}

// firstAddress returns the mailbox and display form of the first address of a stored list.
func firstAddress(list string) (mbox, display string) {
	as := message.ParseAddressList(list)
	if len(as) == 0 {
		return "", ""
	}
	display = as[0].Name
	if display == "" {
		display = as[0].Mailbox + "@" + as[0].Host
	}
	return strings.ToLower(as[0].Mailbox), strings.ToLower(display)
}

func sentOrInternal(r *mailstore.SearchRow) time.Time {
	if !r.SentDate.IsZero() {
		return r.SentDate
	}
	return r.InternalDate
}

func cmdSort(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	var crit []string
	err := p.List(func() error {
		k, err := p.Keyword()
		switch k {
		case "ARRIVAL", "CC", "DATE", "FROM", "REVERSE", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO":
			crit = append(crit, k)
		default:
			if err == nil {
				err = bad("Unknown sort criterion %s", truncate(k, 20))
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(crit) == 0 || crit[len(crit)-1] == "REVERSE" {
		return bad("Sort criteria must end with a key")
	}
	if err := p.SP(); err != nil {
		return err
	}
	rows, seqs, err := s.charsetSearch(ctx, p)
	if err != nil {
		return err
	}
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	cmp := func(a, b int) int {
		ra, rb := &rows[a], &rows[b]
		reverse := false
		for _, c := range crit {
			if c == "REVERSE" {
				reverse = true
				continue
			}
			var d int
			switch c {
			case "ARRIVAL":
				d = ra.InternalDate.Compare(rb.InternalDate)
			case "DATE":
				d = sentOrInternal(ra).Compare(sentOrInternal(rb))
			case "SIZE":
				d = compareInt(ra.Size, rb.Size)
			case "SUBJECT":
				d = strings.Compare(strings.ToLower(message.BaseSubject(ra.Subject)), strings.ToLower(message.BaseSubject(rb.Subject)))
			case "FROM", "TO", "CC", "DISPLAYFROM", "DISPLAYTO":
				la, lb := ra.From, rb.From
				switch c {
				case "TO", "DISPLAYTO":
					la, lb = ra.To, rb.To
				case "CC":
					la, lb = ra.Cc, rb.Cc
				}
				ma, da := firstAddress(la)
				mb, db := firstAddress(lb)
				if strings.HasPrefix(c, "DISPLAY") {
					d = strings.Compare(da, db)
				} else {
					d = strings.Compare(ma, mb)
				}
			}
			if reverse {
				d = -d
			}
			if d != 0 {
				return d
			}
			reverse = false
		}
		return seqs[a] - seqs[b]
	}
	slices.SortStableFunc(idx, cmp)
	s.w.WriteString("* SORT")
	for _, i := range idx {
		n := uint32(seqs[i])
		if s.cmd == "UID SORT" {
			n = rows[i].UID
		}
		s.w.WriteString(" " + strconv.FormatUint(uint64(n), 10))
	}
	s.w.WriteString("\r\n")
	return nil
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// charsetSearch reads "charset SP search-keys" (SORT and THREAD) and runs the search.
func (s *session) charsetSearch(ctx context.Context, p *imapwire.Parser) ([]mailstore.SearchRow, []int, error) {
	charset, err := p.AString()
	if err != nil {
		return nil, nil, err
	}
	if err := p.SP(); err != nil {
		return nil, nil, err
	}
	key, err := p.SearchKeys()
	if err != nil {
		return nil, nil, err
	}
	rows, seqs, _, err := s.searchRows(ctx, &imapwire.SearchRequest{Charset: strings.ToUpper(charset), Key: key})
	return rows, seqs, err
}
