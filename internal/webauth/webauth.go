// Package webauth owns the console's login sessions and the API's tokens. It turns an HTTP
// request (a session cookie or a bearer token) into the directory.Actor the request acts as,
// checks the CSRF token of cookie sessions on every change, enforces the second factor (TOTP)
// of administrators who have one, turns it on for administrators (an administrator the
// provider or its tenant requires to have one logs in to a session that can only do that: its
// actor carries MustEnrolTOTP, which the API and the console check before every other
// request), and throttles password guessing per address and per IP.
// Only SHA-256 hashes of session ids and tokens are stored.
//
// It must not decide what an actor may do: the directory does, for every caller.
package webauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
)

// CookieName is the session cookie.
const CookieName = "posta_session"

// Errors, each with a stable meaning for the API's problem types.
var (
	ErrBadLogin     = errors.New("wrong address, password or code")
	ErrTOTPRequired = errors.New("a two-factor code is required")
	ErrNoSession    = errors.New("not logged in, or the session expired")
	ErrCSRF         = errors.New("missing or wrong CSRF token")
	ErrScope        = errors.New("the token does not allow changes")
)

// ThrottledError says how long to wait before the next login attempt.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins, try again in %d seconds", int(e.Wait.Seconds())+1)
}

// Directory is what webauth needs of the directory.
type Directory interface {
	AuthenticateAdmin(ctx context.Context, email, password, remote string) (directory.Actor, error)
	AdminActor(ctx context.Context, id int64, remote string) (directory.Actor, error)
	AdminTOTP(ctx context.Context, id int64) (string, error)
	Authenticate(ctx context.Context, login, password string) (*directory.Account, error)
	UserActor(ctx context.Context, accountID int64, remote string) (directory.Actor, error)
	SetAdminTOTP(ctx context.Context, email, secret string) error
}

// Throttle slows down repeated failed logins (auth.Throttle).
type Throttle interface {
	Check(ip netip.Addr, account string) time.Duration
	Failure(ip netip.Addr, account string)
	Success(ip netip.Addr, account string)
}

// Options tune sessions.
type Options struct {
	Lifetime time.Duration // absolute lifetime of a session (default 12 h)
	Idle     time.Duration // a session unused this long ends (default 30 min)
	Now      func() time.Time
}

// Service is the session and token store.
type Service struct {
	db   *db.DB
	dir  Directory
	th   Throttle
	opts Options
}

