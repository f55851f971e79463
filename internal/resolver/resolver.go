package resolver

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// Errors returned by look-ups, wrapped with the name and type asked; test
// them with errors.Is.
var (
	// ErrNotFound means the name does not exist (NXDOMAIN).
	ErrNotFound = errors.New("resolver: no such domain")
	// ErrNoData means the name exists but has no records of the type asked
	// (NOERROR with an empty answer).
	ErrNoData = errors.New("resolver: no records of the requested type")
	// ErrTemporary means no definite answer could be had: SERVFAIL or
	// REFUSED from every upstream, timeouts, network errors, a cancelled
	// context. Asking again later may succeed.
	ErrTemporary = errors.New("resolver: temporary failure")
	// ErrInvalidName means the name asked is not a valid DNS name.
	ErrInvalidName = errors.New("resolver: invalid domain name")
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTimeout     = 2 * time.Second
	DefaultAttempts    = 2
	DefaultMaxTTL      = 24 * time.Hour
	DefaultNegativeTTL = time.Hour
	DefaultCacheSize   = 10000

	// maxCNAME bounds the CNAME chain followed for one look-up.
	maxCNAME = 8
	// udpSize is the EDNS0 buffer size advertised (DNS flag day 2020).
	udpSize = 1232
)

// Config configures a Resolver. The zero value is usable.
type Config struct {
	// Upstreams are the recursive servers asked, as "host" or "host:port",
	// tried in order. Empty means the nameservers of /etc/resolv.conf, or
	// 127.0.0.1 and ::1 when that file lists none.
	Upstreams []string
	// Timeout bounds one exchange with one upstream (default 2 s).
	Timeout time.Duration
	// Attempts is how many times the whole upstream list is tried before a
	// temporary failure is returned (default 2).
	Attempts int
	// MinTTL raises the cache lifetime of positive answers with shorter TTLs
	// (default 0: TTLs are respected, and a TTL of 0 is not cached).
	MinTTL time.Duration
	// MaxTTL caps the cache lifetime of positive answers (default 24 h).
	MaxTTL time.Duration
	// NegativeTTL caps the cache lifetime of NXDOMAIN and NODATA answers,
	// which is otherwise the lesser of the SOA record's TTL and its MINIMUM
	// field (RFC 2308 §5); negative answers without a SOA are not cached
	// (default 1 h).
	NegativeTTL time.Duration
	// CacheSize is the maximum number of cached answers, evicted least
	// recently used first (default 10000). A negative value disables the
	// cache.
	CacheSize int
	// Logger receives debug records of upstream failures (default: none).
	Logger *slog.Logger
	// Now is the clock used for cache expiry (default time.Now).
	Now func() time.Time
}

// Result describes how an answer was obtained.
type Result struct {
	// Authentic reports that every response used for the answer carried the
	// AD bit: the upstream validated it with DNSSEC.
	Authentic bool
	// TTL is how long the answer remains valid (the remaining cache lifetime
	// for an answer served from the cache).
	TTL time.Duration
	// Cached reports that the answer came from the cache without an upstream
	// exchange.
	Cached bool
}

// MX is one mail exchanger. Host has no trailing dot; a null MX (RFC 7505)
// is returned as Host ".".
type MX struct {
	Host string
	Pref uint16
}

// TLSA is one TLSA record (RFC 6698).
type TLSA struct {
	Usage        uint8
	Selector     uint8
	MatchingType uint8
	Data         []byte
}

// Stats are counters since the Resolver was created.
type Stats struct {
	Lookups      uint64 // questions asked of the cache (CNAME targets included)
	CacheHits    uint64 // answered from the cache, positive or negative
	NegativeHits uint64 // cache hits that were NXDOMAIN or NODATA
	Shared       uint64 // questions that waited for an identical one in flight
	Exchanges    uint64 // queries sent upstream, UDP and TCP
	TCPFallbacks uint64 // truncated UDP answers retried over TCP
	Timeouts     uint64 // exchanges that timed out
	ServFails    uint64 // SERVFAIL, REFUSED and other failure rcodes received
	Temporary    uint64 // questions that ended in ErrTemporary
	Authentic    uint64 // upstream answers carrying the AD bit (validated with DNSSEC)
	Evictions    uint64 // cache entries evicted to make room
	Entries      int    // cache entries now
}

