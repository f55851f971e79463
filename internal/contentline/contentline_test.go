package contentline_test

import (
	"slices"
	"testing"

	"github.com/postamail/posta/internal/contentline"
)

func TestLines(t *testing.T) {
	in := "item1.EMAIL;TYPE=INTERNET,pref;X-LABEL=\"Casa; sede: Roma\":ada@example.org\r\n" +
		"\r\n" +
		"NOTE:uno\\, due\\;\r\n tre\\nquattro\\\\\r\n" +
		"TEL;WORK;VOICE:+39 02\n" +
		"X-P;LABEL=a^nb^^c^'d':v\n" +
		"ORG:Rossi\\; Bianchi;Vendite\n" +
		"FN;ENCODING=QUOTED-PRINTABLE:Nicol=C3=\n=B2\n" +
		"bad line\n" +
		"END:VCARD"
	type want struct {
		num        int
		group      string
		name       string
		params     []contentline.Param
		value      string
		text       string
		start, end int
		err        bool
	}
	wants := []want{
		{num: 1, group: "item1", name: "EMAIL", params: []contentline.Param{{Name: "TYPE", Values: []string{"INTERNET", "pref"}}, {Name: "X-LABEL", Values: []string{"Casa; sede: Roma"}}}, value: "ada@example.org", text: "ada@example.org", start: 0, end: 75},
		{num: 3, name: "NOTE", value: "uno\\, due\\;tre\\nquattro\\\\", text: "uno, due;tre\nquattro\\", start: 77, end: 112},
		{num: 5, name: "TEL", params: []contentline.Param{{Name: "TYPE", Values: []string{"WORK"}}, {Name: "TYPE", Values: []string{"VOICE"}}}, value: "+39 02", text: "+39 02", start: 112, end: 134},
		{num: 6, name: "X-P", params: []contentline.Param{{Name: "LABEL", Values: []string{"a\nb^c\"d'"}}}, value: "v", text: "v", start: 134, end: 158},
		{num: 7, name: "ORG", value: "Rossi\\; Bianchi;Vendite", text: "Rossi; Bianchi;Vendite", start: 158, end: 186},
		{num: 8, name: "FN", params: []contentline.Param{{Name: "ENCODING", Values: []string{"QUOTED-PRINTABLE"}}}, value: "Nicol=C3=\n=B2", text: "Nicolò", start: 186, end: 229},
		{num: 10, err: true, start: 229, end: 238},
		{num: 11, name: "END", value: "VCARD", text: "VCARD", start: 238, end: 247},
	}
	sc := contentline.NewScanner([]byte(in))
	i := 0
	for sc.Scan() {
		l := sc.Line()
		if i >= len(wants) {
			t.Fatalf("extra line %+v", l)
		}
		w := wants[i]
		i++
		if l.Num != w.num || l.Start != w.start || l.End != w.end || (l.Err != nil) != w.err {
			t.Errorf("line %d: num %d [%d,%d) err %v", w.num, l.Num, l.Start, l.End, l.Err)
			continue
		}
		if w.err {
			if l.Err.Line != w.num {
				t.Errorf("error at line %d: %v", w.num, l.Err)
			}
			continue
		}
		if l.Group != w.group || l.Name != w.name || l.Value != w.value || l.Text() != w.text || !slices.EqualFunc(l.Params, w.params, func(a, b contentline.Param) bool {
			return a.Name == b.Name && slices.Equal(a.Values, b.Values)
		}) {
			t.Errorf("line %d: %q %q %+v %q %q", w.num, l.Group, l.Name, l.Params, l.Value, l.Text())
		}
	}
	if i != len(wants) {
		t.Fatalf("%d lines, want %d", i, len(wants))
	}
	if got := (&contentline.Line{Value: `Rossi\; Bianchi;Vendite;`}).Parts(';'); !slices.Equal(got, []string{"Rossi; Bianchi", "Vendite", ""}) {
		t.Errorf("parts %q", got)
	}
}
