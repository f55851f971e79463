package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/postamail/posta/internal/resolver"
)

// Reply is an SMTP reply: code, enhanced status code when given, text.
type Reply struct {
	Code     int
	Enhanced string
	Text     string
}

func (r *Reply) Error() string {
	if r.Enhanced != "" {
		return fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Text)
	}
	return fmt.Sprintf("%d %s", r.Code, r.Text)
}

// Temporary reports a 4xx reply (or a local failure that is not a reply at all).
func (r *Reply) Temporary() bool { return r.Code < 500 }

// client is an SMTP client for relaying (RFC 5321): EHLO with our name, STARTTLS as the TLS
// policy of the destination asks, one transaction per message with several recipients.
type client struct {
	conn     net.Conn
	tp       *textproto.Conn
	ext      map[string]string
	tls      string // "" or the negotiated version and cipher
	host     string
	policy   string // the TLS policy that applied (Attempt.Policy)
	result   string // what the certificate check found (Attempt.TLSResult)
	verified bool   // the certificate was verified (DANE or PKIX for the host name)
	p        connPolicy
	born     time.Time
}

// connPolicy is what a connection to one receiving server must satisfy.
type connPolicy struct {
	name   string          // reference identifier: the MX host name (or a route's host)
	policy string          // as recorded: opportunistic, mta-sts-testing, mta-sts-enforce, dane, route
	tlsa   []resolver.TLSA // usable TLSA records (policy dane)
	// enforce makes a failure of the policy refuse the server (dane and mta-sts-enforce,
	// unless the message says "TLS-Required: No"); otherwise the failure is only recorded.
	enforce bool
	// requireTLS is for REQUIRETLS messages (RFC 8689 §4.2.1): STARTTLS, a verified
	// certificate and the REQUIRETLS extension, or no delivery.
	requireTLS bool
	note       string // recorded with the result (a relaxed policy, an MX outside the policy)
	// clear skips STARTTLS: opportunistic delivery after a failed handshake (RFC 7435 §4).
	clear bool
}

// handshakeError is a failed TLS handshake after STARTTLS.
type handshakeError struct {
	host string
	err  error
}

func (e *handshakeError) Error() string { return "TLS with " + e.host + ": " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// policyFailure is a refusal of a server by the TLS policy, before any transaction.
func policyFailure(format string, args ...any) *Reply {
	return &Reply{Code: 451, Enhanced: "4.7.5", Text: fmt.Sprintf(format, args...)}
}

// requireTLSFailure is a server that cannot take a REQUIRETLS message (RFC 8689 §4.2.1).
func requireTLSFailure(format string, args ...any) *Reply {
	return &Reply{Code: 550, Enhanced: "5.7.30", Text: "REQUIRETLS: " + fmt.Sprintf(format, args...)}
}

func dial(ctx context.Context, addr, ehlo string, p connPolicy, tlsConf *tls.Config, roots *x509.CertPool, timeout time.Duration, now time.Time) (*client, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn, tp: textproto.NewConn(conn), host: p.name, policy: p.policy, p: p, born: time.Now()}
	conn.SetDeadline(time.Now().Add(5 * time.Minute))
	if _, err := c.read(220); err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.ehlo(ehlo); err != nil {
		conn.Close()
		return nil, err
	}
	mustTLS := p.enforce || p.requireTLS
	if _, ok := c.ext["STARTTLS"]; !ok || tlsConf == nil || p.clear && !mustTLS {
		c.result = "no STARTTLS offered"
		if ok {
			c.result = "in clear: the TLS handshake failed on the previous connection"
		}
		if p.requireTLS {
			c.close()
			return nil, requireTLSFailure("%s does not offer STARTTLS", p.name)
		}
		if mustTLS {
			c.close()
			return nil, policyFailure("%s does not offer STARTTLS, which the %s policy requires", p.name, p.policy)
		}
		c.result = addNote(c.result, p.note)
		return c, nil
	}
	if _, err := c.cmd(220, "STARTTLS"); err != nil {
		conn.Close()
		return nil, err
	}
	// The certificate is checked below, as the policy says, not by the handshake.
	cfg := tlsConf.Clone()
	cfg.InsecureSkipVerify = true
	if cfg.ServerName == "" {
		cfg.ServerName = p.name
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, &handshakeError{host: p.name, err: err}
	}
	st := tc.ConnectionState()
	c.conn, c.tp = tc, textproto.NewConn(tc)
	c.tls = tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	var verr error
	if p.policy == "dane" {
		var match string
		if match, verr = verifyDANE(p.tlsa, st.PeerCertificates, p.name, now); verr == nil {
			c.result = "verified (" + match + ")"
		}
	} else {
		if verr = verifyPKIX(st.PeerCertificates, p.name, roots, now); verr == nil {
			c.result = "verified (PKIX)"
		}
	}
	c.verified = verr == nil
	if verr != nil {
		switch {
		case p.enforce:
			c.close()
			return nil, policyFailure("%s policy: %v", p.policy, verr)
		case p.requireTLS:
			c.close()
			return nil, requireTLSFailure("certificate of %s not verified: %v", p.name, verr)
		case p.policy == "mta-sts-testing":
			c.result = "failed: " + verr.Error()
		default:
			c.result = "not verified: " + verr.Error()
		}
	}
	c.result = addNote(c.result, p.note)
	if err := c.ehlo(ehlo); err != nil {
		tc.Close()
		return nil, err
	}
	if _, ok := c.ext["REQUIRETLS"]; p.requireTLS && !ok {
		c.close()
		return nil, requireTLSFailure("%s does not support REQUIRETLS", p.name)
	}
	return c, nil
}

