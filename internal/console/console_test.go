package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/pim"
	"github.com/postamail/posta/internal/webauth"
)

const adminPW = "Console-Test-Password-42"

// env is a console over a fresh SQLite directory with two tenants:
//
//	Acme (subscription, cap 2 of Business Mail 100 MB): acme.test, alice@acme.test, team@acme.test,
//	  tenant admin admin@acme.test
//	Beta (pay per use): beta.test, zed@beta.test with alias z@beta.test, crew@beta.test,
//	  tenant admin admin@beta.test
//
// and the provider administrator boss@provider.test.
type env struct {
	t     *testing.T
	db    *db.DB
	dir   *directory.Service
	web   *webauth.Service
	srv   *httptest.Server
	sys   context.Context
	alice *directory.Account
	zed   *directory.Account
	beta  *directory.Tenant
	pim   *pim.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d := dbtest.Open(t, dbtest.DSN(t, "sqlite"))
	e := &env{t: t, db: d, sys: directory.WithActor(context.Background(), directory.SystemActor("test"))}
	e.dir = directory.New(d, auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}), directory.Options{})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.dir.SeedStandardCOS(e.sys))
	_, err := e.dir.CreateTenant(e.sys, directory.TenantSpec{Name: "Acme", ContactEmail: "it@acme.test", Contract: directory.ContractSubscription})
	must(err)
	e.beta, err = e.dir.CreateTenant(e.sys, directory.TenantSpec{Name: "Beta", ContactEmail: "it@beta.test", Contract: directory.ContractPayg})
	must(err)
	_, err = e.dir.AddDomain(e.sys, "Acme", "acme.test", directory.DomainOptions{})
	must(err)
	_, err = e.dir.AddDomain(e.sys, "Beta", "beta.test", directory.DomainOptions{})
	must(err)
	must(e.dir.SetContractCap(e.sys, "Acme", "Business Mail 100 MB", 2))
	must(e.dir.SetContractCap(e.sys, "Acme", "Business Mail Plus 500 MB", 5))
	e.alice, err = e.dir.CreateAccount(e.sys, directory.AccountSpec{Address: "alice@acme.test", Password: "Strong-Secret-4242", DisplayName: "Alice", COS: "Business Mail 100 MB"})
	must(err)
	e.zed, err = e.dir.CreateAccount(e.sys, directory.AccountSpec{Address: "zed@beta.test", Password: "Strong-Secret-4343", DisplayName: "Zed", COS: "Business Mail 100 MB"})
	must(err)
	_, err = e.dir.AddAlias(e.sys, "z@beta.test", "zed@beta.test")
	must(err)
	_, err = e.dir.CreateList(e.sys, directory.ListSpec{Address: "team@acme.test", PostPolicy: directory.PostMembers})
	must(err)
	_, err = e.dir.CreateList(e.sys, directory.ListSpec{Address: "crew@beta.test", PostPolicy: directory.PostMembers})
	must(err)
	for _, a := range []directory.AdminSpec{
		{Email: "boss@provider.test", Password: adminPW, Role: directory.RoleProvider},
		{Email: "admin@acme.test", Password: adminPW, Role: directory.RoleTenantAdmin, Tenant: "Acme"},
		{Email: "admin@beta.test", Password: adminPW, Role: directory.RoleTenantAdmin, Tenant: "Beta"},
		{Email: "dom@acme.test", Password: adminPW, Role: directory.RoleDomainAdmin, Tenant: "Acme", Domains: []string{"acme.test"}},
	} {
		_, err := e.dir.CreateAdmin(e.sys, a)
		must(err)
	}
	e.web = webauth.New(d, e.dir, auth.NewThrottle(auth.ThrottleConfig{}, nil), webauth.Options{})
	e.pim = pim.New(d, e.dir)
	c, err := newConsole(e.dir, e.web, Options{Hostname: "mail.example.test", Resolver: fakeResolver{}, LookupTimeout: time.Second, PIM: e.pim})
	must(err)
	e.srv = httptest.NewTLSServer(c)
	t.Cleanup(e.srv.Close)
	return e
}

// browser is one client with its own cookies; it does not follow redirects.
type browser struct {
	e      *env
	c      *http.Client
	lang   string
	csrf   string
	status int
	loc    string
	header http.Header
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: e.srv.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{e: e, c: c}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) string {
	b.e.t.Helper()
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.status, b.loc, b.header = resp.StatusCode, resp.Header.Get("Location"), resp.Header
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return string(body)
}

