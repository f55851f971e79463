package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestTrace sends a message through the submission port to an account, a list with a remote
// member and a remote address, and follows it with posta trace: how it was received (client,
// user, TLS), what became of each recipient, and its deliveries to remote servers.
func TestTrace(t *testing.T) {
	needTool(t, "swaks")
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	out := swaks(t, "-s", in.addr(portSubmission), "-tls", "-a", "PLAIN", "-au", "alice@acme.test", "-ap", testPW,
		"-f", "alice@acme.test", "-t", "bob@acme.test,team@acme.test,someone@example.net", "--header", "Message-Id: <trace-1@acme.test>")
	if !strings.Contains(out, "250 2.0.0") {
		t.Fatalf("submission: %s", lastLines(out, 12))
	}
	type rcpt struct{ Address, Outcome, Detail string }
	var tr struct {
		Received []struct {
			MessageID string `json:"message_id"`
			From      string
			Source    string
			ClientIP  string `json:"client_ip"`
			AuthUser  string `json:"auth_user"`
			TLS       string
			Rcpts     []rcpt `json:"recipients"`
		}
		Outbound []struct {
			To     string
			Status string
		}
	}
	// The log is written in the background: wait for it.
	for deadline := time.Now().Add(10 * time.Second); ; {
		in.runJSON(&tr, "trace", "<trace-1@acme.test>", "--json")
		if len(tr.Received) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(tr.Received) != 1 {
		t.Fatalf("received entries: %+v", tr.Received)
	}
	m := tr.Received[0]
	if m.MessageID != "trace-1@acme.test" || m.From != "alice@acme.test" || m.Source != "submission" || m.ClientIP != "127.0.0.1" ||
		m.AuthUser != "alice@acme.test" || !strings.HasPrefix(m.TLS, "TLS 1.") {
		t.Errorf("origin: %+v", m)
	}
	want := map[string]string{
		"bob@acme.test":       "delivered", // directly, and again through the list: one copy
		"team@acme.test":      "delivered",
		"someone@example.net": "queued",
		"alice@acme.test":     "delivered", // a list member
		"friend@example.org":  "queued",    // the list's remote member
	}
	got := map[string]string{}
	for _, r := range m.Rcpts {
		got[r.Address] = r.Outcome
	}
	for a, o := range want {
		if got[a] != o {
			t.Errorf("%s: %q, want %q (all: %+v)", a, got[a], o, m.Rcpts)
		}
	}
	if len(tr.Outbound) != 2 {
		t.Errorf("outbound deliveries: %+v", tr.Outbound)
	}
	// By address, from the plain-text output.
	if text := in.mustRun("trace", "someone@example.net"); !strings.Contains(text, "someone@example.net  queued") || !strings.Contains(text, "outbound") {
		t.Errorf("trace by address:\n%s", text)
	}
	if text := in.mustRun("trace", "nobody@nowhere.test"); !strings.Contains(text, "nothing found") {
		t.Errorf("trace of nothing:\n%s", text)
	}
	// The submission counts as alice's sending today: one message, three recipients.
	var sent []struct {
		Address         string
		Today           int
		TodayRecipients int `json:"today_recipients"`
	}
	in.runJSON(&sent, "account", "sending", "--tenant", "Acme", "--json")
	if len(sent) != 1 || sent[0].Address != "alice@acme.test" || sent[0].Today != 1 || sent[0].TodayRecipients != 3 {
		t.Errorf("sending counters: %+v", sent)
	}
	if _, stderr, code := in.run("account", "sending", "--days", "0"); code == 0 || !strings.Contains(stderr, "days") {
		t.Errorf("--days 0: exit %d, %s", code, stderr)
	}
}
