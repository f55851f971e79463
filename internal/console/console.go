// Package console owns the administrators' web console: server-rendered pages (html/template,
// every asset embedded) for the provider's administrators, tenant administrators and domain
// administrators, and the self-service pages of mailbox users (their own name, password,
// forwarding, auto-reply and app passwords), in Italian and English. It turns forms into
// directory calls made with the logged-in administrator or user as the actor, shows the
// directory's refusals next to the input they name, and computes the DNS records a hosted
// domain must publish (DNSRecords, shared with the JSON API).
//
// It must not decide who may see or change what: every page shows what the directory returns
// for the actor in the request's context, and every change goes through the directory, which
// authorises it and writes the audit log. Sessions, CSRF tokens and the second factor belong to
// webauth; the console never reads the database itself.
package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/postamail/posta/internal/autoconfig"
	"github.com/postamail/posta/internal/billing"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/dkim"
	"github.com/postamail/posta/internal/migrate"
	"github.com/postamail/posta/internal/pim"
	"github.com/postamail/posta/internal/provision"
	"github.com/postamail/posta/internal/webauth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is sent with every response: no inline scripts or styles, nothing
// loaded from elsewhere, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Options configure the console.
type Options struct {
	// Hostname is the mail server's name: the target of MX, CNAME and SRV records and the
	// server name in client settings.
	Hostname string
	// Logger receives internal errors; default slog.Default().
	Logger *slog.Logger
	// Resolver checks whether a domain's records are live; default net.DefaultResolver.
	Resolver Resolver
	// LookupTimeout bounds the DNS checks of one domain page (default 2 s; negative: no checks).
	LookupTimeout time.Duration
	// Now returns the current time (tests); default time.Now.
	Now func() time.Time
	// Provision serves bulk provisioning (with welcome messages); nil: provisioning without
	// welcome messages.
	Provision *provision.Service
	// Client are the mail servers and ports of this node, for the Apple profile of users.
	Client autoconfig.Settings
	// Billing serves the credit pages (/billing); nil: they do not exist.
	Billing *billing.Service
	// DKIM gives a domain's DKIM keys for its DNS records (made when missing); nil: none.
	DKIM DKIMKeys
	// PIM holds the address books and calendars users import into; nil: no import form.
	PIM *pim.Service
	// Migrate serves the migration page (/migrations); nil: it does not exist.
	Migrate *migrate.Service
}

// DKIMKeys is the DKIM key store (internal/dkim).
type DKIMKeys interface {
	Ensure(ctx context.Context, domain string) error
	Records(ctx context.Context, domain string) ([]dkim.Record, error)
}

// DomainRecords returns the records a hosted domain should publish, with its DKIM keys (made
// when it has none yet) when keys is not nil.
func DomainRecords(ctx context.Context, keys DKIMKeys, domain, hostname string) ([]Record, error) {
	var recs []dkim.Record
	if keys != nil {
		if err := keys.Ensure(ctx, domain); err != nil {
			return nil, err
		}
		var err error
		if recs, err = keys.Records(ctx, domain); err != nil {
			return nil, err
		}
	}
	return DNSRecords(domain, hostname, recs), nil
}

