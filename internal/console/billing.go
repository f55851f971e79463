package console

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/billing"
	"github.com/postamail/posta/internal/directory"
)

// The pay-per-use pages: the provider's overview of every wallet, the price list and settings,
// each tenant's credit (balance, burn, charts, consumption, ledger, recharges) and its
// printable monthly statement. Every figure comes from internal/billing, called as the
// logged-in administrator; billing decides who may see what.

func (c *Console) billingRoutes(m *http.ServeMux) {
	m.Handle("GET /billing", c.admin(c.billingHome))
	m.Handle("POST /billing/run", c.admin(c.billingRun))
	m.Handle("GET /billing/prices", c.admin(c.billingPrices))
	m.Handle("POST /billing/prices", c.admin(c.billingSetPrice))
	m.Handle("POST /billing/settings", c.admin(c.billingSetSettings))
	m.Handle("GET /billing/tenants/{id}", c.admin(c.billingTenant))
	m.Handle("POST /billing/tenants/{id}/recharge", c.admin(c.billingRecharge))
	m.Handle("POST /billing/tenants/{id}/adjust", c.admin(c.billingAdjust))
	m.Handle("GET /billing/tenants/{id}/usage.csv", c.admin(c.billingUsageCSV))
	m.Handle("GET /billing/tenants/{id}/usage.xlsx", c.admin(c.billingUsageCSV))
	m.Handle("GET /billing/tenants/{id}/ledger.csv", c.admin(c.billingLedgerCSV))
	m.Handle("GET /billing/tenants/{id}/ledger.xlsx", c.admin(c.billingLedgerCSV))
	m.Handle("GET /billing/tenants/{id}/statement", c.admin(c.billingStatement))
}

func (c *Console) bill() (*billing.Service, error) {
	if c.opts.Billing == nil {
		return nil, directory.ErrNotFound
	}
	return c.opts.Billing, nil
}

// billingHomePage is the provider's overview.
type billingHomePage struct {
	Wallets  []*billing.Wallet
	Settings billing.Settings
	Run      *form
	Totals   struct {
		Balance, Burn   billing.MilliPoints
		Payg, Low, Over int
	}
}

func (c *Console) billingHome(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showBillingHome(w, r, v, nil, http.StatusOK)
}

func (c *Console) showBillingHome(w http.ResponseWriter, r *http.Request, v *view, run *form, status int) error {
	b, err := c.bill()
	if err != nil {
		return err
	}
	if !v.IsProvider() {
		if v.IsTenantAdmin() {
			http.Redirect(w, r, "/billing/tenants/"+strconv.FormatInt(v.Actor.TenantID, 10), http.StatusSeeOther)
			return nil
		}
		return directory.ErrNotFound
	}
	p := billingHomePage{Run: run}
	if p.Run == nil {
		p.Run = newForm(v.L, nil)
	}
	if p.Wallets, err = b.Wallets(r.Context()); err != nil {
		return err
	}
	if p.Settings, err = b.Settings(r.Context()); err != nil {
		return err
	}
	for _, wl := range p.Wallets {
		if !wl.Charged {
			continue
		}
		p.Totals.Payg++
		p.Totals.Balance += wl.Balance
		p.Totals.Burn += wl.DailyBurn
		if wl.WarnLevel > 0 {
			p.Totals.Low++
		}
		if wl.Restricted {
			p.Totals.Over++
		}
	}
	v.Nav, v.Title, v.Data = "billing", v.L.T("nav.billing"), p
	c.render(w, v, status, "layout", "billing")
	return nil
}

