// Package server wires posta together: from a loaded configuration it opens the database (and
// migrates it), the blob store, the mailbox store, the directory and the TLS certificates, builds
// every protocol service, binds the listeners, serves health and metrics, and shuts everything
// down gracefully. It holds no business rules: those live in the packages it wires.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/postamail/posta/internal/api"
	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/autoconfig"
	"github.com/postamail/posta/internal/billing"
	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/certs"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/config"
	"github.com/postamail/posta/internal/console"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/dkim"
	"github.com/postamail/posta/internal/imapserver"
	"github.com/postamail/posta/internal/mailauth"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/migrate"
	"github.com/postamail/posta/internal/msglog"
	"github.com/postamail/posta/internal/mtasts"
	"github.com/postamail/posta/internal/observe"
	"github.com/postamail/posta/internal/outbound"
	"github.com/postamail/posta/internal/pim"
	"github.com/postamail/posta/internal/pop3server"
	"github.com/postamail/posta/internal/provision"
	"github.com/postamail/posta/internal/queue"
	"github.com/postamail/posta/internal/resolver"
	"github.com/postamail/posta/internal/search"
	"github.com/postamail/posta/internal/smtpserver"
	"github.com/postamail/posta/internal/webauth"
)

// Server is a running posta node's set of services.
type Server struct {
	Config    *config.Config
	Log       *slog.Logger
	Metrics   *observe.Metrics
	DB        *db.DB
	Blobs     *blob.Store
	Bus       *changes.Bus
	Store     *mailstore.Store
	Directory *directory.Service
	Certs     *certs.Store
	Hasher    *auth.Hasher
	Throttle  *auth.Throttle
	Queue     *queue.Queue
	Deliver   *deliver.Deliverer
	SMTP      *smtpserver.Server
	POP3      *pop3server.Server
	IMAP      *imapserver.Server
	Outbound  *outbound.Runner
	Resolver  *resolver.Resolver
	DKIM      *dkim.Store
	MsgLog    *msglog.Log
	// Billing is pay-per-use billing: price list, wallets, ledger, daily charge run.
	Billing *billing.Service
	// Web holds the console's sessions and the API's tokens.
	Web *webauth.Service
	// PIM holds the address books and calendars of accounts.
	PIM *pim.Service
	// Migrate runs IMAP migrations from other providers.
	Migrate *migrate.Service

	pgChanges *changes.Postgres
}

