package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/api"
	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/migrate"
	"github.com/postamail/posta/internal/queue"
	"github.com/postamail/posta/internal/webauth"
)

const pw = "Correct-Horse-42-Battery"

type fixture struct {
	t   *testing.T
	srv *httptest.Server
	dir *directory.Service
	api *api.API
	q   *queue.Queue
}

// setup: tenant A (rossi.it, verdi.it) with accounts and a list, tenant B (bianchi.it), and
// administrators: provider, tenant A, domain admin of rossi.it, tenant B.
func setup(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	dir := directory.New(d, auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}), directory.Options{})
	sys := directory.WithActor(context.Background(), directory.SystemActor("test"))
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(nil, dir.SeedStandardCOS(sys))
	must(dir.CreateTenant(sys, directory.TenantSpec{Name: "Rossi Srl", ContactEmail: "it@rossi.it", Contract: "subscription"}))
	must(dir.CreateTenant(sys, directory.TenantSpec{Name: "Bianchi SpA", ContactEmail: "it@bianchi.it", Contract: "payg"}))
	must(dir.AddDomain(sys, "Rossi Srl", "rossi.it", directory.DomainOptions{}))
	must(dir.AddDomain(sys, "Rossi Srl", "verdi.it", directory.DomainOptions{}))
	must(dir.AddDomain(sys, "Bianchi SpA", "bianchi.it", directory.DomainOptions{}))
	must(nil, dir.SetContractCap(sys, "Rossi Srl", "Business Mail 100 MB", 3))
	for _, a := range []string{"mario@rossi.it", "anna@verdi.it", "luca@bianchi.it"} {
		must(dir.CreateAccount(sys, directory.AccountSpec{Address: a, Password: pw, COS: "Business Mail 100 MB"}))
	}
	must(dir.AddAlias(sys, "info@rossi.it", "mario@rossi.it"))
	must(dir.CreateList(sys, directory.ListSpec{Address: "tutti@rossi.it"}))
	must(nil, dir.AddListMember(sys, "tutti@rossi.it", "mario@rossi.it"))
	for _, ad := range []directory.AdminSpec{
		{Email: "boss@provider.test", Password: pw, Role: directory.RoleProvider},
		{Email: "admin@rossi.it", Password: pw, Role: directory.RoleTenantAdmin, Tenant: "Rossi Srl"},
		{Email: "dom@rossi.it", Password: pw, Role: directory.RoleDomainAdmin, Tenant: "Rossi Srl", Domains: []string{"rossi.it"}},
		{Email: "admin@bianchi.it", Password: pw, Role: directory.RoleTenantAdmin, Tenant: "Bianchi SpA"},
	} {
		must(dir.CreateAdmin(sys, ad))
	}
	web := webauth.New(d, dir, auth.NewThrottle(auth.ThrottleConfig{FreeAttempts: 100}, nil), webauth.Options{})
	b, err := blob.Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	q := queue.New(d, b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := mailstore.New(d, b, changes.New(), mailstore.Options{Logger: log})
	t.Cleanup(func() { store.Close() })
	mig := migrate.New(d, dir, store, migrate.Options{KeyFile: filepath.Join(t.TempDir(), migrate.KeyFileName), Logger: log})
	a := api.New(dir, web, q, api.Options{Hostname: "mail.provider.test", Logger: log, Migrate: mig})
	srv := httptest.NewTLSServer(a)
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, dir: dir, api: a, q: q}
}

// with is f served by an API made with opts (Hostname and Logger filled in) and a fresh
// webauth service on the same database.
func (f *fixture) with(d *db.DB, opts api.Options) *fixture {
	opts.Hostname, opts.Logger = "mail.provider.test", slog.New(slog.NewTextHandler(io.Discard, nil))
	web := webauth.New(d, f.dir, auth.NewThrottle(auth.ThrottleConfig{FreeAttempts: 100}, nil), webauth.Options{})
	a := api.New(f.dir, web, f.q, opts)
	srv := httptest.NewTLSServer(a)
	f.t.Cleanup(srv.Close)
	return &fixture{t: f.t, srv: srv, dir: f.dir, api: a, q: f.q}
}

