// Package api is posta's JSON API under /api/v1: administration of tenants, domains, classes of
// service, accounts, aliases, lists, administrators, API tokens, the audit log and usage. It
// authenticates each request with webauth (session cookie with CSRF token, or bearer token),
// calls the directory with the request's actor, and answers errors as RFC 9457 problem JSON
// with a stable type per rule. Its OpenAPI 3 document is generated from the same route table
// that serves the requests, so the two cannot drift apart.
//
// It must hold no business rule and no authorisation of its own: the directory decides.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/billing"
	"github.com/postamail/posta/internal/console"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/migrate"
	"github.com/postamail/posta/internal/msglog"
	"github.com/postamail/posta/internal/pim"
	"github.com/postamail/posta/internal/provision"
	"github.com/postamail/posta/internal/queue"
	"github.com/postamail/posta/internal/webauth"
)

// Options configure the API.
type Options struct {
	Hostname string // the mail server's name, for the DNS records of domains
	Logger   *slog.Logger
	// Billing serves /billing (pay-per-use credit); nil: those routes answer 503.
	Billing *billing.Service
	// Provision serves bulk provisioning (with welcome messages); nil: provisioning without
	// welcome messages.
	Provision *provision.Service
	// DKIM gives domains their DKIM keys for the DNS records; nil: DKIM shown as pending.
	DKIM console.DKIMKeys
	// MsgLog is the message log, for /trace; nil: outbound deliveries only.
	MsgLog *msglog.Log
	// Resolver checks whether records are live (?check=1); default net.DefaultResolver.
	Resolver console.Resolver
	// PIM serves the address books and calendars of accounts; nil: those routes answer 503.
	PIM *pim.Service
	// Migrate serves /migrations (IMAP migrations from other providers); nil: those routes
	// answer 503.
	Migrate *migrate.Service
}

// API serves /api/v1.
type API struct {
	dir    *directory.Service
	web    *webauth.Service
	queue  *queue.Queue
	opts   Options
	routes []route
	mux    *http.ServeMux
}

// route is one endpoint: it serves requests and describes itself in the OpenAPI document.
type route struct {
	method, path string
	summary, tag string
	public       bool // no authentication (login, the document itself)
	// enrol: open to an administrator who must first turn on two-factor login (every other
	// route answers 403 totp-enrolment-required to it)
	enrol  bool
	body   any // a value of the request body's type, for the schema; nil: none
	resp   any // a value of the response's type; nil: no content
	status int // success status
	query  []string
	fn     func(w http.ResponseWriter, r *http.Request) (any, error)
	// bodyTypes are the media types of a body that is a file, not JSON; files are those of a
	// response that is a file; maxBody raises the 1 MB limit of request bodies.
	bodyTypes, files []string
	maxBody          int64
}

// RouteInfo names one endpoint of the API.
type RouteInfo struct {
	Method, Path string // Path relative to /api/v1, with {name} wildcards
	Public       bool   // served without authentication
}

// Routes lists every endpoint the API serves, in the order of its route table.
func (a *API) Routes() []RouteInfo {
	out := make([]RouteInfo, len(a.routes))
	for i, rt := range a.routes {
		out[i] = RouteInfo{Method: rt.method, Path: rt.path, Public: rt.public}
	}
	return out
}

