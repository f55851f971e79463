package message

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

const nested = "From: =?UTF-8?Q?Mario_Ross=C3=AC?= <mario@rossi.it>\r\n" +
	"To: a@x.test, \"B, Bee\" <b@x.test>\r\n" +
	"Subject: =?ISO-8859-1?Q?Re:_Fwd:_Citt=E0?=\r\n" +
	"Date: Tue, 24 Nov 2026 10:00:00 +0100 (CET)\r\n" +
	"Message-ID: <abc@rossi.it>\r\n" +
	"References: <r1@x> <r2@x>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"OUT\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--OUT\r\n" +
	"Content-Type: multipart/alternative; boundary=IN\r\n" +
	"\r\n" +
	"--IN\r\n" +
	"Content-Type: text/plain; charset=iso-8859-1\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Ciao Citt=E0\r\n" +
	"--IN\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<p>Ciao <b>mondo</b></p>\r\n" +
	"--IN--\r\n" +
	"--OUT\r\n" +
	"Content-Type: application/pdf; name=a.pdf\r\n" +
	"Content-Disposition: attachment; filename=a.pdf\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0=\r\n" +
	"--OUT\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"From: inner@x.test\r\n" +
	"Subject: inner\r\n" +
	"\r\n" +
	"inner body\r\n" +
	"--OUT--\r\n" +
	"epilogue\r\n"

func body(raw string, p *Part) string { return raw[p.BodyStart:p.End] }

func TestParseNested(t *testing.T) {
	p, err := Parse([]byte(nested))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "Re: Fwd: Città" || p.BaseSubject != "Città" {
		t.Errorf("subject %q base %q", p.Subject, p.BaseSubject)
	}
	if p.MessageID != "abc@rossi.it" || !reflect.DeepEqual(p.References, []string{"r1@x", "r2@x"}) {
		t.Errorf("ids %q %v", p.MessageID, p.References)
	}
	if want := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC); !p.Date.Equal(want) {
		t.Errorf("date %v", p.Date)
	}
	if f := p.Envelope.From; len(f) != 1 || f[0].Name != "Mario Rossì" || f[0].Mailbox != "mario" || f[0].Host != "rossi.it" {
		t.Errorf("from %+v", f)
	}
	if to := p.Envelope.To; len(to) != 2 || to[1].Name != "B, Bee" {
		t.Errorf("to %+v", to)
	}
	if !reflect.DeepEqual(p.Envelope.Sender, p.Envelope.From) || !reflect.DeepEqual(p.Envelope.ReplyTo, p.Envelope.From) {
		t.Error("sender/reply-to do not default to from")
	}
	root := p.Body
	if root.Type != "multipart" || root.Subtype != "mixed" || len(root.Parts) != 3 {
		t.Fatalf("root %s/%s with %d parts", root.Type, root.Subtype, len(root.Parts))
	}
	sections := []struct {
		path      []int
		typ, body string
	}{
		{[]int{1, 1}, "text/plain", "Ciao Citt=E0"},
		{[]int{1, 2}, "text/html", "<p>Ciao <b>mondo</b></p>"},
		{[]int{2}, "application/pdf", "JVBERi0="},
		{[]int{3}, "message/rfc822", "From: inner@x.test\r\nSubject: inner\r\n\r\ninner body"},
		{[]int{3, 1}, "text/plain", "inner body"},
	}
	for _, s := range sections {
		part, ok := p.Section(s.path)
		if !ok {
			t.Fatalf("section %v missing", s.path)
		}
		if got := part.Type + "/" + part.Subtype; got != s.typ {
			t.Errorf("section %v type %s, want %s", s.path, got, s.typ)
		}
		if got := body(nested, part); got != s.body {
			t.Errorf("section %v body %q, want %q", s.path, got, s.body)
		}
	}
	if _, ok := p.Section([]int{4}); ok {
		t.Error("section 4 should not exist")
	}
	inner, _ := p.Section([]int{3})
	if inner.Envelope == nil || inner.Envelope.Subject != "inner" {
		t.Errorf("inner envelope %+v", inner.Envelope)
	}
	// The HTML version of the alternative is not searched again: the plain one is.
	if !strings.Contains(p.Text, "Ciao Città") || strings.Contains(p.Text, "mondo") || !strings.Contains(p.Text, "inner body") {
		t.Errorf("text %q", p.Text)
	}
	if !p.Attachments {
		t.Error("attachment not noticed")
	}
	// The metadata survives JSON, as the store keeps it.
	b, _ := json.Marshal(p)
	var back Parsed
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back.Body, p.Body) || !reflect.DeepEqual(back.Envelope, p.Envelope) {
		t.Fatalf("JSON round trip: %v", err)
	}
}

