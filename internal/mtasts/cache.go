package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/postamail/posta/internal/resolver"
)

// Resolver looks up the TXT record and the policy host's addresses (internal/resolver).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, resolver.Result, error)
	LookupIP(ctx context.Context, host string) ([]netip.Addr, resolver.Result, error)
}

// Stored is a policy as kept: the id of the TXT record it was fetched for and when it
// expires.
type Stored struct {
	ID        string
	Policy    *Policy
	FetchedAt time.Time
	Expires   time.Time
}

// Store keeps policies across restarts and nodes (DBStore).
type Store interface {
	Load(ctx context.Context, domain string) (*Stored, error) // nil, nil when none
	Save(ctx context.Context, domain string, s *Stored) error
}

// Config configures a Cache.
type Config struct {
	Resolver Resolver
	// Store keeps policies beyond the process (nil: memory only).
	Store Store
	// RootCAs verify the policy host's certificate (nil: the system's roots).
	RootCAs *x509.CertPool
	// Dial connects to the policy host; addr is "mta-sts.<domain>:443". Nil dials the
	// addresses the Resolver gives.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Timeout bounds one policy fetch (default 30 s).
	Timeout time.Duration
	// RetryFailed is how long a failed fetch is not tried again (default 5 minutes).
	RetryFailed time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Cache finds the MTA-STS policy of a domain, safe for concurrent use.
type Cache struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger

	mu     sync.Mutex
	mem    map[string]*Stored
	failed map[string]time.Time // domain → when a fetch may be tried again
	absent map[string]time.Time // domain → when the store had no policy for it
}

// New returns a cache.
func New(cfg Config) *Cache {
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.RetryFailed == 0 {
		cfg.RetryFailed = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Cache{cfg: cfg, log: cfg.Logger, mem: map[string]*Stored{}, failed: map[string]time.Time{}, absent: map[string]time.Time{}}
	dial := cfg.Dial
	if dial == nil {
		dial = c.dialResolved
	}
	c.client = &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			DialContext:           dial,
			TLSClientConfig:       &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   cfg.Timeout,
			ResponseHeaderTimeout: cfg.Timeout,
			MaxIdleConns:          16,
			IdleConnTimeout:       30 * time.Second,
			DisableCompression:    true,
			Proxy:                 nil,
		},
		// RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed".
		CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("redirect refused (RFC 8461 §3.3)") },
	}
	return c
}

// dialResolved connects to the policy host at the addresses our resolver gives.
func (c *Cache) dialResolved(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	addrs, _, err := c.cfg.Resolver.LookupIP(ctx, host)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	var last error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		last = err
	}
	return nil, last
}

// Policy returns the policy that applies to mail for domain now, or nil when there is none
// (no record and nothing cached, or a policy of mode none). A failure to find or fetch a
// policy is never an error: RFC 8461 §5 keeps using a cached policy, and without one the
// domain has none. The error is returned only for a cancelled context.
func (c *Cache) Policy(ctx context.Context, domain string) (*Policy, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	now := c.cfg.Now()
	cached := c.cached(ctx, domain, now)
	id, err := c.recordID(ctx, domain)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	switch {
	case err != nil:
		// No record (or none readable): the cached policy, if any, still holds.
		if !errors.Is(err, resolver.ErrNotFound) && !errors.Is(err, resolver.ErrNoData) {
			c.log.Debug("mta-sts: record", "domain", domain, "err", err)
		}
	case cached != nil && cached.ID == id:
		// Unchanged.
	default:
		if s := c.fetchOnce(ctx, domain, id, now); s != nil {
			cached = s
		}
	}
	if cached == nil || cached.Policy.Mode == ModeNone {
		return nil, nil
	}
	return cached.Policy, nil
}

