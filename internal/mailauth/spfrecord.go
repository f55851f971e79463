package mailauth

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SPFRecord is a parsed SPF record (RFC 7208 §4.6, §12).
type SPFRecord struct {
	Directives []SPFDirective
	// Redirect and Exp are the domain-specs of the redirect= and exp=
	// modifiers, unexpanded; empty when absent.
	Redirect string
	Exp      string
	// Unknown holds the other modifiers, which evaluation ignores.
	Unknown []SPFModifier

	redirect, exp macroString
}

// SPFDirective is a mechanism with its qualifier.
type SPFDirective struct {
	// Qualifier is '+', '-', '~' or '?' ('+' when the record omits it).
	Qualifier byte
	// Mechanism is "all", "include", "a", "mx", "ptr", "ip4", "ip6" or
	// "exists".
	Mechanism string
	// Domain is the domain-spec, unexpanded; empty when absent.
	Domain string
	// Prefix is the network of ip4 and ip6.
	Prefix netip.Prefix
	// CIDR4 and CIDR6 are the dual-cidr-length of a and mx (-1 when
	// absent).
	CIDR4, CIDR6 int

	domain macroString
}

// SPFModifier is a name=value modifier.
type SPFModifier struct {
	Name, Value string
}

// SPFSyntaxError is a syntax error in an SPF record.
type SPFSyntaxError struct {
	Term string // the offending term, or "" for the record as a whole
	Msg  string
}

func (e *SPFSyntaxError) Error() string {
	if e.Term == "" {
		return "spf: " + e.Msg
	}
	return fmt.Sprintf("spf: term %q: %s", e.Term, e.Msg)
}

// isSPFRecord reports whether txt is an SPF version 1 record: "v=spf1"
// alone or followed by a space (RFC 7208 §4.5).
func isSPFRecord(txt string) bool {
	return len(txt) >= 6 && strings.EqualFold(txt[:6], "v=spf1") && (len(txt) == 6 || txt[6] == ' ')
}

// ParseSPF parses an SPF record. Terms are separated by spaces; mechanism
// and modifier names are case-insensitive; unknown mechanisms, duplicate
// redirect= or exp=, and malformed domain-specs, addresses or prefix
// lengths are errors (a permerror when evaluated).
func ParseSPF(record string) (*SPFRecord, error) {
	if !isSPFRecord(record) {
		return nil, &SPFSyntaxError{Msg: "record does not start with v=spf1"}
	}
	rec := &SPFRecord{}
	for _, term := range strings.Split(record[6:], " ") {
		if term == "" {
			continue
		}
		if err := rec.parseTerm(term); err != nil {
			return nil, &SPFSyntaxError{Term: term, Msg: err.Error()}
		}
	}
	return rec, nil
}

func (rec *SPFRecord) parseTerm(term string) error {
	// A modifier's name runs up to "="; a mechanism's name up to ":" or "/".
	if i := strings.IndexAny(term, "=:/"); i >= 0 && term[i] == '=' {
		return rec.parseModifier(term[:i], term[i+1:])
	}
	d := SPFDirective{Qualifier: '+', CIDR4: -1, CIDR6: -1}
	if strings.IndexByte("+-~?", term[0]) >= 0 {
		d.Qualifier = term[0]
		term = term[1:]
	}
	name, rest := term, ""
	if i := strings.IndexAny(term, ":/"); i >= 0 {
		name, rest = term[:i], term[i:]
	}
	d.Mechanism = strings.ToLower(name)
	var err error
	switch d.Mechanism {
	case "all":
		if rest != "" {
			return errors.New("all takes no argument")
		}
	case "include", "exists":
		if !strings.HasPrefix(rest, ":") {
			return fmt.Errorf("%s requires a domain", d.Mechanism)
		}
		d.Domain = rest[1:]
		d.domain, err = parseDomainSpec(d.Domain)
	case "ptr":
		if rest != "" {
			if rest[0] != ':' {
				return errors.New("ptr takes no prefix length")
			}
			d.Domain = rest[1:]
			d.domain, err = parseDomainSpec(d.Domain)
		}
	case "a", "mx":
		if strings.HasPrefix(rest, ":") {
			spec := rest[1:]
			cidr := ""
			if i := cidrStart(spec); i >= 0 {
				spec, cidr = spec[:i], spec[i:]
			}
			d.Domain = spec
			if d.domain, err = parseDomainSpec(spec); err != nil {
				return err
			}
			rest = cidr
		}
		d.CIDR4, d.CIDR6, err = parseDualCIDR(rest)
	case "ip4", "ip6":
		if !strings.HasPrefix(rest, ":") {
			return fmt.Errorf("%s requires an address", d.Mechanism)
		}
		d.Prefix, err = parseIPNetwork(rest[1:], d.Mechanism == "ip6")
	default:
		return fmt.Errorf("unknown mechanism %q", name)
	}
	if err != nil {
		return err
	}
	rec.Directives = append(rec.Directives, d)
	return nil
}

func (rec *SPFRecord) parseModifier(name, value string) error {
	if !isModifierName(name) {
		return fmt.Errorf("invalid modifier name %q", name)
	}
	var err error
	switch strings.ToLower(name) {
	case "redirect":
		if rec.redirect != nil {
			return errors.New("duplicate redirect modifier")
		}
		rec.Redirect = value
		rec.redirect, err = parseDomainSpec(value)
	case "exp":
		if rec.exp != nil {
			return errors.New("duplicate exp modifier")
		}
		rec.Exp = value
		rec.exp, err = parseDomainSpec(value)
	default:
		if _, err = parseMacroString(value, true); err == nil {
			rec.Unknown = append(rec.Unknown, SPFModifier{name, value})
		}
	}
	return err
}

