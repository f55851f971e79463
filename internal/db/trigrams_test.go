package db

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/postamail/posta/internal/corpus"
)

// trigramWords is TrigramString as a list.
func trigramWords(s string) []string { return strings.Fields(TrigramString(s)) }

func TestTrigramWords(t *testing.T) {
	word := TrigramWord
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"", nil},
		{"ab", nil},
		{"abc", []string{word("abc")}},
		{"abcabc", []string{word("abc"), word("bca"), word("cab")}},
		{"ABCabc", []string{word("abc"), word("bca"), word("cab")}},
		{"Città", []string{word("cit"), word("itt"), word("ttà")}},
		{"ΣΟΦ σοφ", []string{word("σοφ"), word("οφ "), word("φ σ"), word(" σο")}},
		{"a\xffb", []string{word("a\uFFFDb")}}, // invalid UTF-8 is U+FFFD, as strings.ToLower makes it
	} {
		if got := trigramWords(tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("words of %q: = %q, want %q", tc.text, got, tc.want)
		}
	}
	for _, w := range []string{word("abc"), word("\x00\x00\x00"), word("😀€ß"), word("\U0010FFFF..")} {
		if w == "" || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Errorf("word %q is not ASCII letters and digits", w)
		}
	}
	if word("ABC") != word("abc") || word("ÀÈÌ") != word("àèì") {
		t.Error("words do not fold case")
	}
}

// TestTrigramWordsDistinct checks that two windows share a word only when they fold to the same
// characters, over windows mixing one-, two-, three- and four-byte characters.
func TestTrigramWordsDistinct(t *testing.T) {
	runes := []rune{0, 1, 17, 18, 19, ' ', 'a', 'z', 'A', 323, 324, 0xE0, 0x3C3, 0x4E2D, 5831, 5832, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF}
	seen := map[string]string{}
	for _, a := range runes {
		for _, b := range runes {
			for _, c := range runes {
				g := strings.ToLower(string([]rune{a, b, c}))
				w := TrigramWord(g)
				if prev, ok := seen[w]; ok && prev != g {
					t.Fatalf("%q and %q have the same word %q", prev, g, w)
				}
				seen[w] = g
			}
		}
	}
}

// TestTrigramWordsLarge compares the words of long texts of mixed scripts, enough to grow the
// set of non-ASCII windows many times, with a plain map's, text after text (the sets are
// reused).
func TestTrigramWordsLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := []rune("abcdefghij ,.ABCàèìòùÀÉ中文字符日本語😀€ΣσςЖж\x00\uFFFD")
	for _, n := range []int{10, 5000, 100000, 20} {
		runes := make([]rune, n)
		for i := range runes {
			runes[i] = alphabet[r.IntN(len(alphabet))]
		}
		text := string(runes)
		var want []string
		seen := map[string]bool{}
		folded := []rune(strings.ToLower(text))
		for i := 0; i+3 <= len(folded); i++ {
			if g := string(folded[i : i+3]); !seen[g] {
				seen[g] = true
				want = append(want, TrigramWord(g))
			}
		}
		if got := trigramWords(text); !slices.Equal(got, want) {
			t.Fatalf("%d characters: %d words, want %d", n, len(got), len(want))
		}
	}
}

func TestTrigramsFunc(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		arg  any
		want any
	}{
		{"Abcab", strings.Join(trigramWords("abcab"), " ") + " "},
		{[]byte("xyz"), TrigramWord("xyz") + " "},
		{"", ""},
		{nil, nil},
	} {
		var got any
		if err := d.QueryRowContext(ctx, `SELECT `+TrigramsFunc+`(?)`, tc.arg).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s(%q) = %q, want %q", TrigramsFunc, tc.arg, got, tc.want)
		}
	}
}

// FuzzTrigramWords checks what the search relies on: every window of a substring of a text is
// among the text's windows, so the index never misses a text holding the substring.
func FuzzTrigramWords(f *testing.F) {
	f.Add("La città di Milano", 3, 9)
	f.Add("ΣΟΦΙΑ σοφία", 0, 11)
	f.Add("a\xff\xfebc", 1, 5)
	f.Fuzz(func(t *testing.T, s string, i, j int) {
		if i < 0 || j > len(s) || i > j || !utf8.ValidString(s) || !utf8.ValidString(s[i:j]) {
			return
		}
		words := trigramWords(s)
		if len(words) > utf8.RuneCountInString(s) {
			t.Fatalf("%d words for %d characters", len(words), utf8.RuneCountInString(s))
		}
		for _, w := range trigramWords(s[i:j]) {
			if !slices.Contains(words, w) {
				t.Fatalf("%q: window word %q of %q not among the text's", s, w, s[i:j])
			}
		}
	})
}

// BenchmarkTrigramWords makes the index words of 15 KB of prose-like text (SetBytes: MB/s).
func BenchmarkTrigramWords(b *testing.B) {
	text := corpus.New().Text(rand.New(rand.NewPCG(3, 4)), 15000)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		TrigramString(text)
	}
}
