package message

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// Field is one header field as it appears in the message: Name as written, Value unfolded
// (continuation line breaks removed) but otherwise raw, Raw the exact bytes including the
// line break(s).
type Field struct {
	Name  string
	Value string
	Raw   []byte
}

// Header is a parsed header block in order. Lookups are case-insensitive.
type Header struct {
	Fields []Field
}

// Get returns the first value of the named field, or "".
func (h Header) Get(name string) string {
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Values returns every value of the named field.
func (h Header) Values(name string) []string {
	var out []string
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value)
		}
	}
	return out
}

// headerEnd returns the offset of the body that follows the header block at the start of raw:
// just after the empty line ending it, or at the first line that can be neither a field nor a
// continuation (a message without a header), or len(raw). A block that starts with an empty
// line has no fields.
func headerEnd(raw []byte) int {
	i := 0
	for i < len(raw) {
		nl := bytes.IndexByte(raw[i:], '\n')
		lineEnd := len(raw)
		if nl >= 0 {
			lineEnd = i + nl
		}
		line := raw[i:lineEnd]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return min(lineEnd+1, len(raw))
		}
		if line[0] != ' ' && line[0] != '\t' && !isFieldLine(line) {
			return i
		}
		if nl < 0 {
			return len(raw)
		}
		i = lineEnd + 1
	}
	return len(raw)
}

// isFieldLine reports whether line starts with a field name followed by a colon.
func isFieldLine(line []byte) bool {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	for _, c := range bytes.TrimRight(line[:colon], " \t") {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// ParseHeader parses the header block at the start of raw and returns it with the offset where
// the body starts. It is lenient: lines without a colon are skipped, 8-bit bytes are kept, and
// continuation lines before any field are ignored. It never fails.
func ParseHeader(raw []byte) (Header, int) {
	end := headerEnd(raw)
	var h Header
	block := raw[:end]
	i := 0
	for i < len(block) {
		// One field: a line plus its continuation lines.
		start := i
		j := i
		for {
			nl := bytes.IndexByte(block[j:], '\n')
			if nl < 0 {
				j = len(block)
				break
			}
			j += nl + 1
			if j >= len(block) || (block[j] != ' ' && block[j] != '\t') {
				break
			}
		}
		i = j
		fieldRaw := block[start:j]
		line := trimEOL(fieldRaw)
		if len(line) == 0 {
			break // the empty line ending the header
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name := strings.TrimRight(string(line[:colon]), " \t")
		if name == "" || strings.ContainsAny(name, " \t") {
			continue
		}
		h.Fields = append(h.Fields, Field{Name: name, Value: unfold(line[colon+1:]), Raw: fieldRaw})
	}
	return h, end
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// unfold removes the line breaks of folded lines (RFC 5322 §2.2.3) and trims the value.
func unfold(v []byte) string {
	if bytes.IndexByte(v, '\n') < 0 {
		return strings.TrimSpace(string(v))
	}
	var b strings.Builder
	for _, c := range v {
		if c == '\r' || c == '\n' {
			continue
		}
		b.WriteByte(c)
	}
	return strings.TrimSpace(b.String())
}

// HeaderFields returns the fields of header named in names (or, with not, all the others), as
// raw bytes followed by the empty line: the content of BODY[HEADER.FIELDS (...)] (RFC 9051
// §6.4.5).
func HeaderFields(header []byte, names []string, not bool) []byte {
	h, _ := ParseHeader(header)
	var out []byte
	for _, f := range h.Fields {
		match := false
		for _, n := range names {
			if strings.EqualFold(f.Name, n) {
				match = true
				break
			}
		}
		if match != not {
			out = append(out, f.Raw...)
			if !bytes.HasSuffix(f.Raw, []byte("\n")) {
				out = append(out, '\r', '\n')
			}
		}
	}
	return append(out, '\r', '\n')
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	return charset.Reader(cs, r)
}}

// DecodeHeaderValue decodes RFC 2047 encoded words in v, in any charset known to
// golang.org/x/text; on failure it returns v unchanged.
func DecodeHeaderValue(v string) string {
	if !strings.Contains(v, "=?") {
		return toValidUTF8(v)
	}
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return toValidUTF8(v)
	}
	return d
}

// toValidUTF8 keeps valid UTF-8 as is and reads other bytes as Latin-1, the most common
// undeclared 8-bit charset in headers.
func toValidUTF8(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			if isUTF8(s) {
				return s
			}
			var b strings.Builder
			for j := 0; j < len(s); j++ {
				b.WriteRune(rune(s[j]))
			}
			return b.String()
		}
	}
	return s
}

func isUTF8(s string) bool { return utf8.ValidString(s) }
