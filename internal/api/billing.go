package api

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/postamail/posta/internal/billing"
	"github.com/postamail/posta/internal/directory"
)

// Request bodies of the billing routes.
type (
	priceRequest struct {
		PointsPerDay string `json:"points_per_day"` // decimal, up to three decimals
		From         string `json:"from,omitempty"` // YYYY-MM-DD, default today
	}
	billingSettingsPatch struct {
		PointsPerEUR   *int64  `json:"points_per_eur,omitempty"`
		WarnDays       *int64  `json:"warn_days,omitempty"`
		GraceDays      *int64  `json:"grace_days,omitempty"`
		ChargeMode     *string `json:"charge_mode,omitempty"`
		SuspendSending *bool   `json:"suspend_sending,omitempty"`
	}
	webhookSecret struct {
		Secret string `json:"secret"` // shown once
		Header string `json:"header"`
	}
	runRequest struct {
		Date string `json:"date,omitempty"` // the last day to charge, default yesterday
	}
	rechargeRequest struct {
		EUR       string `json:"eur"` // decimal string, up to two decimals
		Reference string `json:"reference"`
		Date      string `json:"date,omitempty"`
		Reason    string `json:"reason,omitempty"`
	}
	adjustmentRequest struct {
		Kind      string `json:"kind"`   // adjustment or refund
		Points    string `json:"points"` // signed decimal
		Reason    string `json:"reason"`
		Reference string `json:"reference,omitempty"`
	}
)

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// file is a response that is not JSON (CSV and XLSX exports).
type file struct {
	contentType, name string
	body              []byte
}

func (f *file) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+f.name+`"`)
	w.WriteHeader(http.StatusOK)
	w.Write(f.body)
}

func (a *API) billingRoutes() []route {
	mv := &billing.Movement{}
	return []route{
		{method: "GET", path: "/billing/prices", summary: "The price list: daily price in points of each class of service, current, next and past", tag: "billing", resp: []billing.PriceLine{}, status: 200, fn: a.billingPrices},
		{method: "PUT", path: "/billing/prices/{cos}", summary: "Set the daily price of a class of service from a day on (today or later; provider only)", tag: "billing", body: priceRequest{}, resp: &billing.Price{}, status: 200, fn: a.billingSetPrice},
		{method: "GET", path: "/billing/settings", summary: "Billing settings: points per euro, warning days, grace days, charge rule (provider only)", tag: "billing", resp: billing.Settings{}, status: 200, fn: a.billingSettings},
		{method: "PATCH", path: "/billing/settings", summary: "Change billing settings (provider only)", tag: "billing", body: billingSettingsPatch{}, resp: billing.Settings{}, status: 200, fn: a.billingSetSettings},
		{method: "POST", path: "/billing/webhook-secret", summary: "Set a new secret for the payment webhook and show it once (provider only)", tag: "billing", resp: &webhookSecret{}, status: 201, fn: a.billingRotateSecret},
		{method: "POST", path: "/billing/run", summary: "Charge every day not yet charged up to a day (default yesterday; provider only)", tag: "billing", body: runRequest{}, resp: &billing.RunResult{}, status: 200, fn: a.billingRun},
		{method: "GET", path: "/billing/tenants/{tenant}", summary: "A tenant's credit: balance, daily burn, days remaining, grace", tag: "billing", resp: &billing.Wallet{}, status: 200, fn: a.billingWallet},
		{method: "GET", path: "/billing/tenants/{tenant}/ledger", summary: "A tenant's ledger (format=csv or xlsx for a file)", tag: "billing", query: []string{"from", "to", "format"}, resp: []billing.Movement{}, status: 200, fn: a.billingLedger},
		{method: "POST", path: "/billing/tenants/{tenant}/recharges", summary: "Record a recharge in euro with its payment reference (provider only)", tag: "billing", body: rechargeRequest{}, resp: mv, status: 201, fn: a.billingRecharge},
		{method: "POST", path: "/billing/tenants/{tenant}/adjustments", summary: "Record an adjustment or a refund in points, with a reason (provider only)", tag: "billing", body: adjustmentRequest{}, resp: mv, status: 201, fn: a.billingAdjust},
		{method: "GET", path: "/billing/tenants/{tenant}/usage", summary: "Consumption by day, class of service or account (format=csv or xlsx for a file)", tag: "billing", query: []string{"by", "from", "to", "format"}, resp: &billing.Usage{}, status: 200, fn: a.billingUsage},
		{method: "GET", path: "/billing/tenants/{tenant}/statement", summary: "Monthly statement (month=YYYY-MM)", tag: "billing", query: []string{"month"}, resp: &billing.Statement{}, status: 200, fn: a.billingStatement},
		{method: "POST", path: "/billing/webhook", summary: "Payment webhook: a recharge signed with the webhook secret (" + billing.SignatureHeader + ": sha256=HMAC-SHA256 of the body, hex); a payment reference already recorded is answered again, not credited twice", tag: "billing", public: true, body: billing.WebhookPayment{}, resp: mv, status: 200, fn: a.billingWebhook},
	}
}

var errNoBilling = &directory.Error{Kind: "billing-disabled", Msg: "billing is not configured on this server"}

