package pop3server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/postamail/posta/internal/mailstore"
)

// maxLine is the longest command accepted: RFC 2449 allows 255 octets, SASL initial responses
// need more (RFC 5034 §4).
const maxLine = 2048

const maxAuthFailures = 5

type state int

const (
	stateAuth state = iota
	stateTransaction
)

type msg struct {
	uid     uint32
	size    int64 // octets as sent (CRLF line endings)
	blobKey string
	deleted bool
}

type session struct {
	s        *Server
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	tls      bool
	ip       netip.Addr
	loopback bool
	service  string // pop3 or pop3s, for the Observer

	state     state
	user      string
	failures  int
	accountID int64
	mailbox   *mailstore.Mailbox
	msgs      []msg
}

func newSession(s *Server, c net.Conn, service string, isTLS bool) *session {
	sess := &session{s: s, conn: c, tls: isTLS, service: service}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		sess.ip = ap.Addr().Unmap()
		sess.loopback = sess.ip.IsLoopback()
	}
	sess.r = bufio.NewReaderSize(c, 4096)
	sess.w = bufio.NewWriterSize(c, 16<<10)
	return sess
}

func (s *session) reply(ok bool, format string, args ...any) error {
	if ok {
		s.w.WriteString("+OK ")
	} else {
		s.w.WriteString("-ERR ")
	}
	fmt.Fprintf(s.w, format, args...)
	s.w.WriteString("\r\n")
	return s.w.Flush()
}

// readLine reads one CRLF-terminated line of at most maxLine octets.
func (s *session) readLine() (string, error) {
	s.conn.SetReadDeadline(time.Now().Add(s.s.cfg.IdleTimeout))
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxLine {
		// Discard the rest of the overlong line.
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = s.r.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

var errLineTooLong = errors.New("line too long")

func (s *session) serve(ctx context.Context) {
	defer s.conn.Close()
	defer func() {
		if s.accountID != 0 {
			s.s.unlock(s.accountID)
		}
	}()
	if tc, ok := s.conn.(*tls.Conn); ok {
		s.conn.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.HandshakeContext(ctx); err != nil {
			return
		}
		s.conn.SetDeadline(time.Time{})
	}
	if s.reply(true, "posta POP3 server ready") != nil {
		return
	}
	for {
		line, err := s.readLine()
		if errors.Is(err, errLineTooLong) {
			if s.reply(false, "line too long") != nil {
				return
			}
			continue
		}
		if err != nil {
			return // connection closed or timed out: no UPDATE (RFC 1939 §6)
		}
		cmd, arg, _ := strings.Cut(line, " ")
		quit, err := s.dispatch(ctx, strings.ToUpper(cmd), arg)
		if err != nil || quit {
			return
		}
	}
}

func (s *session) dispatch(ctx context.Context, cmd, arg string) (quit bool, err error) {
	switch cmd {
	case "CAPA":
		return false, s.capa()
	case "QUIT":
		return true, s.quit(ctx)
	}
	if s.state == stateAuth {
		switch cmd {
		case "USER":
			return s.userCmd(arg)
		case "PASS":
			return s.pass(ctx, arg)
		case "AUTH":
			return s.authCmd(ctx, arg)
		case "STLS":
			return false, s.stls()
		case "STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET", "NOOP":
			return false, s.reply(false, "log in first")
		}
		return false, s.reply(false, "unknown command")
	}
	switch cmd {
	case "STAT":
		n, size := s.totals()
		return false, s.reply(true, "%d %d", n, size)
	case "LIST":
		return false, s.list(arg, false)
	case "UIDL":
		return false, s.list(arg, true)
	case "RETR":
		return false, s.retr(ctx, arg, -1)
	case "TOP":
		n, lines, ok := strings.Cut(arg, " ")
		l, err := strconv.Atoi(strings.TrimSpace(lines))
		if !ok || err != nil || l < 0 {
			return false, s.reply(false, "usage: TOP msg lines")
		}
		return false, s.retr(ctx, n, l)
	case "DELE":
		m, err := s.message(arg)
		if err != nil {
			return false, s.reply(false, "%v", err)
		}
		m.deleted = true
		return false, s.reply(true, "message %s deleted", strings.TrimSpace(arg))
	case "RSET":
		for i := range s.msgs {
			s.msgs[i].deleted = false
		}
		n, size := s.totals()
		return false, s.reply(true, "maildrop has %d messages (%d octets)", n, size)
	case "NOOP":
		return false, s.reply(true, "")
	case "USER", "PASS", "AUTH", "STLS":
		return false, s.reply(false, "already logged in")
	}
	return false, s.reply(false, "unknown command")
}

func (s *session) loginAllowed() bool {
	return s.tls || (s.s.cfg.AllowInsecureAuth && s.loopback)
}

func (s *session) capa() error {
	lines := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "LOGIN-DELAY 0", "IMPLEMENTATION posta"}
	if s.state == stateAuth {
		if s.loginAllowed() {
			lines = append(lines, "USER", "SASL PLAIN")
		}
		if !s.tls && s.s.cfg.TLSConfig != nil {
			lines = append(lines, "STLS")
		}
	}
	s.w.WriteString("+OK capability list follows\r\n")
	for _, l := range lines {
		s.w.WriteString(l + "\r\n")
	}
	s.w.WriteString(".\r\n")
	return s.w.Flush()
}

func (s *session) stls() error {
	if s.tls || s.s.cfg.TLSConfig == nil {
		return s.reply(false, "STLS not available")
	}
	if err := s.reply(true, "begin TLS negotiation"); err != nil {
		return err
	}
	tc := tls.Server(s.conn, s.s.cfg.TLSConfig)
	s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	s.conn, s.tls, s.user = tc, true, ""
	s.r.Reset(tc) // RFC 2595 §4: discard anything read before TLS
	s.w.Reset(tc)
	return nil
}

func (s *session) userCmd(arg string) (bool, error) {
	if !s.loginAllowed() {
		return false, s.reply(false, "[AUTH] TLS required: use STLS first")
	}
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return false, s.reply(false, "usage: USER name")
	}
	s.user = arg
	return false, s.reply(true, "send PASS")
}

