package webauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/webauth"
)

const pw = "Provider-Password-42"

type env struct {
	dir *directory.Service
	web *webauth.Service
	now time.Time
}

func setup(t *testing.T, d *db.DB) *env {
	t.Helper()
	e := &env{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	e.dir = directory.New(d, auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}), directory.Options{})
	sys := directory.WithActor(context.Background(), directory.SystemActor("test"))
	if _, err := e.dir.CreateAdmin(sys, directory.AdminSpec{Email: "boss@provider.test", Password: pw, Role: directory.RoleProvider}); err != nil {
		t.Fatal(err)
	}
	e.web = webauth.New(d, e.dir, auth.NewThrottle(auth.ThrottleConfig{FreeAttempts: 3}, func() time.Time { return e.now }),
		webauth.Options{Now: func() time.Time { return e.now }})
	return e
}

func TestLoginSessionsAndTOTP(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := setup(t, d)
		if _, err := e.web.Login(ctx, "boss@provider.test", "wrong-password", "", "192.0.2.1:5000"); !errors.Is(err, webauth.ErrBadLogin) {
			t.Fatalf("wrong password: %v", err)
		}
		sess, err := e.web.Login(ctx, "BOSS@provider.test", pw, "", "192.0.2.1:5000")
		if err != nil || sess.Token == "" || sess.CSRF == "" || sess.Actor.Role != directory.RoleProvider {
			t.Fatalf("login: %+v %v", sess, err)
		}
		got, err := e.web.Session(ctx, sess.Token, "192.0.2.1:5001")
		if err != nil || got.Actor.Name != "boss@provider.test" || got.CSRF != sess.CSRF {
			t.Fatalf("session: %+v %v", got, err)
		}
		// Idle for 31 minutes: gone.
		e.now = e.now.Add(31 * time.Minute)
		if _, err := e.web.Session(ctx, sess.Token, ""); !errors.Is(err, webauth.ErrNoSession) {
			t.Fatalf("idle session: %v", err)
		}
		// Two-factor on: the code is needed and checked.
		secret := auth.NewTOTPSecret()
		sys := directory.WithActor(ctx, directory.SystemActor("test"))
		if err := e.dir.SetAdminTOTP(sys, "boss@provider.test", secret); err != nil {
			t.Fatal(err)
		}
		if _, err := e.web.Login(ctx, "boss@provider.test", pw, "", "192.0.2.1:5000"); !errors.Is(err, webauth.ErrTOTPRequired) {
			t.Fatalf("no code: %v", err)
		}
		if _, err := e.web.Login(ctx, "boss@provider.test", pw, "123456", "192.0.2.1:5000"); !errors.Is(err, webauth.ErrBadLogin) {
			t.Fatalf("wrong code: %v", err)
		}
		code, _ := auth.TOTPCode(secret, e.now)
		sess, err = e.web.Login(ctx, "boss@provider.test", pw, code, "192.0.2.1:5000")
		if err != nil {
			t.Fatalf("right code: %v", err)
		}
		// Logout ends it.
		e.web.Logout(ctx, sess.Token)
		if _, err := e.web.Session(ctx, sess.Token, ""); !errors.Is(err, webauth.ErrNoSession) {
			t.Fatalf("after logout: %v", err)
		}
		// Guessing is throttled.
		var last error
		for i := 0; i < 6; i++ {
			_, last = e.web.Login(ctx, "boss@provider.test", "guess-"+strings.Repeat("x", i), "", "198.51.100.7:1")
		}
		var te *webauth.ThrottledError
		if !errors.As(last, &te) {
			t.Fatalf("after 6 wrong passwords: %v", last)
		}
	})
}

