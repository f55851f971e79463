// Package mtasts is SMTP MTA Strict Transport Security (RFC 8461) for outbound delivery: it
// reads a domain's "_mta-sts" TXT record through the resolver, fetches the policy over HTTPS
// (certificate verified, no redirects, bounded size and time), parses it, keeps it in memory
// and in the database for its max_age, and fetches it again when the record's id changes.
//
// It decides nothing about a delivery: outbound asks for a domain's policy and applies it. It
// must not speak SMTP, and owns only the mta_sts_policies table.
package mtasts

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is what a policy asks of senders.
type Mode string

// The modes of RFC 8461 §5.
const (
	// ModeEnforce: deliver only to MX hosts matching the policy, over TLS with a certificate
	// valid for the MX host name.
	ModeEnforce Mode = "enforce"
	// ModeTesting: deliver as usual, but report (here: record) what would have failed.
	ModeTesting Mode = "testing"
	// ModeNone: the domain withdrew its policy.
	ModeNone Mode = "none"
)

// MaxAgeLimit is the largest max_age a policy may give (RFC 8461 §3.2: 31557600 seconds).
const MaxAgeLimit = 31557600 * time.Second

// MaxPolicySize is the largest policy body read (RFC 8461 §3.3 suggests 64 KiB).
const MaxPolicySize = 64 << 10

// Policy is a parsed MTA-STS policy.
type Policy struct {
	Mode   Mode
	MX     []string // patterns in lower case: "mx.example.org" or "*.example.org"
	MaxAge time.Duration
}

// ErrSyntax marks a policy or TXT record that does not follow RFC 8461.
var ErrSyntax = errors.New("mtasts: syntax error")

func syntaxf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

// Parse parses a policy body (RFC 8461 §3.2): lines "key: value" separated by CRLF or LF;
// "version" must be the first and say STSv1; "mode" and "max_age" are required, "mx" is
// required (one or more) unless the mode is none; unknown keys are ignored.
func Parse(b []byte) (*Policy, error) {
	if len(b) > MaxPolicySize {
		return nil, syntaxf("policy longer than %d bytes", MaxPolicySize)
	}
	var p Policy
	var haveVersion, haveMode, haveAge bool
	lines := bytes.Split(b, []byte("\n"))
	for i, raw := range lines {
		line := strings.TrimSuffix(string(raw), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, syntaxf("line %d: no ':'", i+1)
		}
		if !validKey(key) {
			return nil, syntaxf("line %d: bad field name %q", i+1, key)
		}
		value = strings.Trim(value, " \t")
		if !validValue(value) {
			return nil, syntaxf("line %d: bad value for %q", i+1, key)
		}
		if !haveVersion && key != "version" {
			return nil, syntaxf("line %d: %q before version", i+1, key)
		}
		switch key {
		case "version":
			if haveVersion {
				return nil, syntaxf("line %d: version given twice", i+1)
			}
			if value != "STSv1" {
				return nil, syntaxf("version %q, want STSv1", value)
			}
			haveVersion = true
		case "mode":
			if haveMode {
				return nil, syntaxf("line %d: mode given twice", i+1)
			}
			switch Mode(value) {
			case ModeEnforce, ModeTesting, ModeNone:
				p.Mode = Mode(value)
			default:
				return nil, syntaxf("mode %q, want enforce, testing or none", value)
			}
			haveMode = true
		case "max_age":
			if haveAge {
				return nil, syntaxf("line %d: max_age given twice", i+1)
			}
			if len(value) == 0 || len(value) > 10 || strings.Trim(value, "0123456789") != "" {
				return nil, syntaxf("max_age %q is not 1 to 10 digits", value)
			}
			n, _ := strconv.ParseUint(value, 10, 64)
			p.MaxAge = time.Duration(min(n, uint64(MaxAgeLimit/time.Second))) * time.Second
			haveAge = true
		case "mx":
			pat := strings.ToLower(strings.TrimSuffix(value, "."))
			if !validPattern(pat) {
				return nil, syntaxf("mx pattern %q", value)
			}
			p.MX = append(p.MX, pat)
		}
	}
	switch {
	case !haveVersion:
		return nil, syntaxf("no version")
	case !haveMode:
		return nil, syntaxf("no mode")
	case !haveAge:
		return nil, syntaxf("no max_age")
	case len(p.MX) == 0 && p.Mode != ModeNone:
		return nil, syntaxf("no mx in a policy with mode %s", p.Mode)
	}
	return &p, nil
}

// validKey: sts-policy-term field names are 1*32 (ALPHA / DIGIT / "_" / "-" / ".").
func validKey(k string) bool {
	if len(k) == 0 || len(k) > 32 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validValue: visible ASCII and inner spaces (sts-policy-vchar, WSP), or UTF-8 (RFC 8461
// allows it in extension values).
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validPattern: a host name in A-labels, optionally with "*." as its whole first label.
func validPattern(p string) bool {
	p = strings.TrimPrefix(p, "*.")
	if p == "" || len(p) > 253 {
		return false
	}
	for _, l := range strings.Split(p, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Matches reports whether host (an MX host name) matches one of the policy's mx patterns
// (RFC 8461 §4.1: a wildcard stands for exactly one leftmost label).
func (p *Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if suffix, ok := strings.CutPrefix(pat, "*."); ok {
			first, rest, found := strings.Cut(host, ".")
			if found && first != "" && rest == suffix {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// String renders the policy in its own format (how it is stored).
func (p *Policy) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: STSv1\r\nmode: %s\r\n", p.Mode)
	for _, mx := range p.MX {
		fmt.Fprintf(&b, "mx: %s\r\n", mx)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", int64(p.MaxAge/time.Second))
	return b.String()
}

// ParseRecord parses the TXT record at _mta-sts.<domain> (RFC 8461 §3.1):
// "v=STSv1; id=…;" with v first and an id of 1 to 32 letters and digits. Other fields are
// ignored.
func ParseRecord(txt string) (id string, err error) {
	fields := strings.Split(txt, ";")
	for i, f := range fields {
		f = strings.Trim(f, " \t")
		if f == "" {
			if i == len(fields)-1 {
				break
			}
			return "", syntaxf("empty field in %q", txt)
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return "", syntaxf("field %q without '='", f)
		}
		k, v = strings.Trim(k, " \t"), strings.Trim(v, " \t")
		if i == 0 {
			if k != "v" || v != "STSv1" {
				return "", syntaxf("record does not begin with v=STSv1")
			}
			continue
		}
		if k == "id" {
			if id != "" {
				return "", syntaxf("id given twice")
			}
			if len(v) == 0 || len(v) > 32 || !alnum(v) {
				return "", syntaxf("id %q is not 1 to 32 letters and digits", v)
			}
			id = v
		}
	}
	if id == "" {
		return "", syntaxf("no id")
	}
	return id, nil
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