func addNote(result, note string) string {
	switch {
	case note == "":
		return result
	case result == "":
		return note
	}
	return result + "; " + note
}

// verifyPKIX checks the server's chain against the trusted roots for the host name.
func verifyPKIX(chain []*x509.Certificate, host string, roots *x509.CertPool, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("no certificate presented")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter, CurrentTime: now})
	return err
}

func (c *client) ehlo(name string) error {
	r, err := c.cmd(250, "EHLO %s", name)
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	for _, l := range strings.Split(r.Text, "\n")[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

// read reads a reply and returns it as an error unless its code is want.
func (c *client) read(want int) (*Reply, error) {
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil && code == 0 {
		return nil, err // not a reply: the connection broke
	}
	r := &Reply{Code: code, Text: msg}
	if f := strings.SplitN(msg, " ", 2); len(f) == 2 && isEnhanced(f[0]) {
		r.Enhanced, r.Text = f[0], f[1]
	}
	if code != want && !(want == 250 && code == 251) {
		return r, r
	}
	return r, nil
}

func isEnhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if _, err := strconv.Atoi(p); err != nil {
			return false
		}
	}
	return true
}

func (c *client) cmd(want int, format string, args ...any) (*Reply, error) {
	if err := c.tp.PrintfLine(format, args...); err != nil {
		return nil, err
	}
	return c.read(want)
}

// send runs one transaction. It returns the reply per recipient (nil: accepted) and the
// reply to the end of data; an error when the transaction could not happen at all.
func (c *client) send(from string, rcpts []string, body io.Reader, size int64, utf8, requireTLS bool) ([]error, error) {
	mail := "MAIL FROM:<" + from + ">"
	if _, ok := c.ext["SIZE"]; ok && size > 0 {
		mail += " SIZE=" + strconv.FormatInt(size, 10)
	}
	if _, ok := c.ext["8BITMIME"]; ok {
		mail += " BODY=8BITMIME"
	}
	if _, ok := c.ext["SMTPUTF8"]; ok && utf8 {
		mail += " SMTPUTF8"
	}
	if requireTLS {
		mail += " REQUIRETLS"
	}
	if _, ok := c.ext["PIPELINING"]; ok {
		return c.sendPipelined(mail, rcpts, body)
	}
	if _, err := c.cmd(250, "%s", mail); err != nil {
		return nil, err
	}
	errs := make([]error, len(rcpts))
	accepted := 0
	for i, r := range rcpts {
		if _, err := c.cmd(250, "RCPT TO:<%s>", r); err != nil {
			errs[i] = err
			continue
		}
		accepted++
	}
	if accepted == 0 {
		c.cmd(250, "RSET")
		return errs, nil
	}
	if _, err := c.cmd(354, "DATA"); err != nil {
		return nil, err
	}
	return errs, c.data(body)
}

// data sends the message after a 354 and reads the reply to its end.
func (c *client) data(body io.Reader) error {
	w := c.tp.DotWriter()
	if _, err := io.Copy(w, body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	_, err := c.read(250)
	return err
}

// sendPipelined is send to a server that offers PIPELINING (RFC 2920): MAIL, every RCPT and
// DATA go in one write, their replies are read in order, then the message follows when DATA
// was accepted: two round trips a message instead of three plus one per recipient.
func (c *client) sendPipelined(mail string, rcpts []string, body io.Reader) ([]error, error) {
	w := c.tp.W
	w.WriteString(mail + "\r\n")
	for _, r := range rcpts {
		w.WriteString("RCPT TO:<" + r + ">\r\n")
	}
	w.WriteString("DATA\r\n")
	if err := w.Flush(); err != nil {
		return nil, err
	}
	// A reply that is not a reply (nil with an error) means the connection broke.
	mailRep, mailErr := c.read(250)
	if mailRep == nil {
		return nil, mailErr
	}
	errs := make([]error, len(rcpts))
	accepted := 0
	for i := range rcpts {
		rep, err := c.read(250)
		switch {
		case rep == nil:
			return nil, err
		case err != nil:
			errs[i] = err
		default:
			accepted++
		}
	}
	dataRep, dataErr := c.read(354)
	if dataRep == nil {
		return nil, dataErr
	}
	if dataErr == nil && (mailErr != nil || accepted == 0) {
		// The server took DATA with no recipient (or no sender) accepted: end the data at
		// once; nothing is sent.
		c.data(strings.NewReader(""))
	}
	switch {
	case mailErr != nil:
		return nil, mailErr
	case accepted == 0:
		return errs, nil
	case dataErr != nil:
		return nil, dataErr
	}
	return errs, c.data(body)
}

func (c *client) close() {
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	c.cmd(221, "QUIT")
	c.conn.Close()
}

// asReply turns any delivery error into a reply, so that callers decide by code: local and
// network failures are temporary.
func asReply(err error) *Reply {
	var r *Reply
	if errors.As(err, &r) {
		return r
	}
	return &Reply{Code: 451, Enhanced: "4.4.1", Text: err.Error()}
}