// Open builds the services from cfg: it opens and migrates the database, seeds the standard
// classes of service, opens the blob store and loads the TLS certificate. Close releases them.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Server, err error) {
	s := &Server{Config: cfg, Log: log, Metrics: observe.NewMetrics(), Bus: changes.New(), Throttle: auth.NewThrottle(auth.ThrottleConfig{}, nil)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.DB, err = db.Open(ctx, cfg.Database.DSN); err != nil {
		return nil, err
	}
	s.DB.SetLogger(log)
	applied, err := s.DB.Migrate(ctx)
	if err != nil {
		return nil, err
	}
	if applied > 0 {
		log.Info("database migrated", "engine", s.DB.Engine, "migrations", applied)
	}
	if s.Blobs, err = blob.Open(cfg.Blob.Dir); err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	s.Store = mailstore.New(s.DB, s.Blobs, s.Bus, mailstore.Options{Logger: log, Observer: s.Metrics})
	s.Hasher = auth.NewHasher(auth.DefaultParams())
	s.Hasher.CacheSuccesses(10*time.Minute, 10000)
	s.Directory = directory.New(s.DB, s.Hasher, directory.Options{
		DefaultMaxMessageSize: cfg.Limits.MaxMessageSize,
		OnAccountCreated:      mailstore.CreateDefaultMailboxes,
		OnAccountsCreated:     mailstore.CreateDefaultMailboxesMany,
		Credit:                billing.NewGate(s.DB, nil),
	})
	if err := s.Directory.SeedStandardCOS(directory.WithActor(ctx, directory.SystemActor("posta"))); err != nil {
		return nil, fmt.Errorf("seed classes of service: %w", err)
	}
	s.Web = webauth.New(s.DB, s.Directory, s.Throttle, webauth.Options{})
	if cfg.TLS.Cert != "" {
		if s.Certs, err = certs.NewStore(cfg.TLS.Cert, cfg.TLS.Key, certs.WithLogger(log)); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
	}
	s.Queue = queue.New(s.DB, s.Blobs)
	s.Deliver = deliver.New(s.Directory, s.Store, s.Queue, cfg.Hostname, log)
	s.MsgLog = msglog.New(s.DB, log)
	s.Deliver.SetLog(s.MsgLog)
	s.Deliver.SetObserver(s.Metrics)
	s.Billing = billing.New(s.DB, s.Directory, billing.Options{Hostname: cfg.Hostname, Logger: log, Notify: dsnNotifier{s.Deliver}.Notify})
	s.DKIM = dkim.New(s.DB, s.Directory)
	s.PIM = pim.New(s.DB, s.Directory)
	s.Migrate = migrate.New(s.DB, s.Directory, s.Store, migrate.Options{
		KeyFile:        filepath.Join(cfg.DataDir, migrate.KeyFileName),
		MaxMessageSize: cfg.Limits.MaxMessageSize,
		Logger:         log,
		Registerer:     s.Metrics.Registry,
	})
	s.Deliver.SetSigner(s.DKIM)
	s.Resolver = resolver.New(resolverConfig(cfg.DNS, log))
	s.Metrics.RegisterResolver(s.Resolver.Stats)
	roots, err := outboundRoots(cfg.Outbound.TLSRoots)
	if err != nil {
		return nil, err
	}
	sts := mtasts.New(mtasts.Config{Resolver: s.Resolver, Store: mtasts.DBStore{DB: s.DB}, RootCAs: roots, Logger: log})
	s.Outbound = outbound.New(outbound.Config{Hostname: cfg.Hostname, Port: cfg.Outbound.Port, Routes: cfg.Outbound.Routes, Logger: log,
		RootCAs: roots, MTASTS: sts}, s.Queue, s.Resolver, dsnNotifier{s.Deliver})
	smtpCfg := smtpserver.Config{
		Hostname:           cfg.Hostname,
		TLSConfig:          s.tlsConfig(),
		MaxMessageSize:     cfg.Limits.MaxMessageSize,
		MaxRecipients:      cfg.Limits.MaxRecipients,
		AllowInsecureAuth:  cfg.Security.AllowInsecureAuth,
		Logger:             log,
		Metrics:            s.Metrics,
		Inbound:            &mailauth.Inbound{Resolver: mailauth.FromResolver(s.Resolver), AuthservID: cfg.Hostname},
		RejectDMARC:        true,
		TenantRejectsDMARC: s.Directory.RejectsDMARC,
		DNS:                s.Resolver,
		Suspended:          s.Billing.SendingSuspended,
	}
	inboundConfig(&smtpCfg, cfg.Inbound)
	s.SMTP = smtpserver.New(smtpCfg, s.Directory, s.Deliver, s.Throttle)
	s.POP3 = pop3server.New(pop3server.Config{
		Hostname:          cfg.Hostname,
		TLSConfig:         s.tlsConfig(),
		AllowInsecureAuth: cfg.Security.AllowInsecureAuth,
		Logger:            log,
		Observer:          s.Metrics,
	}, mailLogin{s.Directory, directory.ProtoPOP3}, s.Store, s.Throttle)
	s.IMAP = imapserver.New(imapserver.Config{
		Hostname:          cfg.Hostname,
		TLSConfig:         s.tlsConfig(),
		MaxMessageSize:    cfg.Limits.MaxMessageSize,
		AllowInsecureAuth: cfg.Security.AllowInsecureAuth,
		Trace:             cfg.Log.Trace,
		Logger:            log,
		Observer:          s.Metrics,
	}, imapLogin{s.Directory}, s.Store, s.Throttle)
	if s.DB.Engine == db.Postgres {
		s.pgChanges = changes.NewPostgres(cfg.Database.DSN, s.Bus, log)
	}
	return s, nil
}

