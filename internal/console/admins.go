package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/directory"
)

// cosPage is the catalogue of classes of service with the form that creates a custom one.
type cosPage struct {
	COS      []*directory.COS
	Types    []string
	Features []string
	Form     *form
}

var allFeatures = directory.FeatureNames(-1)

func (c *Console) cosPage(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showCOS(w, r, v, newForm(v.L, url.Values{"service_type": {"custom"}, "features": {"mail"}, "min_password_len": {"10"}}), false)
}

func (c *Console) showCOS(w http.ResponseWriter, r *http.Request, v *view, f *form, failed bool) error {
	list, err := c.dir.ListCOS(r.Context())
	if err != nil {
		return err
	}
	p := cosPage{COS: list, Features: allFeatures, Form: f}
	for _, st := range directory.ServiceTypes {
		p.Types = append(p.Types, st.Key)
	}
	v.Nav, v.Title, v.Data = "cos", v.L.T("nav.cos"), p
	if failed {
		return c.invalid(w, v, "cos")
	}
	return c.page(w, v, "cos")
}

func (c *Console) cosCreate(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	quota, ok1 := f.intValue("quota_mb")
	mms, ok2 := f.intValue("max_message_size")
	perDay, ok3 := f.intValue("send_per_day")
	rcpts, ok4 := f.intValue("recipients_per_message")
	minLen, ok5 := f.intValue("min_password_len")
	maxMsgs, ok6 := f.intValue("max_messages")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return c.showCOS(w, r, v, f, true)
	}
	spec := directory.COSSpec{Name: f.Get("name"), ServiceType: f.Get("service_type"), QuotaMB: quota, MaxMessageSize: mms * directory.MB,
		SendPerDay: int(perDay), RecipientsPerMessage: int(rcpts), MinPasswordLen: int(minLen), MaxMessages: maxMsgs}
	if spec.ServiceType == "custom" {
		spec.Features = f.All("features")
	}
	cos, err := c.dir.CreateCOS(r.Context(), spec)
	if err != nil {
		if f.refuse(err, "name", "service_type", "quota_mb", "features", "min_password_len", "max_messages", "limits=max_message_size") {
			return c.showCOS(w, r, v, f, true)
		}
		return err
	}
	return redirect(w, r, "/cos", "flash.cos_created", cos.Name)
}

// adminsPage lists administrators with the form that creates one.
type adminsPage struct {
	Admins      []*directory.Admin
	TenantNames map[int64]string
	Tenants     []*directory.Tenant
	Domains     []*directory.Domain
	Form        *form
	TOTP        totpPolicy
}

func (c *Console) admins(w http.ResponseWriter, r *http.Request, v *view) error {
	f := newForm(v.L, url.Values{"password": {auth.GeneratePassword(16)}, "role": {string(directory.RoleTenantAdmin)}})
	return c.showAdmins(w, r, v, f, false)
}

func (c *Console) showAdmins(w http.ResponseWriter, r *http.Request, v *view, f *form, failed bool) error {
	ctx := r.Context()
	p := adminsPage{Form: f, TenantNames: map[int64]string{}}
	var err error
	if p.Admins, err = c.dir.ListAdmins(ctx); err != nil {
		return err
	}
	if p.Tenants, err = c.dir.ListTenants(ctx); err != nil {
		return err
	}
	for _, t := range p.Tenants {
		p.TenantNames[t.ID] = t.Name
	}
	if p.Domains, err = c.dir.ListDomains(ctx, ""); err != nil {
		return err
	}
	if p.TOTP, err = c.loadTOTPPolicy(r, p.Tenants); err != nil {
		return err
	}
	v.Nav, v.Title, v.Data = "admins", v.L.T("nav.admins"), p
	if failed {
		return c.invalid(w, v, "admins")
	}
	return c.page(w, v, "admins")
}

func (c *Console) adminCreate(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	spec := directory.AdminSpec{Email: f.Get("email"), Password: f.Get("password"), Role: directory.Role(f.Get("role"))}
	if spec.Role != directory.RoleProvider {
		spec.Tenant = f.Get("tenant")
	}
	if spec.Role == directory.RoleDomainAdmin {
		spec.Domains = f.All("domains")
	}
	a, err := c.dir.CreateAdmin(r.Context(), spec)
	if err != nil {
		if f.refuse(err, "address=email", "email", "password", "role", "tenant", "domains") {
			return c.showAdmins(w, r, v, f, true)
		}
		return err
	}
	return redirect(w, r, "/admins", "flash.admin_created", a.Email)
}

