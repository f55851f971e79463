package smtpserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/message"
	"github.com/postamail/posta/internal/msglog"
)

type session struct {
	s        *Server
	mode     Mode
	conn     *smtp.Conn
	ip       netip.Addr
	loopback bool
	id       string

	account *directory.Account
	addrs   []string // what the authenticated account may send as

	from       string
	declared   int64
	rcpts      []string
	requireTLS bool // MAIL FROM ... REQUIRETLS
	// dnsblDone is set once the client was looked up in the block lists; listing is the
	// entry found, or nil. Both last for the connection.
	dnsblDone bool
	listing   *listing
	// rejectDMARC is the DMARC rule of the recipients' tenant (nil until the first recipient
	// of a checked message): one rule per transaction.
	rejectDMARC *bool
}

func newSession(s *Server, mode Mode, c *smtp.Conn) *session {
	sess := &session{s: s, mode: mode, conn: c, id: newID()}
	if ap, err := netip.ParseAddrPort(c.Conn().RemoteAddr().String()); err == nil {
		sess.ip = ap.Addr().Unmap()
		sess.loopback = sess.ip.IsLoopback()
	}
	return sess
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *session) ctx() context.Context { return context.Background() }

func (s *session) isTLS() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

// Reset forgets the current transaction (RSET, or after a message).
func (s *session) Reset() {
	s.from, s.declared, s.rcpts, s.requireTLS, s.rejectDMARC = "", 0, nil, false, nil
}

// checked reports whether messages of this session go through the inbound checks (SPF, DKIM,
// DMARC): unauthenticated, and not from the local MTA unless the configuration says so.
func (s *session) checked() bool {
	return s.s.cfg.Inbound != nil && s.account == nil && (!s.loopback || s.s.cfg.CheckLoopback)
}

// sameDMARCRule keeps a transaction to recipients whose tenants treat a DMARC reject alike,
// since the verdict comes once, after DATA: a recipient with the other rule is deferred to a
// transaction of its own (452 4.5.3, which clients retry).
func (s *session) sameDMARCRule(tenantID int64) error {
	if !s.checked() || s.s.cfg.TenantRejectsDMARC == nil {
		return nil
	}
	on, err := s.s.cfg.TenantRejectsDMARC(s.ctx(), tenantID)
	if err != nil {
		return errTemporary
	}
	if s.rejectDMARC == nil {
		s.rejectDMARC = &on
		return nil
	}
	if *s.rejectDMARC != on {
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3},
			Message: "This recipient follows another DMARC rule; send to it in a separate transaction"}
	}
	return nil
}

// Logout ends the session.
func (s *session) Logout() error { return nil }

// AuthMechanisms offers PLAIN and LOGIN over TLS, or from loopback when the configuration
// allows passwords in clear for tests (RFC 4954 §4: no plaintext mechanisms without TLS).
func (s *session) AuthMechanisms() []string {
	if !s.isTLS() && !(s.s.cfg.AllowInsecureAuth && s.loopback) {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth runs a SASL exchange.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.AuthMechanisms() == nil {
		return nil, errTLSRequired
	}
	if s.account != nil {
		return nil, &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Already authenticated"}
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && !strings.EqualFold(identity, user) {
				return errAuthzDenied
			}
			return s.login(user, pass)
		}), nil
	case sasl.Login:
		return auth.NewLoginServer(s.login), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) login(user, pass string) error {
	if wait := s.s.throttle.Check(s.ip, user); wait > 0 {
		s.s.log.Warn("smtp: login throttled", "ip", s.ip, "user", user, "wait", wait)
		return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: fmt.Sprintf("Too many failed logins, try again in %d seconds", int(wait.Seconds())+1)}
	}
	acc, err := s.s.dir.Authenticate(s.ctx(), user, pass)
	if err == nil && (!acc.Has(directory.FeatureMail) || !acc.Allows(directory.ProtoSMTP)) {
		err = directory.ErrInvalidCredentials
	}
	if err != nil {
		s.s.throttle.Failure(s.ip, user)
		s.s.cfg.Metrics.AuthFailed(s.mode.String())
		s.s.log.Info("smtp: authentication failed", "ip", s.ip, "user", user, "session", s.id, "err", err)
		if errors.Is(err, directory.ErrInvalidCredentials) {
			return smtp.ErrAuthFailed
		}
		return errTemporary
	}
	s.s.throttle.Success(s.ip, user)
	addrs, err := s.s.dir.AccountAddresses(s.ctx(), acc.ID)
	if err != nil {
		return errTemporary
	}
	s.account, s.addrs = acc, addrs
	s.s.log.Info("smtp: authenticated", "ip", s.ip, "account", acc.Address, "session", s.id)
	return nil
}

// mayUseSender reports whether the authenticated account may use addr as a sender: one of its
// addresses, or a list it may post to.
func (s *session) mayUseSender(addr string) bool {
	addr = strings.ToLower(addr)
	for _, a := range s.addrs {
		if a == addr {
			return true
		}
	}
	r, err := s.s.dir.Resolve(s.ctx(), addr)
	if err != nil || r.List == nil || r.TenantID != s.account.TenantID {
		return false
	}
	ok, err := s.s.dir.MayPost(s.ctx(), r.List, s.account.Address)
	return err == nil && ok
}

