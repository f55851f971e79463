package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/directory"
)

// alicePW is alice's password in newEnv.
const alicePW = "Strong-Secret-4242"

// loginUser logs a mailbox user in and checks that it lands on its own account.
func (b *browser) loginUser(email, password string) string {
	b.e.t.Helper()
	b.get("/login")
	b.want(200, "login page")
	b.post("/login", url.Values{"email": {email}, "password": {password}})
	b.want(http.StatusSeeOther, "login "+email)
	if b.loc != "/me" {
		b.e.t.Fatalf("user %s sent to %q after login, want /me", email, b.loc)
	}
	body := b.get("/me")
	b.want(200, "my account after login")
	return body
}

// adminNav are links only the administrators' navigation has.
var adminNav = []string{`href="/accounts"`, `href="/tenants"`, `href="/aliases"`, `href="/lists"`, `href="/domains"`, `href="/cos"`, `href="/admins"`}

var secretRE = regexp.MustCompile(`data-test="app-secret">([^<]+)<`)

func TestSelfServiceLanding(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	body := b.loginUser("alice@acme.test", alicePW)
	checkPage(t, b, "/me", body)
	contains(t, body, "<h1>My account</h1>", "my account heading")
	contains(t, body, "alice@acme.test", "own address")
	contains(t, body, `href="/me/app-passwords"`, "app passwords in the navigation")
	for _, l := range adminNav {
		lacks(t, body, l, "user navigation")
	}
	lacks(t, body, "Dashboard", "no dashboard for a user")
	// Mail client settings: the server's name and ports, and the address as the user name.
	clients := body[strings.Index(body, `data-test="self-clients"`):]
	for _, want := range []string{"mail.example.test", ">993<", ">465<", ">587<", "SSL/TLS", "STARTTLS", `data-test="client-user">alice@acme.test<`} {
		contains(t, clients, want, "client settings")
	}
	// The home page of a user is its account, and a next pointing at the administration is
	// not followed.
	b.get("/")
	b.want(http.StatusSeeOther, "dashboard for a user")
	if b.loc != "/me" {
		t.Fatalf("/ sends a user to %q", b.loc)
	}
	b2 := e.browser()
	b2.get("/login")
	b2.post("/login", url.Values{"email": {"alice@acme.test"}, "password": {alicePW}, "next": {"/accounts"}})
	if b2.status != http.StatusSeeOther || b2.loc != "/me" {
		t.Fatalf("user with next=/accounts: %d %q", b2.status, b2.loc)
	}
	b2.get("/login")
	b2.want(http.StatusSeeOther, "login page when logged in")
	b3 := e.browser()
	b3.get("/login")
	b3.post("/login", url.Values{"email": {"alice@acme.test"}, "password": {alicePW}, "next": {"/me/app-passwords"}})
	if b3.loc != "/me/app-passwords" {
		t.Fatalf("user with next=/me/app-passwords: %q", b3.loc)
	}
	// A wrong password is refused as for administrators.
	b4 := e.browser()
	b4.get("/login")
	body = b4.post("/login", url.Values{"email": {"alice@acme.test"}, "password": {"not-her-password"}})
	b4.want(http.StatusUnauthorized, "wrong user password")
	contains(t, body, "Wrong address, password or code", "bad login")
	// In Italian.
	it := e.browser()
	it.lang = "it"
	body = it.loginUser("alice@acme.test", alicePW)
	contains(t, body, "Il mio account", "Italian heading")
	contains(t, body, "Password per le app", "Italian navigation")
	contains(t, body, "Impostazioni dei programmi di posta", "Italian client settings")
	// Logging out works as for administrators.
	b.post("/logout", url.Values{})
	b.want(http.StatusSeeOther, "user logout")
	b.get("/me")
	b.want(http.StatusSeeOther, "after logout")
}