// New returns the service.
func New(d *db.DB, dir Directory, th Throttle, opts Options) *Service {
	if opts.Lifetime <= 0 {
		opts.Lifetime = 12 * time.Hour
	}
	if opts.Idle <= 0 {
		opts.Idle = 30 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{db: d, dir: dir, th: th, opts: opts}
}

// Session is a console login.
type Session struct {
	Token   string // the cookie value; set only by Login
	CSRF    string // to be sent back with every change
	Actor   directory.Actor
	Expires time.Time
}

func randomToken(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func remoteAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(remote)
	return a
}

// Login checks an administrator's password (and TOTP code when it has two-factor login on),
// or else a mailbox user's (for self-service), and opens a session.
func (s *Service) Login(ctx context.Context, email, password, code, remote string) (*Session, error) {
	ip := remoteAddr(remote)
	if wait := s.th.Check(ip, email); wait > 0 {
		return nil, &ThrottledError{Wait: wait}
	}
	actor, err := s.dir.AuthenticateAdmin(ctx, email, password, remote)
	if errors.Is(err, directory.ErrInvalidCredentials) {
		var acc *directory.Account
		if acc, err = s.dir.Authenticate(ctx, email, password); err == nil {
			actor, err = s.dir.UserActor(ctx, acc.ID, remote)
		}
	}
	if err != nil {
		s.th.Failure(ip, email)
		if errors.Is(err, directory.ErrInvalidCredentials) {
			return nil, ErrBadLogin
		}
		return nil, err
	}
	secret := ""
	if actor.Role != directory.RoleUser {
		if secret, err = s.dir.AdminTOTP(ctx, actor.ID); err != nil {
			return nil, err
		}
	}
	if secret != "" {
		if code == "" {
			return nil, ErrTOTPRequired
		}
		if !auth.CheckTOTP(secret, code, s.opts.Now()) {
			s.th.Failure(ip, email)
			return nil, ErrBadLogin
		}
	}
	s.th.Success(ip, email)
	now := s.opts.Now()
	sess := &Session{Token: randomToken("s_"), CSRF: randomToken(""), Actor: actor, Expires: now.Add(s.opts.Lifetime)}
	var adminID, accountID any = actor.ID, nil
	if actor.Role == directory.RoleUser {
		adminID, accountID = nil, actor.AccountID
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO web_sessions (id, admin_id, account_id, csrf, created_at, expires_at, last_seen, remote) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		hash(sess.Token), adminID, accountID, sess.CSRF, now.UnixMilli(), sess.Expires.UnixMilli(), now.UnixMilli(), remote)
	if err != nil {
		return nil, fmt.Errorf("webauth: store session: %w", err)
	}
	return sess, nil
}

// Logout ends a session.
func (s *Service) Logout(ctx context.Context, token string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE id = ?`, hash(token))
	return err
}

// Session returns the live session of a cookie value, refreshing its idle timer. The actor is
// read from the directory each time, so a removed administrator is out at once.
func (s *Service) Session(ctx context.Context, token, remote string) (*Session, error) {
	if token == "" {
		return nil, ErrNoSession
	}
	var adminID, accountID sql.NullInt64
	var expires, lastSeen int64
	var csrf string
	err := s.db.QueryRowContext(ctx, `SELECT admin_id, account_id, csrf, expires_at, last_seen FROM web_sessions WHERE id = ?`, hash(token)).Scan(&adminID, &accountID, &csrf, &expires, &lastSeen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	now := s.opts.Now().UnixMilli()
	if now >= expires || now-lastSeen >= s.opts.Idle.Milliseconds() {
		s.Logout(ctx, token)
		return nil, ErrNoSession
	}
	var actor directory.Actor
	if adminID.Valid {
		actor, err = s.dir.AdminActor(ctx, adminID.Int64, remote)
	} else {
		actor, err = s.dir.UserActor(ctx, accountID.Int64, remote)
	}
	if err != nil {
		return nil, ErrNoSession
	}
	if now-lastSeen > 60_000 {
		s.db.ExecContext(ctx, `UPDATE web_sessions SET last_seen = ? WHERE id = ?`, now, hash(token))
	}
	return &Session{CSRF: csrf, Actor: actor, Expires: time.UnixMilli(expires)}, nil
}

// Scopes a token may carry.
const (
	ScopeRead  = "read"
	ScopeWrite = "write" // implies read
)

// Token is an API token as listed (never with its secret).
type Token struct {
	ID         int64    `json:"id"`
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
	CreatedAt  int64    `json:"created_at"`
	LastUsedAt int64    `json:"last_used_at,omitempty"`
	Revoked    bool     `json:"revoked"`
}

// CreateToken creates an API token acting as the administrator adminID and returns its secret,
// which is shown once and never stored. The change is audited as the actor in ctx.
func (s *Service) CreateToken(ctx context.Context, adminID int64, name string, scopes []string) (string, *Token, error) {
	if strings.TrimSpace(name) == "" {
		return "", nil, &directory.Error{Kind: "invalid-argument", Field: "name", Msg: "a token needs a name"}
	}
	if len(scopes) == 0 {
		scopes = []string{ScopeRead}
	}
	for _, sc := range scopes {
		if sc != ScopeRead && sc != ScopeWrite {
			return "", nil, &directory.Error{Kind: "invalid-argument", Field: "scopes", Msg: fmt.Sprintf("unknown scope %q: expected read or write", sc)}
		}
	}
	secret := randomToken("posta_")
	now := s.opts.Now().UnixMilli()
	var id int64
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		email, tenantID, err := tokenOwner(ctx, tx, adminID)
		if err != nil {
			return err
		}
		id, err = tx.InsertID(ctx, `INSERT INTO api_tokens (admin_id, name, token_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)`,
			adminID, name, hash(secret), strings.Join(scopes, " "), now)
		if err != nil {
			return err
		}
		return directory.WriteAudit(ctx, tx, tenantID, "token.create", email, nil, map[string]any{"id": id, "name": name, "scopes": scopes})
	})
	if err != nil {
		return "", nil, fmt.Errorf("webauth: create token: %w", err)
	}
	return secret, &Token{ID: id, Name: name, Scopes: scopes, CreatedAt: now}, nil
}

// ListTokens lists an administrator's tokens.
func (s *Service) ListTokens(ctx context.Context, adminID int64) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, scopes, created_at, COALESCE(last_used_at, 0), revoked_at IS NOT NULL FROM api_tokens WHERE admin_id = ? ORDER BY id`, adminID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		var t Token
		var scopes string
		if err := rows.Scan(&t.ID, &t.Name, &scopes, &t.CreatedAt, &t.LastUsedAt, &t.Revoked); err != nil {
			return nil, err
		}
		t.Scopes = strings.Fields(scopes)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes one of an administrator's tokens.
func (s *Service) RevokeToken(ctx context.Context, adminID, id int64) error {
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND admin_id = ? AND revoked_at IS NULL`, s.opts.Now().UnixMilli(), id, adminID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &directory.Error{Kind: "not-found", Msg: fmt.Sprintf("no live token %d", id)}
		}
		var name string
		if err := tx.QueryRowContext(ctx, `SELECT name FROM api_tokens WHERE id = ?`, id).Scan(&name); err != nil {
			return err
		}
		email, tenantID, err := tokenOwner(ctx, tx, adminID)
		if err != nil {
			return err
		}
		return directory.WriteAudit(ctx, tx, tenantID, "token.revoke", email, map[string]any{"id": id, "name": name, "revoked": false}, map[string]any{"id": id, "name": name, "revoked": true})
	})
}

// tokenOwner is the administrator a token belongs to, for the audit log.
func tokenOwner(ctx context.Context, tx *db.Tx, adminID int64) (string, int64, error) {
	var email string
	var tenantID sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT email, tenant_id FROM admins WHERE id = ?`, adminID).Scan(&email, &tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, &directory.Error{Kind: "not-found", Msg: "no such administrator"}
	}
	return email, tenantID.Int64, err
}

func (s *Service) tokenActor(ctx context.Context, secret, remote string) (directory.Actor, []string, error) {
	var id, adminID int64
	var scopes string
	err := s.db.QueryRowContext(ctx, `SELECT id, admin_id, scopes FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL`, hash(secret)).Scan(&id, &adminID, &scopes)
	if err != nil {
		return directory.Actor{}, nil, ErrNoSession
	}
	actor, err := s.dir.AdminActor(ctx, adminID, remote)
	if err != nil {
		return directory.Actor{}, nil, ErrNoSession
	}
	s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, s.opts.Now().UnixMilli(), id)
	return actor, strings.Fields(scopes), nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// Authenticate returns the actor a request acts as: a bearer token (which must carry the
// write scope for changes) or a session cookie (whose CSRF token must come with every change,
// in the X-CSRF-Token header or the csrf form field). The session is nil for tokens.
func (s *Service) Authenticate(r *http.Request) (directory.Actor, *Session, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return directory.Actor{}, nil, ErrNoSession
		}
		actor, scopes, err := s.tokenActor(ctx, strings.TrimSpace(secret), r.RemoteAddr)
		if err != nil {
			return directory.Actor{}, nil, err
		}
		if !safeMethod(r.Method) && !slices.Contains(scopes, ScopeWrite) {
			return directory.Actor{}, nil, ErrScope
		}
		return actor, nil, nil
	}
	c, err := r.Cookie(CookieName)
	if err != nil {
		return directory.Actor{}, nil, ErrNoSession
	}
	sess, err := s.Session(ctx, c.Value, r.RemoteAddr)
	if err != nil {
		return directory.Actor{}, nil, err
	}
	if !safeMethod(r.Method) {
		got := r.Header.Get("X-CSRF-Token")
		if got == "" {
			got = r.PostFormValue("csrf")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
			return directory.Actor{}, nil, ErrCSRF
		}
	}
	return sess.Actor, sess, nil
}