func TestParseLenient(t *testing.T) {
	tests := []struct {
		name, raw string
		typ       string
		parts     int
		bodyOf1   string
	}{
		{"no header", "just text\r\n", "text/plain", 0, "just text\r\n"},
		{"header only", "Subject: x\r\n", "text/plain", 0, ""},
		{"bare LF", "Subject: x\n\nbody\n", "text/plain", 0, "body\n"},
		{"missing final boundary", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n", "multipart/mixed", 2, "one"},
		{"no boundary param", "Content-Type: multipart/mixed\r\n\r\nx\r\n", "text/plain", 0, "x\r\n"},
		{"boundary never used", "Content-Type: multipart/mixed; boundary=zz\r\n\r\nx\r\n", "text/plain", 0, "x\r\n"},
		{"garbage content type", "Content-Type: ;;;\r\n\r\nx", "text/plain", 0, "x"},
		{"8-bit header", "Subject: Citt\xe0\r\n\r\nx", "text/plain", 0, "x"},
	}
	for _, tt := range tests {
		p, err := Parse([]byte(tt.raw))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := p.Body.Type + "/" + p.Body.Subtype; got != tt.typ || len(p.Body.Parts) != tt.parts {
			t.Errorf("%s: %s with %d parts, want %s with %d", tt.name, got, len(p.Body.Parts), tt.typ, tt.parts)
		}
		part, ok := p.Section([]int{1})
		if !ok || body(tt.raw, part) != tt.bodyOf1 {
			t.Errorf("%s: part 1 body %q, want %q", tt.name, body(tt.raw, part), tt.bodyOf1)
		}
	}
	p, _ := Parse([]byte("Subject: Citt\xe0\r\n\r\n"))
	if p.Subject != "Città" {
		t.Errorf("latin-1 subject decoded as %q", p.Subject)
	}
}

func TestTooComplex(t *testing.T) {
	var b strings.Builder
	for i := 0; i < MaxDepth+5; i++ {
		b.WriteString("Content-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("x")
	if _, err := Parse([]byte(b.String())); err != ErrTooComplex {
		t.Fatalf("deep nesting: %v", err)
	}
}

func TestBaseSubject(t *testing.T) {
	tests := map[string]string{
		"Re: hello":                 "hello",
		"RE: Re: Fwd: hello":        "hello",
		"Re[2]: hello":              "hello",
		"[posta-list] Re: hello":    "hello",
		"hello (fwd)":               "hello",
		"[Fwd: hello]":              "hello",
		"Fw:   spaced    out  ":     "spaced out",
		"[only a blob]":             "[only a blob]",
		"Reply to this":             "Reply to this",
		"":                          "",
		"re: [fwd: Re: deep] (fwd)": "deep",
	}
	for in, want := range tests {
		if got := BaseSubject(in); got != want {
			t.Errorf("BaseSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHeaderFields(t *testing.T) {
	h := []byte("From: a@x\r\nSubject: one\r\n two\r\nTo: b@x\r\n\r\n")
	if got := string(HeaderFields(h, []string{"subject", "FROM"}, false)); got != "From: a@x\r\nSubject: one\r\n two\r\n\r\n" {
		t.Errorf("fields %q", got)
	}
	if got := string(HeaderFields(h, []string{"subject", "from"}, true)); got != "To: b@x\r\n\r\n" {
		t.Errorf("fields.not %q", got)
	}
	hd, end := ParseHeader(h)
	if hd.Get("subject") != "one two" || end != len(h) {
		t.Errorf("parse header: %q %d", hd.Get("subject"), end)
	}
}

func TestParseDate(t *testing.T) {
	tests := map[string]bool{
		"Tue, 24 Nov 2026 10:00:00 +0100":       true,
		"24 Nov 2026 10:00:00 +0100":            true,
		"Tue, 24 Nov 2026 10:00:00 +0100 (CET)": true,
		"Tue,  24 Nov 2026  10:00:00 GMT":       true,
		"yesterday":                             false,
		"":                                      false,
	}
	for in, ok := range tests {
		if got := !ParseDate(in).IsZero(); got != ok {
			t.Errorf("ParseDate(%q) ok=%v", in, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(nested))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b--"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\n\n--x--"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := Parse(raw)
		if err != nil {
			return
		}
		var walk func(*Part)
		walk = func(part *Part) {
			if part.HeaderStart < 0 || part.HeaderStart > part.BodyStart || part.BodyStart > part.End || part.End > int64(len(raw)) {
				t.Fatalf("bad offsets %d %d %d (len %d)", part.HeaderStart, part.BodyStart, part.End, len(raw))
			}
			for _, c := range part.Parts {
				walk(c)
			}
		}
		walk(p.Body)
		p.Section([]int{1, 1, 1})
		if _, err := json.Marshal(p); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("From: a\r\n b\r\n\r\n"))
	f.Add([]byte(" leading continuation\r\nX: y\n\n"))
	f.Add([]byte("no colon\r\n:empty name\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, end := ParseHeader(raw)
		if end < 0 || end > len(raw) {
			t.Fatalf("end %d", end)
		}
		for _, fl := range h.Fields {
			if !bytes.Contains(raw, fl.Raw) {
				t.Fatal("field raw not from input")
			}
		}
		HeaderFields(raw[:end], []string{"x"}, false)
	})
}

func BenchmarkParse10KB(b *testing.B) {
	raw := []byte(strings.Replace(nested, "JVBERi0=", strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n", 250), 1))
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"a@x.test", []Address{{Mailbox: "a", Host: "x.test"}}},
		{`"Rossi, Mario" <mario@rossi.it>, b@x.test`, []Address{{Name: "Rossi, Mario", Mailbox: "mario", Host: "rossi.it"}, {Mailbox: "b", Host: "x.test"}}},
		{"=?utf-8?q?Citt=C3=A0?= <c@x.test>", []Address{{Name: "Città", Mailbox: "c", Host: "x.test"}}},
		{"broken <<a@x.test>, ok@y.test", []Address{{Mailbox: "a", Host: "x.test"}, {Mailbox: "ok", Host: "y.test"}}},
		{"undisclosed-recipients:;", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got := ParseAddressList(tt.in)
		if !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
			t.Errorf("ParseAddressList(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func FuzzParseAddressList(f *testing.F) {
	f.Add(`"A, B" <a@b.c>, d@e.f`)
	f.Add("group: a@b.c, d@e.f;")
	f.Add("<<<>>>,,,\"")
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range ParseAddressList(s) {
			_ = a.Addr()
		}
	})
}

func TestEnvelopeBinaryRoundTrip(t *testing.T) {
	envs := []Envelope{
		{},
		{Date: "Mon, 1 Jan 2024", Subject: "Città ☃", From: []Address{{Name: "A", Mailbox: "a", Host: "x.test"}},
			To: []Address{{Mailbox: "g"}, {Mailbox: "b", Host: "y"}, {}}, InReplyTo: "<i@x>", MessageID: "<m@x>"},
	}
	for _, e := range envs {
		var got Envelope
		if err := got.UnmarshalBinary(e.AppendBinary(nil)); err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("round trip of %+v: %+v %v", e, got, err)
		}
	}
	full := envs[1].AppendBinary(nil)
	for i := 0; i < len(full); i++ {
		var got Envelope
		if err := got.UnmarshalBinary(full[:i]); err == nil {
			t.Errorf("truncated at %d decoded", i)
		}
	}
}

func FuzzEnvelopeBinary(f *testing.F) {
	f.Add((&Envelope{Subject: "s", From: []Address{{Mailbox: "a", Host: "b"}}}).AppendBinary(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Envelope
		if e.UnmarshalBinary(b) == nil {
			var again Envelope
			if err := again.UnmarshalBinary(e.AppendBinary(nil)); err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("decoded envelope does not round-trip: %v", err)
			}
		}
	})
}

// TestSearchTextOfAlternatives: of a multipart/alternative, the text/plain version is searched
// (the others say the same); without one, every version is, HTML without its tags.
func TestSearchTextOfAlternatives(t *testing.T) {
	alt := func(parts ...string) string {
		var b strings.Builder
		b.WriteString("Subject: a\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n")
		for _, p := range parts {
			b.WriteString("--B\r\n" + p + "\r\n")
		}
		b.WriteString("--B--\r\n")
		return b.String()
	}
	for _, tc := range []struct {
		name, raw string
		want, not []string
	}{
		{"plain then HTML", alt("Content-Type: text/plain\r\n\r\nsolo testo", "Content-Type: text/html\r\n\r\n<p>solo html</p>"),
			[]string{"solo testo"}, []string{"solo html"}},
		{"HTML then plain", alt("Content-Type: text/html\r\n\r\n<p>solo html</p>", "Content-Type: text/plain\r\n\r\nsolo testo"),
			[]string{"solo testo"}, []string{"solo html"}},
		{"plain by default", alt("\r\ntesto senza intestazione", "Content-Type: text/html\r\n\r\n<i>html</i>"),
			[]string{"testo senza intestazione"}, []string{"html"}},
		{"no plain version", alt("Content-Type: text/html\r\n\r\n<b>grassetto</b>", "Content-Type: text/enriched\r\n\r\narricchito"),
			[]string{"grassetto", "arricchito"}, []string{"<b>"}},
		{"related HTML beside plain", alt("Content-Type: text/plain\r\n\r\nversione semplice",
			"Content-Type: multipart/related; boundary=R\r\n\r\n--R\r\nContent-Type: text/html\r\n\r\n<p>versione ricca</p>\r\n--R--"),
			[]string{"versione semplice"}, []string{"versione ricca"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.Text, w) {
					t.Errorf("text %q lacks %q", p.Text, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(p.Text, w) {
					t.Errorf("text %q has %q", p.Text, w)
				}
			}
		})
	}
}

// TestSearchTextDecoding: the search text of a single part, by how the part is written: taken
// as it is when it is UTF-8 already, decoded otherwise; never holding invalid UTF-8 or NUL.
func TestSearchTextDecoding(t *testing.T) {
	for _, tc := range []struct {
		name, header, body, want string
	}{
		{"utf-8 as it is", "Content-Type: text/plain; charset=utf-8", "Città di Milano\r\n", "Città di Milano\r\n"},
		{"no charset", "Content-Type: text/plain", "plain ascii", "plain ascii"},
		{"invalid utf-8 dropped", "Content-Type: text/plain; charset=utf-8", "a\xffb\xfec", "abc"},
		{"NUL dropped", "Content-Type: text/plain", "a\x00b", "ab"},
		{"quoted-printable", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable", "Citt=C3=A0 =\r\nunita", "Città unita"},
		{"base64", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64", "Q2l0dMOg\r\nIGJhc2U2NA==", "Città base64"},
		{"latin-1", "Content-Type: text/plain; charset=iso-8859-1", "Citt\xe0", "Città"},
		{"html stripped", "Content-Type: text/html; charset=utf-8", "<p>Ciao <b>mondo</b> &amp; tutti</p>", " Ciao  mondo  & tutti "},
		{"attachment not text", "Content-Type: text/plain\r\nContent-Disposition: attachment", "allegato", ""},
	} {
		p, err := Parse([]byte("Subject: x\r\nMIME-Version: 1.0\r\n" + tc.header + "\r\n\r\n" + tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if p.Text != tc.want {
			t.Errorf("%s: text %q, want %q", tc.name, p.Text, tc.want)
		}
	}
}