// New returns the API handler, to be mounted at /api/v1/.
func New(dir *directory.Service, web *webauth.Service, q *queue.Queue, opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &API{dir: dir, web: web, queue: q, opts: opts, mux: http.NewServeMux()}
	a.routes = append(append(append(append(a.table(), a.provisionRoutes()...), a.securityRoutes()...), a.pimRoutes()...), a.migrateRoutes()...)
	for i := range a.routes {
		rt := &a.routes[i]
		a.mux.HandleFunc(rt.method+" /api/v1"+rt.path, func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, rt) })
	}
	a.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, problem{Type: "not-found", Title: "no such endpoint", Status: http.StatusNotFound, Detail: r.Method + " " + r.URL.Path})
	})
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	a.mux.ServeHTTP(w, r)
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, rt *route) {
	limit := int64(1 << 20)
	if rt.maxBody > 0 {
		limit = rt.maxBody
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if !rt.public {
		actor, sess, err := a.web.Authenticate(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if actor.MustEnrolTOTP && sess == nil {
			// A token cannot enrol for its administrator: that takes a login with the password.
			a.fail(w, r, &directory.Error{Kind: "totp-enrolment-required", Msg: "two-factor login is required for the token's administrator: it must log in with its password and turn it on; until then its tokens are refused"})
			return
		}
		if actor.MustEnrolTOTP && !rt.enrol {
			a.fail(w, r, &directory.Error{Kind: "totp-enrolment-required", Msg: "two-factor login is required for your administrator account: turn it on first (POST /api/v1/session/totp/secret, then PUT /api/v1/session/totp)"})
			return
		}
		r = r.WithContext(directory.WithActor(r.Context(), actor))
	}
	v, err := rt.fn(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if f, ok := v.(*file); ok {
		f.write(w)
		return
	}
	if rp, ok := v.(*reply); ok {
		rp.respond(w)
		return
	}
	if rt.resp == nil {
		w.WriteHeader(rt.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rt.status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// problem is an RFC 9457 problem detail.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
}

// ProblemBase prefixes problem types: relative references resolved against the API.
const ProblemBase = "/api/v1/problems/"

func writeProblem(w http.ResponseWriter, p problem) {
	p.Type = ProblemBase + p.Type
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// statusOf maps the directory's rule kinds to HTTP statuses.
var statusOf = map[string]int{
	"not-found":               http.StatusNotFound,
	"forbidden":               http.StatusForbidden,
	"address-taken":           http.StatusConflict,
	"contract-cap-exceeded":   http.StatusConflict,
	"quota-below-usage":       http.StatusConflict,
	"list-loop":               http.StatusConflict,
	"domain-in-use":           http.StatusConflict,
	"tenant-suspended":        http.StatusConflict,
	"invalid-credentials":     http.StatusUnauthorized,
	"insufficient-credit":     http.StatusPaymentRequired,
	"duplicate-reference":     http.StatusConflict,
	"charge-run-busy":         http.StatusConflict,
	"invalid-signature":       http.StatusUnauthorized,
	"webhook-disabled":        http.StatusServiceUnavailable,
	"billing-disabled":        http.StatusServiceUnavailable,
	"totp-enrolment-required": http.StatusForbidden,
	"totp-enforced":           http.StatusConflict,
	"pim-disabled":            http.StatusServiceUnavailable,
	"migration-disabled":      http.StatusServiceUnavailable,
	"job-finished":            http.StatusConflict,
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var de *directory.Error
	var te *webauth.ThrottledError
	var se *json.SyntaxError
	var ue *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &de):
		st, ok := statusOf[de.Kind]
		if !ok {
			st = http.StatusUnprocessableEntity
		}
		writeProblem(w, problem{Type: de.Kind, Title: strings.ReplaceAll(de.Kind, "-", " "), Status: st, Detail: de.Error(), Field: de.Field})
	case errors.As(err, &te):
		w.Header().Set("Retry-After", strconv.Itoa(int(te.Wait.Seconds())+1))
		writeProblem(w, problem{Type: "too-many-logins", Title: "too many failed logins", Status: http.StatusTooManyRequests, Detail: te.Error()})
	case errors.Is(err, webauth.ErrTOTPRequired):
		writeProblem(w, problem{Type: "totp-required", Title: "two-factor code required", Status: http.StatusUnauthorized, Detail: err.Error(), Field: "totp"})
	case errors.Is(err, webauth.ErrBadLogin):
		writeProblem(w, problem{Type: "invalid-credentials", Title: "invalid credentials", Status: http.StatusUnauthorized, Detail: err.Error()})
	case errors.Is(err, webauth.ErrNoSession):
		w.Header().Set("WWW-Authenticate", `Bearer realm="posta"`)
		writeProblem(w, problem{Type: "unauthenticated", Title: "authentication required", Status: http.StatusUnauthorized, Detail: err.Error()})
	case errors.Is(err, webauth.ErrCSRF):
		writeProblem(w, problem{Type: "csrf", Title: "missing or wrong CSRF token", Status: http.StatusForbidden, Detail: "send the session's CSRF token in the X-CSRF-Token header"})
	case errors.Is(err, webauth.ErrScope):
		writeProblem(w, problem{Type: "insufficient-scope", Title: "the token does not allow changes", Status: http.StatusForbidden, Detail: err.Error()})
	case errors.As(err, &mbe):
		writeProblem(w, problem{Type: "too-large", Title: "request body too large", Status: http.StatusRequestEntityTooLarge, Detail: err.Error()})
	case errors.As(err, &se), errors.As(err, &ue), errors.Is(err, errMalformed), errors.Is(err, io.ErrUnexpectedEOF):
		writeProblem(w, problem{Type: "malformed-request", Title: "malformed request", Status: http.StatusBadRequest, Detail: err.Error()})
	default:
		a.opts.Logger.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, problem{Type: "internal", Title: "internal error", Status: http.StatusInternalServerError, Detail: "the administrator has the details in the log"})
	}
}

var errMalformed = errors.New("malformed request")

// decode reads a JSON body into v, refusing unknown fields and trailing data.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return fmt.Errorf("%w: Content-Type must be application/json, got %s", errMalformed, ct)
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty body", errMalformed)
		}
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return fmt.Errorf("%w: %v", errMalformed, err)
		}
		return err
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON value", errMalformed)
	}
	return nil
}

func queryInt(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, &directory.Error{Kind: "invalid-argument", Field: name, Msg: fmt.Sprintf("%s must be a non-negative number, got %q", name, v)}
	}
	return n, nil
}

// adminID is the administrator a request acts as (tokens belong to administrators).
func adminID(ctx context.Context) (int64, error) {
	a, ok := directory.ActorFrom(ctx)
	if !ok || a.ID == 0 || a.Role == directory.RoleUser {
		return 0, &directory.Error{Kind: "forbidden", Msg: "API tokens belong to administrators; mail clients use app passwords"}
	}
	return a.ID, nil
}

// selfAddress is the account a mailbox user's request acts on.
func selfAddress(ctx context.Context) (string, error) {
	a, ok := directory.ActorFrom(ctx)
	if !ok || a.Role != directory.RoleUser {
		return "", &directory.Error{Kind: "forbidden", Msg: "these endpoints are for mailbox users managing their own account"}
	}
	return a.Name, nil
}