func (s *session) pass(ctx context.Context, arg string) (bool, error) {
	if !s.loginAllowed() {
		return false, s.reply(false, "[AUTH] TLS required: use STLS first")
	}
	if s.user == "" {
		return false, s.reply(false, "send USER first")
	}
	user := s.user
	s.user = ""
	return s.login(ctx, user, arg)
}

// authCmd runs SASL PLAIN (RFC 5034), with or without an initial response.
func (s *session) authCmd(ctx context.Context, arg string) (bool, error) {
	mech, initial, hasInitial := strings.Cut(strings.TrimSpace(arg), " ")
	if mech == "" {
		return false, s.reply(false, "usage: AUTH PLAIN [initial-response]")
	}
	if !strings.EqualFold(mech, "PLAIN") {
		return false, s.reply(false, "unsupported mechanism")
	}
	if !s.loginAllowed() {
		return false, s.reply(false, "[AUTH] TLS required: use STLS first")
	}
	if !hasInitial {
		if _, err := s.w.WriteString("+ \r\n"); err != nil {
			return false, err
		}
		if err := s.w.Flush(); err != nil {
			return false, err
		}
		line, err := s.readLine()
		if err != nil {
			return false, err
		}
		initial = line
	}
	if initial == "*" {
		return false, s.reply(false, "authentication cancelled")
	}
	if initial == "=" {
		initial = ""
	}
	raw, err := base64.StdEncoding.DecodeString(initial)
	if err != nil {
		return false, s.reply(false, "[AUTH] invalid base64")
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 || (len(parts[0]) > 0 && !bytes.EqualFold(parts[0], parts[1])) {
		return false, s.reply(false, "[AUTH] invalid PLAIN response")
	}
	return s.login(ctx, string(parts[1]), string(parts[2]))
}

func (s *session) login(ctx context.Context, user, pass string) (bool, error) {
	if wait := s.s.th.Check(s.ip, user); wait > 0 {
		return false, s.reply(false, "[SYS/TEMP] too many failed logins, try again in %d seconds", int(wait.Seconds())+1)
	}
	id, err := s.s.auth.Login(ctx, user, pass)
	if errors.Is(err, ErrNotAllowed) {
		return false, s.reply(false, "[AUTH] POP3 is not included in your service")
	}
	if err != nil {
		s.s.th.Failure(s.ip, user)
		if o := s.s.cfg.Observer; o != nil {
			o.AuthFailed(s.service)
		}
		s.failures++
		s.s.log.Info("pop3: authentication failed", "ip", s.ip, "user", user)
		if s.failures >= maxAuthFailures {
			s.reply(false, "[AUTH] authentication failed, closing")
			return true, nil
		}
		return false, s.reply(false, "[AUTH] authentication failed")
	}
	s.s.th.Success(s.ip, user)
	if !s.s.lock(id) {
		return false, s.reply(false, "[IN-USE] another session holds this maildrop")
	}
	if err := s.openMaildrop(ctx, id); err != nil {
		s.s.unlock(id)
		s.s.log.Error("pop3: open maildrop", "account", id, "err", err)
		return false, s.reply(false, "[SYS/TEMP] cannot open the maildrop, try again later")
	}
	s.accountID, s.state = id, stateTransaction
	n, size := s.totals()
	return false, s.reply(true, "maildrop has %d messages (%d octets)", n, size)
}

func (s *session) openMaildrop(ctx context.Context, accountID int64) error {
	mb, err := s.s.store.Mailbox(ctx, accountID, mailstore.Inbox)
	if err != nil {
		return err
	}
	s.mailbox = mb
	s.msgs = s.msgs[:0]
	return s.s.store.Messages(ctx, mb.ID, nil, mailstore.WithCRLFSize|mailstore.WithBlobKey, func(m *mailstore.Message) error {
		s.msgs = append(s.msgs, msg{uid: m.UID, size: m.CRLFSize, blobKey: m.BlobKey})
		return nil
	})
}

func (s *session) totals() (n int, size int64) {
	for _, m := range s.msgs {
		if !m.deleted {
			n++
			size += m.size
		}
	}
	return n, size
}

// message returns the message numbered arg (1-based), refusing deleted ones.
func (s *session) message(arg string) (*msg, error) {
	n, err := strconv.Atoi(strings.TrimSpace(arg))
	if err != nil || n < 1 || n > len(s.msgs) {
		return nil, fmt.Errorf("no such message")
	}
	m := &s.msgs[n-1]
	if m.deleted {
		return nil, fmt.Errorf("message %d already deleted", n)
	}
	return m, nil
}

func (s *session) uidl(m *msg) string { return fmt.Sprintf("%d.%d", s.mailbox.UIDValidity, m.uid) }

func (s *session) list(arg string, uidl bool) error {
	if strings.TrimSpace(arg) != "" {
		m, err := s.message(arg)
		if err != nil {
			return s.reply(false, "%v", err)
		}
		if uidl {
			return s.reply(true, "%s %s", strings.TrimSpace(arg), s.uidl(m))
		}
		return s.reply(true, "%s %d", strings.TrimSpace(arg), m.size)
	}
	n, size := s.totals()
	if uidl {
		s.w.WriteString("+OK unique-id listing follows\r\n")
	} else {
		fmt.Fprintf(s.w, "+OK %d messages (%d octets)\r\n", n, size)
	}
	for i := range s.msgs {
		m := &s.msgs[i]
		if m.deleted {
			continue
		}
		if uidl {
			fmt.Fprintf(s.w, "%d %s\r\n", i+1, s.uidl(m))
		} else {
			fmt.Fprintf(s.w, "%d %d\r\n", i+1, m.size)
		}
	}
	s.w.WriteString(".\r\n")
	return s.w.Flush()
}

// retr sends a message (lines < 0) or its header and first lines of body (TOP), with CRLF line
// endings and dot-stuffing (RFC 1939 §3), streamed from the blob store.
func (s *session) retr(ctx context.Context, arg string, lines int) error {
	m, err := s.message(arg)
	if err != nil {
		return s.reply(false, "%v", err)
	}
	f, err := s.s.store.OpenBody(ctx, m.blobKey)
	if err != nil {
		s.s.log.Error("pop3: open message", "uid", m.uid, "err", err)
		return s.reply(false, "[SYS/TEMP] cannot read the message")
	}
	defer f.Close()
	if lines < 0 {
		fmt.Fprintf(s.w, "+OK %d octets\r\n", m.size)
	} else {
		s.w.WriteString("+OK top of message follows\r\n")
	}
	if lines < 0 {
		err = s.s.writeMessage(s.w, f)
	} else {
		err = writeDotStuffed(s.w, f, lines)
	}
	if err != nil {
		return err
	}
	s.w.WriteString(".\r\n")
	return s.w.Flush()
}

// writeDotStuffed copies r to w with CRLF line endings and a leading dot doubled (RFC 1939
// §3), adding a final line break if the message lacks one. With bodyLines >= 0 it stops after
// the header, the empty line and that many body lines (TOP).
func writeDotStuffed(w *bufio.Writer, r io.Reader, bodyLines int) error {
	br := bufio.NewReaderSize(r, 32<<10)
	atLineStart, pendingCR, inBody, body, lineLen := true, false, false, 0, 0
	for {
		c, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			if !atLineStart || pendingCR {
				w.WriteString("\r\n") // a final "\r" or unterminated line ends here
			}
			return nil
		}
		if err != nil {
			return err
		}
		if c == '\n' {
			w.WriteString("\r\n")
			pendingCR, atLineStart = false, true
			if bodyLines >= 0 {
				if inBody {
					body++
				} else if lineLen == 0 {
					inBody = true
				}
				if inBody && body >= bodyLines {
					return nil
				}
			}
			lineLen = 0
			continue
		}
		if pendingCR { // a lone CR is data
			w.WriteByte('\r')
			pendingCR, atLineStart = false, false
			lineLen++
		}
		if c == '\r' {
			pendingCR = true
			continue
		}
		if atLineStart && c == '.' {
			w.WriteByte('.')
		}
		w.WriteByte(c)
		atLineStart = false
		lineLen++
	}
}

