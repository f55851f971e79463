package imapserver

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postamail/posta/internal/imapwire"
	"github.com/postamail/posta/internal/mailstore"
)

// node is a thread tree node; num 0 is a placeholder for a message not in the mailbox.
type node struct {
	id       string
	num      uint32
	date     time.Time
	parent   *node
	children []*node
	// subject is the base subject (lower case) and reply whether the subject marked a reply
	// or forward (RFC 5256 §2.1), for grouping threads by subject.
	subject string
	reply   bool
}

func (n *node) sortDate() time.Time {
	if n.num != 0 || len(n.children) == 0 {
		return n.date
	}
	return n.children[0].sortDate()
}

func (n *node) isAncestorOf(c *node) bool {
	for p := c; p != nil; p = p.parent {
		if p == n {
			return true
		}
	}
	return false
}

func cmdThread(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	alg, err := p.Keyword()
	if err != nil {
		return err
	}
	if alg != "REFERENCES" && alg != "ORDEREDSUBJECT" {
		return bad("Unknown threading algorithm %s", truncate(alg, 20))
	}
	if err := p.SP(); err != nil {
		return err
	}
	rows, seqs, err := s.charsetSearch(ctx, p)
	if err != nil {
		return err
	}
	uidCmd := s.cmd == "UID THREAD"
	numOf := map[uint32]uint32{}
	uids := make([]uint32, len(rows))
	for i := range rows {
		uids[i] = rows[i].UID
		numOf[rows[i].UID] = uint32(seqs[i])
		if uidCmd {
			numOf[rows[i].UID] = rows[i].UID
		}
	}
	type msgInfo struct {
		num     uint32
		id      string
		refs    []string
		subject string
		reply   bool
		date    time.Time
	}
	var msgs []msgInfo
	err = s.srv.store.Messages(ctx, s.sel.mb.ID, uids, mailstore.WithMeta, func(m *mailstore.Message) error {
		if _, ok := numOf[m.UID]; !ok {
			return nil
		}
		mi := msgInfo{num: numOf[m.UID], id: m.Parsed.MessageID, refs: m.Parsed.References,
			subject: strings.ToLower(m.Parsed.BaseSubject), reply: isReplyOrForward(m.Parsed.Subject), date: m.Parsed.Date}
		if len(mi.refs) == 0 && len(m.Parsed.InReplyTo) > 0 {
			mi.refs = m.Parsed.InReplyTo[:1]
		}
		if mi.date.IsZero() {
			mi.date = m.InternalDate
		}
		msgs = append(msgs, mi)
		return nil
	})
	if err != nil {
		return err
	}
	var roots []*node
	if alg == "ORDEREDSUBJECT" {
		slices.SortStableFunc(msgs, func(a, b msgInfo) int {
			if c := strings.Compare(a.subject, b.subject); c != 0 {
				return c
			}
			return a.date.Compare(b.date)
		})
		var cur *node
		curSubject := ""
		for i, m := range msgs {
			n := &node{num: m.num, date: m.date}
			if i > 0 && m.subject == curSubject {
				n.parent = cur
				cur.children = append(cur.children, n)
				continue
			}
			cur, curSubject = n, m.subject
			roots = append(roots, n)
		}
	} else {
		byID := map[string]*node{}
		get := func(id string) *node {
			n := byID[id]
			if n == nil {
				n = &node{id: id}
				byID[id] = n
			}
			return n
		}
		link := func(parent, child *node) {
			if child.parent != nil || parent == child || child.isAncestorOf(parent) {
				return
			}
			child.parent = parent
			parent.children = append(parent.children, child)
		}
		for i, m := range msgs {
			id := m.id
			if id == "" || (byID[id] != nil && byID[id].num != 0) {
				id = "\x00" + strconv.Itoa(i) // no or duplicate Message-ID: a thread of its own
			}
			n := get(id)
			n.num, n.date, n.subject, n.reply = m.num, m.date, m.subject, m.reply
			var prev *node
			for _, r := range m.refs {
				rn := get(r)
				if prev != nil {
					link(prev, rn)
				}
				prev = rn
			}
			if prev != nil && prev != n && !n.isAncestorOf(prev) {
				if n.parent != nil {
					n.parent.children = slices.DeleteFunc(n.parent.children, func(c *node) bool { return c == n })
					n.parent = nil
				}
				link(prev, n)
			}
		}
		for _, n := range byID {
			if n.parent == nil {
				roots = append(roots, n)
			}
		}
		roots = prune(roots, true)
		sortTree(roots)
		roots = groupBySubject(roots)
	}
	sortTree(roots)
	var b strings.Builder
	b.WriteString("* THREAD ")
	for _, r := range roots {
		b.WriteString("(")
		writeThread(&b, r)
		b.WriteString(")")
	}
	s.w.WriteString(b.String() + "\r\n")
	return nil
}

