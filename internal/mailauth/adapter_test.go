package mailauth

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/postamail/posta/internal/resolver"
)

// TestFromResolver runs SPF, DMARC and DKIM through internal/resolver
// against a DNS server on loopback.
func TestFromResolver(t *testing.T) {
	key, err := GenerateDKIMKey(DKIMEd25519)
	if err != nil {
		t.Fatal(err)
	}
	keyRecord, _ := DKIMRecord(key.Public())
	zone := map[string][]dns.RR{}
	add := func(s string) {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		zone[strings.ToLower(rr.Header().Name)] = append(zone[strings.ToLower(rr.Header().Name)], rr)
	}
	add(`example.org. 300 IN TXT "v=spf1 mx include:_spf.example.org -all"`)
	add(`example.org. 300 IN MX 10 mx.example.org.`)
	add(`mx.example.org. 300 IN A 192.0.2.1`)
	add(`_spf.example.org. 300 IN TXT "v=spf1 ip6:2001:db8::/32 -all"`)
	add(`_dmarc.example.org. 300 IN TXT "v=DMARC1; p=reject"`)
	add(`ed._domainkey.example.org. 300 IN TXT "` + strings.Join(SplitTXT(keyRecord), `" "`) + `"`)
	add(`1.2.0.192.in-addr.arpa. 300 IN PTR mx.example.org.`)
	soa, _ := dns.NewRR("example.org. 300 IN SOA ns.example.org. h.example.org. 1 1 1 1 60")

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		resp := new(dns.Msg)
		resp.SetReply(req)
		name := strings.ToLower(q.Name)
		if name == "servfail.example.org." {
			resp.Rcode = dns.RcodeServerFailure
		} else if rrs, ok := zone[name]; ok {
			for _, rr := range rrs {
				if rr.Header().Rrtype == q.Qtype {
					resp.Answer = append(resp.Answer, rr)
				}
			}
		} else {
			resp.Rcode = dns.RcodeNameError
		}
		if len(resp.Answer) == 0 {
			resp.Ns = []dns.RR{soa}
		}
		w.WriteMsg(resp)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })

	r := FromResolver(resolver.New(resolver.Config{Upstreams: []string{pc.LocalAddr().String()}, Timeout: time.Second, Attempts: 1}))
	ctx := context.Background()
	for ip, want := range map[string]SPFResult{"192.0.2.1": SPFPass, "2001:db8::7": SPFPass, "192.0.2.9": SPFFail} {
		if got, _, err := CheckHost(ctx, r, netip.MustParseAddr(ip), "example.org", "a@example.org", "mx.example.org"); got != want {
			t.Errorf("SPF from %s = %s (%v), want %s", ip, got, err, want)
		}
	}
	if got, _, _ := CheckHost(ctx, r, netip.MustParseAddr("192.0.2.1"), "missing.example.org", "", ""); got != SPFNone {
		t.Errorf("SPF of NXDOMAIN = %s", got)
	}
	if got, _, _ := CheckHost(ctx, r, netip.MustParseAddr("192.0.2.1"), "servfail.example.org", "", ""); got != SPFTempError {
		t.Errorf("SPF of SERVFAIL = %s", got)
	}
	if o := CheckIPRev(ctx, r, netip.MustParseAddr("192.0.2.1")); o.Result != "pass" {
		t.Errorf("iprev = %+v", o)
	}

	sig, err := SignDKIM(strings.NewReader(testMessage), DKIMKey{Domain: "example.org", Selector: "ed", Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	dkims, err := VerifyDKIM(ctx, r, strings.NewReader(string(sig)+testMessage))
	if err != nil || len(dkims) != 1 || dkims[0].Result != DKIMPass {
		t.Fatalf("DKIM = %+v, %v", dkims, err)
	}
	d := (&DMARCChecker{Resolver: r}).Check(ctx, DMARCInput{From: "example.org", SPF: SPFFail, SPFDomain: "example.org", DKIM: dkims})
	if d.Result != DMARCPass || !d.DKIMAligned {
		t.Errorf("DMARC = %+v", d)
	}
	d = (&DMARCChecker{Resolver: r}).Check(ctx, DMARCInput{From: "news.example.org", SPF: SPFPass, SPFDomain: "example.net"})
	if d.Result != DMARCFail || d.Disposition != DMARCPolicyReject || d.RecordDomain != "example.org" {
		t.Errorf("DMARC = %+v", d)
	}
}
