package imapserver

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/imapwire"
	"github.com/postamail/posta/internal/mailstore"
)

type state int

const (
	notAuthenticated state = iota
	authenticated
	selected
	loggedOut
)

// Timeouts: RFC 9051 §5.4 asks for at least 30 minutes of inactivity once authenticated.
const (
	preAuthTimeout = 60 * time.Second
	authTimeout    = 30 * time.Minute
)

type session struct {
	srv      *Server
	conn     net.Conn
	br       *bufio.Reader
	r        *imapwire.Reader
	w        *imapwire.Writer
	tls      bool
	ip       netip.Addr
	loopback bool
	id       string
	log      *slog.Logger
	service  string // imap or imaps, for the Observer

	state   state
	acct    Account
	enabled map[string]bool // CONDSTORE, QRESYNC, UTF8=ACCEPT, IMAP4REV2
	sel     *view
	sub     *changes.Sub

	cmd string // the command being run, as its handler may serve several

	in      prefixReader
	one     [1]byte
	idleMu  sync.Mutex // in IDLE, serialises the session with its wake-ups
	idling  bool
	idleTag string // set by IDLE: the session then waits for DONE
}

func newSession(s *Server, c net.Conn, service string, implicitTLS bool) *session {
	sess := &session{srv: s, conn: c, tls: implicitTLS, service: service, id: newID(), enabled: map[string]bool{}}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		sess.ip = ap.Addr().Unmap()
		sess.loopback = sess.ip.IsLoopback()
	}
	sess.log = s.log.With("session", sess.id, "ip", sess.ip)
	sess.setConn(c)
	return sess
}

func newID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.in = prefixReader{conn: c}
	s.br = nil
	s.r = imapwire.NewReader(nil)
	s.r.Continue = func() error {
		s.w.WriteString("+ Ready for literal data\r\n")
		return s.w.Flush()
	}
	s.r.LiteralLimit = func(tag, name string) int64 {
		if name == "APPEND" {
			return s.appendLimit()
		}
		return imapwire.MaxCommandLiterals
	}
	utf8 := s.w != nil && s.w.UTF8
	s.w = imapwire.NewWriter(nil)
	s.w.UTF8 = utf8
	s.acquire()
}

// stopping reports whether the server is shutting down.
func (s *session) stopping() bool { return s.srv.conns.Closing() }

func (s *session) serve(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("imap: panic", "panic", p)
		}
		if s.sub != nil {
			s.sub.Close()
		}
		s.conn.Close()
	}()
	if tc, ok := s.conn.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(preAuthTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			return
		}
	}
	s.untagged("OK [CAPABILITY %s] %s posta IMAP ready", s.capabilities(), s.srv.cfg.Hostname)
	s.w.Flush()
	for s.state != loggedOut {
		timeout := preAuthTimeout
		if s.state != notAuthenticated {
			timeout = authTimeout
		}
		if s.stopping() {
			s.untagged("BYE Server shutting down")
			s.w.Flush()
			return
		}
		s.conn.SetReadDeadline(time.Now().Add(timeout))
		err := s.waitInput()
		var cmd *imapwire.Command
		if err == nil {
			cmd, err = s.r.ReadCommand()
		}
		if err != nil {
			if !s.readError(err) {
				return
			}
			continue
		}
		s.conn.SetReadDeadline(time.Time{})
		s.trace("C", cmd)
		s.isolated(func() { s.run(ctx, cmd) })
		if tag := s.idleTag; tag != "" {
			s.idleTag = ""
			s.idle(ctx, tag)
		}
		if err := s.w.Flush(); err != nil {
			return
		}
	}
}

// readError answers a command that could not be read; it reports whether the session goes on.
func (s *session) readError(err error) bool {
	var se *imapwire.SyntaxError
	var le *imapwire.LiteralError
	switch {
	case errors.As(err, &se):
		tag := se.Tag
		if tag == "" {
			tag = "*"
		}
		s.w.WriteString(tag + " BAD " + se.Msg + "\r\n")
		return s.w.Flush() == nil
	case errors.As(err, &le):
		s.w.WriteString(fmt.Sprintf("%s NO [TOOBIG] Literal of %d octets exceeds the limit of %d\r\n", le.Tag, le.Size, s.appendLimit()))
		return s.w.Flush() == nil
	case errors.Is(err, imapwire.ErrLineTooLong):
		s.untagged("BYE Command line too long")
	case errors.Is(err, os.ErrDeadlineExceeded):
		if s.stopping() {
			s.untagged("BYE Server shutting down")
		} else {
			s.untagged("BYE Autologout; idle for too long")
		}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return false
	default:
		s.log.Debug("imap: read", "err", err)
		return false
	}
	s.w.Flush()
	return false
}

