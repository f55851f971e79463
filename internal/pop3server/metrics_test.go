package pop3server

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/postamail/posta/internal/observe"
)

// Connections, open sessions and failed logins are counted per service: pop3 on the STLS
// port, pop3s on the implicit TLS one. A login refused by the class of service, or a
// malformed AUTH, is not a failed login.
func TestMetrics(t *testing.T) {
	m := observe.NewMetrics()
	e := setup(t, true, func(c *Config) { c.Observer = m })
	conns := func(service string) float64 { return testutil.ToFloat64(m.Connections.WithLabelValues(service)) }
	active := func(service string) float64 { return testutil.ToFloat64(m.ActiveSessions.WithLabelValues(service)) }
	failures := func(service string) float64 { return testutil.ToFloat64(m.AuthFailures.WithLabelValues(service)) }

	c := dial(t, e.addr, false)
	if conns("pop3") != 1 || active("pop3") != 1 {
		t.Fatalf("one pop3 connection: connections %v, active %v", conns("pop3"), active("pop3"))
	}
	c.cmd("USER nopop@x.test", `^\+OK`)
	c.cmd("PASS secret-pass", `^-ERR \[AUTH\] POP3 is not included`)
	c.cmd("AUTH PLAIN !!!", `^-ERR \[AUTH\] invalid base64`)
	if failures("pop3") != 0 {
		t.Fatalf("auth failures %v before any wrong password", failures("pop3"))
	}
	c.cmd("USER mario@x.test", `^\+OK`)
	c.cmd("PASS wrong", `^-ERR \[AUTH\] authentication failed`)
	c.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00mario@x.test\x00wrong")), `^-ERR \[AUTH\] authentication failed`)
	if failures("pop3") != 2 {
		t.Fatalf("auth failures %v, want 2", failures("pop3"))
	}

	c2 := dial(t, e.tlsAddr, true)
	c2.cmd("USER mario@x.test", `^\+OK`)
	c2.cmd("PASS wrong", `^-ERR \[AUTH\] authentication failed`)
	if conns("pop3s") != 1 || active("pop3s") != 1 || failures("pop3s") != 1 || failures("pop3") != 2 {
		t.Fatalf("pop3s: connections %v, active %v, auth failures %v (pop3 %v)", conns("pop3s"), active("pop3s"), failures("pop3s"), failures("pop3"))
	}
	c2.cmd("USER mario@x.test", `^\+OK`)
	c2.cmd("PASS secret-pass", `^\+OK maildrop`)

	c.cmd("QUIT", `^\+OK`)
	c2.cmd("QUIT", `^\+OK`)
	deadline := time.Now().Add(5 * time.Second)
	for active("pop3") != 0 || active("pop3s") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sessions still open after QUIT: pop3 %v, pop3s %v", active("pop3"), active("pop3s"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if conns("pop3") != 1 || conns("pop3s") != 1 || failures("pop3s") != 1 {
		t.Fatalf("connections pop3 %v, pop3s %v, auth failures pop3s %v", conns("pop3"), conns("pop3s"), failures("pop3s"))
	}
}
