package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func newTestResolver(t *testing.T, s *testServer, cfg Config) *Resolver {
	t.Helper()
	if cfg.Upstreams == nil {
		cfg.Upstreams = []string{s.addr}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	return New(cfg)
}

func TestLookups(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	tests := []struct {
		name      string
		lookup    func(*Resolver) (any, Result, error)
		want      any
		wantErr   error
		authentic bool
	}{
		{
			name: "MX sorted by preference, stable",
			lookup: func(r *Resolver) (any, Result, error) {
				return call(r.LookupMX(ctx, "example.test"))
			},
			want: []MX{{"mx1.example.test", 10}, {"mx2.example.test", 20}, {"mx3.example.test", 20}},
		},
		{
			name:   "null MX",
			lookup: func(r *Resolver) (any, Result, error) { return call(r.LookupMX(ctx, "nullmx.example.test.")) },
			want:   []MX{{".", 0}},
		},
		{
			name:   "A",
			lookup: func(r *Resolver) (any, Result, error) { return call(r.LookupA(ctx, "MX1.Example.Test")) },
			want:   addrs("192.0.2.1"),
		},
		{
			name:   "AAAA",
			lookup: func(r *Resolver) (any, Result, error) { return call(r.LookupAAAA(ctx, "mx1.example.test")) },
			want:   addrs("2001:db8::1"),
		},
		{
			name:   "IP both families",
			lookup: func(r *Resolver) (any, Result, error) { return call(r.LookupIP(ctx, "mx1.example.test")) },
			want:   addrs("192.0.2.1", "2001:db8::1"),
		},
		{
			name:   "IP IPv6 only",
			lookup: func(r *Resolver) (any, Result, error) { return call(r.LookupIP(ctx, "v6only.example.test")) },
			want:   addrs("2001:db8::6"),
		},
		{
			name:    "IP of missing name",
			lookup:  func(r *Resolver) (any, Result, error) { return call(r.LookupIP(ctx, "missing.example.test")) },
			wantErr: ErrNotFound,
		},
		{
			name:    "IP of name without addresses",
			lookup:  func(r *Resolver) (any, Result, error) { return call(r.LookupIP(ctx, "txt.example.test")) },
			wantErr: ErrNoData,
		},
		{
			name:   "TXT strings joined per record",
			lookup: func(r *Resolver) (any, Result, error) { return call(r.LookupTXT(ctx, "txt.example.test")) },
			want:   []string{"v=spf1 ip4:192.0.2.0/24 -all", "second record"},
		},
		{
			name: "TLSA",
			lookup: func(r *Resolver) (any, Result, error) {
				return call(r.LookupTLSA(ctx, 25, "tcp", "mx1.example.test"))
			},
			want: []TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{10, 11, 12, 13}}},
		},
		{
			name: "PTR IPv4",
			lookup: func(r *Resolver) (any, Result, error) {
				return call(r.LookupPTR(ctx, netip.MustParseAddr("192.0.2.1")))
			},
			want: []string{"mx1.example.test"},
		},
		{
			name: "PTR IPv6",
			lookup: func(r *Resolver) (any, Result, error) {
				return call(r.LookupPTR(ctx, netip.MustParseAddr("2001:db8::1")))
			},
			want: []string{"mx1.example.test"},
		},
		{
			name: "PTR IPv4-mapped IPv6",
			lookup: func(r *Resolver) (any, Result, error) {
				return call(r.LookupPTR(ctx, netip.MustParseAddr("::ffff:192.0.2.1")))
			},
			want: []string{"mx1.example.test"},
		},
		{
			name:   "CNAME chain in one answer",
			lookup: func(r *Resolver) (any, Result, error) { return call(r.LookupA(ctx, "alias1.example.test")) },
			want:   addrs("192.0.2.1"),
		},
		{
			name:   "CNAME target asked separately",
			lookup: func(r *Resolver) (any, Result, error) { return call(r.LookupA(ctx, "outside.example.test")) },
			want:   addrs("192.0.2.9"),
		},
		{
			name:    "NXDOMAIN",
			lookup:  func(r *Resolver) (any, Result, error) { return call(r.LookupMX(ctx, "missing.example.test")) },
			wantErr: ErrNotFound,
		},
		{
			name:    "NODATA",
			lookup:  func(r *Resolver) (any, Result, error) { return call(r.LookupMX(ctx, "mx1.example.test")) },
			wantErr: ErrNoData,
		},
		{
			name:    "SERVFAIL",
			lookup:  func(r *Resolver) (any, Result, error) { return call(r.LookupA(ctx, "servfail.example.test")) },
			wantErr: ErrTemporary,
		},
		{
			name:   "truncated over UDP, answered over TCP",
			lookup: func(r *Resolver) (any, Result, error) { return call(r.LookupTXT(ctx, "big.example.test")) },
			want:   []string{"a long answer that does not fit"},
		},
		{
			name:      "authenticated answer",
			lookup:    func(r *Resolver) (any, Result, error) { return call(r.LookupA(ctx, "signed.example.test")) },
			want:      addrs("192.0.2.10"),
			authentic: true,
		},
		{
			name:   "U-label converted to A-label",
			lookup: func(r *Resolver) (any, Result, error) { return call(r.LookupA(ctx, "bücher.example.test")) },
			want:   addrs("192.0.2.11"),
		},
		{
			name:   "A-label accepted",
			lookup: func(r *Resolver) (any, Result, error) { return call(r.LookupA(ctx, "xn--bcher-kva.example.test")) },
			want:   addrs("192.0.2.11"),
		},
		{
			name: "DNSBL listed",
			lookup: func(r *Resolver) (any, Result, error) {
				return call(r.LookupDNSBL(ctx, "bl.example.test", netip.MustParseAddr("127.0.0.2")))
			},
			want: addrs("127.0.0.2"),
		},
		{
			name: "DNSBL not listed",
			lookup: func(r *Resolver) (any, Result, error) {
				return call(r.LookupDNSBL(ctx, "bl.example.test", netip.MustParseAddr("127.0.0.3")))
			},
			want: []netip.Addr(nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestResolver(t, s, Config{})
			got, res, err := tt.lookup(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if res.Authentic != tt.authentic {
				t.Errorf("Authentic = %v, want %v", res.Authentic, tt.authentic)
			}
			if n := r.Stats().Authentic; (n > 0) != tt.authentic {
				t.Errorf("Stats().Authentic = %d, want %d", n, map[bool]int{true: 1}[tt.authentic])
			}
			if res.Cached {
				t.Error("first answer reported as cached")
			}
		})
	}
}

