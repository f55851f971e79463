// Package config owns posta's bootstrap file, posta.toml: what a node needs to start (hostname,
// data directory, database, blob store, listeners, TLS, limits). Everything else (tenants,
// domains, accounts, policies) lives in the database and must not be added here. Errors name the
// file, the key and what was expected.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// DefaultMaxMessageSize is 29 MiB, the provider's message size limit.
const DefaultMaxMessageSize = 30408704

// Config is the content of posta.toml.
type Config struct {
	Hostname string   `toml:"hostname"`
	DataDir  string   `toml:"data_dir"`
	Log      Log      `toml:"log"`
	Database Database `toml:"database"`
	Blob     Blob     `toml:"blob"`
	Listen   Listen   `toml:"listen"`
	TLS      TLS      `toml:"tls"`
	Limits   Limits   `toml:"limits"`
	Security Security `toml:"security"`
}

// Log selects the log format ("text" or "json") and level.
type Log struct {
	Format string `toml:"format"`
	Level  string `toml:"level"`
}

// Database names the database: "sqlite:PATH" (relative to data_dir) or "postgres://...".
type Database struct {
	DSN string `toml:"dsn"`
}

// Blob is the blob store directory (relative to data_dir).
type Blob struct {
	Dir string `toml:"dir"`
}

// Listen has one "host:port" per service; an empty address disables the service.
type Listen struct {
	SMTP        string `toml:"smtp"`
	Submission  string `toml:"submission"`
	Submissions string `toml:"submissions"`
	IMAP        string `toml:"imap"`
	IMAPS       string `toml:"imaps"`
	POP3        string `toml:"pop3"`
	POP3S       string `toml:"pop3s"`
	HTTP        string `toml:"http"`
	HTTPS       string `toml:"https"`
}

// TLS names the certificate and key files (relative to data_dir).
type TLS struct {
	Cert       string `toml:"cert"`
	Key        string `toml:"key"`
	SelfSigned bool   `toml:"self_signed"`
}

// Limits are the node-wide defaults; tenants and classes of service may lower them.
type Limits struct {
	MaxMessageSize int64 `toml:"max_message_size"`
	MaxRecipients  int   `toml:"max_recipients"`
}

// Security holds switches meant for tests and trials.
type Security struct {
	// AllowInsecureAuth allows passwords without TLS on loopback connections only.
	AllowInsecureAuth bool `toml:"allow_insecure_auth"`
}

// Error is a configuration error.
type Error struct {
	File string
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Key, e.Msg)
}

// Service names and their standard ports.
var standardPorts = []struct {
	key  string
	port int
	get  func(*Listen) *string
}{
	{"smtp", 25, func(l *Listen) *string { return &l.SMTP }},
	{"submission", 587, func(l *Listen) *string { return &l.Submission }},
	{"submissions", 465, func(l *Listen) *string { return &l.Submissions }},
	{"imap", 143, func(l *Listen) *string { return &l.IMAP }},
	{"imaps", 993, func(l *Listen) *string { return &l.IMAPS }},
	{"pop3", 110, func(l *Listen) *string { return &l.POP3 }},
	{"pop3s", 995, func(l *Listen) *string { return &l.POP3S }},
	{"http", 80, func(l *Listen) *string { return &l.HTTP }},
	{"https", 443, func(l *Listen) *string { return &l.HTTPS }},
}

// Default returns a configuration with every listener at its standard port plus portOffset on
// listenHost, SQLite in dataDir, and a self-signed certificate.
func Default(dataDir, hostname, listenHost string, portOffset int) *Config {
	c := &Config{
		Hostname: hostname,
		DataDir:  dataDir,
		Log:      Log{Format: "text", Level: "info"},
		Database: Database{DSN: "sqlite:posta.db"},
		Blob:     Blob{Dir: "blobs"},
		TLS:      TLS{Cert: "tls/cert.pem", Key: "tls/key.pem", SelfSigned: true},
		Limits:   Limits{MaxMessageSize: DefaultMaxMessageSize, MaxRecipients: 100},
	}
	for _, sp := range standardPorts {
		*sp.get(&c.Listen) = net.JoinHostPort(listenHost, strconv.Itoa(sp.port+portOffset))
	}
	return c
}

// Load reads, completes and validates the file at path. Relative paths are resolved against
// data_dir, itself relative to the file's directory.
func Load(path string) (*Config, error) {
	name := filepath.Base(path)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	var c Config
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: name, Msg: fmt.Sprintf("line %d: %s", pe.Position.Line, pe.Message)}
		}
		return nil, &Error{File: name, Msg: err.Error()}
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, &Error{File: name, Key: und[0].String(), Msg: "unknown key"}
	}
	c.applyDefaults()
	if c.DataDir == "" {
		c.DataDir = "."
	}
	if !filepath.IsAbs(c.DataDir) {
		c.DataDir = filepath.Join(filepath.Dir(path), c.DataDir)
	}
	c.resolvePaths()
	if err := c.validate(name); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) applyDefaults() {
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Database.DSN == "" {
		c.Database.DSN = "sqlite:posta.db"
	}
	if c.Blob.Dir == "" {
		c.Blob.Dir = "blobs"
	}
	if c.Limits.MaxMessageSize == 0 {
		c.Limits.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.Limits.MaxRecipients == 0 {
		c.Limits.MaxRecipients = 100
	}
}

func (c *Config) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.DataDir, p)
}

