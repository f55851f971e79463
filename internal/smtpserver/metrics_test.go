package smtpserver

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/smtp"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/postamail/posta/internal/certs"
	"github.com/postamail/posta/internal/observe"
)

// Connections are counted when accepted, by service, once each: before any EHLO, and once
// for a session that upgrades with STARTTLS (go-smtp opens a new session then). The open
// connections gauge goes back to zero when the clients leave, and a wrong password is a failed
// login of its service.
func TestMetrics(t *testing.T) {
	m := observe.NewMetrics()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := certs.GenerateSelfSigned(cert, key, nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	cs, err := certs.NewStore(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	e := setupWith(t, func(c *Config) { c.Metrics, c.TLSConfig = m, cs.TLSConfig() })
	conns := func(service string) float64 { return testutil.ToFloat64(m.Connections.WithLabelValues(service)) }
	active := func(service string) float64 { return testutil.ToFloat64(m.ActiveSessions.WithLabelValues(service)) }
	failures := func(service string) float64 { return testutil.ToFloat64(m.AuthFailures.WithLabelValues(service)) }

	// A client that only reads the greeting.
	c, err := net.Dial("tcp", e.mx)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if g, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(g, "220 ") {
		t.Fatalf("greeting %q %v", g, err)
	}
	if conns("smtp") != 1 || active("smtp") != 1 {
		t.Fatalf("connection before EHLO: connections %v, active %v", conns("smtp"), active("smtp"))
	}
	// EHLO, STARTTLS, EHLO again: one connection, two go-smtp sessions.
	for _, l := range []string{"EHLO c\r\n", "STARTTLS\r\n"} {
		c.Write([]byte(l))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if len(line) < 4 || line[3] != '-' {
				break
			}
		}
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	tr := bufio.NewReader(tc)
	tc.Write([]byte("EHLO c\r\n"))
	for {
		line, err := tr.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if len(line) < 4 || line[3] != '-' {
			break
		}
	}
	if conns("smtp") != 1 || active("smtp") != 1 {
		t.Fatalf("after STARTTLS: connections %v, active %v, want 1 and 1", conns("smtp"), active("smtp"))
	}

	if got := converse(t, e.sub, "EHLO c", "AUTH PLAIN "+plain("mario@x.test", "nope-nope-nope"), "QUIT"); !strings.HasPrefix(got[1], "535 ") {
		t.Fatalf("wrong password: %q", got[1])
	}
	if conns("submission") != 1 || failures("submission") != 1 || failures("smtp") != 0 {
		t.Fatalf("submission: connections %v, auth failures %v (smtp %v)", conns("submission"), failures("submission"), failures("smtp"))
	}

	tc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for active("smtp") != 0 || active("submission") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections still open after their clients left: smtp %v, submission %v", active("smtp"), active("submission"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if conns("smtp") != 1 || conns("submission") != 1 {
		t.Fatalf("connections smtp %v, submission %v, want 1 each", conns("smtp"), conns("submission"))
	}
}

// TestRefusalsCounted: a local recipient refused at RCPT TO counts in posta_deliveries_total
// with its outcome, as one refused after DATA does; a relay attempt is not a delivery and does
// not count.
func TestRefusalsCounted(t *testing.T) {
	m := observe.NewMetrics()
	e := setupWith(t, func(c *Config) { c.Metrics = m })
	count := func(result string) float64 { return testutil.ToFloat64(m.Deliveries.WithLabelValues(result)) }
	c, err := smtp.Dial(e.mx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("someone@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("nobody@x.test"); err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Fatalf("RCPT of an unknown local address: %v", err)
	}
	if err := c.Rcpt("friend@elsewhere.example"); err == nil {
		t.Fatal("relay accepted")
	}
	if got := count("unknown"); got != 1 {
		t.Errorf("deliveries{unknown} = %v after one unknown recipient and one relay attempt, want 1", got)
	}
	if err := c.Rcpt("mario@x.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("From: someone@example.org\r\nSubject: counted\r\n\r\nhi\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := count("stored"); got != 1 {
		t.Errorf("deliveries{stored} = %v, want 1", got)
	}
}
