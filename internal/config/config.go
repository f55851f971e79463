// Package config owns posta's bootstrap file, posta.toml: what a node needs before it can open
// its database (host name, data directory, database, blob store, listeners, TLS files, node-wide
// limits, log settings, the DNS resolver, inbound block lists). Everything else (tenants,
// domains, accounts, policies) lives in the database and must not be added here.
//
// Load decodes, completes and validates the file; every error it returns is an *Error naming the
// file, the key and what was expected. Write produces a commented file that Load reads back to an
// equal Config. The package only reads and writes the file: it opens no listener, no database
// and no certificate.
package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by Load to keys that are absent from the file.
const (
	// DefaultMaxMessageSize is 29 MiB, the provider's message size limit (RFC 1870 SIZE).
	DefaultMaxMessageSize = 30408704
	// DefaultMaxRecipients is the number of recipients accepted per message; RFC 5321
	// section 4.5.3.1.8 requires a server to accept at least 100.
	DefaultMaxRecipients = 100
	DefaultDSN           = "sqlite:posta.db"
	DefaultBlobDir       = "blobs"
	DefaultLogFormat     = "text"
	DefaultLogLevel      = "info"

	// The resolver's defaults (internal/resolver applies the same ones).
	DefaultDNSTimeout     = 2 * time.Second
	DefaultDNSAttempts    = 2
	DefaultDNSCacheSize   = 10000
	DefaultDNSMaxTTL      = 24 * time.Hour
	DefaultDNSNegativeTTL = time.Hour
	// DefaultDNSBLAction refuses mail from listed clients.
	DefaultDNSBLAction = "reject"
	// DefaultDNSBLTimeout bounds the block list look-ups of one client, all zones together
	// (internal/smtpserver applies the same one).
	DefaultDNSBLTimeout = 5 * time.Second
)

// Config is the content of posta.toml. After Load, DataDir and every path (the SQLite file,
// the blob directory, the TLS files) are absolute.
type Config struct {
	// Hostname is this node's fully qualified domain name, used in SMTP banners, Received
	// fields and client autoconfiguration.
	Hostname string `toml:"hostname"`
	// DataDir is the base of relative paths; relative to the configuration file's directory.
	DataDir  string   `toml:"data_dir"`
	Log      Log      `toml:"log"`
	Database Database `toml:"database"`
	Blob     Blob     `toml:"blob"`
	Listen   Listen   `toml:"listen"`
	TLS      TLS      `toml:"tls"`
	Limits   Limits   `toml:"limits"`
	Security Security `toml:"security"`
	Outbound Outbound `toml:"outbound"`
	Inbound  Inbound  `toml:"inbound"`
	DNS      DNS      `toml:"dns"`
}

// Log selects the log format and the minimum level.
type Log struct {
	Format string `toml:"format"` // "text" (default) or "json"
	// Trace logs every IMAP command at debug level, credentials and message bodies left out.
	Trace bool   `toml:"trace"`
	Level string `toml:"level"` // "debug", "info" (default), "warn" or "error"
}

// Database names the database.
type Database struct {
	// DSN is "sqlite:PATH" (PATH relative to data_dir) or "postgres://..." /
	// "postgresql://...".
	DSN string `toml:"dsn"`
}

// Blob configures the blob store holding message bodies.
type Blob struct {
	Dir string `toml:"dir"` // relative to data_dir; default "blobs"
}

// Listen has one "host:port" address per service; an empty address disables the service. An
// empty host listens on every interface.
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

// TLS names the certificate chain and key files (PEM, relative to data_dir). Both empty means
// no TLS: the implicit-TLS listeners must then be disabled.
type TLS struct {
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	// SelfSigned records that init generated the pair; doctor reports it.
	SelfSigned bool `toml:"self_signed"`
}

// Limits are the node-wide ceilings; tenants and classes of service may set lower ones.
type Limits struct {
	MaxMessageSize int64 `toml:"max_message_size"` // bytes
	MaxRecipients  int   `toml:"max_recipients"`   // per message
}

// Outbound configures delivery to other mail servers.
type Outbound struct {
	// Port is the SMTP port of receiving servers (25; another port only for tests).
	Port int `toml:"port"`
	// Routes send a domain's mail to a fixed "host:port" instead of its MX; "*" routes
	// every domain (a smarthost).
	Routes map[string]string `toml:"routes"`
	// TLSRoots is a PEM file of certificate authorities trusted besides the system's when
	// checking receiving servers' certificates (MTA-STS, REQUIRETLS) and MTA-STS policy
	// hosts: a private CA, or a test server's certificate.
	TLSRoots string `toml:"tls_roots"`
}

// Inbound configures the checks on mail arriving at the MX from other servers.
type Inbound struct {
	// DNSBL lists the DNS block list zones (such as "zen.spamhaus.org") in which the address
	// of every client that is neither loopback nor authenticated is looked up; empty: none.
	DNSBL []string `toml:"dnsbl"`
	// DNSBLAction is what happens to mail from a listed client: "reject" (554 at MAIL FROM,
	// the default) or "junk" (accepted into the recipients' Junk folder).
	DNSBLAction string `toml:"dnsbl_action"`
	// DNSBLTimeout bounds the look-ups of one client in every zone together; a client not
	// answered for by then is accepted as not listed.
	DNSBLTimeout Duration `toml:"dnsbl_timeout"`
}

