package mtasts_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postamail/posta/internal/certs/testca"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mtasts"
	"github.com/postamail/posta/internal/resolver"
	"github.com/postamail/posta/internal/resolver/dnstest"
)

// policyServer serves policies over HTTPS on loopback, each domain's as set, counting fetches.
type policyServer struct {
	mu      sync.Mutex
	body    map[string]string // by Host
	ctype   string
	fetches int
	addr    string
}

func (p *policyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fetches++
	if r.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(w, r)
		return
	}
	body, ok := p.body[r.Host]
	switch {
	case !ok:
		http.NotFound(w, r)
	case strings.HasPrefix(body, "redirect:"):
		http.Redirect(w, r, strings.TrimPrefix(body, "redirect:"), http.StatusFound)
	default:
		w.Header().Set("Content-Type", p.ctype)
		io.WriteString(w, body)
	}
}

func (p *policyServer) set(host, body string) {
	p.mu.Lock()
	p.body[host] = body
	p.mu.Unlock()
}

func (p *policyServer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches
}

func startPolicyServer(t *testing.T, cert tls.Certificate) *policyServer {
	ps := &policyServer{body: map[string]string{}, ctype: "text/plain; charset=utf-8"}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	ps.addr = ln.Addr().String()
	srv := &http.Server{Handler: ps, ErrorLog: nil}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ps
}

const zone = `
example.test.                 300 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 1
_mta-sts.good.example.test.   1 IN TXT "v=STSv1; id=1;"
_mta-sts.big.example.test.    1 IN TXT "v=STSv1; id=1;"
_mta-sts.moved.example.test.  1 IN TXT "v=STSv1; id=1;"
_mta-sts.badcert.example.test. 1 IN TXT "v=STSv1; id=1;"
_mta-sts.two.example.test.    1 IN TXT "v=STSv1; id=1;"
_mta-sts.two.example.test.    1 IN TXT "v=STSv1; id=2;"
_mta-sts.other.example.test.  1 IN TXT "v=spf1 -all"
`

const enforce = "version: STSv1\r\nmode: enforce\r\nmx: mx.good.example.test\r\nmax_age: 86400\r\n"

func TestCache(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		ca := testca.New(t, "Test Root")
		ps := startPolicyServer(t, ca.Issue(t, "mta-sts.good.example.test", "mta-sts.big.example.test", "mta-sts.moved.example.test", "mta-sts.two.example.test"))
		ps.set("mta-sts.good.example.test", enforce)
		ps.set("mta-sts.big.example.test", "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 86400\r\n"+strings.Repeat("x: y\r\n", 12000))
		ps.set("mta-sts.moved.example.test", "redirect:https://mta-sts.good.example.test/.well-known/mta-sts.txt")
		ps.set("mta-sts.badcert.example.test", enforce)
		ps.set("mta-sts.two.example.test", enforce)
		dns := dnstest.Start(t, zone)
		res := resolver.New(resolver.Config{Upstreams: []string{dns.Addr}, CacheSize: -1})
		now := time.Now()
		var clockMu sync.Mutex
		clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
		advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
		newCache := func() *mtasts.Cache {
			return mtasts.New(mtasts.Config{Resolver: res, Store: mtasts.DBStore{DB: d}, RootCAs: ca.Pool(), Now: clock, RetryFailed: time.Minute,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
					var dd net.Dialer
					return dd.DialContext(ctx, "tcp", ps.addr)
				}})
		}
		c := newCache()

		p, err := c.Policy(ctx, "good.example.test")
		if err != nil || p == nil || p.Mode != mtasts.ModeEnforce || !p.Matches("mx.good.example.test") {
			t.Fatalf("good: %+v %v", p, err)
		}
		// Held: the same id is not fetched again.
		n := ps.count()
		if p, _ := c.Policy(ctx, "good.example.test"); p == nil || ps.count() != n {
			t.Fatalf("refetched an unchanged policy (%d fetches)", ps.count()-n)
		}
		// Refused: too large, a redirect, a certificate for another name, two records, no record.
		for _, domain := range []string{"big.example.test", "moved.example.test", "badcert.example.test", "two.example.test", "other.example.test", "nothing.example.test"} {
			if p, err := c.Policy(ctx, domain); p != nil || err != nil {
				t.Errorf("%s: %+v %v, want no policy", domain, p, err)
			}
		}
		if _, err := c.Fetch(ctx, "big.example.test"); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("big: %v", err)
		}
		if _, err := c.Fetch(ctx, "moved.example.test"); err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("moved: %v", err)
		}
		if _, err := c.Fetch(ctx, "badcert.example.test"); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("badcert: %v", err)
		}
		ps.mu.Lock()
		ps.ctype = "text/html"
		ps.mu.Unlock()
		if _, err := c.Fetch(ctx, "good.example.test"); err == nil || !strings.Contains(err.Error(), "text/plain") {
			t.Errorf("text/html: %v", err)
		}
		ps.mu.Lock()
		ps.ctype = "text/plain"
		ps.mu.Unlock()

		// A new cache (a restart, another node) finds the policy in the database, even with
		// the record gone and the server down.
		ps.set("mta-sts.good.example.test", "")
		c2 := newCache()
		n = ps.count()
		if p, _ := c2.Policy(ctx, "good.example.test"); p == nil || p.Mode != mtasts.ModeEnforce || ps.count() != n {
			t.Fatalf("after restart: %+v, %d fetches", p, ps.count()-n)
		}
		// A changed id makes it fetched again: now testing mode.
		ps.set("mta-sts.good.example.test", strings.Replace(enforce, "enforce", "testing", 1))
		dns2 := dnstest.Start(t, strings.Replace(zone, "good.example.test.   1 IN TXT \"v=STSv1; id=1;\"", "good.example.test.   1 IN TXT \"v=STSv1; id=2;\"", 1))
		c3 := mtasts.New(mtasts.Config{Resolver: resolver.New(resolver.Config{Upstreams: []string{dns2.Addr}, CacheSize: -1}), Store: mtasts.DBStore{DB: d},
			RootCAs: ca.Pool(), Now: clock, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var dd net.Dialer
				return dd.DialContext(ctx, "tcp", ps.addr)
			}})
		if p, _ := c3.Policy(ctx, "good.example.test"); p == nil || p.Mode != mtasts.ModeTesting {
			t.Fatalf("after the id changed: %+v", p)
		}
		// After max_age, with no record and no server, the policy is gone.
		advance(86401 * time.Second)
		if p, _ := newCache().Policy(ctx, "nothing.example.test"); p != nil {
			t.Fatalf("policy for a domain without one: %+v", p)
		}
		ps.set("mta-sts.good.example.test", "")
		c4 := mtasts.New(mtasts.Config{Resolver: resolver.New(resolver.Config{Upstreams: []string{"127.0.0.1:9"}, Timeout: 100 * time.Millisecond, Attempts: 1}),
			Store: mtasts.DBStore{DB: d}, RootCAs: ca.Pool(), Now: clock})
		if p, _ := c4.Policy(ctx, "good.example.test"); p != nil {
			t.Fatalf("expired policy still applied: %+v", p)
		}
	})
}
