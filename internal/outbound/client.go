package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
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

// client is an SMTP client for relaying (RFC 5321): EHLO with our name, opportunistic STARTTLS,
// one transaction per message with several recipients.
type client struct {
	conn net.Conn
	tp   *textproto.Conn
	ext  map[string]string
	tls  string // "" or the negotiated version and cipher
	host string
}

func dial(ctx context.Context, addr, host, ehlo string, tlsConf *tls.Config, timeout time.Duration) (*client, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn, tp: textproto.NewConn(conn), host: host}
	conn.SetDeadline(time.Now().Add(5 * time.Minute))
	if _, err := c.read(220); err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.ehlo(ehlo); err != nil {
		conn.Close()
		return nil, err
	}
	if _, ok := c.ext["STARTTLS"]; ok && tlsConf != nil {
		if _, err := c.cmd(220, "STARTTLS"); err != nil {
			conn.Close()
			return nil, err
		}
		cfg := tlsConf.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS with %s: %w", host, err)
		}
		st := tc.ConnectionState()
		c.conn, c.tp = tc, textproto.NewConn(tc)
		c.tls = tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
		if err := c.ehlo(ehlo); err != nil {
			tc.Close()
			return nil, err
		}
	}
	return c, nil
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
func (c *client) send(from string, rcpts []string, body io.Reader, size int64, utf8 bool) ([]error, error) {
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
	w := c.tp.DotWriter()
	if _, err := io.Copy(w, body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if _, err := c.read(250); err != nil {
		return nil, err
	}
	return errs, nil
}

func (c *client) close() {
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
