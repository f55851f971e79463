package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
)

func TestMigrationBulkRoute(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		a := f.login("admin@rossi.it")
		b := f.login("admin@bianchi.it")
		csv := []byte("source host,source user,source password,destination address\nimap.old.test,mario,Old-1,mario@rossi.it\nimap.old.test,anna,Old-2,anna@verdi.it\n")
		st, body, _ := a.upload("POST", "/api/v1/tenants/Rossi%20Srl/migrations?source_tls=starttls&dry_run=1", "text/csv", csv)
		var res struct {
			Jobs []struct {
				Address   string
				SourceTLS string `json:"source_tls"`
				DryRun    bool   `json:"dry_run"`
			}
		}
		if err := json.Unmarshal([]byte(body), &res); st != 201 || err != nil || len(res.Jobs) != 2 || res.Jobs[1].Address != "anna@verdi.it" || res.Jobs[0].SourceTLS != "starttls" || !res.Jobs[0].DryRun {
			t.Fatalf("bulk: %d %s", st, body)
		}
		if strings.Contains(body, "Old-1") {
			t.Errorf("the answer holds a source password: %s", body)
		}
		// Tenant B: not tenant A's file, and not tenant A's accounts from its own.
		if st, body, _ := b.upload("POST", "/api/v1/tenants/Rossi%20Srl/migrations", "text/csv", csv); st != 404 {
			t.Errorf("bulk into another tenant: %d %s", st, body)
		}
		st, body, _ = b.upload("POST", "/api/v1/tenants/Bianchi%20SpA/migrations", "text/csv", csv)
		if st != 422 || !strings.Contains(body, `"problems"`) || strings.Contains(body, `"address": "mario@rossi.it"`) {
			t.Errorf("bulk naming another tenant's accounts: %d %s", st, body)
		}
		if st, body, _ := a.upload("POST", "/api/v1/tenants/Rossi%20Srl/migrations", "text/csv", []byte("colour\nblue\n")); st != 422 || problemType(body) != "invalid-spreadsheet" {
			t.Errorf("bad file: %d %s", st, body)
		}
	})
}
