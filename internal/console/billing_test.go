package console

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/billing"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/webauth"
)

// TestBillingPages: the provider sets prices, records recharges and sees every wallet with
// charts, usage, ledger, CSV and statements; a tenant administrator sees only its own credit
// and cannot change it; a domain administrator has no credit pages. No page carries inline
// styles or scripts.
func TestBillingPages(t *testing.T) {
	d := dbtest.Open(t, dbtest.DSN(t, "sqlite"))
	sys := directory.WithActor(context.Background(), directory.SystemActor("test"))
	dir := directory.New(d, auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}), directory.Options{Credit: billing.NewGate(d, nil)})
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(nil, dir.SeedStandardCOS(sys))
	acme, err := dir.CreateTenant(sys, directory.TenantSpec{Name: "Acme", ContactEmail: "it@acme.test", Contract: directory.ContractSubscription})
	must(nil, err)
	beta, err := dir.CreateTenant(sys, directory.TenantSpec{Name: "Beta", ContactEmail: "it@beta.test", Contract: directory.ContractPayg})
	must(nil, err)
	must(dir.AddDomain(sys, "Acme", "acme.test", directory.DomainOptions{}))
	must(dir.AddDomain(sys, "Beta", "beta.test", directory.DomainOptions{}))
	must(nil, dir.SetContractCap(sys, "Acme", "Business Mail 100 MB", 5))
	must(dir.CreateAccount(sys, directory.AccountSpec{Address: "alice@acme.test", Password: "Strong-Secret-4242", COS: "Business Mail 100 MB"}))
	must(dir.CreateAccount(sys, directory.AccountSpec{Address: "zed@beta.test", Password: "Strong-Secret-4343", COS: "Business Mail 100 MB"}))
	for _, a := range []directory.AdminSpec{
		{Email: "boss@provider.test", Password: adminPW, Role: directory.RoleProvider},
		{Email: "admin@beta.test", Password: adminPW, Role: directory.RoleTenantAdmin, Tenant: "Beta"},
		{Email: "dom@acme.test", Password: adminPW, Role: directory.RoleDomainAdmin, Tenant: "Acme", Domains: []string{"acme.test"}},
	} {
		must(dir.CreateAdmin(sys, a))
	}
	web := webauth.New(d, dir, auth.NewThrottle(auth.ThrottleConfig{}, nil), webauth.Options{})
	bill := billing.New(d, dir, billing.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c, err := newConsole(dir, web, Options{Hostname: "mail.example.test", Resolver: fakeResolver{}, LookupTimeout: time.Second, Billing: bill})
	must(nil, err)
	srv := httptest.NewTLSServer(c)
	t.Cleanup(srv.Close)
	e := &env{t: t, dir: dir, web: web, srv: srv, sys: sys}
	betaID, acmeID := strconv.FormatInt(beta.ID, 10), strconv.FormatInt(acme.ID, 10)
	inline := regexp.MustCompile(`(?i)\sstyle=|<style|<script>|\son[a-z]+=|javascript:`)
	clean := func(body, what string) {
		t.Helper()
		if m := inline.FindString(body); m != "" {
			t.Fatalf("%s: inline style or script %q", what, m)
		}
	}

	p := e.browser()
	p.login("boss@provider.test")
	body := p.get("/billing")
	p.want(200, "overview")
	contains(t, body, `href="/billing/tenants/`+betaID+`"`, "tenant link")
	contains(t, body, `href="/billing" aria-current="page"`, "navigation")
	clean(body, "overview")
	p.get("/billing/prices")
	p.want(200, "prices")
	cos, _ := dir.GetCOS(sys, "Business Mail 100 MB")
	p.post("/billing/prices", url.Values{"cos": {strconv.FormatInt(cos.ID, 10)}, "points_per_day": {"1,5"}})
	p.want(http.StatusSeeOther, "set price")
	body = p.post("/billing/prices", url.Values{"cos": {strconv.FormatInt(cos.ID, 10)}, "points_per_day": {"1"}, "from": {"2000-01-01"}})
	p.want(http.StatusUnprocessableEntity, "price in the past")
	contains(t, body, "the past is never rewritten", "price refusal")
	body = p.get("/billing/prices")
	contains(t, body, "<td class=\"num nowrap\">1.5</td>", "price shown")
	contains(t, body, "<td class=\"num hide-sm nowrap\">45</td>", "price per 30 days")
	clean(body, "prices")
	p.post("/billing/settings", url.Values{"points_per_eur": {"80"}, "warn_days": {"20"}, "grace_days": {"5"}, "charge_mode": {"pro-rata"}})
	p.want(http.StatusSeeOther, "settings")
	if st, _ := bill.Settings(sys); st.WarnDays != 20 || st.ChargeMode != billing.ModeProRata || st.SuspendSending {
		t.Fatalf("settings: %+v", st)
	}

	p.get("/billing/tenants/" + betaID)
	p.post("/billing/tenants/"+betaID+"/recharge", url.Values{"eur": {"10"}, "reference": {"CRO-0001"}})
	p.want(http.StatusSeeOther, "recharge")
	p.get("/billing/tenants/" + betaID)
	body = p.post("/billing/tenants/"+betaID+"/recharge", url.Values{"eur": {"10"}, "reference": {"CRO-0001"}})
	p.want(http.StatusUnprocessableEntity, "same reference")
	contains(t, body, "already recorded", "duplicate reference shown")
	body = p.post("/billing/tenants/"+betaID+"/recharge", url.Values{"eur": {"ten"}, "reference": {"CRO-0002"}})
	p.want(http.StatusUnprocessableEntity, "bad amount")
	contains(t, body, `data-test="error-eur"`, "amount error on the field")
	body = p.get("/billing/tenants/" + betaID)
	p.want(200, "wallet page")
	contains(t, body, `<span class="stat-value" data-test="balance">800</span>`, "balance")
	contains(t, body, `<svg class="chart"`, "chart")
	contains(t, body, "CRO-0001", "ledger")
	contains(t, body, `data-test="recharge-form"`, "recharge form for the provider")
	clean(body, "wallet page")
	for _, by := range []string{"day", "cos", "account"} {
		body = p.get("/billing/tenants/" + betaID + "?by=" + by)
		p.want(200, "usage by "+by)
		clean(body, "usage by "+by)
	}
	contains(t, body, "zed@beta.test", "usage by account")
	p.get("/billing/tenants/" + betaID + "/usage.csv?by=account")
	p.want(200, "usage csv")
	if !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv content type %q", p.header.Get("Content-Type"))
	}
	p.get("/billing/tenants/" + betaID + "/usage.xlsx?by=cos")
	p.want(200, "usage xlsx")
	if p.header.Get("Content-Type") != xlsxType {
		t.Fatalf("xlsx content type %q", p.header.Get("Content-Type"))
	}
	body = p.get("/billing/tenants/" + betaID + "/ledger.csv")
	contains(t, body, "recharge,800,800,10.00,80,CRO-0001", "ledger csv")
	body = p.get("/billing/tenants/" + betaID + "/statement?month=" + time.Now().UTC().Format("2006-01"))
	p.want(200, "statement")
	contains(t, body, `data-test="closing">800<`, "closing balance")
	contains(t, body, `/static/billing.css`, "print stylesheet")
	clean(body, "statement")
	body = p.get("/billing/tenants/" + acmeID)
	p.want(200, "subscription tenant")
	contains(t, body, "not charged", "subscription note")
	lacks(t, body, `data-test="recharge-form"`, "no recharge of a subscription")
	p.post("/billing/run", url.Values{"date": {time.Now().UTC().Format("2006-01-02")}})
	p.want(http.StatusUnprocessableEntity, "run for today")
	p.post("/billing/run", url.Values{})
	p.want(http.StatusSeeOther, "run")
	p.get("/static/billing.css")
	p.want(200, "stylesheet")

	// The tenant administrator: its own credit, read only.
	ta := e.browser()
	ta.login("admin@beta.test")
	ta.get("/billing")
	ta.want(http.StatusSeeOther, "tenant admin home")
	if ta.loc != "/billing/tenants/"+betaID {
		t.Fatalf("redirect to %q", ta.loc)
	}
	body = ta.get(ta.loc)
	ta.want(200, "own wallet")
	lacks(t, body, `data-test="recharge-form"`, "no recharge form for a tenant admin")
	ta.get("/billing/tenants/" + acmeID)
	ta.want(http.StatusNotFound, "another tenant's credit")
	ta.get("/billing/tenants/" + acmeID + "/statement?month=2026-01")
	ta.want(http.StatusNotFound, "another tenant's statement")
	ta.post("/billing/tenants/"+betaID+"/recharge", url.Values{"eur": {"1000"}, "reference": {"SELF-1"}})
	ta.want(http.StatusForbidden, "self recharge")
	ta.post("/billing/prices", url.Values{"cos": {strconv.FormatInt(cos.ID, 10)}, "points_per_day": {"0"}})
	ta.want(http.StatusForbidden, "tenant admin sets a price")
	ta.get("/billing/prices")
	ta.want(200, "price list for a tenant admin")

	// The domain administrator has no credit pages.
	da := e.browser()
	da.login("dom@acme.test")
	body = da.get("/")
	lacks(t, body, `href="/billing"`, "navigation of a domain admin")
	da.get("/billing/tenants/" + acmeID)
	da.want(http.StatusForbidden, "domain admin")
}

func TestBillingCharts(t *testing.T) {
	l := newLang("it")
	pts := []billing.DayPoint{{Day: 20500, Value: 1500}, {Day: 20501, Value: -3000}, {Day: 20502, Value: 0}}
	for _, h := range []string{string(barChart(pts, "Consumo <test>", l)), string(lineChart(pts, "Saldo", l)), string(barChart(nil, "vuoto", l))} {
		if !strings.HasPrefix(h, `<svg class="chart"`) || !strings.HasSuffix(h, "</svg>") || strings.Contains(h, "style=") || strings.Contains(h, "<test>") {
			t.Fatalf("chart: %s", h)
		}
	}
	if got := l.Points(-1234567); got != "-1.234,567" {
		t.Fatalf("Italian points: %s", got)
	}
	if got := newLang("en").Points(1500); got != "1.5" {
		t.Fatalf("English points: %s", got)
	}
}
