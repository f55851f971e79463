package imapwire

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Writer writes responses. It buffers; call Flush at the end of each response burst.
type Writer struct {
	*bufio.Writer
	// UTF8 allows UTF-8 in quoted strings (after ENABLE UTF8=ACCEPT or IMAP4rev2).
	UTF8 bool
}

// NewWriter returns a Writer on w.
func NewWriter(w *bufio.Writer) *Writer { return &Writer{Writer: w} }

// quotable reports whether s can be sent as a quoted string.
func quotable(s string, utf8OK bool) bool {
	if len(s) > 1000 {
		return false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' || c == 0 {
			return false
		}
		if c >= 0x80 {
			if !utf8OK {
				return false
			}
			ascii = false
		}
	}
	return ascii || utf8.ValidString(s)
}

// Quote returns s as a quoted string; s must be quotable (7-bit, no CR or LF).
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// Str writes s as a quoted string when it can, else as a literal.
func (w *Writer) Str(s string) {
	if !quotable(s, w.UTF8) {
		w.Literal([]byte(s))
		return
	}
	w.WriteByte('"')
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] != '"' && s[j] != '\\' {
			j++
		}
		w.WriteString(s[i:j])
		if j < len(s) {
			w.WriteByte('\\')
			w.WriteByte(s[j])
			j++
		}
		i = j
	}
	w.WriteByte('"')
}

// NStr writes NIL for an empty s, else Str.
func (w *Writer) NStr(s string) {
	if s == "" {
		w.WriteString("NIL")
		return
	}
	w.Str(s)
}

// AStr writes s as an atom when it is one, else as a string (mailbox names, flags).
func (w *Writer) AStr(s string) {
	if s != "" && isAtom(s) && !strings.EqualFold(s, "NIL") {
		w.WriteString(s)
		return
	}
	w.Str(s)
}

func isAtom(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAtomChar(s[i]) {
			return false
		}
	}
	return true
}

// Literal writes b as a literal.
func (w *Writer) Literal(b []byte) {
	w.WriteByte('{')
	w.WriteString(strconv.Itoa(len(b)))
	w.WriteString("}\r\n")
	w.Write(b)
}

// LiteralFrom writes n octets read from r as a literal (a message body streamed from the
// blob store), or literal8 (~{n}) when binary.
func (w *Writer) LiteralFrom(r io.Reader, n int64, binary bool) error {
	if binary {
		w.WriteByte('~')
	}
	w.WriteByte('{')
	w.WriteString(strconv.FormatInt(n, 10))
	w.WriteString("}\r\n")
	_, err := io.CopyN(w, r, n)
	return err
}

// Num writes a number.
func (w *Writer) Num(n int64) { w.WriteString(strconv.FormatInt(n, 10)) }
