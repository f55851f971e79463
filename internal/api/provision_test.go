package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/provision"
)

// upload sends a file as the body of a request.
func (s *session) upload(method, path, contentType string, body []byte) (int, string, http.Header) {
	s.f.t.Helper()
	req, _ := http.NewRequest(method, s.f.srv.URL+path, strings.NewReader(string(body)))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.AddCookie(s.cookie)
	req.Header.Set("X-CSRF-Token", s.csrf)
	resp, err := s.f.srv.Client().Do(req)
	if err != nil {
		s.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestProvisionRoutes(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		admin := f.login("admin@rossi.it")
		csv := []byte("address;cos;aliases\r\nnew@rossi.it;Business Mail 100 MB;n@rossi.it\r\nbad@rossi.it;Gold;\r\n")
		const path = "/api/v1/tenants/Rossi%20Srl/provision"

		st, body, _ := admin.upload("POST", path+"?dry_run=1", "text/csv", csv)
		var res provision.Result
		if err := json.Unmarshal([]byte(body), &res); st != 200 || err != nil {
			t.Fatalf("dry run: %d %v %s", st, err, body)
		}
		if !res.DryRun || res.Summary.Create != 1 || res.Summary.Errors != 1 || res.Rows[1].Problems[0].Cell != "B3" {
			t.Fatalf("%+v", res)
		}
		// All or nothing: 422 with the rows.
		st, body, _ = admin.upload("POST", path, "text/csv", csv)
		if st != http.StatusUnprocessableEntity || !strings.Contains(body, `"refused"`) {
			t.Fatalf("refused: %d %s", st, body)
		}
		if _, err := f.dir.GetAccount(directory.WithActor(context.Background(), directory.SystemActor("test")), "new@rossi.it"); err == nil {
			t.Fatal("refused import wrote")
		}
		// Partial, answered with the report file.
		st, body, hdr := admin.upload("POST", path+"?partial=1&report=csv", "text/csv", csv)
		if st != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || !strings.Contains(body, "new@rossi.it") || !strings.Contains(body, "created") {
			t.Fatalf("partial with report: %d %v %s", st, hdr, body)
		}
		// Bad input.
		for _, tc := range []struct {
			query, ctype string
			body         []byte
			status       int
			kind         string
		}{
			{"", "text/csv", nil, 422, "invalid-spreadsheet"},
			{"", "application/pdf", []byte("%PDF-1.4"), 422, "invalid-spreadsheet"},
			{"?dry_run=maybe", "text/csv", csv, 422, "invalid-argument"},
			{"?report=pdf", "text/csv", csv, 422, "invalid-argument"},
			{"?welcome=1", "text/csv", csv, 422, "invalid-argument"},
		} {
			st, body, _ := admin.upload("POST", path+tc.query, tc.ctype, tc.body)
			if st != tc.status || problemType(body) != tc.kind {
				t.Errorf("%s %s: %d %s", tc.query, tc.ctype, st, body)
			}
		}
		// Template and export.
		st, body, hdr = admin.upload("GET", path+"/template?format=xlsx&lang=it", "", nil)
		if st != 200 || !strings.Contains(hdr.Get("Content-Type"), "spreadsheetml") || !strings.HasPrefix(body, "PK") {
			t.Fatalf("template: %d %v", st, hdr)
		}
		st, body, _ = admin.upload("GET", path+"/export?format=csv", "", nil)
		if st != 200 || !strings.Contains(body, "mario@rossi.it") || !strings.Contains(body, "info@rossi.it") || strings.Contains(body, "luca@bianchi.it") {
			t.Fatalf("export: %d %s", st, body)
		}
		// Who may: another tenant's administrator learns nothing; the domain administrator
		// provisions its domain only.
		other := f.login("admin@bianchi.it")
		for _, p := range []string{path + "/export", path + "/template"} {
			if st, body, _ := other.upload("GET", p, "", nil); st != 404 {
				t.Errorf("%s as another tenant: %d %s", p, st, body)
			}
		}
		if st, body, _ := other.upload("POST", path+"?dry_run=1", "text/csv", csv); st != 404 {
			t.Errorf("import as another tenant: %d %s", st, body)
		}
		if err := f.dir.SetContractCap(directory.WithActor(context.Background(), directory.SystemActor("test")), "Rossi Srl", "Business Mail 100 MB", 10); err != nil {
			t.Fatal(err)
		}
		dom := f.login("dom@rossi.it")
		st, body, _ = dom.upload("POST", path+"?partial=1", "text/csv", []byte("address,cos\nd1@rossi.it,Business Mail 100 MB\nd2@verdi.it,Business Mail 100 MB\n"))
		if err := json.Unmarshal([]byte(body), &res); st != 200 || err != nil || !res.Rows[0].Applied || res.Rows[1].Problems[0].Kind != "domain-not-owned" {
			t.Fatalf("domain admin: %d %s", st, body)
		}
		// The OpenAPI document describes the file bodies.
		_, doc := admin.do("GET", "/api/v1/openapi.json", "")
		if !strings.Contains(doc, "text/csv") || !strings.Contains(doc, `"format": "binary"`) {
			t.Fatal("openapi: spreadsheet bodies not described")
		}
	})
}
