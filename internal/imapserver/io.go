package imapserver

import (
	"bufio"
	"context"
	"net"
	"strings"
	"time"

	"github.com/postamail/posta/internal/imapwire"
)

// A connection waiting for its client holds no buffer: the session blocks on a one-byte read
// of the bare connection, and takes a reader and a writer from the server's pools only when
// something arrives. In IDLE the same goroutine waits for DONE; change notifications run in a
// short-lived goroutine started by the change bus. That keeps thousands of idle sessions at
// one parked goroutine and a few hundred bytes each (plus TLS state on TLS connections).

// prefixReader gives back the byte the wait read, then reads the connection.
type prefixReader struct {
	conn   net.Conn
	prefix []byte
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.conn.Read(b)
}

func (s *session) acquire() {
	if s.br == nil {
		s.br = s.srv.readers.Get().(*bufio.Reader)
		s.br.Reset(&s.in)
		s.r.Reset(s.br)
	}
	s.acquireWriter()
}

func (s *session) acquireWriter() {
	if s.w.Writer == nil {
		bw := s.srv.writers.Get().(*bufio.Writer)
		bw.Reset(s.conn)
		s.w.Writer = bw
	}
}

// release gives the buffers back to the pools, if nothing is pending in them.
func (s *session) release() {
	if s.br != nil && s.br.Buffered() == 0 {
		s.br.Reset(nil)
		s.srv.readers.Put(s.br)
		s.br = nil
		s.r.Reset(nil)
	}
	s.releaseWriter()
}

func (s *session) releaseWriter() {
	if s.w.Writer != nil && s.w.Buffered() == 0 {
		s.w.Writer.Reset(nil)
		s.srv.writers.Put(s.w.Writer)
		s.w.Writer = nil
	}
}

// waitInput blocks until the client sends something, holding no buffer meanwhile.
func (s *session) waitInput() error {
	if s.br != nil && s.br.Buffered() > 0 {
		return nil
	}
	s.release()
	n, err := s.conn.Read(s.one[:])
	s.acquire()
	if n > 0 {
		s.in.prefix = s.one[:n]
		return nil
	}
	return err
}

func cmdIdle(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	s.w.WriteString("+ idling\r\n")
	if err := s.updates(ctx, true); err != nil {
		return err
	}
	if err := s.w.Flush(); err != nil {
		return errClientGone
	}
	s.idleTag = tag // the session's own goroutine waits for DONE (idle)
	return errAnswered
}

// idle waits for DONE in the session's goroutine, whose stack stays small: the database work
// of wake-ups runs in goroutines of their own.
func (s *session) idle(ctx context.Context, tag string) {
	s.idleMu.Lock()
	s.idling = true
	s.release()
	pending := s.br != nil // DONE (or more) already buffered
	s.idleMu.Unlock()
	s.sub.Notify(func() { go s.idleWake(ctx) })
	go s.idleWake(ctx) // a change may have come before Notify
	s.conn.SetReadDeadline(time.Now().Add(authTimeout))
	var err error
	if !pending {
		var n int
		n, err = s.conn.Read(s.one[:])
		if n > 0 {
			s.in.prefix, err = s.one[:n], nil
		}
	}
	s.sub.Notify(nil)
	s.idleMu.Lock() // waits for a wake-up in progress
	s.idling = false
	s.acquire()
	s.idleMu.Unlock()
	var line []byte
	if err == nil {
		line, err = s.r.ReadLine()
	}
	s.conn.SetReadDeadline(time.Time{})
	if err != nil {
		if s.stopping() {
			s.untagged("BYE Server shutting down")
			s.w.Flush()
		}
		s.state = loggedOut
		return
	}
	if !strings.EqualFold(string(line), "DONE") {
		s.tagged(tag, "BAD", "", "Expected DONE")
		return
	}
	s.isolated(func() {
		if err := s.updates(ctx, true); err != nil {
			s.log.Warn("imap: updates", "err", err)
		}
		s.tagged(tag, "OK", "", "IDLE terminated")
	})
}

// isolated runs fn in a goroutine of its own and waits for it: database calls grow a
// goroutine's stack, and the session's goroutine, which spends its life waiting for the
// client, should not keep that memory.
func (s *session) isolated(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("imap: panic", "panic", p)
				s.state = loggedOut
			}
		}()
		fn()
	}()
	<-done
}

// idleWake sends an idling client what changed.
func (s *session) idleWake(ctx context.Context) {
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	if !s.idling {
		return
	}
	select {
	case <-s.sub.C:
	default:
		return
	}
	if s.sel == nil {
		return
	}
	s.acquireWriter()
	defer s.releaseWriter()
	if err := s.poll(ctx); err != nil {
		s.log.Warn("imap: idle update", "err", err)
		return
	}
	if err := s.updates(ctx, true); err != nil {
		s.log.Warn("imap: idle update", "err", err)
		return
	}
	s.w.Flush()
}
