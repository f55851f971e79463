package imapserver

import "sort"

// uidList is a selected session's sorted UIDs, kept as runs of consecutive values: a mailbox
// filled in order is one run, so an idle session on a 100 000-message mailbox holds a few
// bytes instead of 400 KB. Sequence number n is the nth UID.
type uidList struct {
	runs []uidRun
	n    int
}

type uidRun struct {
	start, count uint32
	before       int // UIDs in the runs before this one
}

// uidListFromRuns builds the list from runs [first, last] in order.
func uidListFromRuns(runs [][2]uint32) uidList {
	l := uidList{runs: make([]uidRun, len(runs))}
	for i, r := range runs {
		l.runs[i] = uidRun{start: r[0], count: r[1] - r[0] + 1}
	}
	l.reindex(0)
	return l
}

// reindex recomputes before from run i on.
func (l *uidList) reindex(i int) {
	n := 0
	if i > 0 {
		n = l.runs[i-1].before + int(l.runs[i-1].count)
	}
	for ; i < len(l.runs); i++ {
		l.runs[i].before = n
		n += int(l.runs[i].count)
	}
	l.n = n
}

func (l *uidList) Len() int { return l.n }

func (l *uidList) Max() uint32 {
	if len(l.runs) == 0 {
		return 0
	}
	r := l.runs[len(l.runs)-1]
	return r.start + r.count - 1
}

// runOf returns the index of the last run starting at or below uid, or -1.
func (l *uidList) runOf(uid uint32) int {
	return sort.Search(len(l.runs), func(i int) bool { return l.runs[i].start > uid }) - 1
}

// SeqOf returns uid's sequence number, or 0 when it is not in the list.
func (l *uidList) SeqOf(uid uint32) int {
	i := l.runOf(uid)
	if i < 0 || uid >= l.runs[i].start+l.runs[i].count {
		return 0
	}
	return l.runs[i].before + int(uid-l.runs[i].start) + 1
}

// At returns the UID of sequence number seq (1 ≤ seq ≤ Len).
func (l *uidList) At(seq int) uint32 {
	i := sort.Search(len(l.runs), func(i int) bool { return l.runs[i].before >= seq }) - 1
	r := l.runs[i]
	return r.start + uint32(seq-1-r.before)
}

// Insert adds uid (no-op when present).
func (l *uidList) Insert(uid uint32) {
	i := l.runOf(uid)
	if i >= 0 && uid < l.runs[i].start+l.runs[i].count {
		return
	}
	joinLeft := i >= 0 && l.runs[i].start+l.runs[i].count == uid
	joinRight := i+1 < len(l.runs) && l.runs[i+1].start == uid+1
	switch {
	case joinLeft && joinRight:
		l.runs[i].count += 1 + l.runs[i+1].count
		l.runs = append(l.runs[:i+1], l.runs[i+2:]...)
	case joinLeft:
		l.runs[i].count++
	case joinRight:
		i++
		l.runs[i].start--
		l.runs[i].count++
	default:
		i++
		l.runs = append(l.runs, uidRun{})
		copy(l.runs[i+1:], l.runs[i:])
		l.runs[i] = uidRun{start: uid, count: 1}
	}
	l.reindex(max(i, 0))
}

// Delete removes uid (no-op when absent).
func (l *uidList) Delete(uid uint32) {
	i := l.runOf(uid)
	if i < 0 || uid >= l.runs[i].start+l.runs[i].count {
		return
	}
	r := l.runs[i]
	switch {
	case r.count == 1:
		l.runs = append(l.runs[:i], l.runs[i+1:]...)
	case uid == r.start:
		l.runs[i].start++
		l.runs[i].count--
	case uid == r.start+r.count-1:
		l.runs[i].count--
	default:
		left := uid - r.start
		l.runs = append(l.runs, uidRun{})
		copy(l.runs[i+2:], l.runs[i+1:])
		l.runs[i].count = left
		l.runs[i+1] = uidRun{start: uid + 1, count: r.count - left - 1}
	}
	l.reindex(i)
}

// Between appends the UIDs in [lo, hi] to out.
func (l *uidList) Between(out []uint32, lo, hi uint32) []uint32 {
	i := max(l.runOf(lo), 0)
	for ; i < len(l.runs) && l.runs[i].start <= hi; i++ {
		r := l.runs[i]
		a, b := max(r.start, lo), min(r.start+r.count-1, hi)
		for u := uint64(a); u <= uint64(b); u++ {
			out = append(out, uint32(u))
		}
	}
	return out
}

// All returns every UID.
func (l *uidList) All() []uint32 {
	out := make([]uint32, 0, l.n)
	for _, r := range l.runs {
		for k := uint32(0); k < r.count; k++ {
			out = append(out, r.start+k)
		}
	}
	return out
}
