package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestMultiline(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		err            bool
	}{
		{"empty", ".\r\n", "", false},
		{"lines", "a\r\nb\r\n.\r\n", "a\r\nb\r\n", false},
		{"dot-stuffed", "..hidden\r\nx\r\n.\r\n", ".hidden\r\nx\r\n", false},
		{"only the first dot of a line", "a..b\r\n.\r\n", "a..b\r\n", false},
		{"unterminated", "a\r\nb\r\n", "", true},
		{"a following response is left", "a\r\n.\r\n+OK next\r\n", "a\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &conn{r: bufio.NewReaderSize(strings.NewReader(tc.in), 16)}
			got, err := c.multiline()
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			if !tc.err && string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	for in, ok := range map[string]bool{"+OK ready\r\n": true, "-ERR no\r\n": false, "": false} {
		c := &conn{r: bufio.NewReader(strings.NewReader(in))}
		if _, err := c.status(); (err == nil) != ok {
			t.Errorf("%q: error %v", in, err)
		}
	}
}

func FuzzMultiline(f *testing.F) {
	f.Add("a\r\n..b\r\n.\r\n")
	f.Add(".\r\n")
	f.Add(strings.Repeat("x", 100) + "\r\n.\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		c := &conn{r: bufio.NewReaderSize(strings.NewReader(in), 16)}
		got, err := c.multiline()
		if err == nil && len(got) > len(in) {
			t.Fatalf("%d bytes out of %d in", len(got), len(in))
		}
	})
}
