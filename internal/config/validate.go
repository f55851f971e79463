package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds of the limits.
const (
	minMessageSize = 1 << 10 // 1 KiB
	maxMessageSize = 1 << 30 // 1 GiB
	maxRecipients  = 100000

	maxDNSTimeout   = time.Minute
	maxDNSAttempts  = 10
	maxDNSCacheSize = 10000000
	maxDNSTTL       = 7 * 24 * time.Hour
	maxDNSBLZones   = 20
	maxDNSBLTimeout = 30 * time.Second
)

// Validate checks the configuration. The error is an *Error naming the first offending key, with
// File "posta.toml".
func (c *Config) Validate() error {
	if err := c.validate("posta.toml"); err != nil {
		return err
	}
	return nil
}

// validate returns nil or an *Error; callers must not return a nil *Error as an error.
func (c *Config) validate(file string) *Error {
	bad := func(key, format string, args ...any) *Error {
		return &Error{File: file, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	if msg := checkHostname(c.Hostname, true); msg != "" {
		return bad("hostname", "%s", msg)
	}
	for _, f := range []struct{ key, val string }{
		{"data_dir", c.DataDir}, {"database.dsn", c.Database.DSN}, {"blob.dir", c.Blob.Dir},
		{"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key}, {"outbound.tls_roots", c.Outbound.TLSRoots},
	} {
		if !utf8.ValidString(f.val) {
			return bad(f.key, "is not valid UTF-8")
		}
		if strings.ContainsRune(f.val, 0) {
			return bad(f.key, "contains a NUL character")
		}
	}
	if c.DataDir == "" {
		return bad("data_dir", "is empty: expected the directory holding the database, the blobs and the certificates")
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
	if msg := checkDSN(c.Database.DSN); msg != "" {
		return bad("database.dsn", "%s", msg)
	}
	if c.Blob.Dir == "" {
		return bad("blob.dir", "is empty: expected the directory for message bodies, such as %q", DefaultBlobDir)
	}
	if e := c.validateListen(file); e != nil {
		return e
	}
	switch {
	case c.TLS.Cert != "" && c.TLS.Key == "":
		return bad("tls.key", "is empty but tls.cert is set: set both or neither")
	case c.TLS.Cert == "" && c.TLS.Key != "":
		return bad("tls.cert", "is empty but tls.key is set: set both or neither")
	case c.TLS.Cert == "" && c.TLS.SelfSigned:
		return bad("tls.self_signed", "is true but tls.cert and tls.key are empty")
	}
	if c.TLS.Cert == "" {
		for _, s := range services {
			if s.implicitTLS && *s.addr(&c.Listen) != "" {
				return bad("listen."+s.key, `speaks TLS from the first byte and needs a certificate: set tls.cert and tls.key, or set listen.%s = ""`, s.key)
			}
		}
	}
	if n := c.Limits.MaxMessageSize; n < minMessageSize || n > maxMessageSize {
		return bad("limits.max_message_size", "expected a positive number of bytes between %d (1 KiB) and %d (1 GiB), got %d",
			minMessageSize, maxMessageSize, n)
	}
	if n := c.Limits.MaxRecipients; n < 1 || n > maxRecipients {
		return bad("limits.max_recipients", "expected a positive number of recipients up to %d, got %d", maxRecipients, n)
	}
	if p := c.Outbound.Port; p < 1 || p > 65535 {
		return bad("outbound.port", "expected a TCP port between 1 and 65535, got %d", p)
	}
	for domain, route := range c.Outbound.Routes {
		if domain != "*" {
			if msg := checkHostname(domain, false); msg != "" {
				return bad("outbound.routes", "route for %q: %s", domain, msg)
			}
		}
		if _, port, err := net.SplitHostPort(route); err != nil || port == "" {
			return bad("outbound.routes", "route for %q: expected \"host:port\", got %q", domain, route)
		}
	}
	if e := c.validateDNS(bad); e != nil {
		return e
	}
	return c.validateInbound(bad)
}

// validateDNS checks the [dns] section.
func (c *Config) validateDNS(bad func(key, format string, args ...any) *Error) *Error {
	for i, u := range c.DNS.Upstreams {
		if msg := checkUpstream(u); msg != "" {
			return bad("dns.upstreams", "entry %d: %s", i+1, msg)
		}
	}
	for _, d := range []struct {
		key      string
		val      Duration
		min, max time.Duration
	}{
		{"dns.timeout", c.DNS.Timeout, time.Millisecond, maxDNSTimeout},
		{"dns.max_ttl", c.DNS.MaxTTL, time.Second, maxDNSTTL},
		{"dns.negative_ttl", c.DNS.NegativeTTL, time.Second, maxDNSTTL},
	} {
		if v := time.Duration(d.val); v < d.min || v > d.max {
			return bad(d.key, `expected a duration between %s and %s (such as "%s"), got "%s"`, d.min, d.max, d.min*2, d.val)
		}
	}
	if n := c.DNS.Attempts; n < 1 || n > maxDNSAttempts {
		return bad("dns.attempts", "expected a number of attempts between 1 and %d, got %d", maxDNSAttempts, n)
	}
	if n := c.DNS.CacheSize; n < 0 || n > maxDNSCacheSize {
		return bad("dns.cache_size", "expected a number of cached answers between 0 (no cache) and %d, got %d", maxDNSCacheSize, n)
	}
	return nil
}

// checkUpstream returns "" if u is an upstream resolver address ("IP", "IP:port" or
// "[IPv6]:port"), or why not. A name is refused: finding the resolver would need a resolver.
func checkUpstream(u string) string {
	const want = `expected an IP address with an optional port, such as "192.0.2.53", "192.0.2.53:5353" or "[2001:db8::53]:53"`
	host, port := strings.Trim(u, "[]"), ""
	if h, p, err := net.SplitHostPort(u); err == nil {
		host, port = h, p
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Sprintf("%s, got %q", want, u)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] < '0' || port[0] > '9' {
			return fmt.Sprintf("expected a port number between 1 and 65535 in %q", u)
		}
	}
	return ""
}

// validateInbound checks the [inbound] section.
func (c *Config) validateInbound(bad func(key, format string, args ...any) *Error) *Error {
	if n := len(c.Inbound.DNSBL); n > maxDNSBLZones {
		return bad("inbound.dnsbl", "lists %d zones; at most %d are looked up", n, maxDNSBLZones)
	}
	seen := map[string]bool{}
	for i, z := range c.Inbound.DNSBL {
		if msg := checkHostname(z, true); msg != "" || z == "localhost" {
			if msg == "" {
				msg = "expected a DNS zone such as zen.spamhaus.org"
			}
			return bad("inbound.dnsbl", "entry %d (%q): %s", i+1, z, msg)
		}
		if seen[strings.ToLower(z)] {
			return bad("inbound.dnsbl", "entry %d: zone %q is listed twice", i+1, z)
		}
		seen[strings.ToLower(z)] = true
	}
	switch c.Inbound.DNSBLAction {
	case "reject", "junk":
	default:
		return bad("inbound.dnsbl_action", `expected "reject" or "junk", got %q`, c.Inbound.DNSBLAction)
	}
	if v := time.Duration(c.Inbound.DNSBLTimeout); v < time.Millisecond || v > maxDNSBLTimeout {
		return bad("inbound.dnsbl_timeout", `expected a duration between %s and %s (such as "%s"), got "%s"`, time.Millisecond, maxDNSBLTimeout, DefaultDNSBLTimeout, c.Inbound.DNSBLTimeout)
	}
	return nil
}

// listenAddr is a parsed listener address, for detecting services that cannot both bind.
type listenAddr struct {
	key      string
	addr     string
	host     string // canonical: IP in netip form or lower-case name; "" for every interface
	port     int
	wildcard bool
}

func (c *Config) validateListen(file string) *Error {
	var seen []listenAddr
	for _, s := range services {
		addr := *s.addr(&c.Listen)
		if addr == "" {
			continue
		}
		key := "listen." + s.key
		bad := func(format string, args ...any) *Error {
			return &Error{File: file, Key: key, Msg: fmt.Sprintf(format, args...)}
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return bad(`expected "host:port" (such as "0.0.0.0:%d", "[::1]:%d" or ":%d"), got %q`, s.port, s.port, s.port, addr)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] < '0' || port[0] > '9' {
			return bad("expected a port number between 1 and 65535, got %q", port)
		}
		la := listenAddr{key: key, addr: addr, port: n}
		switch ip, err := netip.ParseAddr(host); {
		case host == "":
			la.wildcard = true
		case err == nil:
			la.host = ip.Unmap().String()
			la.wildcard = ip.IsUnspecified()
		default:
			if msg := checkHostname(host, false); msg != "" {
				return bad("expected an IP address or a host name before the port, got %q: %s", host, msg)
			}
			la.host = strings.ToLower(host)
		}
		// Two sockets on one port clash when their hosts are equal or one of them is every
		// interface (Linux refuses the second bind even with SO_REUSEADDR).
		for _, o := range seen {
			if o.port == la.port && (o.host == la.host || o.wildcard || la.wildcard) {
				return bad("address %s clashes with %s = %q: two services cannot listen on the same port", addr, o.key, o.addr)
			}
		}
		seen = append(seen, la)
	}
	return nil
}

// checkHostname returns "" if h is a valid DNS host name (RFC 1123 section 2.1, RFC 3696
// section 2), or why it is not. fqdn requires at least two labels, "localhost" excepted.
func checkHostname(h string, fqdn bool) string {
	const example = "such as mail.example.com"
	switch {
	case h == "":
		return "is required: the fully qualified name of this server, " + example
	case h == "localhost":
		return ""
	case len(h) > 253:
		return fmt.Sprintf("is %d characters long; a host name has at most 253", len(h))
	case strings.HasSuffix(h, "."):
		return fmt.Sprintf("expected a host name without the trailing dot, got %q", h)
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return fmt.Sprintf("expected a host name %s, got the IP address %q", example, h)
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return fmt.Sprintf("has an empty label in %q", h)
		case len(l) > 63:
			return fmt.Sprintf("has a label of %d characters in %q; a label has at most 63", len(l), h)
		case l[0] == '-' || l[len(l)-1] == '-':
			return fmt.Sprintf("has a label starting or ending with a hyphen in %q", h)
		}
		for _, r := range l {
			if r >= 0x80 {
				return fmt.Sprintf("contains the non-ASCII character %q: write an internationalised name in its ASCII form (xn--...)", r)
			}
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Sprintf("contains %q; a host name has only letters, digits, hyphens and dots", r)
			}
		}
	}
	if fqdn && len(labels) < 2 {
		return fmt.Sprintf("expected a fully qualified host name %s, got %q", example, h)
	}
	if tld := labels[len(labels)-1]; len(labels) > 1 && strings.Trim(tld, "0123456789") == "" {
		return fmt.Sprintf("has the all-numeric top-level label %q in %q", tld, h)
	}
	return ""
}

// checkDSN returns "" if dsn names a database posta can open, or why not. Messages never
// repeat a PostgreSQL DSN, which may hold a password.
func checkDSN(dsn string) string {
	const want = `expected "sqlite:PATH" or "postgres://user:password@host/database"`
	if dsn == "" {
		return "is empty: " + want
	}
	if p, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		if p == "" {
			return `"sqlite:" needs a file path, such as "sqlite:posta.db"`
		}
		// The path becomes a file: URI for the driver, where these characters have meaning.
		if i := strings.IndexAny(p, "?#%"); i >= 0 {
			return fmt.Sprintf("the SQLite path %q contains %q, which cannot appear in a database path", p, p[i])
		}
		return ""
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		// The parser's message may quote part of the password: say what to check instead.
		if u, err := url.Parse(dsn); err != nil || u.Opaque != "" {
			return "is not a valid PostgreSQL URL: check the host and port, and percent-encode " +
				"special characters in the user name and password (such as @ : / ? #)"
		}
		return ""
	}
	if scheme, _, ok := strings.Cut(dsn, ":"); ok && validScheme(scheme) {
		return fmt.Sprintf("unsupported database %q: %s", scheme, want)
	}
	return "has no recognised scheme: " + want
}

// validScheme reports whether s is a URI scheme (RFC 3986 section 3.1).
func validScheme(s string) bool {
	if s == "" || len(s) > 32 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
