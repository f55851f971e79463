package mailstore

import "sync"

// listing is the message rows of one mailbox in one state, shared by every session that lists
// it. A mailbox's state is named by its UIDVALIDITY, HIGHESTMODSEQ and message count: every
// change to its messages (new, expunged, flags or keywords changed) raises HIGHESTMODSEQ, so a
// listing whose three values still match the mailbox row is the mailbox as it is now.
type listing struct {
	uidvalidity, modseq, count int64
	rows                       []listRow // in UID order
}

// listRow is what a metadata listing needs of one message row.
type listRow struct {
	uid      uint32
	flags    Flags
	modseq   int64
	keywords []string
	idate    int64 // Unix milliseconds
	size     int64
	blobID   int64
}

// listCache keeps listings of the mailboxes listed whole (FETCH 1:* of a client opening a
// mailbox), at most max rows in all: past it, arbitrary listings go.
type listCache struct {
	mu   sync.Mutex
	m    map[int64]*listing
	rows int
	max  int
}

func newListCache(max int) *listCache { return &listCache{m: map[int64]*listing{}, max: max} }

// get returns the listing of mailbox id if it is still of the given state.
func (c *listCache) get(id, uidvalidity, modseq, count int64) *listing {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.m[id]
	if l == nil || l.uidvalidity != uidvalidity || l.modseq != modseq || l.count != count {
		return nil
	}
	return l
}

func (c *listCache) put(id int64, l *listing) {
	if len(l.rows) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[id]; old != nil {
		c.rows -= len(old.rows)
		delete(c.m, id)
	}
	for k, old := range c.m {
		if c.rows+len(l.rows) <= c.max {
			break
		}
		c.rows -= len(old.rows)
		delete(c.m, k)
	}
	c.m[id] = l
	c.rows += len(l.rows)
}
