package imapwire

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// benchRead reads the same command b.N times from one stream, as a session does.
func benchRead(b *testing.B, cmd string, parse func(*Command) error) {
	stream := bytes.Repeat([]byte(cmd), 64)
	b.SetBytes(int64(len(cmd)))
	br := bufio.NewReader(bytes.NewReader(stream))
	r := NewReader(br)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%64 == 0 {
			br.Reset(bytes.NewReader(stream))
		}
		c, err := r.ReadCommand()
		if err != nil {
			b.Fatal(err)
		}
		if parse != nil {
			if err := parse(c); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReadFetch reads and parses a client's first-sync FETCH.
func BenchmarkReadFetch(b *testing.B) {
	benchRead(b, "a12 UID FETCH 1:* (UID FLAGS ENVELOPE RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (REFERENCES LIST-ID)])\r\n", func(c *Command) error {
		p := NewParser(c.Args)
		if _, err := p.SeqSet(); err != nil {
			return err
		}
		if err := p.SP(); err != nil {
			return err
		}
		_, err := p.FetchItems()
		return err
	})
}

// BenchmarkReadAppend8KB reads an APPEND with an 8 KB non-synchronising literal.
func BenchmarkReadAppend8KB(b *testing.B) {
	msg := "From: a@example.org\r\nSubject: s\r\n\r\n" + strings.Repeat("lorem ipsum dolor sit amet\r\n", 8192/28)
	benchRead(b, "a3 APPEND INBOX (\\Seen) \"02-Dec-2026 10:00:00 +0000\" {"+strconv.Itoa(len(msg))+"+}\r\n"+msg+"\r\n", nil)
}

// BenchmarkParseSearch parses what a client's search box sends.
func BenchmarkParseSearch(b *testing.B) {
	args := []byte(`CHARSET UTF-8 OR FROM "alice@example.org" SUBJECT "quarterly report" SINCE 1-Jan-2024 NOT SEEN UID 1:5000`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := NewParser(args).Search(); err != nil {
			b.Fatal(err)
		}
	}
}
