package directory_test

import (
	"context"
	"testing"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
)

// TestAuditDomainTx: a change another package makes to a domain's data is recorded under the
// domain's tenant (the provider's for a domain not hosted here), as the actor in the context
// or, without one, the system; a tenant's administrator sees only its own tenant's entries.
func TestAuditDomainTx(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		for _, tt := range []struct {
			name        string
			ctx         context.Context
			domain      string
			target      string
			actor, role string
			tenant      int64
			seenByA     bool
			seenByB     bool
		}{
			{"tenant administrator", f.adminA, "rossi.it", "rossi.it", "admin@rossi.it", "tenant", f.tenA.ID, true, false},
			{"alias domain, spelt loosely", f.adminA, " Rossi.COM. ", "rossi.com", "admin@rossi.it", "tenant", f.tenA.ID, true, false},
			{"no actor: the system", context.Background(), "bianchi.it", "bianchi.it", "system", "system", f.tenB.ID, false, true},
			{"operator", f.sys, "bianchi.it", "bianchi.it", "test", "system", f.tenB.ID, false, true},
			{"not hosted: the provider's", context.Background(), "elsewhere.test", "elsewhere.test", "system", "system", 0, false, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				err := d.WriteTx(tt.ctx, func(tx *db.Tx) error {
					return f.s.AuditDomainTx(tt.ctx, tx, tt.domain, "domain.dkim.create", nil, map[string]any{"keys": []string{"k"}})
				})
				if err != nil {
					t.Fatal(err)
				}
				all, err := f.s.ListAudit(f.sys, "", 1)
				if err != nil || len(all) != 1 {
					t.Fatalf("audit %v %v", all, err)
				}
				e := all[0]
				if e.Action != "domain.dkim.create" || e.Target != tt.target || e.Actor != tt.actor || e.Role != tt.role || e.TenantID != tt.tenant || e.Before != "" || e.After != `{"keys":["k"]}` {
					t.Errorf("entry %+v", e)
				}
				for _, v := range []struct {
					ctx  context.Context
					want bool
				}{{f.adminA, tt.seenByA}, {f.adminB, tt.seenByB}} {
					got, err := f.s.ListAudit(v.ctx, "", 1)
					if err != nil {
						t.Fatal(err)
					}
					if seen := len(got) == 1 && got[0].At == e.At && got[0].Target == e.Target && got[0].Actor == e.Actor; seen != v.want {
						t.Errorf("seen by a tenant administrator: %v, want %v (%+v)", seen, v.want, got)
					}
				}
			})
		}
	})
}
