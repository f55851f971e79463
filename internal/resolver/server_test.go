package resolver

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/postamail/posta/internal/resolver/dnstest"
)

// testZone is the authoritative data served by testServer.
const testZone = `
example.test.            3600 IN SOA  ns.example.test. admin.example.test. 1 3600 600 86400 300
example.test.            300  IN MX   20 mx2.example.test.
example.test.            300  IN MX   10 mx1.example.test.
example.test.            300  IN MX   20 mx3.example.test.
mx1.example.test.        300  IN A    192.0.2.1
mx1.example.test.        300  IN AAAA 2001:db8::1
mx2.example.test.        60   IN A    192.0.2.2
v6only.example.test.     300  IN AAAA 2001:db8::6
txt.example.test.        300  IN TXT  "v=spf1 " "ip4:192.0.2.0/24 " "-all"
txt.example.test.        300  IN TXT  "second record"
_25._tcp.mx1.example.test. 300 IN TLSA 3 1 1 0a0b0c0d
alias1.example.test.     300  IN CNAME alias2.example.test.
alias2.example.test.     120  IN CNAME mx1.example.test.
outside.example.test.    300  IN CNAME target.example.test.
target.example.test.     300  IN A    192.0.2.9
signed.example.test.     300  IN A    192.0.2.10
big.example.test.        300  IN TXT  "a long answer that does not fit"
noSOA.example.test.      300  IN TXT  "placeholder"
nullmx.example.test.     300  IN MX   0 .
xn--bcher-kva.example.test. 300 IN A 192.0.2.11
short.example.test.      1    IN A    192.0.2.12
long.example.test.       604800 IN A  192.0.2.13
slow.example.test.       300  IN A    192.0.2.14
1.2.0.192.in-addr.arpa.  300  IN PTR  mx1.example.test.
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR mx1.example.test.
2.0.0.127.bl.example.test. 300 IN A   127.0.0.2
`

// testServer is an authoritative DNS server on loopback serving testZone over
// UDP and TCP on one port, counting the questions it receives.
type testServer struct {
	t       *testing.T
	addr    string
	records []dns.RR
	soa     *dns.SOA

	servfail map[string]bool          // answer SERVFAIL
	truncate map[string]bool          // answer with TC over UDP
	ad       map[string]bool          // set the AD bit
	nochase  map[string]bool          // do not follow this CNAME
	nosoa    map[string]bool          // negative answers without SOA
	drop     map[string]bool          // never answer
	delay    map[string]time.Duration // wait before answering

	mu     sync.Mutex
	counts map[string]int // "name type net"
}

// newTestServer starts a server; configure adjusts it before it starts.
func newTestServer(t *testing.T, configure ...func(*testServer)) *testServer {
	t.Helper()
	s := &testServer{
		t:        t,
		servfail: map[string]bool{"servfail.example.test.": true},
		truncate: map[string]bool{"big.example.test.": true},
		ad:       map[string]bool{"signed.example.test.": true},
		nochase:  map[string]bool{"outside.example.test.": true},
		nosoa:    map[string]bool{"nosoa.example.test.": true},
		drop:     map[string]bool{"drop.example.test.": true},
		delay:    map[string]time.Duration{"slow.example.test.": 50 * time.Millisecond},
		counts:   make(map[string]int),
	}
	zp := dns.NewZoneParser(strings.NewReader(testZone), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rr.Header().Name = strings.ToLower(rr.Header().Name)
		if soa, isSOA := rr.(*dns.SOA); isSOA {
			s.soa = soa
			continue
		}
		s.records = append(s.records, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	for _, f := range configure {
		f(s)
	}
	s.start()
	return s
}

func (s *testServer) start() {
	s.addr = dnstest.Serve(s.t, s)
}

// count returns how many times the server was asked (name, type) over network
// ("udp", "tcp", or "" for both); an empty name counts every question.
func (s *testServer) count(name string, qtype uint16, network string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	if name == "" {
		for _, c := range s.counts {
			n += c
		}
		return n
	}
	for _, nw := range []string{"udp", "tcp"} {
		if network == "" || network == nw {
			n += s.counts[dns.Fqdn(strings.ToLower(name))+" "+dns.TypeToString[qtype]+" "+nw]
		}
	}
	return n
}

func (s *testServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	s.mu.Lock()
	s.counts[name+" "+dns.TypeToString[q.Qtype]+" "+network]++
	s.mu.Unlock()

	if s.drop[name] {
		return
	}
	time.Sleep(s.delay[name])
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	switch {
	case s.servfail[name]:
		resp.Rcode = dns.RcodeServerFailure
	case s.truncate[name] && network == "udp":
		resp.Truncated = true
	default:
		s.answer(resp, name, q.Qtype)
	}
	// Like a validating resolver, set AD only for a client that asked for
	// DNSSEC (DO bit) or set AD in its query (RFC 6840 §5.7).
	opt := req.IsEdns0()
	resp.AuthenticatedData = s.ad[name] && req.AuthenticatedData && opt != nil && opt.Do()
	if opt != nil {
		resp.SetEdns0(opt.UDPSize(), opt.Do())
	}
	w.WriteMsg(resp)
}

// answer fills resp the way an authoritative server does, following CNAMEs
// within the zone.
func (s *testServer) answer(resp *dns.Msg, name string, qtype uint16) {
	for range 10 {
		var found []dns.RR
		var cname *dns.CNAME
		exists := false
		for _, rr := range s.records {
			h := rr.Header()
			if h.Name != name {
				continue
			}
			exists = true
			if h.Rrtype == qtype {
				found = append(found, dns.Copy(rr))
			} else if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		switch {
		case len(found) > 0:
			resp.Answer = append(resp.Answer, found...)
			return
		case cname != nil:
			resp.Answer = append(resp.Answer, dns.Copy(cname))
			if s.nochase[name] {
				return
			}
			name = cname.Target
			continue
		case !exists:
			resp.Rcode = dns.RcodeNameError
		}
		if !s.nosoa[name] {
			resp.Ns = append(resp.Ns, dns.Copy(s.soa))
		}
		return
	}
}

// clock is an adjustable clock for cache expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
