// Package contentline reads the content lines that vCard (RFC 6350 §3.3) and iCalendar
// (RFC 5545 §3.1) share: physical lines ended by CRLF or LF, unfolded where a line starts with
// a space or a tab; a name with an optional group; parameters with quoted, multiple and
// caret-encoded (RFC 6868) values; and the value as written. Each line carries its line number
// and the byte offsets where it stands in the input, so that callers can keep the original
// text of the objects they find byte for byte.
//
// It must not interpret names or values beyond the text escapes both formats define: the
// vcard and ical packages decide what the lines mean.
package contentline

import (
	"bytes"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"
)

// Error is bad input at a line (1-based).
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Errorf returns an Error at line.
func Errorf(line int, format string, args ...any) *Error {
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Param is one parameter with its values (unquoted, caret escapes decoded).
type Param struct {
	Name   string // upper case
	Values []string
}

// Line is one unfolded content line.
type Line struct {
	Num        int // number of its first physical line
	Start, End int // byte offsets of the whole folded line in the input, End after its line break
	Group      string
	Name       string // upper case
	Params     []Param
	Value      string // as written, without folding; escapes kept
	// Err is set when the line is not a valid content line; the other fields are then
	// unreliable, except Num, Start and End.
	Err *Error
}

// Param returns the first value of the named parameter, or "".
func (l *Line) Param(name string) string {
	for _, p := range l.Params {
		if p.Name == name && len(p.Values) > 0 {
			return p.Values[0]
		}
	}
	return ""
}

// HasParamValue reports whether the named parameter has value (case-insensitive) among its
// values (vCard 2.1 flags such as TEL;HOME count as TYPE values).
func (l *Line) HasParamValue(name, value string) bool {
	for _, p := range l.Params {
		if p.Name != name {
			continue
		}
		for _, v := range p.Values {
			if strings.EqualFold(v, value) {
				return true
			}
		}
	}
	return false
}

// Is reports whether the line is NAME:VALUE with the value equal to value, ignoring case
// (BEGIN:VCARD, END:VEVENT).
func (l *Line) Is(name, value string) bool {
	return l.Err == nil && l.Name == name && strings.EqualFold(strings.TrimSpace(l.Value), value)
}

// Scanner reads content lines one after another. Blank lines are skipped.
type Scanner struct {
	data []byte
	pos  int
	num  int // number of the last physical line read
	line Line
}

// NewScanner returns a scanner of data. A UTF-8 byte order mark at the start (as Windows
// programs write) is skipped.
func NewScanner(data []byte) *Scanner {
	s := &Scanner{data: data}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		s.pos = 3
	}
	return s
}

// physical returns the next physical line without its line break, its start offset, the offset
// after its break, and false at the end of the input.
func (s *Scanner) physical() (text []byte, start, end int, ok bool) {
	if s.pos >= len(s.data) {
		return nil, 0, 0, false
	}
	start = s.pos
	i := bytes.IndexByte(s.data[s.pos:], '\n')
	if i < 0 {
		end = len(s.data)
		text = s.data[start:end]
	} else {
		end = s.pos + i + 1
		text = s.data[start : end-1]
	}
	text = bytes.TrimSuffix(text, []byte{'\r'})
	s.pos = end
	s.num++
	return text, start, end, true
}

// continues reports whether the next physical line continues the current one (folding).
func (s *Scanner) continues() bool {
	return s.pos < len(s.data) && (s.data[s.pos] == ' ' || s.data[s.pos] == '\t')
}

// Scan reads the next content line; false at the end of the input.
func (s *Scanner) Scan() bool {
	var text []byte
	var start, end int
	for {
		t, st, e, ok := s.physical()
		if !ok {
			return false
		}
		if len(bytes.TrimSpace(t)) > 0 {
			text, start, end = t, st, e
			break
		}
	}
	num := s.num
	var buf []byte
	if s.continues() {
		buf = append([]byte(nil), text...)
		for s.continues() {
			t, _, e, _ := s.physical()
			buf = append(buf, t[1:]...)
			end = e
		}
		text = buf
	}
	s.line = parse(string(text), num)
	s.line.Start, s.line.End = start, end
	// vCard 2.1 quoted-printable values continue on the next line after a soft break "=".
	if s.line.Err == nil && strings.EqualFold(s.line.Param("ENCODING"), "QUOTED-PRINTABLE") {
		for strings.HasSuffix(s.line.Value, "=") && s.pos < len(s.data) && !s.nextIsEnd() {
			t, _, e, _ := s.physical()
			if !utf8.Valid(t) || bytes.IndexByte(t, 0) >= 0 {
				s.line.Err = Errorf(s.num, "not valid UTF-8 text")
			}
			s.line.Value += "\n" + string(bytes.TrimLeft(t, " \t"))
			s.line.End = e
		}
	}
	return true
}

