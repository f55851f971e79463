package db

import (
	"database/sql/driver"
	"sync"
	"unicode"
	"unicode/utf8"

	"modernc.org/sqlite"
)

// TrigramsFunc is the name of an SQL function of the SQLite connections: posta_trigrams(text)
// is the words the full-text index holds for text, one per distinct three-character window of
// text folded as ContainsFoldFunc folds it, separated by spaces (NULL for NULL). The index
// records which texts hold a word, not where or how often (detail=none), so FTS5's own trigram
// tokenizer handed it every repetition for nothing: 35 KB of prose has 35 000 windows but about
// 3 000 distinct ones. The words are made of ASCII letters and digits, for FTS5's ascii
// tokenizer, and two windows have the same word only when they fold to the same characters.
const TrigramsFunc = "posta_trigrams"

func trigramsFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	s, ok := textArg(args[0])
	if !ok {
		return nil, nil
	}
	return TrigramString(s), nil
}

// TrigramWord is the index word of the window g (three characters, case folded here).
func TrigramWord(g string) string {
	var b []byte
	for _, r := range g {
		b = appendRuneCode(b, foldRune(r))
	}
	return string(b)
}

// TrigramString is TrigramsFunc's value for s: the words of its distinct windows, in the order
// they first appear, each followed by a space.
func TrigramString(s string) string {
	set := windowSets.Get().(*windowSet)
	defer set.reset()
	set.buf = appendTrigramWords(set.buf[:0], set, s)
	return string(set.buf)
}

// appendTrigramWords appends the words of the windows of s not yet in seen, each followed by a
// space, and adds them to seen.
func appendTrigramWords(dst []byte, seen *windowSet, s string) []byte {
	var w uint64 // the last three folded characters, 21 bits each, the newest lowest
	n := 0
	for i := 0; i < len(s); {
		r := rune(s[i])
		if r < utf8.RuneSelf {
			r = rune(asciiFold[r])
			i++
		} else {
			var size int
			r, size = utf8.DecodeRuneInString(s[i:])
			r = unicode.ToLower(r)
			i += size
		}
		w = (w<<21 | uint64(r)) & (1<<63 - 1)
		if n++; n < 3 || !seen.add(w) {
			continue
		}
		dst = appendRuneCode(dst, rune(w>>42))
		dst = appendRuneCode(dst, rune(w>>21&(1<<21-1)))
		dst = appendRuneCode(dst, rune(w&(1<<21-1)))
		dst = append(dst, ' ')
	}
	return dst
}

// asciiFold maps each ASCII character to its lower case.
var asciiFold = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		t[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			t[c] += 'a' - 'A'
		}
	}
	return t
}()

// foldRune folds case as strings.ToLower does (rune by rune, so that the windows of a folded
// text are the folded windows of the text); invalid UTF-8 is already utf8.RuneError.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		return rune(asciiFold[r])
	}
	return unicode.ToLower(r)
}

// A rune's code is its number in base 18, most significant digit first, written with one
// alphabet for the last digit and another for the digits before it, so that the codes of three
// runes written one after the other read back in only one way. ASCII takes two letters.
const (
	codeMore = "abcdefghijklmnopqr"
	codeLast = "stuvwxyz0123456789"
)

func appendRuneCode(dst []byte, r rune) []byte {
	if int(r) < len(shortCodes) {
		c := &shortCodes[r]
		return append(dst, c[1:1+c[0]]...)
	}
	return appendRuneCodeSlow(dst, r)
}

func appendRuneCodeSlow(dst []byte, r rune) []byte {
	v := uint32(r)
	var buf [8]byte
	i := len(buf) - 1
	buf[i] = codeLast[v%18]
	for v /= 18; v > 0; v /= 18 {
		i--
		buf[i] = codeMore[v%18]
	}
	return append(dst, buf[i:]...)
}

// shortCodes holds the codes of the runes of at most three digits (below 18³: the alphabets
// of Europe and the Middle East), each as its length and its letters.
var shortCodes = func() (t [18 * 18 * 18][4]byte) {
	for r := range t {
		t[r][0] = byte(copy(t[r][1:], appendRuneCodeSlow(nil, rune(r))))
	}
	return t
}()

// windowSet is a set of windows: a bitmap for the windows of three ASCII characters, nearly all
// of them in most mail, and open addressing for the others (three 21-bit runes in a uint64),
// without a map's cost per lookup. Sets are reused (windowSets), with a buffer for the words:
// reset clears only what was set.
type windowSet struct {
	buf   []byte
	ascii []uint64 // 1<<21 bits
	set   []uint32 // ascii windows set, to clear
	slots []uint64 // 0 is empty; keys carry bit 63
	shift uint     // 64 - log2(len(slots))
	n     int
}

var windowSets = sync.Pool{New: func() any {
	return &windowSet{ascii: make([]uint64, 1<<21/64), slots: make([]uint64, 1024), shift: 64 - 10}
}}

// add adds the window w (three 21-bit runes, the first highest) and reports whether it was new.
func (s *windowSet) add(w uint64) bool {
	const nonASCII = (1<<21 - 1 - 127) * (1<<42 | 1<<21 | 1)
	if w&nonASCII == 0 {
		k := uint32(w>>42)<<14 | uint32(w>>21&127)<<7 | uint32(w&127)
		word, bit := &s.ascii[k/64], uint64(1)<<(k%64)
		if *word&bit != 0 {
			return false
		}
		*word |= bit
		s.set = append(s.set, k)
		return true
	}
	return s.addKey(w | 1<<63)
}

func (s *windowSet) addKey(k uint64) bool {
	mask := len(s.slots) - 1
	for i := int((k * 0x9E3779B97F4A7C15) >> s.shift); ; i = (i + 1) & mask {
		switch s.slots[i] {
		case k:
			return false
		case 0:
			s.slots[i] = k
			if s.n++; 2*s.n > len(s.slots) {
				s.grow()
			}
			return true
		}
	}
}

func (s *windowSet) grow() {
	old := s.slots
	s.slots, s.shift, s.n = make([]uint64, 2*len(old)), s.shift-1, 0
	for _, k := range old {
		if k != 0 {
			s.addKey(k)
		}
	}
}

// reset empties the set and returns it to windowSets, dropping what a large text made grow.
func (s *windowSet) reset() {
	if cap(s.buf) > 1<<20 {
		s.buf = nil
	}
	if len(s.slots) > 1<<16 {
		s.slots, s.shift, s.n = make([]uint64, 1024), 64-10, 0
	}
	for _, k := range s.set {
		s.ascii[k/64] = 0
	}
	s.set = s.set[:0]
	if s.n > 0 {
		clear(s.slots)
		s.n = 0
	}
	windowSets.Put(s)
}
