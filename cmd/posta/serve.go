package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"time"

	"github.com/postamail/posta/internal/config"
	"github.com/postamail/posta/internal/observe"
	"github.com/postamail/posta/internal/server"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags("serve")
	profile := fs.String("pprof", "", "serve Go's profiles (/debug/pprof/) on this loopback address, for diagnosis")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, log, err := loadConfig(e)
	if err != nil {
		return err
	}
	if *profile != "" {
		stop, err := servePprof(*profile, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	return serve(ctx, cfg, log)
}

// servePprof serves net/http/pprof's handlers on addr, which must be a loopback address: the
// profiles show internals no one else should see.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("--pprof: %q is not a loopback address and port (e.g. 127.0.0.1:6060)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info("profiles served", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	srv, err := server.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	log.Info("posta started", "version", version, "hostname", cfg.Hostname, "database", srv.DB.Engine.String())
	return srv.Run(ctx)
}

// loadConfig reads the configuration named by the global flag and builds the logger it asks for.
func loadConfig(e *env) (*config.Config, *slog.Logger, error) {
	if _, err := os.Stat(e.configPath); err != nil {
		return nil, nil, fmt.Errorf("configuration %s not found: run 'posta init' or 'posta quickstart', or pass --config", e.configPath)
	}
	cfg, err := config.Load(e.configPath)
	if err != nil {
		return nil, nil, err
	}
	log, err := observe.NewLogger(e.stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return nil, nil, err
	}
	return cfg, log, nil
}

// openServer opens the services of the configured installation for an administrative command,
// with logs at warning level only so that the command's own output stays readable.
func openServer(ctx context.Context, e *env) (*server.Server, error) {
	cfg, _, err := loadConfig(e)
	if err != nil {
		return nil, err
	}
	return openServerFor(ctx, e, cfg)
}

func openServerFor(ctx context.Context, e *env, cfg *config.Config) (*server.Server, error) {
	log, err := observe.NewLogger(e.stderr, cfg.Log.Format, "warn")
	if err != nil {
		return nil, err
	}
	return server.Open(ctx, cfg, log)
}
