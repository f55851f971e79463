package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/provision"
)

// reply is a response a route writes itself: a file, or JSON with its own status.
type reply struct {
	status      int
	contentType string
	name        string // attachment file name; "" for inline JSON
	body        []byte
}

func (rp *reply) respond(w http.ResponseWriter) {
	w.Header().Set("Content-Type", rp.contentType)
	if rp.name != "" {
		w.Header().Set("Content-Disposition", `attachment; filename="`+rp.name+`"; filename*=UTF-8''`+url.PathEscape(rp.name))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(rp.body)))
	w.WriteHeader(rp.status)
	w.Write(rp.body)
}

// spreadsheetTypes are the media types a provisioning file may be sent as.
var spreadsheetTypes = []string{
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"text/csv",
}

func (a *API) provisionRoutes() []route {
	return []route{
		{method: "GET", path: "/tenants/{tenant}/provision/template", summary: "The spreadsheet template for bulk provisioning (format=xlsx|csv, lang=en|it): the accounts sheet and a sheet naming the tenant's domains and classes of service", tag: "provisioning", query: []string{"format", "lang"}, status: 200, fn: a.provisionTemplate, files: spreadsheetTypes},
		{method: "GET", path: "/tenants/{tenant}/provision/export", summary: "The tenant's accounts in the template's format, without passwords (format=xlsx|csv, lang=en|it)", tag: "provisioning", query: []string{"format", "lang"}, status: 200, fn: a.provisionExport, files: spreadsheetTypes},
		{method: "POST", path: "/tenants/{tenant}/provision", summary: "Create and update accounts from a spreadsheet sent as the body (XLSX, or CSV with Content-Type text/csv). Every row is validated first; dry_run=1 only shows the diff; without partial=1 a file with any error is refused as a whole (422, nothing written); welcome=1 sends the welcome message to new accounts; report=xlsx|csv answers with the report file instead of JSON. Generated passwords are in the answer, once", tag: "provisioning", query: []string{"dry_run", "partial", "welcome", "lang", "report"}, resp: &provision.Result{}, status: 200, fn: a.provisionImport, bodyTypes: spreadsheetTypes, maxBody: provision.MaxFileBytes},
	}
}

// provisioning returns the provisioning service (one without welcome messages when the API
// was built without one).
func (a *API) provisioning() *provision.Service {
	if a.opts.Provision != nil {
		return a.opts.Provision
	}
	return provision.New(a.dir, provision.Options{Logger: a.opts.Logger})
}

func provisionArgs(r *http.Request) (provision.Format, string, error) {
	f, err := provision.ParseFormat(r.URL.Query().Get("format"))
	if err != nil {
		return "", "", err
	}
	lang := r.URL.Query().Get("lang")
	switch lang {
	case "":
		lang = "en"
	case "en", "it":
	default:
		return "", "", &directory.Error{Kind: "invalid-argument", Field: "lang", Msg: `lang must be "en" or "it"`}
	}
	return f, lang, nil
}

func (a *API) provisionTemplate(w http.ResponseWriter, r *http.Request) (any, error) {
	f, lang, err := provisionArgs(r)
	if err != nil {
		return nil, err
	}
	data, err := a.provisioning().Template(r.Context(), r.PathValue("tenant"), f, lang)
	if err != nil {
		return nil, err
	}
	return &reply{status: 200, contentType: f.ContentType(), name: "posta-template." + string(f), body: data}, nil
}

func (a *API) provisionExport(w http.ResponseWriter, r *http.Request) (any, error) {
	f, lang, err := provisionArgs(r)
	if err != nil {
		return nil, err
	}
	data, err := a.provisioning().Export(r.Context(), r.PathValue("tenant"), f, lang)
	if err != nil {
		return nil, err
	}
	return &reply{status: 200, contentType: f.ContentType(), name: "posta-accounts." + string(f), body: data}, nil
}

func flag(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "0", "false", "no":
		return false, nil
	case "1", "true", "yes":
		return true, nil
	default:
		return false, &directory.Error{Kind: "invalid-argument", Field: name, Msg: name + " must be 1 or 0, got " + strconv.Quote(v)}
	}
}

func (a *API) provisionImport(w http.ResponseWriter, r *http.Request) (any, error) {
	var o provision.ImportOptions
	var err error
	if o.DryRun, err = flag(r, "dry_run"); err != nil {
		return nil, err
	}
	if o.Partial, err = flag(r, "partial"); err != nil {
		return nil, err
	}
	if o.Welcome, err = flag(r, "welcome"); err != nil {
		return nil, err
	}
	o.Language = r.URL.Query().Get("lang")
	if o.Language != "" && o.Language != "it" && o.Language != "en" {
		return nil, &directory.Error{Kind: "invalid-argument", Field: "lang", Msg: `lang must be "it" or "en"`}
	}
	var report provision.Format
	if rep := r.URL.Query().Get("report"); rep != "" {
		if report, err = provision.ParseFormat(rep); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &directory.Error{Kind: "invalid-spreadsheet", Field: "file", Msg: "the file is larger than " + strconv.Itoa(provision.MaxFileBytes>>20) + " MB: split it into several files"}
		}
		return nil, err
	}
	o.Source = "api"
	p := a.provisioning()
	if o.Welcome && !p.CanWelcome() {
		return nil, &directory.Error{Kind: "invalid-argument", Field: "welcome", Msg: "welcome messages cannot be sent from here"}
	}
	res, err := p.Import(r.Context(), r.PathValue("tenant"), data, o)
	if err != nil {
		return nil, err
	}
	status := http.StatusOK
	if res.Refused != "" {
		status = http.StatusUnprocessableEntity
	}
	if report != "" {
		lang := o.Language
		if lang == "" {
			lang = "en"
		}
		body, err := res.Report(report, lang)
		if err != nil {
			return nil, err
		}
		return &reply{status: status, contentType: report.ContentType(), name: "posta-report." + string(report), body: body}, nil
	}
	body, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	return &reply{status: status, contentType: "application/json", body: append(body, '\n')}, nil
}