func (s *session) trace(dir string, cmd *imapwire.Command) {
	if !s.srv.cfg.Trace {
		return
	}
	args := string(cmd.Args)
	switch cmd.Name {
	case "LOGIN", "AUTHENTICATE":
		args = "<redacted>"
	case "APPEND":
		args = fmt.Sprintf("<%d octets>", len(args))
	}
	s.log.Debug("imap: trace", "dir", dir, "tag", cmd.Tag, "cmd", cmd.Name, "args", args)
}

// respError is a tagged NO or BAD.
type respError struct {
	status string // "NO" or "BAD"
	code   string // response code without brackets, or ""
	text   string
}

func (e *respError) Error() string { return e.status + " " + e.text }

func no(code, format string, args ...any) error {
	return &respError{status: "NO", code: code, text: fmt.Sprintf(format, args...)}
}

func bad(format string, args ...any) error {
	return &respError{status: "BAD", text: fmt.Sprintf(format, args...)}
}

// okCode lets a handler choose the tagged OK's response code and text.
type okCode struct{ code, text string }

func (e *okCode) Error() string { return "OK " + e.text }

type handler struct {
	states []state
	fn     func(ctx context.Context, s *session, tag string, p *imapwire.Parser) error
	// expunges reports whether EXPUNGE responses may be sent after the command (RFC 9051
	// §7.5.1: not during FETCH, STORE or SEARCH by sequence number).
	noExpunge bool
}

var (
	anyState = []state{notAuthenticated, authenticated, selected}
	notAuth  = []state{notAuthenticated}
	authd    = []state{authenticated, selected}
	sel      = []state{selected}
)

var commands map[string]handler

func init() {
	commands = map[string]handler{
		"CAPABILITY":   {states: anyState, fn: cmdCapability},
		"NOOP":         {states: anyState, fn: cmdNoop},
		"LOGOUT":       {states: anyState, fn: cmdLogout},
		"ID":           {states: anyState, fn: cmdID},
		"STARTTLS":     {states: notAuth, fn: cmdStartTLS},
		"LOGIN":        {states: notAuth, fn: cmdLogin},
		"AUTHENTICATE": {states: notAuth, fn: cmdAuthenticate},
		"ENABLE":       {states: authd, fn: cmdEnable},
		"NAMESPACE":    {states: authd, fn: cmdNamespace},
		"SELECT":       {states: authd, fn: cmdSelect},
		"EXAMINE":      {states: authd, fn: cmdSelect},
		"CREATE":       {states: authd, fn: cmdCreate},
		"DELETE":       {states: authd, fn: cmdDelete},
		"RENAME":       {states: authd, fn: cmdRename},
		"SUBSCRIBE":    {states: authd, fn: cmdSubscribe},
		"UNSUBSCRIBE":  {states: authd, fn: cmdSubscribe},
		"LIST":         {states: authd, fn: cmdList},
		"LSUB":         {states: authd, fn: cmdLsub},
		"STATUS":       {states: authd, fn: cmdStatus},
		"APPEND":       {states: authd, fn: cmdAppend},
		"IDLE":         {states: authd, fn: cmdIdle},
		"GETQUOTA":     {states: authd, fn: cmdGetQuota},
		"GETQUOTAROOT": {states: authd, fn: cmdGetQuotaRoot},
		"SETQUOTA":     {states: authd, fn: cmdSetQuota},
		"CHECK":        {states: sel, fn: cmdNoop},
		"CLOSE":        {states: sel, fn: cmdClose},
		"UNSELECT":     {states: sel, fn: cmdUnselect},
		"EXPUNGE":      {states: sel, fn: cmdExpunge},
		"UID EXPUNGE":  {states: sel, fn: cmdExpunge},
		"SEARCH":       {states: sel, fn: cmdSearch, noExpunge: true},
		"UID SEARCH":   {states: sel, fn: cmdSearch},
		"SORT":         {states: sel, fn: cmdSort, noExpunge: true},
		"UID SORT":     {states: sel, fn: cmdSort},
		"THREAD":       {states: sel, fn: cmdThread, noExpunge: true},
		"UID THREAD":   {states: sel, fn: cmdThread},
		"FETCH":        {states: sel, fn: cmdFetch, noExpunge: true},
		"UID FETCH":    {states: sel, fn: cmdFetch},
		"STORE":        {states: sel, fn: cmdStore, noExpunge: true},
		"UID STORE":    {states: sel, fn: cmdStore},
		"COPY":         {states: sel, fn: cmdCopy, noExpunge: true},
		"UID COPY":     {states: sel, fn: cmdCopy},
		"MOVE":         {states: sel, fn: cmdMove, noExpunge: true},
		"UID MOVE":     {states: sel, fn: cmdMove},
	}
}

