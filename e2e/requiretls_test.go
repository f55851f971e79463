package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// REQUIRETLS (RFC 8689) through two installations: python's smtplib submits to A with
// MAIL FROM ... REQUIRETLS; A's queue keeps the flag, and its outbound delivers to B's MX only
// because B's certificate verifies (A trusts it through outbound.tls_roots) and B advertises
// REQUIRETLS. A destination whose certificate does not verify fails at once with 5.7.30, and
// the sender gets a DSN. B refuses REQUIRETLS in clear with 530 5.7.10.
func TestRequireTLSAcrossServers(t *testing.T) {
	py := needTool(t, "python3")
	a := newInstall(t)
	b := newInstall(t)
	mailSetup(t, a)
	pw := writeFile(t, b.dir, "pw", testPW)
	b.mustRun("tenant", "create", "Beta", "--contact", "it@beta.test", "--contract", "payg")
	b.mustRun("domain", "add", "beta.test", "--tenant", "Beta")
	b.mustRun("account", "add", "bruno@beta.test", "--cos", "Business Mail 100 MB", "--password-file", pw)
	cfg, err := os.ReadFile(a.config)
	if err != nil {
		t.Fatal(err)
	}
	// A trusts B's self-signed certificate (for mail.example.test and 127.0.0.1), not its own:
	// gamma.test is routed to A's own MX, whose certificate does not verify.
	roots := filepath.Join(b.dir, "data", "tls", "cert.pem")
	text := strings.Replace(string(cfg), "tls_roots = \"\"", fmt.Sprintf("tls_roots = %q", roots), 1)
	text += fmt.Sprintf("\"beta.test\" = %q\n\"gamma.test\" = %q\n", b.addr(portSMTP), a.addr(portSMTP))
	if err := os.WriteFile(a.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	a.start()
	b.start()
	script := fmt.Sprintf(`
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", %d, context=ctx)
s.ehlo()
assert s.has_extn("requiretls"), "REQUIRETLS not advertised over TLS"
s.login("alice@acme.test", %q)
msg = "From: alice@acme.test\r\nTo: bruno@beta.test\r\nSubject: secret\r\nMessage-ID: <rtls-1@acme.test>\r\n\r\nonly over TLS\r\n"
refused = s.sendmail("alice@acme.test", ["bruno@beta.test", "ghost@gamma.test"], msg, mail_options=["REQUIRETLS"])
print("refused", refused)
s.quit()
c = smtplib.SMTP("127.0.0.1", %d)
c.ehlo()
print("advertised in clear", c.has_extn("requiretls"))
try:
    c.mail("x@example.org", ["REQUIRETLS"])
except smtplib.SMTPResponseException as e:
    pass
code, text = c.mail("x@example.org", ["REQUIRETLS"])
print("clear", code, text.decode())
c.quit()
`, portSubmissions+a.offset, testPW, portSMTP+b.offset)
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "refused {}") || !strings.Contains(string(out), "advertised in clear False") || !strings.Contains(string(out), "clear 530 5.7.10") {
		t.Fatalf("unexpected:\n%s", out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && (b.inbox("bruno@beta.test") < 1 || a.inbox("alice@acme.test") < 1) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := b.inbox("bruno@beta.test"); n != 1 {
		t.Fatalf("bruno has %d messages, want 1\n%s", n, a.logs)
	}
	var trace []struct {
		To, Status, Response string
		Attempts             []struct {
			TLS, Policy string
			TLSResult   string `json:"tls_result"`
			Code        int
		}
	}
	a.runJSON(&trace, "queue", "trace", "rtls-1@acme.test")
	got := map[string]string{}
	for _, tr := range trace {
		got[tr.To] = tr.Status
		if len(tr.Attempts) != 1 {
			t.Fatalf("%s: attempts %+v", tr.To, tr.Attempts)
		}
		at := tr.Attempts[0]
		switch tr.To {
		case "bruno@beta.test":
			if at.Policy != "requiretls+route" || at.TLSResult != "verified (PKIX)" || !strings.HasPrefix(at.TLS, "TLS 1.3") {
				t.Errorf("bruno's attempt: %+v", at)
			}
		case "ghost@gamma.test":
			if at.Code != 550 || !strings.Contains(tr.Response, "5.7.30") || !strings.Contains(at.TLSResult, "not verified") {
				t.Errorf("ghost's attempt: %+v %s", at, tr.Response)
			}
		}
	}
	if got["bruno@beta.test"] != "delivered" || got["ghost@gamma.test"] != "failed" {
		t.Fatalf("trace: %v", got)
	}
	if n := a.count(`SELECT COUNT(*) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id JOIN blob_meta USING (blob_id) WHERE x.name = 'INBOX' AND subject = 'Undelivered Mail Returned to Sender'`); n != 1 {
		t.Fatalf("%d DSNs in alice's INBOX, want 1", n)
	}
	if out := a.mustRun("queue", "trace", "rtls-1@acme.test"); !strings.Contains(out, "TLS policy: requiretls+route  certificate: verified (PKIX)") {
		t.Errorf("queue trace: %s", out)
	}
}
