package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/postamail/posta/internal/config"
	"github.com/postamail/posta/internal/observe"
	"github.com/postamail/posta/internal/server"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags("serve")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, log, err := loadConfig(e)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, log)
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