// Resolver is a caching DNS stub resolver, safe for concurrent use.
type Resolver struct {
	upstreams   []string
	timeout     time.Duration
	attempts    int
	minTTL      time.Duration
	maxTTL      time.Duration
	negativeTTL time.Duration
	log         *slog.Logger
	now         func() time.Time
	udp         *dns.Client
	tcp         *dns.Client
	cache       *cache
	flight      singleflight.Group
	stats       counters
}

type counters struct {
	lookups, cacheHits, negativeHits, shared    atomic.Uint64
	exchanges, tcpFallbacks, timeouts, servFail atomic.Uint64
	temporary, authentic                        atomic.Uint64
}

// New returns a Resolver for cfg, applying the defaults documented on
// Config.
func New(cfg Config) *Resolver {
	r := &Resolver{
		timeout:     cfg.Timeout,
		attempts:    cfg.Attempts,
		minTTL:      cfg.MinTTL,
		maxTTL:      cfg.MaxTTL,
		negativeTTL: cfg.NegativeTTL,
		log:         cfg.Logger,
		now:         cfg.Now,
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.attempts <= 0 {
		r.attempts = DefaultAttempts
	}
	if r.maxTTL <= 0 {
		r.maxTTL = DefaultMaxTTL
	}
	if r.negativeTTL <= 0 {
		r.negativeTTL = DefaultNegativeTTL
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	upstreams := cfg.Upstreams
	if len(upstreams) == 0 {
		upstreams = SystemUpstreams("/etc/resolv.conf")
	}
	for _, u := range upstreams {
		r.upstreams = append(r.upstreams, withPort(u))
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	r.cache = newCache(size)
	r.udp = &dns.Client{Net: "udp", Timeout: r.timeout, UDPSize: udpSize}
	r.tcp = &dns.Client{Net: "tcp", Timeout: r.timeout}
	return r
}

// SystemUpstreams returns the nameservers listed in the resolv.conf file at
// path, as "host:port", or 127.0.0.1:53 and [::1]:53 when the file cannot be
// read or lists none (as the Go standard library does).
func SystemUpstreams(path string) []string {
	if cc, err := dns.ClientConfigFromFile(path); err == nil && len(cc.Servers) > 0 {
		port := cc.Port
		if port == "" {
			port = "53"
		}
		out := make([]string, 0, len(cc.Servers))
		for _, s := range cc.Servers {
			out = append(out, net.JoinHostPort(s, port))
		}
		return out
	}
	return []string{"127.0.0.1:53", "[::1]:53"}
}

// withPort adds port 53 to an upstream given without one.
func withPort(s string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	return net.JoinHostPort(strings.Trim(s, "[]"), "53")
}

// Upstreams returns the servers the Resolver asks, as "host:port".
func (r *Resolver) Upstreams() []string {
	return append([]string(nil), r.upstreams...)
}

// Stats returns the counters.
func (r *Resolver) Stats() Stats {
	s := &r.stats
	evictions, entries := r.cache.stats()
	return Stats{
		Lookups:      s.lookups.Load(),
		CacheHits:    s.cacheHits.Load(),
		NegativeHits: s.negativeHits.Load(),
		Shared:       s.shared.Load(),
		Exchanges:    s.exchanges.Load(),
		TCPFallbacks: s.tcpFallbacks.Load(),
		Timeouts:     s.timeouts.Load(),
		ServFails:    s.servFail.Load(),
		Temporary:    s.temporary.Load(),
		Authentic:    s.authentic.Load(),
		Evictions:    evictions,
		Entries:      entries,
	}
}

// FlushCache empties the cache.
func (r *Resolver) FlushCache() { r.cache.flush() }

// LookupMX returns the MX records of domain sorted by preference (records of
// equal preference keep the order of the answer; callers that spread load
// shuffle them).
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]MX, Result, error) {
	rrs, res, err := r.resolve(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, res, err
	}
	out := make([]MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, MX{Host: trimDot(mx.Mx), Pref: mx.Preference})
	}
	sortMX(out)
	return out, res, nil
}

func sortMX(mxs []MX) {
	// Insertion sort: stable, and MX sets are small.
	for i := 1; i < len(mxs); i++ {
		for j := i; j > 0 && mxs[j].Pref < mxs[j-1].Pref; j-- {
			mxs[j], mxs[j-1] = mxs[j-1], mxs[j]
		}
	}
}