// cached returns the unexpired policy kept for domain, from memory or else the store.
func (c *Cache) cached(ctx context.Context, domain string, now time.Time) *Stored {
	c.mu.Lock()
	s := c.mem[domain]
	checked, recent := c.absent[domain]
	c.mu.Unlock()
	if s == nil && c.cfg.Store != nil && !(recent && now.Sub(checked) < absentFor) {
		var err error
		if s, err = c.cfg.Store.Load(ctx, domain); err != nil {
			c.log.Warn("mta-sts: load cached policy", "domain", domain, "err", err)
		}
		c.mu.Lock()
		if s != nil {
			if len(c.mem) >= maxAbsent {
				clear(c.mem)
			}
			c.mem[domain] = s
			delete(c.absent, domain)
		} else if err == nil {
			if len(c.absent) >= maxAbsent {
				clear(c.absent)
			}
			c.absent[domain] = now
		}
		c.mu.Unlock()
	}
	if s == nil || !s.Expires.After(now) {
		return nil
	}
	return s
}

// A domain found without a stored policy is not looked up in the store again for absentFor
// (it is fetched, and stored, as soon as its TXT record appears). Each map of the cache holds
// at most maxAbsent domains; the store keeps what memory forgets.
const (
	absentFor = time.Minute
	maxAbsent = 10000
)

// recordID returns the id of the domain's one STSv1 TXT record (RFC 8461 §3.1: several
// records mean none).
func (c *Cache) recordID(ctx context.Context, domain string) (string, error) {
	txts, _, err := c.cfg.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return "", err
	}
	var ids []string
	var lastErr error
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=STSv1") {
			continue
		}
		id, err := ParseRecord(t)
		if err != nil {
			lastErr = err
			continue
		}
		ids = append(ids, id)
	}
	switch {
	case len(ids) == 1:
		return ids[0], nil
	case len(ids) > 1:
		return "", fmt.Errorf("mtasts: %d STSv1 records at _mta-sts.%s", len(ids), domain)
	case lastErr != nil:
		return "", lastErr
	}
	return "", resolver.ErrNoData
}

// fetchOnce fetches and keeps the policy unless a fetch failed a short while ago.
func (c *Cache) fetchOnce(ctx context.Context, domain, id string, now time.Time) *Stored {
	c.mu.Lock()
	until, failed := c.failed[domain]
	c.mu.Unlock()
	if failed && now.Before(until) {
		return nil
	}
	p, err := c.Fetch(ctx, domain)
	if err != nil {
		c.log.Info("mta-sts: policy fetch failed", "domain", domain, "err", err)
		c.mu.Lock()
		if len(c.failed) >= maxAbsent {
			clear(c.failed)
		}
		c.failed[domain] = now.Add(c.cfg.RetryFailed)
		c.mu.Unlock()
		return nil
	}
	s := &Stored{ID: id, Policy: p, FetchedAt: now, Expires: now.Add(p.MaxAge)}
	c.mu.Lock()
	if len(c.mem) >= maxAbsent {
		clear(c.mem) // the store still has them
	}
	c.mem[domain] = s
	delete(c.failed, domain)
	delete(c.absent, domain)
	c.mu.Unlock()
	if c.cfg.Store != nil {
		if err := c.cfg.Store.Save(ctx, domain, s); err != nil {
			c.log.Warn("mta-sts: save policy", "domain", domain, "err", err)
		}
	}
	c.log.Info("mta-sts: policy fetched", "domain", domain, "id", id, "mode", p.Mode, "max_age", p.MaxAge)
	return s
}

// Fetch gets and parses https://mta-sts.<domain>/.well-known/mta-sts.txt: a verified
// certificate for that name, no redirects, status 200, text/plain, at most MaxPolicySize
// bytes, within the configured timeout.
func (c *Cache) Fetch(ctx context.Context, domain string) (*Policy, error) {
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("mtasts: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mtasts: fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("mtasts: fetch %s: status %s", url, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("mtasts: fetch %s: content type %q, want text/plain", url, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("mtasts: fetch %s: %w", url, err)
	}
	if len(body) > MaxPolicySize {
		return nil, fmt.Errorf("mtasts: fetch %s: policy larger than %d bytes", url, MaxPolicySize)
	}
	p, err := Parse(body)
	if err != nil {
		return nil, fmt.Errorf("mtasts: %s: %w", url, err)
	}
	return p, nil
}