func TestSelfServiceChanges(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.loginUser("alice@acme.test", alicePW)
	acc := func() *directory.Account {
		t.Helper()
		a, err := e.dir.GetAccount(e.sys, "alice@acme.test")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	// Display name; a status sent along is not the user's to change and is ignored.
	b.post("/me/profile", url.Values{"display_name": {"Alice Bianchi"}, "status": {"closed"}, "cos": {"Standard Suite 1.000 MB"}})
	b.want(http.StatusSeeOther, "display name")
	body := b.get(b.loc)
	contains(t, body, "Your settings are saved.", "flash")
	contains(t, body, `value="Alice Bianchi"`, "name shown")
	if a := acc(); a.DisplayName != "Alice Bianchi" || a.Status != directory.StatusActive || a.COS != "Business Mail 100 MB" {
		t.Fatalf("after the profile: %+v", a)
	}
	body = b.post("/me/profile", url.Values{"display_name": {"two\nlines"}})
	b.want(http.StatusUnprocessableEntity, "bad display name")
	contains(t, body, `data-test="error-display_name"`, "display name error")
	checkPage(t, b, "POST /me/profile", body)

	// Auto-reply: on without a text is refused on the text; then on, then off.
	body = b.post("/me/auto-reply", url.Values{"auto_reply": {"on"}, "auto_reply_subject": {"Away"}})
	b.want(http.StatusUnprocessableEntity, "auto-reply without text")
	contains(t, body, `data-test="error-auto_reply_body"`, "auto-reply error")
	contains(t, body, `value="Away"`, "subject kept")
	b.post("/me/auto-reply", url.Values{"auto_reply": {"on"}, "auto_reply_subject": {"Away"}, "auto_reply_body": {"Back on Monday.\r\nAlice"}})
	b.want(http.StatusSeeOther, "auto-reply on")
	if a := acc(); !a.AutoReply || a.AutoSubject != "Away" || a.AutoBody != "Back on Monday.\nAlice" {
		t.Fatalf("auto-reply: %+v", a)
	}
	body = b.get("/me")
	contains(t, body, `data-test="auto-reply-state">On<`, "auto-reply shown on")
	contains(t, body, "Back on Monday.", "auto-reply text shown")
	b.post("/me/auto-reply", url.Values{"auto_reply_subject": {"Away"}, "auto_reply_body": {"Back on Monday."}})
	b.want(http.StatusSeeOther, "auto-reply off")
	if a := acc(); a.AutoReply {
		t.Fatal("auto-reply still on")
	}

	// Forwarding: a bad address is refused on its input, nothing half-applied.
	body = b.post("/me/forwarding", url.Values{"forward_to": {"alice.home@example.org\nnot an address"}, "forward_keep": {"on"}})
	b.want(http.StatusUnprocessableEntity, "bad forwarding")
	contains(t, body, `data-test="error-forward_to"`, "forwarding error")
	if a := acc(); len(a.ForwardTo) != 0 {
		t.Fatalf("half-applied forwarding: %v", a.ForwardTo)
	}
	body = b.post("/me/forwarding", url.Values{"forward_to": {"alice@acme.test"}})
	b.want(http.StatusUnprocessableEntity, "forward to itself")
	contains(t, body, "cannot forward to itself", "self-forward message")
	b.post("/me/forwarding", url.Values{"forward_to": {"alice.home@example.org, alice.phone@example.org"}, "forward_keep": {"on"}})
	b.want(http.StatusSeeOther, "forwarding")
	if a := acc(); len(a.ForwardTo) != 2 || !a.ForwardKeep {
		t.Fatalf("forwarding: %+v", a)
	}

	// Password: typed twice; a mismatch and a weak password are field errors and the
	// password is never sent back.
	const newPW = "Brand-New-Secret-4711"
	body = b.post("/me/password", url.Values{"password": {newPW}, "password2": {newPW + "x"}})
	b.want(http.StatusUnprocessableEntity, "password mismatch")
	contains(t, body, `data-test="error-password2"`, "mismatch error")
	contains(t, body, "The two passwords are different", "mismatch message")
	lacks(t, body, newPW, "password echoed")
	body = b.post("/me/password", url.Values{"password": {""}, "password2": {""}})
	b.want(http.StatusUnprocessableEntity, "empty password")
	contains(t, body, `data-test="error-password"`, "empty password error")
	body = b.post("/me/password", url.Values{"password": {"short"}, "password2": {"short"}})
	b.want(http.StatusUnprocessableEntity, "weak password")
	contains(t, body, `data-test="error-password"`, "weak password error")
	lacks(t, body, `value="short"`, "weak password echoed")
	checkPage(t, b, "POST /me/password", body)
	if _, err := e.dir.Authenticate(e.sys, "alice@acme.test", alicePW); err != nil {
		t.Fatal("the old password no longer works after refused changes")
	}
	b.post("/me/password", url.Values{"password": {newPW}, "password2": {newPW}})
	b.want(http.StatusSeeOther, "password changed")
	body = b.get(b.loc)
	contains(t, body, "Your password is changed.", "password flash")
	if _, err := e.dir.Authenticate(e.sys, "alice@acme.test", newPW); err != nil {
		t.Fatal("the new password does not work")
	}
	if _, err := e.dir.Authenticate(e.sys, "alice@acme.test", alicePW); err == nil {
		t.Fatal("the old password still works")
	}
	// The changes are in the audit log under the user's name.
	entries, _ := e.dir.ListAudit(e.sys, "Acme", 20)
	n := 0
	for _, en := range entries {
		if en.Actor == "alice@acme.test" {
			n++
		}
	}
	if n < 5 {
		t.Fatalf("audit entries by alice: %d in %+v", n, entries)
	}

	// In Italian, a weak password names the kind in Italian.
	b.lang = "it"
	body = b.post("/me/password", url.Values{"password": {"short"}, "password2": {"short"}})
	contains(t, body, "Password troppo debole", "Italian weak password")
	body = b.post("/me/password", url.Values{"password": {"a-b-c-d-e-f"}, "password2": {"x"}})
	contains(t, body, "Le due password sono diverse", "Italian mismatch")
}

func TestSelfServiceAppPasswords(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.loginUser("alice@acme.test", alicePW)
	body := b.get("/me/app-passwords")
	b.want(200, "app passwords")
	checkPage(t, b, "/me/app-passwords", body)
	contains(t, body, `data-test="app-passwords-empty"`, "none yet")
	body = b.post("/me/app-passwords", url.Values{"name": {"  "}})
	b.want(http.StatusUnprocessableEntity, "no name")
	contains(t, body, `data-test="error-name"`, "name error")

	body = b.post("/me/app-passwords", url.Values{"name": {"phone"}})
	b.want(200, "app password created")
	checkPage(t, b, "POST /me/app-passwords", body)
	if cc := b.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("the page with the secret is cacheable: %q", cc)
	}
	m := secretRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no secret shown:\n%s", body)
	}
	secret := m[1]
	if len(secret) != 20 {
		t.Fatalf("secret %q", secret)
	}
	contains(t, body, `data-test="once-warning"`, "shown-once warning")
	contains(t, body, "shown only this once", "warning text")
	contains(t, body, "App password phone created", "title")
	clients := body[strings.Index(body, `data-test="self-clients"`):]
	for _, want := range []string{"mail.example.test", ">993<", ">465<", ">587<", `data-test="client-user">alice@acme.test<`} {
		contains(t, clients, want, "client settings with the new password")
	}
	if _, err := e.dir.Authenticate(e.sys, "alice@acme.test", secret); err != nil {
		t.Fatalf("the app password does not log in: %v", err)
	}
	// Never again: not in the list, not on the account page.
	for _, p := range []string{"/me/app-passwords", "/me", "/me/app-passwords/1/revoke"} {
		body = b.get(p)
		lacks(t, body, secret, p)
	}
	body = b.get("/me/app-passwords")
	contains(t, body, `data-test="app-password-name">phone<`, "listed by name")
	lacks(t, body, `data-test="app-secret"`, "no secret in the list")
	apps, err := e.dir.ListAppPasswords(e.sys, "alice@acme.test")
	if err != nil || len(apps) != 1 {
		t.Fatalf("apps %+v %v", apps, err)
	}
	revoke := "/me/app-passwords/" + strconv.FormatInt(apps[0].ID, 10) + "/revoke"
	contains(t, body, `href="`+revoke+`"`, "revoke link")

	// Someone else's app password cannot be asked about or revoked.
	_, zedApp, err := e.dir.CreateAppPassword(e.sys, "zed@beta.test", "zed's laptop", func() string { return "Zed-App-Secret-424242" })
	if err != nil {
		t.Fatal(err)
	}
	zedRevoke := "/me/app-passwords/" + strconv.FormatInt(zedApp.ID, 10) + "/revoke"
	body = b.get(zedRevoke)
	b.want(http.StatusNotFound, "confirm zed's app password")
	lacks(t, body, "laptop", "zed's app password named")
	b.get("/me/app-passwords")
	b.post(zedRevoke, url.Values{})
	b.want(http.StatusNotFound, "revoke zed's app password")
	if l, _ := e.dir.ListAppPasswords(e.sys, "zed@beta.test"); len(l) != 1 {
		t.Fatal("zed's app password revoked by alice")
	}
	for _, p := range []string{"/me/app-passwords/x/revoke", "/me/app-passwords/999999/revoke"} {
		b.get(p)
		b.want(http.StatusNotFound, p)
	}

	// Revoke: a confirmation first, the CSRF token required.
	body = b.get(revoke)
	b.want(200, "revoke confirmation")
	checkPage(t, b, revoke, body)
	contains(t, body, "Revoke the app password phone?", "confirmation heading")
	contains(t, body, `action="`+revoke+`"`, "confirmation form")
	b.post(revoke, url.Values{"csrf": {"forged"}})
	b.want(http.StatusForbidden, "revoke without the CSRF token")
	if l, _ := e.dir.ListAppPasswords(e.sys, "alice@acme.test"); len(l) != 1 {
		t.Fatal("revoked without the CSRF token")
	}
	b.get(revoke)
	b.post(revoke, url.Values{})
	b.want(http.StatusSeeOther, "revoke")
	body = b.get(b.loc)
	contains(t, body, "App password phone revoked", "revoke flash")
	contains(t, body, `data-test="app-passwords-empty"`, "list empty again")
	if _, err := e.dir.Authenticate(e.sys, "alice@acme.test", secret); err == nil {
		t.Fatal("a revoked app password still logs in")
	}
	b.post(revoke, url.Values{})
	b.want(http.StatusNotFound, "revoke twice")

	// The directory's limit shows on the name input.
	for i := 0; i < 10; i++ {
		b.get("/me/app-passwords")
		b.post("/me/app-passwords", url.Values{"name": {"client " + strconv.Itoa(i)}})
		b.want(200, "app password "+strconv.Itoa(i))
	}
	b.get("/me/app-passwords")
	body = b.post("/me/app-passwords", url.Values{"name": {"one too many"}})
	b.want(http.StatusUnprocessableEntity, "too many app passwords")
	contains(t, body, `data-test="error-name"`, "limit on the name input")
	lacks(t, body, `data-test="app-secret"`, "no secret when refused")
}