// LookupA returns the IPv4 addresses of host.
func (r *Resolver) LookupA(ctx context.Context, host string) ([]netip.Addr, Result, error) {
	return r.lookupAddr(ctx, host, dns.TypeA)
}

// LookupAAAA returns the IPv6 addresses of host.
func (r *Resolver) LookupAAAA(ctx context.Context, host string) ([]netip.Addr, Result, error) {
	return r.lookupAddr(ctx, host, dns.TypeAAAA)
}

func (r *Resolver) lookupAddr(ctx context.Context, host string, qtype uint16) ([]netip.Addr, Result, error) {
	rrs, res, err := r.resolve(ctx, host, qtype)
	if err != nil {
		return nil, res, err
	}
	out := make([]netip.Addr, 0, len(rrs))
	for _, rr := range rrs {
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			if qtype == dns.TypeA {
				a = a.Unmap()
			}
			out = append(out, a)
		}
	}
	return out, res, nil
}

// LookupIP returns the IPv4 and then the IPv6 addresses of host, asking for
// both at once. It succeeds when either family has addresses; otherwise the
// error is ErrTemporary if either look-up failed temporarily, ErrNotFound if
// the name does not exist, and ErrNoData if it has no addresses. Authentic
// holds only when both answers were authenticated.
func (r *Resolver) LookupIP(ctx context.Context, host string) ([]netip.Addr, Result, error) {
	type answer struct {
		addrs []netip.Addr
		res   Result
		err   error
	}
	ch := make(chan answer, 1)
	go func() {
		addrs, res, err := r.LookupAAAA(ctx, host)
		ch <- answer{addrs, res, err}
	}()
	v4, res4, err4 := r.LookupA(ctx, host)
	v6 := <-ch
	res := Result{
		Authentic: res4.Authentic && v6.res.Authentic,
		TTL:       min(res4.TTL, v6.res.TTL),
		Cached:    res4.Cached && v6.res.Cached,
	}
	if addrs := append(v4, v6.addrs...); len(addrs) > 0 {
		return addrs, res, nil
	}
	for _, err := range []error{err4, v6.err} {
		if errors.Is(err, ErrTemporary) || errors.Is(err, ErrInvalidName) {
			return nil, res, err
		}
	}
	if errors.Is(err4, ErrNotFound) {
		return nil, res, err4
	}
	if errors.Is(v6.err, ErrNotFound) {
		return nil, res, v6.err
	}
	if err4 == nil {
		err4 = fmt.Errorf("resolver: A/AAAA %s: %w", host, ErrNoData)
	}
	return nil, res, err4
}

// LookupTXT returns the TXT records of name, the strings of each record
// concatenated (as SPF, DKIM and DMARC require).
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, Result, error) {
	rrs, res, err := r.resolve(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, res, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, res, nil
}

// LookupTLSA returns the TLSA records at _port._proto.host, for example
// LookupTLSA(ctx, 25, "tcp", "mx.example.org"). Result.Authentic tells
// whether they may be used for DANE (RFC 7672).
func (r *Resolver) LookupTLSA(ctx context.Context, port int, proto, host string) ([]TLSA, Result, error) {
	if port < 0 || port > 65535 || proto == "" {
		return nil, Result{}, fmt.Errorf("resolver: TLSA port %d proto %q: %w", port, proto, ErrInvalidName)
	}
	name := "_" + strconv.Itoa(port) + "._" + proto + "." + host
	rrs, res, err := r.resolve(ctx, name, dns.TypeTLSA)
	if err != nil {
		return nil, res, err
	}
	out := make([]TLSA, 0, len(rrs))
	for _, rr := range rrs {
		t := rr.(*dns.TLSA)
		data, err := hex.DecodeString(t.Certificate)
		if err != nil {
			continue // unusable record (RFC 7672 §2.2: ignored)
		}
		out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
	}
	if len(out) == 0 {
		return nil, res, fmt.Errorf("resolver: TLSA %s: %w", name, ErrNoData)
	}
	return out, res, nil
}

// LookupPTR returns the names of addr (PTR records under in-addr.arpa or
// ip6.arpa), without trailing dots.
func (r *Resolver) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, Result, error) {
	if !addr.IsValid() {
		return nil, Result{}, fmt.Errorf("resolver: PTR of invalid address: %w", ErrInvalidName)
	}
	name, err := dns.ReverseAddr(addr.Unmap().String())
	if err != nil {
		return nil, Result{}, fmt.Errorf("resolver: PTR %s: %w", addr, ErrInvalidName)
	}
	rrs, res, err := r.resolve(ctx, name, dns.TypePTR)
	if err != nil {
		return nil, res, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, trimDot(rr.(*dns.PTR).Ptr))
	}
	return out, res, nil
}