func TestAuthenticateRequests(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := setup(t, d)
		sess, err := e.web.Login(ctx, "boss@provider.test", pw, "", "127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		actor, _ := e.dir.AdminActor(ctx, sess.Actor.ID, "")
		if _, _, err := e.web.CreateToken(ctx, actor.ID, "no actor", nil); !errors.Is(err, directory.ErrForbidden) {
			t.Fatalf("a token made without an actor: %v", err)
		}
		ctx = directory.WithActor(ctx, actor)
		readTok, _, err := e.web.CreateToken(ctx, actor.ID, "monitoring", []string{webauth.ScopeRead})
		if err != nil {
			t.Fatal(err)
		}
		writeTok, tok, err := e.web.CreateToken(ctx, actor.ID, "automation", []string{webauth.ScopeWrite})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.web.CreateToken(ctx, actor.ID, "bad", []string{"admin"}); err == nil {
			t.Fatal("unknown scope accepted")
		}
		req := func(method, cookie, bearer, csrf string) error {
			r := httptest.NewRequest(method, "/api/v1/accounts", nil)
			if cookie != "" {
				r.AddCookie(&http.Cookie{Name: webauth.CookieName, Value: cookie})
			}
			if bearer != "" {
				r.Header.Set("Authorization", "Bearer "+bearer)
			}
			if csrf != "" {
				r.Header.Set("X-CSRF-Token", csrf)
			}
			_, _, err := e.web.Authenticate(r)
			return err
		}
		tests := []struct {
			name                         string
			method, cookie, bearer, csrf string
			want                         error
		}{
			{"nothing", "GET", "", "", "", webauth.ErrNoSession},
			{"cookie read", "GET", sess.Token, "", "", nil},
			{"cookie change without CSRF", "POST", sess.Token, "", "", webauth.ErrCSRF},
			{"cookie change with wrong CSRF", "POST", sess.Token, "", "nope", webauth.ErrCSRF},
			{"cookie change with CSRF", "POST", sess.Token, "", sess.CSRF, nil},
			{"read token reads", "GET", "", readTok, "", nil},
			{"read token cannot change", "DELETE", "", readTok, "", webauth.ErrScope},
			{"write token changes", "POST", "", writeTok, "", nil},
			{"made-up token", "GET", "", "posta_madeup", "", webauth.ErrNoSession},
			{"made-up cookie", "GET", "s_madeup", "", "", webauth.ErrNoSession},
		}
		for _, tt := range tests {
			if err := req(tt.method, tt.cookie, tt.bearer, tt.csrf); !errors.Is(err, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			}
		}
		if err := e.web.RevokeToken(ctx, actor.ID, tok.ID); err != nil {
			t.Fatal(err)
		}
		if err := req("POST", "", writeTok, ""); !errors.Is(err, webauth.ErrNoSession) {
			t.Errorf("revoked token: %v", err)
		}
		toks, _ := e.web.ListTokens(ctx, actor.ID)
		if len(toks) != 2 || !toks[1].Revoked || toks[0].LastUsedAt == 0 {
			t.Errorf("tokens: %+v", toks)
		}
		// A removed administrator's session and tokens stop working at once.
		sys := directory.WithActor(ctx, directory.SystemActor("test"))
		if err := e.dir.RemoveAdmin(sys, "boss@provider.test"); err != nil {
			t.Fatal(err)
		}
		if err := req("GET", sess.Token, "", ""); !errors.Is(err, webauth.ErrNoSession) {
			t.Errorf("session of a removed admin: %v", err)
		}
		if err := req("GET", "", readTok, ""); !errors.Is(err, webauth.ErrNoSession) {
			t.Errorf("token of a removed admin: %v", err)
		}
	})
}

