package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// TestAuditTrail walks through the main changes an administrator or a user makes through the
// API and checks that each left an audit entry: who, role, when, from where, the tenant it
// concerns (so that the tenant's administrator finds it), and what changed: an update has a
// before and an after, a creation an after, a removal a before.
func TestAuditTrail(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		base := setup(t, d)
		f := base.with(d, api.Options{Billing: billing.New(d, base.dir, billing.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})})
		ctx := context.Background()
		sys := directory.WithActor(ctx, directory.SystemActor("test"))
		rossi, err := f.dir.GetTenant(sys, "Rossi Srl")
		if err != nil {
			t.Fatal(err)
		}
		bianchi, _ := f.dir.GetTenant(sys, "Bianchi SpA")
		if err := f.q.Enqueue(ctx, "mario@rossi.it", []string{"x@example.org"}, []byte("Message-ID: <a1@rossi.it>\r\n\r\nhi\r\n"), 0); err != nil {
			t.Fatal(err)
		}
		es, _ := f.q.List(ctx, 10)
		qid := fmt.Sprint(es[0].ID)
		boss, admin, mario := f.login("boss@provider.test"), f.login("admin@rossi.it"), f.login("mario@rossi.it")
		secret := auth.NewTOTPSecret()
		code, _ := auth.TOTPCode(secret, time.Now())

		const (
			create = iota // after only
			update        // before and after
			remove        // before only
		)
		steps := []struct {
			who                *session
			method, path, body string
			action, target     string
			tenant             int64 // the tenant the entry belongs to (0: the provider's)
			kind               int
		}{
			{boss, "POST", "/api/v1/tenants", `{"name":"Nuovo Srl","contact_email":"it@nuovo.test","contract":"payg"}`, "tenant.create", "Nuovo Srl", -1, create},
			{boss, "PATCH", "/api/v1/tenants/Rossi%20Srl", `{"contact_email":"amm@rossi.it"}`, "tenant.update", "Rossi Srl", rossi.ID, update},
			{boss, "PUT", "/api/v1/tenants/Rossi%20Srl/caps/Business%20Mail%20100%20MB", `{"max":5}`, "contract.cap.set", "Business Mail 100 MB", rossi.ID, update},
			{boss, "POST", "/api/v1/cos", `{"name":"Gold","quota_mb":100}`, "cos.create", "Gold", 0, create},
			{admin, "POST", "/api/v1/domains", `{"name":"nuovo.it","tenant":"Rossi Srl"}`, "domain.add", "nuovo.it", rossi.ID, create},
			{admin, "DELETE", "/api/v1/domains/nuovo.it", "", "domain.remove", "nuovo.it", rossi.ID, remove},
			{admin, "POST", "/api/v1/accounts", `{"address":"giulia@rossi.it","password":"` + pw + `","cos":"Business Mail 100 MB"}`, "account.create", "giulia@rossi.it", rossi.ID, create},
			{admin, "PATCH", "/api/v1/accounts/giulia@rossi.it", `{"display_name":"Giulia","status":"locked"}`, "account.update", "giulia@rossi.it", rossi.ID, update},
			{admin, "POST", "/api/v1/accounts/giulia@rossi.it/password", `{"password":"Another-Password-77"}`, "account.password", "giulia@rossi.it", rossi.ID, update},
			{admin, "POST", "/api/v1/aliases", `{"address":"g@rossi.it","account":"giulia@rossi.it"}`, "alias.add", "g@rossi.it", rossi.ID, create},
			{admin, "DELETE", "/api/v1/aliases/g@rossi.it", "", "alias.remove", "g@rossi.it", rossi.ID, remove},
			{admin, "POST", "/api/v1/lists", `{"address":"soci@rossi.it"}`, "list.create", "soci@rossi.it", rossi.ID, create},
			{admin, "POST", "/api/v1/lists/soci@rossi.it/members", `{"member":"giulia@rossi.it"}`, "list.member.add", "soci@rossi.it", rossi.ID, update},
			{admin, "DELETE", "/api/v1/lists/soci@rossi.it/members/giulia@rossi.it", "", "list.member.remove", "soci@rossi.it", rossi.ID, update},
			{admin, "DELETE", "/api/v1/lists/soci@rossi.it", "", "list.remove", "soci@rossi.it", rossi.ID, remove},
			{admin, "POST", "/api/v1/admins", `{"email":"new@rossi.it","password":"` + pw + `","role":"tenant","tenant":"Rossi Srl"}`, "admin.create", "new@rossi.it", rossi.ID, create},
			{admin, "DELETE", "/api/v1/admins/new@rossi.it", "", "admin.remove", "new@rossi.it", rossi.ID, remove},
			{admin, "POST", "/api/v1/tokens", `{"name":"backup"}`, "token.create", "admin@rossi.it", rossi.ID, create},
			{admin, "DELETE", "/api/v1/tokens/1", "", "token.revoke", "admin@rossi.it", rossi.ID, update},
			{admin, "PUT", "/api/v1/session/totp", `{"secret":"` + secret + `","code":"` + code + `"}`, "admin.totp", "admin@rossi.it", rossi.ID, update},
			{admin, "PUT", "/api/v1/tenants/Rossi%20Srl/totp-policy", `{"required":true}`, "tenant.require_totp", "Rossi Srl", rossi.ID, update},
			{mario, "PATCH", "/api/v1/me", `{"auto_reply":true,"auto_reply_subject":"Away"}`, "account.update", "mario@rossi.it", rossi.ID, update},
			{mario, "POST", "/api/v1/me/app-passwords", `{"name":"phone"}`, "account.app-password.create", "mario@rossi.it", rossi.ID, create},
			{mario, "DELETE", "/api/v1/me/app-passwords/1", "", "account.app-password.revoke", "mario@rossi.it", rossi.ID, remove},
			{admin, "POST", "/api/v1/accounts/mario@rossi.it/contacts", vcardBody, "contacts.import", "mario@rossi.it", rossi.ID, create},
			{mario, "POST", "/api/v1/accounts/mario@rossi.it/calendars/objects?calendar=Lavoro", icsBody, "calendar.import", "mario@rossi.it", rossi.ID, create},
			{boss, "POST", "/api/v1/queue/" + qid + "/hold", `{"reason":"check"}`, "queue.hold", qid, 0, update},
			{boss, "POST", "/api/v1/queue/" + qid + "/release", "", "queue.release", qid, 0, update},
			{boss, "DELETE", "/api/v1/queue/" + qid, "", "queue.delete", qid, 0, remove},
			{boss, "PUT", "/api/v1/billing/prices/Business%20Mail%20100%20MB", `{"points_per_day":"1.5"}`, "billing.price", "Business Mail 100 MB", 0, create},
			{boss, "PUT", "/api/v1/billing/prices/Business%20Mail%20100%20MB", `{"points_per_day":"2"}`, "billing.price", "Business Mail 100 MB", 0, update},
			{boss, "PATCH", "/api/v1/billing/settings", `{"warn_days":10}`, "billing.setting", "warn_days", 0, update},
			{boss, "POST", "/api/v1/billing/tenants/Bianchi%20SpA/recharges", `{"eur":"10","reference":"CRO-A1"}`, "billing.recharge", "Bianchi SpA", bianchi.ID, update},
			{boss, "POST", "/api/v1/billing/tenants/Bianchi%20SpA/adjustments", `{"kind":"adjustment","points":"-1","reason":"fix"}`, "billing.adjustment", "Bianchi SpA", bianchi.ID, update},
			{boss, "POST", "/api/v1/billing/webhook-secret", "", "billing.webhook_secret", "webhook", 0, update},
			{admin, "DELETE", "/api/v1/accounts/giulia@rossi.it", "", "account.remove", "giulia@rossi.it", rossi.ID, remove},
			{boss, "PATCH", "/api/v1/tenants/Rossi%20Srl", `{"status":"suspended"}`, "tenant.update", "Rossi Srl", rossi.ID, update},
			{boss, "PUT", "/api/v1/totp-policy", `{"required":true}`, "security.require_totp", "provider", 0, update},
		}
		for _, s := range steps {
			start := time.Now().UnixMilli()
			if st, body := s.who.do(s.method, s.path, s.body); st >= 300 {
				t.Fatalf("%s %s: %d %s", s.method, s.path, st, body)
			}
			log, err := f.dir.ListAudit(sys, "", 1)
			if err != nil || len(log) != 1 {
				t.Fatalf("%s: audit %v %v", s.action, log, err)
			}
			e := log[0]
			who := map[*session]string{boss: "boss@provider.test", admin: "admin@rossi.it", mario: "mario@rossi.it"}[s.who]
			switch {
			case e.Action != s.action || e.Target != s.target:
				t.Errorf("%s %s: last entry %s %s, want %s %s", s.method, s.path, e.Action, e.Target, s.action, s.target)
				continue
			case e.Actor != who || e.Role == "":
				t.Errorf("%s: actor %q role %q, want %q", s.action, e.Actor, e.Role, who)
			case !strings.HasPrefix(e.Remote, "127.0.0.1:"):
				t.Errorf("%s: from %q", s.action, e.Remote)
			case e.At < start-1000 || e.At > time.Now().UnixMilli()+1000:
				t.Errorf("%s: at %d", s.action, e.At)
			case s.tenant >= 0 && e.TenantID != s.tenant:
				t.Errorf("%s: tenant %d, want %d", s.action, e.TenantID, s.tenant)
			}
			for what, v := range map[string]string{"before": e.Before, "after": e.After} {
				if v != "" && !json.Valid([]byte(v)) {
					t.Errorf("%s: %s is not JSON: %s", s.action, what, v)
				}
			}
			switch s.kind {
			case create:
				if e.After == "" {
					t.Errorf("%s: no after", s.action)
				}
			case update:
				if e.Before == "" || e.After == "" || e.Before == e.After {
					t.Errorf("%s: before %s after %s", s.action, e.Before, e.After)
				}
			case remove:
				if e.Before == "" {
					t.Errorf("%s: no before", s.action)
				}
			}
			if strings.Contains(e.Before+e.After, pw) || strings.Contains(e.Before+e.After, "Another-Password-77") || strings.Contains(e.Before+e.After, secret) ||
				strings.Contains(e.Before+e.After, "BEGIN:") || strings.Contains(e.Before+e.After, "Lovelace") {
				t.Errorf("%s: a secret in the audit log: %s %s", s.action, e.Before, e.After)
			}
		}
		// Per tenant: the provider filters by tenant; Bianchi's administrator finds Bianchi's
		// entries and nothing else.
		rows, err := f.dir.ListAudit(sys, "Rossi Srl", 1000)
		if err != nil || len(rows) < 20 {
			t.Fatalf("Rossi's entries: %d %v", len(rows), err)
		}
		for _, e := range rows {
			if e.TenantID != rossi.ID {
				t.Errorf("Rossi's filter shows %+v", e)
			}
		}
		bianchiAdmin := directory.WithActor(ctx, directory.Actor{Role: directory.RoleTenantAdmin, ID: 99, Name: "admin@bianchi.it", TenantID: bianchi.ID})
		got, err := f.dir.ListAudit(bianchiAdmin, "", 1000)
		if err != nil || len(got) < 3 {
			t.Errorf("Bianchi's entries: %d %v", len(got), err)
		}
		for _, e := range got {
			if e.TenantID != bianchi.ID {
				t.Errorf("Bianchi's administrator sees %+v", e)
			}
		}
		if _, err := f.dir.ListAudit(bianchiAdmin, "Rossi Srl", 10); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("Bianchi's administrator asking for Rossi's entries: %v", err)
		}
	})
}