func (b *browser) get(path string) string {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form with the last CSRF token seen (unless vals sets csrf itself).
func (b *browser) post(path string, vals url.Values) string {
	b.e.t.Helper()
	if _, ok := vals["csrf"]; !ok {
		vals.Set("csrf", b.csrf)
	}
	if vals.Get("csrf") == "" {
		vals.Del("csrf")
	}
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) want(status int, what string) {
	b.e.t.Helper()
	if b.status != status {
		b.e.t.Fatalf("%s: status %d, want %d", what, b.status, status)
	}
}

func (b *browser) login(email string) {
	b.e.t.Helper()
	b.get("/login")
	b.want(200, "login page")
	b.post("/login", url.Values{"email": {email}, "password": {adminPW}})
	b.want(http.StatusSeeOther, "login "+email)
	b.get("/")
	b.want(200, "dashboard after login")
}

func id(a *directory.Account) string { return strconv.FormatInt(a.ID, 10) }

func contains(t *testing.T, body, want, what string) {
	t.Helper()
	if !strings.Contains(body, want) {
		t.Fatalf("%s: %q not found in:\n%s", what, want, body)
	}
}

func lacks(t *testing.T, body, unwanted, what string) {
	t.Helper()
	if strings.Contains(body, unwanted) {
		t.Fatalf("%s: %q found", what, unwanted)
	}
}

func TestLoginLogout(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.get("/accounts")
	b.want(http.StatusSeeOther, "no session")
	if b.loc != "/login?next=%2Faccounts" {
		t.Fatalf("redirect to %q", b.loc)
	}
	body := b.get(b.loc)
	b.want(200, "login page")
	contains(t, body, `name="code"`, "TOTP field")
	contains(t, body, `value="/accounts"`, "next kept")
	body = b.post("/login", url.Values{"email": {"admin@acme.test"}, "password": {"wrong-password-here"}, "next": {"/accounts"}})
	b.want(http.StatusUnauthorized, "wrong password")
	contains(t, body, "Wrong address, password or code", "bad login message")
	b.post("/login", url.Values{"email": {"admin@acme.test"}, "password": {adminPW}, "next": {"/accounts"}})
	b.want(http.StatusSeeOther, "login")
	if b.loc != "/accounts" {
		t.Fatalf("after login to %q", b.loc)
	}
	body = b.get("/accounts")
	b.want(200, "accounts")
	contains(t, body, "alice@acme.test", "own account listed")
	lacks(t, body, "zed@beta.test", "other tenant's account")
	// An open redirect is not possible through next.
	b2 := e.browser()
	b2.get("/login")
	b2.post("/login", url.Values{"email": {"admin@acme.test"}, "password": {adminPW}, "next": {"//evil.example/"}})
	if b2.loc != "/" {
		t.Fatalf("next=//evil: redirected to %q", b2.loc)
	}
	// Logout needs the CSRF token, then ends the session.
	b.post("/logout", url.Values{"csrf": {""}})
	b.want(http.StatusForbidden, "logout without CSRF")
	b.get("/")
	b.post("/logout", url.Values{})
	b.want(http.StatusSeeOther, "logout")
	body = b.get("/login")
	contains(t, body, "You are logged out", "logout message")
	b.get("/")
	b.want(http.StatusSeeOther, "after logout")
}

func TestLoginTOTPAndThrottle(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("admin@acme.test")
	body := b.post("/me/totp/setup", url.Values{})
	b.want(200, "TOTP setup")
	secret := regexp.MustCompile(`name="secret" value="([A-Z2-7]+)"`).FindStringSubmatch(body)
	if secret == nil {
		t.Fatalf("no secret in\n%s", body)
	}
	contains(t, body, "otpauth://totp/", "URI shown")
	body = b.post("/me/totp/enable", url.Values{"secret": {secret[1]}, "code": {"000000"}})
	b.want(http.StatusUnprocessableEntity, "wrong code")
	contains(t, body, `data-test="error-code"`, "code error")
	code, _ := auth.TOTPCode(secret[1], time.Now())
	b.post("/me/totp/enable", url.Values{"secret": {secret[1]}, "code": {code}})
	b.want(http.StatusSeeOther, "TOTP on")
	if s, _ := e.dir.AdminTOTP(e.sys, mustAdminID(t, e, "admin@acme.test")); s != secret[1] {
		t.Fatalf("secret stored %q", s)
	}
	// Now the login asks for the code.
	b2 := e.browser()
	b2.get("/login")
	body = b2.post("/login", url.Values{"email": {"admin@acme.test"}, "password": {adminPW}})
	b2.want(http.StatusUnauthorized, "no code")
	contains(t, body, "Enter the code from your authenticator app", "code required")
	b2.post("/login", url.Values{"email": {"admin@acme.test"}, "password": {adminPW}, "code": {code}})
	b2.want(http.StatusSeeOther, "login with code")

	// Failed logins are throttled, with the wait shown.
	b3 := e.browser()
	var last string
	for i := 0; i < 6; i++ {
		b3.get("/login")
		last = b3.post("/login", url.Values{"email": {"boss@provider.test"}, "password": {"nope-nope-nope"}})
	}
	b3.want(http.StatusTooManyRequests, "throttled")
	contains(t, last, "Too many failed attempts. Try again in", "throttle message")
}

func mustAdminID(t *testing.T, e *env, email string) int64 {
	t.Helper()
	as, err := e.dir.ListAdmins(e.sys)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.Email == email {
			return a.ID
		}
	}
	t.Fatalf("no admin %s", email)
	return 0
}

