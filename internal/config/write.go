package config

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/atomicfile"
)

// Write validates the configuration and writes it to path as a commented TOML file that Load
// reads back to an equal Config. Paths inside data_dir are written relative to it. The file is
// replaced atomically (temporary file, fsync, rename, fsync of the directory) with mode 0600.
func (c *Config) Write(path string) error {
	if err := c.validate(path); err != nil {
		return err
	}
	var b bytes.Buffer
	c.encode(&b)
	if err := atomicfile.Write(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	return nil
}

// encode writes the file's text. Every value is written explicitly, so that the file documents
// the settings in force.
func (c *Config) encode(b *bytes.Buffer) {
	rel := c.relative
	dsn := c.Database.DSN
	if p, ok := c.SQLitePath(); ok {
		dsn = "sqlite:" + rel(p)
	}
	line := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }

	line("# posta bootstrap configuration: what this node needs to start.")
	line("# Tenants, domains, accounts and policies live in the database, not here.")
	line("")
	line("# Fully qualified name of this server: SMTP banner, Received fields, client setup.")
	line("hostname = %s", quote(c.Hostname))
	line("# Base directory for the relative paths below; relative to this file's directory.")
	line("data_dir = %s", quote(c.DataDir))
	line("")
	line("[log]")
	line("format = %s # \"text\" or \"json\"", quote(c.Log.Format))
	line("level = %s # \"debug\", \"info\", \"warn\" or \"error\"", quote(c.Log.Level))
	line("trace = %t # log every IMAP command at debug level (credentials redacted)", c.Log.Trace)
	line("")
	line("[database]")
	line("# \"sqlite:PATH\" (embedded, one node) or \"postgres://user:password@host/database\"")
	line("# (several nodes sharing one database).")
	line("dsn = %s", quote(dsn))
	line("")
	line("[blob]")
	line("# Message bodies, stored by content hash.")
	line("dir = %s", quote(rel(c.Blob.Dir)))
	line("")
	line("[listen]")
	line("# \"host:port\" per service; an empty host listens on every interface, an empty")
	line("# string disables the service. submissions, imaps, pop3s and https need [tls].")
	for _, s := range services {
		line("%s = %s", s.key, quote(*s.addr(&c.Listen)))
	}
	line("")
	line("[tls]")
	line("# PEM certificate chain (server certificate first) and private key. Replacing the")
	line("# files is enough: posta reloads them within seconds.")
	line("cert = %s", quote(rel(c.TLS.Cert)))
	line("key = %s", quote(rel(c.TLS.Key)))
	line("# true when posta init generated a self-signed certificate (clients will warn).")
	line("self_signed = %t", c.TLS.SelfSigned)
	line("")
	line("[limits]")
	line("# Node-wide ceilings; tenants and classes of service may set lower ones.")
	line("max_message_size = %d # bytes; %d is 29 MiB", c.Limits.MaxMessageSize, DefaultMaxMessageSize)
	line("max_recipients = %d # per message", c.Limits.MaxRecipients)
	line("")
	line("[outbound]")
	line("# SMTP port of receiving servers; only tests use another.")
	line("port = %d", c.Outbound.Port)
	line("# PEM file of certificate authorities trusted besides the system's for receiving")
	line("# servers (MTA-STS, REQUIRETLS) and MTA-STS policy hosts.")
	if c.Outbound.TLSRoots != "" {
		line("tls_roots = %s", quote(rel(c.Outbound.TLSRoots)))
	} else {
		line("tls_roots = \"\"")
	}
	line("# Fixed routes, in a [outbound.routes] table: domain = \"host:port\" (\"*\" for every")
	line("# domain: a smarthost).")
	if len(c.Outbound.Routes) > 0 {
		line("[outbound.routes]")
		domains := make([]string, 0, len(c.Outbound.Routes))
		for d := range c.Outbound.Routes {
			domains = append(domains, d)
		}
		sort.Strings(domains)
		for _, d := range domains {
			line("%s = %s", quote(d), quote(c.Outbound.Routes[d]))
		}
	}
	line("")
	line("[inbound]")
	line("# DNS block list zones in which the address of every client of the MX that is neither")
	line("# loopback nor authenticated is looked up, such as [\"zen.spamhaus.org\"]; empty: none.")
	line("# A DNS failure never refuses mail.")
	line("dnsbl = %s", quoteList(c.Inbound.DNSBL))
	line("# \"reject\": refuse mail from a listed client (554 5.7.1 at MAIL FROM); \"junk\": accept")
	line("# it into the recipients' Junk folder, with an X-Posta-DNSBL header field.")
	line("dnsbl_action = %s", quote(c.Inbound.DNSBLAction))
	line("# Longest wait for the look-ups of one client, every zone together (1ms to 30s); a")
	line("# client not answered for by then is accepted as not listed.")
	line("dnsbl_timeout = %s", quote(c.Inbound.DNSBLTimeout.String()))
	line("")
	line("[dns]")
	line("# Recursive resolvers asked for every look-up (MX, A/AAAA, TXT, TLSA, PTR, block lists),")
	line("# in order, as \"IP\" or \"IP:port\"; empty: the nameservers of /etc/resolv.conf. Use a")
	line("# validating resolver: DANE needs its DNSSEC verdict (the AD bit).")
	line("upstreams = %s", quoteList(c.DNS.Upstreams))
	line("timeout = %s # one exchange with one upstream", quote(c.DNS.Timeout.String()))
	line("attempts = %d # passes over the upstream list before a temporary failure", c.DNS.Attempts)
	line("cache_size = %d # answers cached; 0 disables the cache", c.DNS.CacheSize)
	line("max_ttl = %s # longest time a positive answer is cached", quote(c.DNS.MaxTTL.String()))
	line("negative_ttl = %s # longest time a \"no such name/record\" answer is cached", quote(c.DNS.NegativeTTL.String()))
	line("")
	line("[security]")
	line("# Allow passwords without TLS from loopback clients only. For tests and trials.")
	line("allow_insecure_auth = %t", c.Security.AllowInsecureAuth)
}

// quoteList returns ss as a TOML array of basic strings.
func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// relative returns p relative to DataDir when p lies inside it, else p unchanged.
func (c *Config) relative(p string) string {
	if p == "" || !filepath.IsAbs(p) || !filepath.IsAbs(c.DataDir) {
		return p
	}
	r, err := filepath.Rel(c.DataDir, p)
	if err != nil || r == "." || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return p
	}
	return r
}

// quote returns s as a TOML basic string. Control characters use the escapes TOML 1.0 defines
// (section "String"); strconv.Quote's \a, \v and \x are not TOML.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				b.WriteString(`\u`)
				b.WriteString(strconv.FormatInt(int64(r)|0x10000, 16)[1:])
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
