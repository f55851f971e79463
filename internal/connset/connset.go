// Package connset runs the accept loop of a TCP service and keeps its connections: one
// goroutine per connection, back-off on temporary accept errors, and a graceful shutdown that
// stops accepting, wakes connections waiting for their client, waits for them to end and
// closes what is left when time is up. It knows nothing of the protocol spoken.
package connset

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Set is the connections of one service (any number of listeners). The zero value is ready.
type Set struct {
	// CloseWait is how long Shutdown still waits for handlers after closing their
	// connections (default 5 s); a handler stuck elsewhere is then left behind.
	CloseWait time.Duration

	mu        sync.Mutex
	listeners map[net.Listener]bool
	conns     map[net.Conn]bool
	closing   bool
	wg        sync.WaitGroup
}

// Serve accepts connections on ln and runs handle for each in its own goroutine, until
// Shutdown. It returns nil after Shutdown, or the listener's error.
func (s *Set) Serve(ln net.Listener, handle func(net.Conn)) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	if s.listeners == nil {
		s.listeners, s.conns = map[net.Listener]bool{}, map[net.Conn]bool{}
	}
	s.listeners[ln] = true
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.Closing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			handle(c)
		}()
	}
}

// Closing reports whether Shutdown has begun: a connection woken from its wait by it should
// say goodbye and end.
func (s *Set) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Len is the number of open connections.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown closes the listeners and sets an immediate read deadline on every connection, so
// that those waiting for their client wake up (a command in progress finishes first); it waits
// for the handlers to return until ctx is done, then closes the remaining connections.
func (s *Set) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	wait := s.CloseWait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	select {
	case <-done:
	case <-time.After(wait):
	}
	return ctx.Err()
}
