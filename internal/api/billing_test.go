package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/api"
	"github.com/postamail/posta/internal/billing"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
)

// TestBilling runs the billing routes as every role: the provider may do everything, a tenant
// administrator may read its own tenant's credit, nobody else anything; and the payment
// webhook takes only signed payments, each once.
func TestBilling(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		base := setup(t, d)
		bill := billing.New(d, base.dir, billing.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		f := base.with(d, api.Options{Billing: bill})
		roles := []string{"boss@provider.test", "admin@rossi.it", "dom@rossi.it", "admin@bianchi.it", "mario@rossi.it"}
		s := map[string]*session{}
		for _, r := range roles {
			s[r] = f.login(r)
		}
		boss := s["boss@provider.test"]
		if st, body := boss.do("PUT", "/api/v1/billing/prices/Business%20Mail%20100%20MB", `{"points_per_day":"1.5"}`); st != 200 || !strings.Contains(body, `"points_per_day": "1.5"`) {
			t.Fatalf("set price: %d %s", st, body)
		}
		if st, body := boss.do("POST", "/api/v1/billing/tenants/Bianchi%20SpA/recharges", `{"eur":"10.50","reference":"CRO-1"}`); st != 201 || !strings.Contains(body, `"amount": "840"`) {
			t.Fatalf("recharge: %d %s", st, body)
		}
		if st, body := boss.do("POST", "/api/v1/billing/tenants/Bianchi%20SpA/recharges", `{"eur":"10.50","reference":"CRO-1"}`); st != 409 || problemType(body) != "duplicate-reference" {
			t.Fatalf("recharge twice: %d %s", st, body)
		}
		if st, body := boss.do("POST", "/api/v1/billing/tenants/Bianchi%20SpA/recharges", `{"eur":10.5,"reference":"CRO-2"}`); st != 400 {
			t.Fatalf("amount as a JSON number: %d %s", st, body)
		}
		type call struct {
			method, path, body string
			allowed            [5]bool
		}
		calls := []call{
			{"GET", "/api/v1/billing/prices", "", [5]bool{true, true, false, true, false}},
			{"GET", "/api/v1/billing/tenants/Bianchi%20SpA", "", [5]bool{true, false, false, true, false}},
			{"GET", "/api/v1/billing/tenants/Rossi%20Srl", "", [5]bool{true, true, false, false, false}},
			{"GET", "/api/v1/billing/tenants/Bianchi%20SpA/ledger", "", [5]bool{true, false, false, true, false}},
			{"GET", "/api/v1/billing/tenants/Bianchi%20SpA/usage?by=account", "", [5]bool{true, false, false, true, false}},
			{"GET", "/api/v1/billing/tenants/Rossi%20Srl/usage?by=cos", "", [5]bool{true, true, false, false, false}},
			{"GET", "/api/v1/billing/tenants/Bianchi%20SpA/statement?month=2026-01", "", [5]bool{true, false, false, true, false}},
			{"POST", "/api/v1/billing/tenants/Bianchi%20SpA/adjustments", `{"kind":"adjustment","points":"-1.5","reason":"fix"}`, [5]bool{true, false, false, false, false}},
			{"PUT", "/api/v1/billing/prices/Business%20Mail%20200%20MB", `{"points_per_day":"2"}`, [5]bool{true, false, false, false, false}},
			{"GET", "/api/v1/billing/settings", "", [5]bool{true, false, false, false, false}},
			{"PATCH", "/api/v1/billing/settings", `{"warn_days":10}`, [5]bool{true, false, false, false, false}},
			{"POST", "/api/v1/billing/run", `{}`, [5]bool{true, false, false, false, false}},
		}
		for _, c := range calls {
			for i, role := range roles {
				st, body := s[role].do(c.method, c.path, c.body)
				ok := st >= 200 && st < 300
				if ok != c.allowed[i] {
					t.Errorf("%s %s as %s: %d %s", c.method, c.path, role, st, body)
				}
				if !ok && st != 403 && st != 404 {
					t.Errorf("%s %s as %s: %d, want 403 or 404", c.method, c.path, role, st)
				}
				if role == "admin@bianchi.it" && ok && strings.Contains(body, "Rossi") {
					t.Errorf("%s %s as %s leaks: %s", c.method, c.path, role, body)
				}
			}
		}
		// CSV export.
		st, body, hdr := f.raw("GET", "/api/v1/billing/tenants/Bianchi%20SpA/ledger?format=csv", s["admin@bianchi.it"], "", "")
		if st != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || !strings.Contains(body, "recharge,840,840,10.50,80,CRO-1") {
			t.Fatalf("ledger csv: %d %s %s", st, hdr.Get("Content-Type"), body)
		}

		// The webhook: a secret from the provider, then signed payments, each credited once.
		st, body = boss.do("POST", "/api/v1/billing/webhook-secret", "")
		var sec struct{ Secret string }
		json.Unmarshal([]byte(body), &sec)
		if st != 201 || len(sec.Secret) != 64 {
			t.Fatalf("secret: %d %s", st, body)
		}
		pay := `{"tenant":"Bianchi SpA","amount_eur":"5","reference":"psp_42"}`
		post := func(body, sig string) (int, string) {
			req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/billing/webhook", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if sig != "" {
				req.Header.Set(billing.SignatureHeader, sig)
			}
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if st, body := post(pay, ""); st != 401 || problemType(body) != "invalid-signature" {
			t.Fatalf("unsigned: %d %s", st, body)
		}
		if st, body := post(pay, billing.Sign("guess", []byte(pay))); st != 401 {
			t.Fatalf("wrong key: %d %s", st, body)
		}
		if st, body := post(pay, billing.Sign(sec.Secret, []byte(pay))); st != 200 || !strings.Contains(body, `"amount": "400"`) || strings.Contains(body, "duplicate") {
			t.Fatalf("payment: %d %s", st, body)
		}
		if st, body := post(pay, billing.Sign(sec.Secret, []byte(pay))); st != 200 || !strings.Contains(body, `"duplicate": true`) {
			t.Fatalf("replay: %d %s", st, body)
		}
		st, body = s["admin@bianchi.it"].do("GET", "/api/v1/billing/tenants/Bianchi%20SpA", "")
		if st != 200 || !strings.Contains(body, `"balance": "1238.5"`) {
			t.Fatalf("balance: %d %s", st, body)
		}
	})
}
