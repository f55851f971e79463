package console

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/postamail/posta/internal/autoconfig"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/provision"
)

// Bulk provisioning: the template and the export to download, a spreadsheet to upload, checked
// (the dry run's diff) or imported (with the report of generated passwords to download, held in
// memory for a short while and only for the administrator who made it). And the Apple
// configuration profile of a mailbox user.

// provisionRoutes registers the provisioning pages.
func (c *Console) provisionRoutes(m *http.ServeMux) {
	m.Handle("GET /provision", c.admin(c.provisionPage))
	m.Handle("POST /provision", c.admin(c.provisionUpload))
	m.Handle("GET /provision/template", c.admin(c.provisionTemplate))
	m.Handle("GET /provision/export", c.admin(c.provisionExport))
	m.Handle("GET /provision/report/{token}", c.admin(c.provisionReport))
	m.Handle("GET /me/mobileconfig", c.self(c.mobileConfig))
}

// bodyLimit is the largest request body: a spreadsheet upload may be large.
func bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && (r.URL.Path == "/provision" || r.URL.Path == "/migrations/bulk") {
		return provision.MaxFileBytes + 64<<10
	}
	return 1 << 20
}

func (c *Console) provisioning() *provision.Service {
	if c.opts.Provision != nil {
		return c.opts.Provision
	}
	return provision.New(c.dir, provision.Options{Logger: c.log})
}

// provisionPage is the page's data.
type provisionPage struct {
	Tenants    []*directory.Tenant // to choose from (the provider); one for everyone else
	Tenant     string
	Form       *form
	CanWelcome bool
	Result     *provision.Result
	Rows       []*provision.RowResult // the rows shown: those that change or fail
	Hidden     int                    // rows that change or fail but are not shown
	Report     string                 // the report's download token
	Passwords  bool                   // the result shows generated passwords
}

// maxShownRows bounds the rows the page lists; the report has them all.
const maxShownRows = 1000

// provisionTenant is the tenant the page works on: the one asked for, or the actor's own.
func (c *Console) provisionTenant(r *http.Request, v *view, asked string) (string, []*directory.Tenant, error) {
	ts, err := c.dir.ListTenants(r.Context())
	if err != nil {
		return "", nil, err
	}
	if asked != "" {
		t, err := c.dir.GetTenant(r.Context(), asked)
		if err != nil {
			return "", nil, err
		}
		return t.Name, ts, nil
	}
	if len(ts) > 0 {
		return ts[0].Name, ts, nil
	}
	return "", ts, nil
}

func (c *Console) provisionPage(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showProvision(w, r, v, provisionPage{Form: newForm(v.L, nil)}, r.URL.Query().Get("tenant"), http.StatusOK)
}

func (c *Console) showProvision(w http.ResponseWriter, r *http.Request, v *view, p provisionPage, tenant string, status int) error {
	var err error
	if p.Tenant, p.Tenants, err = c.provisionTenant(r, v, tenant); err != nil {
		return err
	}
	p.CanWelcome = c.provisioning().CanWelcome()
	if p.Result != nil {
		for _, row := range p.Result.Rows {
			if row.Action == provision.ActUnchanged {
				continue
			}
			if row.Password != "" {
				p.Passwords = true
			}
			if len(p.Rows) < maxShownRows {
				p.Rows = append(p.Rows, row)
			} else {
				p.Hidden++
			}
		}
	}
	v.Nav, v.Title, v.Data = "provision", v.L.T("nav.provision"), p
	c.render(w, v, status, "layout", "provision")
	return nil
}

// download answers a file.
func download(w http.ResponseWriter, contentType, name string, data []byte) error {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `attachment; filename="`+name+`"; filename*=UTF-8''`+url.PathEscape(name))
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
	return nil
}

func (c *Console) provisionFile(w http.ResponseWriter, r *http.Request, v *view, export bool) error {
	f, err := provision.ParseFormat(r.URL.Query().Get("format"))
	if err != nil {
		return err
	}
	tenant, _, err := c.provisionTenant(r, v, r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	var data []byte
	name := "posta-template"
	if export {
		data, err = c.provisioning().Export(r.Context(), tenant, f, v.L.Code)
		name = "posta-accounts"
	} else {
		data, err = c.provisioning().Template(r.Context(), tenant, f, v.L.Code)
	}
	if err != nil {
		return err
	}
	return download(w, f.ContentType(), fmt.Sprintf("%s-%s.%s", name, safeName(tenant), f), data)
}

func (c *Console) provisionTemplate(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.provisionFile(w, r, v, false)
}

func (c *Console) provisionExport(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.provisionFile(w, r, v, true)
}

// safeName keeps letters, digits and dashes of a name for a file name.
func safeName(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			out = append(out, r)
		case r == ' ' || r == '_' || r == '.' || r == '@':
			out = append(out, '-')
		}
	}
	return string(out)
}

