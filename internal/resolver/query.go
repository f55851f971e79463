package resolver

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// answer is one upstream response reduced to what look-ups need; it is
// shared by the cache and concurrent callers and never modified.
type answer struct {
	rrs       []dns.RR // answer section
	rcode     int      // dns.RcodeSuccess or dns.RcodeNameError
	authentic bool     // AD bit
	negative  bool     // NXDOMAIN, or NODATA at the end of the chain
	expires   time.Time
}

// query answers one question from the cache or, merging identical
// concurrent questions, from the upstreams. qname is normalised.
func (r *Resolver) query(ctx context.Context, qname string, qtype uint16) (*answer, bool, error) {
	r.stats.lookups.Add(1)
	key := cacheKey{qname, qtype}
	if a := r.cache.get(key, r.now()); a != nil {
		r.stats.cacheHits.Add(1)
		if a.negative {
			r.stats.negativeHits.Add(1)
		}
		return a, true, nil
	}
	ran := false
	ch := r.flight.DoChan(qname+"/"+strconv.Itoa(int(qtype)), func() (any, error) {
		ran = true
		// The exchange serves every waiting caller, so one caller giving
		// up must not cancel it; it is bounded by its own budget instead.
		budget := r.timeout * time.Duration(2*r.attempts*len(r.upstreams)+1)
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
		defer cancel()
		a, err := r.exchange(ectx, qname, qtype)
		if err == nil && a.expires.After(r.now()) {
			r.cache.set(key, a)
		}
		return a, err
	})
	select {
	case res := <-ch:
		if !ran {
			r.stats.shared.Add(1)
		}
		if res.Err != nil {
			return nil, false, res.Err
		}
		return res.Val.(*answer), false, nil
	case <-ctx.Done():
		r.stats.temporary.Add(1)
		return nil, false, fmt.Errorf("resolver: %s %s: %w: %w", dns.TypeToString[qtype], qname, ErrTemporary, ctx.Err())
	}
}

// exchange asks the upstreams in turn, Attempts times over, until one gives
// a definite answer (NOERROR or NXDOMAIN).
func (r *Resolver) exchange(ctx context.Context, qname string, qtype uint16) (*answer, error) {
	var lastErr error
	for range r.attempts {
		for _, server := range r.upstreams {
			if ctx.Err() != nil {
				lastErr = ctx.Err()
				break
			}
			resp, err := r.exchangeOne(ctx, qname, qtype, server)
			if err != nil {
				r.log.Debug("dns exchange failed", "name", qname, "type", dns.TypeToString[qtype], "server", server, "err", err)
				lastErr = err
				continue
			}
			switch resp.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				if resp.AuthenticatedData {
					r.stats.authentic.Add(1)
				}
				return r.newAnswer(resp, qname, qtype), nil
			}
			r.stats.servFail.Add(1)
			lastErr = fmt.Errorf("%s answered %s", server, dns.RcodeToString[resp.Rcode])
			r.log.Debug("dns upstream failure", "name", qname, "type", dns.TypeToString[qtype], "server", server, "rcode", dns.RcodeToString[resp.Rcode])
		}
	}
	if lastErr == nil {
		lastErr = errors.New("no upstream servers")
	}
	r.stats.temporary.Add(1)
	return nil, fmt.Errorf("resolver: %s %s: %w: %w", dns.TypeToString[qtype], qname, ErrTemporary, lastErr)
}

// exchangeOne sends the question to server over UDP, and again over TCP if
// the answer was truncated.
func (r *Resolver) exchangeOne(ctx context.Context, qname string, qtype uint16, server string) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.RecursionDesired = true
	m.AuthenticatedData = true
	m.SetEdns0(udpSize, true)

	r.stats.exchanges.Add(1)
	resp, err := r.exchangeNet(ctx, r.udp, m, server)
	if err == nil && resp.Truncated {
		r.stats.tcpFallbacks.Add(1)
		r.stats.exchanges.Add(1)
		m.Id = dns.Id()
		resp, err = r.exchangeNet(ctx, r.tcp, m, server)
	}
	if err != nil {
		return nil, err
	}
	if len(resp.Question) != 1 || resp.Question[0].Qtype != qtype || !strings.EqualFold(resp.Question[0].Name, qname) {
		return nil, fmt.Errorf("%s answered another question", server)
	}
	return resp, nil
}

func (r *Resolver) exchangeNet(ctx context.Context, c *dns.Client, m *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, _, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			r.stats.timeouts.Add(1)
		}
		return nil, fmt.Errorf("%s over %s: %w", server, c.Net, err)
	}
	return resp, nil
}

// newAnswer reduces resp and computes its cache lifetime: the least TTL of
// the answer records within [MinTTL, MaxTTL], or for a negative answer the
// SOA's negative TTL (RFC 2308 §5) capped at NegativeTTL.
func (r *Resolver) newAnswer(resp *dns.Msg, qname string, qtype uint16) *answer {
	a := &answer{rcode: resp.Rcode, authentic: resp.AuthenticatedData}
	for _, rr := range resp.Answer {
		if rr.Header().Class == dns.ClassINET {
			a.rrs = append(a.rrs, rr)
		}
	}
	rrs, end := follow(a.rrs, qname, qtype)
	a.negative = resp.Rcode == dns.RcodeNameError || len(rrs) == 0 && end == qname
	var ttl time.Duration
	if a.negative {
		for _, rr := range resp.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				ttl = min(seconds(soa.Hdr.Ttl), seconds(soa.Minttl), r.negativeTTL)
				break
			}
		}
	} else {
		ttl = r.maxTTL
		for _, rr := range a.rrs {
			ttl = min(ttl, seconds(rr.Header().Ttl))
		}
		ttl = max(ttl, r.minTTL)
	}
	a.expires = r.now().Add(ttl)
	return a
}

func seconds(s uint32) time.Duration { return time.Duration(s) * time.Second }

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	key cacheKey
	a   *answer
}

// cache is a bounded map of answers evicted least recently used first.
type cache struct {
	mu        sync.Mutex
	max       int
	lru       *list.List // front: most recently used *cacheEntry
	entries   map[cacheKey]*list.Element
	evictions uint64
}

func newCache(size int) *cache {
	return &cache{max: size, lru: list.New(), entries: make(map[cacheKey]*list.Element)}
}

func (c *cache) get(k cacheKey, now time.Time) *answer {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return nil
	}
	ent := e.Value.(*cacheEntry)
	if !ent.a.expires.After(now) {
		c.lru.Remove(e)
		delete(c.entries, k)
		return nil
	}
	c.lru.MoveToFront(e)
	return ent.a
}

func (c *cache) set(k cacheKey, a *answer) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		e.Value.(*cacheEntry).a = a
		c.lru.MoveToFront(e)
		return
	}
	for c.lru.Len() >= c.max {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
		c.evictions++
	}
	c.entries[k] = c.lru.PushFront(&cacheEntry{k, a})
}

func (c *cache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Init()
	clear(c.entries)
}

func (c *cache) stats() (evictions uint64, entries int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evictions, c.lru.Len()
}
