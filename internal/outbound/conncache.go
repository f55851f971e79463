package outbound

import (
	"slices"
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

// takeIdle returns the idle connection to the destination when one of the targets would be
// connected to under the same policy now and it still answers; nil otherwise.
func (r *Runner) takeIdle(key connKey, targets []target) *client {
	r.idleMu.Lock()
	ic := r.idle[key]
	delete(r.idle, key)
	r.idleMu.Unlock()
	if ic == nil {
		return nil
	}
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

// putIdle keeps a connection for the next round to the destination.
func (r *Runner) putIdle(key connKey, c *client) {
	if time.Since(c.born) > maxConnAge {
		c.close()
		return
	}
	r.idleMu.Lock()
	old := r.idle[key]
	r.idle[key] = &idleConn{c: c, since: time.Now()}
	r.idleMu.Unlock()
	if old != nil {
		old.c.close()
	}
}

// CloseIdle closes the connections kept idle longer than idleConnTime, or all of them.
// Run calls it after each round and when it ends; a caller of RunOnce alone calls it with
// all when done.
func (r *Runner) CloseIdle(all bool) {
	var stale []*client
	r.idleMu.Lock()
	for k, ic := range r.idle {
		if all || time.Since(ic.since) > idleConnTime {
			stale = append(stale, ic.c)
			delete(r.idle, k)
		}
	}
	r.idleMu.Unlock()
	for _, c := range stale {
		c.close()
	}
}
