// Package smtpserver runs posta's SMTP listeners on github.com/emersion/go-smtp: the MX (port
// 25), which accepts mail for hosted domains only, and submission (587 with STARTTLS, 465 with
// implicit TLS), where authenticated users send as their own addresses. It owns the session
// policy (who may relay, what may be sent as whom, limits, login throttling) and maps delivery
// errors to SMTP codes in one place; the rules about recipients belong to the directory and the
// delivery pipeline.
package smtpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailauth"
	"github.com/postamail/posta/internal/observe"
)

// Mode is the role of a listener.
type Mode int

const (
	MX          Mode = iota // port 25: mail for hosted domains
	Submission              // port 587: STARTTLS then AUTH
	Submissions             // port 465: implicit TLS then AUTH
)

func (m Mode) String() string {
	return [...]string{"smtp", "submission", "submissions"}[m]
}

// Throttle slows down repeated failed logins (internal/auth's Throttle).
type Throttle interface {
	Check(ip netip.Addr, account string) time.Duration
	Failure(ip netip.Addr, account string)
	Success(ip netip.Addr, account string)
}

// Config configures the SMTP service.
type Config struct {
	Hostname       string
	TLSConfig      *tls.Config
	MaxMessageSize int64
	MaxRecipients  int
	// AllowInsecureAuth allows AUTH without TLS from loopback clients only.
	AllowInsecureAuth bool
	Logger            *slog.Logger
	Metrics           *observe.Metrics
	// Inbound checks SPF, DKIM and DMARC of messages arriving on the MX from other servers
	// (nil: no checks). A message whose From domain's policy says reject is refused when the
	// recipients' tenant says so (TenantRejectsDMARC), or, without that function, when
	// RejectDMARC is set; otherwise it goes to Junk.
	Inbound            *mailauth.Inbound
	RejectDMARC        bool
	TenantRejectsDMARC func(ctx context.Context, tenantID int64) (bool, error)
	// DNSBL lists the DNS block list zones in which the MX looks up the address of every
	// unauthenticated client, once per connection at its first MAIL FROM (empty: none),
	// through DNS. A listed client is refused (554 5.7.1) or, with DNSBLJunk, its mail goes
	// to the recipients' Junk folder with an X-Posta-DNSBL field. DNSBLTimeout bounds the
	// look-ups of one client (posta.toml's [inbound] dnsbl_timeout; default
	// DefaultDNSBLTimeout); a look-up that fails accepts.
	DNSBL        []string
	DNSBLJunk    bool
	DNSBLTimeout time.Duration
	DNS          DNSBLResolver
	// CheckLoopback runs the inbound checks (authentication, block lists) on loopback
	// clients too (tests); otherwise a local client is trusted, as the local MTA.
	CheckLoopback bool
	// Suspended, when set, reports whether a tenant's sending is suspended (pay-per-use
	// tenants out of credit, when the provider chose so).
	Suspended func(ctx context.Context, tenantID int64) (bool, error)
}

// Server is the SMTP service; one Server serves every SMTP listener.
type Server struct {
	cfg      Config
	dir      *directory.Service
	deliver  *deliver.Deliverer
	throttle Throttle
	log      *slog.Logger

	mu      sync.Mutex
	servers []*smtp.Server
}

// New returns the SMTP service.
func New(cfg Config, dir *directory.Service, d *deliver.Deliverer, th Throttle) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRecipients <= 0 {
		cfg.MaxRecipients = 100
	}
	return &Server{cfg: cfg, dir: dir, deliver: d, throttle: th, log: cfg.Logger}
}

// Serve accepts connections on ln in the given mode until Shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener, mode Mode) error {
	srv := smtp.NewServer(backend{s: s, mode: mode})
	srv.Domain = s.cfg.Hostname
	srv.MaxMessageBytes = s.cfg.MaxMessageSize
	srv.MaxRecipients = s.cfg.MaxRecipients
	srv.MaxLineLength = 4096
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = 5 * time.Minute
	srv.EnableSMTPUTF8 = true
	// REQUIRETLS (RFC 8689) is advertised once the session is encrypted.
	srv.EnableREQUIRETLS = true
	// go-smtp advertises AUTH without TLS only when this is set; the session still refuses it
	// from anything but loopback (see AuthMechanisms).
	srv.AllowInsecureAuth = s.cfg.AllowInsecureAuth
	srv.ErrorLog = slogAdapter{s.log}
	if m := s.cfg.Metrics; m != nil {
		// Counted as accepted, whatever the client says next (go-smtp makes a session at
		// EHLO, and another after STARTTLS).
		ln = countingListener{Listener: ln, m: m, service: mode.String()}
	}
	if mode == Submissions {
		ln = tls.NewListener(ln, s.cfg.TLSConfig)
	} else {
		srv.TLSConfig = s.cfg.TLSConfig
	}
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for sessions in flight, up to ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type backend struct {
	s    *Server
	mode Mode
}

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return newSession(b.s, b.mode, c), nil
}

// countingListener counts the connections of one service: accepted, and open until closed.
type countingListener struct {
	net.Listener
	m       *observe.Metrics
	service string
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.m.SessionOpened(l.service)
	return &countedConn{Conn: c, closed: func() { l.m.SessionClosed(l.service) }}, nil
}

// countedConn reports its first Close (go-smtp may close a connection more than once).
type countedConn struct {
	net.Conn
	once   sync.Once
	closed func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.closed)
	return err
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) {
	a.l.Warn("smtp", "msg", fmt.Sprintf(format, v...))
}
func (a slogAdapter) Println(v ...any) { a.l.Warn("smtp", "msg", fmt.Sprint(v...)) }
