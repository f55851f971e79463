package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readAll(t *testing.T, in string, limit int64) ([]*Command, []error, int) {
	t.Helper()
	r := NewReader(bufio.NewReader(strings.NewReader(in)))
	conts := 0
	r.Continue = func() error { conts++; return nil }
	if limit > 0 {
		r.LiteralLimit = func(tag, name string) int64 { return limit }
	}
	var cmds []*Command
	var errs []error
	for i := 0; i < 20; i++ {
		c, err := r.ReadCommand()
		if err != nil && !errors.As(err, new(*SyntaxError)) && !errors.As(err, new(*LiteralError)) {
			break
		}
		cmds = append(cmds, c)
		errs = append(errs, err)
	}
	return cmds, errs, conts
}

func TestReadCommand(t *testing.T) {
	tests := []struct {
		in         string
		tag, name  string
		args       string
		continues  int
		wantSyntax bool
		wantBig    bool
	}{
		{in: "a1 NOOP\r\n", tag: "a1", name: "NOOP"},
		{in: "a2 login joe secret\r\n", tag: "a2", name: "LOGIN", args: "joe secret"},
		{in: "a3 uid fetch 1:* FLAGS\n", tag: "a3", name: "UID FETCH", args: "1:* FLAGS"},
		{in: "a4 LOGIN {3}\r\njoe {6}\r\nsecret\r\n", tag: "a4", name: "LOGIN", args: "{3}\r\njoe {6}\r\nsecret", continues: 2},
		{in: "a5 APPEND INBOX {5+}\r\nhello\r\n", tag: "a5", name: "APPEND", args: "INBOX {5+}\r\nhello", continues: 0},
		{in: "a6 APPEND INBOX {3+}\r\nab\r\r\n", tag: "a6", name: "APPEND", args: "INBOX {3+}\r\nab\r"},
		{in: "+bad NOOP\r\n", wantSyntax: true},
		{in: "a6\r\n", tag: "a6", wantSyntax: true},
		{in: "a7 APPEND INBOX {50}\r\n", tag: "a7", wantBig: true},
		{in: "a8 APPEND INBOX {50+}\r\n" + strings.Repeat("x", 50) + "\r\na9 NOOP\r\n", tag: "a8", wantBig: true},
	}
	for _, tt := range tests {
		cmds, errs, conts := readAll(t, tt.in, 10)
		if len(cmds) == 0 {
			t.Errorf("%q: nothing read", tt.in)
			continue
		}
		err := errs[0]
		switch {
		case tt.wantSyntax:
			var se *SyntaxError
			if !errors.As(err, &se) || se.Tag != tt.tag {
				t.Errorf("%q: err %v, want syntax error with tag %q", tt.in, err, tt.tag)
			}
		case tt.wantBig:
			var le *LiteralError
			if !errors.As(err, &le) || le.Tag != tt.tag || !le.TooBig {
				t.Errorf("%q: err %v, want TOOBIG for %q", tt.in, err, tt.tag)
			}
			if strings.Contains(tt.in, "a9") && (len(cmds) < 2 || cmds[1] == nil || cmds[1].Tag != "a9") {
				t.Errorf("%q: the command after a refused LITERAL+ was not read cleanly: %v", tt.in, cmds)
			}
		default:
			c := cmds[0]
			if err != nil || c.Tag != tt.tag || c.Name != tt.name || string(c.Args) != tt.args || conts != tt.continues {
				t.Errorf("%q: got %q %q %q (%d continuations) err %v", tt.in, c.Tag, c.Name, c.Args, conts, err)
			}
		}
	}
}

