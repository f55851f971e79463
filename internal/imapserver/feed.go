package imapserver

import (
	"context"
	"sync"
	"time"

	"github.com/postamail/posta/internal/mailstore"
)

// feed shares the reading of a mailbox's changes among the sessions that have it selected: when
// one delivery wakes a thousand sessions of the same mailbox at the same MODSEQ, one query
// answers them all instead of a thousand.
//
// A session may take the answer of a query only if that query started after the change that
// woke the session was delivered on the bus (changes.Bus.Gen), else it could miss it.
type feed struct {
	mu      sync.Mutex
	flights map[feedKey]*flight
}

type feedKey struct{ mailbox, modseq int64 }

// flight is one query; gen is the bus generation read before it started.
type flight struct {
	gen      uint64
	done     chan struct{}
	changed  []*mailstore.Message // shared: read only
	vanished []uint32
	err      error
}

// since returns the changes of mailbox above modseq, from a query that started when the bus
// generation was at least gen (the caller read gen after it was woken).
func (f *feed) since(ctx context.Context, st *mailstore.Store, mailbox, modseq int64, gen uint64) ([]*mailstore.Message, []uint32, error) {
	key := feedKey{mailbox, modseq}
	f.mu.Lock()
	if fl, ok := f.flights[key]; ok && fl.gen >= gen {
		f.mu.Unlock()
		select {
		case <-fl.done:
			return fl.changed, fl.vanished, fl.err
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	if f.flights == nil {
		f.flights = map[feedKey]*flight{}
	}
	fl := &flight{gen: st.Bus().Gen(), done: make(chan struct{})}
	f.flights[key] = fl
	f.mu.Unlock()
	// The query serves other sessions too: it must not end with this session's connection.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	fl.changed, fl.vanished, fl.err = st.ChangedSince(qctx, mailbox, modseq)
	cancel()
	close(fl.done)
	f.mu.Lock()
	if f.flights[key] == fl {
		delete(f.flights, key)
	}
	f.mu.Unlock()
	return fl.changed, fl.vanished, fl.err
}
