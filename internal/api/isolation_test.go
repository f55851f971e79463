package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/api"
	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/billing"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
)

// matrixRoles are the roles of the isolation matrix, in the order of call.allowed.
var matrixRoles = []string{"boss@provider.test", "admin@rossi.it", "dom@rossi.it", "admin@bianchi.it", "mario@rossi.it"}

// matrixCall is one request of the isolation matrix.
type matrixCall struct {
	method, path, body string
	// ctype: the body's media type when it is not JSON (a spreadsheet)
	ctype string
	// allowed per role: provider, tenant A admin, domain admin of rossi.it, tenant B admin,
	// mario (a mailbox user of tenant A, self-service)
	allowed [5]bool
	// once: a change that can succeed only once; the refused roles try it first, then the
	// first allowed role does it
	once bool
	// fresh: each role makes the call from a new login (logging out)
	fresh bool
	// leak, for reads tenant B may make: a name of tenant A that its answer must not contain
	leak string
}

var (
	all      = [5]bool{true, true, true, true, true}
	admins   = [5]bool{true, true, true, true, false}
	provider = [5]bool{true, false, false, false, false}
	tenantA  = [5]bool{true, true, false, false, false}
	domainA  = [5]bool{true, true, true, false, false}
	userOnly = [5]bool{false, false, false, false, true}
	readA    = [5]bool{true, true, true, false, false}
	adminsAB = [5]bool{true, true, false, true, false}
	nobody   = [5]bool{}
)

