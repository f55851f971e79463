package smtpserver

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/postamail/posta/internal/resolver"
)

// DefaultDNSBLTimeout bounds the block list look-ups of one client, all zones together.
const DefaultDNSBLTimeout = 5 * time.Second

// dnsblField is the header field that records a listing of a client whose mail was accepted
// into Junk. Authentication-Results (RFC 8601) carries only registered authentication
// methods, and a block list is none: the listing gets a field of its own.
const dnsblField = "X-Posta-DNSBL"

// DNSBLResolver is what the block list checks need of a resolver (internal/resolver's
// Resolver).
type DNSBLResolver interface {
	LookupDNSBL(ctx context.Context, zone string, addr netip.Addr) ([]netip.Addr, resolver.Result, error)
	LookupTXT(ctx context.Context, name string) ([]string, resolver.Result, error)
}

// dnsblErrorCodes are the answers some lists give for refused or over-quota queries.
var dnsblErrorCodes = netip.MustParsePrefix("127.255.255.0/24")

// listing is a client's entry in a block list.
type listing struct {
	zone   string
	codes  []netip.Addr
	reason string // the zone's TXT record, sanitised; may be empty
}

// dnsblChecked reports whether this session's client is looked up in the block lists: on the
// MX, unauthenticated, and not from the local MTA unless the configuration says so.
func (s *session) dnsblChecked() bool {
	return s.mode == MX && len(s.s.cfg.DNSBL) > 0 && s.s.cfg.DNS != nil && s.account == nil &&
		s.ip.IsValid() && (!s.loopback || s.s.cfg.CheckLoopback)
}

// checkDNSBL looks the client up in every zone, once per connection, and returns the SMTP
// refusal when the client is listed and the action is to reject. A look-up that fails is
// logged and counts as not listed: a DNS problem never refuses mail.
func (s *session) checkDNSBL() error {
	if !s.dnsblChecked() {
		return nil
	}
	if !s.dnsblDone {
		s.dnsblDone = true
		s.listing = s.lookupDNSBL()
	}
	if s.listing == nil || s.s.cfg.DNSBLJunk {
		return nil
	}
	msg := fmt.Sprintf("Service unavailable; client [%s] listed by %s", s.ip, s.listing.zone)
	if s.listing.reason != "" {
		msg += " (" + s.listing.reason + ")"
	}
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: msg}
}

// lookupDNSBL asks every zone in parallel and returns the listing of the first zone, in
// configuration order, that lists the client, or nil.
func (s *session) lookupDNSBL() *listing {
	timeout := s.s.cfg.DNSBLTimeout
	if timeout <= 0 {
		timeout = DefaultDNSBLTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx(), timeout)
	defer cancel()
	zones := s.s.cfg.DNSBL
	found := make([]*listing, len(zones))
	var wg sync.WaitGroup
	for i, zone := range zones {
		wg.Go(func() {
			found[i] = s.lookupZone(ctx, zone)
		})
	}
	wg.Wait()
	for _, l := range found {
		if l != nil {
			return l
		}
	}
	return nil
}

// lookupZone looks the client up in one zone and records the outcome.
func (s *session) lookupZone(ctx context.Context, zone string) *listing {
	result := "clean"
	defer func() {
		if m := s.s.cfg.Metrics; m != nil {
			m.DNSBLChecks.WithLabelValues(zone, result).Inc()
		}
	}()
	codes, _, err := s.s.cfg.DNS.LookupDNSBL(ctx, zone, s.ip)
	if err != nil {
		result = "error"
		s.s.log.Warn("smtp: block list look-up failed; the client is accepted", "session", s.id, "ip", s.ip, "zone", zone, "err", err)
		return nil
	}
	if len(codes) == 0 {
		return nil
	}
	// RFC 5782 §2.1: listings are 127.0.0.0/8. Answers elsewhere, and the 127.255.255.0/24
	// codes some lists return for refused or over-quota queries, are errors, not listings.
	var listed []netip.Addr
	for _, c := range codes {
		if c.Is4() && c.As4()[0] == 127 && !dnsblErrorCodes.Contains(c) {
			listed = append(listed, c)
		}
	}
	if len(listed) == 0 {
		result = "error"
		s.s.log.Warn("smtp: block list answered with an error code; the client is accepted", "session", s.id, "ip", s.ip, "zone", zone, "codes", codes)
		return nil
	}
	result = "listed"
	l := &listing{zone: zone, codes: listed}
	if name, err := resolver.DNSBLName(zone, s.ip); err == nil {
		if txt, _, err := s.s.cfg.DNS.LookupTXT(ctx, name); err == nil && len(txt) > 0 {
			l.reason = reason(txt[0])
		}
	}
	s.s.log.Info("smtp: client listed by a block list", "session", s.id, "ip", s.ip, "zone", zone, "codes", listed, "reason", l.reason)
	return l
}

// reason makes a block list's TXT record fit in an SMTP reply and a header field: printable
// ASCII on one line, at most 200 characters.
func reason(txt string) string {
	txt = strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f {
			return ' '
		}
		return r
	}, txt)
	txt = strings.Join(strings.Fields(txt), " ")
	if len(txt) > 200 {
		txt = txt[:197] + "..."
	}
	return txt
}

// field is the X-Posta-DNSBL header field recording the listing.
func (l *listing) field(ip netip.Addr) string {
	codes := make([]string, len(l.codes))
	for i, c := range l.codes {
		codes[i] = c.String()
	}
	f := fmt.Sprintf("%s: listed by %s; client=[%s]; codes=%s", dnsblField, l.zone, ip, strings.Join(codes, ","))
	if l.reason != "" {
		f += "; reason=\"" + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(l.reason) + "\""
	}
	return f + "\r\n"
}

// stripField removes every field named name (compared without regard to case) from the
// header of msg, so that a sender cannot forge the verdicts this server records. The body is
// never touched.
func stripField(msg []byte, name string) []byte {
	var out []byte
	i, last := 0, 0
	for i < len(msg) {
		// One field: its line and the continuation lines.
		j := i
		for {
			nl := bytes.IndexByte(msg[j:], '\n')
			if nl < 0 {
				j = len(msg)
				break
			}
			j += nl + 1
			if j >= len(msg) || msg[j] != ' ' && msg[j] != '\t' {
				break
			}
		}
		line := msg[i:j]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the empty line ending the header
		}
		if colon := bytes.IndexByte(line, ':'); colon > 0 && strings.EqualFold(strings.TrimRight(string(line[:colon]), " \t"), name) {
			out = append(out, msg[last:i]...)
			last = j
		}
		i = j
	}
	if last == 0 {
		return msg
	}
	return append(out, msg[last:]...)
}