// inboundConfig applies the [inbound] section of posta.toml (DNS block lists) to the SMTP
// server's configuration.
func inboundConfig(sc *smtpserver.Config, c config.Inbound) {
	sc.DNSBL = c.DNSBL
	sc.DNSBLJunk = c.DNSBLAction == "junk"
	sc.DNSBLTimeout = time.Duration(c.DNSBLTimeout)
}

// resolverConfig maps the [dns] section of posta.toml to the resolver's configuration.
func resolverConfig(c config.DNS, log *slog.Logger) resolver.Config {
	rc := resolver.Config{
		Upstreams:   c.Upstreams,
		Timeout:     time.Duration(c.Timeout),
		Attempts:    c.Attempts,
		CacheSize:   c.CacheSize,
		MaxTTL:      time.Duration(c.MaxTTL),
		NegativeTTL: time.Duration(c.NegativeTTL),
		Logger:      log,
	}
	if rc.CacheSize == 0 {
		rc.CacheSize = -1 // 0 in the file disables the cache; the resolver reads 0 as its default
	}
	return rc
}

// outboundRoots is the system's certificate pool plus the authorities of the tls_roots file
// (nil, the system's pool, when there is no file).
func outboundRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("outbound.tls_roots: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("outbound.tls_roots: %s holds no PEM certificate", file)
	}
	return pool, nil
}

// Close releases everything Open acquired.
func (s *Server) Close() error {
	var errs []error
	if s.MsgLog != nil {
		s.MsgLog.Close()
	}
	if s.Store != nil {
		errs = append(errs, s.Store.Close())
	}
	if s.DB != nil {
		errs = append(errs, s.DB.Close())
	}
	return errors.Join(errs...)
}

// service is one listener's server.
type service struct {
	name  string
	addr  string
	serve func(ctx context.Context, ln net.Listener) error
	stop  func(ctx context.Context) error
}

// Run binds every configured listener (all of them, before serving any, so that a busy port is
// reported at once), serves until ctx is done, then shuts down gracefully: listeners close, the
// sessions in flight get up to 30 seconds to finish, the store commits what it has queued.
func (s *Server) Run(ctx context.Context) error {
	services := s.services()
	type bound struct {
		svc service
		ln  net.Listener
	}
	var all []bound
	for _, svc := range services {
		if svc.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", svc.addr)
		if err != nil {
			for _, b := range all {
				b.ln.Close()
			}
			return fmt.Errorf("listen %s on %s: %w", svc.name, svc.addr, err)
		}
		all = append(all, bound{svc, ln})
		s.Log.Info("listening", "service", svc.name, "addr", ln.Addr().String())
	}
	if s.pgChanges != nil {
		go s.pgChanges.Run(ctx)
	}
	go s.sweepLoop(ctx)
	go search.MergeLoop(ctx, s.DB, time.Second, s.Log)
	go s.Outbound.Run(ctx)
	go s.Billing.Loop(ctx, time.Hour)
	go s.Migrate.Run(ctx, migrate.RunnerOptions{})
	errc := make(chan error, len(all))
	var wg sync.WaitGroup
	for _, b := range all {
		wg.Add(1)
		go func(b bound) {
			defer wg.Done()
			if err := b.svc.serve(ctx, b.ln); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", b.svc.name, err)
			}
		}(b)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.Log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, b := range all {
		if err := b.svc.stop(shutCtx); err != nil {
			s.Log.Warn("shutdown", "service", b.svc.name, "err", err)
		}
	}
	wg.Wait()
	return runErr
}

