// Package autoconfig owns client auto-configuration: the servers, ports and security a mail
// client needs (Settings, derived from the node's listeners in posta.toml and its host name),
// and the documents that hand them to clients so that nobody types them — Mozilla Thunderbird's
// autoconfig (config-v1.1.xml, on /.well-known/autoconfig/ and on the autoconfig.<domain> host),
// Outlook's Autodiscover (the POX protocol) and Apple configuration profiles (.mobileconfig).
//
// It answers only for domains hosted here (a domain the directory does not know gets 404) and
// never reveals whether an address exists: the settings are the same for every address of a
// domain. It holds no business rule and stores nothing.
package autoconfig

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/config"
)

// Settings are the mail servers of this node as clients reach them. A port of 0 means the
// service is not offered (its listener is disabled, or it needs a certificate the node lacks).
type Settings struct {
	Hostname    string `json:"hostname"`
	IMAP        int    `json:"imap,omitempty"`        // STARTTLS
	IMAPS       int    `json:"imaps,omitempty"`       // implicit TLS
	POP3        int    `json:"pop3,omitempty"`        // STLS
	POP3S       int    `json:"pop3s,omitempty"`       // implicit TLS
	Submission  int    `json:"submission,omitempty"`  // STARTTLS, AUTH required
	Submissions int    `json:"submissions,omitempty"` // implicit TLS, AUTH required
	HTTPS       int    `json:"https,omitempty"`       // the web console (self-service)
}

// FromConfig derives the settings from the configuration: the port of each listener (its
// "host:port" address) and the host name. Implicit-TLS services count only when a certificate
// is configured, as the server starts them only then.
func FromConfig(cfg *config.Config) Settings {
	port := func(addr string) int {
		if addr == "" {
			return 0
		}
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			return 0
		}
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return 0
		}
		return n
	}
	tls := func(addr string) int {
		if cfg.TLS.Cert == "" {
			return 0
		}
		return port(addr)
	}
	l := cfg.Listen
	return Settings{
		Hostname:    cfg.Hostname,
		IMAP:        port(l.IMAP),
		IMAPS:       tls(l.IMAPS),
		POP3:        port(l.POP3),
		POP3S:       tls(l.POP3S),
		Submission:  port(l.Submission),
		Submissions: tls(l.Submissions),
		HTTPS:       tls(l.HTTPS),
	}
}

// Standard are the settings of a node on the standard ports (IMAP 143/993, POP3 110/995,
// submission 587/465, HTTPS 443), for when the listeners are not known.
func Standard(hostname string) Settings {
	return Settings{Hostname: hostname, IMAP: 143, IMAPS: 993, POP3: 110, POP3S: 995, Submission: 587, Submissions: 465, HTTPS: 443}
}

// WebURL is the address of the web console (self-service and, later, webmail), or "" when
// there is no HTTPS listener.
func (s Settings) WebURL() string {
	switch s.HTTPS {
	case 0:
		return ""
	case 443:
		return "https://" + s.Hostname + "/"
	}
	return "https://" + net.JoinHostPort(s.Hostname, strconv.Itoa(s.HTTPS)) + "/"
}

// Server is one way to reach a service.
type Server struct {
	Protocol string // "imap", "pop3", "smtp"
	Port     int
	// Security is "tls" (implicit TLS from the first byte) or "starttls".
	Security string
}

// Incoming lists the IMAP and POP3 servers, most preferred first: implicit TLS before
// STARTTLS (RFC 8314), IMAP before POP3.
func (s Settings) Incoming() []Server {
	var out []Server
	add := func(proto string, port int, sec string) {
		if port != 0 {
			out = append(out, Server{proto, port, sec})
		}
	}
	add("imap", s.IMAPS, "tls")
	add("imap", s.IMAP, "starttls")
	add("pop3", s.POP3S, "tls")
	add("pop3", s.POP3, "starttls")
	return out
}

// Outgoing lists the submission servers, implicit TLS first.
func (s Settings) Outgoing() []Server {
	var out []Server
	if s.Submissions != 0 {
		out = append(out, Server{"smtp", s.Submissions, "tls"})
	}
	if s.Submission != 0 {
		out = append(out, Server{"smtp", s.Submission, "starttls"})
	}
	return out
}

// first returns the most preferred server of proto, and whether there is one.
func first(list []Server, proto string) (Server, bool) {
	for _, s := range list {
		if s.Protocol == proto {
			return s, true
		}
	}
	return Server{}, false
}

// Domains tells whether a domain is hosted here (the directory's IsLocalDomain).
type Domains interface {
	IsLocalDomain(ctx context.Context, domain string) (bool, error)
}

// domainOfAddress returns the lower-cased domain of an e-mail address, or "".
func domainOfAddress(addr string) string {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return ""
	}
	return normDomain(addr[at+1:])
}

// normDomain checks and lower-cases a domain name (ASCII letters, digits, hyphens, dots).
func normDomain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if d == "" || len(d) > 253 || !strings.Contains(d, ".") {
		return ""
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return ""
		}
	}
	return d
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
