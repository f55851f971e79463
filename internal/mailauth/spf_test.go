package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// rfc7208Zone is the DNS data of RFC 7208 Appendix A, without example.com's
// SPF record, which each test supplies.
const rfc7208Zone = `
example.com A 192.0.2.10
example.com A 192.0.2.11
amy.example.com A 192.0.2.65
bob.example.com A 192.0.2.66
mail-a.example.com A 192.0.2.129
mail-b.example.com A 192.0.2.130
www.example.com A 192.0.2.10
example.com MX mail-a.example.com
example.com MX mail-b.example.com
example.org MX mail-c.example.org
mail-c.example.org A 192.0.2.140
192.0.2.10 PTR example.com.
192.0.2.11 PTR example.com.
192.0.2.65 PTR amy.example.com.
192.0.2.66 PTR bob.example.com.
192.0.2.129 PTR mail-a.example.com.
192.0.2.130 PTR mail-b.example.com.
192.0.2.140 PTR mail-c.example.org.
10.0.0.4 PTR bob.example.com.
`

// TestSPFRFC7208AppendixA runs the examples of RFC 7208 Appendix A.1: each
// record of example.com, and for each address whether it passes.
func TestSPFRFC7208AppendixA(t *testing.T) {
	all := []string{"192.0.2.10", "192.0.2.11", "192.0.2.65", "192.0.2.66", "192.0.2.129", "192.0.2.130", "192.0.2.140", "192.0.2.200", "10.0.0.4"}
	tests := []struct {
		record string
		pass   []string // the others fail
	}{
		{"v=spf1 +all", all},
		{"v=spf1 a -all", []string{"192.0.2.10", "192.0.2.11"}},
		{"v=spf1 a:example.org -all", nil},
		{"v=spf1 mx -all", []string{"192.0.2.129", "192.0.2.130"}},
		{"v=spf1 mx:example.org -all", []string{"192.0.2.140"}},
		{"v=spf1 mx mx:example.org -all", []string{"192.0.2.129", "192.0.2.130", "192.0.2.140"}},
		{"v=spf1 mx/30 mx:example.org/30 -all", []string{"192.0.2.129", "192.0.2.130", "192.0.2.140"}},
		{"v=spf1 ptr -all", []string{"192.0.2.10", "192.0.2.11", "192.0.2.65", "192.0.2.66", "192.0.2.129", "192.0.2.130"}},
		{"v=spf1 ip4:192.0.2.128/28 -all", []string{"192.0.2.129", "192.0.2.130", "192.0.2.140"}},
	}
	for _, tt := range tests {
		dns := newFakeDNS(t, rfc7208Zone+"\nexample.com TXT "+tt.record)
		for _, ip := range all {
			want := SPFFail
			for _, p := range tt.pass {
				if p == ip {
					want = SPFPass
				}
			}
			got, _, err := CheckHost(context.Background(), dns, netip.MustParseAddr(ip), "example.com", "user@example.com", "mx.example.com")
			if got != want {
				t.Errorf("%q from %s = %s (%v), want %s", tt.record, ip, got, err, want)
			}
		}
	}
}