var (
	inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>`)
	styleAttr    = regexp.MustCompile(`\sstyle\s*=|<style|\son[a-z]+\s*=`)
)

// checkPage asserts the security headers and the absence of inline scripts and styles.
func checkPage(t *testing.T, b *browser, path, body string) {
	t.Helper()
	h := b.header
	if got := h.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
		t.Errorf("%s: CSP %q", path, got)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("%s: headers %v", path, h)
	}
	for _, tag := range inlineScript.FindAllString(body, -1) {
		if !strings.Contains(tag, `src="/static/`) {
			t.Errorf("%s: inline script %s", path, tag)
		}
	}
	if m := styleAttr.FindString(body); m != "" {
		t.Errorf("%s: inline style or handler %q", path, m)
	}
	if strings.HasPrefix(h.Get("Content-Type"), "text/html") && b.status < 300 {
		if strings.Contains(body, `method="post"`) && !strings.Contains(body, `name="csrf"`) {
			t.Errorf("%s: a form without the CSRF token", path)
		}
		if strings.Count(body, `method="post"`) != strings.Count(body, `name="csrf"`) {
			t.Errorf("%s: %d POST forms, %d CSRF fields", path, strings.Count(body, `method="post"`), strings.Count(body, `name="csrf"`))
		}
		if strings.Contains(body, "no value&gt;") || strings.Contains(body, "<no value>") || strings.Contains(body, "%!") {
			t.Errorf("%s: template output has a missing value", path)
		}
	}
}

func TestSecurityHeadersOnEveryPage(t *testing.T) {
	e := newEnv(t)
	anon := e.browser()
	for _, p := range []string{"/login", "/static/console.css", "/static/console.js", "/static/", "/nope", "/accounts", "/lang/xx"} {
		body := anon.get(p)
		checkPage(t, anon, p, body)
	}
	anon.get("/static/")
	anon.want(http.StatusNotFound, "no directory listing")
	team := "/lists/" + url.PathEscape("team@acme.test")
	for _, who := range []string{"boss@provider.test", "admin@acme.test", "dom@acme.test"} {
		b := e.browser()
		b.login(who)
		for _, p := range []string{"/", "/accounts", "/accounts?q=ali&status=active", "/accounts/new", "/accounts/" + id(e.alice),
			"/accounts/" + id(e.alice) + "/cos?cos=Business+Mail+Plus+500+MB", "/accounts/" + id(e.alice) + "/delete",
			"/aliases", "/lists", team, team + "/delete", "/domains", "/domains/acme.test", "/domains/acme.test/delete",
			"/cos", "/admins", "/me", "/tenants", "/tenants/1", "/accounts/424242", "/static/logo.svg"} {
			body := b.get(p)
			if b.status >= 500 {
				t.Fatalf("%s as %s: %d\n%s", p, who, b.status, body)
			}
			checkPage(t, b, p, body)
		}
		// Error pages and refused forms carry the headers too.
		body := b.post("/accounts", url.Values{"local": {"bad address"}, "domain": {"acme.test"}, "cos": {"Business Mail 100 MB"}, "password": {"x"}})
		checkPage(t, b, "POST /accounts", body)
	}
}

