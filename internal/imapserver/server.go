// Package imapserver is posta's IMAP4rev2/IMAP4rev1 server: connections, the session state
// machine, every command, each selected session's own view of UIDs and sequence numbers, and
// the untagged updates (EXISTS, EXPUNGE/VANISHED, FETCH FLAGS) that other sessions, deliveries
// and other nodes cause, woken by the change bus.
//
// It owns protocol behaviour only. The grammar is imapwire's; messages, mailboxes, flags and
// quotas are the mailstore's; who may log in is the Authenticator's (the directory). It must
// not write SQL.
package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"github.com/postamail/posta/internal/connset"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/mailstore"
)

// ErrNotAllowed is returned by an Authenticator when the credentials are right but the
// account's class of service does not include mail or IMAP.
var ErrNotAllowed = errors.New("IMAP is not included in this account's service")

// Account is the authenticated user as the IMAP server needs it.
type Account struct {
	ID      int64
	Address string
	// MaxMessageSize is the account's own limit on APPEND (0: the server's).
	MaxMessageSize int64
}

// Authenticator checks credentials.
type Authenticator interface {
	Login(ctx context.Context, user, pass string) (Account, error)
}

// SCRAMAuthenticator is an Authenticator that can also serve SCRAM-SHA-256: it hands out the
// stored credentials and completes a login the exchange has proven.
type SCRAMAuthenticator interface {
	Authenticator
	SCRAMCredentials(ctx context.Context, user string) (auth.SCRAMCredentials, error)
	CompleteLogin(ctx context.Context, user string) (Account, error)
}

// Throttle slows down repeated failed logins; it is shared with SMTP and POP3.
type Throttle interface {
	Check(ip netip.Addr, account string) time.Duration
	Failure(ip netip.Addr, account string)
	Success(ip netip.Addr, account string)
}

// Observer is told of connections and failed logins (internal/observe's Metrics), by
// service: "imap" (port 143, STARTTLS) or "imaps" (port 993, implicit TLS).
type Observer interface {
	// SessionOpened and SessionClosed bracket every accepted connection.
	SessionOpened(service string)
	SessionClosed(service string)
	// AuthFailed is a login refused for its credentials (or throttled by SCRAM).
	AuthFailed(service string)
}

// Config configures the IMAP service.
type Config struct {
	Hostname  string
	TLSConfig *tls.Config
	// MaxMessageSize is the APPEND limit advertised as APPENDLIMIT.
	MaxMessageSize int64
	// AllowInsecureAuth allows LOGIN and AUTHENTICATE without TLS from loopback clients only.
	AllowInsecureAuth bool
	// Trace logs every command and response line at debug level, credentials redacted.
	Trace  bool
	Logger *slog.Logger
	// Observer is told of connections and failed logins (nil: nobody).
	Observer Observer
}

// Server is the IMAP service; one Server serves every IMAP listener.
type Server struct {
	cfg      Config
	auth     Authenticator
	store    *mailstore.Store
	throttle Throttle
	log      *slog.Logger

	conns connset.Set
	feed  feed // changes read once for all the sessions of a mailbox

	// Buffers for sessions that are doing something; waiting sessions hold none.
	readers, writers sync.Pool
}

// New returns the IMAP service.
func New(cfg Config, a Authenticator, st *mailstore.Store, th Throttle) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 30408704
	}
	s := &Server{cfg: cfg, auth: a, store: st, throttle: th, log: cfg.Logger}
	s.readers.New = func() any { return bufio.NewReaderSize(nil, 4096) }
	s.writers.New = func() any { return bufio.NewWriterSize(nil, 64<<10) } // large answers (FETCH 1:*) in few writes
	return s
}

// Serve accepts connections on ln until Shutdown. With implicitTLS the listener is port 993.
func (s *Server) Serve(ctx context.Context, ln net.Listener, implicitTLS bool) error {
	if implicitTLS {
		if s.cfg.TLSConfig == nil {
			return errors.New("imapserver: implicit TLS without a certificate")
		}
		ln = tls.NewListener(ln, s.cfg.TLSConfig)
	}
	service := "imap"
	if implicitTLS {
		service = "imaps"
	}
	return s.conns.Serve(ln, func(c net.Conn) {
		if o := s.cfg.Observer; o != nil {
			o.SessionOpened(service)
			defer o.SessionClosed(service)
		}
		newSession(s, c, service, implicitTLS).serve(ctx)
	})
}

// Shutdown closes the listeners, wakes every session waiting for its client (it says BYE and
// ends; a command in progress finishes first) and waits for them up to ctx; then it closes
// what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.conns.Shutdown(ctx)
}

// Sessions returns the number of open connections.
func (s *Server) Sessions() int { return s.conns.Len() }
