package console

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/dkim"
)

func readFile(name string) (string, error) {
	b, err := os.ReadFile(name)
	return string(b), err
}

// fakeResolver answers for acme.test as if its MX, SPF and IMAP SRV records were published, the
// DMARC record had another policy, autoconfig pointed elsewhere, and everything else was
// missing; names under slow.test time out.
type fakeResolver struct{}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (fakeResolver) wait(ctx context.Context, name string) error {
	if strings.HasSuffix(name, "slow.test") {
		<-ctx.Done()
		return &net.DNSError{Err: "i/o timeout", Name: name, IsTimeout: true}
	}
	return nil
}

func (f fakeResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if err := f.wait(ctx, name); err != nil {
		return nil, err
	}
	if name == "acme.test" {
		return []*net.MX{{Host: "MAIL.example.test.", Pref: 10}}, nil
	}
	return nil, notFound(name)
}

func (f fakeResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if err := f.wait(ctx, name); err != nil {
		return nil, err
	}
	switch name {
	case "acme.test":
		return []string{"google-site-verification=x", "v=spf1 mx -all"}, nil
	case "_dmarc.acme.test":
		return []string{"v=DMARC1; p=none"}, nil
	}
	return nil, notFound(name)
}

func (f fakeResolver) LookupCNAME(ctx context.Context, host string) (string, error) {
	if err := f.wait(ctx, host); err != nil {
		return "", err
	}
	if host == "autoconfig.acme.test" {
		return "elsewhere.example.", nil
	}
	if host == "autodiscover.acme.test" {
		return "autodiscover.acme.test.", nil
	}
	return "", notFound(host)
}

func (f fakeResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if err := f.wait(ctx, name); err != nil {
		return "", nil, err
	}
	if service == "imaps" && proto == "tcp" && name == "acme.test" {
		return "", []*net.SRV{{Target: "mail.example.test.", Port: 993, Weight: 1}}, nil
	}
	return "", nil, notFound(name)
}

func TestDNSRecords(t *testing.T) {
	recs := DNSRecords("Acme.TEST.", "mail.example.test", nil)
	want := map[string]string{
		"mx":           "acme.test. 3600 IN MX 10 mail.example.test.",
		"spf":          `acme.test. 3600 IN TXT "v=spf1 mx -all"`,
		"dmarc":        `_dmarc.acme.test. 3600 IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@acme.test"`,
		"autoconfig":   "autoconfig.acme.test. 3600 IN CNAME mail.example.test.",
		"autodiscover": "autodiscover.acme.test. 3600 IN CNAME mail.example.test.",
		"imaps":        "_imaps._tcp.acme.test. 3600 IN SRV 0 1 993 mail.example.test.",
		"submissions":  "_submissions._tcp.acme.test. 3600 IN SRV 0 1 465 mail.example.test.",
		"submission":   "_submission._tcp.acme.test. 3600 IN SRV 0 1 587 mail.example.test.",
		"pop3s":        "_pop3s._tcp.acme.test. 3600 IN SRV 0 1 995 mail.example.test.",
		"dkim":         "",
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		w, ok := want[r.Purpose]
		if !ok {
			t.Errorf("unexpected record %+v", r)
			continue
		}
		if got := r.ZoneLine(); got != w {
			t.Errorf("%s: %q, want %q", r.Purpose, got, w)
		}
	}
	if r := recs[len(recs)-1]; !r.Pending || r.Purpose != "dkim" {
		t.Errorf("DKIM: %+v", r)
	}

	states := map[string]string{}
	for i, st := range CheckRecords(context.Background(), fakeResolver{}, recs, time.Second) {
		states[recs[i].Purpose] = st
	}
	for p, w := range map[string]string{"mx": Live, "spf": Live, "dmarc": Different, "autoconfig": Different, "autodiscover": NotYet,
		"imaps": Live, "submissions": NotYet, "pop3s": NotYet, "dkim": Pending} {
		if states[p] != w {
			t.Errorf("%s: %s, want %s", p, states[p], w)
		}
	}
	start := time.Now()
	for i, st := range CheckRecords(context.Background(), fakeResolver{}, DNSRecords("slow.test", "mail.example.test", nil), 50*time.Millisecond) {
		if st != Unknown && st != Pending {
			t.Errorf("slow record %d: %s", i, st)
		}
	}
	if time.Since(start) > 2*time.Second {
		t.Error("the time-out was not applied")
	}
	for _, st := range CheckRecords(context.Background(), fakeResolver{}, recs, -1) {
		if st != Unknown && st != Pending {
			t.Errorf("no checks: %s", st)
		}
	}
}

func TestDomainPageShowsRecordsAndStates(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("admin@acme.test")
	body := b.get("/domains/acme.test")
	b.want(200, "domain page")
	for _, s := range []string{"v=spf1 mx -all", "_dmarc.acme.test", "rua=mailto:postmaster@acme.test", "autoconfig.acme.test", "autodiscover.acme.test",
		"_imaps._tcp.acme.test", "_submissions._tcp.acme.test", "_submission._tcp.acme.test", "_pop3s._tcp.acme.test",
		"0 1 993 mail.example.test.", "10 mail.example.test.", "coming with outbound signing",
		`state-live`, `state-missing`, `state-different`, "mail.example.test"} {
		contains(t, body, s, "domain page")
	}
}

func TestDNSRecordsWithDKIMKeys(t *testing.T) {
	keys := []dkim.Record{
		{Selector: "s2e", State: dkim.Pending, Name: "s2e._domainkey.a.test", Value: "v=DKIM1; k=ed25519; p=NEW"},
		{Selector: "s1e", State: dkim.Active, Name: "s1e._domainkey.a.test", Value: "v=DKIM1; k=ed25519; p=OLD"},
		{Selector: "s0e", State: dkim.Retired, Name: "s0e._domainkey.a.test", Value: "v=DKIM1; k=ed25519; p=GONE"},
	}
	var got []string
	for _, r := range DNSRecords("a.test", "mx.test", keys) {
		if r.Purpose == "dkim" {
			got = append(got, r.Name)
			if r.Pending || r.ZoneLine() == "" {
				t.Errorf("DKIM record %s not publishable", r.Name)
			}
		}
	}
	if strings.Join(got, " ") != "s2e._domainkey.a.test s1e._domainkey.a.test" {
		t.Fatalf("DKIM records: %v", got)
	}
}
