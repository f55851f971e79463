package migrate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// JobError is why a job failed, with a stable kind.
type JobError struct {
	Kind string // source-unreachable, source-tls, source-login-failed, quota-insufficient, source-error
	Msg  string
	// Permanent errors end the job; others (the network) are tried again.
	Permanent bool
	Err       error
}

func (e *JobError) Error() string { return e.Msg }
func (e *JobError) Unwrap() error { return e.Err }

// serverAnswer renders an IMAP error as the server said it: "NO [CODE] text".
func serverAnswer(err error) string {
	var ie *imap.Error
	if errors.As(err, &ie) {
		s := string(ie.Type)
		if ie.Code != "" {
			s += " [" + string(ie.Code) + "]"
		}
		return s + " " + ie.Text
	}
	return err.Error()
}

// source is one logged-in connection to the source server.
type source struct {
	c     *imapclient.Client
	stop  func() bool
	caps  imap.CapSet
	delim string
}

// sourceConfig is what a connection needs.
type sourceConfig struct {
	Host, TLS, User, Authz, Password string
	Port                             int
	TLSConfig                        *tls.Config // tests; default verifies Host
}

// dialSource connects and logs in. The connection is closed when ctx is done.
func dialSource(ctx context.Context, d *net.Dialer, cfg sourceConfig) (*source, error) {
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &JobError{Kind: "source-unreachable", Msg: fmt.Sprintf("cannot connect to the source server %s: %v", addr, err), Err: err}
	}
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	opts := &imapclient.Options{TLSConfig: tc}
	var c *imapclient.Client
	switch cfg.TLS {
	case TLSImplicit:
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, &JobError{Kind: "source-tls", Msg: fmt.Sprintf("TLS with the source server %s failed: %v", addr, err), Permanent: true, Err: err}
		}
		c = imapclient.New(tconn, opts)
	case TLSStartTLS:
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			conn.Close()
			return nil, &JobError{Kind: "source-tls", Msg: fmt.Sprintf("STARTTLS with the source server %s failed: %v", addr, err), Permanent: true, Err: err}
		}
	default:
		c = imapclient.New(conn, opts)
	}
	s := &source{c: c}
	s.stop = context.AfterFunc(ctx, func() { c.Close() })
	fail := func(e error) (*source, error) {
		s.close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, e
	}
	if err := c.WaitGreeting(); err != nil {
		return fail(&JobError{Kind: "source-unreachable", Msg: fmt.Sprintf("the source server %s sent no IMAP greeting: %v", addr, err), Err: err})
	}
	if cfg.Authz != "" && cfg.Authz != cfg.User {
		err = c.Authenticate(sasl.NewPlainClient(cfg.Authz, cfg.User, cfg.Password))
	} else if c.Caps().Has(imap.CapLoginDisabled) {
		err = c.Authenticate(sasl.NewPlainClient("", cfg.User, cfg.Password))
	} else {
		err = c.Login(cfg.User, cfg.Password).Wait()
	}
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) {
			who := cfg.User
			if cfg.Authz != "" {
				who = cfg.User + " (acting as " + cfg.Authz + ")"
			}
			return fail(&JobError{Kind: "source-login-failed", Msg: fmt.Sprintf("the source server %s refused the login of %s: %s", addr, who, serverAnswer(err)), Permanent: true, Err: err})
		}
		return fail(&JobError{Kind: "source-unreachable", Msg: fmt.Sprintf("logging in to %s: %v", addr, err), Err: err})
	}
	caps, err := c.Capability().Wait()
	if err != nil {
		return fail(&JobError{Kind: "source-error", Msg: fmt.Sprintf("CAPABILITY on %s: %v", addr, err), Err: err})
	}
	s.caps = caps
	return s, nil
}

func (s *source) close() {
	s.stop()
	s.c.Close()
}

// logout ends the session politely.
func (s *source) logout() {
	s.c.Logout().Wait()
	s.close()
}