// TestIsolationMatrix calls every route of the API's route table as every role and checks who
// may do what. A route without an entry fails the test, so a new route needs one. Tenant B's
// administrator must never read, list, count or change anything of tenant A, also by guessing
// names or numeric ids.
func TestIsolationMatrix(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		base := setup(t, d)
		f := base.with(d, api.Options{Billing: billing.New(d, base.dir, billing.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})})
		ctx := context.Background()
		sys := directory.WithActor(ctx, directory.SystemActor("test"))
		if err := f.q.Enqueue(ctx, "mario@rossi.it", []string{"x@example.org"}, []byte("Message-ID: <m1@rossi.it>\r\n\r\nhi\r\n"), 0); err != nil {
			t.Fatal(err)
		}
		es, err := f.q.List(ctx, 10)
		if err != nil || len(es) != 1 {
			t.Fatalf("queue: %v %v", es, err)
		}
		qid := fmt.Sprint(es[0].ID)
		sessions := map[string]*session{}
		for _, r := range matrixRoles {
			sessions[r] = f.login(r)
		}
		totpSecret := auth.NewTOTPSecret()
		totpCode := func() string { c, _ := auth.TOTPCode(totpSecret, time.Now()); return c }
		acct := func(a string) string {
			return `{"address":"` + a + `","password":"` + pw + `","cos":"Business Mail 200 MB"}`
		}
		csv := "address;cos\r\nmatrix@rossi.it;Business Mail 200 MB\r\n"
		mig := func(a string) string {
			return `{"address":"` + a + `","source_host":"imap.old.test","source_user":"u","source_password":"p"}`
		}
		st, body := sessions["boss@provider.test"].do("POST", "/api/v1/migrations", mig("mario@rossi.it"))
		var job struct{ ID int64 }
		if err := json.Unmarshal([]byte(body), &job); st != 201 || err != nil {
			t.Fatalf("create migration: %d %s", st, body)
		}
		jobPath := fmt.Sprintf("/api/v1/migrations/%d", job.ID)
		migCSV := "source_host;source_user;source_password;address\r\nimap.old.test;u;p;mario@rossi.it\r\n"
		A, B := "/api/v1/tenants/Rossi%20Srl", "/api/v1/billing/tenants/Rossi%20Srl"
		calls := []matrixCall{
			// Session and the administrator's own second factor.
			{method: "GET", path: "/api/v1/session", allowed: all},
			{method: "DELETE", path: "/api/v1/session", allowed: all, fresh: true},
			{method: "GET", path: "/api/v1/session/totp", allowed: admins},
			{method: "POST", path: "/api/v1/session/totp/secret", allowed: admins},
			{method: "GET", path: "/api/v1/totp-policy", allowed: admins},
			{method: "PUT", path: "/api/v1/totp-policy", body: `{"required":false}`, allowed: provider},
			{method: "PUT", path: A + "/totp-policy", body: `{"required":false}`, allowed: tenantA},
			{method: "PUT", path: "/api/v1/tenants/1/totp-policy", body: `{"required":false}`, allowed: tenantA},

			// Tenants.
			{method: "GET", path: "/api/v1/tenants", allowed: admins, leak: "Rossi"},
			{method: "POST", path: "/api/v1/tenants", body: `{"name":"Nuovo Srl","contact_email":"it@nuovo.test","contract":"payg"}`, allowed: provider, once: true},
			{method: "GET", path: A, allowed: readA},
			{method: "GET", path: "/api/v1/tenants/1", allowed: readA},
			{method: "PATCH", path: A, body: `{"contact_email":"new@rossi.it"}`, allowed: provider},
			{method: "GET", path: A + "/usage", allowed: readA},
			{method: "GET", path: A + "/storage", allowed: readA},
			{method: "PUT", path: A + "/caps/Business%20Mail%20200%20MB", body: `{"max":50}`, allowed: provider},

			// Provisioning.
			{method: "GET", path: A + "/provision/template?format=csv", allowed: readA},
			{method: "GET", path: A + "/provision/export?format=csv", allowed: readA},
			{method: "POST", path: A + "/provision?dry_run=1", body: csv, ctype: "text/csv", allowed: readA},
			{method: "POST", path: A + "/provision", body: "address;cos\r\nprov@verdi.it;Business Mail 200 MB\r\n", ctype: "text/csv", allowed: tenantA, once: true},
			{method: "POST", path: A + "/provision", body: "address;cos;status\r\nanna@verdi.it;Business Mail 200 MB;locked\r\n", ctype: "text/csv", allowed: tenantA, once: true},
			{method: "POST", path: A + "/provision", body: "address;cos\r\nprov@rossi.it;Business Mail 200 MB\r\n", ctype: "text/csv", allowed: domainA, once: true},

			// Domains.
			{method: "GET", path: "/api/v1/domains", allowed: admins, leak: "rossi.it"},
			{method: "GET", path: "/api/v1/domains?tenant=Rossi%20Srl", allowed: readA},
			{method: "POST", path: "/api/v1/domains", body: `{"name":"nuovo.it","tenant":"Rossi Srl"}`, allowed: tenantA, once: true},
			{method: "GET", path: "/api/v1/domains/verdi.it", allowed: tenantA},
			{method: "GET", path: "/api/v1/domains/rossi.it", allowed: readA},
			{method: "DELETE", path: "/api/v1/domains/nuovo.it", allowed: tenantA, once: true},

			// Classes of service.
			{method: "GET", path: "/api/v1/cos", allowed: all},
			{method: "POST", path: "/api/v1/cos", body: `{"name":"Gold","quota_mb":100}`, allowed: provider, once: true},
			{method: "GET", path: "/api/v1/cos/Gold", allowed: all},

			// Accounts.
			{method: "GET", path: "/api/v1/accounts", allowed: admins, leak: "rossi.it"},
			{method: "GET", path: "/api/v1/accounts?tenant=Rossi%20Srl", allowed: readA},
			{method: "GET", path: "/api/v1/accounts?domain=rossi.it", allowed: readA},
			{method: "GET", path: "/api/v1/accounts/anna@verdi.it", allowed: tenantA},
			{method: "GET", path: "/api/v1/accounts/mario@rossi.it", allowed: [5]bool{true, true, true, false, true}},
			{method: "PATCH", path: "/api/v1/accounts/mario@rossi.it", body: `{"display_name":"M"}`, allowed: [5]bool{true, true, true, false, true}},
			{method: "PATCH", path: "/api/v1/accounts/anna@verdi.it", body: `{"display_name":"A"}`, allowed: tenantA},
			{method: "POST", path: "/api/v1/accounts/mario@rossi.it/password", body: `{"password":"Another-Password-77"}`, allowed: [5]bool{true, true, true, false, true}},
			{method: "PATCH", path: "/api/v1/accounts/mario@rossi.it", body: `{"cos":"Business Mail 200 MB"}`, allowed: domainA},
			{method: "GET", path: "/api/v1/accounts/mario@rossi.it/cos-change?cos=Business%20Mail%20200%20MB", allowed: [5]bool{true, true, true, false, true}},
			{method: "POST", path: "/api/v1/accounts", body: acct("new1@verdi.it"), allowed: tenantA, once: true},
			{method: "POST", path: "/api/v1/accounts", body: acct("new2@rossi.it"), allowed: domainA, once: true},

			// Self-service.
			{method: "GET", path: "/api/v1/me", allowed: userOnly},
			{method: "PATCH", path: "/api/v1/me", body: `{"auto_reply":true,"auto_reply_subject":"Away"}`, allowed: userOnly},
			{method: "POST", path: "/api/v1/me/password", body: `{"password":"Yet-Another-Password-78"}`, allowed: userOnly},
			{method: "GET", path: "/api/v1/me/app-passwords", allowed: userOnly},
			{method: "POST", path: "/api/v1/me/app-passwords", body: `{"name":"phone"}`, allowed: userOnly},
			{method: "DELETE", path: "/api/v1/me/app-passwords/1", allowed: userOnly, once: true},

			// Tokens: each administrator's own.
			{method: "POST", path: "/api/v1/tokens", body: `{"name":"x"}`, allowed: admins},
			{method: "GET", path: "/api/v1/tokens", allowed: admins},
			{method: "DELETE", path: "/api/v1/tokens/1", allowed: provider, once: true},

			// Aliases and lists.
			{method: "GET", path: "/api/v1/aliases", allowed: admins, leak: "info@rossi.it"},
			{method: "GET", path: "/api/v1/aliases?account=mario@rossi.it", allowed: readA},
			{method: "POST", path: "/api/v1/aliases", body: `{"address":"sales@verdi.it","account":"anna@verdi.it"}`, allowed: tenantA, once: true},
			{method: "GET", path: "/api/v1/lists", allowed: admins, leak: "tutti@rossi.it"},
			{method: "GET", path: "/api/v1/lists?domain=rossi.it", allowed: readA},
			{method: "POST", path: "/api/v1/lists", body: `{"address":"soci@rossi.it"}`, allowed: domainA, once: true},
			{method: "GET", path: "/api/v1/lists/tutti@rossi.it", allowed: readA},
			{method: "POST", path: "/api/v1/lists/tutti@rossi.it/members", body: `{"member":"ext@example.org"}`, allowed: domainA, once: true},
			{method: "DELETE", path: "/api/v1/lists/tutti@rossi.it/members/ext@example.org", allowed: domainA, once: true},
			{method: "DELETE", path: "/api/v1/lists/soci@rossi.it", allowed: domainA, once: true},

			// Administrators.
			{method: "GET", path: "/api/v1/admins", allowed: adminsAB, leak: "admin@rossi.it"},
			{method: "POST", path: "/api/v1/admins", body: `{"email":"new@rossi.it","password":"` + pw + `","role":"domain","tenant":"Rossi Srl","domains":["rossi.it"]}`, allowed: tenantA, once: true},
			{method: "DELETE", path: "/api/v1/admins/new@rossi.it", allowed: tenantA, once: true},

			// Contacts and calendars of a mailbox: its tenant's and domain's administrators and
			// the user; nobody of tenant B.
			{method: "POST", path: "/api/v1/accounts/mario@rossi.it/contacts", body: vcardBody, ctype: "text/vcard", allowed: [5]bool{true, true, true, false, true}},
			{method: "GET", path: "/api/v1/accounts/mario@rossi.it/contacts", allowed: [5]bool{true, true, true, false, true}},
			{method: "GET", path: "/api/v1/accounts/mario@rossi.it/contacts/books", allowed: [5]bool{true, true, true, false, true}},
			{method: "POST", path: "/api/v1/accounts/anna@verdi.it/contacts?book=Lavoro", body: vcardBody, ctype: "text/vcard", allowed: tenantA},
			{method: "GET", path: "/api/v1/accounts/anna@verdi.it/contacts?q=ada", allowed: tenantA},
			{method: "POST", path: "/api/v1/accounts/mario@rossi.it/calendars/objects", body: icsBody, ctype: "text/calendar", allowed: [5]bool{true, true, true, false, true}},
			{method: "GET", path: "/api/v1/accounts/mario@rossi.it/calendars", allowed: [5]bool{true, true, true, false, true}},
			{method: "GET", path: "/api/v1/accounts/mario@rossi.it/calendars/objects?from=2026-12-01", allowed: [5]bool{true, true, true, false, true}},
			{method: "GET", path: "/api/v1/accounts/anna@verdi.it/calendars/objects", allowed: tenantA},
			{method: "GET", path: "/api/v1/accounts/mario@rossi.it/contacts/export", allowed: [5]bool{true, true, true, false, true}},
			{method: "GET", path: "/api/v1/accounts/anna@verdi.it/calendars/export", allowed: tenantA},
			{method: "GET", path: "/api/v1/accounts/luca@bianchi.it/contacts", allowed: [5]bool{true, false, false, true, false}},

			// Sending counters: each administrator its own scope.
			{method: "GET", path: "/api/v1/sending", allowed: admins},
			{method: "GET", path: "/api/v1/sending?tenant=Rossi%20Srl&days=30", allowed: readA},

			// IMAP migrations into tenant A's accounts.
			{method: "GET", path: "/api/v1/migrations", allowed: admins, leak: "mario@rossi.it"},
			{method: "GET", path: "/api/v1/migrations?tenant=Rossi%20Srl", allowed: readA},
			{method: "POST", path: "/api/v1/migrations", body: mig("mario@rossi.it"), allowed: readA},
			{method: "POST", path: "/api/v1/migrations", body: mig("anna@verdi.it"), allowed: tenantA},
			{method: "POST", path: A + "/migrations", body: migCSV, ctype: "text/csv", allowed: readA},
			{method: "POST", path: A + "/migrations", body: strings.Replace(migCSV, "mario@rossi.it", "anna@verdi.it", 1), ctype: "text/csv", allowed: tenantA},
			{method: "GET", path: jobPath, allowed: readA},
			{method: "GET", path: jobPath + "/report", allowed: readA},
			{method: "GET", path: jobPath + "/report?format=csv", allowed: readA},
			{method: "POST", path: jobPath + "/cancel", allowed: readA, once: true},

			// Audit log.
			{method: "GET", path: "/api/v1/audit?tenant=Rossi%20Srl", allowed: tenantA},
			{method: "GET", path: "/api/v1/audit?tenant=1", allowed: tenantA},
			{method: "GET", path: "/api/v1/audit", allowed: adminsAB, leak: "rossi.it"},

			// The outbound queue: the provider's only.
			{method: "GET", path: "/api/v1/queue", allowed: provider},
			{method: "GET", path: "/api/v1/queue/" + qid, allowed: provider},
			{method: "POST", path: "/api/v1/queue/" + qid + "/hold", body: `{"reason":"x"}`, allowed: provider},
			{method: "POST", path: "/api/v1/queue/" + qid + "/release", allowed: provider},
			{method: "POST", path: "/api/v1/queue/" + qid + "/retry", allowed: provider},
			{method: "GET", path: "/api/v1/trace?q=mario@rossi.it", allowed: provider},
			{method: "DELETE", path: "/api/v1/queue/" + qid, allowed: provider, once: true},

			// Billing: tenant A's credit is for the provider and A's tenant administrators.
			{method: "GET", path: "/api/v1/billing/prices", allowed: adminsAB},
			{method: "PUT", path: "/api/v1/billing/prices/Business%20Mail%20200%20MB", body: `{"points_per_day":"2"}`, allowed: provider},
			{method: "GET", path: "/api/v1/billing/settings", allowed: provider},
			{method: "PATCH", path: "/api/v1/billing/settings", body: `{"warn_days":10}`, allowed: provider},
			{method: "POST", path: "/api/v1/billing/webhook-secret", allowed: provider},
			{method: "POST", path: "/api/v1/billing/run", body: `{}`, allowed: provider},
			{method: "GET", path: B, allowed: tenantA},
			{method: "GET", path: "/api/v1/billing/tenants/1", allowed: tenantA},
			{method: "GET", path: B + "/ledger", allowed: tenantA},
			{method: "GET", path: B + "/usage?by=account", allowed: tenantA},
			{method: "GET", path: B + "/statement?month=2026-01", allowed: tenantA},
			{method: "POST", path: B + "/recharges", body: `{"eur":"10","reference":"CRO-M0"}`, allowed: nobody},
			{method: "POST", path: "/api/v1/billing/tenants/Bianchi%20SpA/recharges", body: `{"eur":"10","reference":"CRO-M1"}`, allowed: provider, once: true},
			{method: "POST", path: "/api/v1/billing/tenants/Bianchi%20SpA/adjustments", body: `{"kind":"adjustment","points":"-1","reason":"fix"}`, allowed: provider},

			// Last, as they change what logging in needs: turning one's own second factor on
			// and off.
			{method: "PUT", path: "/api/v1/session/totp", body: `{"secret":"` + totpSecret + `","code":"CODE"}`, allowed: admins},
			{method: "POST", path: "/api/v1/session/totp/disable", body: `{"code":"CODE"}`, allowed: admins},

			// Removals of tenant A's objects come last.
			{method: "DELETE", path: "/api/v1/aliases/info@rossi.it", allowed: domainA, once: true},
			{method: "DELETE", path: "/api/v1/accounts/anna@verdi.it", allowed: tenantA, once: true},
		}

		// Every route of the table has an entry; public routes need none.
		mux := http.NewServeMux()
		for _, rt := range f.api.Routes() {
			mux.HandleFunc(rt.Method+" /api/v1"+rt.Path, func(http.ResponseWriter, *http.Request) {})
		}
		covered := map[string]bool{}
		for _, c := range calls {
			r, _ := http.NewRequest(c.method, "https://x"+c.path, nil)
			_, pattern := mux.Handler(r)
			if pattern == "" || pattern == "/" {
				t.Fatalf("%s %s matches no route", c.method, c.path)
			}
			covered[pattern] = true
		}
		for _, rt := range f.api.Routes() {
			if !rt.Public && !covered[rt.Method+" /api/v1"+rt.Path] {
				t.Errorf("route %s %s has no entry in the isolation matrix", rt.Method, rt.Path)
			}
		}

		for _, c := range calls {
			order := []int{0, 1, 2, 3, 4}
			if c.once {
				order = nil
				for i := range matrixRoles {
					if !c.allowed[i] {
						order = append(order, i)
					}
				}
				for i := range matrixRoles {
					if c.allowed[i] {
						order = append(order, i)
						break
					}
				}
			}
			for _, i := range order {
				role := matrixRoles[i]
				s := sessions[role]
				if c.fresh {
					s = f.login(role)
				}
				var st int
				var body string
				switch {
				case c.ctype != "":
					st, body, _ = s.upload(c.method, c.path, c.ctype, []byte(c.body))
				default:
					st, body = s.do(c.method, c.path, strings.ReplaceAll(c.body, "CODE", totpCode()))
				}
				ok := st >= 200 && st < 300
				switch {
				case c.allowed[i] && !ok:
					t.Errorf("%s %s as %s: %d %s, want success", c.method, c.path, role, st, body)
				case !c.allowed[i] && ok:
					t.Errorf("%s %s as %s: %d %.300s, want refusal", c.method, c.path, role, st, body)
				case !ok && st != 403 && st != 404 && st != 422:
					t.Errorf("%s %s as %s: %d %s, want 403, 404 or 422", c.method, c.path, role, st, body)
				}
				if (role == "admin@bianchi.it" || role == "mario@rossi.it") && c.leak != "" && strings.Contains(body, c.leak) {
					t.Errorf("%s %s as %s leaks %q: %.300s", c.method, c.path, role, c.leak, body)
				}
				if role == "dom@rossi.it" && ok && c.method == "GET" && strings.Contains(body, "verdi.it") {
					t.Errorf("%s %s as the domain administrator of rossi.it shows verdi.it: %.300s", c.method, c.path, body)
				}
			}
		}

		// Counts: tenant B's lists and totals are its own.
		b := sessions["admin@bianchi.it"]
		if _, body := b.do("GET", "/api/v1/accounts", ""); !strings.Contains(body, `"total": 1`) {
			t.Errorf("tenant B counts accounts: %s", body)
		}
		// Guessing names or numeric ids of tenant A as tenant B gives the same answer as a name
		// or id that does not exist.
		luca := f.login("luca@bianchi.it")
		mario := sessions["mario@rossi.it"]
		if st, body := mario.do("POST", "/api/v1/me/app-passwords", `{"name":"tablet"}`); st != 201 {
			t.Fatalf("app password: %d %s", st, body)
		}
		var aps []struct{ ID int64 }
		_, body = mario.do("GET", "/api/v1/me/app-passwords", "")
		json.Unmarshal([]byte(body), &aps)
		if len(aps) == 0 {
			t.Fatalf("app passwords: %s", body)
		}
		marioAP := fmt.Sprint(aps[len(aps)-1].ID)
		if st, body := sessions["admin@rossi.it"].do("POST", "/api/v1/tokens", `{"name":"a"}`); st != 201 {
			t.Fatalf("token: %d %s", st, body)
		}
		var toks []struct{ ID int64 }
		_, body = sessions["admin@rossi.it"].do("GET", "/api/v1/tokens", "")
		json.Unmarshal([]byte(body), &toks)
		tokA := fmt.Sprint(toks[len(toks)-1].ID)
		guesses := []struct {
			who                   *session
			method, path, missing string
			body                  string
		}{
			{b, "GET", "/api/v1/accounts/mario@rossi.it", "/api/v1/accounts/nobody@nowhere.it", ""},
			{b, "GET", "/api/v1/tenants/1", "/api/v1/tenants/999", ""},
			{b, "GET", jobPath, "/api/v1/migrations/99999", ""},
			{b, "POST", jobPath + "/cancel", "/api/v1/migrations/99999/cancel", ""},
			{b, "GET", "/api/v1/tenants/1/usage", "/api/v1/tenants/999/usage", ""},
			{b, "GET", "/api/v1/tenants/1/storage", "/api/v1/tenants/999/storage", ""},
			{b, "GET", "/api/v1/tenants/1/provision/export?format=csv", "/api/v1/tenants/999/provision/export?format=csv", ""},
			{b, "PUT", "/api/v1/tenants/1/totp-policy", "/api/v1/tenants/999/totp-policy", `{"required":true}`},
			{b, "GET", "/api/v1/billing/tenants/1", "/api/v1/billing/tenants/999", ""},
			{b, "GET", "/api/v1/billing/tenants/1/ledger", "/api/v1/billing/tenants/999/ledger", ""},
			{b, "GET", "/api/v1/audit?tenant=1", "/api/v1/audit?tenant=999", ""},
			{b, "GET", "/api/v1/accounts?tenant=1", "/api/v1/accounts?tenant=999", ""},
			{b, "GET", "/api/v1/domains?tenant=1", "/api/v1/domains?tenant=999", ""},
			{b, "GET", "/api/v1/accounts?domain=rossi.it", "/api/v1/accounts?domain=nowhere.it", ""},
			{b, "GET", "/api/v1/accounts?domain=rossi.it&q=mario", "/api/v1/accounts?domain=nowhere.it&q=mario", ""},
			{b, "GET", "/api/v1/aliases?account=mario@rossi.it", "/api/v1/aliases?account=nobody@nowhere.it", ""},
			{b, "GET", "/api/v1/aliases?domain=rossi.it", "/api/v1/aliases?domain=nowhere.it", ""},
			{b, "GET", "/api/v1/lists?domain=rossi.it", "/api/v1/lists?domain=nowhere.it", ""},
			{b, "GET", "/api/v1/accounts/mario@rossi.it/cos-change?cos=Business%20Mail%20200%20MB", "/api/v1/accounts/nobody@nowhere.it/cos-change?cos=Business%20Mail%20200%20MB", ""},
			{b, "POST", "/api/v1/accounts/mario@rossi.it/password", "/api/v1/accounts/nobody@nowhere.it/password", `{"password":"Guessed-Password-99"}`},
			{b, "PATCH", "/api/v1/accounts/mario@rossi.it", "/api/v1/accounts/nobody@nowhere.it", `{"display_name":"x"}`},
			{b, "DELETE", "/api/v1/accounts/mario@rossi.it", "/api/v1/accounts/nobody@nowhere.it", ""},
			{b, "POST", "/api/v1/lists/tutti@rossi.it/members", "/api/v1/lists/none@nowhere.it/members", `{"member":"luca@bianchi.it"}`},
			{b, "PUT", "/api/v1/tenants/1/caps/Business%20Mail%20200%20MB", "/api/v1/tenants/999/caps/Business%20Mail%20200%20MB", `{"max":1}`},
			{b, "GET", "/api/v1/billing/tenants/1/usage", "/api/v1/billing/tenants/999/usage", ""},
			{b, "GET", "/api/v1/billing/tenants/1/statement?month=2026-01", "/api/v1/billing/tenants/999/statement?month=2026-01", ""},
			{b, "GET", "/api/v1/lists/tutti@rossi.it", "/api/v1/lists/none@nowhere.it", ""},
			{b, "GET", "/api/v1/domains/rossi.it", "/api/v1/domains/nowhere.it", ""},
			{b, "DELETE", "/api/v1/tokens/" + tokA, "/api/v1/tokens/99999", ""},
			{b, "DELETE", "/api/v1/admins/admin@rossi.it", "/api/v1/admins/nobody@nowhere.it", ""},
			{luca, "DELETE", "/api/v1/me/app-passwords/" + marioAP, "/api/v1/me/app-passwords/99999", ""},
		}
		for _, g := range guesses {
			st1, b1 := g.who.do(g.method, g.path, g.body)
			st2, b2 := g.who.do(g.method, g.missing, g.body)
			if st1 != st2 || problemType(b1) != problemType(b2) || st1 < 400 {
				t.Errorf("existence leak: %s %s → %d %s; %s → %d %s", g.method, g.path, st1, b1, g.missing, st2, b2)
			}
		}
		// Nothing of tenant A changed through those guesses.
		if _, err := f.dir.GetAccount(sys, "mario@rossi.it"); err != nil {
			t.Error(err)
		}
		// Pointing an alias of B at A's account is refused like pointing it at no account.
		st1, b1 := b.do("POST", "/api/v1/aliases", `{"address":"x@bianchi.it","account":"mario@rossi.it"}`)
		st2, b2 := b.do("POST", "/api/v1/aliases", `{"address":"x@bianchi.it","account":"nobody@nowhere.it"}`)
		if st1 != st2 || problemType(b1) != problemType(b2) || st1 < 400 {
			t.Errorf("alias to another tenant's account: %d %s; to no account: %d %s", st1, b1, st2, b2)
		}
		if st, _ := sessions["admin@rossi.it"].do("GET", "/api/v1/tokens", ""); st != 200 {
			t.Error("tenant A's administrator lost its session")
		}
		var ts []struct {
			ID      int64
			Revoked bool
		}
		_, body = sessions["admin@rossi.it"].do("GET", "/api/v1/tokens", "")
		json.Unmarshal([]byte(body), &ts)
		for _, tk := range ts {
			if fmt.Sprint(tk.ID) == tokA && tk.Revoked {
				t.Error("tenant B revoked tenant A's token")
			}
		}
	})
}
