package mailstore

import (
	"slices"
	"strings"
)

// Flags are the system flags of a message (RFC 9051 §2.3.2), stored as a bitmask.
type Flags uint32

const (
	FlagSeen Flags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagSeen, `\Seen`}, {FlagAnswered, `\Answered`}, {FlagFlagged, `\Flagged`},
	{FlagDeleted, `\Deleted`}, {FlagDraft, `\Draft`},
}

// Names returns the IMAP names of the flags set, in a fixed order.
func (f Flags) Names() []string {
	var out []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// ParseFlag returns the system flag named s (case-insensitive), or ok=false for a keyword.
func ParseFlag(s string) (Flags, bool) {
	for _, n := range flagNames {
		if strings.EqualFold(s, n.name) {
			return n.f, true
		}
	}
	return 0, false
}

// SplitFlags separates IMAP flag names into system flags and keywords (deduplicated, sorted).
// \Recent is ignored: it cannot be set by clients (RFC 3501 §2.3.2).
func SplitFlags(names []string) (Flags, []string) {
	var f Flags
	var kw []string
	for _, n := range names {
		if sf, ok := ParseFlag(n); ok {
			f |= sf
			continue
		}
		if strings.EqualFold(n, `\Recent`) || n == "" {
			continue
		}
		kw = append(kw, n)
	}
	return f, normKeywords(kw)
}

func normKeywords(kw []string) []string {
	if len(kw) == 0 {
		return nil
	}
	kw = slices.Clone(kw)
	slices.SortFunc(kw, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return slices.CompactFunc(kw, strings.EqualFold)
}

func joinKeywords(kw []string) string { return strings.Join(kw, " ") }

func splitKeywords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// FlagOp says how StoreFlags combines the given flags with the message's.
type FlagOp int

const (
	FlagsReplace FlagOp = iota // FLAGS
	FlagsAdd                   // +FLAGS
	FlagsRemove                // -FLAGS
)

func applyFlags(op FlagOp, curF Flags, curKW []string, f Flags, kw []string) (Flags, []string) {
	switch op {
	case FlagsAdd:
		return curF | f, normKeywords(append(slices.Clone(curKW), kw...))
	case FlagsRemove:
		out := slices.DeleteFunc(slices.Clone(curKW), func(k string) bool {
			return slices.ContainsFunc(kw, func(r string) bool { return strings.EqualFold(r, k) })
		})
		return curF &^ f, normKeywords(out)
	}
	return f, normKeywords(kw)
}