func (c *Console) adminRemoveConfirm(w http.ResponseWriter, r *http.Request, v *view) error {
	email := strings.TrimSpace(r.URL.Query().Get("email"))
	// Only an administrator the actor can list can be asked about.
	admins, err := c.dir.ListAdmins(r.Context())
	if err != nil {
		return err
	}
	for _, a := range admins {
		if a.Email == email {
			v.Nav = "admins"
			text := v.L.T("admin.remove.text", a.Email)
			if a.ID == v.Actor.ID {
				text += " " + v.L.T("admin.remove.self")
			}
			return c.confirm(w, v, confirmPage{
				Heading: v.L.T("admin.remove.title", a.Email),
				Text:    text,
				Action:  "/admins/remove",
				Button:  v.L.T("admin.remove.button"),
				Back:    "/admins",
				Hidden:  map[string]string{"email": a.Email},
			}, http.StatusOK)
		}
	}
	return directory.ErrNotFound
}

func (c *Console) adminRemove(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	email := f.Get("email")
	if err := c.dir.RemoveAdmin(r.Context(), email); err != nil {
		return err
	}
	return redirect(w, r, "/admins", "flash.admin_removed", email)
}

// mePage is the logged-in administrator's own page: its role and its second factor (a
// mailbox user's My account is selfPage).
type mePage struct {
	TOTP bool
	// MustEnrol: two-factor login is required and not yet set up.
	MustEnrol bool
	Setup     bool
	Secret    string
	URI       string
	Tenant    string
	Form      *form
}

func (c *Console) me(w http.ResponseWriter, r *http.Request, v *view) error {
	if v.IsUser() {
		return c.selfAccount(w, r, v)
	}
	return c.showMe(w, r, v, mePage{Form: newForm(v.L, nil)}, http.StatusOK)
}

func (c *Console) showMe(w http.ResponseWriter, r *http.Request, v *view, p mePage, status int) error {
	ctx := r.Context()
	secret, err := c.dir.AdminTOTP(ctx, v.Actor.ID)
	if err != nil {
		return err
	}
	p.TOTP = secret != ""
	p.MustEnrol = v.Actor.MustEnrolTOTP
	if v.Actor.TenantID != 0 && !p.MustEnrol {
		t, err := c.dir.GetTenant(ctx, strconv.FormatInt(v.Actor.TenantID, 10))
		if err != nil {
			return err
		}
		p.Tenant = t.Name
	}
	if p.Setup {
		p.URI = auth.TOTPURI(c.issuer(), v.Actor.Name, p.Secret)
	}
	v.Nav, v.Title, v.Data = "me", v.L.T("nav.me"), p
	c.render(w, v, status, "layout", "me")
	return nil
}

// issuer names the installation in authenticator apps.
func (c *Console) issuer() string {
	if c.opts.Hostname == "" {
		return "posta"
	}
	return "posta " + c.opts.Hostname
}

func (c *Console) totpSetup(w http.ResponseWriter, r *http.Request, v *view) error {
	secret := auth.NewTOTPSecret()
	return c.showMe(w, r, v, mePage{Setup: true, Secret: secret, Form: newForm(v.L, url.Values{"secret": {secret}})}, http.StatusOK)
}

func (c *Console) totpEnable(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	secret := strings.TrimSpace(f.Get("secret"))
	if _, err := auth.TOTPCode(secret, c.opts.Now()); err != nil || len(secret) < 16 {
		return directory.ErrInvalid
	}
	if !auth.CheckTOTP(secret, f.Get("code"), c.opts.Now()) {
		f.fieldErr("code", "me.totp.bad_code")
		return c.showMe(w, r, v, mePage{Setup: true, Secret: secret, Form: f}, http.StatusUnprocessableEntity)
	}
	if err := c.dir.SetAdminTOTP(r.Context(), v.Actor.Name, secret); err != nil {
		return err
	}
	return redirect(w, r, "/me", "flash.totp_on", "")
}

func (c *Console) totpDisable(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	secret, err := c.dir.AdminTOTP(r.Context(), v.Actor.ID)
	if err != nil {
		return err
	}
	if secret == "" {
		return redirect(w, r, "/me", "", "")
	}
	if !auth.CheckTOTP(secret, f.Get("code"), c.opts.Now()) {
		f.fieldErr("code", "me.totp.bad_code")
		return c.showMe(w, r, v, mePage{Form: f}, http.StatusUnprocessableEntity)
	}
	if err := c.dir.SetAdminTOTP(r.Context(), v.Actor.Name, ""); err != nil {
		if errors.Is(err, directory.ErrTOTPEnforced) {
			f.fieldErr("code", "kind.totp-enforced")
			return c.showMe(w, r, v, mePage{Form: f}, http.StatusConflict)
		}
		return err
	}
	return redirect(w, r, "/me", "flash.totp_off", "")
}
