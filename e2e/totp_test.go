package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
)

// TestRequiredTOTPWithCurl: the operator requires two-factor login of a tenant's
// administrators with the CLI; an administrator without it logs in with curl to a session that
// can only enrol (403 totp-enrolment-required elsewhere), enrols, and then works; the audit log
// has the policy change and the enrolment.
func TestRequiredTOTPWithCurl(t *testing.T) {
	curl := needTool(t, "curl")
	in := newInstall(t)
	mailSetup(t, in)
	pw := writeFile(t, in.dir, "adminpw", "Tenant-Boss-Password-9")
	in.mustRun("admin", "add", "admin@acme.test", "--role", "tenant", "--tenant", "Acme", "--password-file", pw)
	if out := in.mustRun("admin", "require-totp", "on", "--tenant", "Acme"); !strings.Contains(out, "required for the administrators of Acme") {
		t.Fatalf("require-totp: %s", out)
	}
	if out := in.mustRun("admin", "require-totp"); !strings.Contains(out, "optional for every administrator") {
		t.Fatalf("provider-wide policy: %s", out)
	}
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
	code, body := call("-H", "Content-Type: application/json", "-d", `{"email":"admin@acme.test","password":"Tenant-Boss-Password-9"}`, base+"/session")
	var sess struct {
		CSRF   string
		Enrol  bool `json:"totp_enrolment_required"`
		Secret string
		URI    string
	}
	json.Unmarshal([]byte(body), &sess)
	if code != 200 || !sess.Enrol {
		t.Fatalf("login: %d %s", code, body)
	}
	for _, path := range []string{"/accounts", "/domains", "/audit", "/tokens"} {
		if code, body := call(base + path); code != 403 || !strings.Contains(body, "/api/v1/problems/totp-enrolment-required") {
			t.Errorf("GET %s before enrolling: %d %s", path, code, body)
		}
	}
	code, body = call("-X", "POST", "-H", "X-CSRF-Token: "+sess.CSRF, base+"/session/totp/secret")
	json.Unmarshal([]byte(body), &sess)
	if code != 200 || !strings.HasPrefix(sess.URI, "otpauth://totp/") {
		t.Fatalf("secret: %d %s", code, body)
	}
	totp, _ := auth.TOTPCode(sess.Secret, time.Now())
	if code, body := call("-X", "PUT", "-H", "Content-Type: application/json", "-H", "X-CSRF-Token: "+sess.CSRF,
		"-d", `{"secret":"`+sess.Secret+`","code":"`+totp+`"}`, base+"/session/totp"); code != 204 {
		t.Fatalf("enrol: %d %s", code, body)
	}
	if code, body := call(base + "/accounts"); code != 200 || !strings.Contains(body, "alice@acme.test") {
		t.Fatalf("after enrolling: %d %s", code, body)
	}
	if code, body := call(base + "/audit?limit=5"); code != 200 || !strings.Contains(body, `"admin.totp"`) || !strings.Contains(body, `"tenant.require_totp"`) {
		t.Fatalf("audit: %d %s", code, body)
	}
	// The same log from the CLI, for the tenant: the enrolment came from the loopback address.
	out := in.mustRun("admin", "audit", "--tenant", "Acme", "--limit", "5")
	if !strings.Contains(out, "admin.totp") || !strings.Contains(out, "127.0.0.1:") || !strings.Contains(out, `{"enabled":false}`) || !strings.Contains(out, "tenant.require_totp") {
		t.Fatalf("posta admin audit:\n%s", out)
	}
}