// TestSPF holds cases written from the text of RFC 7208, in the manner of
// the pyspf/OpenSPF test suite.
func TestSPF(t *testing.T) {
	const base = `
mail.example.net A 192.0.2.1
mail.example.net AAAA 2001:db8::1
e6.example.net AAAA 2001:db8::1
e6.example.net A 192.0.2.77
nxdomain-mx.example.net MX nowhere.example.net
`
	tests := []struct {
		name   string
		zone   string // added to base; the domain checked is example.net
		ip     string
		sender string // default user@example.net
		helo   string
		want   SPFResult
		exp    string
	}{
		// Record selection (§4.5).
		{name: "no TXT at all", zone: "example.net NAME", ip: "192.0.2.1", want: SPFNone},
		{name: "NXDOMAIN", zone: "", ip: "192.0.2.1", want: SPFNone},
		{name: "TXT without SPF", zone: "example.net TXT some other record", ip: "192.0.2.1", want: SPFNone},
		{name: "v=spf10 is not SPF", zone: "example.net TXT v=spf10 +all", ip: "192.0.2.1", want: SPFNone},
		{name: "two records", zone: "example.net TXT v=spf1 +all\nexample.net TXT v=spf1 -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "version only", zone: "example.net TXT v=spf1", ip: "192.0.2.1", want: SPFNeutral},
		{name: "upper case", zone: "example.net TXT V=SPF1 A:MAIL.EXAMPLE.NET -ALL", ip: "192.0.2.1", want: SPFPass},
		{name: "multiple spaces", zone: "example.net TXT v=spf1    ip4:192.0.2.1   -all   ", ip: "192.0.2.1", want: SPFPass},
		{name: "TXT temperror", zone: "example.net TEMP", ip: "192.0.2.1", want: SPFTempError},

		// Syntax (§4.6, §12).
		{name: "unknown mechanism", zone: "example.net TXT v=spf1 foo -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "unknown mechanism after match", zone: "example.net TXT v=spf1 +all foo:bar", ip: "192.0.2.1", want: SPFPermError},
		{name: "unknown modifier ignored", zone: "example.net TXT v=spf1 moo.cow-far_out=man:dog/cat ~all", ip: "192.0.2.1", want: SPFSoftFail},
		{name: "modifier without name", zone: "example.net TXT v=spf1 =foo -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "modifier name starts with digit", zone: "example.net TXT v=spf1 1x=foo -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "duplicate redirect", zone: "example.net TXT v=spf1 redirect=a.example.net redirect=b.example.net", ip: "192.0.2.1", want: SPFPermError},
		{name: "duplicate exp", zone: "example.net TXT v=spf1 -all exp=a.example.net exp=b.example.net", ip: "192.0.2.1", want: SPFPermError},
		{name: "all with argument", zone: "example.net TXT v=spf1 all:foo.example.net", ip: "192.0.2.1", want: SPFPermError},
		{name: "include without domain", zone: "example.net TXT v=spf1 include -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "include empty domain", zone: "example.net TXT v=spf1 include: -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "a empty domain", zone: "example.net TXT v=spf1 a: -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "numeric top label", zone: "example.net TXT v=spf1 a:foo.example.123 -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "top label with hyphen at end", zone: "example.net TXT v=spf1 a:foo.example- -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "single label domain-spec", zone: "example.net TXT v=spf1 a:localhost -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "trailing dot", zone: "example.net TXT v=spf1 a:mail.example.net. -all", ip: "192.0.2.1", want: SPFPass},
		{name: "ip4 prefix 33", zone: "example.net TXT v=spf1 ip4:192.0.2.0/33 -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "ip4 prefix leading zero", zone: "example.net TXT v=spf1 ip4:192.0.2.0/024 -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "ip4 bad address", zone: "example.net TXT v=spf1 ip4:192.0.2 -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "ip4 with IPv6 address", zone: "example.net TXT v=spf1 ip4:2001:db8::1 -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "ip6 with IPv4 address", zone: "example.net TXT v=spf1 ip6:192.0.2.1 -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "ip6 prefix 129", zone: "example.net TXT v=spf1 ip6:2001:db8::/129 -all", ip: "2001:db8::1", want: SPFPermError},
		{name: "a prefix 33", zone: "example.net TXT v=spf1 a:mail.example.net/33 -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "a IPv6 prefix 129", zone: "example.net TXT v=spf1 a:mail.example.net//129 -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "ptr with prefix", zone: "example.net TXT v=spf1 ptr/24 -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "invalid macro", zone: "example.net TXT v=spf1 a:%{x}.example.net -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "lone percent", zone: "example.net TXT v=spf1 a:foo%.example.net -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "exp-only macro in domain", zone: "example.net TXT v=spf1 a:%{c}.example.net -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "zero digit transformer", zone: "example.net TXT v=spf1 a:%{d0}.example.net -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "syntax error after match still fails", zone: "example.net TXT v=spf1 ip4:192.0.2.1 ip4:bad", ip: "192.0.2.1", want: SPFPermError},

		// Mechanisms (§5).
		{name: "ip4 match", zone: "example.net TXT v=spf1 ip4:192.0.2.0/24 -all", ip: "192.0.2.200", want: SPFPass},
		{name: "ip4 no match", zone: "example.net TXT v=spf1 ip4:192.0.2.0/24 -all", ip: "198.51.100.1", want: SPFFail},
		{name: "ip4 does not match IPv6", zone: "example.net TXT v=spf1 ip4:0.0.0.0/0 -all", ip: "2001:db8::1", want: SPFFail},
		{name: "ip6 match", zone: "example.net TXT v=spf1 ip6:2001:db8::/32 -all", ip: "2001:db8::5", want: SPFPass},
		{name: "ip6 does not match IPv4", zone: "example.net TXT v=spf1 ip6:::/0 -all", ip: "192.0.2.1", want: SPFFail},
		{name: "IPv4-mapped client is IPv4", zone: "example.net TXT v=spf1 ip4:192.0.2.1 -all", ip: "::ffff:192.0.2.1", want: SPFPass},
		{name: "a uses AAAA for IPv6", zone: "example.net TXT v=spf1 a:e6.example.net -all", ip: "2001:db8::1", want: SPFPass},
		{name: "a uses A for IPv4", zone: "example.net TXT v=spf1 a:e6.example.net -all", ip: "192.0.2.77", want: SPFPass},
		{name: "a dual cidr IPv6", zone: "example.net TXT v=spf1 a:e6.example.net/32//64 -all", ip: "2001:db8::ffff", want: SPFPass},
		{name: "a dual cidr IPv4", zone: "example.net TXT v=spf1 a:e6.example.net/24//128 -all", ip: "192.0.2.99", want: SPFPass},
		{name: "a cidr 0", zone: "example.net TXT v=spf1 a:mail.example.net/0 -all", ip: "203.0.113.9", want: SPFPass},
		{name: "a of current domain", zone: "example.net A 192.0.2.5\nexample.net TXT v=spf1 a -all", ip: "192.0.2.5", want: SPFPass},
		{name: "a temperror", zone: "example.net TXT v=spf1 a:t.example.net -all\nt.example.net TEMP", ip: "192.0.2.1", want: SPFTempError},
		{name: "mx match", zone: "example.net TXT v=spf1 mx -all\nexample.net MX mail.example.net", ip: "192.0.2.1", want: SPFPass},
		{name: "mx host without address is skipped", zone: "example.net TXT v=spf1 mx -all\nexample.net MX nothere.example.net\nexample.net MX mail.example.net", ip: "192.0.2.1", want: SPFPass},
		{name: "null MX", zone: "example.net TXT v=spf1 mx -all\nexample.net MX .", ip: "192.0.2.1", want: SPFFail},
		{name: "mx over 10 names", zone: "example.net TXT v=spf1 mx -all" + strings.Repeat("\nexample.net MX mail.example.net", 11), ip: "192.0.2.1", want: SPFPermError},
		{name: "mx 10 names", zone: "example.net TXT v=spf1 mx -all" + strings.Repeat("\nexample.net MX mail.example.net", 10), ip: "192.0.2.1", want: SPFPass},
		{name: "mx host temperror", zone: "example.net TXT v=spf1 mx -all\nexample.net MX t.example.net\nt.example.net TEMP", ip: "192.0.2.1", want: SPFTempError},
		{name: "exists match", zone: "example.net TXT v=spf1 exists:%{ir}.list.example.net -all\n1.2.0.192.list.example.net A 127.0.0.2", ip: "192.0.2.1", want: SPFPass},
		{name: "exists no match", zone: "example.net TXT v=spf1 exists:%{ir}.list.example.net -all", ip: "192.0.2.1", want: SPFFail},
		{name: "exists uses A for IPv6", zone: "example.net TXT v=spf1 exists:%{v}.list.example.net -all\nip6.list.example.net A 127.0.0.2", ip: "2001:db8::1", want: SPFPass},
		{name: "ptr of subdomain", zone: "example.net TXT v=spf1 ptr -all\n192.0.2.1 PTR mail.example.net.", ip: "192.0.2.1", want: SPFPass},
		{name: "ptr not validated", zone: "example.net TXT v=spf1 ptr -all\n192.0.2.9 PTR mail.example.net.", ip: "192.0.2.9", want: SPFFail},
		{name: "ptr other domain", zone: "example.net TXT v=spf1 ptr:example.org -all\n192.0.2.1 PTR mail.example.net.", ip: "192.0.2.1", want: SPFFail},
		{name: "ptr temperror does not match", zone: "example.net TXT v=spf1 ptr ~all\nptr:192.0.2.1 TEMP", ip: "192.0.2.1", want: SPFSoftFail},
		{name: "qualifiers", zone: "example.net TXT v=spf1 ?ip4:192.0.2.1 ~ip4:192.0.2.2 -ip4:192.0.2.3 +ip4:192.0.2.4", ip: "192.0.2.1", want: SPFNeutral},
		{name: "softfail qualifier", zone: "example.net TXT v=spf1 ?ip4:192.0.2.1 ~ip4:192.0.2.2 -all", ip: "192.0.2.2", want: SPFSoftFail},
		{name: "no match is neutral", zone: "example.net TXT v=spf1 ip4:192.0.2.1", ip: "192.0.2.2", want: SPFNeutral},

		// include (§5.2).
		{name: "include pass", zone: "example.net TXT v=spf1 include:i.example.net -all\ni.example.net TXT v=spf1 ip4:192.0.2.1 -all", ip: "192.0.2.1", want: SPFPass},
		{name: "include fail does not match", zone: "example.net TXT v=spf1 include:i.example.net ~all\ni.example.net TXT v=spf1 -all", ip: "192.0.2.1", want: SPFSoftFail},
		{name: "include softfail does not match", zone: "example.net TXT v=spf1 include:i.example.net -all\ni.example.net TXT v=spf1 ~all", ip: "192.0.2.1", want: SPFFail},
		{name: "include neutral does not match", zone: "example.net TXT v=spf1 include:i.example.net -all\ni.example.net TXT v=spf1 ?all", ip: "192.0.2.1", want: SPFFail},
		{name: "include none", zone: "example.net TXT v=spf1 include:i.example.net -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "include permerror", zone: "example.net TXT v=spf1 include:i.example.net -all\ni.example.net TXT v=spf1 foo", ip: "192.0.2.1", want: SPFPermError},
		{name: "include temperror", zone: "example.net TXT v=spf1 include:i.example.net -all\ni.example.net TEMP", ip: "192.0.2.1", want: SPFTempError},
		{name: "include loop hits the limit", zone: "example.net TXT v=spf1 include:example.net -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "negated include", zone: "example.net TXT v=spf1 -include:i.example.net +all\ni.example.net TXT v=spf1 ip4:192.0.2.1", ip: "192.0.2.1", want: SPFFail},

		// redirect (§6.1).
		{name: "redirect", zone: "example.net TXT v=spf1 redirect=r.example.net\nr.example.net TXT v=spf1 ip4:192.0.2.1 -all", ip: "192.0.2.1", want: SPFPass},
		{name: "redirect after mechanisms", zone: "example.net TXT v=spf1 ip4:198.51.100.1 redirect=r.example.net\nr.example.net TXT v=spf1 -all", ip: "192.0.2.1", want: SPFFail},
		{name: "redirect ignored after all", zone: "example.net TXT v=spf1 ?all redirect=r.example.net\nr.example.net TXT v=spf1 -all", ip: "192.0.2.1", want: SPFNeutral},
		{name: "redirect to no record", zone: "example.net TXT v=spf1 redirect=r.example.net", ip: "192.0.2.1", want: SPFPermError},
		{name: "redirect to single label", zone: "example.net TXT v=spf1 redirect=%{l}", sender: "local@example.net", ip: "192.0.2.1", want: SPFPermError},
		{name: "redirect macro", zone: "example.net TXT v=spf1 redirect=_spf.%{d}\n_spf.example.net TXT v=spf1 ip4:192.0.2.1 -all", ip: "192.0.2.1", want: SPFPass},

		// Limits (§4.6.4).
		{
			name: "10 lookups allowed",
			zone: "example.net TXT v=spf1 " + strings.Repeat("a:mail.example.net/32//128 ", 9) + "include:i.example.net -all\ni.example.net TXT v=spf1 ip4:192.0.2.200",
			ip:   "192.0.2.200", want: SPFPass,
		},
		{
			name: "11 lookups",
			zone: "example.net TXT v=spf1 " + strings.Repeat("a:mail.example.net ", 10) + "include:i.example.net -all\ni.example.net TXT v=spf1 ip4:192.0.2.200",
			ip:   "192.0.2.200", want: SPFPermError,
		},
		{
			name: "lookups inside includes count",
			zone: "example.net TXT v=spf1 include:i.example.net -all\ni.example.net TXT v=spf1 " + strings.Repeat("a:mail.example.net ", 10),
			ip:   "192.0.2.200", want: SPFPermError,
		},
		{name: "ip4 and all do not count", zone: "example.net TXT v=spf1 " + strings.Repeat("ip4:198.51.100.1 ", 20) + "-all", ip: "192.0.2.200", want: SPFFail},
		{name: "two void lookups", zone: "example.net TXT v=spf1 a:n1.example.net a:n2.example.net -all", ip: "192.0.2.1", want: SPFFail},
		{name: "three void lookups", zone: "example.net TXT v=spf1 a:n1.example.net a:n2.example.net mx:n3.example.net -all", ip: "192.0.2.1", want: SPFPermError},
		{name: "NODATA is void", zone: "example.net TXT v=spf1 a:e.example.net a:e.example.net exists:e.example.net -all\ne.example.net TXT x", ip: "192.0.2.1", want: SPFPermError},

		// Domain and sender (§4.3).
		{name: "sender without local part", zone: "example.net TXT v=spf1 exists:%{l}.u.example.net -all\npostmaster.u.example.net A 127.0.0.1", sender: "example.net", ip: "192.0.2.1", want: SPFPass},
		{name: "macro local part", zone: "example.net TXT v=spf1 exists:%{l}.u.example.net -all\njoe.u.example.net A 127.0.0.1", sender: "joe@example.net", ip: "192.0.2.1", want: SPFPass},
		{name: "helo macro", zone: "example.net TXT v=spf1 exists:%{h}.h.example.net -all\nmx.example.org.h.example.net A 127.0.0.1", helo: "mx.example.org", ip: "192.0.2.1", want: SPFPass},
		{name: "empty label after expansion", zone: "example.net TXT v=spf1 a:%{l}.example.net ?all", sender: "@example.net", ip: "192.0.2.1", want: SPFNeutral},

		// Explanations (§6.2).
		{
			name: "explanation",
			zone: "example.net TXT v=spf1 -all exp=e.example.net\ne.example.net TXT %{i} is not one of %{d}'s designated mail servers.",
			ip:   "192.0.2.1", want: SPFFail, exp: "192.0.2.1 is not one of example.net's designated mail servers.",
		},
		{
			name: "explanation with exp-only macros",
			zone: "example.net TXT v=spf1 -all exp=e.example.net\ne.example.net TXT %{c} rejected by %{r} at %{t}",
			ip:   "2001:db8::1", want: SPFFail, exp: "2001:db8::1 rejected by receiver.example at 1700000000",
		},
		{
			name:   "explanation URL escape",
			zone:   "example.net TXT v=spf1 -all exp=e.example.net\ne.example.net TXT see https://example.net/why?s=%{S}",
			sender: "a b@example.net", ip: "192.0.2.1", want: SPFFail, exp: "see https://example.net/why?s=a%20b%40example.net",
		},
		{name: "explanation not for softfail", zone: "example.net TXT v=spf1 ~all exp=e.example.net\ne.example.net TXT text", ip: "192.0.2.1", want: SPFSoftFail},
		{name: "explanation two records", zone: "example.net TXT v=spf1 -all exp=e.example.net\ne.example.net TXT one\ne.example.net TXT two", ip: "192.0.2.1", want: SPFFail},
		{name: "explanation bad syntax", zone: "example.net TXT v=spf1 -all exp=e.example.net\ne.example.net TXT bad %x macro", ip: "192.0.2.1", want: SPFFail},
		{name: "explanation missing", zone: "example.net TXT v=spf1 -all exp=e.example.net", ip: "192.0.2.1", want: SPFFail},
		{
			name: "include explanation not used",
			zone: "example.net TXT v=spf1 -include:i.example.net ?all\ni.example.net TXT v=spf1 +all exp=e.example.net\ne.example.net TXT inner",
			ip:   "192.0.2.1", want: SPFFail,
		},
		{
			name: "redirect explanation used",
			zone: "example.net TXT v=spf1 redirect=r.example.net exp=o.example.net\nr.example.net TXT v=spf1 -all exp=e.example.net\ne.example.net TXT from %{d}\no.example.net TXT outer",
			ip:   "192.0.2.1", want: SPFFail, exp: "from r.example.net",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns := newFakeDNS(t, base+"\n"+tt.zone)
			c := &SPFChecker{Resolver: dns, Receiver: "receiver.example", Now: func() time.Time { return time.Unix(1700000000, 0) }}
			sender := tt.sender
			if sender == "" {
				sender = "user@example.net"
			}
			helo := tt.helo
			if helo == "" {
				helo = "mx.example.org"
			}
			got, exp, err := c.CheckHost(context.Background(), netip.MustParseAddr(tt.ip), "example.net", sender, helo)
			if got != tt.want {
				t.Fatalf("result = %s (%v), want %s", got, err, tt.want)
			}
			if (got == SPFPermError || got == SPFTempError) != (err != nil) {
				t.Errorf("result %s with error %v", got, err)
			}
			if exp != tt.exp {
				t.Errorf("explanation = %q, want %q", exp, tt.exp)
			}
		})
	}
}

func TestSPFInvalidDomains(t *testing.T) {
	dns := newFakeDNS(t, "com TXT v=spf1 +all")
	for _, d := range []string{"", "com", "a..example.net", strings.Repeat("a", 64) + ".example.net", "."} {
		got, _, _ := CheckHost(context.Background(), dns, netip.MustParseAddr("192.0.2.1"), d, "", "")
		if got != SPFNone {
			t.Errorf("CheckHost(%q) = %s, want none", d, got)
		}
	}
}

func TestSPFTimeout(t *testing.T) {
	dns := newFakeDNS(t, "example.net TXT v=spf1 -all")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, _, err := CheckHost(ctx, dns, netip.MustParseAddr("192.0.2.1"), "example.net", "", "")
	if got != SPFTempError || !errors.Is(err, context.Canceled) {
		t.Errorf("got %s, %v", got, err)
	}
}

func TestCheckSender(t *testing.T) {
	dns := newFakeDNS(t, `
example.net TXT v=spf1 ip4:192.0.2.1 -all
mx.example.org TXT v=spf1 ip4:192.0.2.2 -all
`)
	c := &SPFChecker{Resolver: dns}
	ip := netip.MustParseAddr("192.0.2.2")
	o := c.CheckSender(context.Background(), ip, "mx.example.org", "User@Example.NET")
	if o.Result != SPFFail || o.Identity != "mailfrom" || o.Domain != "example.net" {
		t.Errorf("mail from: %+v", o)
	}
	o = c.CheckSender(context.Background(), ip, "mx.example.org", "")
	if o.Result != SPFPass || o.Identity != "helo" || o.Domain != "mx.example.org" || o.Sender != "postmaster@mx.example.org" {
		t.Errorf("null sender: %+v", o)
	}
}

// TestMacroRFC7208 holds the examples of RFC 7208 §7.4.
func TestMacroRFC7208(t *testing.T) {
	env := func(ip string) *macroEnv {
		return &macroEnv{
			sender: "strong-bad@email.example.com",
			local:  "strong-bad",
			origin: "email.example.com",
			domain: "email.example.com",
			ip:     netip.MustParseAddr(ip),
			helo:   "mx.example.org",
		}
	}
	tests := []struct{ ip, macro, want string }{
		{"192.0.2.3", "%{s}", "strong-bad@email.example.com"},
		{"192.0.2.3", "%{o}", "email.example.com"},
		{"192.0.2.3", "%{d}", "email.example.com"},
		{"192.0.2.3", "%{d4}", "email.example.com"},
		{"192.0.2.3", "%{d3}", "email.example.com"},
		{"192.0.2.3", "%{d2}", "example.com"},
		{"192.0.2.3", "%{d1}", "com"},
		{"192.0.2.3", "%{dr}", "com.example.email"},
		{"192.0.2.3", "%{d2r}", "example.email"},
		{"192.0.2.3", "%{l}", "strong-bad"},
		{"192.0.2.3", "%{l-}", "strong.bad"},
		{"192.0.2.3", "%{lr}", "strong-bad"},
		{"192.0.2.3", "%{lr-}", "bad.strong"},
		{"192.0.2.3", "%{l1r-}", "strong"},
		{"192.0.2.3", "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
		{"192.0.2.3", "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
		{"192.0.2.3", "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
		{"192.0.2.3", "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
		{"192.0.2.3", "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
		{"2001:db8::cb01", "%{ir}.%{v}._spf.%{d2}", "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"},
		{"192.0.2.3", "%{h}", "mx.example.org"},
		{"192.0.2.3", "%%%_%-", "% %20"},
		{"192.0.2.3", "%{L}", "strong-bad"},
		{"192.0.2.3", "%{S}", "strong-bad%40email.example.com"},
		{"192.0.2.3", "%{d99}", "email.example.com"},
		{"192.0.2.3", "%{p}", "unknown"},
	}
	for _, tt := range tests {
		m, err := parseMacroString(tt.macro, false)
		if err != nil {
			t.Errorf("%s: %v", tt.macro, err)
			continue
		}
		if got := m.expand(context.Background(), env(tt.ip)); got != tt.want {
			t.Errorf("%s from %s = %q, want %q", tt.macro, tt.ip, got, tt.want)
		}
		if got := m.String(); got != tt.macro {
			t.Errorf("String() = %q, want %q", got, tt.macro)
		}
	}
}

func TestMacroP(t *testing.T) {
	dns := newFakeDNS(t, `
example.net TXT v=spf1 exists:%{p}.p.example.net -all
192.0.2.1 PTR other.example.org.
192.0.2.1 PTR mail.example.net.
192.0.2.1 PTR fake.example.net.
other.example.org A 192.0.2.1
mail.example.net A 192.0.2.1
mail.example.net.p.example.net A 127.0.0.1
`)
	got, _, err := CheckHost(context.Background(), dns, netip.MustParseAddr("192.0.2.1"), "example.net", "u@example.net", "h.example.net")
	if got != SPFPass {
		t.Errorf("got %s (%v), want pass (%%{p} = mail.example.net)", got, err)
	}
}

func TestTruncateDomain(t *testing.T) {
	label := strings.Repeat("a", 60)
	long := strings.Repeat(label+".", 5) + "example.com"
	got := truncateDomain(long)
	if len(got) > 253 || !strings.HasSuffix(got, ".example.com") || !strings.HasPrefix(got, label) {
		t.Errorf("truncateDomain = %q (%d)", got, len(got))
	}
}

func TestParseSPFString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"v=spf1 +a -MX:example.org/24//64 ~ip4:192.0.2.1/24 ?ip6:2001:DB8::/32 include:_spf.example.net exists:%{ir}.x.example ptr -all", "v=spf1 a -mx:example.org/24//64 ~ip4:192.0.2.0/24 ?ip6:2001:db8::/32 include:_spf.example.net exists:%{ir}.x.example ptr -all"},
		{"v=spf1 redirect=_spf.example.net exp=exp.example.net x-foo=bar", "v=spf1 redirect=_spf.example.net exp=exp.example.net x-foo=bar"},
		{"v=spf1 a:%{l/}.example.net/24", "v=spf1 a:%{l/}.example.net/24"},
	}
	for _, tt := range tests {
		rec, err := ParseSPF(tt.in)
		if err != nil {
			t.Errorf("ParseSPF(%q): %v", tt.in, err)
			continue
		}
		if got := rec.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	_, err := ParseSPF("v=spf1 a:bad..123")
	var se *SPFSyntaxError
	if !errors.As(err, &se) || se.Term != "a:bad..123" {
		t.Errorf("error = %v", err)
	}
}

// ExampleCheckHost shows an SPF check against a fake resolver.
func ExampleCheckHost() {
	dns := exampleDNS{"example.org": {"v=spf1 ip4:192.0.2.0/24 -all"}}
	res, _, err := CheckHost(context.Background(), dns, netip.MustParseAddr("192.0.2.7"), "example.org", "alice@example.org", "mx.example.org")
	fmt.Println(res, err)
	// Output: pass <nil>
}