// nextIsEnd reports whether the next physical line is an END line, which a quoted-printable
// soft break never swallows.
func (s *Scanner) nextIsEnd() bool {
	rest := s.data[s.pos:]
	return len(rest) >= 4 && strings.EqualFold(string(rest[:4]), "END:")
}

// Line returns the line Scan read; it is valid until the next call.
func (s *Scanner) Line() *Line { return &s.line }

// Offset is where the next line starts.
func (s *Scanner) Offset() int { return s.pos }

func isNameChar(c byte) bool {
	return c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// parse splits one unfolded content line.
func parse(text string, num int) Line {
	l := Line{Num: num}
	fail := func(format string, args ...any) Line {
		l.Err = Errorf(num, format, args...)
		return l
	}
	if !utf8.ValidString(text) {
		return fail("not valid UTF-8")
	}
	if strings.IndexByte(text, 0) >= 0 {
		return fail("NUL character")
	}
	i := 0
	for i < len(text) && isNameChar(text[i]) {
		i++
	}
	if i < len(text) && text[i] == '.' && i > 0 {
		l.Group = text[:i]
		i++
		j := i
		for i < len(text) && isNameChar(text[i]) {
			i++
		}
		l.Name = strings.ToUpper(text[j:i])
	} else {
		l.Name = strings.ToUpper(text[:i])
	}
	if l.Name == "" {
		return fail("content line without a name: %q", clip(text))
	}
	for i < len(text) && text[i] == ';' {
		i++
		j := i
		for i < len(text) && isNameChar(text[i]) {
			i++
		}
		pname := strings.ToUpper(text[j:i])
		if pname == "" {
			return fail("%s: empty parameter name", l.Name)
		}
		if i >= len(text) || text[i] != '=' {
			// vCard 2.1: a bare type such as TEL;WORK;VOICE.
			l.Params = append(l.Params, Param{Name: "TYPE", Values: []string{pname}})
			continue
		}
		i++
		p := Param{Name: pname}
		for {
			var v string
			if i < len(text) && text[i] == '"' {
				k := strings.IndexByte(text[i+1:], '"')
				if k < 0 {
					return fail("%s: unterminated quoted value of parameter %s", l.Name, pname)
				}
				v = text[i+1 : i+1+k]
				i += k + 2
			} else {
				j := i
				for i < len(text) && text[i] != ',' && text[i] != ';' && text[i] != ':' && text[i] != '"' {
					i++
				}
				v = text[j:i]
			}
			p.Values = append(p.Values, decodeCaret(v))
			if i < len(text) && text[i] == ',' {
				i++
				continue
			}
			break
		}
		l.Params = append(l.Params, p)
	}
	if i >= len(text) || text[i] != ':' {
		return fail("%s: expected \":\" after the name and parameters", l.Name)
	}
	l.Value = text[i+1:]
	return l
}

// decodeCaret decodes RFC 6868 parameter escapes: ^n newline, ^^ caret, ^' double quote.
func decodeCaret(v string) string {
	if !strings.Contains(v, "^") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '^' && i+1 < len(v) {
			switch v[i+1] {
			case 'n', 'N':
				b.WriteByte('\n')
				i++
				continue
			case '^':
				b.WriteByte('^')
				i++
				continue
			case '\'':
				b.WriteByte('"')
				i++
				continue
			}
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Text returns the line's value as text: quoted-printable decoded when the line says so
// (vCard 2.1), and backslash escapes (\n \, \; \\) undone.
func (l *Line) Text() string { return Unescape(l.decoded()) }

// Parts returns the line's value split at unescaped separators sep (";" for the components of
// N, ORG and ADR, "," for lists), each unescaped.
func (l *Line) Parts(sep byte) []string {
	v := l.decoded()
	var out []string
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case sep:
			out = append(out, Unescape(v[start:i]))
			start = i + 1
		}
	}
	return append(out, Unescape(v[start:]))
}

func (l *Line) decoded() string {
	if !strings.EqualFold(l.Param("ENCODING"), "QUOTED-PRINTABLE") {
		return l.Value
	}
	v := strings.ReplaceAll(l.Value, "=\n", "")
	b, err := quotedprintableDecode(v)
	if err != nil || !utf8.Valid(b) {
		return strings.ToValidUTF8(v, "\uFFFD")
	}
	return string(b)
}

func quotedprintableDecode(v string) ([]byte, error) {
	var out bytes.Buffer
	_, err := out.ReadFrom(quotedprintable.NewReader(strings.NewReader(v)))
	return out.Bytes(), err
}

// Unescape undoes the text escapes of both formats: \n or \N newline, \, \; \: \\.
func Unescape(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
			switch v[i] {
			case 'n', 'N':
				b.WriteByte('\n')
			default:
				b.WriteByte(v[i])
			}
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
