// Package dnstest is an authoritative DNS server on loopback for tests: it serves a zone
// given as master-file text over UDP and TCP, and sets the AD bit on the names a test
// marks as signed, the way a validating resolver would for a client asking for DNSSEC. It
// must not be imported outside tests.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server answers from its zone.
type Server struct {
	Addr string // host:port for UDP and TCP

	mu      sync.Mutex
	records []dns.RR
	soa     *dns.SOA
	signed  map[string]bool
}

// Start serves zone (master-file text; the first SOA answers negative questions). signed
// lists the owner names whose answers carry the AD bit.
func Start(t testing.TB, zone string, signed ...string) *Server {
	t.Helper()
	s := &Server{signed: map[string]bool{}}
	for _, n := range signed {
		s.signed[dns.Fqdn(strings.ToLower(n))] = true
	}
	zp := dns.NewZoneParser(strings.NewReader(zone), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rr.Header().Name = strings.ToLower(rr.Header().Name)
		if soa, isSOA := rr.(*dns.SOA); isSOA && s.soa == nil {
			s.soa = soa
			continue
		}
		s.records = append(s.records, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	s.Addr = Serve(t, s)
	return s
}

// ServeDNS answers one question.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	exists := false
	for _, rr := range s.records {
		if rr.Header().Name != name {
			continue
		}
		exists = true
		if rr.Header().Rrtype == q.Qtype {
			resp.Answer = append(resp.Answer, dns.Copy(rr))
		}
	}
	s.mu.Unlock()
	if !exists {
		resp.Rcode = dns.RcodeNameError
	}
	if len(resp.Answer) == 0 && s.soa != nil {
		resp.Ns = append(resp.Ns, dns.Copy(s.soa))
	}
	// AD only for a client that asked for DNSSEC (RFC 6840 §5.7).
	opt := req.IsEdns0()
	resp.AuthenticatedData = s.signed[name] && opt != nil && opt.Do()
	if opt != nil {
		resp.SetEdns0(opt.UDPSize(), opt.Do())
	}
	w.WriteMsg(resp)
}

// Serve answers with h over UDP and TCP on one loopback port until the test ends, and returns
// its address.
func Serve(t testing.TB, h dns.Handler) string {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for range 10 {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no loopback port free for both UDP and TCP")
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}