// Console is the console's HTTP handler.
type Console struct {
	dir   *directory.Service
	web   *webauth.Service
	opts  Options
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the console, to be served at the root of the HTTPS listener.
func New(dir *directory.Service, web *webauth.Service, opts Options) http.Handler {
	c, err := newConsole(dir, web, opts)
	if err != nil {
		panic(err) // the templates are embedded: a parse error is a build defect
	}
	return c
}

func newConsole(dir *directory.Service, web *webauth.Service, opts Options) (*Console, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Resolver == nil {
		opts.Resolver = defaultResolver
	}
	if opts.LookupTimeout == 0 {
		opts.LookupTimeout = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Console{dir: dir, web: web, opts: opts, log: opts.Logger}
	var err error
	if c.pages, err = parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// parseTemplates builds one template set per page: the shared layout and partials plus the
// page's own file.
func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, errors.New("dict: odd number of arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
		"pathEscape": url.PathEscape,
		// part is pct percent of n (meter thresholds).
		"part": func(n any, pct int64) int64 {
			switch x := n.(type) {
			case int:
				return int64(x) * pct / 100
			case int64:
				return x * pct / 100
			}
			return 0
		},
		"join": strings.Join,
		"strs": func(s ...string) []string { return s },
		"contains": func(list []string, s string) bool {
			for _, x := range list {
				if x == s {
					return true
				}
			}
			return false
		},
	}
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/_*.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}

// ServeHTTP sets the security headers of every response, limits request bodies, refuses
// cross-origin changes and dispatches.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, bodyLimit(r))
	}
	c.mux.ServeHTTP(w, r)
}

// handler is a page that needs a login (an administrator's or, for self-service, a mailbox
// user's). It returns an error to show instead of the page: a *directory.Error (not found,
// forbidden) or an internal failure.
type handler func(w http.ResponseWriter, r *http.Request, v *view) error

func (c *Console) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	m.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			c.renderError(w, r, c.bareView(r), http.StatusNotFound) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	})
	m.HandleFunc("GET /login", c.loginPage)
	m.Handle("POST /login", http.NewCrossOriginProtection().Handler(http.HandlerFunc(c.loginSubmit)))
	m.HandleFunc("GET /lang/{lang}", c.setLanguage)
	m.Handle("POST /logout", c.auth(c.logout))

	m.Handle("GET /{$}", c.auth(c.dashboard))
	m.Handle("GET /tenants", c.admin(c.tenants))
	m.Handle("POST /tenants", c.admin(c.tenantCreate))
	m.Handle("GET /tenants/{id}", c.admin(c.tenantPage))
	m.Handle("POST /tenants/{id}", c.admin(c.tenantUpdate))
	m.Handle("POST /tenants/{id}/status", c.admin(c.tenantStatus))
	m.Handle("POST /tenants/{id}/caps", c.admin(c.tenantCap))

	m.Handle("GET /accounts", c.admin(c.accounts))
	m.Handle("GET /accounts/new", c.admin(c.accountNew))
	m.Handle("POST /accounts", c.admin(c.accountCreate))
	m.Handle("GET /accounts/{id}", c.admin(c.accountPage))
	m.Handle("POST /accounts/{id}", c.admin(c.accountUpdate))
	m.Handle("GET /accounts/{id}/cos", c.admin(c.accountCOSPreview))
	m.Handle("POST /accounts/{id}/cos", c.admin(c.accountCOSChange))
	m.Handle("POST /accounts/{id}/password", c.admin(c.accountPassword))
	m.Handle("POST /accounts/{id}/aliases", c.admin(c.accountAliasAdd))
	m.Handle("GET /accounts/{id}/delete", c.admin(c.accountDeleteConfirm))
	m.Handle("POST /accounts/{id}/delete", c.admin(c.accountDelete))

	m.Handle("GET /aliases", c.admin(c.aliases))
	m.Handle("POST /aliases", c.admin(c.aliasCreate))
	m.Handle("POST /aliases/remove", c.admin(c.aliasRemove))

	m.Handle("GET /lists", c.admin(c.lists))
	m.Handle("POST /lists", c.admin(c.listCreate))
	m.Handle("GET /lists/{address}", c.admin(c.listPage))
	m.Handle("POST /lists/{address}/members", c.admin(c.listMemberAdd))
	m.Handle("POST /lists/{address}/members/remove", c.admin(c.listMemberRemove))
	m.Handle("GET /lists/{address}/delete", c.admin(c.listDeleteConfirm))
	m.Handle("POST /lists/{address}/delete", c.admin(c.listDelete))

	m.Handle("GET /domains", c.admin(c.domains))
	m.Handle("POST /domains", c.admin(c.domainAdd))
	m.Handle("GET /domains/{name}", c.admin(c.domainPage))
	m.Handle("GET /domains/{name}/delete", c.admin(c.domainDeleteConfirm))
	m.Handle("POST /domains/{name}/delete", c.admin(c.domainDelete))

	m.Handle("GET /cos", c.admin(c.cosPage))
	m.Handle("POST /cos", c.admin(c.cosCreate))
	c.provisionRoutes(m)
	if c.opts.Migrate != nil {
		c.migrateRoutes(m)
	}

	c.billingRoutes(m)

	m.Handle("GET /admins", c.admin(c.admins))
	m.Handle("POST /admins", c.admin(c.adminCreate))
	m.Handle("GET /admins/remove", c.admin(c.adminRemoveConfirm))
	m.Handle("POST /admins/remove", c.admin(c.adminRemove))
	m.Handle("POST /admins/totp-policy", c.admin(c.totpPolicySet))

	// My account: an administrator's login and second factor, or a mailbox user's own account.
	m.Handle("GET /me", c.auth(c.me))
	m.Handle("POST /me/totp/setup", c.admin(c.totpSetup))
	m.Handle("POST /me/totp/enable", c.admin(c.totpEnable))
	m.Handle("POST /me/totp/disable", c.admin(c.totpDisable))

	// Self-service of mailbox users.
	m.Handle("POST /me/profile", c.self(c.selfProfile))
	m.Handle("POST /me/password", c.self(c.selfPassword))
	m.Handle("POST /me/forwarding", c.self(c.selfForwarding))
	m.Handle("POST /me/auto-reply", c.self(c.selfAutoReply))
	m.Handle("POST /me/import", c.self(c.selfImport))
	m.Handle("GET /me/contacts", c.self(c.selfContacts))
	m.Handle("GET /me/app-passwords", c.self(c.appPasswords))
	m.Handle("POST /me/app-passwords", c.self(c.appPasswordCreate))
	m.Handle("GET /me/app-passwords/{id}/revoke", c.self(c.appPasswordRevokeConfirm))
	m.Handle("POST /me/app-passwords/{id}/revoke", c.self(c.appPasswordRevoke))

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, c.bareView(r), http.StatusNotFound)
	})
	c.mux = m
}