// sizeLimit is the largest message this session may send: the node's limit, lowered by the
// authenticated account's COS or tenant limit. (A recipient's own limit is checked per
// recipient, at RCPT against the declared SIZE and at DATA against the real size.)
func (s *session) sizeLimit() int64 {
	limit := s.s.cfg.MaxMessageSize
	if s.account != nil && s.account.MaxMessageSize > 0 && s.account.MaxMessageSize < limit {
		limit = s.account.MaxMessageSize
	}
	return limit
}

// Mail starts a transaction.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.mode != MX && s.account == nil {
		return errAuthRequired
	}
	if err := s.checkDNSBL(); err != nil {
		return err
	}
	if opts != nil && opts.Size > s.sizeLimit() {
		return errTooBig(s.sizeLimit())
	}
	if opts != nil && opts.RequireTLS && !s.isTLS() {
		// Only advertised after STARTTLS; a client sending it in clear gets the RFC 8689 answer.
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 10}, Message: "REQUIRETLS needs a TLS session: use STARTTLS first"}
	}
	if s.account != nil && !s.mayUseSender(from) {
		return errNotYourAddress(from)
	}
	if s.account != nil && s.s.cfg.Suspended != nil {
		if off, err := s.s.cfg.Suspended(s.ctx(), s.account.TenantID); err != nil {
			return errTemporary
		} else if off {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
				Message: "Sending is suspended: the account's organisation has run out of credit"}
		}
	}
	if s.account != nil && s.account.SendPerDay > 0 {
		sent, _, err := s.s.dir.SentToday(s.ctx(), s.account.ID)
		if err != nil {
			return errTemporary
		}
		if sent >= int64(s.account.SendPerDay) {
			return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
				Message: fmt.Sprintf("Daily sending limit of %d messages reached; try again tomorrow", s.account.SendPerDay)}
		}
	}
	s.Reset()
	s.from = from
	if opts != nil {
		s.declared = opts.Size
		s.requireTLS = opts.RequireTLS
	}
	return nil
}

// Rcpt accepts or refuses one recipient.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if !strings.Contains(to, "@") {
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Recipient address must be a full address"}
	}
	if s.account != nil && s.account.RecipientsPerMessage > 0 && len(s.rcpts) >= s.account.RecipientsPerMessage {
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3},
			Message: fmt.Sprintf("Too many recipients: your limit is %d per message", s.account.RecipientsPerMessage)}
	}
	r, err := s.s.deliver.Check(s.ctx(), to, s.declared)
	switch {
	case errors.Is(err, deliver.ErrUnknownRecipient):
		local, lerr := s.s.dir.IsLocalDomain(s.ctx(), to[strings.LastIndexByte(to, '@')+1:])
		if lerr != nil {
			return errTemporary
		}
		if local {
			s.s.deliver.Refused(err)
			return errNoSuchUser
		}
		if s.account == nil {
			return errRelayDenied
		}
	case err != nil:
		s.s.deliver.Refused(err)
		return mapError(err)
	case r.List != nil && s.account == nil:
		ok, err := s.s.dir.MayPost(s.ctx(), r.List, s.from)
		if err != nil {
			return errTemporary
		}
		if !ok {
			s.s.deliver.Refused(deliver.ErrNotAllowedToPost)
			return mapError(deliver.ErrNotAllowedToPost)
		}
	}
	if r != nil {
		if err := s.sameDMARCRule(r.TenantID); err != nil {
			return err
		}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data receives the message and delivers it. The answer is 250 only once every local copy is
// durable and every remote recipient is queued durably.
func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // go-smtp's ErrDataTooLarge is already 552 5.3.4
	}
	if int64(len(raw)) > s.sizeLimit() {
		return errTooBig(s.sizeLimit())
	}
	if s.account != nil {
		if bad := s.foreignFrom(raw); bad != "" {
			return errNotYourAddress(bad)
		}
	}
	header := s.received()
	junk := false
	origin := s.origin()
	if s.checked() {
		v := s.s.cfg.Inbound.Check(s.ctx(), s.ip, s.conn.Hostname(), s.from, raw)
		s.s.log.Info("smtp: authentication", "session", s.id, "spf", v.SPF.Result, "dmarc", v.DMARC.Result, "disposition", v.DMARC.Disposition, "from_domain", v.DMARC.From)
		reject := s.s.cfg.RejectDMARC
		if s.rejectDMARC != nil {
			reject = *s.rejectDMARC
		}
		if v.Reject() && reject {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
				Message: fmt.Sprintf("Rejected by the DMARC policy of %s", sanitize(v.DMARC.From))}
		}
		junk = v.Quarantine() || v.Reject()
		raw = v.Message
		header = append([]byte(v.Field), header...)
		origin.Checks = fieldValue(v.Field)
	}
	if s.dnsblChecked() {
		raw = stripField(raw, dnsblField)
		if s.listing != nil && s.s.cfg.DNSBLJunk {
			junk = true
			header = append([]byte(s.listing.field(s.ip)), header...)
			checks := "dnsbl=listed (" + s.listing.zone + ")"
			if origin.Checks != "" {
				checks = origin.Checks + "; " + checks
			}
			origin.Checks = checks
		}
	}
	env := &deliver.Envelope{From: s.from, Rcpts: s.rcpts, Header: header, Raw: raw, Junk: junk, RequireTLS: s.requireTLS, Origin: origin}
	if s.account != nil {
		env.AccountID = s.account.ID
	}
	errs, err := s.s.deliver.Deliver(s.ctx(), env)
	if err != nil {
		s.s.log.Error("smtp: delivery failed", "session", s.id, "err", err)
		return errTemporary
	}
	var failed []int
	for i, e := range errs {
		if e != nil {
			failed = append(failed, i)
		}
	}
	if s.account != nil {
		if err := s.s.dir.RecordSend(s.ctx(), s.account.ID, len(s.rcpts)); err != nil {
			s.s.log.Warn("smtp: count sending", "account", s.account.Address, "err", err)
		}
	}
	s.s.log.Info("smtp: message accepted", "session", s.id, "from", s.from, "rcpts", len(s.rcpts), "failed", len(failed), "size", len(raw))
	if len(failed) == len(s.rcpts) {
		return mapError(errs[0])
	}
	if len(failed) > 0 {
		s.bounce(raw, failed, errs)
	}
	return nil
}

