package main

import (
	"strings"
	"testing"
)

func TestFetchItems(t *testing.T) {
	for _, tc := range []struct {
		rec   string
		fetch bool
		want  string // name=value pairs joined by |
		err   bool
	}{
		{"* 1 FETCH (UID 5 RFC822.SIZE 100)\r\n", true, "UID=5|RFC822.SIZE=100", false},
		{"* 2 FETCH (FLAGS (\\Seen \\Answered) UID 9)\r\n", true, "FLAGS=(\\Seen \\Answered)|UID=9", false},
		{"* 3 FETCH (UID 7 BODY[] {5}\r\nab)cd)\r\n", true, "UID=7|BODY[]={5}\r\nab)cd", false},
		{"* 4 FETCH (ENVELOPE (\"d\" \"s (x)\" NIL NIL NIL NIL NIL NIL NIL \"<m>\"))\r\n", true, "ENVELOPE=(\"d\" \"s (x)\" NIL NIL NIL NIL NIL NIL NIL \"<m>\")", false},
		{"* 5 EXISTS\r\n", false, "", false},
		{"* 6 FETCH (UID\r\n", true, "", true},
		{"* 7 FETCH (BODY[] {99}\r\nab)\r\n", true, "", true},
	} {
		var got []string
		fetch, err := fetchItems([]byte(tc.rec), func(name string, v []byte) error {
			got = append(got, name+"="+string(v))
			return nil
		})
		if fetch != tc.fetch || (err != nil) != tc.err {
			t.Errorf("%q: fetch %v, error %v", tc.rec, fetch, err)
			continue
		}
		if !tc.err && strings.Join(got, "|") != tc.want {
			t.Errorf("%q: %q, want %q", tc.rec, strings.Join(got, "|"), tc.want)
		}
	}
}

func TestSmallParsers(t *testing.T) {
	if n, ok := literalAtEnd([]byte("* 1 FETCH (BODY[] {123}\r\n")); !ok || n != 123 {
		t.Errorf("literalAtEnd: %d %v", n, ok)
	}
	if _, ok := literalAtEnd([]byte("* OK {x}\r\n")); ok {
		t.Error("literalAtEnd accepted {x}")
	}
	if n, ok := untaggedNumber([]byte("* 20001 EXISTS\r\n"), "EXISTS"); !ok || n != 20001 {
		t.Errorf("untaggedNumber: %d %v", n, ok)
	}
	if _, ok := untaggedNumber([]byte("* 3 RECENT\r\n"), "EXISTS"); ok {
		t.Error("untaggedNumber took RECENT for EXISTS")
	}
	hits, ok, err := searchHits([]byte("* SEARCH 1 5 9\r\n"), nil)
	if !ok || err != nil || len(hits) != 3 || hits[2] != 9 {
		t.Errorf("searchHits: %v %v %v", hits, ok, err)
	}
	if _, _, err := searchHits([]byte("* SEARCH 1 x\r\n"), nil); err == nil {
		t.Error("searchHits accepted x")
	}
	if q, err := quote(`a"b\c`); err != nil || q != `"a\"b\\c"` {
		t.Errorf("quote: %s %v", q, err)
	}
	if _, err := quote("caffè"); err == nil {
		t.Error("quote accepted 8-bit text")
	}
}

func TestCorpus(t *testing.T) {
	c := generate(2000, 1)
	if len(c.msgs) != 2000 || c.fromKey == "" {
		t.Fatalf("%d messages, sender %q", len(c.msgs), c.fromKey)
	}
	// The searched word is in about 1 % of the messages, as the suite promises.
	if n := len(c.textHits); n < 10 || n > 40 {
		t.Errorf("%d of 2000 messages hold %q, want about 20", n, c.textKey)
	}
	again := generate(2000, 1)
	for i := range c.msgs {
		if string(c.msgs[i].raw) != string(again.msgs[i].raw) {
			t.Fatalf("message %d differs between two generations with the same seed", i)
		}
	}
}

func FuzzFetchItems(f *testing.F) {
	f.Add("* 1 FETCH (UID 5 BODY[] {3}\r\nabc FLAGS (\\Seen))\r\n")
	f.Add("* 1 FETCH (ENVELOPE (NIL \"x\" ((NIL NIL \"a\" \"b\"))))\r\n")
	f.Fuzz(func(t *testing.T, rec string) {
		fetchItems([]byte(rec), func(name string, v []byte) error {
			if len(v) > len(rec) {
				t.Fatalf("value longer than the response")
			}
			return nil
		})
	})
}
