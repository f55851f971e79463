package outbound

import (
	"slices"
	"sync"
	"time"

	"github.com/postamail/posta/internal/resolver"
)

// A connection that delivered a round's messages to a destination is kept for a little while,
// so that the next round to the same destination (mail keeps arriving) goes over it instead
// of paying for a new TCP connection, EHLO and TLS handshake each time. It is used again only
// under the same TLS policy, and after it answers RSET.
const (
	idleConnTime = 5 * time.Second // how long an idle connection is kept
	maxConnAge   = 5 * time.Minute // no new round on an older connection
)

// connKey is a destination as rounds see it: a domain and the TLS mode of its messages.
type connKey struct {
	domain string
	mode   tlsMode
}

type idleConn struct {
	c     *client
	since time.Time
}

// forMode is the policy of a connection for messages of the TLS mode; skipped tells that the
// destination's policy refuses the server.
func (p connPolicy) forMode(mode tlsMode, skipped bool) connPolicy {
	switch mode {
	case tlsRequired:
		p.requireTLS = true
	case tlsRelaxed:
		if skipped || p.enforce {
			p.note = addNote(p.note, "policy not enforced: TLS-Required: No")
		}
		p.enforce = false
	}
	return p
}

// samePolicy reports whether a connection made under a may carry messages under b.
func samePolicy(a, b connPolicy) bool {
	return a.name == b.name && a.policy == b.policy && a.enforce == b.enforce && a.requireTLS == b.requireTLS &&
		a.note == b.note && slices.EqualFunc(a.tlsa, b.tlsa, func(x, y resolver.TLSA) bool {
		return x.Usage == y.Usage && x.Selector == y.Selector && x.MatchingType == y.MatchingType && slices.Equal(x.Data, y.Data)
	})
}

// takeIdle returns an idle connection to the destination, the most recently used first,
// when one of the targets would be connected to under the same policy now and it still
// answers; nil otherwise.
func (r *Runner) takeIdle(key connKey, targets []target) *client {
	for {
		r.idleMu.Lock()
		list := r.idle[key]
		var ic *idleConn
		if len(list) > 0 {
			ic = list[len(list)-1]
			list = list[:len(list)-1]
			if len(list) == 0 {
				delete(r.idle, key)
			} else {
				r.idle[key] = list
			}
		}
		r.idleMu.Unlock()
		if ic == nil {
			return nil
		}
		if c := ic.revive(key, targets); c != nil {
			return c
		}
	}
}

// revive checks an idle connection before a new round: same policy, not too old, and the
// server still answers RSET.
func (ic *idleConn) revive(key connKey, targets []target) *client {
	c := ic.c
	ok := false
	for _, t := range targets {
		if (t.skip == nil || key.mode == tlsRelaxed) && samePolicy(c.p, t.conn.forMode(key.mode, t.skip != nil)) {
			ok = true
			break
		}
	}
	if !ok || time.Since(ic.since) > idleConnTime || time.Since(c.born) > maxConnAge {
		c.close()
		return nil
	}
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.cmd(250, "RSET"); err != nil {
		c.conn.Close()
		return nil
	}
	c.conn.SetDeadline(time.Now().Add(5 * time.Minute))
	return c
}

// putIdle keeps a connection for the next round to the destination (up to PerDomain of
// them).
func (r *Runner) putIdle(key connKey, c *client) {
	if time.Since(c.born) > maxConnAge {
		c.close()
		return
	}
	var extra *client
	r.idleMu.Lock()
	list := append(r.idle[key], &idleConn{c: c, since: time.Now()})
	if len(list) > r.cfg.PerDomain {
		extra = list[0].c
		list = list[1:]
	}
	r.idle[key] = list
	r.idleMu.Unlock()
	if extra != nil {
		extra.close()
	}
}

// CloseIdle closes the connections kept idle longer than idleConnTime, or all of them.
// Run calls it after each round and when it ends; a caller of RunOnce alone calls it with
// all when done.
func (r *Runner) CloseIdle(all bool) {
	var stale []*client
	r.idleMu.Lock()
	for k, list := range r.idle {
		keep := list[:0]
		for _, ic := range list {
			if all || time.Since(ic.since) > idleConnTime {
				stale = append(stale, ic.c)
			} else {
				keep = append(keep, ic)
			}
		}
		if len(keep) == 0 {
			delete(r.idle, k)
		} else {
			r.idle[k] = keep
		}
	}
	r.idleMu.Unlock()
	// QUIT waits up to 5 s for a reply: a hung server must not hold up the others.
	var wg sync.WaitGroup
	for _, c := range stale {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.close()
		}()
	}
	wg.Wait()
}