func TestCSRFRequired(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("admin@acme.test")
	form := url.Values{"local": {"mallory"}, "domain": {"acme.test"}, "cos": {"Business Mail 100 MB"}, "password": {"Strong-Secret-4545"}, "status": {"active"}}
	form.Set("csrf", "")
	b.post("/accounts", form)
	b.want(http.StatusForbidden, "POST without CSRF")
	form.Set("csrf", "forged-token")
	b.post("/accounts", form)
	b.want(http.StatusForbidden, "POST with a wrong CSRF token")
	b.post("/accounts/"+id(e.alice)+"/delete", url.Values{"csrf": {"forged"}, "confirm": {"alice@acme.test"}})
	b.want(http.StatusForbidden, "delete without CSRF")
	if _, err := e.dir.GetAccount(e.sys, "mallory@acme.test"); err == nil {
		t.Fatal("account created without the CSRF token")
	}
	if _, err := e.dir.GetAccount(e.sys, "alice@acme.test"); err != nil {
		t.Fatal("account deleted without the CSRF token")
	}
	// The login form has its own token.
	anon := e.browser()
	anon.post("/login", url.Values{"email": {"admin@acme.test"}, "password": {adminPW}})
	anon.want(http.StatusForbidden, "login without the form's token")
	// A cross-site POST is refused before anything else.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/accounts", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	b.do(req)
	b.want(http.StatusForbidden, "cross-site POST")
	// With the token it works.
	b.get("/accounts/new")
	b.post("/accounts", url.Values{"local": {"mallory"}, "domain": {"acme.test"}, "cos": {"Business Mail 100 MB"}, "password": {"Strong-Secret-4545"}, "status": {"active"}})
	b.want(http.StatusSeeOther, "POST with CSRF")
	if _, err := e.dir.GetAccount(e.sys, "mallory@acme.test"); err != nil {
		t.Fatal(err)
	}
}

func TestTenantAdminCannotReachOtherTenant(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("admin@acme.test")
	zed := "/accounts/" + id(e.zed)
	crew := "/lists/" + url.PathEscape("crew@beta.test")
	for _, p := range []string{zed, "/accounts/zed@beta.test", zed + "/cos?cos=1", zed + "/delete", crew, crew + "/delete",
		"/domains/beta.test", "/tenants/" + strconv.FormatInt(e.beta.ID, 10)} {
		body := b.get(p)
		b.want(http.StatusNotFound, "GET "+p)
		lacks(t, body, "zed@beta.test", p)
	}
	for _, p := range []struct {
		path string
		vals url.Values
	}{
		{zed, url.Values{"display_name": {"Owned"}, "status": {"locked"}}},
		{zed + "/password", url.Values{"password": {"Owned-Password-4242"}}},
		{zed + "/cos", url.Values{"cos": {"Business Mail 200 MB"}}},
		{zed + "/aliases", url.Values{"local": {"owned"}, "domain": {"beta.test"}}},
		{zed + "/delete", url.Values{"confirm": {"zed@beta.test"}}},
		{"/aliases/remove", url.Values{"address": {"z@beta.test"}}},
		{crew + "/members", url.Values{"member": {"alice@acme.test"}}},
		{crew + "/delete", url.Values{}},
		{"/domains/beta.test/delete", url.Values{"confirm": {"beta.test"}}},
	} {
		b.get("/")
		b.post(p.path, p.vals)
		b.want(http.StatusNotFound, "POST "+p.path)
	}
	z, err := e.dir.GetAccount(e.sys, "zed@beta.test")
	if err != nil || z.DisplayName != "Zed" || z.Status != directory.StatusActive || z.COS != "Business Mail 100 MB" {
		t.Fatalf("zed changed: %+v %v", z, err)
	}
	if als, _ := e.dir.ListAliases(e.sys, "zed@beta.test", ""); len(als) != 1 {
		t.Fatalf("zed's aliases: %v", als)
	}
	if l, err := e.dir.GetList(e.sys, "crew@beta.test"); err != nil || len(l.Members) != 0 {
		t.Fatalf("crew: %+v %v", l, err)
	}
	// Lists of the console show only the tenant's objects (as the directory returns them).
	for _, p := range []string{"/accounts", "/aliases", "/lists", "/domains", "/admins", "/"} {
		body := b.get(p)
		lacks(t, body, "beta.test", p)
	}
	// A domain administrator does not see accounts outside its domains either, and the
	// provider's pages refuse it.
	d := e.browser()
	d.login("dom@acme.test")
	d.get(zed)
	d.want(http.StatusNotFound, "domain admin, other tenant")
	d.get("/tenants")
	d.post("/tenants", url.Values{"name": {"Evil"}, "contact_email": {"x@evil.test"}, "contract": {"payg"}})
	d.want(http.StatusUnprocessableEntity, "domain admin creates a tenant")
	if _, err := e.dir.GetTenant(e.sys, "Evil"); err == nil {
		t.Fatal("tenant created by a domain admin")
	}
}