func (a *API) bill() (*billing.Service, error) {
	if a.opts.Billing == nil {
		return nil, errNoBilling
	}
	return a.opts.Billing, nil
}

func (a *API) billingPrices(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	return b.Prices(r.Context())
}

func (a *API) billingSetPrice(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	var req priceRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	p, err := billing.ParsePoints(req.PointsPerDay)
	if err != nil {
		return nil, &directory.Error{Kind: "invalid-argument", Field: "points_per_day", Msg: err.Error()}
	}
	return b.SetPrice(r.Context(), r.PathValue("cos"), p, req.From)
}

func (a *API) billingSettings(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	return b.Settings(r.Context())
}

func (a *API) billingSetSettings(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	var req billingSettingsPatch
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	ctx := r.Context()
	set := func(key, value string) error {
		_, err := b.SetSetting(ctx, key, value)
		return err
	}
	for _, kv := range []struct {
		key string
		val *string
	}{
		{"points_per_eur", intStr(req.PointsPerEUR)}, {"warn_days", intStr(req.WarnDays)}, {"grace_days", intStr(req.GraceDays)},
		{"charge_mode", req.ChargeMode}, {"suspend_sending", boolStr(req.SuspendSending)},
	} {
		if kv.val != nil {
			if err := set(kv.key, *kv.val); err != nil {
				return nil, err
			}
		}
	}
	return b.Settings(ctx)
}

func intStr(p *int64) *string {
	if p == nil {
		return nil
	}
	s := strconv.FormatInt(*p, 10)
	return &s
}

func boolStr(p *bool) *string {
	if p == nil {
		return nil
	}
	s := strconv.FormatBool(*p)
	return &s
}

func (a *API) billingRotateSecret(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	s, err := b.RotateWebhookSecret(r.Context())
	if err != nil {
		return nil, err
	}
	return &webhookSecret{Secret: s, Header: billing.SignatureHeader}, nil
}

func (a *API) billingRun(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	var req runRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return nil, err
		}
	}
	return b.Run(r.Context(), req.Date)
}

func (a *API) billingWallet(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	return b.Balance(r.Context(), r.PathValue("tenant"))
}

func (a *API) billingLedger(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	ms, err := b.Ledger(r.Context(), r.PathValue("tenant"), q.Get("from"), q.Get("to"))
	if err != nil {
		return nil, err
	}
	switch q.Get("format") {
	case "", "json":
		return ms, nil
	case "csv":
		var buf bytes.Buffer
		if err := billing.WriteLedgerCSV(&buf, ms); err != nil {
			return nil, err
		}
		return &file{contentType: "text/csv; charset=utf-8", name: "ledger.csv", body: buf.Bytes()}, nil
	case "xlsx":
		var buf bytes.Buffer
		if err := billing.WriteLedgerXLSX(&buf, ms); err != nil {
			return nil, err
		}
		return &file{contentType: xlsxType, name: "ledger.xlsx", body: buf.Bytes()}, nil
	}
	return nil, &directory.Error{Kind: "invalid-argument", Field: "format", Msg: `format is "json", "csv" or "xlsx"`}
}

func (a *API) billingRecharge(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	var req rechargeRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return b.Recharge(r.Context(), billing.RechargeSpec{Tenant: r.PathValue("tenant"), EUR: req.EUR, Reference: req.Reference, Date: req.Date, Reason: req.Reason})
}

func (a *API) billingAdjust(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	var req adjustmentRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	p, err := billing.ParsePoints(req.Points)
	if err != nil {
		return nil, &directory.Error{Kind: "invalid-argument", Field: "points", Msg: err.Error()}
	}
	return b.Adjust(r.Context(), r.PathValue("tenant"), req.Kind, p, req.Reason, req.Reference)
}

func (a *API) billingUsage(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	u, err := b.UsageFor(r.Context(), r.PathValue("tenant"), q.Get("by"), q.Get("from"), q.Get("to"))
	if err != nil {
		return nil, err
	}
	switch q.Get("format") {
	case "", "json":
		return u, nil
	case "csv":
		var buf bytes.Buffer
		if err := billing.WriteUsageCSV(&buf, u); err != nil {
			return nil, err
		}
		return &file{contentType: "text/csv; charset=utf-8", name: "usage-" + u.By + ".csv", body: buf.Bytes()}, nil
	case "xlsx":
		var buf bytes.Buffer
		if err := billing.WriteUsageXLSX(&buf, u); err != nil {
			return nil, err
		}
		return &file{contentType: xlsxType, name: "usage-" + u.By + ".xlsx", body: buf.Bytes()}, nil
	}
	return nil, &directory.Error{Kind: "invalid-argument", Field: "format", Msg: `format is "json", "csv" or "xlsx"`}
}

func (a *API) billingStatement(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	return b.StatementFor(r.Context(), r.PathValue("tenant"), r.URL.Query().Get("month"))
}

// billingWebhook is public: the signature over the exact body is the authentication, checked
// by billing with the secret in the database.
func (a *API) billingWebhook(w http.ResponseWriter, r *http.Request) (any, error) {
	b, err := a.bill()
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	return b.Webhook(r.Context(), body, r.Header.Get(billing.SignatureHeader), r.RemoteAddr)
}
