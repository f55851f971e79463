package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLIDirectory drives the directory through the built binary: every noun, --json output,
// and the exit codes of refusals (1) and usage errors (2).
func TestCLIDirectory(t *testing.T) {
	in := newInstall(t)
	pwFile := writeFile(t, in.dir, "pw", "Correct-Horse-42\n")
	in.mustRun("tenant", "create", "Rossi Srl", "--contact", "boss@rossi.it", "--contract", "subscription")
	in.mustRun("tenant", "cap", "Rossi Srl", "Business Mail 1.000 MB", "2")
	in.mustRun("domain", "add", "rossi.it", "--tenant", "Rossi Srl")
	in.mustRun("domain", "add", "rossi.com", "--tenant", "Rossi Srl", "--alias-of", "rossi.it")
	in.mustRun("account", "add", "mario@rossi.it", "--cos", "Business Mail 1.000 MB", "--name", "Mario Rossi", "--password-file", pwFile)
	out := in.mustRun("account", "add", "anna@rossi.it", "--cos", "business mail 1000 MB", "--generate-password")
	if !strings.Contains(out, "password: ") {
		t.Fatalf("generated password not shown: %s", out)
	}
	in.mustRun("alias", "add", "info@rossi.it", "mario@rossi.it")
	in.mustRun("list", "create", "tutti@rossi.it", "--post-policy", "members")
	in.mustRun("list", "add-member", "tutti@rossi.it", "mario@rossi.it")
	in.mustRun("list", "add-member", "tutti@rossi.it", "friend@example.org")

	var accounts struct {
		Total    int `json:"total"`
		Accounts []struct {
			Address    string `json:"address"`
			COS        string `json:"cos"`
			QuotaBytes int64  `json:"quota_bytes"`
		} `json:"accounts"`
	}
	in.runJSON(&accounts, "account", "list", "--tenant", "Rossi Srl")
	if accounts.Total != 2 || accounts.Accounts[1].Address != "mario@rossi.it" || accounts.Accounts[1].QuotaBytes != 1000<<20 {
		t.Fatalf("account list: %+v", accounts)
	}
	var list struct {
		Members []string `json:"members"`
	}
	in.runJSON(&list, "list", "show", "tutti@rossi.it")
	if strings.Join(list.Members, ",") != "friend@example.org,mario@rossi.it" {
		t.Fatalf("members %v", list.Members)
	}
	var cos []struct{ Name string }
	in.runJSON(&cos, "cos", "list")
	if len(cos) != 32 {
		t.Fatalf("%d classes of service, want 32", len(cos))
	}

	refusals := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"account", "add", "third@rossi.it", "--cos", "Business Mail 1.000 MB", "--password-file", pwFile}, 1, `contract allows 2 accounts of "Business Mail 1.000 MB"; 2 in use`},
		{[]string{"account", "add", "info@rossi.it", "--cos", "Business Mail 1.000 MB", "--password-file", pwFile}, 1, "already in use by an alias"},
		{[]string{"account", "add", "x@elsewhere.it", "--cos", "Business Mail 1.000 MB", "--password-file", pwFile}, 1, "not hosted"},
		{[]string{"account", "add", "x@rossi.it", "--cos", "Gold", "--password-file", pwFile}, 1, `no class of service named "Gold"`},
		{[]string{"account", "add", "bad address@rossi.it", "--cos", "Business Mail 1.000 MB", "--password-file", pwFile}, 1, "not a valid e-mail address"},
		{[]string{"account", "add", "x@rossi.it", "--cos", "Business Mail 1.000 MB"}, 2, "a password is required"},
		{[]string{"list", "add-member", "tutti@rossi.it", "tutti@rossi.it"}, 1, "cannot contain itself"},
		{[]string{"account", "frobnicate"}, 2, "unknown verb"},
		{[]string{"nonsense"}, 2, "unknown command"},
		{[]string{"tenant", "create"}, 2, "expected 1 argument"},
		{[]string{"domain", "remove", "rossi.it"}, 1, "still has"},
	}
	for _, r := range refusals {
		out, errOut, code := in.run(r.args...)
		if code != r.code || !strings.Contains(errOut, r.msg) {
			t.Errorf("posta %s: exit %d, stderr %q (stdout %q); want exit %d with %q", strings.Join(r.args, " "), code, errOut, out, r.code, r.msg)
		}
	}
	weak := writeFile(t, in.dir, "weak", "short")
	if _, errOut, code := in.run("account", "passwd", "mario@rossi.it", "--password-file", weak); code != 1 || !strings.Contains(errOut, "too short") {
		t.Errorf("weak password: %d %s", code, errOut)
	}
	// Removing works and frees the address.
	in.mustRun("alias", "remove", "info@rossi.it")
	in.mustRun("account", "remove", "anna@rossi.it")
	in.mustRun("account", "add", "info@rossi.it", "--cos", "Business Mail 1.000 MB", "--password-file", pwFile)
}