func TestFieldErrors(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("admin@acme.test")
	b.get("/accounts/new")
	post := func(local, cos, pw string) string {
		b.get("/accounts/new")
		return b.post("/accounts", url.Values{"local": {local}, "domain": {"acme.test"}, "display_name": {"X"}, "cos": {cos}, "password": {pw}, "status": {"active"}})
	}
	body := post("bad address", "Business Mail 100 MB", "Good-Password-42")
	b.want(http.StatusUnprocessableEntity, "bad address")
	contains(t, body, `data-test="error-local"`, "address error on the address input")
	contains(t, body, `value="bad address"`, "value kept")
	body = post("bob", "Business Mail 100 MB", "short")
	b.want(http.StatusUnprocessableEntity, "weak password")
	contains(t, body, `data-test="error-password"`, "password error")
	body = post("alice", "Business Mail 100 MB", "Good-Password-42")
	b.want(http.StatusUnprocessableEntity, "address taken")
	contains(t, body, `data-test="error-local"`, "taken on address")
	contains(t, body, "already in use", "taken message")
	// The contract: 2 accounts of Business Mail 100 MB.
	post("bob", "Business Mail 100 MB", "Good-Password-42")
	b.want(http.StatusSeeOther, "second account")
	body = post("carol", "Business Mail 100 MB", "Good-Password-42")
	b.want(http.StatusUnprocessableEntity, "over the cap")
	contains(t, body, `data-test="error-cos"`, "cap error on the COS input")
	contains(t, body, "contract allows 2 accounts", "cap message")
	body = post("carol", "Standard Suite 1.000 MB", "Good-Password-42")
	b.want(http.StatusUnprocessableEntity, "COS outside the contract")
	contains(t, body, "includes no accounts of", "not in contract message")
	// Edit: a bad forwarding address is refused as a whole (nothing half-applied).
	b.get("/accounts/" + id(e.alice))
	body = b.post("/accounts/"+id(e.alice), url.Values{"display_name": {"Alice New"}, "status": {"active"}, "forward_to": {"ok@example.org\nnot an address"}})
	b.want(http.StatusUnprocessableEntity, "bad forward")
	contains(t, body, `data-test="error-forward_to"`, "forward error")
	if a, _ := e.dir.GetAccount(e.sys, "alice@acme.test"); a.DisplayName != "Alice" || len(a.ForwardTo) != 0 {
		t.Fatalf("half-applied: %+v", a)
	}
	b.post("/accounts/"+id(e.alice), url.Values{"display_name": {"Alice New"}, "status": {"locked"}, "forward_to": {"ok@example.org"}, "forward_keep": {"on"},
		"auto_reply": {"on"}, "auto_reply_subject": {"Away"}, "auto_reply_body": {"Back on Monday."}})
	b.want(http.StatusSeeOther, "edit")
	a, _ := e.dir.GetAccount(e.sys, "alice@acme.test")
	if a.DisplayName != "Alice New" || a.Status != directory.StatusLocked || len(a.ForwardTo) != 1 || !a.ForwardKeep || !a.AutoReply || a.AutoBody != "Back on Monday." {
		t.Fatalf("edit: %+v", a)
	}
	// Domains: a syntax error lands on the name input.
	b.get("/domains")
	body = b.post("/domains", url.Values{"tenant": {"1"}, "name": {"not a domain"}})
	b.want(http.StatusUnprocessableEntity, "bad domain")
	contains(t, body, `data-test="error-name"`, "domain error")
	// A list member that is another tenant's address is refused like a missing one.
	team := "/lists/" + url.PathEscape("team@acme.test")
	b.get(team)
	body = b.post(team+"/members", url.Values{"member": {"zed@beta.test"}})
	b.want(http.StatusUnprocessableEntity, "foreign member")
	contains(t, body, `data-test="error-member"`, "member error")
	// Delete needs the address typed.
	b.get("/accounts/" + id(e.alice) + "/delete")
	body = b.post("/accounts/"+id(e.alice)+"/delete", url.Values{"confirm": {"alice"}})
	b.want(http.StatusUnprocessableEntity, "delete not confirmed")
	contains(t, body, `data-test="error-confirm"`, "confirm error")
	b.post("/accounts/"+id(e.alice)+"/delete", url.Values{"confirm": {"alice@acme.test"}})
	b.want(http.StatusSeeOther, "delete")
	if _, err := e.dir.GetAccount(e.sys, "alice@acme.test"); err == nil {
		t.Fatal("not deleted")
	}
}