func (c *Console) billingRun(w http.ResponseWriter, r *http.Request, v *view) error {
	b, err := c.bill()
	if err != nil {
		return err
	}
	f := postForm(r, v.L)
	res, err := b.Run(r.Context(), strings.TrimSpace(f.Get("date")))
	if err != nil {
		if formRefusal(err) && f.refuse(err, "date") {
			return c.showBillingHome(w, r, v, f, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/billing", "flash.billing_run", fmt.Sprintf("%s · %d · %s", res.Through, res.Days, res.Charged))
}

// billingPricesPage is the price list with, for the provider, the forms that change it and
// the settings.
type billingPricesPage struct {
	Prices   []billing.PriceLine
	COS      []*directory.COS
	Form     *form
	Settings billing.Settings
	Set      *form
	Modes    []string
}

func (c *Console) billingPrices(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showBillingPrices(w, r, v, nil, nil, http.StatusOK)
}

func (c *Console) showBillingPrices(w http.ResponseWriter, r *http.Request, v *view, pf, sf *form, status int) error {
	b, err := c.bill()
	if err != nil {
		return err
	}
	ctx := r.Context()
	p := billingPricesPage{Form: pf, Set: sf, Modes: []string{billing.ModeWholeDay, billing.ModeProRata}}
	if p.Prices, err = b.Prices(ctx); err != nil {
		return err
	}
	if v.IsProvider() {
		if p.COS, err = c.dir.ListCOS(ctx); err != nil {
			return err
		}
		if p.Settings, err = b.Settings(ctx); err != nil {
			return err
		}
	}
	if p.Form == nil {
		p.Form = newForm(v.L, nil)
	}
	if p.Set == nil {
		st := p.Settings
		p.Set = newForm(v.L, url.Values{"points_per_eur": {strconv.FormatInt(st.PointsPerEUR, 10)}, "warn_days": {strconv.FormatInt(st.WarnDays, 10)},
			"grace_days": {strconv.FormatInt(st.GraceDays, 10)}, "charge_mode": {st.ChargeMode}})
		if st.SuspendSending {
			p.Set.Set("suspend_sending", "on")
		}
	}
	v.Nav, v.Title, v.Data = "billing", v.L.T("billing.prices"), p
	c.render(w, v, status, "layout", "billing_prices")
	return nil
}

func (c *Console) billingSetPrice(w http.ResponseWriter, r *http.Request, v *view) error {
	b, err := c.bill()
	if err != nil {
		return err
	}
	f := postForm(r, v.L)
	pts, perr := billing.ParsePoints(f.Get("points_per_day"))
	if perr != nil || pts < 0 {
		f.fieldErr("points_per_day", "billing.bad_points")
		return c.showBillingPrices(w, r, v, f, nil, http.StatusUnprocessableEntity)
	}
	p, err := b.SetPrice(r.Context(), f.Get("cos"), pts, strings.TrimSpace(f.Get("from")))
	if err != nil {
		if formRefusal(err) && f.refuse(err, "cos", "points_per_day", "from", "date=from") {
			return c.showBillingPrices(w, r, v, f, nil, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/billing/prices", "flash.billing_price", p.COS)
}

func (c *Console) billingSetSettings(w http.ResponseWriter, r *http.Request, v *view) error {
	b, err := c.bill()
	if err != nil {
		return err
	}
	f := postForm(r, v.L)
	susp := "false"
	if f.Checked("suspend_sending") {
		susp = "true"
	}
	for _, kv := range [][2]string{{"points_per_eur", f.Get("points_per_eur")}, {"warn_days", f.Get("warn_days")},
		{"grace_days", f.Get("grace_days")}, {"charge_mode", f.Get("charge_mode")}, {"suspend_sending", susp}} {
		if _, err := b.SetSetting(r.Context(), kv[0], kv[1]); err != nil {
			if formRefusal(err) && f.refuse(err, "points_per_eur", "warn_days", "grace_days", "charge_mode", "suspend_sending") {
				return c.showBillingPrices(w, r, v, nil, f, http.StatusUnprocessableEntity)
			}
			return err
		}
	}
	return redirect(w, r, "/billing/prices", "flash.billing_settings", "")
}

// billingTenantPage is a tenant's credit and consumption.
type billingTenantPage struct {
	Wallet   *billing.Wallet
	Usage    *billing.Usage
	By       string
	Bys      []string
	Ledger   []billing.Movement
	Burn     template.HTML
	Balance  template.HTML
	Recharge *form
	Adjust   *form
	Months   []string
	Query    string // by, from, to of the usage shown, for the CSV link
}

func (c *Console) billingTenant(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showBillingTenant(w, r, v, nil, nil, http.StatusOK)
}

func (c *Console) showBillingTenant(w http.ResponseWriter, r *http.Request, v *view, rf, af *form, status int) error {
	b, err := c.bill()
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return directory.ErrNotFound
	}
	q := r.URL.Query()
	p := billingTenantPage{Recharge: rf, Adjust: af, By: q.Get("by"), Bys: []string{billing.ByDay, billing.ByCOS, billing.ByAccount}}
	if p.Wallet, err = b.Balance(ctx, id); err != nil {
		return err
	}
	if p.By == "" {
		p.By = billing.ByDay
	}
	from, to := strings.TrimSpace(q.Get("from")), strings.TrimSpace(q.Get("to"))
	if p.Usage, err = b.UsageFor(ctx, id, p.By, from, to); err != nil {
		var de *directory.Error
		if !errors.As(err, &de) || de.Kind != "invalid-argument" {
			return err
		}
		v.Flash, v.FlashKind = v.L.Err(err), "error"
		if p.Usage, err = b.UsageFor(ctx, id, billing.ByDay, "", ""); err != nil {
			return err
		}
		p.By = billing.ByDay
	}
	p.Query = url.Values{"by": {p.By}, "from": {p.Usage.From.String()}, "to": {p.Usage.To.String()}}.Encode()
	ms, err := b.Ledger(ctx, id, "", "")
	if err != nil {
		return err
	}
	for i := len(ms) - 1; i >= 0 && len(p.Ledger) < 50; i-- {
		p.Ledger = append(p.Ledger, ms[i])
	}
	burn, balance, err := b.History(ctx, id, 60)
	if err != nil {
		return err
	}
	p.Burn = barChart(burn, v.L.T("billing.chart.burn"), v.L)
	if p.Wallet.Charged {
		p.Balance = lineChart(balance, v.L.T("billing.chart.balance"), v.L)
	}
	now := c.opts.Now().UTC()
	for i := range 12 {
		p.Months = append(p.Months, now.AddDate(0, -i, 1-now.Day()).Format("2006-01"))
	}
	if p.Recharge == nil {
		p.Recharge = newForm(v.L, url.Values{"date": {now.Format("2006-01-02")}})
	}
	if p.Adjust == nil {
		p.Adjust = newForm(v.L, url.Values{"kind": {billing.KindAdjustment}})
	}
	v.Nav, v.Title, v.Data = "billing", v.L.T("billing.tenant_title", p.Wallet.Tenant), p
	c.render(w, v, status, "layout", "billing_tenant")
	return nil
}

func (c *Console) billingRecharge(w http.ResponseWriter, r *http.Request, v *view) error {
	b, err := c.bill()
	if err != nil {
		return err
	}
	f := postForm(r, v.L)
	id := r.PathValue("id")
	m, err := b.Recharge(r.Context(), billing.RechargeSpec{Tenant: id, EUR: f.Get("eur"), Reference: f.Get("reference"), Date: strings.TrimSpace(f.Get("date")), Reason: f.Get("reason")})
	if err != nil {
		if formRefusal(err) && f.refuse(err, "eur", "reference", "date", "reason", "tenant=eur") {
			return c.showBillingTenant(w, r, v, f, nil, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/billing/tenants/"+id, "flash.billing_recharged", m.Amount.String())
}

func (c *Console) billingAdjust(w http.ResponseWriter, r *http.Request, v *view) error {
	b, err := c.bill()
	if err != nil {
		return err
	}
	f := postForm(r, v.L)
	id := r.PathValue("id")
	pts, perr := billing.ParsePoints(f.Get("points"))
	if perr != nil {
		f.fieldErr("points", "billing.bad_points")
		return c.showBillingTenant(w, r, v, nil, f, http.StatusUnprocessableEntity)
	}
	m, err := b.Adjust(r.Context(), id, f.Get("kind"), pts, f.Get("reason"), f.Get("reference"))
	if err != nil {
		if formRefusal(err) && f.refuse(err, "kind", "points", "reason", "reference") {
			return c.showBillingTenant(w, r, v, nil, f, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/billing/tenants/"+id, "flash.billing_adjusted", m.Amount.String())
}

func (c *Console) billingUsageCSV(w http.ResponseWriter, r *http.Request, v *view) error {
	b, err := c.bill()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	u, err := b.UsageFor(r.Context(), r.PathValue("id"), q.Get("by"), q.Get("from"), q.Get("to"))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	name := fmt.Sprintf("usage-%d-%s-%s-%s", u.TenantID, u.By, u.From, u.To)
	if strings.HasSuffix(r.URL.Path, ".xlsx") {
		if err := billing.WriteUsageXLSX(&buf, u); err != nil {
			return err
		}
		return sendFile(w, xlsxType, name+".xlsx", buf.Bytes())
	}
	if err := billing.WriteUsageCSV(&buf, u); err != nil {
		return err
	}
	return sendFile(w, "text/csv; charset=utf-8", name+".csv", buf.Bytes())
}

func (c *Console) billingLedgerCSV(w http.ResponseWriter, r *http.Request, v *view) error {
	b, err := c.bill()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ms, err := b.Ledger(r.Context(), r.PathValue("id"), q.Get("from"), q.Get("to"))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if strings.HasSuffix(r.URL.Path, ".xlsx") {
		if err := billing.WriteLedgerXLSX(&buf, ms); err != nil {
			return err
		}
		return sendFile(w, xlsxType, "ledger-"+r.PathValue("id")+".xlsx", buf.Bytes())
	}
	if err := billing.WriteLedgerCSV(&buf, ms); err != nil {
		return err
	}
	return sendFile(w, "text/csv; charset=utf-8", "ledger-"+r.PathValue("id")+".csv", buf.Bytes())
}

// formRefusal tells a refusal to show on the form from one that replaces the page (not found,
// forbidden).
func formRefusal(err error) bool {
	return !errors.Is(err, directory.ErrNotFound) && !errors.Is(err, directory.ErrForbidden)
}

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

func sendFile(w http.ResponseWriter, contentType, name string, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

func (c *Console) billingStatement(w http.ResponseWriter, r *http.Request, v *view) error {
	b, err := c.bill()
	if err != nil {
		return err
	}
	month := r.URL.Query().Get("month")
	if month == "" {
		month = c.opts.Now().UTC().Format("2006-01")
	}
	st, err := b.StatementFor(r.Context(), r.PathValue("id"), month)
	if err != nil {
		return err
	}
	v.Nav, v.Title, v.Data = "billing", v.L.T("billing.statement_title", st.Tenant, st.Month), st
	c.render(w, v, http.StatusOK, "printable", "billing_statement")
	return nil
}

// Charts are inline SVG built here with presentation attributes only (the CSP forbids inline
// styles and scripts); coordinates are computed in integers.

const (
	chartW, chartH  = 720, 220
	chartL, chartR  = 64, 12
	chartT, chartB  = 16, 28
	chartPlotW      = chartW - chartL - chartR
	chartPlotH      = chartH - chartT - chartB
	chartBar        = "#2f6fed"
	chartLine       = "#1a7f4b"
	chartGrid       = "#e3e7ee"
	chartText       = "#667085"
	chartNegative   = "#c43d32"
	chartFontFamily = "system-ui, sans-serif"
)

func svgOpen(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		chartW, chartH, chartW, chartH, html.EscapeString(title))
	fmt.Fprintf(b, `<title>%s</title>`, html.EscapeString(title))
}

func svgText(b *strings.Builder, x, y int64, anchor, s string) {
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="%s" font-size="11" font-family="%s" fill="%s">%s</text>`, x, y, anchor, chartFontFamily, chartText, html.EscapeString(s))
}

// scale returns the range of the axis: lo ≤ 0 ≤ hi, hi > lo.
func scale(pts []billing.DayPoint) (lo, hi int64) {
	for _, p := range pts {
		lo, hi = min(lo, int64(p.Value)), max(hi, int64(p.Value))
	}
	if hi == lo {
		hi = lo + billing.PerPoint
	}
	return lo, hi
}

func yOf(v, lo, hi int64) int64 { return chartT + (hi-v)*chartPlotH/(hi-lo) }

func axes(b *strings.Builder, pts []billing.DayPoint, lo, hi int64, l *lang) {
	for _, v := range []int64{hi, lo, 0} {
		y := yOf(v, lo, hi)
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1"/>`, chartL, y, chartW-chartR, y, chartGrid)
		svgText(b, chartL-6, y+4, "end", l.Points(billing.MilliPoints(v)))
		if lo == 0 {
			break
		}
	}
	if len(pts) > 0 {
		svgText(b, chartL, chartH-8, "start", l.Day(pts[0].Day))
		svgText(b, chartW-chartR, chartH-8, "end", l.Day(pts[len(pts)-1].Day))
	}
}

// barChart draws one bar per day.
func barChart(pts []billing.DayPoint, title string, l *lang) template.HTML {
	var b strings.Builder
	svgOpen(&b, title)
	lo, hi := scale(pts)
	axes(&b, pts, lo, hi, l)
	n := int64(max(len(pts), 1))
	slot := int64(chartPlotW) * 1000 / n // in thousandths of a pixel
	zero := yOf(0, lo, hi)
	for i, p := range pts {
		x := chartL + int64(i)*slot/1000
		wdt := max(slot*8/10/1000, 1)
		y := yOf(int64(p.Value), lo, hi)
		top, h := min(y, zero), max(y, zero)-min(y, zero)
		fill := chartBar
		if p.Value < 0 {
			fill = chartNegative
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s: %s</title></rect>`,
			x, top, wdt, max(h, 1), fill, html.EscapeString(l.Day(p.Day)), html.EscapeString(l.Points(p.Value)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// lineChart draws the series as a step line, with the zero line.
func lineChart(pts []billing.DayPoint, title string, l *lang) template.HTML {
	var b strings.Builder
	svgOpen(&b, title)
	lo, hi := scale(pts)
	axes(&b, pts, lo, hi, l)
	n := int64(max(len(pts), 1))
	var path strings.Builder
	for i, p := range pts {
		x0 := chartL + int64(i)*chartPlotW/n
		x1 := chartL + int64(i+1)*chartPlotW/n
		y := yOf(int64(p.Value), lo, hi)
		if i == 0 {
			fmt.Fprintf(&path, "M%d %d", x0, y)
		} else {
			fmt.Fprintf(&path, " L%d %d", x0, y)
		}
		fmt.Fprintf(&path, " L%d %d", x1, y)
	}
	if path.Len() > 0 {
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`, path.String(), chartLine)
	}
	if lo < 0 {
		y := yOf(0, lo, hi)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1" stroke-dasharray="4 3"/>`, chartL, y, chartW-chartR, y, chartNegative)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Points formats an amount of points in the language (decimal comma in Italian).
func (l *lang) Points(m billing.MilliPoints) string {
	s := m.String()
	whole, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(whole, "-")
	n, _ := strconv.ParseInt(strings.TrimPrefix(whole, "-"), 10, 64)
	out := l.Num(n)
	if neg {
		out = "-" + out
	}
	if frac != "" {
		if l.Code == "it" {
			out += "," + frac
		} else {
			out += "." + frac
		}
	}
	return out
}

// Day formats a day in the language.
func (l *lang) Day(d billing.Day) string {
	if l.Code == "it" {
		return d.Time().Format("02/01/2006")
	}
	return d.String()
}

// DayPtr formats an optional day ("—" when nil).
func (l *lang) DayPtr(d *billing.Day) string {
	if d == nil {
		return "—"
	}
	return l.Day(*d)
}

// EUR formats euro given as "123.45".
func (l *lang) EUR(s string) string {
	if s == "" {
		return ""
	}
	if l.Code == "it" {
		whole, frac, _ := strings.Cut(s, ".")
		n, _ := strconv.ParseInt(strings.TrimPrefix(whole, "-"), 10, 64)
		out := l.Num(n) + "," + frac
		if strings.HasPrefix(whole, "-") {
			out = "-" + out
		}
		return "€ " + out
	}
	return "€" + s
}

func init() {
	maps.Copy(messagesEN, billingEN)
	maps.Copy(messagesIT, billingIT)
}

var billingEN = map[string]string{
	"nav.billing":                         "Credit",
	"billing.intro":                       "Pay-per-use tenants are charged every day, once the day is over, for the services they had that day; subscription tenants are shown at list price and not charged.",
	"billing.payg":                        "Pay-per-use tenants",
	"billing.total_balance":               "Total balance",
	"billing.total_burn":                  "Charged per day",
	"billing.low":                         "Running low",
	"billing.restricted":                  "Past grace",
	"billing.tenant":                      "Tenant",
	"billing.balance":                     "Balance",
	"billing.burn":                        "Daily burn",
	"billing.days":                        "Days left",
	"billing.state":                       "State",
	"billing.accounts":                    "Accounts",
	"billing.charged_through":             "Charged through",
	"billing.not_charged":                 "subscription, not charged",
	"billing.unlimited":                   "no use",
	"billing.state.ok":                    "OK",
	"billing.state.low":                   "Low",
	"billing.state.very-low":              "Very low",
	"billing.state.exhausted":             "Exhausted",
	"billing.run_title":                   "Charge run",
	"billing.run_text":                    "The run charges every day not yet charged up to the day given (default: yesterday). It runs by itself every hour; running it again never charges a day twice.",
	"billing.run_date":                    "Last day to charge",
	"billing.run":                         "Charge now",
	"billing.prices":                      "Price list",
	"billing.prices_intro":                "Daily price of each class of service, in points. A change takes effect from the day given (today or later): days already begun keep their price.",
	"billing.cos":                         "Class of service",
	"billing.per_day":                     "Points per day",
	"billing.per_30":                      "Per 30 days",
	"billing.since":                       "Since",
	"billing.next":                        "Next change",
	"billing.unpriced":                    "no price (free)",
	"billing.set_price":                   "Set a price",
	"billing.from":                        "From",
	"billing.save_price":                  "Save price",
	"billing.settings":                    "Settings",
	"billing.points_per_eur":              "Points per euro",
	"billing.warn_days":                   "Warn when the credit covers fewer days than",
	"billing.grace_days":                  "Grace days after the credit runs out",
	"billing.charge_mode":                 "Charge rule",
	"billing.mode.whole-day":              "Whole day: a class held at any time of the day is charged for the day",
	"billing.mode.pro-rata":               "Pro rata: each class is charged for the time it was held",
	"billing.suspend_sending":             "Suspend sending after the grace period",
	"billing.webhook":                     "Payment webhook",
	"billing.webhook_on":                  "A secret is set: POST /api/v1/billing/webhook takes signed payments.",
	"billing.webhook_off":                 "No secret set: create one with 'posta billing webhook-secret' or the API.",
	"billing.tenant_title":                "Credit of %s",
	"billing.balance_eur":                 "about %s",
	"billing.days_left":                   "%d days left",
	"billing.grace_until":                 "Credit ran out on %s; new accounts and upgrades refused from %s.",
	"billing.restricted_now":              "The grace period is over: new accounts and upgrades are refused until a recharge.",
	"billing.subscription_note":           "This tenant has a subscription: it is not charged. The figures are the value of its services at list price.",
	"billing.chart.burn":                  "Daily consumption, last 60 days",
	"billing.chart.balance":               "Balance at the end of each day, last 60 days",
	"billing.usage":                       "Consumption",
	"billing.by":                          "Group by",
	"billing.by.day":                      "Day",
	"billing.by.cos":                      "Class of service",
	"billing.by.account":                  "Account",
	"billing.to":                          "To",
	"billing.show":                        "Show",
	"billing.csv":                         "CSV",
	"billing.xlsx":                        "Excel",
	"billing.day":                         "Day",
	"billing.account":                     "Account",
	"billing.account_days":                "Account-days",
	"billing.amount":                      "Amount",
	"billing.charged":                     "Charged",
	"billing.total":                       "Total",
	"billing.no_usage":                    "No services in this period.",
	"billing.ledger":                      "Ledger",
	"billing.ledger_intro":                "Every movement, newest first (the last 50). Movements are never changed or removed.",
	"billing.seq":                         "#",
	"billing.kind":                        "Movement",
	"billing.kind.recharge":               "Recharge",
	"billing.kind.charge":                 "Daily charge",
	"billing.kind.adjustment":             "Adjustment",
	"billing.kind.refund":                 "Refund",
	"billing.after":                       "Balance after",
	"billing.reference":                   "Reference",
	"billing.reason":                      "Reason",
	"billing.who":                         "Who",
	"billing.no_movements":                "No movements yet.",
	"billing.statements":                  "Monthly statements",
	"billing.recharge":                    "Record a recharge",
	"billing.eur":                         "Amount in euro",
	"billing.eur_hint":                    "Converted at %d points per euro.",
	"billing.value_date":                  "Value date",
	"billing.reference_hint":              "Bank transfer CRO/TRN or payment id: each is recorded once.",
	"billing.do_recharge":                 "Record recharge",
	"billing.adjust":                      "Adjustment or refund",
	"billing.points":                      "Points (negative to debit)",
	"billing.do_adjust":                   "Record",
	"billing.bad_points":                  "Write a number of points with at most three decimals.",
	"billing.statement_title":             "Statement of %s, %s",
	"billing.statement":                   "Statement",
	"billing.period":                      "Period",
	"billing.opening":                     "Opening balance",
	"billing.closing":                     "Closing balance",
	"billing.recharged":                   "Recharges",
	"billing.charges":                     "Charges",
	"billing.adjustments":                 "Adjustments",
	"billing.refunds":                     "Refunds",
	"billing.rate":                        "Rate: %d points per euro. Charge rule: %s.",
	"billing.print":                       "Print it with the browser (Ctrl+P) or save it as PDF.",
	"billing.back":                        "Back to the credit page",
	"billing.generated":                   "Generated %s",
	"billing.date":                        "Date",
	"flash.billing_run":                   "Charge run done (through, tenant-days, points): %s.",
	"flash.billing_price":                 "Price of %s saved.",
	"flash.billing_settings":              "Billing settings saved.",
	"flash.billing_recharged":             "Recharge of %s points recorded.",
	"flash.billing_adjusted":              "Movement of %s points recorded.",
	"kind.insufficient-credit":            "Insufficient credit",
	"kind.duplicate-reference":            "Reference already recorded",
	"kind.charge-run-busy":                "A charge run is in progress",
	"kind.invalid-signature":              "Invalid signature",
	"kind.webhook-disabled":               "Webhook not configured",
	"kind.billing-disabled":               "Billing not configured",
	"audit.action.billing.price":          "price set",
	"audit.action.billing.recharge":       "recharge",
	"audit.action.billing.adjustment":     "credit adjusted",
	"audit.action.billing.refund":         "refund",
	"audit.action.billing.setting":        "billing setting",
	"audit.action.billing.webhook_secret": "webhook secret rotated",
}

var billingIT = map[string]string{
	"nav.billing":                         "Credito",
	"billing.intro":                       "I clienti a consumo sono addebitati ogni giorno, a giornata conclusa, per i servizi attivi quel giorno; i clienti in abbonamento sono valorizzati a listino e non addebitati.",
	"billing.payg":                        "Clienti a consumo",
	"billing.total_balance":               "Saldo totale",
	"billing.total_burn":                  "Addebito giornaliero",
	"billing.low":                         "In esaurimento",
	"billing.restricted":                  "Oltre la tolleranza",
	"billing.tenant":                      "Cliente",
	"billing.balance":                     "Saldo",
	"billing.burn":                        "Consumo giornaliero",
	"billing.days":                        "Giorni residui",
	"billing.state":                       "Stato",
	"billing.accounts":                    "Caselle",
	"billing.charged_through":             "Addebitato fino al",
	"billing.not_charged":                 "abbonamento, non addebitato",
	"billing.unlimited":                   "nessun consumo",
	"billing.state.ok":                    "Regolare",
	"billing.state.low":                   "Basso",
	"billing.state.very-low":              "Molto basso",
	"billing.state.exhausted":             "Esaurito",
	"billing.run_title":                   "Addebito giornaliero",
	"billing.run_text":                    "L'addebito conteggia ogni giorno non ancora addebitato fino al giorno indicato (predefinito: ieri). Viene eseguito automaticamente ogni ora; ripeterlo non addebita mai due volte lo stesso giorno.",
	"billing.run_date":                    "Ultimo giorno da addebitare",
	"billing.run":                         "Addebita ora",
	"billing.prices":                      "Listino",
	"billing.prices_intro":                "Prezzo giornaliero in punti di ogni classe di servizio. Una modifica vale dal giorno indicato (oggi o dopo): i giorni già iniziati mantengono il loro prezzo.",
	"billing.cos":                         "Classe di servizio",
	"billing.per_day":                     "Punti al giorno",
	"billing.per_30":                      "Ogni 30 giorni",
	"billing.since":                       "Dal",
	"billing.next":                        "Prossima variazione",
	"billing.unpriced":                    "senza prezzo (gratuita)",
	"billing.set_price":                   "Imposta un prezzo",
	"billing.from":                        "Dal",
	"billing.save_price":                  "Salva prezzo",
	"billing.settings":                    "Impostazioni",
	"billing.points_per_eur":              "Punti per euro",
	"billing.warn_days":                   "Avvisa quando il credito copre meno giorni di",
	"billing.grace_days":                  "Giorni di tolleranza a credito esaurito",
	"billing.charge_mode":                 "Regola di addebito",
	"billing.mode.whole-day":              "Giornata intera: una classe attiva in qualsiasi momento del giorno è addebitata per il giorno",
	"billing.mode.pro-rata":               "Pro rata: ogni classe è addebitata per il tempo in cui è stata attiva",
	"billing.suspend_sending":             "Sospendi l'invio dopo la tolleranza",
	"billing.webhook":                     "Webhook di pagamento",
	"billing.webhook_on":                  "Segreto impostato: POST /api/v1/billing/webhook accetta pagamenti firmati.",
	"billing.webhook_off":                 "Nessun segreto: crealo con 'posta billing webhook-secret' o con l'API.",
	"billing.tenant_title":                "Credito di %s",
	"billing.balance_eur":                 "circa %s",
	"billing.days_left":                   "%d giorni residui",
	"billing.grace_until":                 "Credito esaurito il %s; nuove caselle e passaggi a classi superiori rifiutati dal %s.",
	"billing.restricted_now":              "La tolleranza è terminata: nuove caselle e passaggi a classi superiori sono rifiutati fino a una ricarica.",
	"billing.subscription_note":           "Questo cliente ha un abbonamento: non viene addebitato. Gli importi sono il valore a listino dei suoi servizi.",
	"billing.chart.burn":                  "Consumo giornaliero, ultimi 60 giorni",
	"billing.chart.balance":               "Saldo a fine giornata, ultimi 60 giorni",
	"billing.usage":                       "Consumi",
	"billing.by":                          "Raggruppa per",
	"billing.by.day":                      "Giorno",
	"billing.by.cos":                      "Classe di servizio",
	"billing.by.account":                  "Casella",
	"billing.to":                          "Al",
	"billing.show":                        "Mostra",
	"billing.csv":                         "CSV",
	"billing.xlsx":                        "Excel",
	"billing.day":                         "Giorno",
	"billing.account":                     "Casella",
	"billing.account_days":                "Caselle-giorno",
	"billing.amount":                      "Importo",
	"billing.charged":                     "Addebitato",
	"billing.total":                       "Totale",
	"billing.no_usage":                    "Nessun servizio nel periodo.",
	"billing.ledger":                      "Movimenti",
	"billing.ledger_intro":                "Tutti i movimenti, dal più recente (gli ultimi 50). I movimenti non vengono mai modificati né cancellati.",
	"billing.seq":                         "N.",
	"billing.kind":                        "Movimento",
	"billing.kind.recharge":               "Ricarica",
	"billing.kind.charge":                 "Addebito giornaliero",
	"billing.kind.adjustment":             "Rettifica",
	"billing.kind.refund":                 "Rimborso",
	"billing.after":                       "Saldo dopo",
	"billing.reference":                   "Riferimento",
	"billing.reason":                      "Causale",
	"billing.who":                         "Chi",
	"billing.no_movements":                "Nessun movimento.",
	"billing.statements":                  "Estratti conto mensili",
	"billing.recharge":                    "Registra una ricarica",
	"billing.eur":                         "Importo in euro",
	"billing.eur_hint":                    "Convertito a %d punti per euro.",
	"billing.value_date":                  "Data valuta",
	"billing.reference_hint":              "CRO/TRN del bonifico o identificativo del pagamento: ognuno è registrato una sola volta.",
	"billing.do_recharge":                 "Registra ricarica",
	"billing.adjust":                      "Rettifica o rimborso",
	"billing.points":                      "Punti (negativi per addebitare)",
	"billing.do_adjust":                   "Registra",
	"billing.bad_points":                  "Scrivi un numero di punti con al massimo tre decimali.",
	"billing.statement_title":             "Estratto conto di %s, %s",
	"billing.statement":                   "Estratto conto",
	"billing.period":                      "Periodo",
	"billing.opening":                     "Saldo iniziale",
	"billing.closing":                     "Saldo finale",
	"billing.recharged":                   "Ricariche",
	"billing.charges":                     "Addebiti",
	"billing.adjustments":                 "Rettifiche",
	"billing.refunds":                     "Rimborsi",
	"billing.rate":                        "Cambio: %d punti per euro. Regola di addebito: %s.",
	"billing.print":                       "Stampalo dal browser (Ctrl+P) o salvalo in PDF.",
	"billing.back":                        "Torna al credito",
	"billing.generated":                   "Generato il %s",
	"billing.date":                        "Data",
	"flash.billing_run":                   "Addebito eseguito (fino al, giorni-cliente, punti): %s.",
	"flash.billing_price":                 "Prezzo di %s salvato.",
	"flash.billing_settings":              "Impostazioni salvate.",
	"flash.billing_recharged":             "Ricarica di %s punti registrata.",
	"flash.billing_adjusted":              "Movimento di %s punti registrato.",
	"kind.insufficient-credit":            "Credito insufficiente",
	"kind.duplicate-reference":            "Riferimento già registrato",
	"kind.charge-run-busy":                "Addebito già in corso",
	"kind.invalid-signature":              "Firma non valida",
	"kind.webhook-disabled":               "Webhook non configurato",
	"kind.billing-disabled":               "Fatturazione non configurata",
	"audit.action.billing.price":          "prezzo impostato",
	"audit.action.billing.recharge":       "ricarica",
	"audit.action.billing.adjustment":     "rettifica del credito",
	"audit.action.billing.refund":         "rimborso",
	"audit.action.billing.setting":        "impostazione di fatturazione",
	"audit.action.billing.webhook_secret": "segreto del webhook rinnovato",
}
