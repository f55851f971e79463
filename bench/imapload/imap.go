package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

const (
	maxRecord    = 256 << 20  // bytes in one response, literals included
	maxLiteral   = 128 << 20  // bytes in one literal
	maxResponses = 50_000_000 // untagged responses to one command
	maxDepth     = 64         // nesting of parenthesised lists
)

// conn is one IMAP connection driven by a raw line client: commands are written as text and
// every response is read in full, literals included, before a command counts as done. Every
// read and write is bounded by a deadline.
type conn struct {
	nc       net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	tag      int
	timeout  time.Duration // per command
	deadline time.Time     // of the whole run
	caps     map[string]bool
}

// dial connects to addr and reads the greeting, which must be OK (not PREAUTH or BYE).
func dial(addr string, timeout time.Duration, deadline time.Time) (*conn, error) {
	d := net.Dialer{Deadline: deadline, Timeout: timeout}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10), timeout: timeout, deadline: deadline}
	c.arm()
	greeting, err := c.readRecord()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !hasPrefixFold(greeting, "* OK") {
		nc.Close()
		return nil, fmt.Errorf("greeting: %q", trim(greeting))
	}
	return c, nil
}

// arm sets the connection's deadline for the next command.
func (c *conn) arm() {
	d := time.Now().Add(c.timeout)
	if d.After(c.deadline) {
		d = c.deadline
	}
	c.nc.SetDeadline(d)
}

func (c *conn) close() error { return c.nc.Close() }

// login authenticates with LOGIN and reads the capabilities that hold once logged in.
func (c *conn) login(user, pass string) error {
	u, err := quote(user)
	if err != nil {
		return err
	}
	p, err := quote(pass)
	if err != nil {
		return err
	}
	if err := c.cmd(nil, "LOGIN %s %s", u, p); err != nil {
		return fmt.Errorf("LOGIN: %w", err)
	}
	c.caps = map[string]bool{}
	return c.cmd(func(rec []byte) error {
		if f := strings.Fields(string(rec)); len(f) > 1 && strings.EqualFold(f[1], "CAPABILITY") {
			for _, cp := range f[2:] {
				c.caps[strings.ToUpper(cp)] = true
			}
		}
		return nil
	}, "CAPABILITY")
}

// send writes one tagged command to the buffer, without flushing, and returns its tag.
func (c *conn) send(format string, args ...any) string {
	c.tag++
	tag := "A" + strconv.Itoa(c.tag)
	c.w.WriteString(tag)
	c.w.WriteByte(' ')
	fmt.Fprintf(c.w, format, args...)
	c.w.WriteString("\r\n")
	return tag
}

// cmd sends one command and waits for its completion; untagged receives every untagged
// response before it.
func (c *conn) cmd(untagged func([]byte) error, format string, args ...any) error {
	c.arm()
	tag := c.send(format, args...)
	if err := c.w.Flush(); err != nil {
		return err
	}
	return c.wait(untagged, tag)
}

// wait reads responses until every tag has completed; each completion must be OK.
func (c *conn) wait(untagged func([]byte) error, tags ...string) error {
	c.arm()
	pending := make(map[string]bool, len(tags))
	for _, t := range tags {
		pending[t] = true
	}
	for i := 0; i < maxResponses && len(pending) > 0; i++ {
		rec, err := c.readRecord()
		if err != nil {
			return err
		}
		switch {
		case bytes.HasPrefix(rec, []byte("* ")):
			if hasPrefixFold(rec, "* BYE") {
				return fmt.Errorf("server closed the connection: %q", trim(rec))
			}
			if untagged != nil {
				if err := untagged(rec); err != nil {
					return err
				}
			}
		case rec[0] == '+':
			return fmt.Errorf("unexpected continuation request %q", trim(rec))
		default:
			tag, status, _ := bytes.Cut(rec, []byte(" "))
			if !pending[string(tag)] {
				return fmt.Errorf("response with unknown tag: %q", trim(rec))
			}
			if !hasPrefixFold(status, "OK") {
				return fmt.Errorf("%q", trim(rec))
			}
			delete(pending, string(tag))
		}
	}
	if len(pending) > 0 {
		return errors.New("too many responses")
	}
	return nil
}

// continuation reads responses until the server's continuation request, for a synchronising
// literal or IDLE. A tagged response in its place is an error (the server refused).
func (c *conn) continuation() error {
	c.arm()
	for i := 0; i < 1000; i++ {
		rec, err := c.readRecord()
		if err != nil {
			return err
		}
		switch {
		case rec[0] == '+':
			return nil
		case hasPrefixFold(rec, "* BYE"):
			return fmt.Errorf("server closed the connection: %q", trim(rec))
		case rec[0] != '*':
			return fmt.Errorf("no continuation: %q", trim(rec))
		}
	}
	return errors.New("no continuation after 1000 responses")
}

// readRecord reads one response: a line, and when the line ends in a literal, the literal and
// the rest of the response, up to its final CRLF. Literals stay inline, after their {n}CRLF.
func (c *conn) readRecord() ([]byte, error) {
	var rec []byte
	for len(rec) <= maxRecord {
		line, err := c.r.ReadSlice('\n')
		rec = append(rec, line...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		n, ok := literalAtEnd(rec)
		if !ok {
			if len(rec) < 3 {
				return nil, fmt.Errorf("short response %q", rec)
			}
			return rec, nil
		}
		if n > maxLiteral || len(rec)+n > maxRecord {
			return nil, fmt.Errorf("literal of %d bytes is too large", n)
		}
		start := len(rec)
		rec = append(rec, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, rec[start:]); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("response longer than %d bytes", maxRecord)
}

// literalAtEnd reports whether line ends with a literal's announcement {n}CRLF, and n.
func literalAtEnd(line []byte) (int, bool) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	digits := bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))
	n, err := strconv.Atoi(string(digits))
	if err != nil || n < 0 || len(digits) > 10 {
		return 0, false
	}
	return n, true
}