// TestRequiredTOTP: where the provider or a tenant requires two-factor login, an administrator
// without it logs in to a session that can only turn it on; once on, it cannot turn it off.
func TestRequiredTOTP(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := setup(t, d)
		sys := directory.WithActor(ctx, directory.SystemActor("test"))
		for _, name := range []string{"Rossi Srl", "Bianchi SpA"} {
			if _, err := e.dir.CreateTenant(sys, directory.TenantSpec{Name: name, ContactEmail: "it@example.org"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range []directory.AdminSpec{
			{Email: "admin@rossi.it", Password: pw, Role: directory.RoleTenantAdmin, Tenant: "Rossi Srl"},
			{Email: "admin@bianchi.it", Password: pw, Role: directory.RoleTenantAdmin, Tenant: "Bianchi SpA"},
		} {
			if _, err := e.dir.CreateAdmin(sys, a); err != nil {
				t.Fatal(err)
			}
		}
		limited := func(email string) bool {
			t.Helper()
			s, err := e.web.Login(ctx, email, pw, "", "192.0.2.1:1")
			if err != nil {
				t.Fatalf("login %s: %v", email, err)
			}
			got, err := e.web.Session(ctx, s.Token, "192.0.2.1:1")
			if err != nil || got.Actor.MustEnrolTOTP != s.Actor.MustEnrolTOTP {
				t.Fatalf("session of %s: %+v %v", email, got, err)
			}
			return s.Actor.MustEnrolTOTP
		}
		steps := []struct {
			tenant string // "" for every administrator
			on     bool
			want   map[string]bool
		}{
			{"", false, map[string]bool{"boss@provider.test": false, "admin@rossi.it": false, "admin@bianchi.it": false}},
			{"Rossi Srl", true, map[string]bool{"boss@provider.test": false, "admin@rossi.it": true, "admin@bianchi.it": false}},
			{"", true, map[string]bool{"boss@provider.test": true, "admin@rossi.it": true, "admin@bianchi.it": true}},
			{"Rossi Srl", false, map[string]bool{"boss@provider.test": true, "admin@rossi.it": true, "admin@bianchi.it": true}},
			{"", false, map[string]bool{"boss@provider.test": false, "admin@rossi.it": false, "admin@bianchi.it": false}},
			{"Bianchi SpA", true, map[string]bool{"boss@provider.test": false, "admin@rossi.it": false, "admin@bianchi.it": true}},
		}
		for i, st := range steps {
			if err := e.dir.SetTOTPRequired(sys, st.tenant, st.on); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			for email, want := range st.want {
				if got := limited(email); got != want {
					t.Errorf("step %d (%q %v): %s limited %v, want %v", i, st.tenant, st.on, email, got, want)
				}
			}
		}
		// admin@bianchi.it must enrol; its actor is refused every change in the directory.
		s, err := e.web.Login(ctx, "admin@bianchi.it", pw, "", "192.0.2.1:1")
		if err != nil || !s.Actor.MustEnrolTOTP {
			t.Fatalf("login: %+v %v", s, err)
		}
		actx := directory.WithActor(ctx, s.Actor)
		if _, err := e.dir.CreateAdmin(actx, directory.AdminSpec{Email: "x@bianchi.it", Password: pw, Role: directory.RoleTenantAdmin, Tenant: "Bianchi SpA"}); !errors.Is(err, directory.ErrTOTPEnrolment) {
			t.Fatalf("a change before enrolling: %v", err)
		}
		secret, uri := webauth.NewTOTP("posta mail.test", "admin@bianchi.it")
		if !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, secret) {
			t.Fatalf("uri %q", uri)
		}
		if err := e.web.EnableTOTP(actx, secret, "000000"); !errors.Is(err, webauth.ErrBadTOTPCode) {
			if code, _ := auth.TOTPCode(secret, e.now); code != "000000" {
				t.Fatalf("wrong code: %v", err)
			}
		}
		if err := e.web.EnableTOTP(actx, "short", "123456"); !errors.Is(err, directory.ErrInvalid) {
			t.Fatalf("bad secret: %v", err)
		}
		code, _ := auth.TOTPCode(secret, e.now)
		if err := e.web.EnableTOTP(actx, secret, code); err != nil {
			t.Fatalf("enable: %v", err)
		}
		// The same session is now a full one.
		got, err := e.web.Session(ctx, s.Token, "192.0.2.1:1")
		if err != nil || got.Actor.MustEnrolTOTP {
			t.Fatalf("after enrolling: %+v %v", got, err)
		}
		// It cannot turn it off while required; the provider may reset it (lost device).
		if err := e.web.DisableTOTP(directory.WithActor(ctx, got.Actor), code); !errors.Is(err, directory.ErrTOTPEnforced) {
			t.Fatalf("disable while required: %v", err)
		}
		if err := e.dir.SetAdminTOTP(sys, "admin@bianchi.it", ""); err != nil {
			t.Fatalf("reset by the operator: %v", err)
		}
		if !limited("admin@bianchi.it") {
			t.Fatal("after a reset the administrator must enrol again")
		}
		// Who may set the policy: not another tenant's administrator, not a domain one.
		rossi, _ := e.web.Login(ctx, "admin@rossi.it", pw, "", "192.0.2.1:1")
		rctx := directory.WithActor(ctx, rossi.Actor)
		if err := e.dir.SetTOTPRequired(rctx, "Bianchi SpA", false); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("another tenant's policy: %v", err)
		}
		if err := e.dir.SetTOTPRequired(rctx, "", true); !errors.Is(err, directory.ErrForbidden) {
			t.Errorf("the provider-wide policy as a tenant administrator: %v", err)
		}
		if err := e.dir.SetTOTPRequired(rctx, "Rossi Srl", true); err != nil {
			t.Errorf("its own tenant's policy: %v", err)
		}
		// Every policy change is in the audit log with before and after.
		log, err := e.dir.ListAudit(sys, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		for _, a := range log {
			if (a.Action == "security.require_totp" || a.Action == "tenant.require_totp") && a.Before != "" && a.After != "" {
				n++
			}
		}
		if n != len(steps)+1 {
			t.Errorf("%d policy changes audited, want %d", n, len(steps)+1)
		}
	})
}