func (c *Console) provisionUpload(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	f.Values.Del("file")
	tenant := f.Get("tenant")
	file, hdr, err := r.FormFile("file")
	if err != nil {
		f.fieldErr("file", "prov.no_file")
		return c.showProvision(w, r, v, provisionPage{Form: f}, tenant, http.StatusUnprocessableEntity)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, provision.MaxFileBytes+1))
	if err != nil {
		return err
	}
	apply := f.Get("action") == "apply"
	o := provision.ImportOptions{DryRun: !apply, Partial: f.Checked("partial"), Welcome: f.Checked("welcome"), Language: v.L.Code, Source: hdr.Filename}
	prov := c.provisioning()
	if o.Welcome && !prov.CanWelcome() {
		o.Welcome = false
	}
	t, _, err := c.provisionTenant(r, v, tenant)
	if err != nil {
		return err
	}
	res, err := prov.Import(r.Context(), t, data, o)
	if err != nil {
		if f.refuse(err, "file") {
			return c.showProvision(w, r, v, provisionPage{Form: f}, t, http.StatusUnprocessableEntity)
		}
		return err
	}
	p := provisionPage{Form: f, Result: res}
	status := http.StatusOK
	if res.Refused != "" || (res.DryRun && res.Summary.Errors > 0) {
		status = http.StatusUnprocessableEntity
	}
	p.Report = reports.put(owner(v), res, v.L.Code)
	return c.showProvision(w, r, v, p, t, status)
}

func (c *Console) provisionReport(w http.ResponseWriter, r *http.Request, v *view) error {
	f, err := provision.ParseFormat(r.URL.Query().Get("format"))
	if err != nil {
		return err
	}
	res, lang := reports.get(r.PathValue("token"), owner(v))
	if res == nil {
		setFlash(w, "flash.prov_report_gone.error", "")
		http.Redirect(w, r, "/provision", http.StatusSeeOther)
		return nil
	}
	data, err := res.Report(f, lang)
	if err != nil {
		return err
	}
	return download(w, f.ContentType(), "posta-report-"+safeName(res.Tenant)+"."+string(f), data)
}

// owner names the administrator a report belongs to.
func owner(v *view) string {
	return fmt.Sprintf("%s/%d/%d/%s", v.Actor.Role, v.Actor.ID, v.Actor.TenantID, v.Actor.Name)
}

// reportStore keeps import results for their reports, a short while, in memory: a report
// holds the passwords just generated, which are never stored.
type reportStore struct {
	mu sync.Mutex
	m  map[string]storedReport
}

type storedReport struct {
	owner   string
	res     *provision.Result
	lang    string
	expires time.Time
}

var reports = &reportStore{m: map[string]storedReport{}}

// reportLifetime is how long a report can be downloaded.
const reportLifetime = 15 * time.Minute

func (s *reportStore) put(owner string, res *provision.Result, lang string) string {
	b := make([]byte, 24)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, r := range s.m {
		if now.After(r.expires) {
			delete(s.m, k)
		}
	}
	if len(s.m) >= 50 { // bound the memory: drop the oldest
		var oldest string
		for k, r := range s.m {
			if oldest == "" || r.expires.Before(s.m[oldest].expires) {
				oldest = k
			}
		}
		delete(s.m, oldest)
	}
	s.m[tok] = storedReport{owner: owner, res: res, lang: lang, expires: now.Add(reportLifetime)}
	return tok
}

func (s *reportStore) get(tok, owner string) (*provision.Result, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[tok]
	if !ok || r.owner != owner || time.Now().After(r.expires) {
		return nil, ""
	}
	return r.res, r.lang
}

// mobileConfig downloads the Apple configuration profile of the user's own account.
func (c *Console) mobileConfig(w http.ResponseWriter, r *http.Request, v *view) error {
	a, err := c.dir.GetAccount(r.Context(), selfID(v))
	if err != nil {
		return err
	}
	s := c.opts.Client
	if s.Hostname == "" {
		s = autoconfig.Standard(c.opts.Hostname)
	}
	data, err := s.MobileConfig(a.Address, a.DisplayName)
	if err != nil {
		return err
	}
	return download(w, "application/x-apple-aspen-config", safeName(a.Address)+".mobileconfig", data)
}
