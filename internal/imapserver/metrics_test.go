package imapserver

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/observe"
)

// Connections, open sessions and failed logins are counted per service: imap on the STARTTLS
// port, imaps on the implicit TLS one. A login refused by the class of service is not a
// failure. (Three failures only: the fourth from one IP would be throttled, not checked.)
func TestMetrics(t *testing.T) {
	m := observe.NewMetrics()
	e := setup(t, func(c *Config) { c.Observer = m })
	conns := func(service string) float64 { return testutil.ToFloat64(m.Connections.WithLabelValues(service)) }
	active := func(service string) float64 { return testutil.ToFloat64(m.ActiveSessions.WithLabelValues(service)) }
	failures := func(service string) float64 { return testutil.ToFloat64(m.AuthFailures.WithLabelValues(service)) }

	c := dial(t, e.addr)
	if conns("imap") != 1 || active("imap") != 1 {
		t.Fatalf("one imap connection: connections %v, active %v", conns("imap"), active("imap"))
	}
	if _, st := c.do("LOGIN nomail@x.test " + pass); !strings.HasPrefix(st, "NO [NOPERM]") {
		t.Fatal(st)
	}
	if failures("imap") != 0 {
		t.Fatalf("a login refused by the class of service counted as a failure")
	}
	if _, st := c.do("LOGIN mario@x.test wrong"); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatal(st)
	}
	if failures("imap") != 1 {
		t.Fatalf("LOGIN failure: auth failures %v, want 1", failures("imap"))
	}
	cl := auth.NewSCRAMClient("luigi@x.test", "wrong-pass")
	_, ir, _ := cl.Start()
	c.send("a AUTHENTICATE SCRAM-SHA-256 " + base64.StdEncoding.EncodeToString(ir))
	for l := c.line(); strings.HasPrefix(l, "+ "); l = c.line() {
		ch, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "+ "))
		resp, err := cl.Next(ch)
		if err != nil {
			t.Fatalf("client: %v", err)
		}
		c.send(base64.StdEncoding.EncodeToString(resp))
	}
	if failures("imap") != 2 {
		t.Fatalf("SCRAM failure: auth failures %v, want 2", failures("imap"))
	}

	conn, err := tls.Dial("tcp", e.tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c2 := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if g := c2.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatal(g)
	}
	if _, st := c2.do("AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00mario@x.test\x00wrong"))); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatal(st)
	}
	if conns("imaps") != 1 || active("imaps") != 1 || failures("imaps") != 1 || failures("imap") != 2 {
		t.Fatalf("imaps: connections %v, active %v, auth failures %v (imap %v)", conns("imaps"), active("imaps"), failures("imaps"), failures("imap"))
	}

	c.ok("LOGOUT")
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for active("imap") != 0 || active("imaps") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sessions still open after their clients left: imap %v, imaps %v", active("imap"), active("imaps"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if conns("imap") != 1 || conns("imaps") != 1 {
		t.Fatalf("connections imap %v, imaps %v, want 1 each", conns("imap"), conns("imaps"))
	}
}