func (s *session) run(ctx context.Context, cmd *imapwire.Command) {
	h, ok := commands[cmd.Name]
	if !ok {
		s.tagged(cmd.Tag, "BAD", "", fmt.Sprintf("Unknown command %s", truncate(cmd.Name, 40)))
		return
	}
	allowed := false
	for _, st := range h.states {
		allowed = allowed || st == s.state
	}
	if !allowed {
		what := map[state]string{notAuthenticated: "Log in first", authenticated: "Select a mailbox first", selected: "Not allowed once logged in"}[s.state]
		if s.state == selected && cmd.Name != "STARTTLS" && cmd.Name != "LOGIN" && cmd.Name != "AUTHENTICATE" {
			what = "Not allowed now"
		}
		if s.state != notAuthenticated && (cmd.Name == "LOGIN" || cmd.Name == "AUTHENTICATE" || cmd.Name == "STARTTLS") {
			what = "Already authenticated"
		}
		s.tagged(cmd.Tag, "BAD", "", what)
		return
	}
	start := time.Now()
	s.cmd = cmd.Name
	err := h.fn(ctx, s, cmd.Tag, imapwire.NewParser(cmd.Args))
	if s.state == loggedOut || errors.Is(err, errClientGone) {
		s.state = loggedOut
		return
	}
	if errors.Is(err, errAnswered) {
		return
	}
	if s.sel != nil && !isBad(err) {
		if uerr := s.updates(ctx, !h.noExpunge); uerr != nil {
			s.log.Warn("imap: updates", "err", uerr)
		}
	}
	var re *respError
	var ok2 *okCode
	var se *imapwire.SyntaxError
	switch {
	case err == nil:
		s.tagged(cmd.Tag, "OK", "", cmd.Name+" completed")
	case errors.As(err, &ok2):
		s.tagged(cmd.Tag, "OK", ok2.code, ok2.text)
	case errors.As(err, &re):
		s.tagged(cmd.Tag, re.status, re.code, re.text)
	case errors.As(err, &se):
		s.tagged(cmd.Tag, "BAD", "", se.Msg)
	default:
		s.log.Error("imap: command failed", "cmd", cmd.Name, "err", err, "took", time.Since(start))
		s.tagged(cmd.Tag, "NO", "SERVERBUG", "Internal error; the administrator has the details in the log")
	}
}

var errClientGone = errors.New("client went away")

func isBad(err error) bool {
	var re *respError
	return errors.As(err, &re) && re.status == "BAD" || errors.As(err, new(*imapwire.SyntaxError))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *session) untagged(format string, args ...any) {
	s.w.WriteString("* ")
	fmt.Fprintf(s.w, format, args...)
	s.w.WriteString("\r\n")
}

func (s *session) tagged(tag, status, code, text string) {
	s.w.WriteString(tag)
	s.w.WriteByte(' ')
	s.w.WriteString(status)
	s.w.WriteByte(' ')
	if code != "" {
		s.w.WriteString("[" + code + "] ")
	}
	s.w.WriteString(text)
	s.w.WriteString("\r\n")
}

// appendLimit is the largest message APPEND accepts for this session.
func (s *session) appendLimit() int64 {
	limit := s.srv.cfg.MaxMessageSize
	if s.acct.MaxMessageSize > 0 && s.acct.MaxMessageSize < limit {
		limit = s.acct.MaxMessageSize
	}
	return limit
}

// storeError maps mailstore errors to IMAP answers.
func storeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mailstore.ErrNoMailbox):
		return no("NONEXISTENT", "No such mailbox")
	case errors.Is(err, mailstore.ErrMailboxExists):
		return no("ALREADYEXISTS", "Mailbox already exists")
	case errors.Is(err, mailstore.ErrOverQuota):
		return no("OVERQUOTA", "Over quota: delete or expunge messages first")
	case errors.Is(err, mailstore.ErrCannotDelete):
		return no("CANNOT", "This mailbox cannot be deleted or renamed")
	case errors.Is(err, mailstore.ErrInvalidName):
		return no("CANNOT", "Invalid mailbox name")
	case errors.Is(err, mailstore.ErrAccountClosed), errors.Is(err, mailstore.ErrNoAccount):
		return no("NOPERM", "Account not active")
	case errors.Is(err, mailstore.ErrClosed):
		return no("UNAVAILABLE", "Server shutting down")
	}
	return err
}