// session is a logged-in console client.
type session struct {
	f      *fixture
	cookie *http.Cookie
	csrf   string
	bearer string
}

func (f *fixture) login(email string) *session {
	f.t.Helper()
	st, body, hdr := f.raw("POST", "/api/v1/session", nil, `{"email":"`+email+`","password":"`+pw+`"}`, "")
	if st != 200 {
		f.t.Fatalf("login %s: %d %s", email, st, body)
	}
	var info struct{ CSRF string }
	json.Unmarshal([]byte(body), &info)
	resp := http.Response{Header: hdr}
	return &session{f: f, cookie: resp.Cookies()[0], csrf: info.CSRF}
}

func (f *fixture) raw(method, path string, s *session, body, csrf string) (int, string, http.Header) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if s != nil && s.cookie != nil {
		req.AddCookie(s.cookie)
	}
	if s != nil && s.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+s.bearer)
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (s *session) do(method, path, body string) (int, string) {
	st, b, _ := s.f.raw(method, path, s, body, s.csrf)
	return st, b
}

func problemType(body string) string {
	var p struct{ Type, Field string }
	json.Unmarshal([]byte(body), &p)
	return strings.TrimPrefix(p.Type, api.ProblemBase)
}

func TestRulesAndErrors(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		admin := f.login("admin@rossi.it")
		tests := []struct {
			name, method, path, body string
			status                   int
			problem                  string
		}{
			{"create an account", "POST", "/api/v1/accounts", `{"address":"giulia@rossi.it","password":"` + pw + `","cos":"Business Mail 100 MB"}`, 201, ""},
			{"the cap of 3 is reached", "POST", "/api/v1/accounts", `{"address":"paolo@rossi.it","password":"` + pw + `","cos":"Business Mail 100 MB"}`, 409, "contract-cap-exceeded"},
			{"address taken by an alias", "POST", "/api/v1/accounts", `{"address":"info@rossi.it","password":"` + pw + `","cos":"Business Mail 200 MB"}`, 409, "address-taken"},
			{"domain of another tenant", "POST", "/api/v1/accounts", `{"address":"x@bianchi.it","password":"` + pw + `","cos":"Business Mail 200 MB"}`, 422, ""},
			{"unknown COS", "POST", "/api/v1/accounts", `{"address":"y@rossi.it","password":"` + pw + `","cos":"Gold"}`, 422, "unknown-cos"},
			{"weak password", "POST", "/api/v1/accounts", `{"address":"z@rossi.it","password":"short","cos":"Business Mail 200 MB"}`, 422, "weak-password"},
			{"invalid address", "POST", "/api/v1/aliases", `{"address":"not an address","account":"mario@rossi.it"}`, 422, "invalid-address"},
			{"unknown field", "POST", "/api/v1/aliases", `{"address":"a@rossi.it","account":"mario@rossi.it","extra":1}`, 400, "malformed-request"},
			{"broken JSON", "POST", "/api/v1/aliases", `{"address":`, 400, "malformed-request"},
			{"wrong type", "PATCH", "/api/v1/accounts/mario@rossi.it", `{"status":7}`, 400, "malformed-request"},
			{"preview a COS change", "GET", "/api/v1/accounts/mario@rossi.it/cos-change?cos=Business%20Mail%20Plus%20500%20MB", "", 200, ""},
			{"preview needs a COS", "GET", "/api/v1/accounts/mario@rossi.it/cos-change", "", 422, "invalid-argument"},
			{"list loop", "POST", "/api/v1/lists/tutti@rossi.it/members", `{"member":"tutti@rossi.it"}`, 409, "list-loop"},
			{"bad paging", "GET", "/api/v1/accounts?limit=-4", "", 422, "invalid-argument"},
			{"no such endpoint", "GET", "/api/v1/nothing", "", 404, "not-found"},
			{"tenant admins cannot create tenants", "POST", "/api/v1/tenants", `{"name":"X","contact_email":"a@x.test","contract":"payg"}`, 403, "forbidden"},
		}
		for _, tt := range tests {
			st, body := admin.do(tt.method, tt.path, tt.body)
			if st != tt.status || (tt.problem != "" && problemType(body) != tt.problem) {
				t.Errorf("%s: %d %s, want %d %s", tt.name, st, body, tt.status, tt.problem)
			}
		}
		// A change without the CSRF token, and a request without a session.
		if st, body, _ := f.raw("DELETE", "/api/v1/aliases/info@rossi.it", admin, "", ""); st != 403 || problemType(body) != "csrf" {
			t.Errorf("no CSRF: %d %s", st, body)
		}
		if st, body, hdr := f.raw("GET", "/api/v1/accounts", nil, "", ""); st != 401 || problemType(body) != "unauthenticated" || hdr.Get("Content-Type") != "application/problem+json" {
			t.Errorf("no session: %d %s", st, body)
		}
		if st, body, _ := f.raw("POST", "/api/v1/session", nil, `{"email":"admin@rossi.it","password":"wrong-password-1"}`, ""); st != 401 || problemType(body) != "invalid-credentials" {
			t.Errorf("bad login: %d %s", st, body)
		}
		// Tokens: read-only ones cannot change; the secret is shown once.
		st, body := admin.do("POST", "/api/v1/tokens", `{"name":"monitoring","scopes":["read"]}`)
		var tok struct{ Token string }
		json.Unmarshal([]byte(body), &tok)
		if st != 201 || !strings.HasPrefix(tok.Token, "posta_") {
			t.Fatalf("token: %d %s", st, body)
		}
		ro := &session{f: f, bearer: tok.Token}
		if st, _ := ro.do("GET", "/api/v1/accounts?domain=rossi.it", ""); st != 200 {
			t.Errorf("read token GET: %d", st)
		}
		if st, body := ro.do("DELETE", "/api/v1/aliases/info@rossi.it", ""); st != 403 || problemType(body) != "insufficient-scope" {
			t.Errorf("read token DELETE: %d %s", st, body)
		}
		if _, body := admin.do("GET", "/api/v1/tokens", ""); strings.Contains(body, tok.Token) {
			t.Error("token secret listed")
		}
		// Nothing half-applied: the refused creations left no account.
		if _, body := admin.do("GET", "/api/v1/accounts?domain=rossi.it", ""); !strings.Contains(body, `"total": 2`) {
			t.Errorf("accounts of rossi.it: %s", body)
		}
		// The audit log has the creation, with who and from where.
		if _, body := admin.do("GET", "/api/v1/audit?limit=5", ""); !strings.Contains(body, `"account.create"`) || !strings.Contains(body, `"admin@rossi.it"`) {
			t.Errorf("audit: %s", body)
		}
		// Log out: the cookie no longer works.
		admin.do("DELETE", "/api/v1/session", "")
		if st, _ := admin.do("GET", "/api/v1/accounts", ""); st != 401 {
			t.Errorf("after logout: %d", st)
		}
	})
}