func TestCOSChangePreview(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("admin@acme.test")
	acc := "/accounts/" + id(e.alice)
	plus, _ := e.dir.GetCOS(e.sys, "Business Mail Plus 500 MB")
	body := b.get(acc + "/cos?cos=" + strconv.FormatInt(plus.ID, 10))
	b.want(200, "preview")
	contains(t, body, `data-test="cos-preview"`, "preview")
	contains(t, body, "Calendar", "feature gained")
	contains(t, body, "500 MB", "new quota")
	contains(t, body, `data-test="confirm-cos"`, "confirm button")
	if a, _ := e.dir.GetAccount(e.sys, "alice@acme.test"); a.COS != "Business Mail 100 MB" {
		t.Fatal("preview changed the account")
	}
	// A class outside the contract: the preview says why and offers no confirmation.
	std, _ := e.dir.GetCOS(e.sys, "Standard Suite 1.000 MB")
	body = b.get(acc + "/cos?cos=" + strconv.FormatInt(std.ID, 10))
	contains(t, body, `data-test="cos-refused"`, "refusal")
	lacks(t, body, `data-test="confirm-cos"`, "no confirm when refused")
	// Unknown class: field error on the account page.
	body = b.get(acc + "/cos?cos=nonsense")
	b.want(http.StatusUnprocessableEntity, "unknown COS")
	contains(t, body, `data-test="error-cos"`, "unknown COS error")
	b.get(acc + "/cos?cos=" + strconv.FormatInt(plus.ID, 10))
	b.post(acc+"/cos", url.Values{"cos": {strconv.FormatInt(plus.ID, 10)}})
	b.want(http.StatusSeeOther, "confirm")
	body = b.get(b.loc)
	contains(t, body, "Class of service changed to Business Mail Plus 500 MB", "flash")
	if a, _ := e.dir.GetAccount(e.sys, "alice@acme.test"); a.COS != "Business Mail Plus 500 MB" {
		t.Fatalf("COS %s", a.COS)
	}
	// The change is in the audit log with the console user and its address.
	entries, _ := e.dir.ListAudit(e.sys, "Acme", 1)
	if len(entries) != 1 || entries[0].Actor != "admin@acme.test" || entries[0].Action != "account.update" || entries[0].Remote == "" {
		t.Fatalf("audit %+v", entries)
	}
}

func TestProviderPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("boss@provider.test")
	b.get("/tenants")
	b.post("/tenants", url.Values{"name": {"Gamma"}, "contact_email": {"not-an-email"}, "contract": {"subscription"}})
	b.want(http.StatusUnprocessableEntity, "bad contact")
	b.post("/tenants", url.Values{"name": {"Gamma"}, "contact_email": {"it@gamma.test"}, "contract": {"subscription"}})
	b.want(http.StatusSeeOther, "tenant created")
	gamma, err := e.dir.GetTenant(e.sys, "Gamma")
	if err != nil {
		t.Fatal(err)
	}
	tp := "/tenants/" + strconv.FormatInt(gamma.ID, 10)
	b.get(tp)
	b.post(tp+"/caps", url.Values{"cos": {"Business Mail 100 MB"}, "max_accounts": {"3"}})
	b.want(http.StatusSeeOther, "cap")
	body := b.get(tp)
	contains(t, body, "Contract cap for Business Mail 100 MB saved", "cap flash")
	// DMARC rejects: on by default, off when the box is left unticked.
	contains(t, body, `name="reject_dmarc" checked`, "DMARC box ticked")
	b.post(tp, url.Values{"name": {"Gamma"}, "contact_email": {"it@gamma.test"}, "contract": {"subscription"}, "max_message_size": {""}})
	b.want(http.StatusSeeOther, "tenant settings")
	if g, _ := e.dir.GetTenant(e.sys, "Gamma"); g.RejectDMARC {
		t.Fatal("DMARC rejection still on after unticking")
	}
	if body := b.get(tp); strings.Contains(body, `name="reject_dmarc" checked`) {
		t.Fatal("DMARC box still ticked")
	}
	b.post(tp+"/status", url.Values{"status": {"suspended"}})
	b.want(http.StatusSeeOther, "suspend")
	if g, _ := e.dir.GetTenant(e.sys, "Gamma"); g.Status != "suspended" {
		t.Fatal("not suspended")
	}
	// Caps cannot go below the accounts in use: a field error.
	b.get("/tenants/1")
	body = b.post("/tenants/1/caps", url.Values{"cos": {"Business Mail 100 MB"}, "max_accounts": {"0"}})
	b.want(http.StatusUnprocessableEntity, "cap below use")
	contains(t, body, `data-test="error-max_accounts"`, "cap error")
	// Custom class of service.
	b.get("/cos")
	b.post("/cos", url.Values{"name": {"Kiosk"}, "service_type": {"custom"}, "features": {"mail"}, "quota_mb": {"50"}, "min_password_len": {"12"}})
	b.want(http.StatusSeeOther, "cos")
	body = b.post("/cos", url.Values{"name": {"Kiosk"}, "service_type": {"custom"}, "quota_mb": {"50"}})
	b.want(http.StatusUnprocessableEntity, "duplicate cos")
	contains(t, body, `data-test="error-name"`, "duplicate cos error")
	// Administrators.
	b.get("/admins")
	body = b.post("/admins", url.Values{"email": {"new@gamma.test"}, "password": {"short"}, "role": {"tenant"}, "tenant": {"Gamma"}})
	b.want(http.StatusUnprocessableEntity, "weak admin password")
	contains(t, body, `data-test="error-password"`, "admin password error")
	b.post("/admins", url.Values{"email": {"new@gamma.test"}, "password": {"Strong-Admin-Secret-42"}, "role": {"tenant"}, "tenant": {"Gamma"}})
	b.want(http.StatusSeeOther, "admin created")
	body = b.get("/admins/remove?email=new@gamma.test")
	b.want(200, "remove confirm")
	contains(t, body, "new@gamma.test", "remove confirm names the administrator")
	b.post("/admins/remove", url.Values{"email": {"new@gamma.test"}})
	b.want(http.StatusSeeOther, "admin removed")
	// The provider dashboard lists every tenant.
	body = b.get("/")
	for _, n := range []string{"Acme", "Beta", "Gamma"} {
		contains(t, body, n, "provider dashboard")
	}
}

