package mailstore

import (
	"sync"

	"github.com/postamail/posta/internal/message"
)

// envelopeCache keeps decoded envelopes by blob id. An envelope never changes (it is computed
// from the content), so the cache needs no invalidation, only a bound: past it, an arbitrary
// tenth of the entries goes.
type envelopeCache struct {
	mu  sync.Mutex
	m   map[int64]*message.Envelope
	max int
}

func newEnvelopeCache(max int) *envelopeCache {
	return &envelopeCache{m: make(map[int64]*message.Envelope), max: max}
}

func (c *envelopeCache) get(id int64) (*message.Envelope, bool) {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	return e, ok
}

func (c *envelopeCache) put(id int64, e *message.Envelope) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		drop := c.max / 10
		for k := range c.m {
			delete(c.m, k)
			if drop--; drop <= 0 {
				break
			}
		}
	}
	c.m[id] = e
}