func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	f := setup(t, dbtest.Open(t, dbtest.DSN(t, "sqlite")))
	st, body, _ := f.raw("GET", "/api/v1/openapi.json", nil, "", "")
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	var doc struct {
		OpenAPI    string
		Paths      map[string]map[string]json.RawMessage
		Components struct{ Schemas map[string]json.RawMessage }
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("document: %v", err)
	}
	// Every $ref points at a schema.
	for _, ref := range strings.Split(body, `"$ref": "#/components/schemas/`)[1:] {
		name := ref[:strings.IndexByte(ref, '"')]
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("dangling $ref %s", name)
		}
	}
	// Every documented operation is served: an unauthenticated call gets 401 (or succeeds for
	// public ones), never the catch-all 404 or a 405.
	n := 0
	for path, ops := range doc.Paths {
		for method := range ops {
			n++
			p := strings.NewReplacer("{tenant}", "Rossi%20Srl", "{cos}", "x", "{domain}", "rossi.it", "{address}", "mario@rossi.it", "{member}", "x@y.z", "{email}", "a@b.c", "{id}", "1").Replace(path)
			st, body, _ := f.raw(strings.ToUpper(method), p, nil, "", "")
			if st == 404 || st == 405 {
				t.Errorf("%s %s documented but answers %d %s", method, path, st, body)
			}
		}
	}
	if want := len(f.api.Document()["paths"].(map[string]any)); len(doc.Paths) != want || n < 40 {
		t.Errorf("%d paths and %d operations documented", len(doc.Paths), n)
	}
	// And an undocumented one is not.
	if st, _, _ := f.raw("GET", "/api/v1/secret-admin", nil, "", ""); st != 404 {
		t.Errorf("undocumented path answers %d", st)
	}
}