// SetCookie sets the session cookie: Secure, HttpOnly, SameSite=Strict (the console and the
// API are served over HTTPS only).
func SetCookie(w http.ResponseWriter, sess *Session) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: sess.Token, Path: "/", Expires: sess.Expires,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// ClearCookie removes the session cookie.
func ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// Sweep removes expired sessions.
func (s *Service) Sweep(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE expires_at <= ?`, s.opts.Now().UnixMilli())
	return err
}

// ErrBadTOTPCode is the refusal of a code that does not match the authenticator's secret.
var ErrBadTOTPCode = &directory.Error{Kind: "invalid-totp-code", Field: "code", Msg: "the code does not match: check the time of the device and try the next code"}

// NewTOTP returns a fresh TOTP secret and its otpauth URI for an authenticator app. Nothing is
// stored until EnableTOTP confirms it with a code.
func NewTOTP(issuer, account string) (secret, uri string) {
	secret = auth.NewTOTPSecret()
	return secret, auth.TOTPURI(issuer, account, secret)
}

// TOTPEnabled says whether the administrator acting in ctx has two-factor login on.
func (s *Service) TOTPEnabled(ctx context.Context) (bool, error) {
	a, ok := directory.ActorFrom(ctx)
	if !ok || a.ID == 0 || a.Role == directory.RoleUser || a.Role == directory.RoleSystem {
		return false, &directory.Error{Kind: "forbidden", Msg: "two-factor login belongs to administrators"}
	}
	secret, err := s.dir.AdminTOTP(ctx, a.ID)
	return secret != "", err
}

// EnableTOTP turns two-factor login on for the administrator acting in ctx, once code shows
// that its authenticator holds secret (from NewTOTP).
func (s *Service) EnableTOTP(ctx context.Context, secret, code string) error {
	if _, err := s.TOTPEnabled(ctx); err != nil {
		return err
	}
	secret = strings.ToUpper(strings.TrimSpace(secret))
	if _, err := auth.TOTPCode(secret, s.opts.Now()); err != nil || len(secret) < 16 {
		return &directory.Error{Kind: "invalid-argument", Field: "secret", Msg: "the secret must be the base32 text of at least 16 characters given by the setup step"}
	}
	if !auth.CheckTOTP(secret, code, s.opts.Now()) {
		return ErrBadTOTPCode
	}
	a, _ := directory.ActorFrom(ctx)
	return s.dir.SetAdminTOTP(ctx, a.Name, secret)
}

// DisableTOTP turns two-factor login off for the administrator acting in ctx, with a current
// code; refused (kind totp-enforced) where it is required.
func (s *Service) DisableTOTP(ctx context.Context, code string) error {
	on, err := s.TOTPEnabled(ctx)
	if err != nil || !on {
		return err
	}
	a, _ := directory.ActorFrom(ctx)
	secret, err := s.dir.AdminTOTP(ctx, a.ID)
	if err != nil {
		return err
	}
	if !auth.CheckTOTP(secret, code, s.opts.Now()) {
		return ErrBadTOTPCode
	}
	return s.dir.SetAdminTOTP(ctx, a.Name, "")
}
