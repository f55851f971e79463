// Package pop3server is posta's POP3 server (RFC 1939, with CAPA and response codes of RFC
// 2449, SASL of RFC 5034, STLS of RFC 2595): the maildrop is the account's INBOX in the mailbox
// store, UIDL is the IMAP identity of each message (UIDVALIDITY.UID), and deletions are applied
// at QUIT in one transaction. It owns the POP3 session only: accounts, quota and storage rules
// belong to the directory and the mailstore.
package pop3server

import (
	"context"
	"crypto/tls"
	"errors"
	"github.com/postamail/posta/internal/connset"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/postamail/posta/internal/mailstore"
)

// ErrNotAllowed is returned by an Authenticator when the account's class of service does not
// include POP3.
var ErrNotAllowed = errors.New("POP3 is not included in this account's service")

// Authenticator checks a login and returns the account it opens.
type Authenticator interface {
	Login(ctx context.Context, user, pass string) (accountID int64, err error)
}

// Throttle slows down repeated failed logins (internal/auth's Throttle).
type Throttle interface {
	Check(ip netip.Addr, account string) time.Duration
	Failure(ip netip.Addr, account string)
	Success(ip netip.Addr, account string)
}

// Observer is told of connections and failed logins (internal/observe's Metrics), by
// service: "pop3" (port 110, STLS) or "pop3s" (port 995, implicit TLS).
type Observer interface {
	// SessionOpened and SessionClosed bracket every accepted connection.
	SessionOpened(service string)
	SessionClosed(service string)
	// AuthFailed is a login refused for its credentials.
	AuthFailed(service string)
}

// Config configures the server.
type Config struct {
	Hostname  string
	TLSConfig *tls.Config
	// AllowInsecureAuth allows logins without TLS from loopback clients only.
	AllowInsecureAuth bool
	// IdleTimeout closes a silent connection (RFC 1939 §3: at least 10 minutes).
	IdleTimeout time.Duration
	Logger      *slog.Logger
	// Observer is told of connections and failed logins (nil: nobody).
	Observer Observer
}

// Server serves POP3.
type Server struct {
	cfg   Config
	auth  Authenticator
	store *mailstore.Store
	th    Throttle
	log   *slog.Logger

	mu    sync.Mutex
	inUse map[int64]bool // accounts whose maildrop a session holds (this node)
	conns connset.Set

	chunks sync.Pool // *[]byte of 32 KiB, for sending messages
}

// New returns a POP3 server.
func New(cfg Config, auth Authenticator, store *mailstore.Store, th Throttle) *Server {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, auth: auth, store: store, th: th, log: cfg.Logger,
		inUse: map[int64]bool{}}
	s.chunks.New = func() any { b := make([]byte, 32<<10); return &b }
	return s
}

// Serve accepts connections on ln until Shutdown; with implicitTLS (port 995) the TLS
// handshake comes first.
func (s *Server) Serve(ctx context.Context, ln net.Listener, implicitTLS bool) error {
	service := "pop3"
	if implicitTLS {
		service = "pop3s"
	}
	return s.conns.Serve(ln, func(c net.Conn) {
		if o := s.cfg.Observer; o != nil {
			o.SessionOpened(service)
			defer o.SessionClosed(service)
		}
		if implicitTLS {
			c = tls.Server(c, s.cfg.TLSConfig)
		}
		newSession(s, c, service, implicitTLS).serve(ctx)
	})
}

// Shutdown stops accepting, lets sessions end by themselves until ctx is done, then closes the
// remaining connections. A session cut off before QUIT deletes nothing (RFC 1939 §6).
func (s *Server) Shutdown(ctx context.Context) error {
	s.conns.Shutdown(ctx)
	return nil
}

// lock takes the maildrop of an account for one session; false when another holds it.
func (s *Server) lock(accountID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inUse[accountID] {
		return false
	}
	s.inUse[accountID] = true
	return true
}

func (s *Server) unlock(accountID int64) {
	s.mu.Lock()
	delete(s.inUse, accountID)
	s.mu.Unlock()
}