// TestIsolationMatrix calls every route as every role and checks who may do what. Tenant B's
// administrator must never see or change anything of tenant A.
func TestIsolationMatrix(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		roles := []string{"boss@provider.test", "admin@rossi.it", "dom@rossi.it", "admin@bianchi.it", "mario@rossi.it"}
		sessions := map[string]*session{}
		for _, r := range roles {
			sessions[r] = f.login(r)
		}
		type call struct {
			method, path, body string
			// allowed per role: provider, tenant A admin, domain admin of rossi.it, tenant B
			// admin, mario (a mailbox user of tenant A, self-service)
			allowed [5]bool
			// once: a change that can succeed only once; the refused roles try it first, then
			// one allowed role does it
			once bool
			// leak, for reads every role may make: a name of tenant A that tenant B's answer
			// must not contain
			leak string
		}
		acct := func(a string) string {
			return `{"address":"` + a + `","password":"` + pw + `","cos":"Business Mail 200 MB"}`
		}
		mig := func(a string) string {
			return `{"address":"` + a + `","source_host":"imap.old.test","source_user":"u","source_password":"p"}`
		}
		st, body := sessions["boss@provider.test"].do("POST", "/api/v1/migrations", mig("mario@rossi.it"))
		var job struct{ ID int64 }
		if err := json.Unmarshal([]byte(body), &job); st != 201 || err != nil {
			t.Fatalf("create migration: %d %s", st, body)
		}
		jobPath := fmt.Sprintf("/api/v1/migrations/%d", job.ID)
		calls := []call{
			{method: "GET", path: "/api/v1/tenants", allowed: [5]bool{true, true, true, true, false}, leak: "Rossi"},
			{method: "GET", path: "/api/v1/tenants/Rossi%20Srl", allowed: [5]bool{true, true, true, false, false}},
			{method: "PATCH", path: "/api/v1/tenants/Rossi%20Srl", body: `{"contact_email":"new@rossi.it"}`, allowed: [5]bool{true, false, false, false, false}},
			{method: "GET", path: "/api/v1/tenants/Rossi%20Srl/usage", allowed: [5]bool{true, true, true, false, false}},
			{method: "GET", path: "/api/v1/tenants/Rossi%20Srl/storage", allowed: [5]bool{true, true, true, false, false}},
			{method: "PUT", path: "/api/v1/tenants/Rossi%20Srl/caps/Business%20Mail%20200%20MB", body: `{"max":50}`, allowed: [5]bool{true, false, false, false, false}},
			{method: "GET", path: "/api/v1/domains", allowed: [5]bool{true, true, true, true, false}, leak: "rossi.it"},
			{method: "GET", path: "/api/v1/domains/verdi.it", allowed: [5]bool{true, true, false, false, false}},
			{method: "GET", path: "/api/v1/domains/rossi.it", allowed: [5]bool{true, true, true, false, false}},
			{method: "GET", path: "/api/v1/accounts", allowed: [5]bool{true, true, true, true, false}, leak: "rossi.it"},
			{method: "GET", path: "/api/v1/accounts/anna@verdi.it", allowed: [5]bool{true, true, false, false, false}},
			{method: "GET", path: "/api/v1/accounts/mario@rossi.it", allowed: [5]bool{true, true, true, false, true}},
			{method: "PATCH", path: "/api/v1/accounts/mario@rossi.it", body: `{"display_name":"M"}`, allowed: [5]bool{true, true, true, false, true}},
			{method: "PATCH", path: "/api/v1/accounts/anna@verdi.it", body: `{"display_name":"A"}`, allowed: [5]bool{true, true, false, false, false}},
			{method: "POST", path: "/api/v1/accounts/mario@rossi.it/password", body: `{"password":"Another-Password-77"}`, allowed: [5]bool{true, true, true, false, true}},
			{method: "GET", path: "/api/v1/me", allowed: [5]bool{false, false, false, false, true}},
			{method: "PATCH", path: "/api/v1/me", body: `{"auto_reply":true,"auto_reply_subject":"Away"}`, allowed: [5]bool{false, false, false, false, true}},
			{method: "GET", path: "/api/v1/me/app-passwords", allowed: [5]bool{false, false, false, false, true}},
			{method: "POST", path: "/api/v1/me/app-passwords", body: `{"name":"phone"}`, allowed: [5]bool{false, false, false, false, true}},
			{method: "POST", path: "/api/v1/tokens", body: `{"name":"x"}`, allowed: [5]bool{true, true, true, true, false}},
			{method: "PATCH", path: "/api/v1/accounts/mario@rossi.it", body: `{"cos":"Business Mail 200 MB"}`, allowed: [5]bool{true, true, true, false, false}},
			{method: "GET", path: "/api/v1/accounts/mario@rossi.it/cos-change?cos=Business%20Mail%20200%20MB", allowed: [5]bool{true, true, true, false, true}},
			{method: "POST", path: "/api/v1/accounts", body: acct("new1@verdi.it"), allowed: [5]bool{true, true, false, false, false}, once: true},
			{method: "POST", path: "/api/v1/accounts", body: acct("new2@rossi.it"), allowed: [5]bool{true, true, true, false, false}, once: true},
			{method: "GET", path: "/api/v1/aliases", allowed: [5]bool{true, true, true, true, false}, leak: "info@rossi.it"},
			{method: "POST", path: "/api/v1/aliases", body: `{"address":"sales@verdi.it","account":"anna@verdi.it"}`, allowed: [5]bool{true, true, false, false, false}, once: true},
			{method: "GET", path: "/api/v1/lists", allowed: [5]bool{true, true, true, true, false}, leak: "tutti@rossi.it"},
			{method: "GET", path: "/api/v1/lists/tutti@rossi.it", allowed: [5]bool{true, true, true, false, false}},
			{method: "POST", path: "/api/v1/lists/tutti@rossi.it/members", body: `{"member":"ext@example.org"}`, allowed: [5]bool{true, true, true, false, false}, once: true},
			{method: "DELETE", path: "/api/v1/lists/tutti@rossi.it/members/ext@example.org", allowed: [5]bool{true, true, true, false, false}, once: true},
			{method: "GET", path: "/api/v1/admins", allowed: [5]bool{true, true, false, true, false}, leak: "admin@rossi.it"},
			{method: "GET", path: "/api/v1/audit?tenant=Rossi%20Srl", allowed: [5]bool{true, true, false, false, false}},
			{method: "GET", path: "/api/v1/audit", allowed: [5]bool{true, true, false, true, false}, leak: "rossi.it"},
			{method: "GET", path: "/api/v1/queue", allowed: [5]bool{true, false, false, false, false}},
			{method: "GET", path: "/api/v1/trace?q=mario@rossi.it", allowed: [5]bool{true, false, false, false, false}},
			{method: "GET", path: "/api/v1/migrations", allowed: [5]bool{true, true, true, true, false}, leak: "mario@rossi.it"},
			{method: "GET", path: "/api/v1/migrations?tenant=Rossi%20Srl", allowed: [5]bool{true, true, true, false, false}},
			{method: "POST", path: "/api/v1/migrations", body: mig("mario@rossi.it"), allowed: [5]bool{true, true, true, false, false}},
			{method: "POST", path: "/api/v1/migrations", body: mig("anna@verdi.it"), allowed: [5]bool{true, true, false, false, false}},
			{method: "GET", path: jobPath, allowed: [5]bool{true, true, true, false, false}},
			{method: "GET", path: jobPath + "/report", allowed: [5]bool{true, true, true, false, false}},
			{method: "GET", path: jobPath + "/report?format=csv", allowed: [5]bool{true, true, true, false, false}},
			{method: "POST", path: jobPath + "/cancel", allowed: [5]bool{true, true, true, false, false}, once: true},
			{method: "DELETE", path: "/api/v1/aliases/info@rossi.it", allowed: [5]bool{true, true, true, false, false}, once: true},
			{method: "DELETE", path: "/api/v1/accounts/anna@verdi.it", allowed: [5]bool{true, true, false, false, false}, once: true},
		}
		for _, c := range calls {
			order := []int{0, 1, 2, 3, 4}
			if c.once {
				order = nil
				for i := range roles {
					if !c.allowed[i] {
						order = append(order, i)
					}
				}
				for i := range roles {
					if c.allowed[i] {
						order = append(order, i)
						break
					}
				}
			}
			for _, i := range order {
				role := roles[i]
				st, body := sessions[role].do(c.method, c.path, c.body)
				ok := st >= 200 && st < 300
				switch {
				case c.allowed[i] && !ok:
					t.Errorf("%s %s as %s: %d %s, want success", c.method, c.path, role, st, body)
				case !c.allowed[i] && ok:
					t.Errorf("%s %s as %s: %d %s, want refusal", c.method, c.path, role, st, body)
				case !ok && st != 403 && st != 404 && st != 422:
					t.Errorf("%s %s as %s: %d %s, want 403, 404 or 422", c.method, c.path, role, st, body)
				}
				if (role == "admin@bianchi.it" || role == "mario@rossi.it") && c.leak != "" && strings.Contains(body, c.leak) {
					t.Errorf("%s %s as %s leaks %q: %s", c.method, c.path, role, c.leak, body)
				}
				if role == "dom@rossi.it" && ok && c.method == "GET" && strings.Contains(body, "verdi.it") {
					t.Errorf("%s %s as the domain admin of rossi.it shows verdi.it: %s", c.method, c.path, body)
				}
			}
		}
		// Guessing ids or names of tenant A as tenant B gives the same answer as a name that
		// does not exist.
		b := sessions["admin@bianchi.it"]
		for _, pair := range [][2]string{{jobPath, "/api/v1/migrations/99999"}, {"/api/v1/accounts/mario@rossi.it", "/api/v1/accounts/nobody@nowhere.it"}, {"/api/v1/tenants/1", "/api/v1/tenants/999"}, {"/api/v1/lists/tutti@rossi.it", "/api/v1/lists/none@nowhere.it"}} {
			st1, b1 := b.do("GET", pair[0], "")
			st2, b2 := b.do("GET", pair[1], "")
			if st1 != st2 || problemType(b1) != problemType(b2) {
				t.Errorf("existence leak: %s → %d %s; %s → %d %s", pair[0], st1, b1, pair[1], st2, b2)
			}
		}
	})
}