// untaggedNumber parses "* n NAME" and returns n if the response's name is name.
func untaggedNumber(rec []byte, name string) (int, bool) {
	f := bytes.Fields(rec)
	if len(f) < 3 || !bytes.EqualFold(f[2], []byte(name)) {
		return 0, false
	}
	n, err := strconv.Atoi(string(f[1]))
	return n, err == nil
}

// searchHits parses "* SEARCH n n ..." and appends the numbers to hits.
func searchHits(rec []byte, hits []uint32) ([]uint32, bool, error) {
	f := bytes.Fields(rec)
	if len(f) < 2 || !bytes.EqualFold(f[1], []byte("SEARCH")) {
		return hits, false, nil
	}
	for _, s := range f[2:] {
		n, err := strconv.ParseUint(string(s), 10, 32)
		if err != nil {
			return hits, true, fmt.Errorf("bad SEARCH response %q", trim(rec))
		}
		hits = append(hits, uint32(n))
	}
	return hits, true, nil
}

// fetchItems calls fn with the name and raw value of each item of a FETCH response
// "* n FETCH (NAME value ...)". It reports false if rec is not a FETCH response.
func fetchItems(rec []byte, fn func(name string, value []byte) error) (bool, error) {
	f := bytes.SplitN(rec, []byte(" "), 4)
	if len(f) < 4 || !bytes.EqualFold(f[2], []byte("FETCH")) || len(f[3]) == 0 || f[3][0] != '(' {
		return false, nil
	}
	b := f[3]
	p := 1
	for i := 0; i < len(b); i++ {
		for p < len(b) && b[p] == ' ' {
			p++
		}
		if p >= len(b) {
			return true, fmt.Errorf("unterminated FETCH response %q", trim(rec))
		}
		if b[p] == ')' {
			return true, nil
		}
		start, depth := p, 0
		for p < len(b) && (depth > 0 || b[p] != ' ') {
			switch b[p] {
			case '[':
				depth++
			case ']':
				depth--
			}
			p++
		}
		name := string(b[start:p])
		p++
		end, err := skipValue(b, p, 0)
		if err != nil {
			return true, fmt.Errorf("FETCH item %s: %w", name, err)
		}
		if err := fn(strings.ToUpper(name), b[p:end]); err != nil {
			return true, err
		}
		p = end
	}
	return true, fmt.Errorf("unterminated FETCH response %q", trim(rec))
}

// skipValue returns the end of the value starting at b[p]: an atom or number, a quoted
// string, a literal (inline after its {n}CRLF) or a parenthesised list.
func skipValue(b []byte, p, depth int) (int, error) {
	if p >= len(b) {
		return 0, errors.New("missing value")
	}
	switch b[p] {
	case '"':
		for q := p + 1; q < len(b); q++ {
			switch b[q] {
			case '\\':
				q++
			case '"':
				return q + 1, nil
			}
		}
		return 0, errors.New("unterminated string")
	case '{':
		close := bytes.IndexByte(b[p:], '}')
		if close < 0 {
			return 0, errors.New("bad literal")
		}
		n, err := strconv.Atoi(string(bytes.TrimSuffix(b[p+1:p+close], []byte("+"))))
		end := p + close + 3 + n
		if err != nil || n < 0 || end > len(b) {
			return 0, errors.New("bad literal")
		}
		return end, nil
	case '(':
		if depth >= maxDepth {
			return 0, errors.New("lists nested too deeply")
		}
		q := p + 1
		for i := 0; i < len(b); i++ {
			for q < len(b) && b[q] == ' ' {
				q++
			}
			if q >= len(b) {
				break
			}
			if b[q] == ')' {
				return q + 1, nil
			}
			end, err := skipValue(b, q, depth+1)
			if err != nil {
				return 0, err
			}
			q = end
		}
		return 0, errors.New("unterminated list")
	default:
		q := p
		for q < len(b) && b[q] != ' ' && b[q] != ')' && b[q] != '\r' && b[q] != '\n' {
			if b[q] == '[' { // an atom such as \*, or a section in a name
				if close := bytes.IndexByte(b[q:], ']'); close > 0 {
					q += close
				}
			}
			q++
		}
		if q == p {
			return 0, fmt.Errorf("unexpected %q", b[p])
		}
		return q, nil
	}
}

// stringLen returns the length of the string value v (quoted or literal); NIL is 0.
func stringLen(v []byte) (int, error) {
	switch {
	case len(v) > 0 && v[0] == '{':
		close := bytes.IndexByte(v, '}')
		return len(v) - close - 3, nil
	case len(v) > 1 && v[0] == '"':
		n := 0
		for i := 1; i < len(v)-1; i++ {
			if v[i] == '\\' {
				i++
			}
			n++
		}
		return n, nil
	case bytes.EqualFold(v, []byte("NIL")):
		return 0, nil
	}
	return 0, fmt.Errorf("not a string: %.40q", v)
}

// quote returns s as an IMAP quoted string.
func quote(s string) (string, error) {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			return "", fmt.Errorf("%q cannot be sent as a quoted string", s)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

// trim returns rec without its final CRLF and cut to a length fit for an error message.
func trim(rec []byte) []byte {
	rec = bytes.TrimRight(rec, "\r\n")
	if len(rec) > 200 {
		rec = rec[:200]
	}
	return rec
}