// origin is where the message of this transaction comes from, for the message log.
func (s *session) origin() msglog.Origin {
	o := msglog.Origin{Source: "smtp", Session: s.id, HELO: sanitize(s.conn.Hostname())}
	if s.ip.IsValid() {
		o.ClientIP = s.ip.String()
	}
	if s.account != nil {
		o.Source, o.AuthUser = "submission", s.account.Address
	}
	if cs, ok := s.conn.TLSConnectionState(); ok {
		o.TLS = tlsVersion(cs.Version) + " " + tlsCipher(cs.CipherSuite)
	}
	return o
}

// fieldValue is the value of a header field ("Name: value\r\n"), unfolded.
func fieldValue(field string) string {
	if i := strings.IndexByte(field, ':'); i >= 0 {
		field = field[i+1:]
	}
	return strings.Join(strings.Fields(field), " ")
}

// foreignFrom returns the first From header address the authenticated account may not use,
// or "".
func (s *session) foreignFrom(raw []byte) string {
	h, _ := message.ParseHeader(raw)
	for _, v := range h.Values("From") {
		for _, a := range message.ParseAddressList(v) {
			if addr := a.Addr(); !s.mayUseSender(addr) {
				return addr
			}
		}
	}
	return ""
}

// received builds the Received trace header (RFC 5321 §4.4).
func (s *session) received() []byte {
	with := "ESMTP"
	if s.isTLS() {
		with += "S"
	}
	if s.account != nil {
		with += "A"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Received: from %s (%s)\r\n\tby %s (posta) with %s id %s", sanitize(s.conn.Hostname()), s.remoteText(), s.s.cfg.Hostname, with, s.id)
	if cs, ok := s.conn.TLSConnectionState(); ok {
		fmt.Fprintf(&b, "\r\n\t(using %s with cipher %s)", tlsVersion(cs.Version), tlsCipher(cs.CipherSuite))
	}
	if len(s.rcpts) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", sanitize(s.rcpts[0]))
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", time.Now().Format(time.RFC1123Z))
	return b.Bytes()
}

func (s *session) remoteText() string {
	if s.ip.IsValid() {
		return "[" + s.ip.String() + "]"
	}
	if a := s.conn.Conn().RemoteAddr(); a != nil {
		return a.String()
	}
	return "unknown"
}

// sanitize keeps header text on one line.
func sanitize(v string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
}

// bounce tells the sender which recipients did not get a message that was accepted for others
// (a recipient's mailbox filled up between RCPT and DATA). Never to the null sender.
func (s *session) bounce(raw []byte, failed []int, errs []error) {
	if s.from == "" {
		return
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\nSubject: Undelivered Mail Returned to Sender\r\n", s.s.cfg.Hostname, s.from)
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s.bounce@%s>\r\nAuto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", time.Now().Format(time.RFC1123Z), s.id, s.s.cfg.Hostname)
	fmt.Fprintf(&b, "Your message could not be delivered to these recipients:\r\n\r\n")
	for _, i := range failed {
		se := mapError(errs[i])
		fmt.Fprintf(&b, "  <%s>: %d %d.%d.%d %s\r\n", s.rcpts[i], se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	fmt.Fprintf(&b, "\r\n--- Headers of the original message ---\r\n\r\n")
	_, end := message.ParseHeader(raw)
	b.Write(raw[:end])
	if _, err := s.s.deliver.Deliver(s.ctx(), &deliver.Envelope{From: "", Rcpts: []string{s.from}, Raw: b.Bytes(), System: true}); err != nil {
		s.s.log.Warn("smtp: bounce", "to", s.from, "err", err)
	}
}
