package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// macroToken is one piece of an SPF macro-string (RFC 7208 §7.1): a literal,
// or a macro with its transformers.
type macroToken struct {
	literal string // when letter is 0
	letter  byte   // lower-case macro letter
	upper   bool   // URL-escape the expansion
	digits  int    // keep this many right-hand parts; 0 keeps all
	reverse bool
	delims  string // split on these; "" means "."
	escape  bool   // literal produced by %%, %_ or %- (a macro-expand)
}

type macroString []macroToken

// maxMacroDigits caps the DIGIT transformer; no name has more labels.
const maxMacroDigits = 128

// parseMacroString parses s as a macro-string; explain allows what an
// explain-string allows besides (spaces, and the c, r and t macros).
func parseMacroString(s string, explain bool) (macroString, error) {
	var out macroString
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, macroToken{literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if c < 0x21 && !(explain && c == ' ') || c > 0x7e {
				return nil, fmt.Errorf("character %q not allowed at offset %d", c, i)
			}
			lit.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return nil, fmt.Errorf("lone %% at offset %d", i)
		}
		i++
		switch s[i] {
		case '%', '_', '-':
			flush()
			out = append(out, macroToken{literal: escapeValue(s[i]), escape: true})
			continue
		case '{':
		default:
			return nil, fmt.Errorf("invalid macro %%%c at offset %d", s[i], i-1)
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unterminated macro at offset %d", i-1)
		}
		tok, err := parseMacro(s[i+1:i+end], explain)
		if err != nil {
			return nil, fmt.Errorf("macro at offset %d: %w", i-1, err)
		}
		flush()
		out = append(out, tok)
		i += end
	}
	flush()
	return out, nil
}

// parseMacro parses the inside of %{...}: a letter, *DIGIT, optional "r",
// then delimiters.
func parseMacro(body string, explain bool) (macroToken, error) {
	if body == "" {
		return macroToken{}, errors.New("empty macro")
	}
	var t macroToken
	l := body[0]
	switch {
	case 'a' <= l && l <= 'z':
		t.letter = l
	case 'A' <= l && l <= 'Z':
		t.letter, t.upper = l+('a'-'A'), true
	default:
		return t, fmt.Errorf("invalid macro letter %q", l)
	}
	switch t.letter {
	case 's', 'l', 'o', 'd', 'i', 'p', 'h', 'v':
	case 'c', 'r', 't':
		if !explain {
			return t, fmt.Errorf("macro letter %q allowed only in explanations", l)
		}
	default:
		return t, fmt.Errorf("invalid macro letter %q", l)
	}
	i := 1
	for i < len(body) && '0' <= body[i] && body[i] <= '9' {
		if t.digits <= maxMacroDigits {
			t.digits = t.digits*10 + int(body[i]-'0')
		}
		i++
	}
	if i > 1 {
		if t.digits == 0 {
			return t, errors.New("zero DIGIT transformer")
		}
		t.digits = min(t.digits, maxMacroDigits)
	}
	if i < len(body) && (body[i] == 'r' || body[i] == 'R') {
		t.reverse = true
		i++
	}
	for ; i < len(body); i++ {
		if strings.IndexByte(".-+,/_=", body[i]) < 0 {
			return t, fmt.Errorf("invalid delimiter %q", body[i])
		}
		t.delims += body[i : i+1]
	}
	return t, nil
}

// escapeValue returns what %%, %_ and %- expand to.
func escapeValue(c byte) string {
	switch c {
	case '_':
		return " "
	case '-':
		return "%20"
	}
	return "%"
}

// escapeSource is the inverse of escapeValue.
func escapeSource(v string) string {
	switch v {
	case " ":
		return "%_"
	case "%20":
		return "%-"
	}
	return "%%"
}

// String returns the macro-string in its source form.
func (m macroString) String() string {
	var b strings.Builder
	for _, t := range m {
		if t.letter == 0 {
			if t.escape {
				b.WriteString(escapeSource(t.literal))
			} else {
				b.WriteString(t.literal)
			}
			continue
		}
		b.WriteString("%{")
		if t.upper {
			b.WriteByte(t.letter - ('a' - 'A'))
		} else {
			b.WriteByte(t.letter)
		}
		if t.digits > 0 {
			b.WriteString(strconv.Itoa(t.digits))
		}
		if t.reverse {
			b.WriteByte('r')
		}
		b.WriteString(t.delims)
		b.WriteByte('}')
	}
	return b.String()
}

// macroEnv holds the values macros expand to.
type macroEnv struct {
	sender   string // %{s}
	local    string // %{l}
	origin   string // %{o}
	domain   string // %{d}, the domain being checked
	ip       netip.Addr
	helo     string // %{h}
	receiver string // %{r}
	now      int64  // %{t}
	// ptr returns the validated domain name of ip for %{p}.
	ptr func(ctx context.Context, domain string) string
}

// expand expands m in env.
func (m macroString) expand(ctx context.Context, env *macroEnv) string {
	var b strings.Builder
	for _, t := range m {
		if t.letter == 0 {
			b.WriteString(t.literal)
			continue
		}
		v := env.value(ctx, t.letter)
		delims := t.delims
		if delims == "" {
			delims = "."
		}
		parts := splitAny(v, delims)
		if t.reverse {
			for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
				parts[i], parts[j] = parts[j], parts[i]
			}
		}
		if t.digits > 0 && t.digits < len(parts) {
			parts = parts[len(parts)-t.digits:]
		}
		v = strings.Join(parts, ".")
		if t.upper {
			v = urlEscape(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

func (env *macroEnv) value(ctx context.Context, letter byte) string {
	switch letter {
	case 's':
		return env.sender
	case 'l':
		return env.local
	case 'o':
		return env.origin
	case 'd':
		return env.domain
	case 'i':
		return dotIP(env.ip)
	case 'c':
		return env.ip.String()
	case 'p':
		if env.ptr == nil {
			return "unknown"
		}
		return env.ptr(ctx, env.domain)
	case 'v':
		if env.ip.Is4() {
			return "in-addr"
		}
		return "ip6"
	case 'h':
		return env.helo
	case 'r':
		if env.receiver == "" {
			return "unknown"
		}
		return env.receiver
	case 't':
		return strconv.FormatInt(env.now, 10)
	}
	return ""
}

// splitAny splits s at every byte found in delims, keeping empty parts.
func splitAny(s, delims string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(delims, s[i]) >= 0 {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// dotIP returns ip as %{i} expands it: dotted quad, or dot-separated nibbles
// for IPv6.
func dotIP(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	if ip.Is4() {
		return ip.String()
	}
	const hex = "0123456789abcdef"
	b16 := ip.As16()
	out := make([]byte, 0, 63)
	for i, x := range b16 {
		if i > 0 {
			out = append(out, '.')
		}
		out = append(out, hex[x>>4], '.', hex[x&0xf])
	}
	return string(out)
}

// urlEscape escapes every octet outside the RFC 3986 unreserved set.
func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// truncateDomain drops labels from the left until name fits 253 octets
// (RFC 7208 §7.3).
func truncateDomain(name string) string {
	for len(strings.TrimSuffix(name, ".")) > 253 {
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return ""
		}
		name = name[i+1:]
	}
	return name
}