// auth wraps a page: the request must carry a live session (and, for changes, its CSRF
// token); the page runs with the administrator as the directory actor.
func (c *Console) auth(h handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, sess, err := c.web.Authenticate(r)
		if err != nil || sess == nil {
			switch {
			case errors.Is(err, webauth.ErrCSRF):
				c.renderError(w, r, c.bareView(r), http.StatusForbidden)
			case err == nil || errors.Is(err, webauth.ErrNoSession) || errors.Is(err, webauth.ErrScope):
				// A bearer token is for the API, not the console.
				next := "/"
				if r.Method == http.MethodGet {
					next = r.URL.RequestURI()
				}
				http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			default:
				c.internalError(w, r, c.bareView(r), err)
			}
			return
		}
		r = r.WithContext(directory.WithActor(r.Context(), actor))
		v := c.newView(w, r, actor, sess.CSRF)
		if actor.MustEnrolTOTP && !enrolPath(r) {
			// Two-factor login is required and not yet set up: only its set-up is open.
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/me", http.StatusSeeOther)
				return
			}
			v.Data = &directory.Error{Kind: "totp-enrolment-required", Msg: v.L.T("me.totp.required_text")}
			c.renderError(w, r, v, http.StatusForbidden)
			return
		}
		if err := h(w, r, v); err != nil {
			c.fail(w, r, v, err)
		}
	}))
}

// fail shows the page for an error a handler returned.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	var de *directory.Error
	switch {
	case errors.Is(err, directory.ErrNotFound):
		c.renderError(w, r, v, http.StatusNotFound)
	case errors.Is(err, directory.ErrForbidden):
		v.Data = err
		c.renderError(w, r, v, http.StatusForbidden)
	case errors.As(err, &de):
		// A refusal that no form took: show it as a bad request.
		v.Data = err
		c.renderError(w, r, v, http.StatusBadRequest)
	default:
		c.internalError(w, r, v, err)
	}
}