func TestSelfServiceAndAppPasswords(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		me := f.login("mario@rossi.it")
		if st, body := me.do("GET", "/api/v1/me", ""); st != 200 || !strings.Contains(body, `"address": "mario@rossi.it"`) {
			t.Fatalf("me: %d %s", st, body)
		}
		if st, body := me.do("PATCH", "/api/v1/me", `{"forward_to":["mario@example.org"],"forward_keep":true}`); st != 200 || !strings.Contains(body, "mario@example.org") {
			t.Fatalf("forwarding: %d %s", st, body)
		}
		if st, body := me.do("PATCH", "/api/v1/me", `{"cos":"Business Mail 200 MB"}`); st != 400 {
			t.Fatalf("a user changing its COS through /me: %d %s", st, body)
		}
		st, body := me.do("POST", "/api/v1/me/app-passwords", `{"name":"Thunderbird"}`)
		var ap struct {
			Password string
			ID       int64
		}
		json.Unmarshal([]byte(body), &ap)
		if st != 201 || len(ap.Password) < 16 {
			t.Fatalf("app password: %d %s", st, body)
		}
		ctx := context.Background()
		if acc, err := f.dir.Authenticate(ctx, "mario@rossi.it", ap.Password); err != nil || acc.Address != "mario@rossi.it" {
			t.Fatalf("mail login with the app password: %v", err)
		}
		if st, body := me.do("GET", "/api/v1/me/app-passwords", ""); st != 200 || strings.Contains(body, ap.Password) || !strings.Contains(body, "Thunderbird") {
			t.Fatalf("list: %d %s", st, body)
		}
		if st, _ := me.do("DELETE", fmt.Sprintf("/api/v1/me/app-passwords/%d", ap.ID), ""); st != 204 {
			t.Fatalf("revoke: %d", st)
		}
		if _, err := f.dir.Authenticate(ctx, "mario@rossi.it", ap.Password); err == nil {
			t.Fatal("a revoked app password still logs in")
		}
		if st, body := me.do("POST", "/api/v1/me/password", `{"password":"short"}`); st != 422 || problemType(body) != "weak-password" {
			t.Fatalf("weak password: %d %s", st, body)
		}
		if st, _ := me.do("POST", "/api/v1/me/password", `{"password":"Correct-Battery-Staple-7"}`); st != 204 {
			t.Fatalf("password change: %d", st)
		}
		if _, err := f.dir.Authenticate(ctx, "mario@rossi.it", "Correct-Battery-Staple-7"); err != nil {
			t.Fatalf("login with the new password: %v", err)
		}
		// Another user's app passwords are out of reach, and admins use tokens, not /me.
		admin := f.login("admin@rossi.it")
		if st, body := admin.do("GET", "/api/v1/me", ""); st != 403 {
			t.Fatalf("admin on /me: %d %s", st, body)
		}
		if st, body := me.do("POST", "/api/v1/tokens", `{"name":"x"}`); st != 403 {
			t.Fatalf("user creating an API token: %d %s", st, body)
		}
	})
}

