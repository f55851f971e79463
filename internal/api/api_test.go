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
	"github.com/postamail/posta/internal/pim"
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
	mig *migrate.Service
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
	a := api.New(dir, web, q, api.Options{Hostname: "mail.provider.test", Logger: log, PIM: pim.New(d, dir), Migrate: mig})
	srv := httptest.NewTLSServer(a)
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, dir: dir, api: a, q: q, mig: mig}
}

// with is f served by an API made with opts (Hostname and Logger filled in) and a fresh
// webauth service on the same database.
func (f *fixture) with(d *db.DB, opts api.Options) *fixture {
	opts.Hostname, opts.Logger = "mail.provider.test", slog.New(slog.NewTextHandler(io.Discard, nil))
	if opts.PIM == nil {
		opts.PIM = pim.New(d, f.dir)
	}
	if opts.Migrate == nil {
		opts.Migrate = f.mig
	}
	web := webauth.New(d, f.dir, auth.NewThrottle(auth.ThrottleConfig{FreeAttempts: 100}, nil), webauth.Options{})
	a := api.New(f.dir, web, f.q, opts)
	srv := httptest.NewTLSServer(a)
	f.t.Cleanup(srv.Close)
	return &fixture{t: f.t, srv: srv, dir: f.dir, api: a, q: f.q, mig: f.mig}
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
	switch {
	case strings.HasPrefix(body, "BEGIN:VCARD"):
		req.Header.Set("Content-Type", "text/vcard")
	case strings.HasPrefix(body, "BEGIN:VCALENDAR"):
		req.Header.Set("Content-Type", "text/calendar")
	case body != "":
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

const (
	vcardBody = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:ada-1\r\nFN:Ada Lovelace\r\nEMAIL:ada@example.org\r\nEND:VCARD\r\n"
	icsBody   = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:ev-1\r\nDTSTAMP:20261201T000000Z\r\nDTSTART;TZID=Europe/Rome:20261203T100000\r\nDURATION:PT1H\r\nSUMMARY:Riunione\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)

func TestContactsAndCalendars(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		me := f.login("mario@rossi.it")
		st, body := me.do("POST", "/api/v1/accounts/mario@rossi.it/contacts", vcardBody+"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:No end\r\n")
		if st != 200 || !strings.Contains(body, `"imported": 1`) || !strings.Contains(body, `"line": 7`) || !strings.Contains(body, "BEGIN:VCARD without END:VCARD") {
			t.Fatalf("import: %d %s", st, body)
		}
		if st, body := me.do("POST", "/api/v1/accounts/mario@rossi.it/contacts", vcardBody); st != 200 || !strings.Contains(body, `"skipped": 1`) || !strings.Contains(body, `"collection": "Contacts"`) {
			t.Fatalf("again: %d %s", st, body)
		}
		if st, body := me.do("GET", "/api/v1/accounts/mario@rossi.it/contacts?q=LOVELACE", ""); st != 200 || !strings.Contains(body, `"emails": [`) || !strings.Contains(body, "ada@example.org") {
			t.Fatalf("list: %d %s", st, body)
		}
		if st, body := me.do("GET", "/api/v1/accounts/mario@rossi.it/contacts/export", ""); st != 200 || body != vcardBody {
			t.Fatalf("export: %d %q", st, body)
		}
		if st, body := me.do("POST", "/api/v1/accounts/mario@rossi.it/calendars/objects?calendar=Lavoro", icsBody); st != 200 || !strings.Contains(body, `"imported": 1`) || !strings.Contains(body, `"collection": "Lavoro"`) {
			t.Fatalf("calendar import: %d %s", st, body)
		}
		if st, body := me.do("GET", "/api/v1/accounts/mario@rossi.it/calendars/objects?from=2026-12-03T09:30:00Z&to=2026-12-04", ""); st != 200 || !strings.Contains(body, `"start": "2026-12-03T09:00:00Z"`) || !strings.Contains(body, `"end": "2026-12-03T10:00:00Z"`) {
			t.Fatalf("range: %d %s", st, body)
		}
		if st, body := me.do("GET", "/api/v1/accounts/mario@rossi.it/calendars/objects?from=2026-12-03T10:00:00Z", ""); st != 200 || strings.TrimSpace(body) != "[]" {
			t.Fatalf("after the event: %d %s", st, body)
		}
		if st, body, hdr := f.raw("GET", "/api/v1/accounts/mario@rossi.it/calendars/export?calendar=Lavoro", me, "", ""); st != 200 || body != icsBody || !strings.HasPrefix(hdr.Get("Content-Type"), "text/calendar") {
			t.Fatalf("calendar export: %d %q", st, body)
		}
		if st, body := me.do("GET", "/api/v1/accounts/mario@rossi.it/calendars/export?calendar=Nessuno", ""); st != 404 {
			t.Fatalf("export of a missing calendar: %d %s", st, body)
		}
		if st, body := me.do("GET", "/api/v1/accounts/mario@rossi.it/calendars", ""); st != 200 || !strings.Contains(body, `"name": "Calendar"`) || !strings.Contains(body, `"name": "Lavoro"`) {
			t.Fatalf("calendars: %d %s", st, body)
		}
		tests := []struct {
			name, method, path, body, contentType string
			status                                int
			problem                               string
		}{
			{"JSON is not a vCard", "POST", "/api/v1/accounts/mario@rossi.it/contacts", `{"fn":"x"}`, "application/json", 400, "malformed-request"},
			{"nothing valid", "POST", "/api/v1/accounts/mario@rossi.it/contacts", "BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n", "text/vcard", 422, "invalid-vcard"},
			{"a vCard as a calendar", "POST", "/api/v1/accounts/mario@rossi.it/calendars/objects", vcardBody, "text/calendar", 422, "invalid-icalendar"},
			{"bad book name", "POST", "/api/v1/accounts/mario@rossi.it/contacts?book=a/b", vcardBody, "text/vcard", 422, "invalid-argument"},
			{"bad date", "GET", "/api/v1/accounts/mario@rossi.it/calendars/objects?from=tomorrow", "", "", 422, "invalid-argument"},
			{"reversed range", "GET", "/api/v1/accounts/mario@rossi.it/calendars/objects?from=2026-12-05&to=2026-12-01", "", "", 422, "invalid-argument"},
			{"unknown account", "GET", "/api/v1/accounts/nobody@rossi.it/contacts", "", "", 404, "not-found"},
		}
		for _, tt := range tests {
			req, _ := http.NewRequest(tt.method, f.srv.URL+tt.path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			req.AddCookie(me.cookie)
			req.Header.Set("X-CSRF-Token", me.csrf)
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || problemType(string(b)) != tt.problem {
				t.Errorf("%s: %d %s, want %d %s", tt.name, resp.StatusCode, b, tt.status, tt.problem)
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

func TestTenantDMARCRule(t *testing.T) {
	f := setup(t, dbtest.Open(t, dbtest.DSN(t, "sqlite")))
	boss := f.login("boss@provider.test")
	if st, body := boss.do("GET", "/api/v1/tenants/Rossi%20Srl", ""); st != 200 || !strings.Contains(body, `"reject_dmarc": true`) {
		t.Fatalf("default: %d %s", st, body)
	}
	if st, body := boss.do("PATCH", "/api/v1/tenants/Rossi%20Srl", `{"reject_dmarc":false}`); st != 200 || !strings.Contains(body, `"reject_dmarc": false`) {
		t.Fatalf("patch: %d %s", st, body)
	}
	if st, body := boss.do("PATCH", "/api/v1/tenants/Rossi%20Srl", `{"reject_dmarc":"no"}`); st != 400 || !strings.Contains(body, "malformed-request") {
		t.Fatalf("bad value: %d %s", st, body)
	}
	if st, body := boss.do("GET", "/api/v1/tenants/Rossi%20Srl", ""); st != 200 || !strings.Contains(body, `"reject_dmarc": false`) || !strings.Contains(body, `"contact_email"`) {
		t.Fatalf("after: %d %s", st, body)
	}
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
	if err := f.q.RecordAttempt(ctx, es[0].ID, queue.Attempt{At: 1, Host: "127.0.0.1:25", Policy: "mta-sts-enforce", TLSResult: "failed: x509: certificate has expired", Code: 451,
		Response: "451 4.7.5 mta-sts-enforce policy: x509: certificate has expired"}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		method, path, body, want string
		status                   int
	}{
		{"GET", "", "", `"policy": "mta-sts-enforce",
      "tls_result": "failed: x509: certificate has expired"`, 200},
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
