package imapserver

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/postamail/posta/internal/auth"

	"github.com/postamail/posta/internal/imapwire"
)

// capsAuthenticated are the capabilities of an authenticated session.
const capsAuthenticated = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE " +
	"SPECIAL-USE CREATE-SPECIAL-USE CONDSTORE QRESYNC QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE ESEARCH SEARCHRES " +
	"LIST-EXTENDED LIST-STATUS STATUS=SIZE MULTIAPPEND CHILDREN SORT SORT=DISPLAY THREAD=REFERENCES " +
	"THREAD=ORDEREDSUBJECT WITHIN BINARY UTF8=ACCEPT"

func (s *session) passwordsAllowed() bool {
	return s.tls || (s.srv.cfg.AllowInsecureAuth && s.loopback)
}

func (s *session) capabilities() string {
	caps := capsAuthenticated + fmt.Sprintf(" APPENDLIMIT=%d", s.appendLimit())
	if s.state == notAuthenticated {
		if !s.tls && s.srv.cfg.TLSConfig != nil {
			caps += " STARTTLS"
		}
		if s.passwordsAllowed() {
			caps += " AUTH=PLAIN AUTH=LOGIN"
		} else {
			caps += " LOGINDISABLED"
		}
		if _, ok := s.srv.auth.(SCRAMAuthenticator); ok {
			caps += " AUTH=SCRAM-SHA-256"
		}
	}
	return caps
}

func cmdCapability(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	s.untagged("CAPABILITY %s", s.capabilities())
	return nil
}

func cmdNoop(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	return p.End()
}

func cmdLogout(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	s.untagged("BYE posta IMAP closing the connection")
	s.tagged(tag, "OK", "", "LOGOUT completed")
	s.state = loggedOut
	return nil
}

func cmdID(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	// The client's ID is logged, never interpreted.
	var fields []string
	if p.Peek() == '(' {
		err := p.List(func() error {
			v, _, err := p.NString()
			fields = append(fields, v)
			return err
		})
		if err != nil {
			return err
		}
	} else if _, _, err := p.NString(); err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	if len(fields) > 0 {
		s.log.Debug("imap: client id", "id", strings.Join(fields, " "))
	}
	s.untagged(`ID ("name" "posta" "vendor" "posta")`)
	return nil
}

func cmdStartTLS(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	if s.tls {
		return bad("TLS is already active")
	}
	if s.srv.cfg.TLSConfig == nil {
		return no("", "TLS is not configured")
	}
	if s.br.Buffered() > 0 {
		// Commands pipelined after STARTTLS would be an injection (RFC 9051 §11.1).
		return bad("Data after STARTTLS")
	}
	s.tagged(tag, "OK", "", "Begin TLS negotiation now")
	if err := s.w.Flush(); err != nil {
		return errClientGone
	}
	tc := tls.Server(s.conn, s.srv.cfg.TLSConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Debug("imap: TLS handshake", "err", err)
		return errClientGone
	}
	s.tls = true
	s.setConn(tc)
	return errAnswered
}

// errAnswered means the handler already sent the tagged response.
var errAnswered = errors.New("answered")

func cmdLogin(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	user, err := p.AString()
	if err == nil {
		err = p.SP()
	}
	var pass string
	if err == nil {
		pass, err = p.AString()
	}
	if err == nil {
		err = p.End()
	}
	if err != nil {
		return err
	}
	if !s.passwordsAllowed() {
		return no("PRIVACYREQUIRED", "Use STARTTLS (or port 993) before logging in")
	}
	return s.login(ctx, user, pass)
}

func (s *session) login(ctx context.Context, user, pass string) error {
	if wait := s.srv.throttle.Check(s.ip, user); wait > 0 {
		s.log.Warn("imap: login throttled", "user", user, "wait", wait)
		return no("UNAVAILABLE", "Too many failed logins, try again in %d seconds", int(wait.Seconds())+1)
	}
	acct, err := s.srv.auth.Login(ctx, user, pass)
	if errors.Is(err, ErrNotAllowed) {
		s.log.Info("imap: login refused by class of service", "user", user)
		return no("NOPERM", "Your service does not include IMAP access to mail; ask your administrator")
	}
	if err != nil {
		s.authFailed(user)
		s.log.Info("imap: authentication failed", "user", user, "err", err)
		return no("AUTHENTICATIONFAILED", "Authentication failed")
	}
	s.srv.throttle.Success(s.ip, user)
	return s.loggedIn(acct)
}

// authFailed records a failed login: the throttle slows the next ones, the Observer counts it.
func (s *session) authFailed(user string) {
	s.srv.throttle.Failure(s.ip, user)
	if o := s.srv.cfg.Observer; o != nil {
		o.AuthFailed(s.service)
	}
}