// adminRouteRE finds the routes of the administration in console.go.
var adminRouteRE = regexp.MustCompile(`m\.Handle\("(GET|POST) ([^"]+)", c\.admin\(`)

func TestUserCannotReachAdminPages(t *testing.T) {
	e := newEnv(t)
	src, err := readFile("console.go")
	if err != nil {
		t.Fatal(err)
	}
	routes := adminRouteRE.FindAllStringSubmatch(src, -1)
	if len(routes) < 40 {
		t.Fatalf("only %d administration routes found", len(routes))
	}
	fill := strings.NewReplacer("{id}", id(e.alice), "{address}", url.PathEscape("team@acme.test"), "{name}", "acme.test")
	b := e.browser()
	b.loginUser("alice@acme.test", alicePW)
	for _, rt := range routes {
		method, path := rt[1], fill.Replace(rt[2])
		var body string
		if method == http.MethodGet {
			body = b.get(path)
		} else {
			b.get("/me")
			// What an administrator would send: the user's own account closed, its COS
			// changed, a tenant, an account, a list and an administrator created...
			body = b.post(path, url.Values{"status": {"closed"}, "cos": {"Business Mail Plus 500 MB"}, "display_name": {"Owned"},
				"name": {"Evil"}, "contact_email": {"x@evil.test"}, "contract": {"payg"}, "local": {"evil"}, "domain": {"acme.test"},
				"password": {"Owned-Password-4242"}, "account": {"alice@acme.test"}, "address": {"team@acme.test"}, "member": {"evil@example.org"},
				"email": {"evil@acme.test"}, "role": {"provider"}, "tenant": {"Acme"}, "confirm": {"alice@acme.test"}, "max_accounts": {"0"},
				"service_type": {"custom"}, "quota_mb": {"1"}, "back": {"/me"}})
		}
		if b.status != http.StatusNotFound {
			t.Errorf("%s %s as a user: %d, want 404", method, path, b.status)
		}
		checkPage(t, b, method+" "+path, body)
		contains(t, body, `href="/me/app-passwords"`, method+" "+path+": the user's navigation")
		contains(t, body, "Go to my account", method+" "+path+": way back")
		for _, l := range adminNav {
			lacks(t, body, l, method+" "+path)
		}
		lacks(t, body, "zed@beta.test", method+" "+path)
	}
	// The administrators' own security page is not the user's either.
	for _, p := range []string{"/me/totp/setup", "/me/totp/enable", "/me/totp/disable"} {
		b.get("/me")
		body := b.post(p, url.Values{"secret": {"JBSWY3DPEHPK3PXPJBSWY3DP"}, "code": {"123456"}})
		b.want(http.StatusNotFound, "POST "+p)
		lacks(t, body, "otpauth://", p)
	}
	// Nothing changed.
	a, err := e.dir.GetAccount(e.sys, "alice@acme.test")
	if err != nil || a.Status != directory.StatusActive || a.DisplayName != "Alice" || a.COS != "Business Mail 100 MB" {
		t.Fatalf("alice changed through the administration: %+v %v", a, err)
	}
	if _, err := e.dir.Authenticate(e.sys, "alice@acme.test", alicePW); err != nil {
		t.Fatal("alice's password changed through the administration")
	}
	if _, err := e.dir.GetTenant(e.sys, "Evil"); err == nil {
		t.Fatal("tenant created by a user")
	}
	for _, addr := range []string{"evil@acme.test"} {
		if _, err := e.dir.GetAccount(e.sys, addr); err == nil {
			t.Fatalf("account %s created by a user", addr)
		}
	}
	if l, err := e.dir.GetList(e.sys, "team@acme.test"); err != nil || len(l.Members) != 0 {
		t.Fatalf("team changed by a user: %+v %v", l, err)
	}
	if _, err := e.dir.GetDomain(e.sys, "acme.test"); err != nil {
		t.Fatal("domain removed by a user")
	}
	for _, ad := range mustAdmins(t, e) {
		if ad == "evil@acme.test" {
			t.Fatal("administrator created by a user")
		}
	}
	// The user is still logged in and its own pages work.
	b.get("/me")
	b.want(200, "my account after the attempts")

	// The self-service pages do not exist for administrators, whose My account is their own.
	adm := e.browser()
	adm.login("admin@acme.test")
	body := adm.get("/me")
	contains(t, body, `data-test="totp"`, "administrator's My account")
	lacks(t, body, `data-test="self-clients"`, "no self-service for an administrator")
	for _, p := range []string{"/me/app-passwords", "/me/app-passwords/1/revoke"} {
		adm.get(p)
		adm.want(http.StatusNotFound, "administrator GET "+p)
	}
	for _, p := range []string{"/me/profile", "/me/password", "/me/forwarding", "/me/auto-reply", "/me/app-passwords", "/me/app-passwords/1/revoke"} {
		adm.get("/me")
		adm.post(p, url.Values{"display_name": {"x"}, "password": {"Owned-Password-4242"}, "password2": {"Owned-Password-4242"}, "name": {"x"}})
		adm.want(http.StatusNotFound, "administrator POST "+p)
	}
}