// folderInfo is a folder with its size.
type folderInfo struct {
	SourceFolder
	Messages int64
	Size     int64 // -1 when the server does not offer STATUS SIZE
}

// folders lists every folder with its message count and, where the server offers it, its size
// (STATUS MESSAGES SIZE, returned by LIST when LIST-STATUS is offered).
func (s *source) folders() ([]folderInfo, error) {
	hasSize := s.caps.Has(imap.CapStatusSize) || s.caps.Has(imap.CapIMAP4rev2)
	st := &imap.StatusOptions{NumMessages: true, Size: hasSize}
	lo := &imap.ListOptions{}
	if s.caps.Has(imap.CapListStatus) {
		lo.ReturnStatus = st
	}
	if s.caps.Has(imap.CapSpecialUse) {
		lo.ReturnSpecialUse = true
	}
	list, err := s.c.List("", "*", lo).Collect()
	if err != nil {
		return nil, &JobError{Kind: "source-error", Msg: "LIST on the source failed: " + serverAnswer(err), Err: err}
	}
	out := make([]folderInfo, 0, len(list))
	for _, l := range list {
		f := folderInfo{SourceFolder: SourceFolder{Name: l.Mailbox}, Size: -1}
		if l.Delim != 0 {
			f.Delim = string(l.Delim)
			s.delim = f.Delim
		}
		for _, a := range l.Attrs {
			f.Attrs = append(f.Attrs, string(a))
		}
		status := l.Status
		if status == nil && !hasAttr(f.Attrs, `\Noselect`) && !hasAttr(f.Attrs, `\NonExistent`) {
			if status, err = s.c.Status(l.Mailbox, st).Wait(); err != nil {
				return nil, &JobError{Kind: "source-error", Msg: fmt.Sprintf("STATUS %q on the source failed: %s", l.Mailbox, serverAnswer(err)), Err: err}
			}
		}
		if status != nil {
			if status.NumMessages != nil {
				f.Messages = int64(*status.NumMessages)
			}
			if status.Size != nil {
				f.Size = *status.Size
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// srcMessage is what the pre-flight learns of a message without its body.
type srcMessage struct {
	UID       uint32
	Size      int64
	Flags     []string
	Date      int64 // internal date, Unix seconds
	MessageID string
	Subject   string
}

// examine opens a folder read-only and lists its messages (UID, size, flags, internal date,
// Message-ID and subject). Folders are opened with EXAMINE so that nothing, not even \Recent,
// changes on the source.
func (s *source) examine(name string) (uidValidity uint32, msgs []srcMessage, err error) {
	sel, err := s.c.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return 0, nil, &JobError{Kind: "source-error", Msg: fmt.Sprintf("EXAMINE %q on the source failed: %s", name, serverAnswer(err)), Err: err}
	}
	if sel.NumMessages == 0 {
		return sel.UIDValidity, nil, nil
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	cmd := s.c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true})
	for {
		m := cmd.Next()
		if m == nil {
			break
		}
		buf, err := m.Collect()
		if err != nil {
			cmd.Close()
			return 0, nil, &JobError{Kind: "source-error", Msg: fmt.Sprintf("FETCH in %q on the source failed: %v", name, err), Err: err}
		}
		sm := srcMessage{UID: uint32(buf.UID), Size: buf.RFC822Size, Date: buf.InternalDate.Unix()}
		for _, f := range buf.Flags {
			if strings.EqualFold(string(f), `\Recent`) {
				continue
			}
			sm.Flags = append(sm.Flags, string(f))
		}
		if buf.Envelope != nil {
			sm.MessageID, sm.Subject = buf.Envelope.MessageID, buf.Envelope.Subject
		}
		msgs = append(msgs, sm)
	}
	if err := cmd.Close(); err != nil {
		return 0, nil, &JobError{Kind: "source-error", Msg: fmt.Sprintf("FETCH in %q on the source failed: %s", name, serverAnswer(err)), Err: err}
	}
	return sel.UIDValidity, msgs, nil
}
