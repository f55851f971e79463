// Package imapwire is the IMAP grammar (RFC 9051, RFC 3501 and the extensions posta speaks):
// reading a command off the wire with its literals, parsing its arguments (strings, lists,
// sequence sets, FETCH items, SEARCH keys, dates, flags), encoding mailbox names in modified
// UTF-7, and writing responses with correct quoting.
//
// It is pure syntax: it never decides what a command does, who may run it, or what a mailbox
// holds; imapserver does. Its only I/O is the bufio reader and writer it is handed.
package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Limits on what one command may carry.
const (
	// MaxLine is the longest command line (without literals) accepted.
	MaxLine = 64 * 1024
	// MaxCommandLiterals bounds the literals of a command other than APPEND.
	MaxCommandLiterals = 1 << 20
)

// ErrLineTooLong is returned when a command line exceeds MaxLine; the connection should close.
var ErrLineTooLong = errors.New("imapwire: command line too long")

// LiteralError refuses a literal before it is read: the server answers the command with Tag
// and the error's text (a TOOBIG or BAD response) instead of a continuation request.
type LiteralError struct {
	Tag      string
	Size     int64
	TooBig   bool
	NonSync  bool // the client sent it as LITERAL+, so its bytes were read and discarded
	Response string
}

func (e *LiteralError) Error() string {
	return fmt.Sprintf("imapwire: literal of %d octets refused: %s", e.Size, e.Response)
}

// Reader reads whole commands: the tag, the command name and the raw argument bytes in wire
// form, with every literal already read in place.
type Reader struct {
	r *bufio.Reader
	// Continue is called before reading a synchronising literal; it must send "+ ..." to
	// the client.
	Continue func() error
	// LiteralLimit says how large a literal may be for the command read so far
	// (for APPEND, the message size limit). Nil means MaxCommandLiterals.
	LiteralLimit func(tag, name string) int64
}

// NewReader returns a Reader on r.
func NewReader(r *bufio.Reader) *Reader { return &Reader{r: r} }

// Command is one client command.
type Command struct {
	Tag  string
	Name string // upper case; "UID FETCH" etc. for UID commands
	// Args is the rest of the command in wire form, literals included.
	Args []byte

	headLen int
}

// ReadLine reads one CRLF- (or LF-) terminated line without its terminator; used for
// continuation answers (AUTHENTICATE, IDLE's DONE).
func (r *Reader) ReadLine() ([]byte, error) {
	line, err := r.readLine(nil)
	return line, err
}

// readLine appends one line to buf; only the line itself counts against MaxLine, not what buf
// already holds (earlier lines and literals of the same command).
func (r *Reader) readLine(buf []byte) ([]byte, error) {
	start := len(buf)
	for {
		chunk, err := r.r.ReadSlice('\n')
		if len(buf)-start+len(chunk) > MaxLine {
			return nil, ErrLineTooLong
		}
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		buf = buf[:len(buf)-1]
		if n := len(buf); n > start && buf[n-1] == '\r' {
			buf = buf[:n-1] // only this line's CR: what came before may be a literal ending in CR
		}
		return buf, nil
	}
}

// ReadCommand reads the next command. A malformed tag or name is reported as a *SyntaxError
// with whatever tag could be read; the caller answers BAD and goes on.
func (r *Reader) ReadCommand() (*Command, error) {
	var wire []byte
	first := true
	cmd := &Command{}
	var total int64
	for {
		start := len(wire)
		var err, derr error
		wire, err = r.readLine(wire)
		if err != nil {
			return nil, err
		}
		if first {
			first = false
			if err := cmd.splitHead(wire); err != nil {
				// A LITERAL+ at the end of a malformed line is on its way: drop it so
				// that its octets are not read as commands.
				for {
					size, nonSync, ok := literalAtEnd(wire)
					if !ok || !nonSync {
						return nil, err
					}
					if _, derr := io.CopyN(io.Discard, r.r, size); derr != nil {
						return nil, derr
					}
					if wire, derr = r.readLine(wire[:0]); derr != nil {
						return nil, derr
					}
				}
			}
		}
		size, nonSync, ok := literalAtEnd(wire[start:])
		if !ok {
			cmd.Args = wire[cmd.argStart():]
			return cmd, nil
		}
		limit := int64(MaxCommandLiterals)
		if r.LiteralLimit != nil {
			limit = r.LiteralLimit(cmd.Tag, cmd.Name)
		}
		total += size
		if size > limit || total > limit+MaxCommandLiterals {
			le := &LiteralError{Tag: cmd.Tag, Size: size, TooBig: true, NonSync: nonSync}
			if nonSync {
				// RFC 7888 §4: the octets are on their way; read and drop them and the
				// rest of the command.
				if _, err := io.CopyN(io.Discard, r.r, size); err != nil {
					return nil, err
				}
				if _, err := r.readLine(nil); err != nil {
					return nil, err
				}
			}
			return nil, le
		}
		if !nonSync && r.Continue != nil {
			if err := r.Continue(); err != nil {
				return nil, err
			}
		}
		wire = append(wire, '\r', '\n')
		n := len(wire)
		wire = append(wire, make([]byte, size)...)
		if _, err := io.ReadFull(r.r, wire[n:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// argStart is where the arguments begin in the first line.
func (c *Command) argStart() int { return c.headLen }

// splitHead reads the tag and the command name (two words for UID commands) off the first
// line.
func (c *Command) splitHead(line []byte) error {
	p := &Parser{b: line}
	tag := p.tag()
	if tag == "" {
		return &SyntaxError{Msg: "missing or invalid tag"}
	}
	c.Tag = tag
	if !p.sp() {
		return &SyntaxError{Tag: tag, Msg: "missing command"}
	}
	name := p.atomUpper()
	if name == "" {
		return &SyntaxError{Tag: tag, Msg: "missing command"}
	}
	if name == "UID" {
		if !p.sp() {
			return &SyntaxError{Tag: tag, Msg: "UID needs a command"}
		}
		sub := p.atomUpper()
		if sub == "" {
			return &SyntaxError{Tag: tag, Msg: "UID needs a command"}
		}
		name += " " + sub
	}
	c.Name = name
	if p.pos < len(p.b) {
		if !p.sp() {
			return &SyntaxError{Tag: tag, Msg: "expected a space after the command name"}
		}
	}
	c.headLen = p.pos
	return nil
}

// literalAtEnd reports whether line ends with a literal announcement {n} or {n+}.
func literalAtEnd(line []byte) (size int64, nonSync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, false
	}
	digits := line[open+1 : len(line)-1]
	if n := len(digits); n > 0 && digits[n-1] == '+' {
		nonSync = true
		digits = digits[:n-1]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return n, nonSync, true
}

// Reset makes the Reader read from br (a pooled buffer given back while a connection idles).
func (r *Reader) Reset(br *bufio.Reader) { r.r = br }