func TestCLIConfigAndSchemaErrors(t *testing.T) {
	in := newInstall(t)
	orig, _ := os.ReadFile(in.config)
	os.WriteFile(in.config, append(orig, []byte("\n[limits]\nmax_message_size = -5\n")...), 0o600)
	_, errOut, code := in.run("tenant", "list")
	if code != 1 || !strings.Contains(errOut, "posta.toml") {
		t.Fatalf("malformed config: exit %d %q", code, errOut)
	}
	os.WriteFile(in.config, append([]byte("frobnicate = true\n"), orig...), 0o600)
	if _, errOut, code := in.run("tenant", "list"); code != 1 || !strings.Contains(errOut, "frobnicate: unknown key") {
		t.Fatalf("unknown key: exit %d %q", code, errOut)
	}
	os.WriteFile(in.config, orig, 0o600)
	in.mustRun("tenant", "list")
	// A database written by a newer posta is refused, and left alone.
	db := filepath.Join(in.dir, "data", "posta.db")
	sqlite(t, db, "INSERT INTO schema_version (version, applied_at) VALUES (999, 0)")
	if _, errOut, code := in.run("tenant", "list"); code != 1 || !strings.Contains(errOut, "newer") {
		t.Fatalf("newer schema: exit %d %q", code, errOut)
	}
	if _, _, code := in.run("init", "--data", filepath.Join(in.dir, "data"), "--hostname", "x.example.test"); code != 1 {
		t.Fatalf("init over an existing installation: exit %d", code)
	}
}

func TestServeHealthAndShutdown(t *testing.T) {
	in := newInstall(t)
	in.start()
	for _, path := range []string{"/healthz", "/metrics"} {
		body := httpGet(t, "http://"+in.addr(portHTTP)+path)
		if path == "/healthz" && !strings.Contains(body, `"status":"ok"`) || path == "/metrics" && !strings.Contains(body, "go_goroutines") {
			t.Errorf("%s: %.200s", path, body)
		}
	}
	in.stop()
	if !strings.Contains(in.logs.String(), "shutting down") {
		t.Errorf("no graceful shutdown in logs:\n%s", in.logs)
	}
}

// App passwords: made with the CLI, they log a mail client in over IMAP until revoked.
func TestAppPasswordsForMailClients(t *testing.T) {
	in := newInstall(t)
	mailSetup(t, in)
	out := in.mustRun("account", "app-password-add", "alice@acme.test", "phone")
	secret := strings.TrimSpace(out[strings.LastIndexByte(strings.TrimSpace(out), '\n')+1:])
	if len(secret) < 16 {
		t.Fatalf("no password in %q", out)
	}
	var list []struct {
		ID   int64
		Name string
	}
	in.runJSON(&list, "account", "app-password-list", "alice@acme.test")
	if len(list) != 1 || list[0].Name != "phone" {
		t.Fatalf("list: %+v", list)
	}
	in.start()
	login := func(pw string) string {
		c, err := tls.Dial("tcp", in.addr(portIMAPS), in.tlsConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		r.ReadString('\n')
		fmt.Fprintf(c, "a LOGIN alice@acme.test \"%s\"\r\n", pw)
		l, _ := r.ReadString('\n')
		return l
	}
	if l := login(secret); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("IMAP login with the app password: %q", l)
	}
	in.mustRun("account", "app-password-revoke", "alice@acme.test", fmt.Sprint(list[0].ID))
	if l := login(secret); !strings.HasPrefix(l, "a NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("IMAP login with a revoked app password: %q", l)
	}
	if l := login(testPW); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("the main password: %q", l)
	}
}

// TestServeProfiles: posta serve --pprof serves Go's profiles on a loopback address only.
func TestServeProfiles(t *testing.T) {
	in := newInstall(t)
	if _, stderr, code := in.run("serve", "--pprof", "0.0.0.0:6060"); code == 0 || !strings.Contains(stderr, "not a loopback address") {
		t.Fatalf("--pprof on every address: exit %d, %s", code, stderr)
	}
}