// DNS configures the caching stub resolver used for every DNS look-up (MX, A/AAAA, TXT,
// TLSA, PTR, DNS block lists).
type DNS struct {
	// Upstreams are the recursive resolvers asked, in order, as "IP" or "IP:port"
	// ("[IPv6]:port"); empty means the nameservers of /etc/resolv.conf.
	Upstreams []string `toml:"upstreams"`
	// Timeout bounds one exchange with one upstream.
	Timeout Duration `toml:"timeout"`
	// Attempts is how many times the whole upstream list is tried.
	Attempts int `toml:"attempts"`
	// CacheSize is the number of answers cached; 0 disables the cache.
	CacheSize int `toml:"cache_size"`
	// MaxTTL caps how long a positive answer is cached.
	MaxTTL Duration `toml:"max_ttl"`
	// NegativeTTL caps how long a "no such name" or "no such record" answer is cached.
	NegativeTTL Duration `toml:"negative_ttl"`
}

// Duration is a length of time written as a Go duration string ("2s", "500ms", "1h30m").
type Duration time.Duration

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf(`expected a duration such as "2s", "500ms" or "1h", got %q`, b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration in the form UnmarshalText reads.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String returns the duration as "2s", "1h0m0s", ...
func (d Duration) String() string { return time.Duration(d).String() }

// Security holds switches meant for tests and trials.
type Security struct {
	// AllowInsecureAuth allows AUTH and LOGIN without TLS, from loopback clients only.
	AllowInsecureAuth bool `toml:"allow_insecure_auth"`
}

// Error is a configuration error. Every error returned by Load, Validate and Write's validation
// is an *Error.
type Error struct {
	File   string // the file as named to Load; "posta.toml" for Validate
	Key    string // dotted TOML key such as "limits.max_message_size"; "" if not about one key
	Line   int    // 1-based line of a TOML syntax error; 0 if unknown
	Column int    // 1-based column with Line; 0 if unknown
	Msg    string
	Err    error // underlying cause (such as an fs error), or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ", column %d", e.Column)
		}
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause, so that errors.Is(err, fs.ErrNotExist) works.
func (e *Error) Unwrap() error { return e.Err }

// service describes one listener: its key under [listen], standard port, whether it speaks
// implicit TLS, and where its address lives in Listen.
type service struct {
	key         string
	port        int
	implicitTLS bool
	addr        func(*Listen) *string
}

// services lists the listeners in the order they are written and validated.
var services = [...]service{
	{"smtp", 25, false, func(l *Listen) *string { return &l.SMTP }},
	{"submission", 587, false, func(l *Listen) *string { return &l.Submission }},
	{"submissions", 465, true, func(l *Listen) *string { return &l.Submissions }}, // RFC 8314
	{"imap", 143, false, func(l *Listen) *string { return &l.IMAP }},
	{"imaps", 993, true, func(l *Listen) *string { return &l.IMAPS }},
	{"pop3", 110, false, func(l *Listen) *string { return &l.POP3 }},
	{"pop3s", 995, true, func(l *Listen) *string { return &l.POP3S }},
	{"http", 80, false, func(l *Listen) *string { return &l.HTTP }},
	{"https", 443, true, func(l *Listen) *string { return &l.HTTPS }},
}

// Default returns a complete configuration: every listener on listenHost at its standard port
// plus portOffset, SQLite and blobs under dataDir, and a self-signed certificate at
// tls/cert.pem and tls/key.pem. Paths are left relative to dataDir, as Write writes them.
func Default(dataDir, hostname, listenHost string, portOffset int) *Config {
	c := &Config{
		Hostname: hostname,
		DataDir:  dataDir,
		Log:      Log{Format: DefaultLogFormat, Level: DefaultLogLevel},
		Database: Database{DSN: DefaultDSN},
		Blob:     Blob{Dir: DefaultBlobDir},
		TLS:      TLS{Cert: "tls/cert.pem", Key: "tls/key.pem", SelfSigned: true},
		Limits:   Limits{MaxMessageSize: DefaultMaxMessageSize, MaxRecipients: DefaultMaxRecipients},
		Outbound: Outbound{Port: 25},
		Inbound:  Inbound{DNSBLAction: DefaultDNSBLAction, DNSBLTimeout: Duration(DefaultDNSBLTimeout)},
		DNS: DNS{Timeout: Duration(DefaultDNSTimeout), Attempts: DefaultDNSAttempts, CacheSize: DefaultDNSCacheSize,
			MaxTTL: Duration(DefaultDNSMaxTTL), NegativeTTL: Duration(DefaultDNSNegativeTTL)},
	}
	for _, s := range services {
		*s.addr(&c.Listen) = net.JoinHostPort(listenHost, strconv.Itoa(s.port+portOffset))
	}
	return c
}

// SQLitePath returns the SQLite database file and true, or "" and false if the database is
// not SQLite.
func (c *Config) SQLitePath() (string, bool) {
	if p, ok := strings.CutPrefix(c.Database.DSN, "sqlite:"); ok {
		return p, true
	}
	return "", false
}

// IsPostgres reports whether the database is PostgreSQL.
func (c *Config) IsPostgres() bool {
	return strings.HasPrefix(c.Database.DSN, "postgres://") ||
		strings.HasPrefix(c.Database.DSN, "postgresql://")
}
