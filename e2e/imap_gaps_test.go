package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestMessageQuotaNoselectAndThreads drives posta with python's smtplib and imaplib: a class of
// service capping messages (posta cos create --max-messages) refuses the recipient over it with
// 452 4.2.2 and APPEND with NO [OVERQUOTA], GETQUOTAROOT reports the MESSAGE resource; DELETE of
// a mailbox with children leaves a \Noselect placeholder; THREAD=REFERENCES groups by subject.
func TestMessageQuotaNoselectAndThreads(t *testing.T) {
	py := needTool(t, "python3")
	in := newInstall(t)
	pw := writeFile(t, in.dir, "pw", testPW)
	in.mustRun("tenant", "create", "Acme", "--contact", "it@acme.test", "--contract", "payg")
	in.mustRun("domain", "add", "acme.test", "--tenant", "Acme")
	in.mustRun("cos", "create", "Few", "--quota-mb", "10", "--max-messages", "2")
	if out := in.mustRun("cos", "show", "Few"); !strings.Contains(out, "at most 2 kept") {
		t.Fatalf("cos show: %s", out)
	}
	if _, stderr, code := in.run("cos", "create", "Bad", "--quota-mb", "10", "--max-messages", "-1"); code != 1 || !strings.Contains(stderr, "message cap") {
		t.Fatalf("negative cap: %d %s", code, stderr)
	}
	in.mustRun("account", "add", "few@acme.test", "--cos", "Few", "--password-file", pw)
	in.mustRun("account", "add", "alice@acme.test", "--cos", "Business Mail 100 MB", "--password-file", pw)
	in.start()
	out, err := runTool(t, 90*time.Second, nil, py, "testdata/imap_quota_noselect.py",
		fmt.Sprint(portIMAPS+in.offset), fmt.Sprint(portSMTP+in.offset), "few@acme.test", "alice@acme.test", testPW)
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if n := in.inbox("few@acme.test"); n != 2 {
		t.Errorf("few@acme.test keeps %d messages, want 2", n)
	}
	if n := in.inbox("alice@acme.test"); n != 3 {
		t.Errorf("alice@acme.test has %d messages, want 3", n)
	}
	in.stop()
	in.mustRun("store", "verify")
}
