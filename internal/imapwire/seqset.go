package imapwire

import (
	"slices"
	"strconv"
	"strings"
)

// Range is a sequence range; 0 stands for "*" (the largest number in use).
type Range struct{ Start, Stop uint32 }

// SeqSet is a sequence set (RFC 9051 sequence-set), or "$" (RFC 5182 SEARCHRES).
type SeqSet struct {
	Ranges []Range
	Saved  bool // "$": the result of the last SEARCH ... SAVE
}

// SeqSet reads a sequence set or "$".
func (p *Parser) SeqSet() (SeqSet, error) {
	if p.Consume('$') {
		return SeqSet{Saved: true}, nil
	}
	var s SeqSet
	for {
		a, err := p.seqNumber()
		if err != nil {
			return s, err
		}
		b := a
		if p.Consume(':') {
			if b, err = p.seqNumber(); err != nil {
				return s, err
			}
		}
		s.Ranges = append(s.Ranges, Range{a, b})
		if len(s.Ranges) > 100000 {
			return s, p.errorf("sequence set too long")
		}
		if !p.Consume(',') {
			return s, nil
		}
	}
}

func (p *Parser) seqNumber() (uint32, error) {
	if p.Consume('*') {
		return 0, nil
	}
	n, err := p.Number()
	if err == nil && n == 0 {
		return 0, p.errorf("0 is not a valid sequence number")
	}
	return n, err
}

// Resolve returns the ranges with "*" replaced by max, each ordered low to high, sorted and
// merged. With max 0 (an empty mailbox) "*" matches nothing.
func (s SeqSet) Resolve(max uint32) []Range {
	out := make([]Range, 0, len(s.Ranges))
	for _, r := range s.Ranges {
		a, b := r.Start, r.Stop
		if a == 0 {
			a = max
		}
		if b == 0 {
			b = max
		}
		if a > b {
			a, b = b, a
		}
		if a == 0 && b == 0 {
			continue
		}
		if a == 0 {
			a = 1
		}
		out = append(out, Range{a, b})
	}
	slices.SortFunc(out, func(x, y Range) int {
		if x.Start != y.Start {
			if x.Start < y.Start {
				return -1
			}
			return 1
		}
		return 0
	})
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && (merged[n-1].Stop == ^uint32(0) || r.Start <= merged[n-1].Stop+1) {
			merged[n-1].Stop = max32(merged[n-1].Stop, r.Stop)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

func max32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// String writes the set in wire form.
func (s SeqSet) String() string {
	if s.Saved {
		return "$"
	}
	var b strings.Builder
	for i, r := range s.Ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(num(r.Start))
		if r.Stop != r.Start {
			b.WriteByte(':')
			b.WriteString(num(r.Stop))
		}
	}
	return b.String()
}

func num(n uint32) string {
	if n == 0 {
		return "*"
	}
	return strconv.FormatUint(uint64(n), 10)
}

// FormatSet writes sorted numbers compactly ("1:3,7,9:10"), as COPYUID, APPENDUID, ESEARCH
// and VANISHED want them. An empty list gives "".
func FormatSet(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(nums[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(nums[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

// FormatPairs writes two parallel lists as COPYUID wants them (the source set and the
// destination set in the same order): each list compacted only where both run together.
func FormatPairs(src, dst []uint32) (string, string) {
	var a, b strings.Builder
	for i := 0; i < len(src); {
		j := i
		for j+1 < len(src) && src[j+1] == src[j]+1 && dst[j+1] == dst[j]+1 {
			j++
		}
		if a.Len() > 0 {
			a.WriteByte(',')
			b.WriteByte(',')
		}
		a.WriteString(strconv.FormatUint(uint64(src[i]), 10))
		b.WriteString(strconv.FormatUint(uint64(dst[i]), 10))
		if j > i {
			a.WriteString(":" + strconv.FormatUint(uint64(src[j]), 10))
			b.WriteString(":" + strconv.FormatUint(uint64(dst[j]), 10))
		}
		i = j + 1
	}
	return a.String(), b.String()
}
