package imapwire

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SyntaxError is a command that does not follow the grammar; the server answers BAD.
type SyntaxError struct {
	Tag string // "" when even the tag could not be read ("*" is then used)
	Msg string
}

func (e *SyntaxError) Error() string { return "syntax error: " + e.Msg }

// Parser reads the arguments of one command in wire form (literals in place).
type Parser struct {
	b   []byte
	pos int
}

// NewParser returns a parser over the arguments of a command.
func NewParser(args []byte) *Parser { return &Parser{b: args} }

func (p *Parser) errorf(format string, args ...any) error {
	return &SyntaxError{Msg: fmt.Sprintf(format, args...)}
}

// More reports whether arguments remain.
func (p *Parser) More() bool { return p.pos < len(p.b) }

// Peek returns the next byte, or 0 at the end.
func (p *Parser) Peek() byte {
	if p.pos < len(p.b) {
		return p.b[p.pos]
	}
	return 0
}

// Consume skips c if it is next.
func (p *Parser) Consume(c byte) bool {
	if p.Peek() == c && p.More() {
		p.pos++
		return true
	}
	return false
}

// Expect requires c next.
func (p *Parser) Expect(c byte) error {
	if !p.Consume(c) {
		return p.errorf("expected %q at offset %d", c, p.pos)
	}
	return nil
}

func (p *Parser) sp() bool { return p.Consume(' ') }

// SP requires one space.
func (p *Parser) SP() error {
	if !p.sp() {
		if !p.More() {
			return p.errorf("missing argument")
		}
		return p.errorf("expected a space at offset %d", p.pos)
	}
	return nil
}

