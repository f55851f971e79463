package api

import (
	"net/http"
	"strconv"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/webauth"
)

type (
	totpStatus struct {
		Enabled bool `json:"enabled"`
		// Required: the provider or the administrator's tenant requires two-factor login.
		Required bool `json:"required"`
	}
	totpSetup struct {
		Secret string `json:"secret"` // base32, for entering by hand
		URI    string `json:"uri"`    // otpauth:// URI, for a QR code or a link
	}
	totpEnable struct {
		Secret string `json:"secret"`
		Code   string `json:"code"`
	}
	totpCode struct {
		Code string `json:"code"`
	}
	totpPolicy struct {
		Required bool `json:"required"`
	}
)

// securityRoutes are an administrator's own second factor and the policies that require it.
func (a *API) securityRoutes() []route {
	return []route{
		{method: "GET", path: "/session/totp", summary: "Whether my two-factor login is on and whether it is required", tag: "session", enrol: true, resp: &totpStatus{}, status: 200, fn: a.totpStatus},
		{method: "POST", path: "/session/totp/secret", summary: "A new TOTP secret and its otpauth URI for an authenticator app (nothing is stored until confirmed with PUT /session/totp)", tag: "session", enrol: true, resp: &totpSetup{}, status: 200, fn: a.totpSecret},
		{method: "PUT", path: "/session/totp", summary: "Turn my two-factor login on: the secret from POST /session/totp/secret and a current code", tag: "session", enrol: true, body: totpEnable{}, status: 204, fn: a.totpEnable},
		{method: "POST", path: "/session/totp/disable", summary: "Turn my two-factor login off with a current code (refused where it is required)", tag: "session", body: totpCode{}, status: 204, fn: a.totpDisable},
		{method: "GET", path: "/totp-policy", summary: "Whether every administrator must use two-factor login", tag: "admins", resp: &totpPolicy{}, status: 200, fn: a.totpPolicy},
		{method: "PUT", path: "/totp-policy", summary: "Require two-factor login of every administrator, or stop (provider only)", tag: "admins", body: totpPolicy{}, resp: &totpPolicy{}, status: 200, fn: a.setTOTPPolicy},
		{method: "PUT", path: "/tenants/{tenant}/totp-policy", summary: "Require two-factor login of a tenant's administrators, or stop (the provider or the tenant's administrators)", tag: "tenants", body: totpPolicy{}, resp: &totpPolicy{}, status: 200, fn: a.setTOTPPolicy},
	}
}

func (a *API) totpStatus(w http.ResponseWriter, r *http.Request) (any, error) {
	on, err := a.web.TOTPEnabled(r.Context())
	if err != nil {
		return nil, err
	}
	actor, _ := directory.ActorFrom(r.Context())
	required := actor.MustEnrolTOTP
	if !required {
		if required, err = a.dir.TOTPRequired(r.Context(), ""); err != nil {
			return nil, err
		}
	}
	if !required && actor.TenantID != 0 {
		t, err := a.dir.GetTenant(r.Context(), strconv.FormatInt(actor.TenantID, 10))
		if err != nil {
			return nil, err
		}
		required = t.RequireTOTP
	}
	return &totpStatus{Enabled: on, Required: required}, nil
}

func (a *API) totpSecret(w http.ResponseWriter, r *http.Request) (any, error) {
	if _, err := a.web.TOTPEnabled(r.Context()); err != nil {
		return nil, err
	}
	actor, _ := directory.ActorFrom(r.Context())
	issuer := "posta"
	if a.opts.Hostname != "" {
		issuer += " " + a.opts.Hostname
	}
	secret, uri := webauth.NewTOTP(issuer, actor.Name)
	return &totpSetup{Secret: secret, URI: uri}, nil
}

func (a *API) totpEnable(w http.ResponseWriter, r *http.Request) (any, error) {
	var req totpEnable
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return nil, a.web.EnableTOTP(r.Context(), req.Secret, req.Code)
}

func (a *API) totpDisable(w http.ResponseWriter, r *http.Request) (any, error) {
	var req totpCode
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return nil, a.web.DisableTOTP(r.Context(), req.Code)
}

func (a *API) totpPolicy(w http.ResponseWriter, r *http.Request) (any, error) {
	on, err := a.dir.TOTPRequired(r.Context(), "")
	return &totpPolicy{Required: on}, err
}

func (a *API) setTOTPPolicy(w http.ResponseWriter, r *http.Request) (any, error) {
	var req totpPolicy
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	tenant := r.PathValue("tenant")
	if err := a.dir.SetTOTPRequired(r.Context(), tenant, req.Required); err != nil {
		return nil, err
	}
	on, err := a.dir.TOTPRequired(r.Context(), tenant)
	return &totpPolicy{Required: on}, err
}
