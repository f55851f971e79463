package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/postamail/posta/internal/certs"
	"github.com/postamail/posta/internal/config"
)

type initOptions struct {
	dataDir, hostname, listenHost, database string
	portOffset                              int
}

func runInit(ctx context.Context, e *env, args []string) error {
	fs := newFlags("init")
	var o initOptions
	fs.StringVar(&o.dataDir, "data", "posta-data", "data directory to create")
	fs.StringVar(&o.hostname, "hostname", "", "this server's host name (FQDN) (required)")
	fs.StringVar(&o.listenHost, "listen-host", "0.0.0.0", "address the listeners bind to")
	fs.IntVar(&o.portOffset, "port-offset", 0, "added to every standard port (25+N, 587+N, ...)")
	fs.StringVar(&o.database, "database", "", "database DSN (default sqlite:posta.db in the data directory; or postgres://...)")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if o.hostname == "" {
		return usagef("init: --hostname is required")
	}
	if o.portOffset < 0 || o.portOffset > 65535-995 {
		return usagef("init: --port-offset must be between 0 and %d", 65535-995)
	}
	cfgPath := filepath.Join(o.dataDir, "posta.toml")
	if e.configFlag {
		cfgPath = e.configPath
	}
	if _, err := os.Stat(cfgPath); err == nil {
		return fmt.Errorf("init: %s already exists; remove it or choose another --data", cfgPath)
	}
	cfg, err := initialize(ctx, cfgPath, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "posta initialised: configuration %s, data in %s\n", cfgPath, cfg.DataDir)
	srv, err := openServerFor(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(e.stdout, "database ready (%s); start with: posta --config %s serve\n", srv.DB.Engine, cfgPath)
	return nil
}

// initialize writes the configuration and the self-signed certificate and creates the data
// directory. It does not open the database.
func initialize(ctx context.Context, cfgPath string, o initOptions) (*config.Config, error) {
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	absData, err := filepath.Abs(o.dataDir)
	if err != nil {
		return nil, err
	}
	cfg := config.Default(absData, o.hostname, o.listenHost, o.portOffset)
	if o.database != "" {
		cfg.Database.DSN = o.database
	}
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o700); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	if err := cfg.Write(cfgPath); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	// Reload so that every path is resolved exactly as serve will see it.
	cfg, err = config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	hosts := []string{cfg.Hostname}
	if ip := net.ParseIP(o.listenHost); ip != nil && !ip.IsUnspecified() {
		hosts = append(hosts, o.listenHost)
	}
	if _, err := certs.EnsureSelfSigned(cfg.TLS.Cert, cfg.TLS.Key, hosts); err != nil {
		return nil, fmt.Errorf("init: certificate: %w", err)
	}
	return cfg, nil
}
