package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// swaksData runs swaks with the message on standard input.
func swaksData(t *testing.T, msg string, args ...string) string {
	t.Helper()
	cmd := exec.Command(needTool(t, "swaks"), append([]string{"--timeout", "20", "--data", "-"}, args...)...)
	cmd.Stdin = strings.NewReader(msg)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// Two installations on loopback: A sends to B's domain through its outbound queue (routed to
// B's MX port), over STARTTLS; a recipient B does not know comes back to the sender as a DSN.
func TestOutboundToAnotherServer(t *testing.T) {
	a := newInstall(t)
	b := newInstall(t)
	mailSetup(t, a)
	pw := writeFile(t, b.dir, "pw", testPW)
	b.mustRun("tenant", "create", "Beta", "--contact", "it@beta.test", "--contract", "payg")
	b.mustRun("domain", "add", "beta.test", "--tenant", "Beta")
	b.mustRun("account", "add", "bruno@beta.test", "--cos", "Business Mail 100 MB", "--password-file", pw)
	f, err := os.OpenFile(a.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\"beta.test\" = %q\n", b.addr(portSMTP)) // into the harness's [outbound.routes]
	f.Close()
	a.start()
	b.start()
	msg := "From: alice@acme.test\r\nTo: bruno@beta.test\r\nSubject: across servers\r\nMessage-ID: <across-1@acme.test>\r\n\r\nciao Bruno\r\n"
	if out := swaksData(t, msg, "-s", a.addr(portSubmissions), "-tlsc", "-a", "PLAIN", "-au", "alice@acme.test", "-ap", testPW,
		"-f", "alice@acme.test", "-t", "bruno@beta.test,ghost@beta.test"); !strings.Contains(out, "<~  250 ") {
		t.Fatalf("submission: %s", lastLines(out, 8))
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && (b.inbox("bruno@beta.test") < 1 || a.inbox("alice@acme.test") < 1) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := b.inbox("bruno@beta.test"); n != 1 {
		t.Fatalf("bruno has %d messages, want 1", n)
	}
	// A signed it with both keys of acme.test, whose records the CLI shows.
	if n := b.count(`SELECT COUNT(*) FROM blob_meta WHERE CAST(header AS TEXT) LIKE '%DKIM-Signature:%d=acme.test%' AND CAST(header AS TEXT) LIKE '%a=ed25519-sha256%' AND CAST(header AS TEXT) LIKE '%a=rsa-sha256%'`); n != 1 {
		t.Errorf("bruno's message is not signed with both keys of acme.test")
	}
	if out := a.mustRun("domain", "dkim", "acme.test"); strings.Count(out, "._domainkey.acme.test") != 2 || !strings.Contains(out, "k=ed25519") {
		t.Errorf("domain dkim: %s", out)
	}
	// The keys were made by `domain add` and recorded in the audit log once, as the operator's,
	// without the private keys; showing them and signing with them recorded nothing more.
	if n := a.count(`SELECT COUNT(*) FROM audit_log WHERE action = 'domain.dkim.create' AND target = 'acme.test'`); n != 1 {
		t.Errorf("%d domain.dkim.create entries for acme.test, want 1", n)
	}
	if n := a.count(`SELECT COUNT(*) FROM audit_log WHERE action = 'domain.dkim.create' AND target = 'acme.test' AND actor LIKE 'cli:%' AND after LIKE '%._domainkey.acme.test ed25519 active%' AND after NOT LIKE '%PRIVATE%'`); n != 1 {
		t.Errorf("the domain.dkim.create entry for acme.test does not name the operator and the keys")
	}
	// ghost: B refused it at RCPT (550 5.1.1); alice got a DSN saying so.
	if n := a.count(`SELECT COUNT(*) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id JOIN blob_meta USING (blob_id) WHERE x.name = 'INBOX' AND subject = 'Undelivered Mail Returned to Sender'`); n != 1 {
		t.Fatalf("%d DSNs in alice's INBOX, want 1", n)
	}
	var trace []struct {
		To, Status string
		Attempts   []struct {
			TLS  string
			Code int
		}
	}
	a.runJSON(&trace, "queue", "trace", "across-1@acme.test")
	got := map[string]string{}
	for _, tr := range trace {
		got[tr.To] = tr.Status
		if tr.To == "bruno@beta.test" && (len(tr.Attempts) != 1 || !strings.HasPrefix(tr.Attempts[0].TLS, "TLS 1.3")) {
			t.Errorf("bruno's attempt was not over TLS 1.3: %+v", tr.Attempts)
		}
	}
	if got["bruno@beta.test"] != "delivered" || got["ghost@beta.test"] != "failed" {
		t.Fatalf("trace: %v", got)
	}
	var q []json.RawMessage
	a.runJSON(&q, "queue", "list")
	if len(q) != 0 {
		t.Fatalf("queue not empty: %s", q)
	}
	// B down: the message waits in A's queue; held and released by the operator.
	b.stop()
	if out := swaksData(t, strings.Replace(msg, "across-1", "across-2", 1), "-s", a.addr(portSubmissions), "-tlsc", "-a", "PLAIN", "-au", "alice@acme.test", "-ap", testPW,
		"-f", "alice@acme.test", "-t", "bruno@beta.test"); !strings.Contains(out, "<~  250 ") {
		t.Fatalf("submission 2: %s", lastLines(out, 8))
	}
	var entries []struct {
		ID       int64
		Attempts int
	}
	for time.Now().Before(deadline.Add(20*time.Second)) && (len(entries) == 0 || entries[0].Attempts == 0) {
		time.Sleep(100 * time.Millisecond)
		a.runJSON(&entries, "queue", "list")
	}
	if len(entries) != 1 || entries[0].Attempts != 1 {
		t.Fatalf("queue while B is down: %+v", entries)
	}
	id := fmt.Sprint(entries[0].ID)
	a.mustRun("queue", "hold", id, "--reason", "B is being moved")
	if out := a.mustRun("queue", "show", id); !strings.Contains(out, "held") || !strings.Contains(out, "B is being moved") {
		t.Fatalf("show: %s", out)
	}
	b.start()
	a.mustRun("queue", "release", id)
	for time.Now().Before(deadline.Add(40*time.Second)) && b.inbox("bruno@beta.test") < 2 {
		time.Sleep(100 * time.Millisecond)
	}
	if n := b.inbox("bruno@beta.test"); n != 2 {
		t.Fatalf("after release bruno has %d messages, want 2", n)
	}
	a.stop()
	a.mustRun("store", "verify")
}