func (c *Config) resolvePaths() {
	if p, ok := strings.CutPrefix(c.Database.DSN, "sqlite:"); ok {
		c.Database.DSN = "sqlite:" + c.abs(p)
	}
	c.Blob.Dir = c.abs(c.Blob.Dir)
	c.TLS.Cert = c.abs(c.TLS.Cert)
	c.TLS.Key = c.abs(c.TLS.Key)
}

// Validate checks the configuration; errors are *Error values naming the key.
func (c *Config) Validate() error { return c.validate("posta.toml") }

func (c *Config) validate(file string) error {
	bad := func(key, format string, args ...any) error {
		return &Error{File: file, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	if !validHostname(c.Hostname) {
		return bad("hostname", "expected a fully qualified host name such as mail.example.com, got %q", c.Hostname)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", `expected "text" or "json", got %q`, c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", `expected "debug", "info", "warn" or "error", got %q`, c.Log.Level)
	}
	dsn := c.Database.DSN
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		if strings.TrimPrefix(dsn, "sqlite:") == "" {
			return bad("database.dsn", "sqlite: needs a file path")
		}
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
	default:
		return bad("database.dsn", `expected "sqlite:PATH" or "postgres://...", got %q`, dsn)
	}
	seen := map[string]string{}
	for _, sp := range standardPorts {
		addr := *sp.get(&c.Listen)
		if addr == "" {
			continue
		}
		key := "listen." + sp.key
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return bad(key, "expected host:port, got %q", addr)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad(key, "expected a port between 1 and 65535, got %q", port)
		}
		if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
			return bad(key, "expected an IP address or host name, got %q", host)
		}
		if other, dup := seen[addr]; dup {
			return bad(key, "address %s is already used by listen.%s", addr, other)
		}
		seen[addr] = sp.key
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return bad("tls", "cert and key must both be set or both be empty")
	}
	if c.Limits.MaxMessageSize < 1024 || c.Limits.MaxMessageSize > 1<<30 {
		return bad("limits.max_message_size", "expected a number of bytes between 1024 and 1073741824, got %d", c.Limits.MaxMessageSize)
	}
	if c.Limits.MaxRecipients < 1 || c.Limits.MaxRecipients > 100000 {
		return bad("limits.max_recipients", "expected a number between 1 and 100000, got %d", c.Limits.MaxRecipients)
	}
	return nil
}

// validHostname accepts DNS names of at least two labels (and "localhost").
func validHostname(h string) bool {
	if h == "localhost" {
		return true
	}
	if len(h) == 0 || len(h) > 253 || !strings.Contains(h, ".") {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// IsPostgres reports whether the database is PostgreSQL.
func (c *Config) IsPostgres() bool { return !strings.HasPrefix(c.Database.DSN, "sqlite:") }

// Write writes the configuration to path atomically (mode 0600), with comments. Paths under
// data_dir are written relative to it.
func (c *Config) Write(path string) error {
	rel := func(p string) string {
		if r, err := filepath.Rel(c.DataDir, p); err == nil && !strings.HasPrefix(r, "..") && filepath.IsAbs(p) {
			return r
		}
		return p
	}
	dsn := c.Database.DSN
	if p, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		dsn = "sqlite:" + rel(p)
	}
	var b bytes.Buffer
	q := strconv.Quote
	fmt.Fprintf(&b, "# posta bootstrap configuration. Tenants, domains and accounts live in the database.\n\n")
	fmt.Fprintf(&b, "# This server's fully qualified host name (banners, Received headers, client settings).\nhostname = %s\n", q(c.Hostname))
	fmt.Fprintf(&b, "# Base directory for the relative paths below.\ndata_dir = %s\n\n", q(c.DataDir))
	fmt.Fprintf(&b, "[log]\nformat = %s # text or json\nlevel = %s  # debug, info, warn, error\n\n", q(c.Log.Format), q(c.Log.Level))
	fmt.Fprintf(&b, "[database]\n# sqlite:PATH (embedded, default) or postgres://user:pass@host/db (several nodes)\ndsn = %s\n\n", q(dsn))
	fmt.Fprintf(&b, "[blob]\n# Message bodies, content-addressed.\ndir = %s\n\n", q(rel(c.Blob.Dir)))
	fmt.Fprintf(&b, "[listen]\n# host:port per service; an empty string disables it.\n")
	for _, sp := range standardPorts {
		fmt.Fprintf(&b, "%s = %s\n", sp.key, q(*sp.get(&c.Listen)))
	}
	fmt.Fprintf(&b, "\n[tls]\ncert = %s\nkey = %s\nself_signed = %v\n\n", q(rel(c.TLS.Cert)), q(rel(c.TLS.Key)), c.TLS.SelfSigned)
	fmt.Fprintf(&b, "[limits]\n# Bytes; 30408704 = 29 MB. Tenants and classes of service may set lower limits.\nmax_message_size = %d\nmax_recipients = %d\n\n", c.Limits.MaxMessageSize, c.Limits.MaxRecipients)
	fmt.Fprintf(&b, "[security]\n# Allow passwords without TLS from loopback clients only (tests and trials).\nallow_insecure_auth = %v\n", c.Security.AllowInsecureAuth)
	return writeFileAtomic(path, b.Bytes(), 0o600)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".posta-config-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