// msglogRetention is how long the message log keeps an entry.
const msglogRetention = 30 * 24 * time.Hour

// sweepLoop removes unreferenced blobs, and message log entries past their retention, once an
// hour.
func (s *Server) sweepLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Web.Sweep(ctx); err != nil {
				s.Log.Warn("session sweep", "err", err)
			}
			if n, err := s.Store.Sweep(ctx, time.Hour); err != nil {
				s.Log.Warn("blob sweep", "err", err)
			} else if n > 0 {
				s.Log.Info("blob sweep", "removed", n)
			}
			if n, err := s.MsgLog.Prune(ctx, time.Now().Add(-msglogRetention)); err != nil {
				s.Log.Warn("message log prune", "err", err)
			} else if n > 0 {
				s.Log.Info("message log prune", "removed", n)
			}
		}
	}
}

// tlsConfig is the server TLS configuration, or nil without a certificate.
func (s *Server) tlsConfig() *tls.Config {
	if s.Certs == nil {
		return nil
	}
	return s.Certs.TLSConfig()
}

func (s *Server) services() []service {
	l := s.Config.Listen
	smtpService := func(name, addr string, mode smtpserver.Mode) service {
		if mode == smtpserver.Submissions && s.Certs == nil {
			addr = "" // implicit TLS needs a certificate
		}
		return service{name: name, addr: addr,
			serve: func(ctx context.Context, ln net.Listener) error { return s.SMTP.Serve(ctx, ln, mode) },
			stop:  s.SMTP.Shutdown,
		}
	}
	pop3Service := func(name, addr string, implicitTLS bool) service {
		if implicitTLS && s.Certs == nil {
			addr = ""
		}
		return service{name: name, addr: addr,
			serve: func(ctx context.Context, ln net.Listener) error { return s.POP3.Serve(ctx, ln, implicitTLS) },
			stop:  s.POP3.Shutdown,
		}
	}
	imapService := func(name, addr string, implicitTLS bool) service {
		if implicitTLS && s.Certs == nil {
			addr = ""
		}
		return service{name: name, addr: addr,
			serve: func(ctx context.Context, ln net.Listener) error { return s.IMAP.Serve(ctx, ln, implicitTLS) },
			stop:  s.IMAP.Shutdown,
		}
	}
	return []service{
		smtpService("smtp", l.SMTP, smtpserver.MX),
		imapService("imap", l.IMAP, false),
		imapService("imaps", l.IMAPS, true),
		pop3Service("pop3", l.POP3, false),
		pop3Service("pop3s", l.POP3S, true),
		smtpService("submission", l.Submission, smtpserver.Submission),
		smtpService("submissions", l.Submissions, smtpserver.Submissions),
		s.httpService("http", l.HTTP, false),
		s.httpService("https", l.HTTPS, true),
	}
}

func (s *Server) httpService(name, addr string, useTLS bool) service {
	handler := s.httpHandler()
	if useTLS {
		handler = s.httpsHandler()
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	if useTLS && s.Certs == nil {
		addr = "" // no certificate configured: no HTTPS
	}
	return service{
		name: name, addr: addr,
		serve: func(ctx context.Context, ln net.Listener) error {
			var err error
			if useTLS {
				srv.TLSConfig = s.Certs.TLSConfig()
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		},
		stop: srv.Shutdown,
	}
}

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", s.Metrics.Handler())
	autoconfig.New(autoconfig.FromConfig(s.Config), s.Directory, s.Log).Register(mux)
	return mux
}

// httpsHandler serves health and metrics as the HTTP listener does, the JSON API under /api/
// and the administrators' web console at the root. The console is served over TLS only: its
// session cookie is Secure.
func (s *Server) httpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", s.Metrics.Handler())
	autoconfig.New(autoconfig.FromConfig(s.Config), s.Directory, s.Log).Register(mux)
	prov := provision.New(s.Directory, provision.Options{Sender: s.Deliver, Client: autoconfig.FromConfig(s.Config), Logger: s.Log})
	mux.Handle("/api/", api.New(s.Directory, s.Web, s.Queue, api.Options{Hostname: s.Config.Hostname, Logger: s.Log, Provision: prov, Billing: s.Billing, DKIM: s.DKIM, MsgLog: s.MsgLog, PIM: s.PIM, Migrate: s.Migrate}))
	mux.Handle("/", console.New(s.Directory, s.Web, console.Options{Hostname: s.Config.Hostname, Logger: s.Log, Provision: prov, Client: autoconfig.FromConfig(s.Config), Billing: s.Billing, DKIM: s.DKIM, PIM: s.PIM, Migrate: s.Migrate}))
	return mux
}