// End requires the end of the arguments.
func (p *Parser) End() error {
	if p.More() {
		return p.errorf("unexpected %q at offset %d", truncate(string(p.b[p.pos:]), 20), p.pos)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c > 0x20 && c < 0x7f
}

func (p *Parser) tag() string {
	start := p.pos
	for p.pos < len(p.b) && (isAtomChar(p.b[p.pos]) || p.b[p.pos] == ']') && p.b[p.pos] != '+' {
		p.pos++
	}
	return string(p.b[start:p.pos])
}

func (p *Parser) atomUpper() string {
	start := p.pos
	for p.pos < len(p.b) && isAtomChar(p.b[p.pos]) {
		p.pos++
	}
	return strings.ToUpper(string(p.b[start:p.pos]))
}

// Atom reads an atom.
func (p *Parser) Atom() (string, error) {
	start := p.pos
	for p.pos < len(p.b) && isAtomChar(p.b[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("expected an atom at offset %d", p.pos)
	}
	return string(p.b[start:p.pos]), nil
}

// Keyword reads an atom and returns it upper-cased.
func (p *Parser) Keyword() (string, error) {
	a, err := p.Atom()
	return strings.ToUpper(a), err
}

// charsWhile consumes bytes for which ok is true (at least one).
func (p *Parser) charsWhile(ok func(byte) bool, what string) (string, error) {
	start := p.pos
	for p.pos < len(p.b) && ok(p.b[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return "", p.errorf("expected %s at offset %d", what, p.pos)
	}
	return string(p.b[start:p.pos]), nil
}

// AString reads an atom (with "]" allowed) or a string.
func (p *Parser) AString() (string, error) {
	switch p.Peek() {
	case '"', '{', '~':
		return p.String()
	}
	return p.charsWhile(func(c byte) bool { return isAtomChar(c) || c == ']' || c >= 0x80 }, "a string")
}

// ListMailbox reads a LIST pattern: list-chars (wildcards allowed) or a string.
func (p *Parser) ListMailbox() (string, error) {
	switch p.Peek() {
	case '"', '{', '~':
		return p.String()
	}
	return p.charsWhile(func(c byte) bool {
		return isAtomChar(c) || c == '%' || c == '*' || c == ']' || c >= 0x80
	}, "a mailbox pattern")
}

// String reads a quoted string or a literal.
func (p *Parser) String() (string, error) {
	b, _, err := p.StringBytes()
	return string(b), err
}

// StringBytes reads a quoted string or a literal and returns its bytes (a literal's bytes are
// not copied) and whether it was a literal8 (~{n}, RFC 3516).
func (p *Parser) StringBytes() (b []byte, literal8 bool, err error) {
	switch p.Peek() {
	case '"':
		s, err := p.quoted()
		return []byte(s), false, err
	case '~':
		p.pos++
		if p.Peek() != '{' {
			return nil, false, p.errorf("expected a literal8 at offset %d", p.pos)
		}
		b, err := p.literal()
		return b, true, err
	case '{':
		b, err := p.literal()
		return b, false, err
	}
	return nil, false, p.errorf("expected a string at offset %d", p.pos)
}

func (p *Parser) quoted() (string, error) {
	p.pos++ // opening quote
	var sb strings.Builder
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		switch {
		case c == '"':
			p.pos++
			s := sb.String()
			if !utf8.ValidString(s) {
				return "", p.errorf("quoted string is not valid UTF-8")
			}
			return s, nil
		case c == '\\':
			if p.pos+1 >= len(p.b) || (p.b[p.pos+1] != '"' && p.b[p.pos+1] != '\\') {
				return "", p.errorf("bad escape in quoted string at offset %d", p.pos)
			}
			sb.WriteByte(p.b[p.pos+1])
			p.pos += 2
		case c == '\r' || c == '\n' || c == 0:
			return "", p.errorf("control character in quoted string")
		default:
			sb.WriteByte(c)
			p.pos++
		}
	}
	return "", p.errorf("unterminated quoted string")
}

func (p *Parser) literal() ([]byte, error) {
	end := strings.IndexByte(string(p.b[p.pos:min(len(p.b), p.pos+24)]), '}')
	if end < 0 {
		return nil, p.errorf("bad literal at offset %d", p.pos)
	}
	digits := strings.TrimSuffix(string(p.b[p.pos+1:p.pos+end]), "+")
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 {
		return nil, p.errorf("bad literal size %q", digits)
	}
	p.pos += end + 1
	if p.pos+2 > len(p.b) || p.b[p.pos] != '\r' || p.b[p.pos+1] != '\n' {
		return nil, p.errorf("literal size must end the line")
	}
	p.pos += 2
	if int64(len(p.b)-p.pos) < n {
		return nil, p.errorf("literal shorter than announced")
	}
	b := p.b[p.pos : p.pos+int(n)]
	p.pos += int(n)
	return b, nil
}

// NString reads NIL (ok false) or a string.
func (p *Parser) NString() (s string, ok bool, err error) {
	if p.nil() {
		return "", false, nil
	}
	s, err = p.String()
	return s, true, err
}

func (p *Parser) nil() bool {
	if len(p.b)-p.pos >= 3 && strings.EqualFold(string(p.b[p.pos:p.pos+3]), "NIL") &&
		(p.pos+3 == len(p.b) || !isAtomChar(p.b[p.pos+3])) {
		p.pos += 3
		return true
	}
	return false
}

// Number reads a 32-bit number.
func (p *Parser) Number() (uint32, error) {
	s, err := p.charsWhile(isDigit, "a number")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, p.errorf("number %s out of range", truncate(s, 20))
	}
	return uint32(n), nil
}

// Number64 reads a 63-bit number (RFC 9051 number64).
func (p *Parser) Number64() (int64, error) {
	s, err := p.charsWhile(isDigit, "a number")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, p.errorf("number %s out of range", truncate(s, 20))
	}
	return n, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// List reads "(" item *(SP item) ")" calling item for each; an empty list is allowed.
func (p *Parser) List(item func() error) error {
	if err := p.Expect('('); err != nil {
		return err
	}
	if p.Consume(')') {
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if p.Consume(')') {
			return nil
		}
		if err := p.SP(); err != nil {
			return err
		}
	}
}

// Flag reads a flag: \Atom (system flag or \*) or a keyword atom.
func (p *Parser) Flag() (string, error) {
	if p.Consume('\\') {
		if p.Consume('*') {
			return `\*`, nil
		}
		a, err := p.Atom()
		return `\` + a, err
	}
	return p.Atom()
}

// FlagList reads a parenthesised list of flags; a single flag without parentheses is also
// accepted (STORE allows it).
func (p *Parser) FlagList() ([]string, error) {
	var flags []string
	if p.Peek() != '(' {
		for {
			f, err := p.Flag()
			if err != nil {
				return nil, err
			}
			flags = append(flags, f)
			if !p.sp() {
				return flags, nil
			}
		}
	}
	err := p.List(func() error {
		f, err := p.Flag()
		flags = append(flags, f)
		return err
	})
	return flags, err
}

var months = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

func parseDateText(s string) (time.Time, bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	day, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || day < 1 || day > 31 {
		return time.Time{}, false
	}
	mon := -1
	for i, m := range months {
		if strings.EqualFold(parts[1], m) {
			mon = i
		}
	}
	year, err := strconv.Atoi(parts[2])
	if mon < 0 || err != nil || len(parts[2]) != 4 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(mon+1), day, 0, 0, 0, 0, time.UTC), true
}

// Date reads a SEARCH date (d-MMM-yyyy, optionally quoted); the result is midnight UTC of
// that day.
func (p *Parser) Date() (time.Time, error) {
	var s string
	var err error
	if p.Peek() == '"' {
		s, err = p.quoted()
	} else {
		s, err = p.charsWhile(func(c byte) bool { return isAtomChar(c) }, "a date")
	}
	if err != nil {
		return time.Time{}, err
	}
	t, ok := parseDateText(s)
	if !ok {
		return time.Time{}, p.errorf("bad date %q, expected d-Mon-yyyy", truncate(s, 20))
	}
	return t, nil
}

// DateTime reads an APPEND date-time: "dd-Mon-yyyy hh:mm:ss +zzzz".
func (p *Parser) DateTime() (time.Time, error) {
	if p.Peek() != '"' {
		return time.Time{}, p.errorf("expected a quoted date-time")
	}
	s, err := p.quoted()
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse("_2-Jan-2006 15:04:05 -0700", s)
	if err != nil {
		return time.Time{}, p.errorf("bad date-time %q", truncate(s, 30))
	}
	return t, nil
}

// FormatDateTime writes t as an IMAP date-time (INTERNALDATE).
func FormatDateTime(t time.Time) string { return t.Format("02-Jan-2006 15:04:05 -0700") }

// Rest returns the unparsed remainder and consumes it.
func (p *Parser) Rest() []byte {
	b := p.b[p.pos:]
	p.pos = len(p.b)
	return b
}
