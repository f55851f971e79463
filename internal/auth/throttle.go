package auth

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// ThrottleConfig tunes login throttling.
type ThrottleConfig struct {
	// FreeAttempts failures are allowed before any delay (default 3).
	FreeAttempts int
	// Base is the first delay, doubled at each further failure (default 1s), up to Max
	// (default 15m).
	Base, Max time.Duration
	// Window forgets failures this old (default 15m).
	Window time.Duration
	// MaxEntries bounds memory (default 100 000 keys); the oldest are dropped first.
	MaxEntries int
}

// Throttle slows down repeated failed logins, separately per client IP (IPv6 per /64) and per
// account, with exponential back-off. It keeps state in memory, bounded, with lazy expiry.
type Throttle struct {
	cfg ThrottleConfig
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*throttleEntry
}

type throttleEntry struct {
	failures int
	last     time.Time
	until    time.Time
}

// NewThrottle returns a throttle; now may be nil for time.Now.
func NewThrottle(cfg ThrottleConfig, now func() time.Time) *Throttle {
	if cfg.FreeAttempts <= 0 {
		cfg.FreeAttempts = 3
	}
	if cfg.Base <= 0 {
		cfg.Base = time.Second
	}
	if cfg.Max <= 0 {
		cfg.Max = 15 * time.Minute
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100000
	}
	if now == nil {
		now = time.Now
	}
	return &Throttle{cfg: cfg, now: now, entries: map[string]*throttleEntry{}}
}

func ipKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + ip.String()
}

func accountKey(account string) string { return "acct:" + strings.ToLower(strings.TrimSpace(account)) }

func (t *Throttle) keys(ip netip.Addr, account string) []string {
	var k []string
	if ip.IsValid() {
		k = append(k, ipKey(ip))
	}
	if account != "" {
		k = append(k, accountKey(account))
	}
	return k
}

// Check returns how long the caller must wait before this login may even be tried; zero means
// go ahead.
func (t *Throttle) Check(ip netip.Addr, account string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range t.keys(ip, account) {
		e := t.entries[k]
		if e == nil {
			continue
		}
		if now.Sub(e.last) > t.cfg.Window {
			delete(t.entries, k)
			continue
		}
		if d := e.until.Sub(now); d > wait {
			wait = d
		}
	}
	return wait
}

// Failure records a failed login.
func (t *Throttle) Failure(ip netip.Addr, account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range t.keys(ip, account) {
		e := t.entries[k]
		if e == nil || now.Sub(e.last) > t.cfg.Window {
			if len(t.entries) >= t.cfg.MaxEntries {
				t.evictLocked(now)
			}
			e = &throttleEntry{}
			t.entries[k] = e
		}
		e.failures++
		e.last = now
		if over := e.failures - t.cfg.FreeAttempts; over > 0 {
			d := t.cfg.Base << min(over-1, 30)
			if d > t.cfg.Max || d <= 0 {
				d = t.cfg.Max
			}
			e.until = now.Add(d)
		}
	}
}

// Success forgets the account's failures (the IP's remain: one good password must not unlock
// a brute force of other accounts from the same address).
func (t *Throttle) Success(ip netip.Addr, account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if account != "" {
		delete(t.entries, accountKey(account))
	}
}

// evictLocked drops expired entries, and if none expired, the oldest tenth.
func (t *Throttle) evictLocked(now time.Time) {
	for k, e := range t.entries {
		if now.Sub(e.last) > t.cfg.Window {
			delete(t.entries, k)
		}
	}
	if len(t.entries) < t.cfg.MaxEntries {
		return
	}
	drop := max(1, t.cfg.MaxEntries/10)
	var oldest time.Time
	for _, e := range t.entries {
		if oldest.IsZero() || e.last.Before(oldest) {
			oldest = e.last
		}
	}
	cut := oldest
	for drop > 0 && len(t.entries) > 0 {
		cut = cut.Add(time.Second)
		for k, e := range t.entries {
			if !e.last.After(cut) {
				delete(t.entries, k)
				drop--
			}
		}
	}
}