func TestParserStrings(t *testing.T) {
	p := NewParser([]byte(`atom "quo\"ted" {5}` + "\r\n" + `li}te NIL "Città" ~{2}` + "\r\n\x00\x01"))
	a, _ := p.AString()
	p.SP()
	q, _ := p.AString()
	p.SP()
	l, _ := p.AString()
	p.SP()
	_, isNil, _ := p.NString()
	p.SP()
	u, _ := p.String()
	p.SP()
	b8, lit8, err := p.StringBytes()
	if err != nil || a != "atom" || q != `quo"ted` || l != "li}te" || isNil || u != "Città" || !lit8 || !bytes.Equal(b8, []byte{0, 1}) || p.End() != nil {
		t.Fatalf("got %q %q %q nil=%v %q %v %v", a, q, l, !isNil, u, b8, err)
	}
	for _, bad := range []string{`"unterminated`, `"bad\escape"`, "{5}\r\nab", "{x}\r\n", `"a` + "\r" + `b"`} {
		if _, err := NewParser([]byte(bad)).AString(); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSeqSet(t *testing.T) {
	tests := []struct {
		in   string
		max  uint32
		want []Range
	}{
		{"1:*", 10, []Range{{1, 10}}},
		{"*:4,2,3", 10, []Range{{2, 10}}},
		{"5,1:2,9:7", 10, []Range{{1, 2}, {5, 5}, {7, 9}}},
		{"*", 0, []Range{}},
		{"4294967295,1:4294967295", 5, []Range{{1, 4294967295}}},
	}
	for _, tt := range tests {
		s, err := NewParser([]byte(tt.in)).SeqSet()
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if got := s.Resolve(tt.max); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s resolved with max %d = %v, want %v", tt.in, tt.max, got, tt.want)
		}
	}
	for _, bad := range []string{"0", "1:0", ",", "a", "1,", "4294967296"} {
		p := NewParser([]byte(bad))
		if _, err := p.SeqSet(); err == nil && p.End() == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got := FormatSet([]uint32{1, 2, 3, 7, 9, 10}); got != "1:3,7,9:10" {
		t.Errorf("FormatSet = %s", got)
	}
	if a, b := FormatPairs([]uint32{1, 2, 3, 5}, []uint32{10, 11, 13, 14}); a != "1:2,3,5" || b != "10:11,13,14" {
		t.Errorf("FormatPairs = %s %s", a, b)
	}
}

func TestFetchItems(t *testing.T) {
	tests := []struct {
		in    string
		names []string
	}{
		{"ALL", []string{"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}},
		{"(UID FLAGS BODY.PEEK[HEADER.FIELDS (From \"Subject\")]<0.100>)", []string{"UID", "FLAGS", "BODY[HEADER.FIELDS (\"FROM\" \"SUBJECT\")]<0>"}},
		{"BODY[1.2.MIME]", []string{"BODY[1.2.MIME]"}},
		{"(BINARY.PEEK[1] BINARY.SIZE[2] BODYSTRUCTURE body[] rfc822.size MODSEQ)", []string{"BINARY[1]", "BINARY.SIZE[2]", "BODYSTRUCTURE", "BODY[]", "RFC822.SIZE", "MODSEQ"}},
		{"BODY[TEXT]<5.10>", []string{"BODY[TEXT]<5>"}},
	}
	for _, tt := range tests {
		items, err := NewParser([]byte(tt.in)).FetchItems()
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		var names []string
		for i := range items {
			names = append(names, items[i].ResponseName())
		}
		if !reflect.DeepEqual(names, tt.names) {
			t.Errorf("%s: %q, want %q", tt.in, names, tt.names)
		}
	}
	for _, bad := range []string{"()", "BODY[1.MIME", "BODY[MIME]", "BINARY[TEXT]", "BODY[]<1.0>", "FOO", "BODY[HEADER.FIELDS ()]"} {
		if _, err := NewParser([]byte(bad)).FetchItems(); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSearch(t *testing.T) {
	req, err := NewParser([]byte(`RETURN (MIN COUNT) CHARSET UTF-8 OR FROM "mario" NOT SEEN (SINCE 1-Feb-2024 LARGER 100) HEADER X-Tag "a b" 1:5 UID $`)).Search()
	if err != nil {
		t.Fatal(err)
	}
	if !req.ReturnGiven || !reflect.DeepEqual(req.Return, []string{"MIN", "COUNT"}) || req.Charset != "UTF-8" {
		t.Fatalf("%+v", req)
	}
	k := req.Key.Kids
	if len(k) != 5 || k[0].Op != "OR" || k[0].Kids[0].Str != "mario" || k[0].Kids[1].Op != "NOT" ||
		k[1].Op != "AND" || !k[1].Kids[0].Date.Equal(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)) || k[1].Kids[1].Num != 100 ||
		k[2].Str != "X-Tag" || k[2].Value != "a b" || k[3].Op != "SEQ" || !k[4].Set.Saved {
		t.Fatalf("tree: %+v", k)
	}
	for _, bad := range []string{"", "FROM", "BEFORE 31-Foo-2020", "OR SEEN", "NOT", "()", "XYZZY", strings.Repeat("NOT ", 60) + "ALL"} {
		if _, err := NewParser([]byte(bad)).Search(); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMailboxUTF7(t *testing.T) {
	for _, tt := range []struct{ utf8, utf7 string }{
		{"INBOX", "INBOX"},
		{"Posta in arrivo/Città", "Posta in arrivo/Citt&AOA-"},
		{"A&B", "A&-B"},
		{"日本語", "&ZeVnLIqe-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	} {
		if got := EncodeMailbox(tt.utf8); got != tt.utf7 {
			t.Errorf("encode %q = %q, want %q", tt.utf8, got, tt.utf7)
		}
		if got, err := DecodeMailbox(tt.utf7); err != nil || got != tt.utf8 {
			t.Errorf("decode %q = %q %v", tt.utf7, got, err)
		}
	}
	for _, bad := range []string{"&", "&Jjo", "&AGE-", "é"} {
		if _, err := DecodeMailbox(bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestWriterQuoting(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(bufio.NewWriter(&buf))
	w.Str(`a"b`)
	w.WriteByte(' ')
	w.Str("two\r\nlines")
	w.WriteByte(' ')
	w.Str("Città")
	w.WriteByte(' ')
	w.UTF8 = true
	w.Str("Città")
	w.WriteByte(' ')
	w.AStr("INBOX")
	w.WriteByte(' ')
	w.AStr("nil")
	w.Flush()
	want := "\"a\\\"b\" {10}\r\ntwo\r\nlines {6}\r\nCittà \"Città\" INBOX \"nil\""
	if buf.String() != want {
		t.Fatalf("got %q\nwant %q", buf.String(), want)
	}
}

// FuzzCommand reads arbitrary input as commands and runs every argument parser on each; none
// may panic or loop.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"a1 LOGIN {3}\r\njoe \"se\\\"cret\"\r\n",
		"a2 UID FETCH 1:*,5 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (A B)]<0.10>)\r\n",
		"a3 SEARCH RETURN (SAVE) CHARSET UTF-8 OR (FROM x) NOT HEADER a b\r\n",
		"a4 APPEND \"Citt&AOA-\" (\\Seen) \"01-Jan-2024 10:00:00 +0100\" ~{3+}\r\nabc\r\n",
		"a5 STORE $ +FLAGS.SILENT (\\Deleted kw)\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bufio.NewReader(bytes.NewReader(in)))
		r.LiteralLimit = func(string, string) int64 { return 1 << 16 }
		for i := 0; i < 50; i++ {
			c, err := r.ReadCommand()
			if err != nil {
				if errors.As(err, new(*SyntaxError)) || errors.As(err, new(*LiteralError)) {
					continue
				}
				return
			}
			for _, parse := range []func(p *Parser) error{
				func(p *Parser) error { _, err := p.FetchItems(); return err },
				func(p *Parser) error { _, err := p.Search(); return err },
				func(p *Parser) error { _, err := p.SeqSet(); return err },
				func(p *Parser) error { _, err := p.FlagList(); return err },
				func(p *Parser) error { _, err := p.DateTime(); return err },
				func(p *Parser) error {
					for p.More() {
						if _, err := p.AString(); err != nil {
							return err
						}
						if err := p.SP(); err != nil {
							return err
						}
					}
					return nil
				},
			} {
				parse(NewParser(c.Args))
			}
			if s, err := DecodeMailbox(string(c.Args)); err == nil {
				if back, err := DecodeMailbox(EncodeMailbox(s)); err != nil || back != s {
					t.Fatalf("mailbox name %q does not round-trip: %q %v", s, back, err)
				}
			}
		}
	})
}

// The line limit applies to each line, not to a command's literals: a 100 KB APPEND is fine.
func TestLongLiteralIsNotALongLine(t *testing.T) {
	big := strings.Repeat("x", 100000)
	cmds, errs, _ := readAll(t, "a APPEND INBOX {100000+}\r\n"+big+" {3+}\r\nabc\r\n", 1<<20)
	if len(cmds) == 0 || errs[0] != nil || len(cmds[0].Args) < 100000 {
		t.Fatalf("got %v", errs)
	}
	r := NewReader(bufio.NewReader(strings.NewReader("a NOOP " + strings.Repeat("y", MaxLine) + "\r\n")))
	if _, err := r.ReadCommand(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("long line: %v", err)
	}
}