func mustAdmins(t *testing.T, e *env) []string {
	t.Helper()
	as, err := e.dir.ListAdmins(e.sys)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Email)
	}
	return out
}

func TestSelfServiceCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.loginUser("alice@acme.test", alicePW)
	for _, p := range []struct {
		path string
		vals url.Values
	}{
		{"/me/profile", url.Values{"display_name": {"Forged"}}},
		{"/me/password", url.Values{"password": {"Forged-Password-4242"}, "password2": {"Forged-Password-4242"}}},
		{"/me/forwarding", url.Values{"forward_to": {"thief@example.org"}}},
		{"/me/auto-reply", url.Values{"auto_reply": {"on"}, "auto_reply_body": {"Forged"}}},
		{"/me/app-passwords", url.Values{"name": {"forged"}}},
	} {
		for _, tok := range []string{"", "forged-token"} {
			p.vals.Set("csrf", tok)
			body := b.post(p.path, p.vals)
			b.want(http.StatusForbidden, "POST "+p.path+" with CSRF token "+strconv.Quote(tok))
			lacks(t, body, `data-test="app-secret"`, p.path)
		}
	}
	// A cross-site POST is refused before anything else.
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/me/profile", strings.NewReader(url.Values{"display_name": {"Forged"}, "csrf": {b.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	b.do(req)
	b.want(http.StatusForbidden, "cross-site POST")
	a, _ := e.dir.GetAccount(e.sys, "alice@acme.test")
	if a.DisplayName != "Alice" || len(a.ForwardTo) != 0 || a.AutoReply {
		t.Fatalf("changed without the CSRF token: %+v", a)
	}
	if _, err := e.dir.Authenticate(e.sys, "alice@acme.test", "Forged-Password-4242"); err == nil {
		t.Fatal("password changed without the CSRF token")
	}
	if l, _ := e.dir.ListAppPasswords(e.sys, "alice@acme.test"); len(l) != 0 {
		t.Fatal("app password created without the CSRF token")
	}
	// With the token it works.
	b.get("/me")
	b.post("/me/profile", url.Values{"display_name": {"Alice B."}})
	b.want(http.StatusSeeOther, "with the CSRF token")
}