// call turns the three results of a look-up into (any, Result, error).
func call[T any](v T, res Result, err error) (any, Result, error) { return v, res, err }

func TestInvalidNames(t *testing.T) {
	s := newTestServer(t)
	r := newTestResolver(t, s, Config{})
	ctx := context.Background()
	for _, name := range []string{
		"",
		".",
		"a..example.test",
		"with space.example.test",
		"back\\slash.example.test",
		"xn--zz-.example.test",
		strings.Repeat("a", 64) + ".example.test",
		"a\x01.example.test",
		"xn--.example.test",
		"xn--abc.example.test",
		"xn--bcher-kva-.example.test",
		"ab\u200d.example.test",
	} {
		if _, _, err := r.LookupA(ctx, name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("LookupA(%q) err = %v, want ErrInvalidName", name, err)
		}
	}
	long := ""
	for range 5 {
		long += "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij."
	}
	long += "example"
	if _, _, err := r.LookupA(ctx, long); !errors.Is(err, ErrInvalidName) {
		t.Errorf("name of %d octets: err = %v, want ErrInvalidName", len(long), err)
	}
	if _, _, err := r.LookupTLSA(ctx, 70000, "tcp", "mx1.example.test"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("TLSA port 70000: err = %v", err)
	}
	if got := s.count("", 0, ""); got != 0 {
		t.Errorf("%d queries sent for invalid names", got)
	}
}