// writeMessage is writeDotStuffed for a whole message (RETR), a line at a time rather than a
// byte at a time, through a pooled buffer.
func (srv *Server) writeMessage(w *bufio.Writer, r io.Reader) error {
	bp := srv.chunks.Get().(*[]byte)
	defer srv.chunks.Put(bp)
	return writeStuffedLines(w, r, *bp)
}

// writeStuffedLines writes r to w as writeDotStuffed(w, r, -1) does, reading into buf.
func writeStuffedLines(w *bufio.Writer, r io.Reader, buf []byte) error {
	atLineStart, pendingCR := true, false
	for {
		n, err := r.Read(buf)
		chunk := buf[:n]
		for len(chunk) > 0 {
			if pendingCR {
				pendingCR = false
				if chunk[0] == '\n' {
					w.WriteString("\r\n")
					chunk, atLineStart = chunk[1:], true
					continue
				}
				w.WriteByte('\r') // a lone CR is data
				atLineStart = false
			}
			if atLineStart && chunk[0] == '.' {
				w.WriteByte('.')
			}
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 {
				seg := chunk
				if seg[len(seg)-1] == '\r' {
					seg, pendingCR = seg[:len(seg)-1], true
				}
				w.Write(seg)
				if len(seg) > 0 {
					atLineStart = false
				}
				break
			}
			seg := chunk[:i]
			if len(seg) > 0 && seg[len(seg)-1] == '\r' {
				seg = seg[:len(seg)-1]
			}
			w.Write(seg)
			w.WriteString("\r\n")
			chunk, atLineStart = chunk[i+1:], true
		}
		if errors.Is(err, io.EOF) {
			if !atLineStart || pendingCR {
				w.WriteString("\r\n") // a final "\r" or unterminated line ends here
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// quit ends the session; in the TRANSACTION state it first applies the deletions, all in one
// transaction (the UPDATE state, RFC 1939 §6).
func (s *session) quit(ctx context.Context) error {
	if s.state != stateTransaction {
		return s.reply(true, "posta POP3 server signing off")
	}
	var uids []uint32
	for _, m := range s.msgs {
		if m.deleted {
			uids = append(uids, m.uid)
		}
	}
	if _, err := s.s.store.Delete(context.WithoutCancel(ctx), s.accountID, s.mailbox.ID, uids); err != nil {
		s.s.log.Error("pop3: update", "account", s.accountID, "err", err)
		return s.reply(false, "[SYS/TEMP] deletions not applied, nothing was removed")
	}
	n, _ := s.totals()
	return s.reply(true, "posta POP3 server signing off (%d messages left)", n)
}
