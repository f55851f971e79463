package imapserver

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The run-length UID list behaves exactly like a sorted slice under random edits.
func TestUIDListMatchesSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 50; round++ {
		var ref []uint32
		for u := uint32(1); u <= 200; u++ {
			if rng.IntN(4) > 0 {
				ref = append(ref, u)
			}
		}
		l := newUIDList(ref)
		var runs [][2]uint32
		for _, r := range l.runs {
			runs = append(runs, [2]uint32{r.start, r.start + r.count - 1})
		}
		if again := uidListFromRuns(runs); !slices.Equal(again.All(), ref) {
			t.Fatalf("from runs: %v, want %v", again.All(), ref)
		}
		for op := 0; op < 300; op++ {
			u := uint32(rng.IntN(260) + 1)
			if rng.IntN(2) == 0 {
				l.Insert(u)
				if i, ok := slices.BinarySearch(ref, u); !ok {
					ref = slices.Insert(ref, i, u)
				}
			} else {
				l.Delete(u)
				if i, ok := slices.BinarySearch(ref, u); ok {
					ref = slices.Delete(ref, i, i+1)
				}
			}
			if l.Len() != len(ref) || !slices.Equal(l.All(), ref) {
				t.Fatalf("round %d op %d: list %v, want %v", round, op, l.All(), ref)
			}
		}
		for seq, u := range ref {
			if l.At(seq+1) != u || l.SeqOf(u) != seq+1 {
				t.Fatalf("seq %d: At %d SeqOf %d, want %d", seq+1, l.At(seq+1), l.SeqOf(u), u)
			}
		}
		if l.SeqOf(1000) != 0 || (len(ref) > 0 && l.Max() != ref[len(ref)-1]) {
			t.Fatalf("SeqOf/Max")
		}
		lo, hi := uint32(rng.IntN(100)), uint32(rng.IntN(200)+100)
		var want []uint32
		for _, u := range ref {
			if u >= lo && u <= hi {
				want = append(want, u)
			}
		}
		if got := l.Between(nil, lo, hi); !slices.Equal(got, want) {
			t.Fatalf("Between(%d,%d) = %v, want %v", lo, hi, got, want)
		}
	}
	full := newUIDList([]uint32{1, 2, 3, 4294967295})
	if got := full.Between(nil, 4294967290, 4294967295); !slices.Equal(got, []uint32{4294967295}) {
		t.Fatalf("Between at the top: %v", got)
	}
}

// newUIDList builds the list from sorted UIDs.
func newUIDList(sorted []uint32) uidList {
	var l uidList
	for _, u := range sorted {
		if k := len(l.runs); k > 0 && l.runs[k-1].start+l.runs[k-1].count == u {
			l.runs[k-1].count++
		} else {
			l.runs = append(l.runs, uidRun{start: u, count: 1})
		}
	}
	l.reindex(0)
	return l
}