// sortTree sorts siblings by sent date, a placeholder by its first child's, and equal dates in
// mailbox order (RFC 5256 REFERENCES steps 4 and 6); children first, so that a placeholder's
// first child is known.
func sortTree(ns []*node) {
	for _, n := range ns {
		sortTree(n.children)
	}
	slices.SortStableFunc(ns, func(a, b *node) int {
		if c := a.sortDate().Compare(b.sortDate()); c != 0 {
			return c
		}
		return int(a.firstNum()) - int(b.firstNum())
	})
}

// threadSubject is the base subject of a thread: its root's, or for a placeholder its first
// child's.
func (n *node) threadSubject() string {
	if n.num == 0 && len(n.children) > 0 {
		return n.children[0].subject
	}
	return n.subject
}

func (n *node) adopt(c *node) {
	c.parent = n
	n.children = append(n.children, c)
}

// groupBySubject merges threads of the root set that share a base subject (RFC 5256
// REFERENCES step 5): roots must be sorted (step 4).
func groupBySubject(roots []*node) []*node {
	// B: for each subject, the thread the others join: a placeholder first, else one whose
	// subject is not a reply or forward, else the first.
	table := map[string]*node{}
	for _, r := range roots {
		s := r.threadSubject()
		if s == "" {
			continue
		}
		t := table[s]
		if t == nil || (r.num == 0 && t.num != 0) || (t.num != 0 && r.num != 0 && t.reply && !r.reply) {
			table[s] = r
		}
	}
	// C: merge each other thread with that subject into it. A placeholder made here takes
	// the place of the thread it first held.
	slot := map[*node]int{}
	out := slices.Clone(roots)
	for i, r := range roots {
		slot[r] = i
	}
	for _, r := range roots {
		s := r.threadSubject()
		if s == "" {
			continue
		}
		t := table[s]
		if t == r {
			continue
		}
		out[slot[r]] = nil
		switch {
		case t.num == 0 && r.num == 0:
			for _, c := range r.children {
				t.adopt(c)
			}
			r.children = nil
		case t.num == 0:
			t.adopt(r)
		case r.reply && !t.reply:
			t.adopt(r)
		default:
			d := &node{subject: t.subject}
			d.adopt(t)
			d.adopt(r)
			slot[d] = slot[t]
			out[slot[d]] = d
			table[s] = d
		}
	}
	return slices.DeleteFunc(out, func(n *node) bool { return n == nil })
}

// isReplyOrForward reports whether extracting the base subject (RFC 5256 §2.1) removes a
// reply or forward marker: a "Re:", "Fw:" or "Fwd:" leader, a "(fwd)" trailer or a "[fwd: ...]"
// wrapper (a leading "[list]" blob alone is not one).
func isReplyOrForward(subject string) bool {
	s := strings.ToLower(strings.Join(strings.Fields(subject), " "))
	if strings.HasSuffix(s, "(fwd)") || strings.HasPrefix(s, "[fwd:") {
		return true
	}
	for strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			break
		}
		s = strings.TrimLeft(s[end+1:], " ")
	}
	for _, p := range []string{"re", "fwd", "fw"} {
		t, ok := strings.CutPrefix(s, p)
		if !ok {
			continue
		}
		t = strings.TrimLeft(t, " ")
		if strings.HasPrefix(t, "[") {
			if end := strings.IndexByte(t, ']'); end >= 0 {
				t = t[end+1:]
			}
		}
		if strings.HasPrefix(strings.TrimLeft(t, " "), ":") {
			return true
		}
	}
	return strings.HasPrefix(s, "[fwd:")
}

func (n *node) firstNum() uint32 {
	if n.num != 0 || len(n.children) == 0 {
		return n.num
	}
	return n.children[0].firstNum()
}

// prune removes placeholders (RFC 5256 REFERENCES step 3): without children they go, with
// children they give them to their parent, except a root placeholder with several children.
func prune(ns []*node, root bool) []*node {
	var out []*node
	for _, n := range ns {
		n.children = prune(n.children, false)
		if n.num != 0 {
			out = append(out, n)
			continue
		}
		switch {
		case len(n.children) == 0:
		case root && len(n.children) > 1:
			out = append(out, n)
		default:
			for _, c := range n.children {
				c.parent = n.parent
			}
			out = append(out, n.children...)
		}
	}
	return out
}

// writeThread writes a node and its descendants: a single child follows its parent, several
// children are each parenthesised.
func writeThread(b *strings.Builder, n *node) {
	if n.num != 0 {
		b.WriteString(strconv.FormatUint(uint64(n.num), 10))
	}
	switch len(n.children) {
	case 0:
	case 1:
		if n.num != 0 {
			b.WriteByte(' ')
		}
		writeThread(b, n.children[0])
	default:
		if n.num != 0 {
			b.WriteByte(' ')
		}
		for _, c := range n.children {
			b.WriteByte('(')
			writeThread(b, c)
			b.WriteByte(')')
		}
	}
}