// LookupDNSBL asks whether addr is listed in the DNS block list zone (for
// example "zen.spamhaus.org"): it looks up the A records of the reversed
// address under zone. A listed address returns the codes (usually
// 127.0.0.x); an address not listed returns no codes and a nil error.
func (r *Resolver) LookupDNSBL(ctx context.Context, zone string, addr netip.Addr) ([]netip.Addr, Result, error) {
	name, err := DNSBLName(zone, addr)
	if err != nil {
		return nil, Result{}, err
	}
	codes, res, err := r.LookupA(ctx, name)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoData) {
		return nil, res, nil
	}
	return codes, res, err
}

// DNSBLName returns the name looked up in zone for addr: the octets of an
// IPv4 address or the nibbles of an IPv6 address in reverse order, then zone.
func DNSBLName(zone string, addr netip.Addr) (string, error) {
	if !addr.IsValid() {
		return "", fmt.Errorf("resolver: DNSBL of invalid address: %w", ErrInvalidName)
	}
	rev, err := dns.ReverseAddr(addr.Unmap().String())
	if err != nil {
		return "", fmt.Errorf("resolver: DNSBL %s: %w", addr, ErrInvalidName)
	}
	rev = strings.TrimSuffix(rev, "in-addr.arpa.")
	rev = strings.TrimSuffix(rev, "ip6.arpa.")
	return rev + strings.TrimSuffix(zone, "."), nil
}

// resolve answers (name, qtype), following CNAME chains across queries when
// an answer ends at an alias whose records it does not hold.
func (r *Resolver) resolve(ctx context.Context, name string, qtype uint16) ([]dns.RR, Result, error) {
	qname, err := normalizeName(name)
	if err != nil {
		return nil, Result{}, fmt.Errorf("resolver: %s %q: %w", dns.TypeToString[qtype], name, err)
	}
	res := Result{Authentic: true, TTL: r.maxTTL, Cached: true}
	target := qname
	for range maxCNAME {
		a, cached, err := r.query(ctx, target, qtype)
		if err != nil {
			return nil, Result{}, err
		}
		res.Authentic = res.Authentic && a.authentic
		res.Cached = res.Cached && cached
		res.TTL = min(res.TTL, max(a.expires.Sub(r.now()), 0))
		if a.rcode == dns.RcodeNameError {
			return nil, res, fmt.Errorf("resolver: %s %s: %w", dns.TypeToString[qtype], qname, ErrNotFound)
		}
		rrs, end := follow(a.rrs, target, qtype)
		if len(rrs) > 0 {
			return rrs, res, nil
		}
		if end == target {
			return nil, res, fmt.Errorf("resolver: %s %s: %w", dns.TypeToString[qtype], qname, ErrNoData)
		}
		target = end
	}
	return nil, Result{}, fmt.Errorf("resolver: %s %s: CNAME chain longer than %d: %w", dns.TypeToString[qtype], qname, maxCNAME, ErrTemporary)
}

// follow walks the CNAME chain from name within rrs and returns the records
// of qtype owned by the end of the chain, and that end.
func follow(rrs []dns.RR, name string, qtype uint16) ([]dns.RR, string) {
	for range maxCNAME {
		next := ""
		var out []dns.RR
		for _, rr := range rrs {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			if h.Rrtype == qtype {
				out = append(out, rr)
			} else if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
				next = strings.ToLower(c.Target)
			}
		}
		if len(out) > 0 || next == "" {
			return out, name
		}
		name = next
	}
	return nil, name
}

func trimDot(s string) string {
	if s == "." {
		return s
	}
	return strings.TrimSuffix(s, ".")
}