func TestQueueControl(t *testing.T) {
	f := setup(t, dbtest.Open(t, dbtest.DSN(t, "sqlite")))
	ctx := context.Background()
	if err := f.q.Enqueue(ctx, "mario@rossi.it", []string{"x@example.org"}, []byte("Message-ID: <q1@rossi.it>\r\n\r\nhi\r\n"), 0); err != nil {
		t.Fatal(err)
	}
	boss := f.login("boss@provider.test")
	st, body := boss.do("GET", "/api/v1/queue", "")
	var es []struct{ ID int64 }
	json.Unmarshal([]byte(body), &es)
	if st != 200 || len(es) != 1 {
		t.Fatalf("queue: %d %s", st, body)
	}
	id := fmt.Sprint(es[0].ID)
	for _, step := range []struct {
		method, path, body, want string
		status                   int
	}{
		{"POST", "/hold", `{"reason":"suspicious"}`, "", 204},
		{"GET", "", "", `"hold_reason": "suspicious"`, 200},
		{"POST", "/release", "", "", 204},
		{"POST", "/retry", "", "", 204},
		{"DELETE", "", "", "", 204},
		{"GET", "", "", "not-found", 404},
	} {
		st, body := boss.do(step.method, "/api/v1/queue/"+id+step.path, step.body)
		if st != step.status || !strings.Contains(body, step.want) {
			t.Errorf("%s %s: %d %s", step.method, step.path, st, body)
		}
	}
	if st, body := boss.do("GET", "/api/v1/trace?q=q1@rossi.it", ""); st != 200 || !strings.Contains(body, `"status": "deleted"`) || !strings.Contains(body, "boss@provider.test") {
		t.Errorf("trace: %d %s", st, body)
	}
}