func TestTCPFallback(t *testing.T) {
	s := newTestServer(t)
	r := newTestResolver(t, s, Config{})
	if _, _, err := r.LookupTXT(context.Background(), "big.example.test"); err != nil {
		t.Fatal(err)
	}
	if u, c := s.count("big.example.test", dns.TypeTXT, "udp"), s.count("big.example.test", dns.TypeTXT, "tcp"); u != 1 || c != 1 {
		t.Errorf("queries: %d over UDP, %d over TCP; want 1 and 1", u, c)
	}
	if st := r.Stats(); st.TCPFallbacks != 1 || st.Exchanges != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestCache(t *testing.T) {
	tests := []struct {
		name    string
		host    string
		qtype   uint16
		ttl     time.Duration // expected lifetime of the cached answer
		wantErr error
	}{
		{"positive", "mx2.example.test", dns.TypeA, 60 * time.Second, nil},
		{"CNAME chain takes the least TTL", "alias1.example.test", dns.TypeA, 120 * time.Second, nil},
		{"NXDOMAIN uses SOA minimum", "missing.example.test", dns.TypeA, 300 * time.Second, ErrNotFound},
		{"NODATA uses SOA minimum", "txt.example.test", dns.TypeA, 300 * time.Second, ErrNoData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			clk := newClock()
			r := newTestResolver(t, s, Config{Now: clk.Now})
			ctx := context.Background()

			_, res, err := r.LookupA(ctx, tt.host)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if res.TTL != tt.ttl || res.Cached {
				t.Fatalf("first result = %+v, want TTL %v", res, tt.ttl)
			}
			clk.Advance(tt.ttl - time.Second)
			_, res, err = r.LookupA(ctx, tt.host)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("cached err = %v, want %v", err, tt.wantErr)
			}
			if !res.Cached || res.TTL != time.Second {
				t.Errorf("cached result = %+v, want cached with 1s left", res)
			}
			if n := s.count(tt.host, dns.TypeA, ""); n != 1 {
				t.Errorf("%d upstream queries before expiry, want 1", n)
			}
			clk.Advance(time.Second)
			if _, res, err = r.LookupA(ctx, tt.host); !errors.Is(err, tt.wantErr) || res.Cached {
				t.Fatalf("after expiry: %+v, %v", res, err)
			}
			if n := s.count(tt.host, dns.TypeA, ""); n != 2 {
				t.Errorf("%d upstream queries after expiry, want 2", n)
			}
			st := r.Stats()
			if st.CacheHits != 1 {
				t.Errorf("CacheHits = %d, want 1", st.CacheHits)
			}
			if wantNeg := uint64(0); tt.wantErr != nil && st.NegativeHits != 1 || tt.wantErr == nil && st.NegativeHits != wantNeg {
				t.Errorf("NegativeHits = %d", st.NegativeHits)
			}
		})
	}
}

func TestTTLBounds(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  Config
		host string
		want time.Duration
	}{
		{"MinTTL raises", Config{MinTTL: 30 * time.Second}, "short.example.test", 30 * time.Second},
		{"MaxTTL caps", Config{MaxTTL: time.Hour}, "long.example.test", time.Hour},
		{"default MaxTTL", Config{}, "long.example.test", DefaultMaxTTL},
		{"NegativeTTL caps", Config{NegativeTTL: time.Minute}, "missing.example.test", time.Minute},
		{"negative without SOA not cached", Config{}, "nosoa.example.test", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Now = newClock().Now
			r := newTestResolver(t, s, tt.cfg)
			_, res, _ := r.LookupA(ctx, tt.host)
			if res.TTL != tt.want {
				t.Errorf("TTL = %v, want %v", res.TTL, tt.want)
			}
			if got, want := r.Stats().Entries, 1; tt.want == 0 && got != 0 || tt.want > 0 && got != want {
				t.Errorf("cache entries = %d", got)
			}
		})
	}
}