func TestListsAndAliases(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("admin@acme.test")
	b.get("/lists")
	b.post("/lists", url.Values{"local": {"sales"}, "domain": {"acme.test"}, "name": {"Sales"}, "post_policy": {"anyone"}})
	b.want(http.StatusSeeOther, "list created")
	lp := b.loc
	b.get(lp)
	b.post(lp+"/members", url.Values{"member": {"alice@acme.test"}})
	b.want(http.StatusSeeOther, "member")
	b.post(lp+"/members", url.Values{"member": {"friend@example.org"}})
	body := b.get(lp)
	contains(t, body, "friend@example.org", "external member")
	b.post(lp+"/members/remove", url.Values{"member": {"friend@example.org"}})
	b.want(http.StatusSeeOther, "member removed")
	if l, _ := e.dir.GetList(e.sys, "sales@acme.test"); len(l.Members) != 1 || l.PostPolicy != "anyone" {
		t.Fatalf("list %+v", l)
	}
	b.get("/accounts/" + id(e.alice))
	b.post("/accounts/"+id(e.alice)+"/aliases", url.Values{"local": {"ali"}, "domain": {"acme.test"}})
	b.want(http.StatusSeeOther, "alias")
	b.get("/aliases")
	body = b.post("/aliases", url.Values{"local": {"x"}, "domain": {"acme.test"}, "account": {"nobody@acme.test"}})
	b.want(http.StatusUnprocessableEntity, "alias of nobody")
	contains(t, body, `data-test="error-account"`, "account error")
	body = b.get("/aliases")
	contains(t, body, "ali@acme.test", "alias listed")
	b.post("/aliases/remove", url.Values{"address": {"ali@acme.test"}, "back": {"/aliases"}})
	b.want(http.StatusSeeOther, "alias removed")
	b.get(lp + "/delete")
	b.post(lp+"/delete", url.Values{})
	b.want(http.StatusSeeOther, "list deleted")
	if _, err := e.dir.GetList(e.sys, "sales@acme.test"); err == nil {
		t.Fatal("list not deleted")
	}
}

func TestLanguage(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.lang = "it-IT,it;q=0.9,en;q=0.5"
	body := b.get("/login")
	contains(t, body, `<html lang="it">`, "Italian from Accept-Language")
	contains(t, body, "Accedi", "Italian text")
	b.login("admin@acme.test")
	body = b.get("/accounts")
	contains(t, body, "Caselle", "Italian nav")
	b.get("/lang/en?next=/accounts")
	b.want(http.StatusSeeOther, "switch")
	if b.loc != "/accounts" {
		t.Fatalf("switch back to %q", b.loc)
	}
	body = b.get("/accounts")
	contains(t, body, `<html lang="en">`, "English after the switch")
	contains(t, body, "Accounts", "English nav")
	// Errors in Italian name the kind in Italian and keep the detail.
	b.get("/lang/it?next=/")
	b.get("/accounts/new")
	body = b.post("/accounts", url.Values{"local": {"alice"}, "domain": {"acme.test"}, "cos": {"Business Mail 100 MB"}, "password": {"Good-Password-42"}})
	contains(t, body, "Già in uso", "Italian error")
	b.get("/lang/fr?next=/")
	b.want(http.StatusNotFound, "unknown language")
	if got := fromAcceptLanguage("fr-FR, en;q=0.3, it;q=0.7"); got != "it" {
		t.Fatalf("Accept-Language: %s", got)
	}
	if got := fromAcceptLanguage("de"); got != "en" {
		t.Fatalf("default: %s", got)
	}
}

