package mtasts

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Policy
		err  string // substring of the error; "" for success
	}{
		{"RFC example", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			&Policy{Mode: ModeEnforce, MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, MaxAge: 604800 * time.Second}, ""},
		{"LF line ends, spaces, case of mx, trailing dot", "version: STSv1\nmode:testing\nmx:   MX1.Example.ORG.  \nmax_age: 86400\n\n",
			&Policy{Mode: ModeTesting, MX: []string{"mx1.example.org"}, MaxAge: 86400 * time.Second}, ""},
		{"none without mx", "version: STSv1\r\nmode: none\r\nmax_age: 1\r\n", &Policy{Mode: ModeNone, MaxAge: time.Second}, ""},
		{"unknown field ignored", "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 10\r\nextension_1: some value\r\n",
			&Policy{Mode: ModeEnforce, MX: []string{"a.example"}, MaxAge: 10 * time.Second}, ""},
		{"no final newline", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 10",
			&Policy{Mode: ModeEnforce, MX: []string{"a.example"}, MaxAge: 10 * time.Second}, ""},
		{"max_age capped", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 9999999999\n",
			&Policy{Mode: ModeEnforce, MX: []string{"a.example"}, MaxAge: MaxAgeLimit}, ""},
		{"empty", "", nil, "no version"},
		{"version not first", "mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 10\n", nil, "before version"},
		{"wrong version", "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 10\n", nil, "want STSv1"},
		{"bad mode", "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 10\n", nil, "mode \"strict\""},
		{"mode twice", "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 10\n", nil, "mode given twice"},
		{"no mode", "version: STSv1\nmx: a.example\nmax_age: 10\n", nil, "no mode"},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", nil, "no max_age"},
		{"negative max_age", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", nil, "max_age"},
		{"max_age too long", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", nil, "max_age"},
		{"no mx in enforce", "version: STSv1\nmode: enforce\nmax_age: 10\n", nil, "no mx"},
		{"wildcard in the middle", "version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 10\n", nil, "mx pattern"},
		{"empty label", "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 10\n", nil, "mx pattern"},
		{"line without colon", "version: STSv1\nmode enforce\n", nil, "no ':'"},
		{"control character", "version: STSv1\nmode: enforce\x00\nmx: a.example\nmax_age: 10\n", nil, "bad value"},
		{"too large", "version: STSv1\n" + strings.Repeat("x: y\n", MaxPolicySize/5+1), nil, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrSyntax) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			// What is stored parses back to the same policy.
			again, err := Parse([]byte(got.String()))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip: %+v %v", again, err)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	p := &Policy{Mode: ModeEnforce, MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com":      true,
		"MAIL.example.com.":     true,
		"other.example.com":     false,
		"mx1.example.net":       true,
		"example.net":           false,
		"a.b.example.net":       false,
		".example.net":          false,
		"mail.example.com.evil": false,
	} {
		if got := p.Matches(host); got != want {
			t.Errorf("Matches(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		in, id, err string
	}{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z", ""},
		{"v=STSv1;id=abc", "abc", ""},
		{"v=STSv1; id=abc; ext=1", "abc", ""},
		{"v=STSv1 ;  id = x1 ;", "x1", ""},
		{"v=STSv2; id=abc", "", "v=STSv1"},
		{"id=abc; v=STSv1", "", "v=STSv1"},
		{"v=STSv1;", "", "no id"},
		{"v=STSv1; id=", "", "id"},
		{"v=STSv1; id=a-b", "", "letters and digits"},
		{"v=STSv1; id=" + strings.Repeat("a", 33), "", "letters and digits"},
		{"v=STSv1; id=a; id=b", "", "twice"},
		{"v=STSv1;; id=a", "", "empty field"},
		{"v=STSv1; garbage", "", "without '='"},
	}
	for _, tt := range tests {
		id, err := ParseRecord(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseRecord(%q) = %q, %v; want error with %q", tt.in, id, err, tt.err)
			}
			continue
		}
		if err != nil || id != tt.id {
			t.Errorf("ParseRecord(%q) = %q, %v; want %q", tt.in, id, err, tt.id)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			if p != nil {
				t.Fatal("policy with an error")
			}
			return
		}
		if p.Mode != ModeEnforce && p.Mode != ModeTesting && p.Mode != ModeNone || p.MaxAge < 0 || p.MaxAge > MaxAgeLimit {
			t.Fatalf("accepted %+v", p)
		}
		again, err := Parse([]byte(p.String()))
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("stored form of %q does not parse back: %v", b, err)
		}
		for _, mx := range p.MX {
			if !p.Matches(strings.Replace(mx, "*", "x", 1)) {
				t.Fatalf("pattern %q does not match its own host", mx)
			}
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1;id=a;x=y")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseRecord(s)
		if err == nil && (id == "" || len(id) > 32 || !alnum(id)) {
			t.Fatalf("id %q from %q", id, s)
		}
	})
}
