package console

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
)

// TestRequiredTOTPEnrolment drives the console over HTTP: the provider requires two-factor
// login of Acme's administrators from the administrators page; Acme's administrator then
// reaches only its own page until it has set it up, and cannot turn it off.
func TestRequiredTOTPEnrolment(t *testing.T) {
	e := newEnv(t)
	boss := e.browser()
	boss.login("boss@provider.test")
	body := boss.get("/admins")
	contains(t, body, `data-test="totp-policy"`, "policy card")
	boss.post("/admins/totp-policy", url.Values{"scope": {"1"}, "required": {"on"}})
	boss.want(http.StatusSeeOther, "require for Acme")
	if on, _ := e.dir.TOTPRequired(e.sys, "Acme"); !on {
		t.Fatal("Acme's policy not set")
	}
	// Beta's administrator cannot change Acme's policy: the same answer as no such tenant.
	beta := e.browser()
	beta.login("admin@beta.test")
	beta.get("/admins")
	beta.post("/admins/totp-policy", url.Values{"scope": {"1"}})
	beta.want(http.StatusNotFound, "Beta changing Acme's policy")
	beta.post("/admins/totp-policy", url.Values{"scope": {"provider"}, "required": {"on"}})
	beta.want(http.StatusForbidden, "Beta changing the provider's policy")

	b := e.browser()
	b.get("/login")
	b.post("/login", url.Values{"email": {"admin@acme.test"}, "password": {adminPW}, "next": {"/accounts"}})
	b.want(http.StatusSeeOther, "password login")
	for _, p := range []string{"/", "/accounts", "/admins", "/tenants", "/domains/acme.test"} {
		b.get(p)
		b.want(http.StatusSeeOther, "GET "+p+" before enrolling")
		if b.loc != "/me" {
			t.Fatalf("GET %s: to %q", p, b.loc)
		}
	}
	body = b.get("/me")
	b.want(200, "own page")
	contains(t, body, `data-test="totp-required"`, "requirement shown")
	b.post("/accounts", url.Values{"address": {"x@acme.test"}, "password": {"Strong-Secret-9999"}, "cos": {"Business Mail 100 MB"}})
	b.want(http.StatusForbidden, "a change before enrolling")
	if _, err := e.dir.GetAccount(e.sys, "x@acme.test"); err == nil {
		t.Fatal("account created by a limited session")
	}
	b.get("/me")
	body = b.post("/me/totp/setup", url.Values{})
	b.want(200, "set-up")
	secret := regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`).FindStringSubmatch(body)
	if secret == nil {
		t.Fatalf("no secret in\n%s", body)
	}
	contains(t, body, "otpauth://totp/", "URI shown")
	code, _ := auth.TOTPCode(secret[1], time.Now())
	b.post("/me/totp/enable", url.Values{"secret": {secret[1]}, "code": {code}})
	b.want(http.StatusSeeOther, "enable")
	body = b.get("/accounts")
	b.want(200, "accounts after enrolling")
	contains(t, body, "alice@acme.test", "accounts listed")
	body = b.get("/me")
	lacks(t, body, `data-test="totp-required"`, "requirement met")
	b.post("/me/totp/disable", url.Values{"code": {code}})
	b.want(http.StatusConflict, "turning it off while required")
	if s, _ := e.dir.AdminTOTP(e.sys, mustAdminID(t, e, "admin@acme.test")); s != secret[1] {
		t.Fatal("second factor lost")
	}
}

// TestCOSMessageCapForm: the class of service form takes the message cap and refuses a bad one
// next to the field.
func TestCOSMessageCapForm(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("boss@provider.test")
	b.get("/cos")
	body := b.post("/cos", url.Values{"name": {"Few"}, "service_type": {"custom"}, "features": {"mail"}, "quota_mb": {"100"}, "min_password_len": {"10"}, "max_messages": {"-3"}})
	b.want(http.StatusUnprocessableEntity, "negative cap")
	contains(t, body, `id="e-max_messages"`, "error next to the field")
	b.post("/cos", url.Values{"name": {"Few"}, "service_type": {"custom"}, "features": {"mail"}, "quota_mb": {"100"}, "min_password_len": {"10"}, "max_messages": {"7"}})
	b.want(http.StatusSeeOther, "create")
	body = b.get("/cos")
	contains(t, body, "at most 7 messages", "cap listed")
	if c, err := e.dir.GetCOS(e.sys, "Few"); err != nil || c.MaxMessages != 7 {
		t.Fatalf("stored: %+v %v", c, err)
	}
}
