package mailauth

import (
	"bytes"
	"context"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var spfSeeds = []string{
	"v=spf1",
	"v=spf1 -all",
	"v=spf1 +a -MX:example.org/24//64 ~ip4:192.0.2.1/24 ?ip6:2001:DB8::/32 include:_spf.example.net exists:%{ir}.x.example ptr -all",
	"v=spf1 redirect=_spf.example.net exp=exp.%{d}",
	"v=spf1 a:%{l/}.example.net/24 moo.cow-far_out=man:dog/cat",
	"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all",
	"v=spf1 ip6:::ffff:192.0.2.1/120 a//0 mx/0",
	"v=spf1 a:foo.example.123 include: =foo %{x} %",
	"v=spf1 include:example.org include:example.org include:example.org",
	"v=spf1 a:%{d0}.x %{c} ip4:1.2.3.4/033",
}

// FuzzParseSPF checks that any record either fails to parse or prints in a
// form that parses to the same record, and that evaluating it ends.
func FuzzParseSPF(f *testing.F) {
	for _, s := range spfSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, record string) {
		rec, err := ParseSPF(record)
		if err != nil {
			if rec != nil {
				t.Fatal("record and error")
			}
			return
		}
		canon := rec.String()
		again, err := ParseSPF(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, record, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form not stable: %q then %q", canon, again.String())
		}
		dns := exampleDNS{"example.org": {record}}
		c := &SPFChecker{Resolver: dns, Timeout: time.Second}
		res, exp, _ := c.CheckHost(context.Background(), netip.MustParseAddr("192.0.2.1"), "example.org", "a@example.org", "h.example.org")
		switch res {
		case SPFNone, SPFNeutral, SPFPass, SPFFail, SPFSoftFail, SPFTempError, SPFPermError:
		default:
			t.Fatalf("result %q", res)
		}
		if exp != "" {
			t.Fatalf("explanation %q without an explanation record", exp)
		}
	})
}

// FuzzMacroExpand checks macro-string parsing, printing and expansion.
func FuzzMacroExpand(f *testing.F) {
	for _, s := range []string{
		"%{s}", "%{ir}.%{v}._spf.%{d2}", "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "%{L}%{S}%{O}",
		"%%%_%-", "%{d128r.-+,/_=}", "%{c} %{r} %{t}", "%{p}.example", "%{d0}", "%{", "%x", "a b",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, explain bool) {
		m, err := parseMacroString(s, explain)
		if err != nil {
			return
		}
		src := m.String()
		m2, err := parseMacroString(src, explain)
		if err != nil {
			t.Fatalf("printed form %q of %q does not parse: %v", src, s, err)
		}
		if m2.String() != src {
			t.Fatalf("printed form not stable: %q then %q", src, m2.String())
		}
		for _, ip := range []string{"192.0.2.3", "2001:db8::cb01"} {
			env := &macroEnv{
				sender: "strong-bad@email.example.com", local: "strong-bad", origin: "email.example.com",
				domain: "email.example.com", ip: netip.MustParseAddr(ip), helo: "mx.example.org",
				receiver: "r.example", now: 1,
			}
			a := m.expand(context.Background(), env)
			b := m2.expand(context.Background(), env)
			if a != b {
				t.Fatalf("%q and %q expand differently: %q, %q", s, src, a, b)
			}
			if d := truncateDomain(a); len(strings.TrimSuffix(d, ".")) > 253 {
				t.Fatalf("truncated domain of %d octets", len(d))
			}
		}
	})
}

var dmarcSeeds = []string{
	"v=DMARC1; p=none",
	"v=DMARC1;p=reject;",
	" v = DMARC1 ;\tp = quarantine ; ",
	"v=DMARC1; p=quarantine; sp=reject; np=reject; adkim=s; aspf=s; pct=25; rua=mailto:agg@example.org,mailto:big@example.net!10m; ruf=mailto:f@example.org!512; fo=1:d:s; rf=afrf; ri=3600; x_future=yes",
	"v=DMARC1; rua=mailto:a@example.org",
	"v=DMARC1; p=bogus; rua=mailto:a@example.org",
	"v=DMARC1; p=none; p=reject",
	"v=DMARC1; p=none; pct=101",
	"v=DMARC1; p=none; rua=mailto:a@example.org!18446744073709551615t",
	"p=none; v=DMARC1",
}

// FuzzParseDMARC checks that any record either fails to parse with a
// syntax error inside the input or prints in a form that parses back.
func FuzzParseDMARC(f *testing.F) {
	for _, s := range dmarcSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, record string) {
		rec, err := ParseDMARC(record)
		if err != nil {
			se, ok := err.(*DMARCSyntaxError)
			if !ok || se.Offset < 0 || se.Offset > len(record) {
				t.Fatalf("error %#v", err)
			}
			return
		}
		if rec.Policy == "" || rec.Percent < 0 || rec.Percent > 100 {
			t.Fatalf("record %+v", rec)
		}
		canon := rec.String()
		again, err := ParseDMARC(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, record, err)
		}
		rec.PolicyDefaulted = false
		if !reflect.DeepEqual(again, rec) {
			t.Fatalf("round trip of %q:\n%+v\n%+v", record, rec, again)
		}
	})
}

// FuzzStripAuthResults checks that stripping only removes, is idempotent,
// and never touches what follows the header.
func FuzzStripAuthResults(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.example; spf=pass\r\nSubject: x\r\n\r\nbody\r\n"), "mx.example")
	f.Add([]byte("Authentication-Results: (c) \"mx.example\" 1; none\n\tmore\nX: y\n\nAuthentication-Results: mx.example; none\n"), "MX.example")
	f.Add([]byte("Authentication-Results:mx.example;none"), "mx.example")
	f.Fuzz(func(t *testing.T, msg []byte, id string) {
		out, n := StripAuthResults(msg, id)
		if n == 0 && !bytes.Equal(out, msg) || len(out) > len(msg) {
			t.Fatalf("changed without removing")
		}
		again, n2 := StripAuthResults(out, id)
		if n2 != 0 || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q removed %d more from %q", id, n2, out)
		}
		if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 && !bytes.Contains(msg, []byte("\n\n")) {
			if !bytes.HasSuffix(out, msg[i+2:]) {
				t.Fatalf("body changed")
			}
		}
	})
}
