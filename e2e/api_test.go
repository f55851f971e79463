package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The JSON API of the running binary, driven with curl: a console-style session (cookie and
// CSRF token) and a bearer token made with the CLI.
func TestAPIWithCurl(t *testing.T) {
	curl := needTool(t, "curl")
	in := newInstall(t)
	mailSetup(t, in)
	pw := writeFile(t, in.dir, "adminpw", "Tenant-Boss-Password-9")
	in.mustRun("admin", "add", "admin@acme.test", "--role", "tenant", "--tenant", "Acme", "--password-file", pw)
	in.mustRun("tenant", "update", "Acme", "--contract", "subscription")
	in.mustRun("tenant", "cap", "Acme", "Business Mail 100 MB", "3")
	in.mustRun("tenant", "cap", "Acme", "Tiny", "1")
	in.start()
	base := "https://" + in.addr(portHTTPS) + "/api/v1"
	jar := filepath.Join(in.dir, "cookies")
	call := func(args ...string) (int, string) {
		t.Helper()
		out, err := exec.Command(curl, append([]string{"-sk", "-b", jar, "-c", jar, "-w", "\n%{http_code}"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		s := string(out)
		i := strings.LastIndexByte(s, '\n')
		code := 0
		json.Unmarshal([]byte(s[i+1:]), &code)
		return code, s[:i]
	}
	if code, body := call(base + "/openapi.json"); code != 200 || !strings.Contains(body, `"openapi": "3.1.0"`) {
		t.Fatalf("openapi: %d %.200s", code, body)
	}
	if code, body := call(base + "/accounts"); code != 401 || !strings.Contains(body, "unauthenticated") {
		t.Fatalf("no session: %d %s", code, body)
	}
	code, body := call("-H", "Content-Type: application/json", "-d", `{"email":"admin@acme.test","password":"Tenant-Boss-Password-9"}`, base+"/session")
	var sess struct{ CSRF string }
	json.Unmarshal([]byte(body), &sess)
	if code != 200 || sess.CSRF == "" {
		t.Fatalf("login: %d %s", code, body)
	}
	create := func(addr string) (int, string) {
		return call("-H", "Content-Type: application/json", "-H", "X-CSRF-Token: "+sess.CSRF,
			"-d", `{"address":"`+addr+`","password":"Correct-Horse-42-Api","cos":"Business Mail 100 MB"}`, base+"/accounts")
	}
	// alice, bob and carol exist (carol on another COS): one more fits under the cap of 3.
	if code, body := create("dave@acme.test"); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := create("erin@acme.test"); code != 409 || !strings.Contains(body, "contract-cap-exceeded") {
		t.Fatalf("over the cap: %d %s", code, body)
	}
	if code, body := call("-X", "DELETE", base+"/accounts/dave@acme.test"); code != 403 || !strings.Contains(body, "csrf") {
		t.Fatalf("DELETE without CSRF: %d %s", code, body)
	}
	// A read-only token from the CLI reads but cannot change.
	out := in.mustRun("token", "create", "--admin", "admin@acme.test", "--name", "monitoring")
	tok := regexp.MustCompile(`posta_[A-Za-z0-9_-]+`).FindString(out)
	if tok == "" {
		t.Fatalf("no token in %q", out)
	}
	if code, body := call("-H", "Authorization: Bearer "+tok, base+"/accounts?domain=acme.test"); code != 200 || !strings.Contains(body, "dave@acme.test") {
		t.Fatalf("token read: %d %s", code, body)
	}
	if code, body := call("-X", "DELETE", "-H", "Authorization: Bearer "+tok, base+"/accounts/dave@acme.test"); code != 403 || !strings.Contains(body, "insufficient-scope") {
		t.Fatalf("token delete: %d %s", code, body)
	}
	// The change is in the audit log with who did it.
	if code, body := call(base + "/audit?limit=3"); code != 200 || !strings.Contains(body, `"admin@acme.test"`) || !strings.Contains(body, "dave@acme.test") {
		t.Fatalf("audit: %d %s", code, body)
	}
	if code, _ := call("-X", "DELETE", "-H", "X-CSRF-Token: "+sess.CSRF, base+"/session"); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	if code, _ := call(base + "/accounts"); code != 401 {
		t.Fatalf("after logout: %d", code)
	}
}