// isModifierName reports whether s is ALPHA *( ALPHA / DIGIT / "-" / "_" /
// "." ).
func isModifierName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// cidrStart returns the index of the "/" that starts a dual-cidr-length
// after a domain-spec, skipping "/" used as a macro delimiter, or -1.
func cidrStart(spec string) int {
	for i := 0; i < len(spec); i++ {
		switch spec[i] {
		case '%':
			if i+1 < len(spec) && spec[i+1] == '{' {
				end := strings.IndexByte(spec[i:], '}')
				if end < 0 {
					return -1
				}
				i += end
			} else {
				i++ // %%, %_ or %-
			}
		case '/':
			return i
		}
	}
	return -1
}

// parseDualCIDR parses [ "/" ip4-cidr-length ] [ "//" ip6-cidr-length ].
func parseDualCIDR(s string) (int, int, error) {
	v4, v6 := -1, -1
	if s == "" {
		return v4, v6, nil
	}
	if !strings.HasPrefix(s, "/") {
		return 0, 0, fmt.Errorf("unexpected %q", s)
	}
	var v4s, v6s string
	if i := strings.Index(s, "//"); i >= 0 {
		v4s, v6s = s[:i], s[i+2:]
		if v6s == "" {
			return 0, 0, errors.New("empty IPv6 prefix length")
		}
	} else {
		v4s = s
	}
	var err error
	if v4s != "" {
		if v4, err = parseCIDRLength(v4s[1:], 32); err != nil {
			return 0, 0, err
		}
	}
	if v6s != "" {
		if v6, err = parseCIDRLength(v6s, 128); err != nil {
			return 0, 0, err
		}
	}
	return v4, v6, nil
}

// parseCIDRLength parses a prefix length without leading zeros, at most
// limit.
func parseCIDRLength(s string, limit int) (int, error) {
	if s == "" || len(s) > 3 || len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("invalid prefix length %q", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > limit || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("invalid prefix length %q", s)
	}
	return n, nil
}

// parseIPNetwork parses ip4-network [ ip4-cidr-length ] or the IPv6 form.
func parseIPNetwork(s string, v6 bool) (netip.Prefix, error) {
	addr, length := s, ""
	if i := strings.IndexByte(s, '/'); i >= 0 {
		addr, length = s[:i], s[i+1:]
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" || ip.Is4() == v6 {
		return netip.Prefix{}, fmt.Errorf("invalid address %q", addr)
	}
	bits := ip.BitLen()
	if i := strings.IndexByte(s, '/'); i >= 0 {
		if bits, err = parseCIDRLength(length, ip.BitLen()); err != nil {
			return netip.Prefix{}, err
		}
	}
	return netip.PrefixFrom(ip, bits).Masked(), nil
}

// parseDomainSpec parses a domain-spec: a macro-string whose end is a macro
// or "." and a top label, optionally followed by "." (RFC 7208 §7.1).
func parseDomainSpec(s string) (macroString, error) {
	if s == "" {
		return nil, errors.New("empty domain-spec")
	}
	m, err := parseMacroString(s, false)
	if err != nil {
		return nil, err
	}
	last := m[len(m)-1]
	if last.letter != 0 || last.escape {
		return m, nil
	}
	lit := strings.TrimSuffix(last.literal, ".")
	i := strings.LastIndexByte(lit, '.')
	if i < 0 || !isTopLabel(lit[i+1:]) {
		return nil, fmt.Errorf("domain-spec %q does not end in a valid top label", s)
	}
	return m, nil
}

// isTopLabel reports whether s is a toplabel: alphanumerics and hyphens, not
// starting or ending with a hyphen, and not all digits.
func isTopLabel(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	alpha, hyphen := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isAlpha(c):
			alpha = true
		case c == '-':
			hyphen = true
		case !isDigit(c):
			return false
		}
	}
	return alpha || hyphen
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// String returns the record in a canonical form: lower-case names,
// qualifiers only where not "+", modifiers last.
func (rec *SPFRecord) String() string {
	var b strings.Builder
	b.WriteString("v=spf1")
	for _, d := range rec.Directives {
		b.WriteByte(' ')
		b.WriteString(d.String())
	}
	if rec.redirect != nil {
		b.WriteString(" redirect=" + rec.Redirect)
	}
	if rec.exp != nil {
		b.WriteString(" exp=" + rec.Exp)
	}
	for _, m := range rec.Unknown {
		b.WriteString(" " + m.Name + "=" + m.Value)
	}
	return b.String()
}

// String returns the directive in record form.
func (d SPFDirective) String() string {
	var b strings.Builder
	if d.Qualifier != '+' && d.Qualifier != 0 {
		b.WriteByte(d.Qualifier)
	}
	b.WriteString(d.Mechanism)
	switch d.Mechanism {
	case "ip4", "ip6":
		b.WriteString(":" + d.Prefix.Addr().String())
		if d.Prefix.Bits() != d.Prefix.Addr().BitLen() {
			b.WriteString("/" + strconv.Itoa(d.Prefix.Bits()))
		}
	default:
		if d.Domain != "" {
			b.WriteString(":" + d.Domain)
		}
		if d.CIDR4 >= 0 {
			b.WriteString("/" + strconv.Itoa(d.CIDR4))
		}
		if d.CIDR6 >= 0 {
			b.WriteString("//" + strconv.Itoa(d.CIDR6))
		}
	}
	return b.String()
}
