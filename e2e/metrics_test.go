package e2e

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape returns every series of the installation's /metrics ("name{labels}" to value).
func scrape(t *testing.T, in *install) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + in.addr(portHTTP) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics: %q", line)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMetricsCountSessionsAndDeliveries: a wrong password over IMAP (port 143) and over POP3S
// (995), an SMTP connection held open before EHLO, a message delivered over SMTP and one
// refused at commit for quota move the counters of /metrics: connections, failed logins and
// open sessions by service, deliveries by result, and the group commit histograms.
func TestMetricsCountSessionsAndDeliveries(t *testing.T) {
	in := newInstall(t)
	mailSetup(t, in)
	in.allowInsecureAuth()
	in.start()
	before := scrape(t, in)

	ic, err := dialIMAP(t, in.addr(portIMAP), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, st, err := ic.cmd("LOGIN alice@acme.test wrong-password"); err != nil || !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("IMAP LOGIN with a wrong password: %q %v", st, err)
	}
	// While that IMAP session and an SMTP connection that has not said EHLO are open, they
	// are counted.
	sc, err := net.Dial("tcp", in.addr(portSMTP))
	if err != nil {
		t.Fatal(err)
	}
	sc.SetDeadline(time.Now().Add(20 * time.Second))
	sr := bufio.NewReader(sc)
	if l, err := sr.ReadString('\n'); err != nil || !strings.HasPrefix(l, "220 ") {
		t.Fatalf("SMTP greeting %q %v", l, err)
	}
	during := scrape(t, in)
	for _, series := range []string{`posta_sessions_active{service="imap"}`, `posta_sessions_active{service="smtp"}`, `posta_connections_total{service="smtp"}`} {
		if d := during[series] - before[series]; d != 1 {
			t.Errorf("with one connection open: %s went from %v to %v, want +1", series, before[series], during[series])
		}
	}
	sc.Write([]byte("QUIT\r\n"))
	sr.ReadString('\n')
	sc.Close()
	ic.mustCmd("LOGOUT")
	ic.close()

	pc, err := tls.Dial("tcp", in.addr(portPOP3S), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	pc.SetDeadline(time.Now().Add(20 * time.Second))
	pr := bufio.NewReader(pc)
	for _, step := range []struct{ send, want string }{{"", "+OK"}, {"USER alice@acme.test", "+OK"}, {"PASS wrong-password", "-ERR [AUTH]"}, {"QUIT", "+OK"}} {
		if step.send != "" {
			pc.Write([]byte(step.send + "\r\n"))
		}
		if l, err := pr.ReadString('\n'); err != nil || !strings.HasPrefix(l, step.want) {
			t.Fatalf("POP3S %q: %q %v, want %s", step.send, l, err, step.want)
		}
	}
	pc.Close()

	if err := sendPlain(in.addr(portSMTP), "x@example.org", "alice@acme.test", "From: x@example.org\r\nSubject: counted\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	// carol's quota is 1 MB: accepted at RCPT (no SIZE), refused when stored.
	big := "From: x@example.org\r\nSubject: too big for carol\r\n\r\n" + strings.Repeat(strings.Repeat("x", 98)+"\r\n", 11000)
	if err := sendPlain(in.addr(portSMTP), "x@example.org", "carol@acme.test", big); err == nil || !strings.Contains(err.Error(), "452") {
		t.Fatalf("message over carol's quota: %v, want 452", err)
	}

	var after map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = scrape(t, in)
		if after[`posta_sessions_active{service="imap"}`] == 0 && after[`posta_sessions_active{service="pop3s"}`] == 0 &&
			after[`posta_sessions_active{service="smtp"}`] == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []struct {
		series string
		min    float64 // at least this much more than before
		max    float64 // and at most this much
	}{
		{`posta_connections_total{service="imap"}`, 1, 1},
		{`posta_auth_failures_total{service="imap"}`, 1, 1},
		{`posta_connections_total{service="pop3s"}`, 1, 1},
		{`posta_auth_failures_total{service="pop3s"}`, 1, 1},
		{`posta_connections_total{service="smtp"}`, 3, 3},
		{`posta_auth_failures_total{service="smtp"}`, 0, 0},
		{`posta_sessions_active{service="imap"}`, 0, 0},
		{`posta_sessions_active{service="pop3s"}`, 0, 0},
		{`posta_sessions_active{service="smtp"}`, 0, 0},
		{`posta_deliveries_total{result="stored"}`, 1, 1},
		{`posta_deliveries_total{result="overquota"}`, 1, 1},
		{`posta_commit_batch_size_count`, 2, 2},
		{`posta_commit_batch_size_sum`, 2, 2},
		{`posta_commit_seconds_count`, 2, 2},
	} {
		if d := after[c.series] - before[c.series]; d < c.min || d > c.max {
			t.Errorf("%s went from %v to %v, want +%v to +%v", c.series, before[c.series], after[c.series], c.min, c.max)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", lastLines(in.logs.String(), 40))
	}
}