// loggedIn moves the session to the authenticated state.
func (s *session) loggedIn(acct Account) error {
	s.acct = acct
	s.state = authenticated
	s.sub = s.srv.store.Bus().Subscribe(acct.ID)
	s.log = s.log.With("account", acct.Address)
	s.log.Info("imap: logged in", "tls", s.tls)
	return &okCode{code: "CAPABILITY " + s.capabilities(), text: "Logged in"}
}

func cmdAuthenticate(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	mech, err := p.Keyword()
	if err != nil {
		return err
	}
	var resp []byte // nil: no initial response
	if p.Consume(' ') {
		ir, err := p.Atom()
		if err != nil {
			return err
		}
		resp = []byte{}
		if ir != "=" {
			if resp, err = base64.StdEncoding.DecodeString(ir); err != nil {
				return bad("Invalid base64 in the initial response")
			}
		}
	}
	if err := p.End(); err != nil {
		return err
	}
	var user, pass string
	var proven *Account // set by SCRAM once the client has proven the password
	var srv sasl.Server
	switch mech {
	case "PLAIN", "LOGIN":
		if !s.passwordsAllowed() {
			return no("PRIVACYREQUIRED", "Use STARTTLS (or port 993) before authenticating")
		}
		if mech == "LOGIN" {
			srv = auth.NewLoginServer(func(u, pw string) error { user, pass = u, pw; return nil })
			break
		}
		srv = sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && !strings.EqualFold(identity, username) {
				return errors.New("authorization identity differs")
			}
			user, pass = username, password
			return nil
		})
	case "SCRAM-SHA-256":
		sa, ok := s.srv.auth.(SCRAMAuthenticator)
		if !ok {
			return no("CANNOT", "Unsupported mechanism %s", mech)
		}
		srv = auth.NewSCRAMServer(func(u string) (auth.SCRAMCredentials, error) {
			user = u
			if wait := s.srv.throttle.Check(s.ip, u); wait > 0 {
				return auth.SCRAMCredentials{}, errors.New("throttled")
			}
			return sa.SCRAMCredentials(ctx, u)
		}, func(u string) error {
			acct, err := sa.CompleteLogin(ctx, u)
			if err != nil {
				return err
			}
			proven = &acct
			return nil
		})
	default:
		return no("CANNOT", "Unsupported mechanism %s", truncate(mech, 20))
	}
	for i := 0; i < 5; i++ {
		var challenge []byte
		var done bool
		challenge, done, err = srv.Next(resp)
		if err != nil || (done && len(challenge) == 0) {
			break
		}
		s.w.WriteString("+ " + base64.StdEncoding.EncodeToString(challenge) + "\r\n")
		if err := s.w.Flush(); err != nil {
			return errClientGone
		}
		line, rerr := s.r.ReadLine()
		if rerr != nil {
			return errClientGone
		}
		if string(line) == "*" {
			return bad("Authentication cancelled")
		}
		if resp, err = base64.StdEncoding.DecodeString(string(line)); err != nil {
			return bad("Invalid base64")
		}
		if done {
			break // the client acknowledged the server's final message
		}
	}
	if errors.Is(err, ErrNotAllowed) {
		return no("NOPERM", "Your service does not include IMAP access to mail; ask your administrator")
	}
	if proven != nil && err == nil {
		s.srv.throttle.Success(s.ip, user)
		return s.loggedIn(*proven)
	}
	if mech == "SCRAM-SHA-256" || err != nil || user == "" {
		s.authFailed(user)
		s.log.Info("imap: authentication failed", "user", user, "mechanism", mech)
		return no("AUTHENTICATIONFAILED", "Authentication failed")
	}
	return s.login(ctx, user, pass)
}

func cmdEnable(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	var enabled []string
	for {
		c, err := p.Keyword()
		if err != nil {
			return err
		}
		switch c {
		case "CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2":
			if !s.enabled[c] {
				s.enabled[c] = true
				enabled = append(enabled, c)
			}
			if c == "QRESYNC" {
				s.enabled["CONDSTORE"] = true
			}
			if c == "UTF8=ACCEPT" || c == "IMAP4REV2" {
				s.w.UTF8 = true
			}
		}
		if !p.More() {
			break
		}
		if err := p.SP(); err != nil {
			return err
		}
	}
	s.untagged("ENABLED%s", prefixSpace(strings.Join(enabled, " ")))
	if s.sel != nil && s.enabled["CONDSTORE"] {
		s.sel.condstore = true
	}
	return nil
}

func prefixSpace(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}

func cmdNamespace(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	s.untagged(`NAMESPACE (("" "/")) NIL NIL`)
	return nil
}
