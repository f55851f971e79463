package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/config"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/observe"
	"github.com/postamail/posta/internal/server"
)

const demoCOS = "Professional Suite 1.000 MB"

func runQuickstart(ctx context.Context, e *env, args []string) error {
	flags := newFlags("quickstart")
	offset := flags.Int("port-offset", 10000, "added to every standard port")
	listenHost := flags.String("listen-host", "127.0.0.1", "address the listeners bind to")
	noServe := flags.Bool("no-serve", false, "prepare the demo and exit without serving")
	if _, err := parseFlags(flags, args, 0); err != nil {
		return err
	}
	dataDir := filepath.Dir(e.configPath)
	credsPath := filepath.Join(dataDir, "demo-credentials.txt")
	var cfg *config.Config
	if _, err := os.Stat(e.configPath); err == nil {
		if cfg, err = config.Load(e.configPath); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Reusing the installation in %s.\n", dataDir)
	} else if errors.Is(err, fs.ErrNotExist) {
		cfg, err = initialize(ctx, e.configPath, initOptions{dataDir: dataDir, hostname: "mail.example.test", listenHost: *listenHost, portOffset: *offset})
		if err != nil {
			return err
		}
		// A demo on loopback: allow passwords without TLS from loopback clients, for trials
		// with swaks or telnet. Production installations ('posta init') keep it off.
		cfg.Security.AllowInsecureAuth = true
		if err := cfg.Write(e.configPath); err != nil {
			return err
		}
		creds, err := createDemo(ctx, e, cfg)
		if err != nil {
			return err
		}
		if err := os.WriteFile(credsPath, creds, 0o600); err != nil {
			return err
		}
	} else {
		return err
	}
	creds, err := os.ReadFile(credsPath)
	if err != nil {
		return fmt.Errorf("demo credentials: %w", err)
	}
	printQuickstart(e, cfg, creds)
	if *noServe {
		return nil
	}
	log, err := observe.NewLogger(e.stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, log)
}

// createDemo creates the demo tenant, domain, administrator and accounts, and returns the
// credentials text.
func createDemo(ctx context.Context, e *env, cfg *config.Config) ([]byte, error) {
	srv, err := openServerFor(ctx, e, cfg)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	return demoData(directory.WithActor(ctx, directory.SystemActor("quickstart")), srv)
}

func demoData(ctx context.Context, srv *server.Server) ([]byte, error) {
	dir := srv.Directory
	if _, err := dir.CreateTenant(ctx, directory.TenantSpec{Name: "Demo", ContactEmail: "admin@example.test", Contract: directory.ContractPayg}); err != nil {
		return nil, err
	}
	if _, err := dir.AddDomain(ctx, "Demo", "example.test", directory.DomainOptions{}); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	adminPW := auth.GeneratePassword(16)
	if _, err := dir.CreateAdmin(ctx, directory.AdminSpec{Email: "admin@example.test", Password: adminPW, Role: directory.RoleProvider}); err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, "provider admin  admin@example.test  %s\n", adminPW)
	for _, u := range []struct{ addr, name string }{{"alice@example.test", "Alice Demo"}, {"bob@example.test", "Bob Demo"}} {
		pw := auth.GeneratePassword(16)
		if _, err := dir.CreateAccount(ctx, directory.AccountSpec{Address: u.addr, Password: pw, DisplayName: u.name, COS: demoCOS}); err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "mail account    %-19s %s\n", u.addr, pw)
	}
	if _, err := dir.AddAlias(ctx, "info@example.test", "alice@example.test"); err != nil {
		return nil, err
	}
	if _, err := dir.CreateList(ctx, directory.ListSpec{Address: "team@example.test", Name: "Demo team", PostPolicy: directory.PostTenant}); err != nil {
		return nil, err
	}
	for _, m := range []string{"alice@example.test", "bob@example.test"} {
		if err := dir.AddListMember(ctx, "team@example.test", m); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(&b, "alias           info@example.test -> alice@example.test\nlist            team@example.test -> alice, bob\n")
	return b.Bytes(), nil
}

func printQuickstart(e *env, cfg *config.Config, creds []byte) {
	l := cfg.Listen
	fmt.Fprintf(e.stdout, "\nposta %s quickstart: host %s, data in %s (%s)\n\n", version, cfg.Hostname, cfg.DataDir, cfg.Database.DSN)
	for _, p := range []struct{ name, addr string }{
		{"SMTP (MX)", l.SMTP}, {"Submission (STARTTLS)", l.Submission}, {"Submissions (TLS)", l.Submissions},
		{"IMAP (STARTTLS)", l.IMAP}, {"IMAPS", l.IMAPS}, {"POP3 (STLS)", l.POP3}, {"POP3S", l.POP3S},
		{"HTTP (health, metrics)", l.HTTP}, {"HTTPS", l.HTTPS},
	} {
		if p.addr != "" {
			fmt.Fprintf(e.stdout, "  %-24s %s\n", p.name, p.addr)
		}
	}
	fmt.Fprintf(e.stdout, "\nCredentials (also in %s):\n%s\n", filepath.Join(cfg.DataDir, "demo-credentials.txt"), creds)
	fmt.Fprintf(e.stdout, "The TLS certificate is self-signed (%s).\nManage it with: posta --config %s account list\n\n", cfg.TLS.Cert, filepath.Join(cfg.DataDir, "posta.toml"))
}
