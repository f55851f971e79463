package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/migrate"
	"github.com/postamail/posta/internal/provision"
)

func (a *API) migrateRoutes() []route {
	job := &migrate.Job{}
	return []route{
		{method: "GET", path: "/migrations", summary: "List IMAP migrations, newest first, with their progress (messages, bytes, rate, ETA)", tag: "migrations", query: []string{"tenant", "status", "limit"}, resp: []*migrate.Job{}, status: 200, fn: a.migrationList},
		{method: "POST", path: "/migrations", summary: "Queue an IMAP migration from another provider into an account (source_tls none needs allow_plaintext; dry_run only reports). The source password is stored encrypted and erased when the job ends", tag: "migrations", body: migrate.Request{}, resp: job, status: 201, fn: a.migrationCreate},
		{method: "POST", path: "/tenants/{tenant}/migrations", summary: "Queue one migration per row of a spreadsheet sent as the body (XLSX, or CSV with Content-Type text/csv): source host, source user, source password, destination address, optionally source port, source TLS and authorisation identity; one bad row refuses the file (422, nothing queued)", tag: "migrations", query: []string{"source_tls", "allow_plaintext", "dry_run", "force"}, resp: &migrate.BulkResult{}, status: 201, fn: a.migrationBulk, bodyTypes: spreadsheetTypes, maxBody: provision.MaxFileBytes},
		{method: "GET", path: "/migrations/{id}", summary: "A migration with its progress", tag: "migrations", resp: job, status: 200, fn: a.migrationGet},
		{method: "POST", path: "/migrations/{id}/cancel", summary: "Stop a migration: a queued one at once, a running one within seconds; what was copied stays", tag: "migrations", resp: job, status: 200, fn: a.migrationCancel},
		{method: "GET", path: "/migrations/{id}/report", summary: "A migration's report per account: copied, skipped (too large, duplicate, ...), failed with the server's answer, bytes, duration, the folder mapping (format=csv for a file)", tag: "migrations", query: []string{"format"}, resp: &migrate.Report{}, status: 200, fn: a.migrationReport, files: []string{"text/csv"}},
	}
}

var errNoMigrate = &directory.Error{Kind: "migration-disabled", Msg: "migrations are not available on this server"}

func (a *API) migrations() (*migrate.Service, error) {
	if a.opts.Migrate == nil {
		return nil, errNoMigrate
	}
	return a.opts.Migrate, nil
}

// migrationJob returns the service and the job id named by the request's path.
func (a *API) migrationJob(r *http.Request) (*migrate.Service, int64, error) {
	m, err := a.migrations()
	if err != nil {
		return nil, 0, err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, 0, &directory.Error{Kind: "not-found", Msg: "no migration job " + strconv.Quote(r.PathValue("id"))}
	}
	return m, id, nil
}

func (a *API) migrationList(w http.ResponseWriter, r *http.Request) (any, error) {
	m, err := a.migrations()
	if err != nil {
		return nil, err
	}
	limit, err := queryInt(r, "limit", 200)
	if err != nil {
		return nil, err
	}
	jobs, err := m.List(r.Context(), migrate.Filter{Tenant: r.URL.Query().Get("tenant"), Status: r.URL.Query().Get("status"), Limit: limit})
	if jobs == nil && err == nil {
		jobs = []*migrate.Job{}
	}
	return jobs, err
}

func (a *API) migrationCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	m, err := a.migrations()
	if err != nil {
		return nil, err
	}
	var req migrate.Request
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return m.Create(r.Context(), req)
}

func (a *API) migrationBulk(w http.ResponseWriter, r *http.Request) (any, error) {
	m, err := a.migrations()
	if err != nil {
		return nil, err
	}
	def := migrate.Request{SourceTLS: r.URL.Query().Get("source_tls")}
	if def.AllowPlaintext, err = flag(r, "allow_plaintext"); err != nil {
		return nil, err
	}
	if def.DryRun, err = flag(r, "dry_run"); err != nil {
		return nil, err
	}
	if def.Force, err = flag(r, "force"); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &directory.Error{Kind: "invalid-spreadsheet", Field: "file", Msg: "the file is larger than " + strconv.Itoa(provision.MaxFileBytes>>20) + " MB: split it into several files"}
		}
		return nil, err
	}
	res, err := m.Bulk(r.Context(), r.PathValue("tenant"), data, def)
	if err != nil && (res == nil || len(res.Problems) == 0) {
		return nil, err
	}
	status := http.StatusCreated
	if err != nil {
		status = http.StatusUnprocessableEntity
	}
	body, jerr := json.MarshalIndent(res, "", "  ")
	if jerr != nil {
		return nil, jerr
	}
	return &reply{status: status, contentType: "application/json", body: append(body, '\n')}, nil
}

func (a *API) migrationGet(w http.ResponseWriter, r *http.Request) (any, error) {
	m, id, err := a.migrationJob(r)
	if err != nil {
		return nil, err
	}
	return m.Get(r.Context(), id)
}

func (a *API) migrationCancel(w http.ResponseWriter, r *http.Request) (any, error) {
	m, id, err := a.migrationJob(r)
	if err != nil {
		return nil, err
	}
	return m.Cancel(r.Context(), id)
}

func (a *API) migrationReport(w http.ResponseWriter, r *http.Request) (any, error) {
	m, id, err := a.migrationJob(r)
	if err != nil {
		return nil, err
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		return nil, &directory.Error{Kind: "invalid-argument", Field: "format", Msg: `format must be "json" or "csv"`}
	}
	rep, err := m.Report(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if format == "csv" {
		var b bytes.Buffer
		if err := rep.WriteCSV(&b); err != nil {
			return nil, err
		}
		return &reply{status: 200, contentType: "text/csv; charset=utf-8", name: "posta-migration-" + strconv.FormatInt(id, 10) + ".csv", body: b.Bytes()}, nil
	}
	return rep, nil
}
