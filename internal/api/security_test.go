package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
)

// TestTOTPEnrolmentRequired: with two-factor login required, an administrator without it gets a
// session where every route but the set-up answers 403 totp-enrolment-required, enrols through
// the API, and then has a full session.
func TestTOTPEnrolmentRequired(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		boss := f.login("boss@provider.test")
		admin := f.login("admin@rossi.it") // logged in before the policy: limited at once
		st, body := admin.do("POST", "/api/v1/tokens", `{"name":"automation","scopes":["write"]}`)
		var tok struct{ Token string }
		if json.Unmarshal([]byte(body), &tok); st != 201 {
			t.Fatalf("token: %d %s", st, body)
		}
		if st, body := admin.do("PUT", "/api/v1/totp-policy", `{"required":true}`); st != 403 {
			t.Fatalf("a tenant administrator setting the provider policy: %d %s", st, body)
		}
		if st, body := boss.do("PUT", "/api/v1/tenants/Bianchi%20SpA/totp-policy", `{"required":true}`); st != 200 || !strings.Contains(body, `"required": true`) {
			t.Fatalf("tenant policy: %d %s", st, body)
		}
		if st, body := admin.do("PUT", "/api/v1/tenants/Bianchi%20SpA/totp-policy", `{"required":false}`); st != 404 {
			t.Fatalf("another tenant's policy: %d %s", st, body)
		}
		if st, _ := admin.do("GET", "/api/v1/accounts", ""); st != 200 {
			t.Fatalf("Rossi is not required yet: %d", st)
		}
		if st, body := admin.do("PUT", "/api/v1/tenants/Rossi%20Srl/totp-policy", `{"required":true}`); st != 200 {
			t.Fatalf("own tenant policy: %d %s", st, body)
		}
		st, body, _ = f.raw("POST", "/api/v1/session", nil, `{"email":"admin@rossi.it","password":"`+pw+`"}`, "")
		if st != 200 || !strings.Contains(body, `"totp_enrolment_required": true`) {
			t.Fatalf("login: %d %s", st, body)
		}
		enrol := map[string]bool{"GET /session": true, "DELETE /session": true, "GET /session/totp": true, "POST /session/totp/secret": true, "PUT /session/totp": true}
		n := 0
		for _, rt := range f.api.Routes() {
			key := rt.Method + " " + rt.Path
			if rt.Public || enrol[key] {
				continue
			}
			p := strings.NewReplacer("{tenant}", "Rossi%20Srl", "{cos}", "Business%20Mail%20200%20MB", "{domain}", "rossi.it", "{address}", "mario@rossi.it",
				"{member}", "mario@rossi.it", "{email}", "dom@rossi.it", "{id}", "1").Replace(rt.Path)
			st, body := admin.do(rt.Method, "/api/v1"+p, "")
			if st != 403 || problemType(body) != "totp-enrolment-required" {
				t.Errorf("%s as a limited administrator: %d %s", key, st, body)
			}
			n++
		}
		if n < 50 {
			t.Errorf("only %d routes checked", n)
		}
		// A token of that administrator is limited too.
		bearer := &session{f: f, bearer: tok.Token}
		if st, body := bearer.do("GET", "/api/v1/accounts", ""); st != 403 || problemType(body) != "totp-enrolment-required" {
			t.Errorf("token of a limited administrator: %d %s", st, body)
		}
		if st, body := bearer.do("POST", "/api/v1/session/totp/secret", ""); st != 403 || problemType(body) != "totp-enrolment-required" {
			t.Errorf("a token enrolling for its administrator: %d %s", st, body)
		}
		if st, body := admin.do("GET", "/api/v1/session/totp", ""); st != 200 || !strings.Contains(body, `"required": true`) || !strings.Contains(body, `"enabled": false`) {
			t.Fatalf("status: %d %s", st, body)
		}
		st, body = admin.do("POST", "/api/v1/session/totp/secret", "")
		var setup struct{ Secret, URI string }
		json.Unmarshal([]byte(body), &setup)
		if st != 200 || len(setup.Secret) < 16 || !strings.HasPrefix(setup.URI, "otpauth://totp/") {
			t.Fatalf("secret: %d %s", st, body)
		}
		if st, body := admin.do("PUT", "/api/v1/session/totp", `{"secret":"`+setup.Secret+`","code":"12345x"}`); st != 422 || problemType(body) != "invalid-totp-code" {
			t.Fatalf("wrong code: %d %s", st, body)
		}
		code, _ := auth.TOTPCode(setup.Secret, time.Now())
		if st, body := admin.do("PUT", "/api/v1/session/totp", `{"secret":"`+setup.Secret+`","code":"`+code+`"}`); st != 204 {
			t.Fatalf("enable: %d %s", st, body)
		}
		if st, body := admin.do("GET", "/api/v1/accounts", ""); st != 200 {
			t.Fatalf("after enrolling: %d %s", st, body)
		}
		if st, body := bearer.do("GET", "/api/v1/accounts", ""); st != 200 {
			t.Fatalf("token after enrolling: %d %s", st, body)
		}
		if st, body := admin.do("POST", "/api/v1/session/totp/disable", `{"code":"`+code+`"}`); st != 409 || problemType(body) != "totp-enforced" {
			t.Fatalf("disable while required: %d %s", st, body)
		}
		// Logging in now needs the code.
		if st, body, _ := f.raw("POST", "/api/v1/session", nil, `{"email":"admin@rossi.it","password":"`+pw+`"}`, ""); st != 401 || problemType(body) != "totp-required" {
			t.Fatalf("login without the code: %d %s", st, body)
		}
		// The provider-wide policy limits the provider's own administrators too.
		if st, body := boss.do("PUT", "/api/v1/totp-policy", `{"required":true}`); st != 200 {
			t.Fatalf("provider policy: %d %s", st, body)
		}
		if st, body := boss.do("GET", "/api/v1/tenants", ""); st != 403 || problemType(body) != "totp-enrolment-required" {
			t.Fatalf("provider after its own policy: %d %s", st, body)
		}
		if st, body := boss.do("GET", "/api/v1/session", ""); st != 200 || !strings.Contains(body, `"totp_enrolment_required": true`) {
			t.Fatalf("whoami: %d %s", st, body)
		}
	})
}

// TestCOSMessageCapAPI: the message cap of a class of service through the API.
func TestCOSMessageCapAPI(t *testing.T) {
	f := setup(t, dbtest.Open(t, dbtest.DSN(t, "sqlite")))
	boss := f.login("boss@provider.test")
	if st, body := boss.do("POST", "/api/v1/cos", `{"name":"Few","quota_mb":100,"max_messages":-5}`); st != 422 || problemType(body) != "invalid-argument" || !strings.Contains(body, `"field": "max_messages"`) && !strings.Contains(body, `"field":"max_messages"`) {
		t.Fatalf("negative cap: %d %s", st, body)
	}
	if st, body := boss.do("POST", "/api/v1/cos", `{"name":"Few","quota_mb":100,"max_messages":500}`); st != 201 || !strings.Contains(body, `"max_messages": 500`) {
		t.Fatalf("create: %d %s", st, body)
	}
	if st, body := boss.do("GET", "/api/v1/cos/Few", ""); st != 200 || !strings.Contains(body, `"max_messages": 500`) {
		t.Fatalf("show: %d %s", st, body)
	}
}