var keyRE = regexp.MustCompile(`\bT "([a-z0-9_.-]+)"|\.T\("([a-z0-9_.-]+)"|fieldErr\("[a-z_]+", "([a-z0-9_.-]+)"|"(flash\.[a-z_]+)"`)

// TestCatalogues checks that both languages have the same keys and every key used exists.
func TestCatalogues(t *testing.T) {
	for k := range messagesEN {
		if _, ok := messagesIT[k]; !ok {
			t.Errorf("%s missing in Italian", k)
		}
	}
	for k := range messagesIT {
		if _, ok := messagesEN[k]; !ok {
			t.Errorf("%s missing in English", k)
		}
	}
	var sources []string
	files, _ := templateFS.ReadDir("templates")
	for _, f := range files {
		b, _ := templateFS.ReadFile("templates/" + f.Name())
		sources = append(sources, string(b))
	}
	for _, f := range []string{"console.go", "tenants.go", "accounts.go", "lists.go", "domains.go", "admins.go", "self.go"} {
		b, err := readFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, b)
	}
	n := 0
	for _, src := range sources {
		for _, m := range keyRE.FindAllStringSubmatch(src, -1) {
			key := m[1] + m[2] + m[3] + m[4]
			if strings.HasSuffix(key, ".") {
				continue // a prefix completed at run time, checked below
			}
			n++
			if _, ok := messagesEN[key]; !ok {
				t.Errorf("key %q used but not in the catalogue", key)
			}
		}
	}
	if n < 300 {
		t.Errorf("only %d keys found: the pattern is broken", n)
	}
	// Keys composed at run time.
	for _, prefix := range []struct {
		p    string
		vals []string
	}{
		{"status.", []string{"active", "locked", "closed"}},
		{"tstatus.", []string{"active", "suspended"}},
		{"contract.", []string{"subscription", "payg"}},
		{"dash.nocap.", []string{"subscription", "payg"}},
		{"policy.", []string{"anyone", "members", "tenant"}},
		{"role.", []string{"provider", "tenant", "domain", "user"}},
		{"feature.", directory.FeatureNames(-1)},
		{"dns.state.", []string{Live, NotYet, Different, Unknown, Pending}},
		{"error.", []string{"400.title", "400.text", "403.title", "403.text", "404.title", "404.text", "500.title", "500.text"}},
		{"kind.", []string{"not-found", "forbidden", "address-taken", "contract-cap-exceeded", "quota-below-usage", "invalid-address", "invalid-argument",
			"domain-not-owned", "unknown-cos", "weak-password", "list-loop", "domain-in-use", "tenant-suspended", "too-many-app-passwords"}},
	} {
		for _, v := range prefix.vals {
			if _, ok := messagesEN[prefix.p+v]; !ok {
				t.Errorf("key %s%s missing", prefix.p, v)
			}
		}
	}
	for _, r := range DNSRecords("a.test", "mx.test", nil) {
		if _, ok := messagesEN["dns.purpose."+r.Purpose]; !ok {
			t.Errorf("dns.purpose.%s missing", r.Purpose)
		}
	}
	for _, st := range directory.ServiceTypes {
		if _, ok := messagesEN["cos.type."+st.Key]; !ok {
			t.Errorf("cos.type.%s missing", st.Key)
		}
	}
}

// TestSendingCard: the tenant dashboard shows what its accounts sent today against the daily
// limit; another tenant's dashboard does not list them.
func TestSendingCard(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := e.dir.RecordSend(ctx, e.alice.ID, 4); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.dir.RecordSend(ctx, e.zed.ID, 1); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login("admin@acme.test")
	body := b.get("/")
	b.want(200, "tenant dashboard")
	contains(t, body, `data-test="sending"`, "sending card")
	contains(t, body, "alice@acme.test", "alice's counters")
	contains(t, body, "(12 recipients)", "recipients today")
	lacks(t, body, "zed@beta.test", "another tenant's sender")
	b2 := e.browser()
	b2.login("admin@beta.test")
	body = b2.get("/")
	contains(t, body, "zed@beta.test", "beta's own sender")
	lacks(t, body, "alice@acme.test", "acme's sender on beta's dashboard")
}