// handleHealth answers 200 when the database answers, 503 otherwise.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	var one int
	if err := s.DB.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"status":"unavailable","database":%q}`+"\n", err.Error())
		return
	}
	fmt.Fprintf(w, `{"status":"ok","database":%q}`+"\n", s.DB.Engine.String())
}

// mailLogin authenticates mail-protocol logins against the directory and checks that the
// account's class of service includes mail and the protocol.
type mailLogin struct {
	dir   *directory.Service
	proto int
}

// dsnNotifier hands delivery status notifications to the delivery pipeline, from the null
// sender: into the sender's mailbox, or back to the queue for a remote sender.
type dsnNotifier struct{ d *deliver.Deliverer }

func (n dsnNotifier) Notify(ctx context.Context, to string, raw []byte) error {
	errs, err := n.d.Deliver(ctx, &deliver.Envelope{From: "", Rcpts: []string{to}, Raw: raw, System: true})
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

// imapLogin is mailLogin for IMAP, which also needs the account's address and size limit.
type imapLogin struct{ dir *directory.Service }

func (m imapLogin) Login(ctx context.Context, user, pass string) (imapserver.Account, error) {
	acc, err := m.dir.Authenticate(ctx, user, pass)
	if err != nil {
		return imapserver.Account{}, err
	}
	if !acc.Has(directory.FeatureMail) || !acc.Allows(directory.ProtoIMAP) {
		return imapserver.Account{}, imapserver.ErrNotAllowed
	}
	return imapserver.Account{ID: acc.ID, Address: acc.Address, MaxMessageSize: acc.MaxMessageSize}, nil
}

// SCRAMCredentials returns the stored SCRAM-SHA-256 credentials of a login.
func (m imapLogin) SCRAMCredentials(ctx context.Context, user string) (auth.SCRAMCredentials, error) {
	secret, err := m.dir.SCRAMSecret(ctx, user)
	if err != nil {
		return auth.SCRAMCredentials{}, err
	}
	return auth.ParseSCRAMCredentials(secret)
}

// CompleteLogin finishes a login proven by SCRAM.
func (m imapLogin) CompleteLogin(ctx context.Context, user string) (imapserver.Account, error) {
	acc, err := m.dir.CompleteLogin(ctx, user)
	if err != nil {
		return imapserver.Account{}, err
	}
	if !acc.Has(directory.FeatureMail) || !acc.Allows(directory.ProtoIMAP) {
		return imapserver.Account{}, imapserver.ErrNotAllowed
	}
	return imapserver.Account{ID: acc.ID, Address: acc.Address, MaxMessageSize: acc.MaxMessageSize}, nil
}

func (m mailLogin) Login(ctx context.Context, user, pass string) (int64, error) {
	acc, err := m.dir.Authenticate(ctx, user, pass)
	if err != nil {
		return 0, err
	}
	if !acc.Has(directory.FeatureMail) || !acc.Allows(m.proto) {
		return 0, pop3server.ErrNotAllowed
	}
	return acc.ID, nil
}
