package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/migrate"
	"github.com/postamail/posta/internal/provision"
)

// IMAP migrations from other providers: a tenant's jobs with their state, progress (messages,
// bytes, rate, estimated time left) and report; a form for one account and the upload of a
// spreadsheet with one row per account.

func (c *Console) migrateRoutes(m *http.ServeMux) {
	m.Handle("GET /migrations", c.admin(c.migrationsPage))
	m.Handle("POST /migrations", c.admin(c.migrationCreate))
	m.Handle("POST /migrations/bulk", c.admin(c.migrationBulk))
	m.Handle("POST /migrations/{id}/cancel", c.admin(c.migrationCancel))
	m.Handle("GET /migrations/{id}/report", c.admin(c.migrationReport))
}

// migrationRow is one job as the page shows it.
type migrationRow struct {
	Job      *migrate.Job
	Progress string // "120 / 240"
	Bytes    string // "5.1 / 10.2 MB"
	Rate     string
	ETA      string
	Pct      int64
}

type migrationsPage struct {
	Tenants []*directory.Tenant
	Tenant  string
	Form    *form
	Bulk    *form
	Rows    []migrationRow
	Running bool
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

func (c *Console) showMigrations(w http.ResponseWriter, r *http.Request, v *view, p migrationsPage, tenant string, status int) error {
	if c.opts.Migrate == nil {
		return &directory.Error{Kind: "not-found", Msg: "migrations are not available on this server"}
	}
	var err error
	if p.Tenant, p.Tenants, err = c.provisionTenant(r, v, tenant); err != nil {
		return err
	}
	if p.Form == nil {
		p.Form = newForm(v.L, nil)
	}
	if p.Bulk == nil {
		p.Bulk = newForm(v.L, nil)
	}
	if p.Tenant != "" {
		jobs, err := c.opts.Migrate.List(r.Context(), migrate.Filter{Tenant: p.Tenant})
		if err != nil {
			return err
		}
		for _, j := range jobs {
			row := migrationRow{Job: j, Progress: fmt.Sprintf("%s / %s", v.L.Num(j.MsgsDone), v.L.Num(j.MsgsTotal)), Bytes: mb(j.BytesDone) + " / " + mb(j.BytesTotal)}
			if j.MsgsTotal > 0 {
				row.Pct = min(100, j.MsgsDone*100/j.MsgsTotal)
			}
			if j.RateMsgsPerSec > 0 {
				row.Rate = fmt.Sprintf("%.0f msg/s, %s/s", j.RateMsgsPerSec, mb(j.RateBytesPerSec))
			}
			if j.ETASeconds > 0 {
				row.ETA = (time.Duration(j.ETASeconds) * time.Second).String()
			}
			if !j.Finished() {
				p.Running = true
			}
			p.Rows = append(p.Rows, row)
		}
	}
	v.Nav, v.Title, v.Data = "migrations", v.L.T("nav.migrations"), p
	c.render(w, v, status, "layout", "migrations")
	return nil
}

func (c *Console) migrationsPage(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showMigrations(w, r, v, migrationsPage{}, r.URL.Query().Get("tenant"), http.StatusOK)
}

func (c *Console) migrationCreate(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	tenant := f.Get("tenant")
	pw := f.Get("source_password")
	f.Values.Del("source_password") // never shown back
	port := 0
	if s := f.Get("source_port"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			f.fieldErr("source_port", "mig.bad_port")
			return c.showMigrations(w, r, v, migrationsPage{Form: f}, tenant, http.StatusUnprocessableEntity)
		}
		port = n
	}
	req := migrate.Request{Address: f.Get("address"), SourceHost: f.Get("source_host"), SourcePort: port, SourceTLS: f.Get("source_tls"),
		SourceUser: f.Get("source_user"), SourcePassword: pw, AllowPlaintext: f.Checked("allow_plaintext"), DryRun: f.Checked("dry_run"), Force: f.Checked("force")}
	j, err := c.opts.Migrate.Create(r.Context(), req)
	if err != nil {
		if f.refuse(err, "address", "source_host", "source_port", "source_tls", "source_user", "source_password") {
			return c.showMigrations(w, r, v, migrationsPage{Form: f}, tenant, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/migrations?tenant="+url.QueryEscape(tenant), "flash.mig_queued", strconv.FormatInt(j.ID, 10))
}

func (c *Console) migrationBulk(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	f.Values.Del("file")
	tenant := f.Get("tenant")
	file, _, err := r.FormFile("file")
	if err != nil {
		f.fieldErr("file", "prov.no_file")
		return c.showMigrations(w, r, v, migrationsPage{Bulk: f}, tenant, http.StatusUnprocessableEntity)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, provision.MaxFileBytes+1))
	if err != nil {
		return err
	}
	def := migrate.Request{SourceTLS: f.Get("source_tls"), AllowPlaintext: f.Checked("allow_plaintext"), DryRun: f.Checked("dry_run"), Force: f.Checked("force")}
	res, err := c.opts.Migrate.Bulk(r.Context(), tenant, data, def)
	if err != nil {
		if f.refuse(err, "file") {
			return c.showMigrations(w, r, v, migrationsPage{Bulk: f}, tenant, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/migrations?tenant="+url.QueryEscape(tenant), "flash.mig_bulk", strconv.Itoa(len(res.Jobs)))
}

func (c *Console) migrationCancel(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return &directory.Error{Kind: "not-found", Msg: "no such migration"}
	}
	j, err := c.opts.Migrate.Cancel(r.Context(), id)
	if err != nil {
		return err
	}
	t, err := c.dir.GetTenant(r.Context(), strconv.FormatInt(j.TenantID, 10))
	if err != nil {
		return err
	}
	return redirect(w, r, "/migrations?tenant="+url.QueryEscape(t.Name), "flash.mig_cancelled", strconv.FormatInt(id, 10))
}

func (c *Console) migrationReport(w http.ResponseWriter, r *http.Request, v *view) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return &directory.Error{Kind: "not-found", Msg: "no such migration"}
	}
	rep, err := c.opts.Migrate.Report(r.Context(), id)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("posta-migration-%d-%s", id, safeName(rep.Job.Address))
	if r.URL.Query().Get("format") == "json" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		return download(w, "application/json", name+".json", data)
	}
	var b bytes.Buffer
	if err := rep.WriteCSV(&b); err != nil {
		return err
	}
	return download(w, "text/csv; charset=utf-8", name+".csv", b.Bytes())
}