func (c *Console) internalError(w http.ResponseWriter, r *http.Request, v *view, err error) {
	c.log.Error("console", "method", r.Method, "path", r.URL.Path, "err", err)
	c.renderError(w, r, v, http.StatusInternalServerError)
}

// errorPage is the data of the error page.
type errorPage struct {
	Status int
	Detail string
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, v *view, status int) {
	p := errorPage{Status: status}
	if err, ok := v.Data.(error); ok && status != http.StatusInternalServerError {
		p.Detail = v.L.Err(err)
	}
	v.Data = p
	v.Title = v.L.T(fmt.Sprintf("error.%d.title", status))
	layout := "layout"
	if v.Actor.Role == "" {
		layout = "bare"
	}
	c.render(w, v, status, layout, "error")
}

// render executes a page into a buffer and writes it with status.
func (c *Console) render(w http.ResponseWriter, v *view, status int, layout, page string) {
	t, ok := c.pages[page]
	if !ok {
		c.log.Error("console: no template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, layout, v); err != nil {
		c.log.Error("console: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// page renders a page of the logged-in layout with 200 OK.
func (c *Console) page(w http.ResponseWriter, v *view, name string) error {
	c.render(w, v, http.StatusOK, "layout", name)
	return nil
}

// invalid re-renders a page whose form was refused, with 422.
func (c *Console) invalid(w http.ResponseWriter, v *view, name string) error {
	c.render(w, v, http.StatusUnprocessableEntity, "layout", name)
	return nil
}

// view is what every template gets.
type view struct {
	L         *lang
	Actor     directory.Actor
	CSRF      string
	Nav       string
	Title     string
	Flash     string
	FlashKind string // "ok" or "error"
	Path      string
	Hostname  string
	Data      any
	// Billing: the credit pages exist.
	Billing bool
	// HasPIM: the contacts and calendar pages exist.
	HasPIM bool
	// Migrations: the migration page exists.
	Migrations bool
}

func (c *Console) bareView(r *http.Request) *view {
	return &view{L: langFor(r), Path: r.URL.RequestURI(), Hostname: c.opts.Hostname, Billing: c.opts.Billing != nil, HasPIM: c.opts.PIM != nil, Migrations: c.opts.Migrate != nil}
}

func (c *Console) newView(w http.ResponseWriter, r *http.Request, actor directory.Actor, csrf string) *view {
	v := c.bareView(r)
	v.Actor, v.CSRF = actor, csrf
	if r.Method == http.MethodGet {
		v.Flash, v.FlashKind = takeFlash(w, r, v.L)
	}
	return v
}

// IsProvider, IsTenantAdmin and IsDomainAdmin choose what the navigation offers (the
// directory decides what each call may do).
func (v *view) IsProvider() bool    { return v.Actor.Role == directory.RoleProvider }
func (v *view) IsTenantAdmin() bool { return v.Actor.Role == directory.RoleTenantAdmin }
func (v *view) IsDomainAdmin() bool { return v.Actor.Role == directory.RoleDomainAdmin }

// RoleName is the localised name of the actor's role.
func (v *view) RoleName() string { return v.L.T("role." + string(v.Actor.Role)) }

// Flash messages survive one redirect in a short-lived cookie holding a catalogue key and one
// argument; the text is composed from the catalogue when shown.
const flashCookie = "posta_flash"

func setFlash(w http.ResponseWriter, key, arg string) {
	val := base64.RawURLEncoding.EncodeToString([]byte(key + "\x00" + arg))
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: val, Path: "/", MaxAge: 60, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

func takeFlash(w http.ResponseWriter, r *http.Request, l *lang) (string, string) {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return "", ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil {
		return "", ""
	}
	key, arg, _ := strings.Cut(string(b), "\x00")
	if !strings.HasPrefix(key, "flash.") || !l.Has(key) {
		return "", ""
	}
	kind := "ok"
	if strings.HasSuffix(key, ".error") {
		kind = "error"
	}
	if arg != "" {
		return l.T(key, arg), kind
	}
	return l.T(key), kind
}

// redirect answers a successful change (POST, redirect, GET) with a message for the next page.
func redirect(w http.ResponseWriter, r *http.Request, to, flashKey, arg string) error {
	if flashKey != "" {
		setFlash(w, flashKey, arg)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// localPath keeps a redirect target on this site.
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	return p
}

// Login: the form carries a pre-session CSRF token (a cookie and a hidden field that must
// match), so that another site cannot log a browser in under its own account.
const loginCSRFCookie = "posta_login"

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

type loginPage struct {
	Form     *form
	Next     string
	NeedCode bool
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	v := c.bareView(r)
	if _, sess, err := c.web.Authenticate(r); err == nil && sess != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	v.Flash, v.FlashKind = takeFlash(w, r, v.L)
	c.showLogin(w, r, v, newForm(v.L, nil), false, http.StatusOK)
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, v *view, f *form, needCode bool, status int) {
	tok := randomString()
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/login", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	v.CSRF = tok
	v.Title = v.L.T("login.title")
	v.Data = loginPage{Form: f, Next: localPath(r.FormValue("next")), NeedCode: needCode}
	c.render(w, v, status, "bare", "login")
}

func (c *Console) loginSubmit(w http.ResponseWriter, r *http.Request) {
	v := c.bareView(r)
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, v, http.StatusBadRequest)
		return
	}
	ck, err := r.Cookie(loginCSRFCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		f := postForm(r, v.L)
		f.Values.Del("password")
		f.General = v.L.T("login.expired")
		c.showLogin(w, r, v, f, false, http.StatusForbidden)
		return
	}
	f := postForm(r, v.L)
	f.Values.Del("password")
	email := strings.TrimSpace(r.PostFormValue("email"))
	sess, err := c.web.Login(r.Context(), email, r.PostFormValue("password"), strings.TrimSpace(r.PostFormValue("code")), r.RemoteAddr)
	if err != nil {
		var th *webauth.ThrottledError
		status, needCode := http.StatusUnauthorized, false
		switch {
		case errors.As(err, &th):
			f.General = v.L.T("login.throttled", int(th.Wait.Seconds())+1)
			status = http.StatusTooManyRequests
		case errors.Is(err, webauth.ErrTOTPRequired):
			f.Errors["code"] = v.L.T("login.code_required")
			needCode = true
		case errors.Is(err, webauth.ErrBadLogin):
			f.General = v.L.T("login.bad")
			needCode = r.PostFormValue("code") != ""
		default:
			c.log.Error("console: login", "err", err)
			f.General = v.L.T("error.500.text")
			status = http.StatusInternalServerError
		}
		c.showLogin(w, r, v, f, needCode, status)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	webauth.SetCookie(w, sess)
	next := localPath(r.PostFormValue("next"))
	if sess.Actor.Role == directory.RoleUser && !selfPath(next) {
		next = "/me" // a mailbox user lands on its own account; the administration is not for it
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, v *view) error {
	if ck, err := r.Cookie(webauth.CookieName); err == nil {
		if err := c.web.Logout(r.Context(), ck.Value); err != nil {
			return err
		}
	}
	webauth.ClearCookie(w)
	setFlash(w, "flash.logged_out", "")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// setLanguage stores the chosen language in a cookie and goes back to the page.
func (c *Console) setLanguage(w http.ResponseWriter, r *http.Request) {
	l := r.PathValue("lang")
	if _, ok := catalogues[l]; !ok {
		c.renderError(w, r, c.bareView(r), http.StatusNotFound)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
}