func TestSingleflight(t *testing.T) {
	s := newTestServer(t)
	r := newTestResolver(t, s, Config{})
	ctx := context.Background()
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			addrs, _, err := r.LookupA(ctx, "slow.example.test")
			if err == nil && (len(addrs) != 1 || addrs[0] != netip.MustParseAddr("192.0.2.14")) {
				err = errors.New("wrong answer")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := s.count("slow.example.test", dns.TypeA, ""); got != 1 {
		t.Errorf("%d upstream queries for %d concurrent look-ups, want 1", got, n)
	}
	if st := r.Stats(); st.Shared+st.CacheHits != n-1 || st.Exchanges != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTimeout(t *testing.T) {
	s := newTestServer(t)
	r := newTestResolver(t, s, Config{Timeout: 100 * time.Millisecond, Attempts: 2})
	start := time.Now()
	_, _, err := r.LookupA(context.Background(), "drop.example.test")
	if !errors.Is(err, ErrTemporary) {
		t.Fatalf("err = %v, want ErrTemporary", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v", elapsed)
	}
	if n := s.count("drop.example.test", dns.TypeA, ""); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
	if st := r.Stats(); st.Timeouts != 2 || st.Temporary != 1 {
		t.Errorf("stats = %+v", st)
	}
	// Temporary failures are not cached.
	if _, res, _ := r.LookupA(context.Background(), "drop.example.test"); res.Cached || r.Stats().Entries != 0 {
		t.Error("temporary failure cached")
	}
}

func TestContextCancelled(t *testing.T) {
	s := newTestServer(t)
	r := newTestResolver(t, s, Config{Timeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := r.LookupA(ctx, "drop.example.test")
	if !errors.Is(err, ErrTemporary) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTemporary and DeadlineExceeded", err)
	}
}

func TestUpstreamFailover(t *testing.T) {
	good := newTestServer(t)
	bad := newTestServer(t, func(s *testServer) {
		s.servfail = map[string]bool{"mx1.example.test.": true}
	})
	// A closed port: UDP gets "connection refused" or times out.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()

	r := New(Config{Upstreams: []string{dead, bad.addr, good.addr}, Timeout: 200 * time.Millisecond})
	addrs, _, err := r.LookupA(context.Background(), "mx1.example.test")
	if err != nil || len(addrs) != 1 {
		t.Fatalf("got %v, %v", addrs, err)
	}
	if st := r.Stats(); st.ServFails != 1 || st.Exchanges != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestEviction(t *testing.T) {
	s := newTestServer(t)
	r := newTestResolver(t, s, Config{CacheSize: 2})
	ctx := context.Background()
	for _, h := range []string{"mx1.example.test", "mx2.example.test", "mx1.example.test", "target.example.test"} {
		if _, _, err := r.LookupA(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	// mx2 was least recently used when target was added.
	if st := r.Stats(); st.Entries != 2 || st.Evictions != 1 {
		t.Errorf("stats = %+v", st)
	}
	if _, res, _ := r.LookupA(ctx, "mx1.example.test"); !res.Cached {
		t.Error("mx1 evicted")
	}
	if _, res, _ := r.LookupA(ctx, "mx2.example.test"); res.Cached {
		t.Error("mx2 not evicted")
	}

	r = newTestResolver(t, s, Config{CacheSize: -1})
	r.LookupA(ctx, "mx1.example.test")
	if _, res, _ := r.LookupA(ctx, "mx1.example.test"); res.Cached {
		t.Error("cached with the cache disabled")
	}
}

func TestSystemUpstreams(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, conf string
		want       []string
	}{
		{"servers", "search example.test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n", []string{"192.0.2.53:53", "[2001:db8::53]:53"}},
		{"none listed", "search example.test\n", []string{"127.0.0.1:53", "[::1]:53"}},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, []byte(tt.conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := SystemUpstreams(path); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := SystemUpstreams(filepath.Join(dir, "missing")); len(got) != 2 {
		t.Errorf("missing file: %v", got)
	}
	if got := New(Config{Upstreams: []string{"192.0.2.1", "[2001:db8::1]:5353", "2001:db8::2"}}).Upstreams(); !reflect.DeepEqual(got, []string{"192.0.2.1:53", "[2001:db8::1]:5353", "[2001:db8::2]:53"}) {
		t.Errorf("Upstreams = %v", got)
	}
}

func TestDNSBLName(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.99", "99.2.0.192.bl.example"},
		{"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example"},
	}
	for _, tt := range tests {
		got, err := DNSBLName("bl.example.", netip.MustParseAddr(tt.addr))
		if err != nil || got != tt.want {
			t.Errorf("DNSBLName(%s) = %q, %v; want %q", tt.addr, got, err, tt.want)
		}
	}
}
