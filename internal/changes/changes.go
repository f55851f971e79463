// Package changes is the change bus: after a mailbox change commits, the mailstore publishes it
// here and every subscriber of that account (IMAP IDLE sessions, webmail live updates, DAV sync)
// is woken up. In one process the fan-out is a map of subscribers; across nodes sharing a
// PostgreSQL database, changes travel as NOTIFY payloads on one channel (see Postgres).
//
// A wake-up carries no data: subscribers re-read what changed from the database by MODSEQ, so a
// burst of changes coalesces into one wake-up and a slow subscriber never blocks a publisher. The
// package must not touch the database tables: it only moves signals.
package changes

import (
	"sync"
	"sync/atomic"
)

// Change says that something in an account changed. MailboxID is 0 when the mailbox list itself
// changed (create, delete, rename, subscribe).
type Change struct {
	AccountID int64
	MailboxID int64
	ModSeq    int64
}

// Forwarder sends a change to other nodes; Postgres implements it.
type Forwarder interface {
	Forward(c Change)
}

// Bus fans changes out to subscribers. The zero value is not usable; call New.
type Bus struct {
	// gen counts the changes delivered; it moves before subscribers are woken (Gen).
	gen       atomic.Uint64
	mu        sync.Mutex
	subs      map[int64]map[*Sub]struct{}
	forwarder Forwarder
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{subs: make(map[int64]map[*Sub]struct{})}
}

// SetForwarder makes the bus forward every locally published change to other nodes.
func (b *Bus) SetForwarder(f Forwarder) {
	b.mu.Lock()
	b.forwarder = f
	b.mu.Unlock()
}

// Sub is one subscription. C receives a value when at least one change to the account happened
// since the last receive; Last reports the latest of them.
type Sub struct {
	C <-chan struct{}

	c         chan struct{}
	bus       *Bus
	accountID int64

	mu     sync.Mutex
	last   Change
	notify func()
}

// Last returns the most recent change delivered to this subscription.
func (s *Sub) Last() Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Close ends the subscription; C is never closed, so a select on it simply stops firing.
func (s *Sub) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if m := b.subs[s.accountID]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(b.subs, s.accountID)
		}
	}
}

// Subscribe returns a subscription to the changes of one account.
func (b *Bus) Subscribe(accountID int64) *Sub {
	c := make(chan struct{}, 1)
	s := &Sub{C: c, c: c, bus: b, accountID: accountID}
	b.mu.Lock()
	m := b.subs[accountID]
	if m == nil {
		m = make(map[*Sub]struct{})
		b.subs[accountID] = m
	}
	m[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Publish wakes the subscribers of each change's account and forwards the changes to other
// nodes. It never blocks on a subscriber. Call it only after the change has committed.
func (b *Bus) Publish(cs ...Change) {
	b.deliver(cs)
	b.mu.Lock()
	f := b.forwarder
	b.mu.Unlock()
	if f != nil {
		for _, c := range cs {
			f.Forward(c)
		}
	}
}

// deliver wakes local subscribers only; remote changes come in through here.
func (b *Bus) deliver(cs []Change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gen.Add(uint64(len(cs)))
	for _, c := range cs {
		for s := range b.subs[c.AccountID] {
			s.mu.Lock()
			s.last = c
			notify := s.notify
			s.mu.Unlock()
			select {
			case s.c <- struct{}{}:
				if notify != nil {
					notify()
				}
			default: // already signalled; the subscriber will read everything since its modseq
			}
		}
	}
}

// Gen returns the number of changes delivered so far. It moves before the subscribers of a
// change are woken, so a reader that runs after seeing Gen() ≥ g sees every change committed
// before the g-th was delivered.
func (b *Bus) Gen() uint64 { return b.gen.Load() }

// Subscribers returns the number of live subscriptions (for metrics).
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, m := range b.subs {
		n += len(m)
	}
	return n
}

// Notify makes the bus call fn, in the publisher's goroutine, whenever it signals this
// subscription (fn must not block: start a goroutine if there is work). A nil fn stops it.
// A session waiting on its connection rather than on C uses it, so that an idle session
// needs no goroutine of its own for its wake-ups.
func (s *Sub) Notify(fn func()) {
	s.mu.Lock()
	s.notify = fn
	s.mu.Unlock()
}
